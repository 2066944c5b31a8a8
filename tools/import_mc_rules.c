/*
 * import_mc_rules: one row per Sendmail macro, define and FEATURE the
 * seeds use (and their neighbours), saying what postern does with it:
 * a key, a note that postern always behaves so, or a warning with what
 * to do instead. A statement no row takes is warned about, never dropped.
 */
#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "tools/import_mc.h"

enum rk { R_DEFINE, R_FEATURE, R_MACRO };

struct rule;
typedef void rule_fn(struct imp *, const struct mc_stmt *,
    const struct rule *, const char *);

struct rule {
	enum rk		 kind;
	const char	*name;	/* as Sendmail spells it */
	rule_fn		*fn;
	const char	*key;	/* the postern key, for the simple ones */
	const char	*text;	/* note or warning */
};

static const char *
arg(const struct mc_stmt *st, int i)
{
	return i < st->nargs ? st->args[i] : "";
}

/* Silent: m4 boilerplate. */
static void
h_silent(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
}

static void
h_note(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	imp_note(m, "%s", r->text);
}

static void
h_warn(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	imp_warn(m, "%s", r->text);
}

static int
all_digits(const char *v)
{
	return *v != '\0' && strspn(v, "0123456789") == strlen(v);
}

static void
h_num(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (!all_digits(v))
		imp_warn(m, "\"%s\" is not a number: not mapped", v);
	else if (strtoull(v, NULL, 10) == 0 &&
	    strcmp(r->key, "connection_rate_limit") != 0)
		imp_warn(m, "0 means no limit to Sendmail; postern always "
		    "has one: %s keeps its default", r->key);
	else
		imp_set(m, NULL, r->key, v);
	if (r->text != NULL)
		imp_note(m, "%s", r->text);
}

static void
h_str(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (*v == '\0')
		imp_warn(m, "empty value: not mapped");
	else
		imp_set(m, NULL, r->key, v);
}

/* fn(m, word, key) for each word of v (separated by blanks or commas). */
static void
each_word(struct imp *m, const char *v, const char *key,
    void (*fn)(struct imp *, const char *, const char *))
{
	char	*copy = xstrdup(v), *w, *save = NULL;

	for (w = strtok_r(copy, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save))
		fn(m, w, key);
	free(copy);
}

static void
add_word(struct imp *m, const char *w, const char *key)
{
	imp_add(m, NULL, key, w);
}

static void
h_list(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	each_word(m, v, r->key, add_word);
	if (*v == '\0')
		imp_warn(m, "empty value: not mapped");
}

/* A FEATURE that turns a boolean on (text: the value, default yes). */
static void
h_bool(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	imp_set(m, NULL, r->key, r->text != NULL ? r->text : "yes");
}

/* Sendmail durations: 1h30m, 5d, 45s; a bare number is seconds here. */
static void
h_dur(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	unsigned long long total = 0, n;
	const char	*p = v;
	char		*e, out[32];
	int		 unit = 0;

	while (*p != '\0') {
		n = strtoull(p, &e, 10);
		if (e == p)
			break;
		switch (*e) {
		case 'w': n *= 7 * 86400; break;
		case 'd': n *= 86400; break;
		case 'h': n *= 3600; break;
		case 'm': n *= 60; break;
		case 's': break;
		case '\0': e--; break;
		default: e = NULL; break;
		}
		if (e == NULL || n > 100ULL * 365 * 86400)
			break;
		unit |= *e != '\0' && !isdigit((unsigned char)*e);
		total += n;
		p = e + 1;
	}
	if (*p != '\0' || total == 0) {
		imp_warn(m, "\"%s\" is not a duration postern can use: not "
		    "mapped", v);
		return;
	}
	if (total % 86400 == 0)
		snprintf(out, sizeof(out), "%llud", total / 86400);
	else if (total % 3600 == 0)
		snprintf(out, sizeof(out), "%lluh", total / 3600);
	else if (total % 60 == 0)
		snprintf(out, sizeof(out), "%llum", total / 60);
	else
		snprintf(out, sizeof(out), "%llus", total);
	imp_set(m, NULL, r->key, out);
	if (!unit)
		imp_note(m, "no unit given: read as seconds");
}

