/*
 * conf_check: the checks some keys need beyond their type (the hooks
 * named in conf.c's key table: listen addresses, DNS server and DNSBL
 * lists, SASL names, readable TLS files) and the checks across keys
 * that run once the whole file is applied (TLS pairs, backoff order,
 * the remote_auth file's mode). It reports problems; it never exits.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "buf.h"
#include "conf.h"
#include "conf_key.h"
#include "dns.h"
#include "lmtp.h"

#define NAME_CHARS	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

int
conf_hook_dns(struct pctx *p, const struct key *k, const char *v, int line,
    char **out)
{
	char	 fwd[DNS_MAX_SERVERS][80];

	if (dns_servers_parse(v, fwd, DNS_MAX_SERVERS) <= 0) {
		conf_perr(p, line, "bad %s \"%s\" (IP[:port], [IPv6]:port, at "
		    "most %d)", k->name, v, DNS_MAX_SERVERS);
		return -1;
	}
	return 0;
}

int
conf_hook_dnsbl(struct pctx *p, const struct key *k, const char *v, int line,
    char **out)
{
	struct dns_bl	 bl[16];

	if (dns_bl_parse(v, bl, 16) == -1) {
		conf_perr(p, line, "bad %s list \"%s\" (zone[=\"text\"], at "
		    "most 16)", k->name, v);
		return -1;
	}
	return 0;
}

/* It names /etc/sasl2/APP.conf: a plain file name. */
int
conf_hook_sasl_app(struct pctx *p, const struct key *k, const char *v,
    int line, char **out)
{
	if (strlen(v) > 64 || strspn(v, NAME_CHARS) != strlen(v)) {
		conf_perr(p, line, "bad %s \"%s\" (letters, digits, - and _)",
		    k->name, v);
		return -1;
	}
	return 0;
}

int
conf_hook_log(struct pctx *p, const struct key *k, const char *v, int line,
    char **out)
{
	if (strcmp(v, "syslog") != 0 && strcmp(v, "stderr") != 0 &&
	    *v != '/') {
		conf_perr(p, line, "%s must be syslog, stderr or an absolute "
		    "path", k->name);
		return -1;
	}
	return 0;
}

/* mbox:PATH, maildir:PATH/ (absolute or ~/), lmtp:unix:/PATH and
 * lmtp:[HOST]:PORT. */
int
conf_hook_mailbox(struct pctx *p, const struct key *k, const char *v,
    int line, char **out)
{
	struct lmtp_target	 t;
	const char		*why;

	if (strncmp(v, "mbox:", 5) == 0 && v[5] != '\0')
		return 0;
	if (strncmp(v, "lmtp:", 5) == 0) {
		if (lmtp_target_parse(v + 5, &t, &why) == 0)
			return 0;
		conf_perr(p, line, "%s: bad LMTP store \"%s\": %s", k->name,
		    v + 5, why);
		return -1;
	}
	if (strncmp(v, "maildir:", 8) == 0) {
		if (v[8] == '/' || strncmp(v + 8, "~/", 2) == 0)
			return 0;
		conf_perr(p, line, "%s: maildir path must start with / or ~/",
		    k->name);
	} else
		conf_perr(p, line, "%s must be mbox:PATH, maildir:PATH/, "
		    "lmtp:unix:/PATH or lmtp:[HOST]:PORT", k->name);
	return -1;
}

/*
 * mailbox_command: the program as a full path (nothing searches PATH for
 * it), and none of Sendmail's one-letter macros ($u, $h), which a
 * Sendmail user would copy from FEATURE(local_procmail) and which would
 * otherwise expand to nothing.
 */
int
conf_hook_mailbox_command(struct pctx *p, const struct key *k, const char *v,
    int line, char **out)
{
	const char	*s = v + strspn(v, " \t");

	(void)out;
	if (*s != '/') {
		conf_perr(p, line, "%s must start with the program's full path "
		    "(/usr/bin/procmail ...)", k->name);
		return -1;
	}
	for (; *s; s++)
		if (s[0] == '$' && isalpha((unsigned char)s[1]) &&
		    !isalnum((unsigned char)s[2]) && s[2] != '_') {
			conf_perr(p, line, "%s: $%c is a Sendmail macro; write "
			    "$USER for $u, $EXTENSION for $h", k->name, s[1]);
			return -1;
		}
	return 0;
}

/* default_privs: an existing user other than root (alias commands and
 * files would otherwise run as root). */
int
conf_hook_default_privs(struct pctx *p, const struct key *k, const char *v,
    int line, char **out)
{
	struct passwd	*pw;

	(void)out;
	if ((pw = getpwnam(v)) == NULL) {
		conf_perr(p, line, "%s: no such user: %s", k->name, v);
		return -1;
	}
	if (pw->pw_uid == 0) {
		conf_perr(p, line, "%s: must not be root (%s)", k->name, v);
		return -1;
	}
	return 0;
}

