/*
 * remote auth: the remote_auth credentials file and AUTH PLAIN/LOGIN to
 * the next hop. A password never reaches a log line, a status text or the
 * session cache, and is wiped from every buffer it passed through.
 */
#include <sys/stat.h>

#include <fcntl.h>

#include <openssl/evp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "remote.h"

/* Is word (upper-case) in the space separated list? */
static int
has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p; ) {
		size_t n = strcspn(p, " ");

		if (n == wl && strncasecmp(p, word, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* base64 of len bytes into out (room for 4 * ceil(len / 3) + 1). */
static void
b64(char *out, const void *in, size_t len)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Send the credentials by mech; 0 with *r the last reply, -1 on I/O
 * error. Every buffer that held a secret is wiped. */
static int
auth_send(struct job *j, struct conn *c, const char *mech,
    struct smtp_reply *r)
{
	char raw[2 * CRED_MAX + 2], enc[4 * ((2 * CRED_MAX + 4) / 3) + 16];
	char cmd[sizeof(enc) + 16];
	size_t ul = strlen(j->cred_user), pl = strlen(j->cred_pass);
	int rv;

	if (strcmp(mech, "PLAIN") == 0) {
		/* authzid empty, authcid, password (RFC 4616) */
		raw[0] = '\0';
		memcpy(raw + 1, j->cred_user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, j->cred_pass, pl);
		b64(enc, raw, 2 + ul + pl);
		fmt(cmd, sizeof(cmd), "AUTH PLAIN %s", enc);
		rv = conn_cmd(c, r, AUTH_TIMEOUT, "sending AUTH command", cmd);
	} else {
		rv = conn_cmd(c, r, AUTH_TIMEOUT, "sending AUTH command",
		    "AUTH LOGIN");
		if (rv == 0 && r->code == 334) {
			b64(enc, j->cred_user, ul);
			rv = conn_cmd(c, r, AUTH_TIMEOUT,
			    "sending AUTH user name", enc);
		}
		if (rv == 0 && r->code == 334) {
			b64(enc, j->cred_pass, pl);
			rv = conn_cmd(c, r, AUTH_TIMEOUT,
			    "sending AUTH password", enc);
		}
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(cmd, sizeof(cmd));
	if (rv == 0 && r->code == 334)	/* a challenge we can't answer */
		rv = conn_cmd(c, r, AUTH_TIMEOUT, "cancelling AUTH", "*");
	return rv;
}

/* PLAIN, or LOGIN when PLAIN is not offered; NULL (the try is over, with
 * *res set) when neither is, or the credentials may not go in clear. */
static const char *
auth_mech(struct job *j, struct conn *c, const struct smtp_ehlo *e,
    enum try_result *res)
{
	char flat[SMTP_REPLY_TEXT_MAX];

	if (c->tls == NULL && wk.conf.remote_auth_tls != ATLS_NONE) {
		set_last(j, DS_DEFER, 454, "4.7.0", "credentials for %s are "
		    "sent only over TLS, and host %s[%s] did not start TLS",
		    j->nexthop, j->host, j->ip);
		log_warn("%s: not sending AUTH credentials to %s[%s] without "
		    "TLS (remote_auth_tls = none would allow it)", j->id,
		    j->host, j->ip);
		*res = TRY_NEXT;
		return NULL;
	}
	if (c->tls != NULL && !c->tls_verified &&
	    wk.conf.remote_auth_tls == ATLS_VERIFY) {
		set_last(j, DS_DEFER, 454, "4.7.5", "would send credentials "
		    "for %s over an unverified TLS session with host %s[%s]: "
		    "%s", j->nexthop, j->host, j->ip, c->tls_why);
		log_warn("%s: not sending AUTH credentials to %s[%s] over an "
		    "unverified TLS session (%s; remote_auth_tls = encrypt "
		    "would allow it)", j->id, j->host, j->ip, c->tls_why);
		*res = TRY_NEXT;
		return NULL;
	}
	if (!e->auth)
		return "";
	if (has_word(e->auth_mechs, "PLAIN"))
		return "PLAIN";
	if (has_word(e->auth_mechs, "LOGIN"))
		return "LOGIN";
	clean_copy(flat, sizeof(flat), e->auth_mechs);
	set_last(j, DS_DEFER, 454, "4.7.0", "host %s[%s] offers no "
	    "SASL mechanism we support (PLAIN, LOGIN): %s", j->host,
	    j->ip, flat);
	*res = TRY_DONE;
	return NULL;
}

/*
 * AUTH to the next hop with the remote_auth credentials: PLAIN, or LOGIN
 * when PLAIN is not offered. 0 when authenticated (or nothing to do), -1
 * with *res set otherwise. Nothing secret is logged or kept.
 */
int
authenticate(struct job *j, struct conn *c, const struct smtp_ehlo *e,
    enum try_result *res)
{
	struct smtp_reply r;
	char flat[SMTP_REPLY_TEXT_MAX], dsn[16], user[CRED_MAX];
	const char *mech;

	if (!j->has_cred)
		return 0;
	clean_copy(user, sizeof(user), j->cred_user);
	if ((mech = auth_mech(j, c, e, res)) == NULL) {
		quit(c);
		return -1;
	}
	if (*mech == '\0') {
		log_info("%s: host %s[%s] offers no AUTH; sending without "
		    "authentication", j->id, j->host, j->ip);
		return 0;
	}
	if (auth_send(j, c, mech, &r) == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code / 100 == 2) {
		log_info("%s: authenticated to %s[%s]:%u as %s (%s)", j->id,
		    j->host, j->ip, j->port, user, mech);
		return 0;
	}
	/* a rejected login is a configuration problem: defer, never bounce */
	smtp_reply_flat(&r, flat, sizeof(flat));
	reply_dsn(&r, dsn, sizeof(dsn));
	dsn[0] = '4';
	set_last(j, DS_DEFER, 454, dsn, "SASL authentication failed; server "
	    "%s[%s] said: %s", j->host, j->ip, flat);
	log_warn("%s: SASL %s authentication as %s failed at %s[%s]:%u: %s",
	    j->id, mech, user, j->host, j->ip, j->port, flat);
	quit(c);
	*res = r.code / 100 == 5 ? TRY_DONE : TRY_NEXT;
	return -1;
}

/*
 * The remote_auth entry for this next hop: the next hop as written
 * ("[127.0.0.2]:2525", "relay.example.net"), else its host name alone.
 * Lines are "host user:password" (# comments). 1 found, 0 none, -1 the
 * file is unusable (err set; never any part of a password in err).
 */
/* remote_auth, opened only if it is a regular file no one else can read. */
static FILE *
cred_open(char *err, size_t errlen)
{
	struct stat st;
	FILE *fp;
	int fd;

	fd = open(wk.conf.remote_auth, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		fmt(err, errlen, "cannot open remote_auth %s: %s",
		    wk.conf.remote_auth, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		fmt(err, errlen, "remote_auth %s must be a regular file not "
		    "accessible by group or others", wk.conf.remote_auth);
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		fmt(err, errlen, "remote_auth: %s", strerror(errno));
		close(fd);
	}
	return fp;
}

static int
has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			return 1;
	return 0;
}

/*
 * One line of remote_auth (cut at the line end): 1 when it is a better
 * match than *best (credentials copied into j), 0 when not, -1 when it is
 * malformed (err set, with no part of a password).
 */
static int
cred_line(struct job *j, char *line, int lineno, int *best, char *err,
    size_t errlen)
{
	char *k, *v, *colon;
	int rank;

	k = line + strspn(line, " \t");
	if (*k == '\0' || *k == '#')
		return 0;
	v = k + strcspn(k, " \t");
	if (*v == '\0') {
		fmt(err, errlen, "remote_auth %s:%d: expected "
		    "\"host user:password\"", wk.conf.remote_auth, lineno);
		return -1;
	}
	*v++ = '\0';
	v += strspn(v, " \t");
	if (strcasecmp(k, j->nexthop) == 0)
		rank = 2;
	else if (strcasecmp(k, j->host) == 0)
		rank = 1;
	else
		return 0;
	if (rank <= *best)
		return 0;
	colon = strchr(v, ':');
	if (colon == NULL || colon == v || (size_t)(colon - v) >= CRED_MAX ||
	    strlen(colon + 1) >= CRED_MAX) {
		fmt(err, errlen, "remote_auth %s:%d: expected "
		    "\"host user:password\" (each at most %d octets)",
		    wk.conf.remote_auth, lineno, CRED_MAX - 1);
		return -1;
	}
	*colon = '\0';
	if (has_ctl(v) || has_ctl(colon + 1)) {	/* goes on the wire */
		fmt(err, errlen, "remote_auth %s:%d: control character in "
		    "the credentials", wk.conf.remote_auth, lineno);
		return -1;
	}
	fmt(j->cred_user, sizeof(j->cred_user), "%s", v);
	fmt(j->cred_pass, sizeof(j->cred_pass), "%s", colon + 1);
	*best = rank;
	return 1;
}

int
cred_lookup(struct job *j, char *err, size_t errlen)
{
	FILE *fp;
	char line[AUTH_LINE_MAX + 2];
	int found = 0, lineno = 0, best = 0;

	j->has_cred = 0;
	if (wk.conf.remote_auth == NULL)
		return 0;
	if ((fp = cred_open(err, errlen)) == NULL)
		return -1;
	while (found != -1 && fgets(line, sizeof(line), fp) != NULL) {
		size_t len = strlen(line);
		int rv;

		lineno++;
		if (len > AUTH_LINE_MAX) {
			fmt(err, errlen, "remote_auth %s:%d: line too long",
			    wk.conf.remote_auth, lineno);
			found = -1;
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r' || line[len - 1] == ' ' ||
		    line[len - 1] == '\t'))
			line[--len] = '\0';
		rv = cred_line(j, line, lineno, &best, err, errlen);
		if (rv != 0)
			found = rv;
	}
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	if (found == 1)
		j->has_cred = 1;
	else {
		explicit_bzero(j->cred_user, sizeof(j->cred_user));
		explicit_bzero(j->cred_pass, sizeof(j->cred_pass));
	}
	return found;
}