static void
h_ident(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (strcmp(v, "0") == 0 || strcmp(v, "0s") == 0)
		imp_note(m, "postern never makes ident (RFC 1413) queries");
	else
		imp_warn(m, "postern never makes ident (RFC 1413) queries: "
		    "nothing to set");
}

/* Sendmail LogLevel 0-99 -> error, warning, info (9 is its default). */
static void
h_loglevel(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	unsigned long	 n;

	if (!all_digits(v)) {
		imp_warn(m, "\"%s\" is not a number: not mapped", v);
		return;
	}
	n = strtoul(v, NULL, 10);
	imp_set(m, NULL, "log_level", n <= 1 ? "error" : n <= 4 ?
	    "warning" : n <= 11 ? "info" : "debug");
}

static void
privacy_flag(struct imp *m, const char *f, const char *unused)
{
	static const struct { const char *flag, *note; } notes[] = {
		{ "authwarnings", "X-Authentication-Warning is always "
		    "added for untrusted -f (see trusted_users)" },
		{ "public", "nothing to restrict" },
		{ "needmailhelo", "HELO/EHLO is always required before MAIL" },
		{ "needexpnhelo", "EXPN is off (expn = no)" },
		{ "needvrfyhelo", "VRFY is off (vrfy = no)" },
		{ "noverb", "postern has no VERB command" },
		{ "noetrn", "postern has no ETRN command" },
		{ "restrictqrun", "a queue run (postern queue flush, sendmail "
		    "-q) goes through qmgr's private socket: root and the "
		    "postern user only" },
		{ "restrictexpand", "sendmail -bv shows only the routing "
		    "decision" },
	};

	if (strcmp(f, "novrfy") == 0 || strcmp(f, "goaway") == 0)
		imp_set(m, NULL, "vrfy", "no");
	if (strcmp(f, "noexpn") == 0 || strcmp(f, "goaway") == 0)
		imp_set(m, NULL, "expn", "no");
	if (strcmp(f, "novrfy") == 0 || strcmp(f, "noexpn") == 0 ||
	    strcmp(f, "goaway") == 0)
		return;
	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (strcmp(f, notes[i].flag) == 0) {
			imp_note(m, "%s: %s", f, notes[i].note);
			return;
		}
	imp_warn(m, "%s: no postern equivalent", f);
}

static void
h_privacy(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	each_word(m, v, NULL, privacy_flag);
}

/* Gathered for imp_finish(); the last definition counts, as in m4. */
static void
h_keep(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	const struct mc_stmt **slot[] = { &m->mechs, &m->trust, &m->procmail,
	    &m->procpath, &m->lmpath, &m->lmargs, &m->smarthost,
	    &m->relayhost, &m->nomsa, &m->ctfile };
	static const char *const names[] = { "confAUTH_MECHANISMS",
	    "TRUST_AUTH_MECH", "local_procmail", "PROCMAIL_MAILER_PATH",
	    "LOCAL_MAILER_PATH", "LOCAL_MAILER_ARGS", "SMART_HOST",
	    "RELAY_HOST", "no_default_msa", "use_ct_file" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(r->name, names[i]) == 0)
			*slot[i] = st;
}

static void
h_localmailer(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (strcmp(v, "cyrus") == 0 || strcmp(v, "cyrusv2") == 0)
		m->cyrus = st;
	else if (strcmp(v, "local") == 0)
		imp_note(m, "local is postern's mailbox delivery");
	else
		imp_warn(m, "local mailer \"%s\": not mapped; set mailbox "
		    "or mailbox_command", v);
}

