/*
 * conf: read postern.conf (SPEC section 3). Every key is one row of
 * keys[]: parsing, defaults, the per-listener copy and freeing follow
 * from the rows, so no key is handled by name here. The file is read in
 * two passes: entries (with continuation lines) first, then global keys
 * on top of the defaults and each [section] on top of the global smtpd
 * values. Every problem is collected as "file:line: text"; none is fatal.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "conf_key.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc/postern"
#endif

#define GLOBAL		(-1)
#define DROPPED		(-2)
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

int conf_worker;

/* Errors. */

void
conf_errors_vadd(struct conf_errors *errs, int warn, const char *fmt,
    va_list ap)
{
	char	*s;

	if (errs == NULL)
		return;
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("conf: out of memory");
	errs->msg = xreallocarray(errs->msg, errs->n + 1, sizeof(*errs->msg));
	errs->msg[errs->n++] = s;
	if (warn)
		errs->nwarn++;
}

void
conf_errors_add(struct conf_errors *errs, int warn, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_errors_vadd(errs, warn, fmt, ap);
	va_end(ap);
}

char *
conf_xprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1)
		fatal("conf: out of memory");
	return s;
}

/* "file:line: [warning: ]text" (line 0: "file: text"). */
static void
pvmsg(struct pctx *p, int warn, int line, const char *fmt, va_list ap)
{
	char	*text;

	if (vasprintf(&text, fmt, ap) == -1)
		fatal("conf: out of memory");
	if (!warn)
		p->nerr++;
	if (line > 0)
		conf_errors_add(p->errs, warn, "%s:%d: %s%s", p->file, line,
		    warn ? "warning: " : "", text);
	else
		conf_errors_add(p->errs, warn, "%s: %s%s", p->file,
		    warn ? "warning: " : "", text);
	free(text);
}

void
conf_perr(struct pctx *p, int line, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	pvmsg(p, 0, line, fmt, ap);
	va_end(ap);
}

static void
pwarn(struct pctx *p, int line, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	pvmsg(p, 1, line, fmt, ap);
	va_end(ap);
}

const char *
conf_path(const char *opt_c)
{
	const char	*e;

	if (opt_c != NULL)
		return opt_c;
	if ((e = getenv("POSTERN_CONF")) != NULL && *e != '\0')
		return e;
	return SYSCONFDIR "/postern.conf";
}

/* Value parsers. */

static int
parse_digits(const char *s, const char **end, uint64_t *v)
{
	uint64_t	 n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*v = n;
	return 0;
}

static int
parse_suffixed(const char *s, uint64_t *v, const char *sfx,
    const uint64_t *mul)
{
	const char	*e, *p;
	uint64_t	 n, m = 1;

	if (s == NULL || parse_digits(s, &e, &n) == -1)
		return -1;
	if (*e != '\0') {
		if (e[1] != '\0' ||
		    (p = strchr(sfx, tolower((unsigned char)*e))) == NULL)
			return -1;
		m = mul[p - sfx];
	}
	if (n > UINT64_MAX / m)
		return -1;
	*v = n * m;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t *v)
{
	static const uint64_t mul[] = { 1024, 1024 * 1024,
	    1024 * 1024 * 1024 };

	return parse_suffixed(s, v, "kmg", mul);
}

int
conf_parse_duration(const char *s, uint64_t *v)
{
	static const uint64_t mul[] = { 1, 60, 3600, 86400, 7 * 86400 };

	return parse_suffixed(s, v, "smhdw", mul);
}

