/*
 * conf: read postern.conf (SPEC section 3).  The file is read in two
 * passes: first every "key = value" (with continuation lines) is recorded
 * with its section and line, then global keys are applied on top of the
 * defaults and each [section] on top of the final global smtpd defaults.
 * Every problem is collected as "file:line: text"; nothing is fatal.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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

#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "dns.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc/postern"
#endif

#define GLOBAL		(-1)
#define DROPPED		(-2)

#define DEFAULT_AUTH_MECHS	"PLAIN LOGIN CRAM-MD5 DIGEST-MD5"

int conf_worker;

struct ent {
	char	*key;
	char	*val;
	int	 line;
	int	 sect;
};

/* Lines where tls-related keys were last set, for the final checks. */
struct slines {
	int	 tls, cert, key, auth;
};

struct pctx {
	const char		*file;
	struct conf_errors	*errs;
	int			 nerr;
	struct ent		*ent;
	size_t			 nent;
	int			 sectline[CONF_MAX_LISTENERS];
	struct slines		 gl, sl[CONF_MAX_LISTENERS];
	int			 minb_line, maxb_line;
	int			 sasl_line, rauth_line;
};

static void *
conf_xmalloc(size_t n)
{
	void	*p;

	if ((p = calloc(1, n ? n : 1)) == NULL) {
		fprintf(stderr, "conf: out of memory\n");
		abort();
	}
	return p;
}

static void *
conf_xreallocarray(void *p, size_t n, size_t sz)
{
	if (sz && n > SIZE_MAX / sz) {
		fprintf(stderr, "conf: out of memory\n");
		abort();
	}
	if ((p = realloc(p, n * sz != 0 ? n * sz : 1)) == NULL) {
		fprintf(stderr, "conf: out of memory\n");
		abort();
	}
	return p;
}

static char *
conf_xstrdup(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p = conf_xmalloc(n);

	memcpy(p, s, n);
	return p;
}

static char *
conf_xprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1) {
		fprintf(stderr, "conf: out of memory\n");
		abort();
	}
	return s;
}

static void
conf_verr(struct conf_errors *errs, int *nerr, int warn, const char *fmt,
    va_list ap)
{
	char	*s;

	if (!warn && nerr != NULL)
		(*nerr)++;
	if (errs == NULL)
		return;
	if (vasprintf(&s, fmt, ap) == -1) {
		fprintf(stderr, "conf: out of memory\n");
		abort();
	}
	errs->msg = conf_xreallocarray(errs->msg, errs->n + 1,
	    sizeof(*errs->msg));
	errs->msg[errs->n++] = s;
	if (warn)
		errs->nwarn++;
}

/* An error at a line of the file being parsed (line 0: no line). */
static void
perr(struct pctx *p, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*f;

	if (line > 0)
		f = conf_xprintf("%s:%d: %s", p->file, line, fmt);
	else
		f = conf_xprintf("%s: %s", p->file, fmt);
	va_start(ap, fmt);
	conf_verr(p->errs, &p->nerr, 0, f, ap);
	va_end(ap);
	free(f);
}