/* confDEF_USER_ID `8:12' or `mailnull' -> the user name of that uid. */
static void
h_defuid(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	struct passwd	*pw;
	char		 u[64];
	size_t		 n = strcspn(v, ":.");

	snprintf(u, sizeof(u), "%.*s", (int)n, v);
	pw = all_digits(u) ? getpwuid((uid_t)strtoul(u, NULL, 10)) :
	    getpwnam(u);
	if (pw == NULL || pw->pw_uid == 0) {
		imp_warn(m, "%s %s: not mapped; default_privs must name an "
		    "unprivileged user (postern's default is nobody)",
		    pw == NULL ? "no user" : "root is", u);
		return;
	}
	imp_set(m, NULL, "default_privs", pw->pw_name);
	if (v[n] != '\0')
		imp_note(m, "the group is %s's own (the %s part is not used)",
		    pw->pw_name, v + n + 1);
}

static void
h_trusted(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	imp_add(m, NULL, "trusted_users", "root");	/* Sendmail's always */
	h_list(m, st, r, v);
	if (strstr(v, "smmsp") != NULL)
		imp_note(m, "smmsp is Sendmail's own submission user; "
		    "drop it once Sendmail is removed");
}

static void
h_msp(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	m->msp = 1;
	imp_warn(m, "this is a submit.mc: Sendmail's client side (the MSP). "
	    "postern's sendmail command hands mail to postern itself: "
	    "nothing else to translate here (no listener, no map); "
	    "import sendmail.mc");
}

static void
h_authopts(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	int	 p = 0;

	for (const char *c = v; *c != '\0'; c++) {
		if (*c == ' ' || *c == ',' || *c == '\t')
			continue;
		if (*c == 'p')
			p = 1;
		else if (*c == 'A')
			imp_note(m, "A: the AUTH= parameter of MAIL is only "
			    "kept for authenticated sessions");
		else if (*c == 'y')
			imp_note(m, "y: anonymous mechanisms are never "
			    "offered");
		else
			imp_warn(m, "option %c: no postern equivalent", *c);
	}
	if (p)
		imp_set(m, NULL, "auth_plaintext_requires_tls", "yes");
	else
		imp_warn(m, "without p Sendmail offered PLAIN and LOGIN "
		    "before STARTTLS; postern does not "
		    "(auth_plaintext_requires_tls = yes, its default): set it "
		    "to no only for clients that cannot use STARTTLS");
}

static int
port_of(const char *v)
{
	if (strcasecmp(v, "smtp") == 0)
		return 25;
	if (strcasecmp(v, "submission") == 0)
		return 587;
	if (strcasecmp(v, "smtps") == 0)
		return 465;
	if (all_digits(v) && strlen(v) <= 5 && atoi(v) > 0 &&
	    atoi(v) <= 65535)
		return atoi(v);
	return -1;
}

/* One Name=Value of DAEMON_OPTIONS into d; -1 when it cannot be used. */
static int
daemon_opt(struct imp *m, struct imp_daemon *d, const char *o)
{
	const char	*eq = strchr(o, '=');
	unsigned char	 a6[16];
	size_t		 kl;

	if (eq == NULL) {
		imp_warn(m, "\"%s\" is not Name=Value: ignored", o);
		return 0;
	}
	kl = (size_t)(eq - o);
	eq++;
	if (kl == 4 && strncasecmp(o, "Port", 4) == 0) {
		if ((d->port = port_of(eq)) == -1) {
			imp_warn(m, "unknown port \"%s\": not mapped", eq);
			return -1;
		}
	} else if (kl == 4 && strncasecmp(o, "Addr", 4) == 0) {
		if (inet_pton(AF_INET, eq, a6) != 1 &&
		    inet_pton(AF_INET6, eq, a6) != 1) {
			imp_warn(m, "Addr=%s is not an IP address: not "
			    "mapped (postern listens on addresses)", eq);
			return -1;
		}
		snprintf(d->addr, sizeof(d->addr), "%s", eq);
	} else if (kl == 6 && strncasecmp(o, "Family", 6) == 0)
		d->inet6 = strcasecmp(eq, "inet6") == 0;
	else if ((kl == 1 && *o == 'M') ||
	    (kl == 9 && strncasecmp(o, "Modifiers", 9) == 0))
		snprintf(d->mods, sizeof(d->mods), "%s", eq);
	else if (!(kl == 4 && strncasecmp(o, "Name", 4) == 0))
		imp_warn(m, "option %.*s: no postern equivalent", (int)kl, o);
	return 0;
}