int
conf_parse_bool(const char *s, int *v)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t	 i;

	if (s == NULL)
		return -1;
	for (i = 0; i < NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

int
conf_parse_number(const char *s, uint64_t *v)
{
	const char	*e;

	if (parse_digits(s, &e, v) == -1 || *e != '\0')
		return -1;
	return 0;
}

/*
 * The keys. A default is parsed exactly like a value from the file.
 * K_NOTBUILT rows are SPEC keys whose feature is not built yet: setting
 * one is an error until the feature lands and the row gets a real type.
 */

static const char *const w_tls[] = { "none", "may", "required", "wrapper",
    NULL };
static const char *const w_auth[] = { "none", "optional", "required",
    NULL };
static const char *const w_rtls[] = { "none", "may", "encrypt", "verify",
    NULL };
static const char *const w_level[] = { "error", "warning", "info", "debug",
    NULL };

#define G(f)	.off = offsetof(struct conf, f), \
		.size = sizeof(((struct conf *)0)->f)
#define L(f)	.scope = KS_SMTPD, .off = offsetof(struct conf_smtpd, f), \
		.size = sizeof(((struct conf_smtpd *)0)->f)
#define NB(n, why)	{ .name = n, .type = K_NOTBUILT, .note = why }

#define NB_ROUTE	"comes with the routing layer"
#define NB_MASQ		"address masquerading is not built"

static const struct key keys[] = {
	/* global */
	{ "hostname", K_STR, G(hostname) },	/* default: the FQDN */
	{ "queue_dir", K_PATH, G(queue_dir), .def = "/var/spool/postern" },
	{ "config_dir", K_PATH, G(config_dir), .def = "/etc/postern" },
	/* unset: derived from config_dir at the end of conf_load */
	{ "local_domains", K_STR, G(local_domains) },
	{ "relay_domains", K_STR, G(relay_domains) },
	{ "access_map", K_STR, G(access_map) },
	{ "alias_map", K_STR, G(alias_map) },
	{ "smarthost", K_STR, G(smarthost), .flags = KF_EMPTY },
	{ "mailbox", K_STR, G(mailbox), .def = "mbox:/var/mail/%u",
	    .hook = conf_hook_mailbox },
	{ "queue_lifetime", K_DUR, G(queue_lifetime), .def = "5d", .min = 1 },
	{ "delay_warning", K_DUR, G(delay_warning), .def = "4h" },
	{ "min_backoff", K_DUR, G(min_backoff), .def = "5m", .min = 1 },
	{ "max_backoff", K_DUR, G(max_backoff), .def = "1h", .min = 1 },
	{ "remote_port", K_PORT, G(remote_port), .def = "25", .min = 1,
	    .max = 65535 },
	{ "dns_servers", K_STR, G(dns_servers), .hook = conf_hook_dns },
	{ "user", K_STR, G(user), .def = "postern" },
	{ "group", K_STR, G(group), .def = "postern" },
	{ "log", K_STR, G(log), .def = "syslog", .hook = conf_hook_log },
	{ "log_level", K_WORD, G(log_level), .def = "info", .words = w_level },
	{ "cleanup_processes", K_NUM, G(cleanup_processes), .def = "16",
	    .min = 1 },
	{ "local_processes", K_NUM, G(local_processes), .def = "8", .min = 1 },
	{ "remote_processes", K_NUM, G(remote_processes), .def = "20",
	    .min = 1 },
	{ "sasl_app", K_STR, G(sasl_app), .def = "postern",
	    .hook = conf_hook_sasl_app },
	{ "sasl_config_dir", K_PATH, G(sasl_config_dir) },
	{ "auth_show_user", K_BOOL, G(auth_show_user), .def = "no" },
	{ "sender_login_map", K_STR, G(sender_login_map) },
	{ "remote_tls", K_ENUM, G(remote_tls), .def = "may", .words = w_rtls },
	{ "remote_auth", K_PATH, G(remote_auth) },
	NB("virtual_map", NB_ROUTE),
	NB("transport_map", NB_ROUTE),
	NB("masquerade_as", NB_MASQ),
	NB("masquerade_domains", NB_MASQ),
	NB("masquerade_envelope", NB_MASQ),
	NB("masquerade_entire_domain", NB_MASQ),
	NB("exposed_users", NB_MASQ),
	NB("mailbox_command", "delivery through a command is not built"),
	NB("allow_forward_files", "~/.forward files are not read yet"),
	NB("remote_concurrency", "nothing limits deliveries per destination "
	    "yet; remote_processes bounds all of them"),
	NB("client_session_limit", "no per-client session limit yet"),
	NB("queue_minfree", "free queue space is not checked yet"),
	NB("authorized_submit_users", "every local user may submit"),
	NB("trusted_users", "sendmail -f is not restricted yet"),
	NB("default_privs", "alias commands and files are not built"),
	NB("mailbox_size_limit", "mailbox sizes are not limited yet"),
	NB("max_idle", "pooled workers do not exit when idle yet"),
	/* smtpd: set globally (the default) or in a [section] */
	{ "listen", K_LISTEN, KS_SECTION,
	    .off = offsetof(struct conf_smtpd, listen) },
	{ "max_recipients", K_NUM, L(max_recipients), .def = "100", .min = 1 },
	{ "max_header_size", K_SIZE, L(max_header_size), .def = "102400",
	    .min = 1 },
	{ "max_message_size", K_SIZE, L(max_message_size), .def = "10m",
	    .min = 1 },
	{ "max_sessions", K_NUM, L(max_sessions), .def = "100", .min = 1 },
	{ "vrfy", K_BOOL, L(vrfy), .def = "no" },
	{ "expn", K_BOOL, L(expn), .def = "no" },
	{ "tls", K_ENUM, L(tls), .def = "may", .words = w_tls },
	{ "tls_cert", K_PATH, L(tls_cert), .flags = KF_EMPTY,
	    .hook = conf_hook_readable },
	{ "tls_key", K_PATH, L(tls_key), .flags = KF_EMPTY | KF_PRIVATE,
	    .hook = conf_hook_readable },
	{ "tls_ca", K_PATH, L(tls_ca), .flags = KF_EMPTY,
	    .hook = conf_hook_readable },
	{ "auth", K_ENUM, L(auth), .def = "none", .words = w_auth },
	{ "auth_mechanisms", K_STR, L(auth_mechanisms),
	    .def = "PLAIN LOGIN CRAM-MD5 DIGEST-MD5", .hook = conf_hook_mechs },
	{ "auth_plaintext_requires_tls", K_BOOL,
	    L(auth_plaintext_requires_tls), .def = "yes" },
	{ "require_resolvable_sender", K_BOOL, L(require_resolvable_sender),
	    .def = "yes" },
	{ "delay_checks", K_BOOL, L(delay_checks), .def = "no" },
	{ "dnsbl", K_STR, L(dnsbl), .flags = KF_EMPTY,
	    .hook = conf_hook_dnsbl },
	{ "connection_rate_limit", K_NUM, L(connection_rate_limit),
	    .def = "0" },
	{ "client_connection_rate_limit", K_NUM,
	    L(client_connection_rate_limit), .def = "0" },
	{ "command_timeout", K_DUR, L(command_timeout), .def = "5m",
	    .min = 1 },
	{ "data_timeout", K_DUR, L(data_timeout), .def = "10m", .min = 1 },
	{ "max_errors", K_NUM, L(max_errors), .def = "20", .min = 1 },
};

_Static_assert(NELEM(keys) <= KEY_MAX, "raise KEY_MAX");

static const struct key *
key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NELEM(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

int
conf_key_line(const int *lines, const char *name)
{
	const struct key	*k = key_find(name);

	return k != NULL ? lines[k - keys] : 0;
}

static int
is_text(const struct key *k)
{
	return k->type == K_STR || k->type == K_PATH || k->type == K_WORD;
}

static void *
field(void *base, const struct key *k)
{
	return (char *)base + k->off;
}

/* Setting one value. */

static void
set_str(char **dst, char *v)
{
	free(*dst);
	*dst = v;
}

/* "a, b, c or d" from a NULL-terminated list. */
static void
words_text(const char *const *w, char *out, size_t len)
{
	size_t	 i;

	out[0] = '\0';
	for (i = 0; w[i] != NULL; i++) {
		if (i > 0)
			strlcat(out, w[i + 1] != NULL ? ", " : " or ", len);
		strlcat(out, w[i], len);
	}
}

static int
word_index(const struct key *k, const char *v)
{
	int	 i;

	for (i = 0; k->words[i] != NULL; i++)
		if (strcmp(k->words[i], v) == 0)
			return i;
	return -1;
}

static int
bad_word(struct pctx *p, const struct key *k, int line)
{
	char	 text[256];

	words_text(k->words, text, sizeof(text));
	conf_perr(p, line, "%s must be %s", k->name, text);
	return -1;
}

static int
set_text(struct pctx *p, const struct key *k, char **f, const char *v,
    int line)
{
	char	*out = NULL;

	if (k->type == K_PATH && *v != '/') {
		conf_perr(p, line, "%s must be an absolute path", k->name);
		return -1;
	}
	if (k->type == K_WORD && word_index(k, v) == -1)
		return bad_word(p, k, line);
	if (k->hook != NULL && k->hook(p, k, v, line, &out) == -1)
		return -1;
	set_str(f, out != NULL ? out : xstrdup(v));
	return 0;
}

static void
store_uint(const struct key *k, void *f, uint64_t n)
{
	unsigned	 u = (unsigned)n;

	if (k->size == sizeof(uint64_t))
		memcpy(f, &n, sizeof(n));
	else
		memcpy(f, &u, sizeof(u));
}

static int
set_number(struct pctx *p, const struct key *k, void *f, const char *v,
    int line)
{
	uint64_t	 n, cap;
	int		 r;
	const char	*what;

	cap = k->size == sizeof(uint64_t) ? UINT64_MAX : UINT_MAX;
	if (k->type == K_SIZE) {
		r = conf_parse_size(v, &n);
		what = "size";
	} else if (k->type == K_DUR) {
		r = conf_parse_duration(v, &n);
		what = "duration";
	} else {
		r = conf_parse_number(v, &n);
		what = "number";
	}
	if (r == -1 || n > cap) {
		conf_perr(p, line, "bad %s \"%s\" for %s", what, v, k->name);
		return -1;
	}
	if (n < k->min) {
		if (k->min == 1)
			conf_perr(p, line, "%s must be greater than 0",
			    k->name);
		else
			conf_perr(p, line, "%s must be at least %llu",
			    k->name, (unsigned long long)k->min);
		return -1;
	}
	if (k->max != 0 && n > k->max) {
		if (k->type == K_PORT)
			conf_perr(p, line, "bad port \"%s\" for %s", v,
			    k->name);
		else
			conf_perr(p, line, "%s must be at most %llu",
			    k->name, (unsigned long long)k->max);
		return -1;
	}
	store_uint(k, f, n);
	return 0;
}

static int
set_listen(struct pctx *p, struct conf_smtpd *s, const char *v, int line)
{
	char	*addr[CONF_MAX_ADDRS];
	size_t	 n, i;

	if (conf_listen_parse(p, v, line, addr, &n) == -1)
		return -1;
	for (i = 0; i < s->nlisten; i++)
		free(s->listen[i]);
	for (i = 0; i < n; i++)
		s->listen[i] = addr[i];
	s->nlisten = n;
	return 0;
}

/* Parse v as the value of k into the struct at base (conf or smtpd). */
static int
set_value(struct pctx *p, const struct key *k, void *base, const char *v,
    int line)
{
	void	*f = field(base, k);
	int	 b;

	if (k->type == K_NOTBUILT) {
		conf_perr(p, line, "%s: not supported yet (%s)", k->name,
		    k->note);
		return -1;
	}
	if (*v == '\0' && (k->flags & KF_EMPTY)) {
		set_str(f, NULL);
		return 0;
	}
	if (*v == '\0' && k->type != K_LISTEN) {
		conf_perr(p, line, "empty value for %s", k->name);
		return -1;
	}
	switch (k->type) {
	case K_LISTEN:
		return set_listen(p, base, v, line);
	case K_BOOL:
		if (conf_parse_bool(v, &b) == -1) {
			conf_perr(p, line, "bad value \"%s\" for %s (yes or no)",
			    v, k->name);
			return -1;
		}
		memcpy(f, &b, sizeof(b));
		return 0;
	case K_ENUM:
		if ((b = word_index(k, v)) == -1)
			return bad_word(p, k, line);
		memcpy(f, &b, sizeof(b));
		return 0;
	default:
		if (is_text(k))
			return set_text(p, k, f, v, line);
		return set_number(p, k, f, v, line);
	}
}

/* Defaults, the per-listener copy and freeing, all from the rows. */

static void
defaults(struct pctx *p, struct conf *c)
{
	size_t	 i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NELEM(keys); i++)
		if (keys[i].def != NULL)
			set_value(p, &keys[i], keys[i].scope == KS_GLOBAL ?
			    (void *)c : (void *)&c->smtpd, keys[i].def, 0);
}

static void
smtpd_copy(struct conf_smtpd *d, const struct conf_smtpd *s,
    const char *name)
{
	const struct key	*k;
	char			**f;
	size_t			 i;

	*d = *s;
	d->name = name != NULL ? xstrdup(name) : NULL;
	for (k = keys; k < keys + NELEM(keys); k++) {
		if (k->scope == KS_GLOBAL)
			continue;
		f = field(d, k);
		if (is_text(k) && *f != NULL)
			*f = xstrdup(*f);
	}
	for (i = 0; i < s->nlisten; i++)
		d->listen[i] = xstrdup(s->listen[i]);
}

static void
fields_free(void *base, enum kscope scope)
{
	const struct key	*k;
	char			**f;

	for (k = keys; k < keys + NELEM(keys); k++) {
		if ((k->scope == KS_GLOBAL) != (scope == KS_GLOBAL) ||
		    !is_text(k))
			continue;
		f = field(base, k);
		free(*f);
		*f = NULL;
	}
}

static void
smtpd_free(struct conf_smtpd *s)
{
	size_t	 i;

	free(s->name);
	for (i = 0; i < s->nlisten; i++)
		free(s->listen[i]);
	fields_free(s, KS_SMTPD);
	memset(s, 0, sizeof(*s));
}

void
conf_free(struct conf *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	free(c->file);
	fields_free(c, KS_GLOBAL);
	smtpd_free(&c->smtpd);
	for (i = 0; i < c->nlisteners; i++)
		smtpd_free(&c->listener[i]);
	memset(c, 0, sizeof(*c));
}

static char *
fqdn(void)
{
	char		 name[256];
	struct addrinfo	 hints, *res = NULL;
	char		*r;

	if (gethostname(name, sizeof(name)) == -1)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') != NULL)
		return xstrdup(name);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && strchr(res->ai_canonname, '.'))
		r = xstrdup(res->ai_canonname);
	else
		r = xstrdup(name);
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* Pass one: read the file into entries. */

char *
conf_trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
valid_name(const char *s, int underscore_only)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' &&
		    (underscore_only || (*s != '-' && *s != '.')))
			return 0;
	return 1;
}