static void
errw(struct conf_errors *errs, int *nerr, int warn, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_verr(errs, nerr, warn, fmt, ap);
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
	for (i = 0; i < 4; i++) {
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

static int
parse_number(const char *s, uint64_t *v)
{
	const char	*e;

	if (parse_digits(s, &e, v) == -1 || *e != '\0')
		return -1;
	return 0;
}

/* Key tables. */

enum gtype { G_STR, G_OPTSTR, G_ABSPATH, G_DUR, G_DUR0, G_UINT, G_PORT,
	G_LOG, G_LOGLEVEL, G_MAILBOX, G_BOOL, G_SASLAPP, G_RTLS, G_SECRET, G_DNS };

struct gkey {
	const char	*name;
	enum gtype	 type;
	size_t		 off;
};

static const struct gkey gkeys[] = {
	{ "hostname",		G_STR,		offsetof(struct conf, hostname) },
	{ "queue_dir",		G_ABSPATH,	offsetof(struct conf, queue_dir) },
	{ "config_dir",		G_ABSPATH,	offsetof(struct conf, config_dir) },
	{ "local_domains",	G_STR,	offsetof(struct conf, local_domains) },
	{ "relay_domains",	G_STR,	offsetof(struct conf, relay_domains) },
	{ "access_map",		G_STR,		offsetof(struct conf, access_map) },
	{ "alias_map",		G_STR,		offsetof(struct conf, alias_map) },
	{ "smarthost",		G_OPTSTR,	offsetof(struct conf, smarthost) },
	{ "mailbox",		G_MAILBOX,	offsetof(struct conf, mailbox) },
	{ "queue_lifetime",	G_DUR,	offsetof(struct conf, queue_lifetime) },
	{ "delay_warning",	G_DUR0,	offsetof(struct conf, delay_warning) },
	{ "min_backoff",	G_DUR,		offsetof(struct conf, min_backoff) },
	{ "max_backoff",	G_DUR,		offsetof(struct conf, max_backoff) },
	{ "remote_port",	G_PORT,		offsetof(struct conf, remote_port) },
	{ "dns_servers",	G_DNS,		offsetof(struct conf, dns_servers) },
	{ "remote_concurrency",	G_UINT,
	    offsetof(struct conf, remote_concurrency) },
	{ "user",		G_STR,		offsetof(struct conf, user) },
	{ "group",		G_STR,		offsetof(struct conf, group) },
	{ "log",		G_LOG,		offsetof(struct conf, log) },
	{ "log_level",		G_LOGLEVEL,	offsetof(struct conf, log_level) },
	{ "cleanup_processes",	G_UINT,
	    offsetof(struct conf, cleanup_processes) },
	{ "local_processes",	G_UINT,
	    offsetof(struct conf, local_processes) },
	{ "remote_processes",	G_UINT,
	    offsetof(struct conf, remote_processes) },
	{ "sasl_app",		G_SASLAPP,	offsetof(struct conf, sasl_app) },
	{ "sasl_config_dir",	G_ABSPATH,
	    offsetof(struct conf, sasl_config_dir) },
	{ "auth_show_user",	G_BOOL,	offsetof(struct conf, auth_show_user) },
	{ "sender_login_map",	G_STR,
	    offsetof(struct conf, sender_login_map) },
	{ "remote_tls",		G_RTLS,		0 },
	{ "remote_auth",	G_SECRET,	offsetof(struct conf, remote_auth) },
};

enum stype { S_LISTEN, S_NUM, S_SIZE, S_SESSIONS, S_BOOL, S_TLS, S_AUTH,
	S_FILE, S_TIMEOUT, S_UINT, S_MECHS, S_DNSBL, S_UINT0 };

struct skey {
	const char	*name;
	enum stype	 type;
	size_t		 off;
};

static const struct skey skeys[] = {
	{ "listen",		S_LISTEN,	0 },
	{ "max_recipients",	S_NUM,
	    offsetof(struct conf_smtpd, max_recipients) },
	{ "max_header_size",	S_SIZE,
	    offsetof(struct conf_smtpd, max_header_size) },
	{ "max_message_size",	S_SIZE,
	    offsetof(struct conf_smtpd, max_message_size) },
	{ "max_sessions",	S_NUM,
	    offsetof(struct conf_smtpd, max_sessions) },
	{ "vrfy",		S_BOOL,		offsetof(struct conf_smtpd, vrfy) },
	{ "expn",		S_BOOL,		offsetof(struct conf_smtpd, expn) },
	{ "tls",		S_TLS,		0 },
	{ "tls_cert",		S_FILE,	offsetof(struct conf_smtpd, tls_cert) },
	{ "tls_key",		S_FILE,	offsetof(struct conf_smtpd, tls_key) },
	{ "tls_ca",		S_FILE,		offsetof(struct conf_smtpd, tls_ca) },
	{ "auth",		S_AUTH,		0 },
	{ "auth_mechanisms",	S_MECHS,	0 },
	{ "auth_plaintext_requires_tls", S_BOOL,
	    offsetof(struct conf_smtpd, auth_plaintext_requires_tls) },
	{ "require_resolvable_sender", S_BOOL,
	    offsetof(struct conf_smtpd, require_resolvable_sender) },
	{ "delay_checks",	S_BOOL,
	    offsetof(struct conf_smtpd, delay_checks) },
	{ "dnsbl",		S_DNSBL,	offsetof(struct conf_smtpd, dnsbl) },
	{ "connection_rate_limit", S_UINT0,
	    offsetof(struct conf_smtpd, connection_rate_limit) },
	{ "client_connection_rate_limit", S_UINT0,
	    offsetof(struct conf_smtpd, client_connection_rate_limit) },
	{ "command_timeout",	S_TIMEOUT,
	    offsetof(struct conf_smtpd, command_timeout) },
	{ "data_timeout",	S_TIMEOUT,
	    offsetof(struct conf_smtpd, data_timeout) },
	{ "max_errors",		S_UINT,	offsetof(struct conf_smtpd, max_errors) },
};

/* SPEC keys implemented by later steps: accepted and ignored for now. */
static const char *reserved_global[] = {
	"virtual_map", "transport_map", "masquerade_as", "masquerade_domains",
	"masquerade_envelope", "masquerade_entire_domain", "exposed_users",
	"mailbox_command", "allow_forward_files",
};
static const char *reserved_smtpd[] = {
	"connection_rate_limit", "client_connection_rate_limit", "dnsbl",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const struct gkey *
find_gkey(const char *k)
{
	size_t	 i;

	for (i = 0; i < NELEM(gkeys); i++)
		if (strcmp(gkeys[i].name, k) == 0)
			return &gkeys[i];
	return NULL;
}

static const struct skey *
find_skey(const char *k)
{
	size_t	 i;

	for (i = 0; i < NELEM(skeys); i++)
		if (strcmp(skeys[i].name, k) == 0)
			return &skeys[i];
	return NULL;
}

static int
in_list(const char **l, size_t n, const char *k)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(l[i], k) == 0)
			return 1;
	return 0;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL ? conf_xstrdup(v) : NULL;
}

/* Global keys. */

static void
apply_global(struct pctx *p, struct conf *c, const struct gkey *k,
    const char *v, int line)
{
	char		**sp = (char **)((char *)c + k->off);
	uint64_t	 *dp = (uint64_t *)((char *)c + k->off);
	unsigned	 *up = (unsigned *)((char *)c + k->off);
	uint64_t	  n;

	if (*v == '\0' && k->type != G_OPTSTR) {
		perr(p, line, "empty value for %s", k->name);
		return;
	}
	switch (k->type) {
	case G_STR:
		set_str(sp, v);
		break;
	case G_OPTSTR:
		set_str(sp, *v ? v : NULL);
		break;
	case G_DNS: {
		char fwd[DNS_MAX_SERVERS][80];

		if (dns_servers_parse(v, fwd, DNS_MAX_SERVERS) <= 0) {
			perr(p, line, "bad dns_servers \"%s\" (IP[:port], "
			    "[IPv6]:port, at most %d)", v, DNS_MAX_SERVERS);
			return;
		}
		set_str(sp, v);
		break;
	}
	case G_ABSPATH:
		if (*v != '/') {
			perr(p, line, "%s must be an absolute path", k->name);
			return;
		}
		set_str(sp, v);
		break;
	case G_MAILBOX:
		if (strncmp(v, "mbox:", 5) != 0 &&
		    strncmp(v, "maildir:", 8) != 0) {
			perr(p, line, "mailbox must be mbox:PATH or "
			    "maildir:PATH/");
			return;
		}
		set_str(sp, v);
		break;
	case G_LOG:
		if (strcmp(v, "syslog") != 0 && strcmp(v, "stderr") != 0 &&
		    *v != '/') {
			perr(p, line, "log must be syslog, stderr or an "
			    "absolute path");
			return;
		}
		set_str(sp, v);
		break;
	case G_LOGLEVEL:
		if (strcmp(v, "error") != 0 && strcmp(v, "warning") != 0 &&
		    strcmp(v, "info") != 0 && strcmp(v, "debug") != 0) {
			perr(p, line, "log_level must be error, warning, info "
			    "or debug");
			return;
		}
		set_str(sp, v);
		break;
	case G_DUR:
	case G_DUR0:
		if (conf_parse_duration(v, &n) == -1) {
			perr(p, line, "bad duration \"%s\" for %s", v, k->name);
			return;
		}
		if (n == 0 && k->type == G_DUR) {
			perr(p, line, "%s must be greater than 0", k->name);
			return;
		}
		*dp = n;
		if (strcmp(k->name, "min_backoff") == 0)
			p->minb_line = line;
		else if (strcmp(k->name, "max_backoff") == 0)
			p->maxb_line = line;
		break;
	case G_BOOL:
		if (conf_parse_bool(v, (int *)up) == -1) {
			perr(p, line, "bad value \"%s\" for %s (yes or no)",
			    v, k->name);
			return;
		}
		break;
	case G_SASLAPP:
		/* It names /etc/sasl2/APP.conf: a plain file name. */
		if (strlen(v) > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(v)) {
			perr(p, line, "bad sasl_app \"%s\" (letters, digits, "
			    "- and _)", v);
			return;
		}
		set_str(sp, v);
		p->sasl_line = line;
		break;
	case G_RTLS:
		if (strcmp(v, "none") == 0)
			c->remote_tls = RTLS_NONE;
		else if (strcmp(v, "may") == 0)
			c->remote_tls = RTLS_MAY;
		else if (strcmp(v, "encrypt") == 0)
			c->remote_tls = RTLS_ENCRYPT;
		else if (strcmp(v, "verify") == 0)
			c->remote_tls = RTLS_VERIFY;
		else
			perr(p, line, "remote_tls must be none, may, encrypt "
			    "or verify");
		break;
	case G_SECRET:
		if (*v != '/') {
			perr(p, line, "%s must be an absolute path", k->name);
			return;
		}
		set_str(sp, v);
		p->rauth_line = line;
		break;
	case G_UINT:
	case G_PORT:
		if (parse_number(v, &n) == -1 || n > UINT_MAX) {
			perr(p, line, "bad number \"%s\" for %s", v, k->name);
			return;
		}
		if (n == 0) {
			perr(p, line, "%s must be greater than 0", k->name);
			return;
		}
		if (k->type == G_PORT && n > 65535) {
			perr(p, line, "bad port \"%s\" for %s", v, k->name);
			return;
		}
		*up = (unsigned)n;
		break;
	}
}

/* listen: "host:port" or "[v6]:port", comma and/or space separated. */
static int
check_addr(const char *a)
{
	const char	*colon, *e;
	uint64_t	 port;

	if (*a == '[') {
		if ((e = strchr(a, ']')) == NULL || e == a + 1 || e[1] != ':')
			return -1;
		colon = e + 1;
	} else {
		if ((colon = strrchr(a, ':')) == NULL || colon == a ||
		    memchr(a, ':', colon - a) != NULL)
			return -1;
	}
	if (parse_number(colon + 1, &port) == -1 || port < 1 || port > 65535)
		return -1;
	return 0;
}

static void
apply_listen(struct pctx *p, struct conf_smtpd *s, const char *v, int line)
{
	char	*copy, *t, *save = NULL;
	char	*addr[CONF_MAX_ADDRS];
	size_t	 n = 0, i;
	int	 bad = 0;

	copy = conf_xstrdup(v);
	for (t = strtok_r(copy, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save)) {
		if (check_addr(t) == -1) {
			perr(p, line, "bad listen address \"%s\" "
			    "(host:port or [v6]:port)", t);
			bad = 1;
			break;
		}
		if (n == CONF_MAX_ADDRS) {
			perr(p, line, "too many listen addresses (max %d)",
			    CONF_MAX_ADDRS);
			bad = 1;
			break;
		}
		addr[n++] = conf_xstrdup(t);
	}
	free(copy);
	if (!bad && n == 0) {
		perr(p, line, "empty value for listen");
		bad = 1;
	}
	if (bad) {
		for (i = 0; i < n; i++)
			free(addr[i]);
		return;
	}
	for (i = 0; i < s->nlisten; i++)
		free(s->listen[i]);
	for (i = 0; i < n; i++)
		s->listen[i] = addr[i];
	s->nlisten = n;
}

/* auth_mechanisms: SASL mechanism names, upper-cased, space separated. */
static void
apply_mechs(struct pctx *p, struct conf_smtpd *s, const char *v, int line)
{
	char	 out[512], *copy, *t, *save = NULL;
	size_t	 off = 0, n = 0, len;

	copy = conf_xstrdup(v);
	out[0] = '\0';
	for (t = strtok_r(copy, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save)) {
		len = strlen(t);
		if (len > 20 || strspn(t, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != len) {
			perr(p, line, "bad SASL mechanism name \"%s\"", t);
			free(copy);
			return;
		}
		if (off + len + 2 > sizeof(out)) {
			perr(p, line, "too many auth_mechanisms");
			free(copy);
			return;
		}
		if (off)
			out[off++] = ' ';
		for (size_t i = 0; i < len; i++)
			out[off++] = (char)toupper((unsigned char)t[i]);
		out[off] = '\0';
		n++;
	}
	free(copy);
	if (n == 0) {
		perr(p, line, "empty value for auth_mechanisms");
		return;
	}
	set_str(&s->auth_mechanisms, out);
}

static void
apply_smtpd(struct pctx *p, struct conf_smtpd *s, struct slines *sl,
    const struct skey *k, const char *v, int line)
{
	size_t		*zp = (size_t *)((char *)s + k->off);
	unsigned	*up = (unsigned *)((char *)s + k->off);
	int		*ip = (int *)((char *)s + k->off);
	char		**sp = (char **)((char *)s + k->off);
	uint64_t	 n;
	int		 b, fd;

	switch (k->type) {
	case S_LISTEN:
		apply_listen(p, s, v, line);
		break;
	case S_NUM:
	case S_SESSIONS:
	case S_UINT:
		if (parse_number(v, &n) == -1 ||
		    n > (k->type == S_UINT ? UINT_MAX : SIZE_MAX)) {
			perr(p, line, "bad number \"%s\" for %s", v, k->name);
			return;
		}
		if (n == 0) {
			perr(p, line, "%s must be greater than 0", k->name);
			return;
		}
		if (k->type == S_UINT)
			*up = (unsigned)n;
		else
			*zp = (size_t)n;
		break;
	case S_SIZE:
		if (conf_parse_size(v, &n) == -1 || n > SIZE_MAX) {
			perr(p, line, "bad size \"%s\" for %s", v, k->name);
			return;
		}
		if (n == 0) {
			perr(p, line, "%s must be greater than 0", k->name);
			return;
		}
		*zp = (size_t)n;
		break;
	case S_TIMEOUT:
		if (conf_parse_duration(v, &n) == -1 || n > UINT_MAX) {
			perr(p, line, "bad duration \"%s\" for %s", v, k->name);
			return;
		}
		if (n == 0) {
			perr(p, line, "%s must be greater than 0", k->name);
			return;
		}
		*up = (unsigned)n;
		break;
	case S_BOOL:
		if (conf_parse_bool(v, &b) == -1) {
			perr(p, line, "bad value \"%s\" for %s (yes or no)",
			    v, k->name);
			return;
		}
		*ip = b;
		break;
	case S_TLS:
		if (strcmp(v, "none") == 0)
			s->tls = TLS_NONE;
		else if (strcmp(v, "may") == 0)
			s->tls = TLS_MAY;
		else if (strcmp(v, "required") == 0)
			s->tls = TLS_REQUIRED;
		else if (strcmp(v, "wrapper") == 0)
			s->tls = TLS_WRAPPER;
		else {
			perr(p, line, "tls must be none, may, required or "
			    "wrapper");
			return;
		}
		sl->tls = line;
		break;
	case S_AUTH:
		if (strcmp(v, "none") == 0)
			s->auth = AUTH_NONE;
		else if (strcmp(v, "optional") == 0)
			s->auth = AUTH_OPTIONAL;
		else if (strcmp(v, "required") == 0)
			s->auth = AUTH_REQUIRED;
		else {
			perr(p, line, "auth must be none, optional or "
			    "required");
			return;
		}
		sl->auth = line;
		break;
	case S_MECHS:
		apply_mechs(p, s, v, line);
		break;
	case S_DNSBL: {
		struct dns_bl bl[16];

		if (dns_bl_parse(v, bl, 16) == -1) {
			perr(p, line, "bad dnsbl list \"%s\" (zone[=\"text\"]"
			    ", at most 16)", v);
			return;
		}
		set_str(sp, *v ? v : NULL);
		break;
	}
	case S_UINT0:
		if (parse_number(v, &n) == -1 || n > UINT_MAX) {
			perr(p, line, "bad number \"%s\" for %s", v, k->name);
			return;
		}
		*up = (unsigned)n;
		break;
	case S_FILE:
		if (*v == '\0') {
			set_str(sp, NULL);
		} else if (*v != '/') {
			perr(p, line, "%s must be an absolute path", k->name);
			return;
		} else if (conf_worker && strcmp(k->name, "tls_key") == 0) {
			/* master checked it as root and passes it open */
			set_str(sp, v);
		} else {
			if ((fd = open(v, O_RDONLY)) == -1) {
				perr(p, line, "%s: cannot read %s: %s",
				    k->name, v, strerror(errno));
				return;
			}
			close(fd);
			set_str(sp, v);
		}
		if (strcmp(k->name, "tls_cert") == 0)
			sl->cert = line;
		else if (strcmp(k->name, "tls_key") == 0)
			sl->key = line;
		break;
	}
}

static void
smtpd_free(struct conf_smtpd *s)
{
	size_t	 i;

	free(s->name);
	for (i = 0; i < s->nlisten; i++)
		free(s->listen[i]);
	free(s->tls_cert);
	free(s->tls_key);
	free(s->tls_ca);
	free(s->dnsbl);
	free(s->auth_mechanisms);
	memset(s, 0, sizeof(*s));
}

static void
smtpd_copy(struct conf_smtpd *d, const struct conf_smtpd *s,
    const char *name)
{
	size_t	 i;

	*d = *s;
	d->name = name != NULL ? conf_xstrdup(name) : NULL;
	for (i = 0; i < s->nlisten; i++)
		d->listen[i] = conf_xstrdup(s->listen[i]);
	d->tls_cert = s->tls_cert ? conf_xstrdup(s->tls_cert) : NULL;
	d->tls_key = s->tls_key ? conf_xstrdup(s->tls_key) : NULL;
	d->tls_ca = s->tls_ca ? conf_xstrdup(s->tls_ca) : NULL;
	d->dnsbl = s->dnsbl ? conf_xstrdup(s->dnsbl) : NULL;
	d->auth_mechanisms = s->auth_mechanisms ?
	    conf_xstrdup(s->auth_mechanisms) : NULL;
}

static void
defaults(struct conf *c)
{
	struct conf_smtpd	*s = &c->smtpd;

	memset(c, 0, sizeof(*c));
	c->queue_dir = conf_xstrdup("/var/spool/postern");
	c->config_dir = conf_xstrdup("/etc/postern");
	c->mailbox = conf_xstrdup("mbox:/var/mail/%u");
	c->queue_lifetime = 5 * 86400;
	c->delay_warning = 4 * 3600;
	c->min_backoff = 5 * 60;
	c->max_backoff = 3600;
	c->remote_port = 25;
	c->remote_concurrency = 20;
	c->user = conf_xstrdup("postern");
	c->group = conf_xstrdup("postern");
	c->log = conf_xstrdup("syslog");
	c->log_level = conf_xstrdup("info");
	c->cleanup_processes = 16;
	c->local_processes = 8;
	c->remote_processes = 20;
	c->sasl_app = conf_xstrdup("postern");
	c->remote_tls = RTLS_MAY;

	s->max_recipients = 100;
	s->max_header_size = 102400;
	s->max_message_size = 10 * 1024 * 1024;
	s->max_sessions = 100;
	s->vrfy = s->expn = 0;
	s->tls = TLS_MAY;
	s->auth = AUTH_NONE;
	s->auth_mechanisms = conf_xstrdup(DEFAULT_AUTH_MECHS);
	s->auth_plaintext_requires_tls = 1;
	s->require_resolvable_sender = 1;
	s->delay_checks = 0;
	s->command_timeout = 300;
	s->data_timeout = 600;
	s->max_errors = 20;
}

static char *
fqdn(void)
{
	char		 name[256];
	struct addrinfo	 hints, *res = NULL;
	char		*r;

	if (gethostname(name, sizeof(name)) == -1)
		return conf_xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') != NULL)
		return conf_xstrdup(name);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && strchr(res->ai_canonname, '.'))
		r = conf_xstrdup(res->ai_canonname);
	else
		r = conf_xstrdup(name);
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* Pass one: read the file into entries. */

static char *
trim(char *s)
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

static void
add_ent(struct pctx *p, const char *k, const char *v, int line, int sect)
{
	p->ent = conf_xreallocarray(p->ent, p->nent + 1, sizeof(*p->ent));
	p->ent[p->nent].key = conf_xstrdup(k);
	p->ent[p->nent].val = conf_xstrdup(v);
	p->ent[p->nent].line = line;
	p->ent[p->nent].sect = sect;
	p->nent++;
}

enum { LAST_NONE, LAST_ENT, LAST_DROPPED, LAST_SECT };

static void
read_file(struct pctx *p, FILE *fp, struct conf *c)
{
	char	*buf = NULL, *s, *h, *e, *k, *v, *joined;
	size_t	 cap = 0, i;
	ssize_t	 len;
	int	 line = 0, sect = GLOBAL, last = LAST_NONE, cont;
	struct ent *en;

	while ((len = getline(&buf, &cap, fp)) != -1) {
		line++;
		cont = (buf[0] == ' ' || buf[0] == '\t');
		/* '#' at the start or after white space starts a comment */
		for (h = buf; (h = strchr(h, '#')) != NULL; h++)
			if (h == buf || h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				break;
			}
		s = trim(buf);
		if (*s == '\0')
			continue;
		if (cont) {
			if (last == LAST_ENT) {
				en = &p->ent[p->nent - 1];
				joined = conf_xprintf("%s%s%s", en->val,
				    *en->val ? " " : "", s);
				free(en->val);
				en->val = joined;
			} else if (last != LAST_DROPPED)
				perr(p, line, "continuation line without a "
				    "preceding key");
			continue;
		}
		if (*s == '[') {
			last = LAST_SECT;
			sect = DROPPED;
			if ((e = strchr(s, ']')) == NULL) {
				perr(p, line, "unterminated section header");
				continue;
			}
			if (*trim(e + 1) != '\0') {
				perr(p, line, "garbage after section header");
				continue;
			}
			*e = '\0';
			k = trim(s + 1);
			if (!valid_name(k, 0)) {
				perr(p, line, "bad section name \"%s\"", k);
				continue;
			}
			for (i = 0; i < c->nlisteners; i++)
				if (strcmp(c->listener[i].name, k) == 0)
					break;
			if (i < c->nlisteners) {
				perr(p, line, "duplicate section [%s] "
				    "(first at line %d)", k, p->sectline[i]);
				continue;
			}
			if (c->nlisteners == CONF_MAX_LISTENERS) {
				perr(p, line, "too many sections (max %d)",
				    CONF_MAX_LISTENERS);
				continue;
			}
			c->listener[c->nlisteners].name = conf_xstrdup(k);
			p->sectline[c->nlisteners] = line;
			sect = (int)c->nlisteners++;
			continue;
		}
		if ((e = strchr(s, '=')) == NULL) {
			perr(p, line, "expected \"key = value\"");
			last = LAST_DROPPED;
			continue;
		}
		*e = '\0';
		k = trim(s);
		v = trim(e + 1);
		if (!valid_name(k, 1)) {
			perr(p, line, "bad key \"%s\"", k);
			last = LAST_DROPPED;
			continue;
		}
		if (sect == DROPPED) {
			last = LAST_DROPPED;
			continue;
		}
		add_ent(p, k, v, line, sect);
		last = LAST_ENT;
	}
	free(buf);
	if (ferror(fp))
		perr(p, 0, "read error: %s", strerror(errno));
}

/* Pass two: apply entries; [sections] on top of the global defaults. */

static void
apply_entries(struct pctx *p, struct conf *c)
{
	const struct gkey	*g;
	const struct skey	*sk;
	struct conf_smtpd	*l;
	struct ent		*e;
	char			*name;
	size_t			 i, j;

	for (i = 0; i < p->nent; i++) {
		e = &p->ent[i];
		if (e->sect != GLOBAL)
			continue;
		if ((g = find_gkey(e->key)) != NULL)
			apply_global(p, c, g, e->val, e->line);
		else if ((sk = find_skey(e->key)) != NULL) {
			if (sk->type == S_LISTEN)
				perr(p, e->line, "listen is only allowed in a "
				    "[section]");
			else
				apply_smtpd(p, &c->smtpd, &p->gl, sk, e->val,
				    e->line);
		} else if (!in_list(reserved_global, NELEM(reserved_global),
		    e->key) && !in_list(reserved_smtpd,
		    NELEM(reserved_smtpd), e->key))
			perr(p, e->line, "unknown key \"%s\"", e->key);
	}
	for (j = 0; j < c->nlisteners; j++) {
		l = &c->listener[j];
		name = l->name;
		l->name = NULL;
		smtpd_copy(l, &c->smtpd, NULL);
		l->name = name;
		p->sl[j] = p->gl;
		for (i = 0; i < p->nent; i++) {
			e = &p->ent[i];
			if (e->sect != (int)j)
				continue;
			if ((sk = find_skey(e->key)) != NULL)
				apply_smtpd(p, l, &p->sl[j], sk, e->val,
				    e->line);
			else if (find_gkey(e->key) != NULL ||
			    in_list(reserved_global, NELEM(reserved_global),
			    e->key))
				perr(p, e->line, "%s is not allowed in a "
				    "[section]", e->key);
			else if (!in_list(reserved_smtpd,
			    NELEM(reserved_smtpd), e->key))
				perr(p, e->line, "unknown key \"%s\"", e->key);
		}
	}
}

static void
pem_err(struct pctx *p, int line, const char *what, const char *file)
{
	char	 err[256];
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "unknown error");
	ERR_clear_error();
	perr(p, line, "%s %s: %s", what, file, err);
}

/* The certificate chain parses, the key parses and they match. */
static void
check_pem(struct pctx *p, const struct conf_smtpd *l, const struct slines *sl)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		perr(p, sl->cert, "cannot create a TLS context");
		return;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, l->tls_cert) != 1)
		pem_err(p, sl->cert, "bad certificate chain in", l->tls_cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, l->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			perr(p, sl->key, "[%s] tls_key %s does not match "
			    "tls_cert %s", l->name, l->tls_key, l->tls_cert);
		} else
			pem_err(p, sl->key, "bad private key in", l->tls_key);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		perr(p, sl->key, "[%s] tls_key %s does not match tls_cert %s",
		    l->name, l->tls_key, l->tls_cert);
	}
	SSL_CTX_free(ctx);
}