static void
h_daemon(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	struct imp_daemon d = { .st = st, .port = 25 };
	char	 all[1024] = "", w[256];
	size_t	 n;
	int	 bad = 0, nocomma = 0;
	const char *p = all;

	/* unquoted, the options arrive as several arguments */
	for (int i = 0; i < st->nargs; i++) {
		strlcat(all, st->args[i], sizeof(all));
		strlcat(all, ",", sizeof(all));
	}
	m->any_daemon = 1;
	while (*(p += strspn(p, ", \t")) != '\0') {
		n = strcspn(p, ", \t");
		snprintf(w, sizeof(w), "%.*s", (int)n, p);
		bad |= daemon_opt(m, &d, w) == -1;
		p += n;
		p += strspn(p, " \t");
		if (*p != ',' && *p != '\0')
			nocomma = 1;
	}
	if (nocomma)
		imp_warn(m, "a missing comma between options read as one");
	if (bad)
		return;
	if (m->ndmn == (int)(sizeof(m->dmn) / sizeof(m->dmn[0]))) {
		imp_warn(m, "too many daemons: not mapped");
		return;
	}
	m->dmn[m->ndmn++] = d;
}

/* The path a FEATURE(xxx, `hash -o /etc/mail/xxx.db') names. */
static void
h_map(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	char	*copy = xstrdup(v), *w, *save = NULL, *path = NULL, *e;
	int	 i = atoi(r->key), first = 1;

	for (w = strtok_r(copy, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save), first = 0) {
		if (*w == '/' && path == NULL)
			path = w;
		else if (first && strcmp(w, "hash") != 0 &&
		    strcmp(w, "btree") != 0 && strcmp(w, "dbm") != 0 &&
		    *w != '/') {
			imp_warn(m, "a %s map: not mapped; postern reads a text "
			    "file compiled with postern map: export the "
			    "entries to one", w);
			free(copy);
			return;
		}
	}
	if (path != NULL) {
		if ((e = strrchr(path, '.')) != NULL && strcmp(e, ".db") == 0)
			*e = '\0';
		snprintf(m->mappath[i], sizeof(m->mappath[i]), "%s", path);
	}
	m->map[i] = st;
	free(copy);
}

static void
h_aliasfile(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	size_t	 n = strcspn(v, ",");

	if (strncmp(v, "ldap:", 5) == 0 || strncmp(v, "nis:", 4) == 0) {
		imp_warn(m, "%s: not mapped; postern reads a text aliases "
		    "file", v);
		return;
	}
	if (v[n] != '\0')
		imp_warn(m, "only the first file is used (%.*s); merge the "
		    "others into it", (int)n, v);
	snprintf(m->mappath[M_ALIASES], sizeof(m->mappath[M_ALIASES]),
	    "%.*s", (int)n, v);
	m->map[M_ALIASES] = st;
}

static void
h_cw(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (st->name[0] == 'F') {
		for (int i = 0; i < st->nargs; i++)
			if (st->args[i][0] == '/')
				imp_add(m, NULL, "local_domains",
				    st->args[i]);
		return;
	}
	for (int i = 0; i < st->nargs; i++) {
		size_t n = strlen(st->args[i]);

		if (n > 5 && strcasecmp(st->args[i] + n - 5, ".UUCP") == 0)
			imp_warn(m, "%s: a UUCP name; postern has no UUCP: "
			    "left out", st->args[i]);
		else
			imp_add(m, NULL, "local_domains", st->args[i]);
	}
}