/* A key set twice in one section: the last value counts (a warning). */
static void
add_ent(struct pctx *p, const char *k, const char *v, int line, int sect)
{
	size_t	 i;

	for (i = 0; i < p->nent; i++)
		if (p->ent[i].sect == sect && strcmp(p->ent[i].key, k) == 0) {
			pwarn(p, line, "%s set again (first at line %d); "
			    "this value counts", k, p->ent[i].line);
			break;
		}
	p->ent = xreallocarray(p->ent, p->nent + 1, sizeof(*p->ent));
	p->ent[p->nent].key = xstrdup(k);
	p->ent[p->nent].val = xstrdup(v);
	p->ent[p->nent].line = line;
	p->ent[p->nent].sect = sect;
	p->nent++;
}

/* "[name]": a new listener; its index, or DROPPED when it is bad. */
static int
read_section(struct pctx *p, struct conf *c, char *s, int line)
{
	char	*e, *k;
	size_t	 i;

	if ((e = strchr(s, ']')) == NULL) {
		conf_perr(p, line, "unterminated section header");
		return DROPPED;
	}
	if (*conf_trim(e + 1) != '\0') {
		conf_perr(p, line, "garbage after section header");
		return DROPPED;
	}
	*e = '\0';
	k = conf_trim(s + 1);
	if (!valid_name(k, 0)) {
		conf_perr(p, line, "bad section name \"%s\"", k);
		return DROPPED;
	}
	for (i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listener[i].name, k) == 0) {
			conf_perr(p, line, "duplicate section [%s] (first at "
			    "line %d)", k, p->sectline[i]);
			return DROPPED;
		}
	if (c->nlisteners == CONF_MAX_LISTENERS) {
		conf_perr(p, line, "too many sections (max %d)",
		    CONF_MAX_LISTENERS);
		return DROPPED;
	}
	c->listener[c->nlisteners].name = xstrdup(k);
	p->sectline[c->nlisteners] = line;
	return (int)c->nlisteners++;
}

