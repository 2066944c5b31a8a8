/*
 * smtpd commands: the table of SMTP verbs (name, handler) and the
 * handlers of HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY, EXPN,
 * HELP and STARTTLS (AUTH is auth.c's). A handler sees a parsed command,
 * never raw input; it answers every command with exactly one reply (or
 * leaves the answer to a callback it started).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "addr.h"
#include "log.h"
#include "qfile.h"
#include "qspace.h"
#include "smtpd.h"

typedef void (*command_fn)(struct session *, const struct smtp_cmd *);

static void	cmd_ehlo(struct session *, const struct smtp_cmd *);
static void	cmd_rcpt(struct session *, const struct smtp_cmd *);
static void	cmd_data(struct session *, const struct smtp_cmd *);
static void	cmd_bdat(struct session *, const struct smtp_cmd *);
static void	cmd_rset(struct session *, const struct smtp_cmd *);
static void	cmd_quit(struct session *, const struct smtp_cmd *);
static void	cmd_vrfy(struct session *, const struct smtp_cmd *);
static void	cmd_expn(struct session *, const struct smtp_cmd *);
static void	cmd_starttls(struct session *, const struct smtp_cmd *);
static void	cmd_auth(struct session *, const struct smtp_cmd *);

/* One row per verb: its name (logs: "after RCPT", "rcpt=2") and its
 * handler, or the one reply it always gets. */
static const struct {
	const char	*name;
	command_fn	 run;
	enum reply_id	 fixed;		/* when run is NULL */
} commands[] = {	/* verb, name, handler, fixed reply */
	[SMTP_UNKNOWN] = { "UNKNOWN", NULL, R_UNKNOWN },
	[SMTP_HELO] = { "HELO", cmd_ehlo, 0 },
	[SMTP_EHLO] = { "EHLO", cmd_ehlo, 0 },
	[SMTP_MAIL] = { "MAIL", command_mail, 0 },
	[SMTP_RCPT] = { "RCPT", cmd_rcpt, 0 },
	[SMTP_DATA] = { "DATA", cmd_data, 0 },
	[SMTP_BDAT] = { "BDAT", cmd_bdat, 0 },
	[SMTP_RSET] = { "RSET", cmd_rset, 0 },
	[SMTP_NOOP] = { "NOOP", NULL, R_OKAY },
	[SMTP_QUIT] = { "QUIT", cmd_quit, 0 },
	[SMTP_VRFY] = { "VRFY", cmd_vrfy, 0 },
	[SMTP_EXPN] = { "EXPN", cmd_expn, 0 },
	[SMTP_HELP] = { "HELP", NULL, R_HELP },
	[SMTP_STARTTLS] = { "STARTTLS", cmd_starttls, 0 },
	[SMTP_AUTH] = { "AUTH", cmd_auth, 0 },
};

/* " helo=1 mail=1 ..." in this order, for the disconnect line. */
void
command_stats(const struct session *s, char *out, size_t outlen)
{
	static const enum smtp_verb order[] = { SMTP_HELO, SMTP_EHLO,
	    SMTP_STARTTLS, SMTP_AUTH, SMTP_MAIL, SMTP_RCPT, SMTP_DATA,
	    SMTP_BDAT, SMTP_RSET, SMTP_NOOP, SMTP_VRFY, SMTP_EXPN, SMTP_HELP,
	    SMTP_QUIT, SMTP_UNKNOWN };
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		char name[16];
		int n;

		if (s->cnt[order[i]] == 0)
			continue;
		strlcpy(name, commands[order[i]].name, sizeof(name));
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		/* Postfix's form: "auth=0/1" when some of them failed */
		if (s->fail[order[i]] > 0)
			n = snprintf(out + off, outlen - off, " %s=%u/%u",
			    name, s->cnt[order[i]] - s->fail[order[i]],
			    s->cnt[order[i]]);
		else
			n = snprintf(out + off, outlen - off, " %s=%u", name,
			    s->cnt[order[i]]);
		if (n < 0 || (size_t)n >= outlen - off)
			break;
		off += (size_t)n;
	}
}