static void
h_dnsbl(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	const char	*zone = *arg(st, 1) ? arg(st, 1) :
	    "blackholes.mail-abuse.org", *text = arg(st, 2);
	char		 val[512];

	if (*text != '\0' && strpbrk(text, "\"$") == NULL)
		snprintf(val, sizeof(val), "%s=\"%s\"", zone, text);
	else
		snprintf(val, sizeof(val), "%s", zone);
	if (*text != '\0' && strpbrk(text, "\"$") != NULL)
		imp_warn(m, "the reply text uses Sendmail macros or quotes: "
		    "postern's own text is used");
	imp_add(m, NULL, "dnsbl", val);
	if (strstr(zone, "mail-abuse.org") != NULL)
		imp_warn(m, "%s: the MAPS lists have not been public for "
		    "years; check that the zone still answers before relying "
		    "on it", zone);
}

static void
h_mailer(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (strcmp(v, "smtp") == 0 || strcmp(v, "esmtp") == 0)
		imp_note(m, "SMTP delivery is built in");
	else if (strcmp(v, "local") == 0 || strcmp(v, "prog") == 0)
		imp_note(m, "local delivery is built in (mailbox, "
		    "mailbox_command)");
	else if (strcmp(v, "procmail") == 0)
		imp_note(m, "procmail delivers local mail through "
		    "mailbox_command; transport_map has no procmail: routes");
	else if ((strcmp(v, "cyrus") == 0 || strcmp(v, "cyrusv2") == 0) &&
	    m->cyrus != NULL)
		imp_note(m, "Cyrus is reached over LMTP (mailbox)");
	else if (strcmp(v, "cyrus") == 0 || strcmp(v, "cyrusv2") == 0)
		imp_warn(m, "not mapped: to deliver to Cyrus, set mailbox = "
		    "lmtp:unix:/PATH of its LMTP socket");
	else if (strncmp(v, "uucp", 4) == 0)
		imp_warn(m, "postern has no UUCP: route those domains to an "
		    "SMTP relay in transport_map");
	else
		imp_warn(m, "mailer %s: no postern equivalent", v);
}

static int
is_cf_m4(const char *v)
{
	size_t	 n = strlen(v);

	return n >= 5 && strcmp(v + n - 5, "cf.m4") == 0;
}

static void
h_include(struct imp *m, const struct mc_stmt *st, const struct rule *r,
    const char *v)
{
	if (is_cf_m4(v))
		return;
	imp_warn(m, "includes are not followed: translate %s with postern "
	    "import-mc too and merge what it prints", v);
}

#define D(n, f, k, t)	{ R_DEFINE, n, f, k, t }
#define F(n, f, k, t)	{ R_FEATURE, n, f, k, t }
#define MC(n, f, k, t)	{ R_MACRO, n, f, k, t }
#define NO_UUCP		"postern has no UUCP: nothing to set"
#define ALWAYS		"postern always does this"

