/*
 * smtpd auth: SMTP AUTH (RFC 4954) with Cyrus SASL (sasl_app names
 * APP.conf), the mechanisms offered (auth_mechanisms, no PLAIN/LOGIN
 * before TLS with auth_plaintext_requires_tls), sender_login_map, and the
 * per-client count of failed AUTHs that locks brute-forcers out of AUTH
 * (421 at AUTH; mail that needs no AUTH still flows), shared by every
 * listener through anvil, with a per-process fallback; the host's own
 * addresses are exempt unless auth_lockout_exempt_local = no.
 * Must never log an AUTH payload or anything derived from a password:
 * only the client, the mechanism, the login name and the SASL error.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "log.h"
#include "smtpd.h"

/*
 * Brute-force defence. The shared count is anvil's (every listener's
 * smtpd reports its failures there, docs/internals.md); this table is the
 * process's own count, shared by the sessions of this listener only. It
 * is always kept, and decides alone while anvil cannot be reached.
 */
#define FAIL_MAX	wk.conf.auth_failure_limit	/* failures ... */
#define FAIL_WINDOW	((time_t)wk.conf.auth_failure_window)	/* in ... */
#define FAIL_BAN	((time_t)wk.conf.auth_lockout_time)	/* lock */
#define FAIL_SLOTS	1024


struct failrec {
	char	 ip[64];
	unsigned n;
	time_t	 first, last, until;
};

static struct failrec	 fails[FAIL_SLOTS];
static int		 sasl_up;
static struct map	 login_map;
static int		 have_login_map;
static char		 b64[AUTH_LINE_MAX + 4];