void
command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *err;

	s->ncmds++;
	s->cur = SMTP_UNKNOWN;
	s->cur_failed = 0;
	if (smtp_cmd_parse(line, len, &c, &err) == -1) {
		s->cnt[SMTP_UNKNOWN]++;
		s->last = commands[SMTP_UNKNOWN].name;
		session_reply_line(s, err);
		return;
	}
	s->cnt[c.verb]++;
	s->cur = (int)c.verb;
	s->last = commands[c.verb].name;
	/* Past junk_command_limit (until a message is accepted), each of
	 * these counts as an error: max_errors ends such a session. */
	if ((c.verb == SMTP_NOOP || c.verb == SMTP_RSET ||
	    c.verb == SMTP_VRFY || c.verb == SMTP_EXPN ||
	    c.verb == SMTP_HELP) && lc->junk_command_limit > 0 &&
	    ++s->njunk > lc->junk_command_limit)
		s->nerrors++;
	if (shutting && !worker_graceful && !s->mail && c.verb != SMTP_QUIT) {
		session_reply(s, R_SHUTDOWN);
		session_close(s);
		return;
	}
	if ((size_t)c.verb >= sizeof(commands) / sizeof(commands[0]))
		session_reply(s, R_UNKNOWN);
	else if (commands[c.verb].run == NULL)
		session_reply(s, commands[c.verb].fixed);
	else
		commands[c.verb].run(s, &c);
}