static const struct rule rules[] = {
	/* m4 boilerplate */
	MC("divert", h_silent, NULL, NULL),
	MC("include", h_include, NULL, NULL),
	MC("VERSIONID", h_silent, NULL, NULL),
	MC("OSTYPE", h_silent, NULL, NULL),
	D("__OSTYPE__", h_silent, NULL, NULL),
	D("confCF_VERSION", h_silent, NULL, NULL),
	MC("DOMAIN", h_include, NULL, NULL),
	/* listeners and limits */
	MC("DAEMON_OPTIONS", h_daemon, NULL, NULL),
	F("no_default_msa", h_keep, NULL, NULL),
	D("confMAX_RCPTS_PER_MESSAGE", h_num, "max_recipients", NULL),
	D("confMAX_HEADERS_LENGTH", h_num, "max_header_size", NULL),
	D("confMAX_MESSAGE_SIZE", h_num, "max_message_size", NULL),
	D("confMAX_HOP", h_num, "max_hops", NULL),
	D("confMAX_DAEMON_CHILDREN", h_num, "max_sessions", "Sendmail "
	    "counts the sessions of all daemons, postern those of each "
	    "listener"),
	D("confCONNECTION_RATE_THROTTLE", h_num, "connection_rate_limit",
	    NULL),
	D("confLOG_LEVEL", h_loglevel, NULL, NULL),
	D("confPRIVACY_FLAGS", h_privacy, NULL, NULL),
	D("confTO_COMMAND", h_dur, "command_timeout", NULL),
	D("confTO_DATABLOCK", h_dur, "data_timeout", NULL),
	D("confTO_QUEUERETURN", h_dur, "queue_lifetime", NULL),
	D("confTO_QUEUEWARN", h_dur, "delay_warning", NULL),
	D("confTO_IDENT", h_ident, NULL, NULL),
	/* AUTH and TLS */
	D("confAUTH_OPTIONS", h_authopts, NULL, NULL),
	D("confAUTH_MECHANISMS", h_keep, NULL, NULL),
	MC("TRUST_AUTH_MECH", h_keep, NULL, NULL),
	D("confSERVER_CERT", h_str, "tls_cert", NULL),
	D("confSERVER_KEY", h_str, "tls_key", NULL),
	D("confCACERT", h_str, "tls_ca", NULL),
	/* domains, maps, rewriting */
	MC("Cw", h_cw, NULL, NULL),
	MC("Fw", h_cw, NULL, NULL),
	MC("LOCAL_DOMAIN", h_list, "local_domains", NULL),
	F("use_cw_file", h_map, "4", NULL),
	F("access_db", h_map, "0", NULL),
	F("virtusertable", h_map, "1", NULL),
	F("mailertable", h_map, "2", NULL),
	D("ALIAS_FILE", h_aliasfile, NULL, NULL),
	MC("MASQUERADE_AS", h_str, "masquerade_as", NULL),
	MC("MASQUERADE_DOMAIN", h_list, "masquerade_domains", NULL),
	MC("EXPOSED_USER", h_list, "exposed_users", NULL),
	F("masquerade_envelope", h_bool, "masquerade_envelope", NULL),
	F("masquerade_entire_domain", h_bool, "masquerade_entire_domain",
	    NULL),
	F("always_add_domain", h_note, NULL, ALWAYS ": unqualified "
	    "addresses get the hostname's domain"),
	F("nocanonify", h_note, NULL, ALWAYS ": addresses are never "
	    "canonified through DNS"),
	F("use_ct_file", h_keep, NULL, NULL),
	D("confTRUSTED_USER", h_trusted, "trusted_users", NULL),
	D("confTRUSTED_USERS", h_trusted, "trusted_users", NULL),
	D("confDEF_USER_ID", h_defuid, NULL, NULL),
	/* policy */
	F("accept_unresolvable_domains", h_bool, "require_resolvable_sender",
	    "no"),
	F("delay_checks", h_bool, "delay_checks", NULL),
	F("dnsbl", h_dnsbl, NULL, NULL),
	F("blacklist_recipients", h_note, NULL, ALWAYS ": To: entries of "
	    "the access map are honoured"),
	F("relay_based_on_MX", h_warn, NULL, "not built: postern does not "
	    "relay for a domain because its MX points here; list the "
	    "domains in relay_domains"),
	F("redirect", h_warn, NULL, "postern has no .REDIRECT aliases: for "
	    "a user who moved, add to virtual_map: user@domain "
	    "error:5.1.6:551 User has moved; please try <new@address>"),
	F("nodns", h_warn, NULL, "no postern equivalent: postern always uses "
	    "DNS; set dns_servers for split DNS, or smarthost = [host] "
	    "so that no MX is looked up"),
	F("smrsh", h_warn, NULL, "no postern equivalent: |command targets "
	    "of ~/.forward run as the user who owns the file, and those of "
	    "the aliases file as default_privs, never as root; there is no "
	    "list of allowed programs: remove commands you do not trust from "
	    "the aliases and .forward files"),
	/* delivery */
	D("SMART_HOST", h_keep, NULL, NULL),
	D("RELAY_HOST", h_keep, NULL, NULL),
	F("local_procmail", h_keep, NULL, NULL),
	D("PROCMAIL_MAILER_PATH", h_keep, NULL, NULL),
	D("LOCAL_MAILER_PATH", h_keep, NULL, NULL),
	D("LOCAL_MAILER_ARGS", h_keep, NULL, NULL),
	D("confLOCAL_MAILER", h_localmailer, NULL, NULL),
	MC("MAILER", h_mailer, NULL, NULL),
	D("UUCP_RELAY", h_warn, NULL, NO_UUCP),
	D("UUCP_MAILER_MAX", h_warn, NULL, NO_UUCP),
	D("_USE_DECNET_SYNTAX_", h_warn, NULL, "postern has no DECnet "
	    "addresses: nothing to set"),
	/* common beyond the seeds */
	D("confDOMAIN_NAME", h_str, "hostname", NULL),
	D("MAIL_HUB", h_warn, NULL, "not mapped: to send local mail to a "
	    "hub, route the local domains to it in transport_map"),
	D("LUSER_RELAY", h_warn, NULL, "not mapped: unknown local users are "
	    "refused at RCPT; a catch-all is an @domain line in virtual_map"),
	F("promiscuous_relay", h_warn, NULL, "not mapped, on purpose: "
	    "postern never relays for everyone; list clients in the access "
	    "map (Connect: RELAY) or use AUTH"),
	F("relay_entire_domain", h_warn, NULL, "not mapped: list the domain "
	    "in relay_domains (its subdomains match too)"),
	F("genericstable", h_warn, NULL, "not mapped: postern rewrites "
	    "senders by masquerading only (masquerade_as)"),
	/* the rest of the seeds */
	D("confTRY_NULL_MX_LIST", h_warn, NULL, "no postern equivalent: "
	    "mail for a domain whose best MX is this host is never sent "
	    "to its A record (\"mail loops back to myself\"); route such "
	    "domains in transport_map"),
	D("confDONT_PROBE_INTERFACES", h_note, NULL, ALWAYS ": the names "
	    "of the interfaces are not local domains unless listed"),
	D("confUSERDB_SPEC", h_warn, NULL, "no user database in postern: "
	    "put its entries in virtual_map or the aliases file"),
	D("STATUS_FILE", h_warn, NULL, "no statistics file: the log has "
	    "one line per message (pflogsumm reads it)"),
	D("confAUTO_REBUILD", h_note, NULL, "postern never rebuilds maps "
	    "itself: run postern map FILE (daemons warn when a .cdb is "
	    "older than its text)"),
	D("confTIME_ZONE", h_note, NULL, "postern's processes use the time "
	    "zone of the environment it is started in"),
	D("confDONT_INIT_GROUPS", h_note, NULL, "postern sets the groups "
	    "of every process it changes to a user"),
	D("confPID_FILE", h_warn, NULL, "not mapped: postern's pid file is "
	    "queue_dir/pid/master.pid"),
	D("confDIRECT_SUBMISSION_MODIFIERS", h_warn, NULL, "no postern "
	    "equivalent: local submission needs no daemon modifiers"),
	F("msp", h_msp, NULL, NULL),
};