static int
cb_log(void *ctx, int level, const char *msg)
{
	char m[300];

	(void)ctx;
	/* TRACE and PASS levels may carry protocol data: never logged. */
	if (msg == NULL || level >= SASL_LOG_TRACE)
		return SASL_OK;
	snprintf(m, sizeof(m), "%s", msg);
	for (char *p = m; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
	if (level <= SASL_LOG_ERR)
		log_error("SASL: %s", m);
	else if (level == SASL_LOG_WARN)
		log_warn("SASL: %s", m);
	else
		log_debug("SASL: %s", m);
	return SASL_OK;
}

static int
cb_confpath(void *ctx, const char **path)
{
	(void)ctx;
	*path = wk.conf.sasl_config_dir;
	return SASL_OK;
}

typedef int (*sasl_cbfn)(void);

static sasl_callback_t callbacks[] = {
	{ SASL_CB_LOG, (sasl_cbfn)(void (*)(void))cb_log, NULL },
	{ SASL_CB_GETCONFPATH, (sasl_cbfn)(void (*)(void))cb_confpath, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

void
auth_init(void)
{
	int r;

	if (lc->auth == AUTH_NONE)
		return;
	if (wk.conf.sasl_config_dir == NULL)
		callbacks[1].id = SASL_CB_LIST_END;
	if ((r = sasl_server_init(callbacks, wk.conf.sasl_app)) != SASL_OK)
		fatal("[%s] cannot initialize Cyrus SASL (sasl_app %s): %s",
		    wk.service, wk.conf.sasl_app, sasl_errstring(r, NULL, NULL));
	sasl_up = 1;
	have_login_map = smtpd_map_open(&login_map, wk.conf.sender_login_map,
	    "sender_login_map");
	log_info("[%s] SASL app %s, auth=%s, mechanisms: %s", wk.service,
	    wk.conf.sasl_app, lc->auth == AUTH_REQUIRED ? "required" :
	    "optional", lc->auth_mechanisms);
}

int
auth_enabled(void)
{
	return sasl_up;
}

/* Dispose of the SASL connection; the login stays (see auth_reset). */
static void
sasl_drop(struct session *s)
{
	sasl_conn_t *c = s->sasl;

	if (c != NULL)
		sasl_dispose(&c);
	s->sasl = NULL;
}

static void
auth_wait_free(struct session *s)
{
	if (s->auth_wait == NULL)
		return;
	explicit_bzero(s->auth_wait, strlen(s->auth_wait));
	free(s->auth_wait);
	s->auth_wait = NULL;
}

void
auth_reset(struct session *s)
{
	sasl_drop(s);
	auth_wait_free(s);
	free(s->auth_user);
	s->auth_user = NULL;
	s->auth_mech[0] = '\0';
	if (s->state == S_AUTH)
		s->state = S_CMD;
}

static int
plaintext_hidden(const struct session *s)
{
	return lc->auth_plaintext_requires_tls && !s->tls;
}

static sasl_conn_t *
sasl_conn(struct session *s)
{
	sasl_security_properties_t sp;
	sasl_conn_t *c;
	int r;

	if (s->sasl != NULL)
		return s->sasl;
	r = sasl_server_new("smtp", wk.conf.hostname, NULL, NULL, NULL, NULL,
	    0, &c);
	if (r != SASL_OK) {
		log_warn("%s: sasl_server_new: %s", s->id,
		    sasl_errstring(r, NULL, NULL));
		return NULL;
	}
	memset(&sp, 0, sizeof(sp));
	sp.min_ssf = 0;
	sp.max_ssf = 0;		/* no SASL security layer */
	sp.maxbufsize = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS;
	if (plaintext_hidden(s))
		sp.security_flags |= SASL_SEC_NOPLAINTEXT;
	if ((r = sasl_setprop(c, SASL_SEC_PROPS, &sp)) != SASL_OK) {
		log_warn("%s: sasl_setprop: %s", s->id,
		    sasl_errstring(r, NULL, NULL));
		sasl_dispose(&c);
		return NULL;
	}
	s->sasl = c;
	return c;
}

static int
is_plaintext_mech(const char *m)
{
	return strcasecmp(m, "PLAIN") == 0 || strcasecmp(m, "LOGIN") == 0;
}

/* Is word one of the space-separated words of list? */
static int
in_words(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p; ) {
		size_t l = strcspn(p, " ");

		if (l == n && strncasecmp(p, word, n) == 0)
			return 1;
		p += l;
		p += strspn(p, " ");
	}
	return 0;
}

/* Mechanisms offered now: the SASL library's, filtered. */
static const char *
mechs_now(struct session *s, char *out, size_t outlen)
{
	const char *list;
	unsigned len;
	int count;
	char *copy, *t, *save = NULL;
	size_t off = 0;
	sasl_conn_t *c;

	out[0] = '\0';
	if (!sasl_up || (c = sasl_conn(s)) == NULL)
		return NULL;
	if (sasl_listmech(c, NULL, "", " ", "", &list, &len, &count) !=
	    SASL_OK || list == NULL)
		return NULL;
	copy = xstrdup(list);
	for (t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (!in_words(lc->auth_mechanisms, t))
			continue;
		if (is_plaintext_mech(t) && plaintext_hidden(s))
			continue;
		if (off + strlen(t) + 2 > outlen)
			break;
		off += (size_t)snprintf(out + off, outlen - off, "%s%s",
		    off ? " " : "", t);
	}
	free(copy);
	return out[0] ? out : NULL;
}

const char *
auth_mechs(struct session *s)
{
	static char m[256];

	return mechs_now(s, m, sizeof(m));
}

/* ---- failed-AUTH counter ---- */

static struct failrec *
fail_find(const char *ip, int create)
{
	struct failrec *f, *victim = NULL;

	for (size_t i = 0; i < FAIL_SLOTS; i++) {
		f = &fails[i];
		if (f->ip[0] && strcmp(f->ip, ip) == 0)
			return f;
		if (!create)
			continue;
		if (f->ip[0] == '\0') {
			if (victim == NULL || victim->ip[0])
				victim = f;
		} else if (victim == NULL || (victim->ip[0] &&
		    f->last < victim->last))
			victim = f;
	}
	if (!create || victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->ip, sizeof(victim->ip), "%s", ip);
	return victim;
}

/* Does the lockout apply to this client at all? */
static int
lockout_applies(const char *ip)
{
	return FAIL_MAX > 0 && !(wk.conf.auth_lockout_exempt_local &&
	    client_is_host(ip));
}

/* Locked out of AUTH (this process's count): 1 and the reply in out. */
static int
auth_refused(const char *ip, char *out, size_t outlen)
{
	char key[64];
	struct failrec *f;

	if (!lockout_applies(ip))
		return 0;
	(void)anvil_client_key(ip, key, sizeof(key));
	f = fail_find(key, 0);

	if (f == NULL || f->until <= time(NULL))
		return 0;
	(void)reply_format(out, outlen, R_AUTH_REFUSED);
	return 1;
}

/* Count one failure; 1 if the client is now refused. */
static int
fail_count(struct session *s)
{
	struct failrec *f;
	time_t now = time(NULL);
	char key[64];

	(void)anvil_client_key(s->ip, key, sizeof(key));
	if ((f = fail_find(key, 1)) == NULL)
		return 0;
	if (f->n == 0 || now - f->first > FAIL_WINDOW) {
		f->n = 0;
		f->first = now;
	}
	f->n++;
	f->last = now;
	if (f->n < FAIL_MAX)
		return 0;
	f->until = now + FAIL_BAN;
	f->n = 0;
	log_warn("%s: too many failed AUTHs from %s[%s] (%u within %llds, "
	    "last with %s): AUTH refused for %llds", s->id, s->name, s->ip,
	    FAIL_MAX, (long long)FAIL_WINDOW, s->auth_mech,
	    (long long)FAIL_BAN);
	return 1;
}

/* anvil's verdict on a failure (NULL: no answer, the local count
 * stands). Commands waited for it. */
static void
anvil_fail_done(void *arg, const struct anvil_reply *m)
{
	struct session *s = arg;

	s->dns_wait = 0;
	if (m != NULL && m->blocked == 1 && !s->closing) {
		long long n = m->count >= 0 ? m->count : 0;

		log_warn("%s: too many failed AUTHs from %s[%s] (%lld on all "
		    "listeners within %llds, last with %s): AUTH refused for "
		    "%llds", s->id, s->name, s->ip, n, (long long)FAIL_WINDOW,
		    s->auth_mech, (long long)FAIL_BAN);
		session_reply(s, R_AUTH_REFUSED);
		session_close(s);
	}
	session_resume(s);	/* last: it may end the session */
}

/* ---- the exchange ---- */

static void
auth_failed(struct session *s, int r)
{
	int asked;

	/* The SASL error string names the failure, never the payload. */
	log_warn("%s: %s[%s]: SASL %s authentication failed: %s", s->id,
	    s->name, s->ip, s->auth_mech, sasl_errstring(r, NULL, NULL));
	sasl_drop(s);
	s->state = S_CMD;
	session_reply(s, R_AUTH_FAIL);
	if (!lockout_applies(s->ip))
		return;
	asked = anvil_request(REQ_AUTH_FAIL, s->ip, wk.service,
	    anvil_fail_done, s) == 0;
	if (fail_count(s)) {
		session_reply(s, R_AUTH_REFUSED);
		session_close(s);
	} else if (asked)
		s->dns_wait = 1;	/* next command after anvil's verdict */
}

static void
auth_result(struct session *s, int r, const char *out, unsigned outlen)
{
	const void *u = NULL;
	unsigned n;

	if (r == SASL_CONTINUE) {
		if (outlen > (AUTH_LINE_MAX / 4) * 3 - 4 ||
		    sasl_encode64(out ? out : "", outlen, b64, sizeof(b64),
		    &n) != SASL_OK) {
			auth_failed(s, SASL_FAIL);
			return;
		}
		b64[n] = '\0';
		evbuffer_add_printf(bufferevent_get_output(s->bev),
		    "%d %s\r\n", reply_code(R_AUTH_CHALLENGE), b64);
		s->state = S_AUTH;
		return;
	}
	if (r != SASL_OK) {
		auth_failed(s, r);
		return;
	}
	if (sasl_getprop(s->sasl, SASL_USERNAME, &u) != SASL_OK || u == NULL ||
	    *(const char *)u == '\0' || strlen(u) > 255) {
		auth_failed(s, SASL_NOUSER);
		return;
	}
	s->auth_user = xstrdup(u);
	for (char *p = s->auth_user; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p > '~' ||
		    *p == ',' || *p == '"')
			*p = '?';
	s->state = S_CMD;
	sasl_drop(s);
	log_info("%s: client=%s[%s], sasl_method=%s, sasl_username=%s", s->id,
	    s->name, s->ip, s->auth_mech, s->auth_user);
	session_reply(s, R_AUTH_OK);
}

static void	auth_run(struct session *, const char *);

/* anvil's answer to the block check of an AUTH command held meanwhile. */
static void
anvil_check_done(void *arg, const struct anvil_reply *m)
{
	struct session *s = arg;
	char *a = s->auth_wait;

	s->auth_wait = NULL;
	s->dns_wait = 0;
	if (m != NULL && m->blocked == 1) {
		log_info("NOQUEUE: reject: AUTH from %s[%s]: %d %s (all "
		    "listeners)", s->name, s->ip, reply_code(R_AUTH_REFUSED),
		    reply_text(R_AUTH_REFUSED));
		session_reply(s, R_AUTH_REFUSED);
		session_close(s);
	} else if (a != NULL && !s->closing)
		auth_run(s, a);
	if (a != NULL) {
		explicit_bzero(a, strlen(a));
		free(a);
	}
	if (!s->dns_wait)	/* auth_run may wait for anvil again */
		session_resume(s);	/* last: it may end the session */
}

void
auth_cmd(struct session *s, const char *arg)
{
	char r[REPLY_MAX];

	if (sasl_up && auth_refused(s->ip, r, sizeof(r))) {
		log_info("NOQUEUE: reject: AUTH from %s[%s]: %s", s->name,
		    s->ip, r);
		session_reply_line(s, r);
		session_close(s);
		return;
	}
	/* Blocked through another listener since this session began? */
	if (sasl_up && s->auth_user == NULL && s->auth_wait == NULL &&
	    lockout_applies(s->ip) &&
	    anvil_request(REQ_AUTH_CHECK, s->ip, NULL, anvil_check_done, s)
	    == 0) {
		s->auth_wait = xstrdup(arg);
		s->dns_wait = 1;
		return;
	}
	auth_run(s, arg);
}

static void
auth_run(struct session *s, const char *arg)
{
	char mech[24], avail[256], *in = NULL;	/* mech: as auth_mech */
	const char *resp, *out = NULL;
	unsigned inlen = 0, outlen = 0;
	size_t ml;
	sasl_conn_t *c;
	int r;

	if (!sasl_up) {
		session_reply(s, R_AUTH_UNAVAIL);
		return;
	}
	if (!s->helo_seen || !s->esmtp) {
		session_reply(s, R_AUTH_NEED_EHLO);
		return;
	}
	if (s->auth_user) {
		session_reply(s, R_AUTH_DONE);
		return;
	}
	if (s->mail) {
		session_reply(s, R_AUTH_IN_MAIL);
		return;
	}
	if (lc->tls == TLS_REQUIRED && !s->tls) {
		session_reply(s, R_NEED_STARTTLS);
		return;
	}
	ml = strcspn(arg, " ");
	resp = arg + ml;
	resp += strspn(resp, " ");
	if (ml == 0 || ml >= sizeof(mech) || strchr(resp, ' ') != NULL) {
		session_reply(s, R_AUTH_SYNTAX);
		return;
	}
	memcpy(mech, arg, ml);
	mech[ml] = '\0';
	for (char *p = mech; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	snprintf(s->auth_mech, sizeof(s->auth_mech), "%s", mech);
	for (char *p = s->auth_mech; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			*p = '?';
	if (mechs_now(s, avail, sizeof(avail)) == NULL ||
	    !in_words(avail, mech)) {
		if (is_plaintext_mech(mech) && plaintext_hidden(s) &&
		    in_words(lc->auth_mechanisms, mech))
			session_reply(s, R_AUTH_ENCRYPT);
		else
			session_reply(s, R_AUTH_MECH);
		return;
	}
	if ((c = sasl_conn(s)) == NULL) {
		session_reply(s, R_AUTH_TEMP);
		return;
	}
	if (*resp) {
		size_t rl = strlen(resp);

		in = b64;
		if (strcmp(resp, "=") == 0)
			inlen = 0;
		else if (rl > AUTH_LINE_MAX || sasl_decode64(resp, (unsigned)rl,
		    b64, sizeof(b64) - 1, &inlen) != SASL_OK) {
			session_reply(s, R_AUTH_DECODE);
			sasl_drop(s);
			return;
		}
		b64[inlen] = '\0';
	}
	r = sasl_server_start(c, mech, in, inlen, &out, &outlen);
	if (in)
		explicit_bzero(b64, sizeof(b64));
	auth_result(s, r, out, outlen);
}

void
auth_response(struct session *s, const char *line, size_t len)
{
	const char *out = NULL;
	unsigned inlen = 0, outlen = 0;
	int r;

	if (len == 1 && line[0] == '*') {
		log_info("%s: %s[%s]: SASL %s authentication aborted", s->id,
		    s->name, s->ip, s->auth_mech);
		sasl_drop(s);
		s->state = S_CMD;
		session_reply(s, R_AUTH_ABORTED);
		return;
	}
	if (s->sasl == NULL) {
		s->state = S_CMD;
		session_reply(s, R_AUTH_TEMP);
		return;
	}
	if (len > AUTH_LINE_MAX || sasl_decode64(line, (unsigned)len, b64,
	    sizeof(b64) - 1, &inlen) != SASL_OK) {
		sasl_drop(s);
		s->state = S_CMD;
		session_reply(s, R_AUTH_DECODE);
		return;
	}
	b64[inlen] = '\0';
	r = sasl_server_step(s->sasl, b64, inlen, &out, &outlen);
	explicit_bzero(b64, sizeof(b64));
	auth_result(s, r, out, outlen);
}

/* ---- sender_login_map ---- */

static int
owner_listed(const char *val, const char *user)
{
	char *copy = xstrdup(val), *t, *save = NULL;
	int hit = 0;

	for (t = strtok_r(copy, ", \t", &save); t && !hit;
	    t = strtok_r(NULL, ", \t", &save))
		hit = strcasecmp(t, user) == 0;
	free(copy);
	return hit;
}

int
auth_sender_ok(struct session *s, const char *sender, char *out,
    size_t outlen)
{
	const char *at;
	char *v = NULL;
	int r;

	if (!have_login_map || s->auth_user == NULL || *sender == '\0')
		return 0;
	r = map_lookup(&login_map, sender, &v);
	if (r == 0 && (at = strrchr(sender, '@')) != NULL)
		r = map_lookup(&login_map, at, &v);	/* "@domain" */
	if (r == -1) {
		(void)reply_format(out, outlen, R_LOOKUP_TEMP_ADDR, sender);
		return -1;
	}
	if (r == 1 && owner_listed(v, s->auth_user)) {
		free(v);
		return 0;
	}
	free(v);
	(void)reply_format(out, outlen, R_SENDER_NOT_OWNED, sender,
	    s->auth_user);
	return -1;
}
