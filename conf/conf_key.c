/*
 * conf_key: the table of postern.conf keys, one row per key (name, type,
 * scope, field, default, limits, hook), and all that follows from a row:
 * parsing a value into its field, the defaults, the per-listener copy of
 * the smtpd values and freeing. No key is handled by name outside the
 * table; a key's special checks are hooks in conf_check.c.
 */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "conf_key.h"


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
static const char *const w_atls[] = { "none", "encrypt", "verify", NULL };
static const char *const w_level[] = { "error", "warning", "info", "debug",
    NULL };

#define G(f)	.off = offsetof(struct conf, f), \
		.size = sizeof(((struct conf *)0)->f)
#define L(f)	.scope = KS_SMTPD, .off = offsetof(struct conf_smtpd, f), \
		.size = sizeof(((struct conf_smtpd *)0)->f)
#define NB(n, why)	{ .name = n, .type = K_NOTBUILT, .note = why }


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
	{ "virtual_map", K_PATH, G(virtual_map) },
	{ "transport_map", K_PATH, G(transport_map) },
	{ "smarthost", K_STR, G(smarthost), .flags = KF_EMPTY },
	{ "mailbox", K_STR, G(mailbox), .def = "mbox:/var/mail/%u",
	    .hook = conf_hook_mailbox },
	{ "mailbox_size_limit", K_SIZE, G(mailbox_size_limit), .def = "50m" },
	/* local delivery through commands, files, ~/.forward */
	{ "mailbox_command", K_STR, G(mailbox_command),
	    .hook = conf_hook_mailbox_command },
	{ "allow_forward_files", K_BOOL, G(allow_forward_files),
	    .def = "yes" },
	{ "default_privs", K_STR, G(default_privs), .def = "nobody",
	    .hook = conf_hook_default_privs },
	{ "command_time_limit", K_DUR, G(command_time_limit), .def = "1000s",
	    .min = 1 },
	{ "queue_lifetime", K_DUR, G(queue_lifetime), .def = "5d", .min = 1 },
	{ "max_hops", K_NUM, G(max_hops), .def = "25", .min = 1, .max = 1000 },
	{ "delay_warning", K_DUR, G(delay_warning), .def = "4h" },
	{ "min_backoff", K_DUR, G(min_backoff), .def = "5m", .min = 1 },
	{ "max_backoff", K_DUR, G(max_backoff), .def = "1h", .min = 1 },
	{ "remote_port", K_PORT, G(remote_port), .def = "25", .min = 1,
	    .max = 65535 },
	{ "dns_servers", K_STR, G(dns_servers), .hook = conf_hook_dns },
	/* read through the transport table: qmgr's per-destination window
	 * starts at the first and grows up to the second (qmgr/dest.c) */
	{ "remote_initial_concurrency", K_NUM,
	    G(remote_initial_concurrency), .def = "5", .min = 1 },
	{ "remote_concurrency", K_NUM, G(remote_concurrency), .def = "20",
	    .min = 1 },
	{ "user", K_STR, G(user), .def = "postern" },
	{ "group", K_STR, G(group), .def = "postern" },
	{ "log", K_STR, G(log), .def = "syslog", .hook = conf_hook_log },
	{ "log_level", K_WORD, G(log_level), .def = "info", .words = w_level },
	{ "cleanup_processes", K_NUM, G(cleanup_processes), .def = "16",
	    .min = 1 },
	{ "submit_processes", K_NUM, G(submit_processes), .def = "4",
	    .min = 1 },
	{ "queue_minfree", K_SIZE, G(queue_minfree), .def = "64m" },
	{ "authorized_submit_users", K_STR, G(authorized_submit_users) },
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
	{ "remote_auth_tls", K_ENUM, G(remote_auth_tls), .def = "verify",
	    .words = w_atls },
	/* the AUTH lockout (anvil and every smtpd); 0 disables it */
	{ "auth_failure_limit", K_NUM, G(auth_failure_limit), .def = "5" },
	{ "auth_failure_window", K_DUR, G(auth_failure_window), .def = "10m",
	    .min = 1 },
	{ "auth_lockout_time", K_DUR, G(auth_lockout_time), .def = "10m",
	    .min = 1 },
	{ "auth_lockout_exempt_local", K_BOOL, G(auth_lockout_exempt_local),
	    .def = "yes" },
	/* rewriting in cleanup (SPEC sections 3 and 7) */
	{ "masquerade_as", K_STR, G(masquerade_as), .flags = KF_EMPTY,
	    .hook = conf_hook_domain },
	{ "masquerade_domains", K_STR, G(masquerade_domains),
	    .flags = KF_EMPTY, .hook = conf_hook_domains },
	{ "masquerade_envelope", K_BOOL, G(masquerade_envelope), .def = "no" },
	{ "masquerade_entire_domain", K_BOOL, G(masquerade_entire_domain),
	    .def = "no" },
	{ "exposed_users", K_STR, G(exposed_users), .def = "root",
	    .flags = KF_EMPTY, .hook = conf_hook_users },
	{ "trusted_users", K_STR, G(trusted_users), .flags = KF_EMPTY,
	    .hook = conf_hook_users },
	/* pools start small and grow with load (master/ondemand.c) */
	{ "max_idle", K_DUR, G(max_idle), .def = "100s", .min = 1,
	    .max = 86400 },
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
	{ "junk_command_limit", K_NUM, L(junk_command_limit), .def = "100" },
	{ "session_timeout", K_DUR, L(session_timeout), .def = "1h" },
	{ "min_data_rate", K_SIZE, L(min_data_rate), .def = "500" },
	{ "client_session_limit", K_NUM, L(client_session_limit),
	    .def = "50" },
};

_Static_assert(NELEM(keys) <= KEY_MAX, "raise KEY_MAX");
/* K_ENUM and K_BOOL store an int; K_NUM, K_SIZE, K_DUR an unsigned or a
 * 64-bit field. */
_Static_assert(sizeof(enum conf_tls) == sizeof(int) &&
    sizeof(enum conf_auth) == sizeof(int) &&
    sizeof(enum conf_remote_tls) == sizeof(int) &&
    sizeof(enum conf_auth_tls) == sizeof(int), "enum is not an int");
_Static_assert(sizeof(size_t) == sizeof(uint64_t) ||
    sizeof(size_t) == sizeof(unsigned), "odd size_t");

const struct key *
conf_key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NELEM(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

size_t
conf_key_index(const struct key *k)
{
	return (size_t)(k - keys);
}

int
conf_key_line(const int *lines, const char *name)
{
	const struct key	*k = conf_key_find(name);

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
int
conf_key_set(struct pctx *p, const struct key *k, void *base, const char *v,
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
			conf_perr(p, line, "bad value \"%s\" for %s "
			    "(yes or no)", v, k->name);
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

void
conf_key_defaults(struct pctx *p, struct conf *c)
{
	size_t	 i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NELEM(keys); i++)
		if (keys[i].def != NULL)
			conf_key_set(p, &keys[i], keys[i].scope == KS_GLOBAL ?
			    (void *)c : (void *)&c->smtpd, keys[i].def, 0);
}

void
conf_smtpd_copy(struct conf_smtpd *d, const struct conf_smtpd *s,
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