enum { LAST_NONE, LAST_ENT, LAST_DROPPED, LAST_SECT };

/* A line starting with white space continues the last entry. */
static void
read_continuation(struct pctx *p, const char *s, int line, int last)
{
	struct ent	*en;
	char		*joined;

	if (last == LAST_ENT) {
		en = &p->ent[p->nent - 1];
		joined = conf_xprintf("%s%s%s", en->val, *en->val ? " " : "",
		    s);
		free(en->val);
		en->val = joined;
	} else if (last != LAST_DROPPED)
		conf_perr(p, line, "continuation line without a preceding key");
}

/* "key = value": returns the new LAST_ state. */
static int
read_entry(struct pctx *p, char *s, int line, int sect)
{
	char	*e, *k;

	if ((e = strchr(s, '=')) == NULL) {
		conf_perr(p, line, "expected \"key = value\"");
		return LAST_DROPPED;
	}
	*e = '\0';
	k = conf_trim(s);
	if (!valid_name(k, 1)) {
		conf_perr(p, line, "bad key \"%s\"", k);
		return LAST_DROPPED;
	}
	if (sect == DROPPED)
		return LAST_DROPPED;
	add_ent(p, k, conf_trim(e + 1), line, sect);
	return LAST_ENT;
}

static void
read_file(struct pctx *p, FILE *fp, struct conf *c)
{
	char	*buf = NULL, *s, *h;
	size_t	 cap = 0;
	int	 line = 0, sect = GLOBAL, last = LAST_NONE, cont;

	while (getline(&buf, &cap, fp) != -1) {
		line++;
		cont = (buf[0] == ' ' || buf[0] == '\t');
		/* '#' at the start or after white space starts a comment */
		for (h = buf; (h = strchr(h, '#')) != NULL; h++)
			if (h == buf || h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				break;
			}
		s = conf_trim(buf);
		if (*s == '\0')
			continue;
		if (cont)
			read_continuation(p, s, line, last);
		else if (*s == '[') {
			last = LAST_SECT;
			sect = read_section(p, c, s, line);
		} else
			last = read_entry(p, s, line, sect);
	}
	free(buf);
	if (ferror(fp))
		conf_perr(p, 0, "read error: %s", strerror(errno));
}