/* A worker does not open a private file: master (root) checked it and
 * passes it open. */
int
conf_hook_readable(struct pctx *p, const struct key *k, const char *v,
    int line, char **out)
{
	int	 fd;

	if (conf_worker && (k->flags & KF_PRIVATE))
		return 0;
	if ((fd = open(v, O_RDONLY)) == -1) {
		conf_perr(p, line, "%s: cannot read %s: %s", k->name, v,
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* A domain name: letters, digits, "-" in dot-separated labels. */
static int
valid_domain(const char *d, size_t n)
{
	size_t	 label = 0;

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (!isalnum((unsigned char)d[i]) && d[i] != '-')
			return 0;
		else if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* masquerade_as: one domain, kept lower-case without a trailing dot. */
int
conf_hook_domain(struct pctx *p, const struct key *k, const char *v, int line,
    char **out)
{
	size_t	 n = strlen(v);

	if (!valid_domain(v, n)) {
		conf_perr(p, line, "bad %s \"%s\" (a domain name)", k->name,
		    v);
		return -1;
	}
	if (v[n - 1] == '.')
		n--;
	*out = xstrndup(v, n);
	for (char *c = *out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return 0;
}

/* A list of words (comma and/or space separated) that each pass ok. */
static int
check_words(struct pctx *p, const struct key *k, const char *v, int line,
    int (*ok)(const char *), const char *what)
{
	char	*copy, *t, *save = NULL;
	int	 r = 0;

	copy = xstrdup(v);
	for (t = strtok_r(copy, ", \t", &save); t != NULL && r == 0;
	    t = strtok_r(NULL, ", \t", &save))
		if (!ok(t)) {
			conf_perr(p, line, "bad %s entry \"%s\" (%s)", k->name,
			    t, what);
			r = -1;
		}
	free(copy);
	return r;
}

static int
domain_or_path(const char *t)
{
	return *t == '/' || valid_domain(t, strlen(t));
}

static int
user_name(const char *t)
{
	size_t	 n = strlen(t);

	return n > 0 && n <= 32 && t[0] != '-' &&
	    strspn(t, NAME_CHARS ".") == n;
}

/* masquerade_domains: domains and/or absolute paths, as local_domains. */
int
conf_hook_domains(struct pctx *p, const struct key *k, const char *v,
    int line, char **out)
{
	return check_words(p, k, v, line, domain_or_path,
	    "a domain or an absolute path");
}

/* exposed_users, trusted_users: login names. */
int
conf_hook_users(struct pctx *p, const struct key *k, const char *v, int line,
    char **out)
{
	return check_words(p, k, v, line, user_name, "a login name");
}

/* auth_mechanisms: SASL mechanism names, upper-cased, space separated. */
int
conf_hook_mechs(struct pctx *p, const struct key *k, const char *v, int line,
    char **out)
{
	char	 res[512], *copy, *t, *save = NULL;
	size_t	 off = 0, len, i;

	copy = xstrdup(v);
	res[0] = '\0';
	for (t = strtok_r(copy, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save)) {
		len = strlen(t);
		if (len > 20 || strspn(t, NAME_CHARS) != len) {
			conf_perr(p, line, "bad SASL mechanism name \"%s\"", t);
			break;
		}
		if (off + len + 2 > sizeof(res)) {
			conf_perr(p, line, "too many %s", k->name);
			break;
		}
		if (off)
			res[off++] = ' ';
		for (i = 0; i < len; i++)
			res[off++] = (char)toupper((unsigned char)t[i]);
		res[off] = '\0';
	}
	free(copy);
	if (t != NULL)
		return -1;
	if (off == 0) {
		conf_perr(p, line, "empty value for %s", k->name);
		return -1;
	}
	*out = xstrdup(res);
	return 0;
}

/* listen: "host:port" or "[v6]:port". */
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
	if (conf_parse_number(colon + 1, &port) == -1 || port < 1 ||
	    port > 65535)
		return -1;
	return 0;
}

/* Addresses comma and/or space separated, at most CONF_MAX_ADDRS. */
int
conf_listen_parse(struct pctx *p, const char *v, int line,
    char *addr[CONF_MAX_ADDRS], size_t *np)
{
	char	*copy, *t, *save = NULL;
	size_t	 n = 0;

	copy = xstrdup(v);
	for (t = strtok_r(copy, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save)) {
		if (check_addr(t) == -1) {
			conf_perr(p, line, "bad listen address \"%s\" "
			    "(host:port or [v6]:port)", t);
			break;
		}
		if (n == CONF_MAX_ADDRS) {
			conf_perr(p, line, "too many listen addresses (max %d)",
			    CONF_MAX_ADDRS);
			break;
		}
		addr[n++] = xstrdup(t);
	}
	free(copy);
	if (t == NULL && n == 0)
		conf_perr(p, line, "empty value for listen");
	if (t != NULL || n == 0) {
		while (n > 0)
			free(addr[--n]);
		return -1;
	}
	*np = n;
	return 0;
}

/* Checks across keys, once the file is applied. */

/* The certificate chain parses, the key parses and they match (when
 * the program links conf_tls.c: conf.h). */
static void
check_pem(struct pctx *p, const struct conf_smtpd *l, int cline, int kline)
{
	char	 err[512];

	if (conf_tls_pair == NULL)
		return;
	switch (conf_tls_pair(l->tls_cert, l->tls_key, err, sizeof(err))) {
	case CONF_TLS_BAD_CERT:
		conf_perr(p, cline, "%s", err);
		break;
	case CONF_TLS_BAD_KEY:
		conf_perr(p, kline, "%s", err);
		break;
	case CONF_TLS_MISMATCH:
		conf_perr(p, kline, "[%s] tls_key %s does not match tls_cert "
		    "%s", l->name, l->tls_key, l->tls_cert);
		break;
	}
}

/* A password file: a regular file nobody but its owner may read. */
static void
check_secret(struct pctx *p, const char *path, int line)
{
	struct stat	 st;

	if (stat(path, &st) == -1) {
		conf_perr(p, line, "remote_auth: cannot read %s: %s", path,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode))
		conf_perr(p, line, "remote_auth: %s is not a regular file",
		    path);
	else if ((st.st_mode & 077) != 0)
		conf_perr(p, line, "remote_auth: %s must not be accessible by "
		    "group or others (mode %04o; chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
}

static void
check_listener(struct pctx *p, struct conf_smtpd *l, const int *lines)
{
	int	 tline = conf_key_line(lines, "tls");
	int	 cline = conf_key_line(lines, "tls_cert");
	int	 kline = conf_key_line(lines, "tls_key");

	if ((l->tls == TLS_REQUIRED || l->tls == TLS_WRAPPER) &&
	    (l->tls_cert == NULL || l->tls_key == NULL))
		conf_perr(p, tline, "[%s] tls = %s needs tls_cert and tls_key",
		    l->name, l->tls == TLS_REQUIRED ? "required" : "wrapper");
	else if (l->tls_cert != NULL && l->tls_key == NULL)
		conf_perr(p, cline, "[%s] tls_cert without tls_key", l->name);
	else if (l->tls_key != NULL && l->tls_cert == NULL)
		conf_perr(p, kline, "[%s] tls_key without tls_cert", l->name);
	else if (l->tls != TLS_NONE && l->tls_cert != NULL &&
	    l->tls_key != NULL && !conf_worker)
		check_pem(p, l, cline, kline);
	/* SPEC: auth defaults to optional where SASL is configured */
	if (conf_key_line(p->gline, "sasl_app") &&
	    !conf_key_line(lines, "auth"))
		l->auth = AUTH_OPTIONAL;
}

/* Masquerading keys without masquerade_as do nothing (as in Sendmail,
 * which accepts them silently): say so. */
static void
check_masquerade(struct pctx *p, const struct conf *c)
{
	const char	*keys[] = { "masquerade_envelope",
	    "masquerade_entire_domain", "masquerade_domains" };

	if (c->masquerade_as != NULL)
		return;
	for (size_t i = 0; i < NELEM(keys); i++) {
		int line = conf_key_line(p->gline, keys[i]);

		if (line)
			conf_pwarn(p, line, "%s has no effect without "
			    "masquerade_as", keys[i]);
	}
}

void
conf_validate(struct pctx *p, struct conf *c)
{
	int	 minl = conf_key_line(p->gline, "min_backoff");
	int	 maxl = conf_key_line(p->gline, "max_backoff");
	size_t	 j;

	check_masquerade(p, c);
	if (c->min_backoff > c->max_backoff)
		conf_perr(p, minl > maxl ? minl : maxl,
		    "min_backoff is greater than max_backoff");
	for (j = 0; j < c->nlisteners; j++) {
		if (c->listener[j].nlisten == 0)
			conf_perr(p, p->sectline[j], "[%s] has no listen "
			    "address", c->listener[j].name);
		check_listener(p, &c->listener[j], p->sline[j]);
	}
	/* Checked by check/start/reload; a running worker must not die of a
	 * chmod (remote re-checks the mode itself and defers). */
	if (c->remote_auth != NULL && !conf_worker)
		check_secret(p, c->remote_auth, conf_key_line(p->gline,
		    "remote_auth"));
	/* credentials that could never go: refuse, do not defer forever */
	if (c->remote_auth != NULL && c->remote_tls == RTLS_NONE &&
	    c->remote_auth_tls != ATLS_NONE)
		conf_perr(p, conf_key_line(p->gline, "remote_tls"),
		    "remote_auth credentials are never sent with remote_tls = "
		    "none and remote_auth_tls = %s (set remote_tls = verify, "
		    "or remote_auth_tls = none to send them in plaintext)",
		    c->remote_auth_tls == ATLS_VERIFY ? "verify" : "encrypt");
}