static const struct rule *
find_rule(enum rk kind, const char *name)
{
	char	 a[64], b[64];

	mc_squash(name, a, sizeof(a));
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (rules[i].kind != kind)
			continue;
		mc_squash(rules[i].name, b, sizeof(b));
		if (strcmp(a, b) == 0)
			return &rules[i];
	}
	return NULL;
}

/* A later define of the same name (m4: the last one counts). */
static const struct mc_stmt *
defined_again(const struct imp *m, size_t i)
{
	const struct mc_stmt	*st = &m->f.st[i], *o;
	char			 a[64], b[64];

	mc_squash(st->args[0], a, sizeof(a));
	for (size_t j = m->f.n; j-- > i + 1; ) {
		o = &m->f.st[j];
		if (o->kind != MC_CALL || strcmp(o->key, "DEFINE") != 0 ||
		    o->nargs < 1)
			continue;
		mc_squash(o->args[0], b, sizeof(b));
		if (strcmp(a, b) == 0)
			return o;
	}
	return NULL;
}

/*
 * "read leniently (...): understood as NAME(`a', `b')"; a define shows
 * the name it was taken for, DAEMON_OPTIONS its options as one.
 */
static void
lenient(struct imp *m, const struct mc_stmt *st, const char *name,
    const struct rule *r)
{
	char	 bits[256], as[512];
	int	 one = strcmp(name, "DAEMON_OPTIONS") == 0;

	mc_lenient_text(st->lenient, bits, sizeof(bits));
	snprintf(as, sizeof(as), "%s(", name);
	for (int i = 0; i < st->nargs; i++) {
		if (i > 0)
			strlcat(as, one ? ", " : "', `", sizeof(as));
		else
			strlcat(as, "`", sizeof(as));
		strlcat(as, i == 0 && r != NULL && r->kind != R_MACRO ?
		    r->name : st->args[i], sizeof(as));
	}
	strlcat(as, st->nargs > 0 ? "')" : ")", sizeof(as));
	imp_warn(m, "read leniently (%s): understood as %s", bits, as);
}