/* Pass two: apply entries; [sections] on top of the global values. */

static void
apply_global(struct pctx *p, struct conf *c, const struct ent *e)
{
	const struct key	*k;

	if ((k = key_find(e->key)) == NULL)
		conf_perr(p, e->line, "unknown key \"%s\"", e->key);
	else if (k->scope == KS_SECTION)
		conf_perr(p, e->line, "%s is only allowed in a [section]",
		    k->name);
	else if (set_value(p, k, k->scope == KS_GLOBAL ? (void *)c :
	    (void *)&c->smtpd, e->val, e->line) == 0)
		p->gline[k - keys] = e->line;
}

static void
apply_section(struct pctx *p, struct conf *c, size_t j)
{
	struct conf_smtpd	*l = &c->listener[j];
	const struct key	*k;
	const struct ent	*e;
	char			*name;

	name = l->name;
	smtpd_copy(l, &c->smtpd, NULL);
	l->name = name;
	memcpy(p->sline[j], p->gline, sizeof(p->gline));
	for (e = p->ent; e < p->ent + p->nent; e++) {
		if (e->sect != (int)j)
			continue;
		if ((k = key_find(e->key)) == NULL)
			conf_perr(p, e->line, "unknown key \"%s\"", e->key);
		else if (k->scope == KS_GLOBAL && k->type != K_NOTBUILT)
			conf_perr(p, e->line, "%s is not allowed in a "
			    "[section]", e->key);
		else if (set_value(p, k, l, e->val, e->line) == 0)
			p->sline[j][k - keys] = e->line;
	}
}