/* A password file: a regular file nobody but its owner may read. */
static void
check_secret(struct pctx *p, const char *path, int line)
{
	struct stat	 st;

	if (stat(path, &st) == -1) {
		perr(p, line, "remote_auth: cannot read %s: %s", path,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode))
		perr(p, line, "remote_auth: %s is not a regular file", path);
	else if ((st.st_mode & 077) != 0)
		perr(p, line, "remote_auth: %s must not be accessible by group "
		    "or others (mode %04o; chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
}

static void
validate(struct pctx *p, struct conf *c)
{
	struct conf_smtpd	*l;
	struct slines		*sl;
	size_t			 j;

	if (c->min_backoff > c->max_backoff)
		perr(p, p->minb_line > p->maxb_line ? p->minb_line :
		    p->maxb_line, "min_backoff is greater than max_backoff");
	for (j = 0; j < c->nlisteners; j++) {
		l = &c->listener[j];
		sl = &p->sl[j];
		if (l->nlisten == 0)
			perr(p, p->sectline[j], "[%s] has no listen address",
			    l->name);
		if ((l->tls == TLS_REQUIRED || l->tls == TLS_WRAPPER) &&
		    (l->tls_cert == NULL || l->tls_key == NULL))
			perr(p, sl->tls, "[%s] tls = %s needs tls_cert and "
			    "tls_key", l->name, l->tls == TLS_REQUIRED ?
			    "required" : "wrapper");
		else if (l->tls_cert != NULL && l->tls_key == NULL)
			perr(p, sl->cert, "[%s] tls_cert without tls_key",
			    l->name);
		else if (l->tls_key != NULL && l->tls_cert == NULL)
			perr(p, sl->key, "[%s] tls_key without tls_cert",
			    l->name);
		else if (l->tls != TLS_NONE && l->tls_cert != NULL &&
		    l->tls_key != NULL && !conf_worker)
			check_pem(p, l, sl);
		/* SPEC: auth defaults to optional where SASL is configured */
		if (p->sasl_line && !sl->auth)
			l->auth = AUTH_OPTIONAL;
	}
	/* Checked by check/start/reload; a running worker must not die of a
	 * chmod (remote re-checks the mode itself and defers). */
	if (c->remote_auth != NULL && !conf_worker)
		check_secret(p, c->remote_auth, p->rauth_line);
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
	struct pctx	 p;
	FILE		*fp;
	size_t		 i;

	defaults(c);
	memset(&p, 0, sizeof(p));
	p.file = path;
	p.errs = errs;
	c->file = conf_xstrdup(path);

	if ((fp = fopen(path, "r")) == NULL) {
		perr(&p, 0, "cannot open: %s", strerror(errno));
	} else {
		read_file(&p, fp, c);
		fclose(fp);
		apply_entries(&p, c);
	}
	if (c->nlisteners == 0) {
		smtpd_copy(&c->listener[0], &c->smtpd, "smtp");
		c->listener[0].listen[0] = conf_xstrdup("0.0.0.0:25");
		c->listener[0].nlisten = 1;
		p.sl[0] = p.gl;
		c->nlisteners = 1;
	}
	validate(&p, c);

	if (c->hostname == NULL)
		c->hostname = fqdn();
	derive(&c->local_domains, c->config_dir, "local-host-names");
	derive(&c->relay_domains, c->config_dir, "relay-domains");
	derive(&c->access_map, c->config_dir, "access");
	derive(&c->alias_map, c->config_dir, "aliases");

	for (i = 0; i < p.nent; i++) {
		free(p.ent[i].key);
		free(p.ent[i].val);
	}
	free(p.ent);
	return p.nerr ? -1 : 0;
}

void
conf_free(struct conf *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	free(c->file);
	free(c->hostname);
	free(c->queue_dir);
	free(c->config_dir);
	free(c->local_domains);
	free(c->relay_domains);
	free(c->access_map);
	free(c->alias_map);
	free(c->smarthost);
	free(c->dns_servers);
	free(c->mailbox);
	free(c->user);
	free(c->group);
	free(c->log);
	free(c->log_level);
	free(c->sasl_app);
	free(c->sasl_config_dir);
	free(c->sender_login_map);
	free(c->remote_auth);
	smtpd_free(&c->smtpd);
	for (i = 0; i < c->nlisteners; i++)
		smtpd_free(&c->listener[i]);
	memset(c, 0, sizeof(*c));
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

/* Domain lists. */

static void
dl_add(struct domain_list *dl, const char *d)
{
	char	*s;
	size_t	 n, i;

	s = conf_xstrdup(d);
	n = strlen(s);
	while (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	if (n == 0) {
		free(s);
		return;
	}
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	for (i = 0; i < dl->n; i++)
		if (strcmp(dl->dom[i], s) == 0) {
			free(s);
			return;
		}
	dl->dom = conf_xreallocarray(dl->dom, dl->n + 1, sizeof(*dl->dom));
	dl->dom[dl->n++] = s;
}

static void
dl_file(const char *path, struct domain_list *dl, struct conf_errors *errs,
    int *nerr)
{
	FILE	*fp;
	char	*buf = NULL, *s, *h, *d, *rest, *save = NULL;
	size_t	 cap = 0;
	int	 line = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT)
			errw(errs, nerr, 0, "%s: cannot open: %s", path,
			    strerror(errno));
		return;
	}
	while (getline(&buf, &cap, fp) != -1) {
		line++;
		if ((h = strchr(buf, '#')) != NULL)
			*h = '\0';
		s = trim(buf);
		if ((d = strtok_r(s, " \t,", &save)) == NULL)
			continue;
		rest = strtok_r(NULL, "", &save);
		if (rest != NULL && *(rest = trim(rest)) != '\0')
			errw(errs, nerr, 1, "%s:%d: warning: ignoring \"%s\" "
			    "after %s", path, line, rest, d);
		dl_add(dl, d);
	}
	free(buf);
	fclose(fp);
}

int
domain_list_load(const char *spec, struct domain_list *dl,
    struct conf_errors *errs)
{
	char	*copy, *t, *save = NULL;
	int	 nerr = 0;

	memset(dl, 0, sizeof(*dl));
	if (spec == NULL)
		return 0;
	copy = conf_xstrdup(spec);
	for (t = strtok_r(copy, ", \t\n", &save); t != NULL;
	    t = strtok_r(NULL, ", \t\n", &save)) {
		if (*t == '/')
			dl_file(t, dl, errs, &nerr);
		else
			dl_add(dl, t);
	}
	free(copy);
	return nerr ? -1 : 0;
}

int
domain_list_match(const struct domain_list *dl, const char *domain,
    int subdomains)
{
	size_t	 i, n, en;

	if (dl == NULL || domain == NULL)
		return 0;
	n = strlen(domain);
	while (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	for (i = 0; i < dl->n; i++) {
		en = strlen(dl->dom[i]);
		if (en == n && strncasecmp(domain, dl->dom[i], n) == 0)
			return 1;
		if (subdomains && n > en + 1 && domain[n - en - 1] == '.' &&
		    strncasecmp(domain + n - en, dl->dom[i], en) == 0)
			return 1;
	}
	return 0;
}

void
domain_list_free(struct domain_list *dl)
{
	size_t	 i;

	if (dl == NULL)
		return;
	for (i = 0; i < dl->n; i++)
		free(dl->dom[i]);
	free(dl->dom);
	memset(dl, 0, sizeof(*dl));
}