static void
cmd_ehlo(struct session *s, const struct smtp_cmd *c)
{
	struct buf out;
	const char *ext[16], *mechs;
	char size[64], authx[300];
	size_t n = 0;

	session_txn_reset(s);
	s->helo_seen = 1;
	s->esmtp = c->verb == SMTP_EHLO;
	strlcpy(s->helo, c->arg, sizeof(s->helo));
	sanitize(s->helo);
	if (!s->esmtp) {
		session_reply(s, R_HELO, wk.conf.hostname);
		return;
	}
	snprintf(size, sizeof(size), "SIZE %zu", lc->max_message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "SMTPUTF8";		/* RFC 6531, on every listener */
	ext[n++] = "DSN";
	ext[n++] = "CHUNKING";
	if (ssl_ctx && !s->tls)
		ext[n++] = "STARTTLS";
	if (auth_enabled() && !(lc->tls == TLS_REQUIRED && !s->tls) &&
	    (mechs = auth_mechs(s)) != NULL) {
		snprintf(authx, sizeof(authx), "AUTH %s", mechs);
		ext[n++] = authx;
	}
	/* the one multi-line reply: code from the catalogue, lines here */
	buf_init(&out, 8192);
	buf_printf(&out, "%d-%s\r\n", reply_code(R_HELO), wk.conf.hostname);
	for (size_t i = 0; i < n; i++)
		buf_printf(&out, "%d%c%s\r\n", reply_code(R_HELO),
		    i + 1 == n ? ' ' : '-', ext[i]);
	session_out(s, out.data, out.len);	/* one write */
	buf_free(&out);
}

/* MAIL refused with reply r: log it with the sender, then answer. */
static void
mail_reject(struct session *s, const char *sender, const char *r)
{
	s->sender = xstrdup(sender);
	sanitize(s->sender);
	session_log_reject(s, "MAIL", r, NULL);
	free(s->sender);
	s->sender = NULL;
	session_reply_line(s, r);
}

/* The checks of MAIL before policy: 0 go on (sender in a), -1 answered. */
static int
mail_check(struct session *s, const struct smtp_cmd *c, char *a,
    size_t alen)
{
	enum reply_id r;

	if (!s->helo_seen)
		r = R_NEED_HELO;
	else if (lc->tls == TLS_REQUIRED && !s->tls)
		r = R_NEED_STARTTLS;
	else if (lc->auth == AUTH_REQUIRED && s->auth_user == NULL)
		r = R_AUTH_REQUIRED;
	else if (s->mail)
		r = R_NESTED_MAIL;
	else if (c->size > lc->max_message_size)
		r = R_MSG_SIZE;
	else if (c->size > 0 && !qspace_ok(wk.conf.queue_dir,
	    wk.conf.queue_minfree, c->size))
		r = R_NO_SPACE;
	else if (!c->smtputf8 && addr_has8bit(&c->path))
		r = R_NEED_SMTPUTF8;	/* RFC 6531 section 3.5 */
	else if (c->path.null) {
		a[0] = '\0';
		return 0;
	} else if (addr_format(&c->path, a, alen) == -1)
		r = R_BAD_ADDR;
	else
		return 0;
	session_reply(s, r);
	return -1;
}

/* MAIL, and again from session_resume once a DNS answer is in. */
void
command_mail(struct session *s, const struct smtp_cmd *c)
{
	char a[600], r[REPLY_MAX];

	if (mail_check(s, c, a, sizeof(a)) == -1)
		return;
	/* sender_login_map: which MAIL FROM this login may use */
	if (auth_sender_ok(s, a, r, sizeof(r)) == -1) {
		mail_reject(s, a, r);
		return;
	}
	switch (policy_mail(s, a, r, sizeof(r))) {
	case 1:		/* DNS pending: run again by session_resume */
		if (s->pend == NULL)
			s->pend = xmalloc(sizeof(*s->pend));
		memcpy(s->pend, c, sizeof(*c));
		s->dns_wait = 1;
		return;
	case 0:
		break;
	default:
		mail_reject(s, a, r);
		s->discard = 0;
		s->delayed_from[0] = '\0';
		return;
	}
	s->mail = 1;
	s->smtputf8 = c->smtputf8;
	s->sender = xstrdup(a);
	s->dsn_ret = c->ret;
	if (c->envid[0])
		s->dsn_envid = xstrdup(c->envid);
	session_reply(s, R_MAIL_OK);
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c)
{
	char a[600], r[REPLY_MAX];
	int saved_relay, rv;

	if (!s->mail) {
		session_reply(s, R_NEED_MAIL);
		return;
	}
	if (s->nrcpt >= lc->max_recipients || s->nrcpt >= QF_MAX_RCPT) {
		session_reply(s, R_TOO_MANY_RCPT);
		return;
	}
	if (!s->smtputf8 && addr_has8bit(&c->path)) {
		session_reply(s, R_NEED_SMTPUTF8);
		return;
	}
	/* An authenticated client may relay anywhere (SPEC section 4/6):
	 * policy_rcpt treats it as it treats a Connect: RELAY client. */
	saved_relay = s->connect_relay;
	if (s->auth_user)
		s->connect_relay = 1;
	rv = policy_rcpt(s, &c->path, a, sizeof(a), r, sizeof(r));
	s->connect_relay = saved_relay;
	if (rv == -1) {
		sanitize(a);
		session_log_reject(s, "RCPT", r, a);
		anvil_notify(REQ_REJECT_RCPT, s->ip);
		session_reply_line(s, r);
		return;
	}
	if (strlen(a) > QF_MAX_ADDR) {
		session_reply(s, R_ADDR_LONG);
		return;
	}
	s->rcpt = xreallocarray(s->rcpt, s->nrcpt + 1, sizeof(char *));
	s->dsn_notify = xreallocarray(s->dsn_notify, s->nrcpt + 1,
	    sizeof(int));
	s->dsn_orcpt = xreallocarray(s->dsn_orcpt, s->nrcpt + 1,
	    sizeof(char *));
	s->dsn_notify[s->nrcpt] = c->notify;
	s->dsn_orcpt[s->nrcpt] = c->orcpt[0] ? xstrdup(c->orcpt) : NULL;
	s->rcpt[s->nrcpt++] = xstrdup(a);
	session_reply(s, R_RCPT_OK);
}

static void
cmd_data(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	if (s->bdat != BDAT_NONE) {	/* RFC 3030 section 3 */
		session_reply(s, R_BDAT_MIXED);
		return;
	}
	if (!s->mail) {
		session_reply(s, R_NEED_MAIL);
		return;
	}
	if (s->nrcpt == 0) {
		session_reply(s, R_NO_RCPT);
		return;
	}
	if (!qspace_ok(wk.conf.queue_dir, wk.conf.queue_minfree, 0)) {
		session_reply(s, R_NO_SPACE);
		return;
	}
	data_start(s);
}

static void
cmd_bdat(struct session *s, const struct smtp_cmd *c)
{
	bdat_cmd(s, c);
}

static void
cmd_rset(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_txn_reset(s);
	session_reply(s, R_OKAY);
}

static void
cmd_quit(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_reply(s, R_BYE);
	session_close(s);
}

static void
cmd_vrfy(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_reply(s, lc->vrfy ? R_VRFY : R_VRFY_OFF);
}

static void
cmd_expn(struct session *s, const struct smtp_cmd *c)
{
	(void)c;
	session_reply(s, lc->expn ? R_EXPN : R_EXPN_OFF);
}

static void
cmd_auth(struct session *s, const struct smtp_cmd *c)
{
	auth_cmd(s, c->arg);
}

static void
cmd_starttls(struct session *s, const struct smtp_cmd *c)
{
	struct evbuffer *in;

	(void)c;
	if (ssl_ctx == NULL) {
		session_reply(s, R_NO_TLS);
		return;
	}
	if (s->tls) {
		session_reply(s, R_TLS_ACTIVE);
		return;
	}
	session_reply(s, R_TLS_GO);
	/* Anything pipelined after STARTTLS is an injection attempt. */
	in = bufferevent_get_input(s->bev);
	if (evbuffer_get_length(in) > 0) {
		log_info("%s: discarding %zu bytes pipelined after STARTTLS "
		    "from %s[%s]", s->id, evbuffer_get_length(in), s->name,
		    s->ip);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	if (tls_start(s) == -1) {
		log_error("%s: cannot start TLS", s->id);
		session_close(s);
		return;
	}
	session_setup_bev(s);
	session_txn_reset(s);
	auth_reset(s);		/* RFC 3207: forget everything learnt */
	s->helo_seen = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
}