static void
call(struct imp *m, size_t i)
{
	const struct mc_stmt	*st = &m->f.st[i], *again;
	const struct rule	*r;
	const char		*v = "", *name = st->name;
	char			 what[96];
	enum rk			 kind = R_MACRO;

	if ((strcmp(st->key, "DEFINE") == 0 || strcmp(st->key, "FEATURE") ==
	    0) && st->nargs >= 1) {
		kind = st->key[0] == 'D' ? R_DEFINE : R_FEATURE;
		r = find_rule(kind, st->args[0]);
		name = r != NULL ? r->name : st->args[0];
		v = arg(st, 1);
	} else {
		r = find_rule(R_MACRO, st->name);
		name = r != NULL ? r->name : st->name;
		v = arg(st, 0);
	}
	if (kind == R_FEATURE || (r != NULL && r->fn == h_mailer))
		snprintf(what, sizeof(what), "%s(%s)", kind == R_FEATURE ?
		    "FEATURE" : name, kind == R_FEATURE ? name : v);
	else
		snprintf(what, sizeof(what), "%s", name);
	imp_at(m, st, what);
	if (r != NULL && (r->fn == h_silent || (r->fn == h_include &&
	    is_cf_m4(v))))
		return;
	if (st->lenient)
		lenient(m, st, kind == R_DEFINE ? "define" : kind ==
		    R_FEATURE ? "FEATURE" : name, r);
	if (kind == R_DEFINE && (again = defined_again(m, i)) != NULL) {
		imp_note(m, "defined again at line %d: that value counts, "
		    "as in m4", again->line);
		return;
	}
	if (r != NULL && st->nargs >= 0)
		r->fn(m, st, r, v);
	else if (st->nargs < 0)
		imp_warn(m, "not a macro call (no arguments): skipped");
	else if (kind == R_DEFINE && strncasecmp(name, "confTO_", 7) == 0)
		imp_warn(m, "postern has no setting for this timeout: not "
		    "mapped");
	else
		imp_warn(m, "no postern equivalent: not mapped");
}

void
imp_rules(struct imp *m)
{
	const struct mc_stmt	*st;

	for (size_t i = 0; i < m->f.n; i++) {
		st = &m->f.st[i];
		switch (st->kind) {
		case MC_CALL:
			call(m, i);
			break;
		case MC_CW:
			imp_at(m, st, st->name);
			if (st->lenient)
				lenient(m, st, st->name, NULL);
			h_cw(m, st, NULL, "");
			break;
		case MC_DN1:
			imp_at(m, st, "dn1");
			if (strchr(st->text, '(') != NULL &&
			    strncmp(st->text, "divert", 6) != 0 &&
			    strncmp(st->text, "VERSIONID", 9) != 0)
				imp_warn(m, "`dn1' read as `dnl': the line is a "
				    "comment (m4 itself would have read it)");
			break;
		case MC_BAD:
			imp_at(m, st, "");
			imp_warn(m, "%s: skipped", st->why);
			break;
		}
	}
}