static void
apply_entries(struct pctx *p, struct conf *c)
{
	size_t	 i;

	for (i = 0; i < p->nent; i++)
		if (p->ent[i].sect == GLOBAL)
			apply_global(p, c, &p->ent[i]);
	for (i = 0; i < c->nlisteners; i++)
		apply_section(p, c, i);
}

static void
derive(char **dst, const char *dir, const char *file)
{
	if (*dst == NULL)
		*dst = conf_xprintf("%s/%s", dir, file);
}

int
conf_load(const char *path, struct conf *c, struct conf_errors *errs)
{
	struct pctx	*p;
	FILE		*fp;
	size_t		 i;
	int		 r;

	p = xcalloc(1, sizeof(*p));
	p->file = path;
	p->errs = errs;
	defaults(p, c);
	c->file = xstrdup(path);
	if ((fp = fopen(path, "r")) == NULL)
		conf_perr(p, 0, "cannot open: %s", strerror(errno));
	else {
		read_file(p, fp, c);
		fclose(fp);
		apply_entries(p, c);
	}
	if (c->nlisteners == 0) {
		smtpd_copy(&c->listener[0], &c->smtpd, "smtp");
		c->listener[0].listen[0] = xstrdup("0.0.0.0:25");
		c->listener[0].nlisten = 1;
		memcpy(p->sline[0], p->gline, sizeof(p->gline));
		c->nlisteners = 1;
	}
	conf_validate(p, c);
	if (c->hostname == NULL)
		c->hostname = fqdn();
	derive(&c->local_domains, c->config_dir, "local-host-names");
	derive(&c->relay_domains, c->config_dir, "relay-domains");
	derive(&c->access_map, c->config_dir, "access");
	derive(&c->alias_map, c->config_dir, "aliases");
	for (i = 0; i < p->nent; i++) {
		free(p->ent[i].key);
		free(p->ent[i].val);
	}
	free(p->ent);
	r = p->nerr ? -1 : 0;
	free(p);
	return r;
}

void
conf_errors_free(struct conf_errors *e)
{
	size_t	 i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

const struct conf_smtpd *
conf_listener(const struct conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listener[i].name != NULL &&
		    strcmp(c->listener[i].name, name) == 0)
			return &c->listener[i];
	return NULL;
}
