/*
 * remote dialogue: the SMTP conversation on one connection: greeting,
 * EHLO/HELO, STARTTLS, the envelope (pipelined), DATA and the body (or
 * BDAT chunks when the server offers CHUNKING). Every
 * recipient it touches gets its answer; it never trusts what the server
 * says beyond the parsed reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "remote.h"
#include "smtp_data.h"
#include "xtext.h"

/* Does the first word of text (a greeting or EHLO reply) name us? */
static int
names_me(const char *text)
{
	size_t n = strcspn(text, " \n");

	return n > 0 && n == strlen(wk.conf.hostname) &&
	    strncasecmp(text, wk.conf.hostname, n) == 0;
}

/* After MAIL was sent: a broken connection defers whatever is open. */
static enum try_result
session_lost(struct job *j, struct conn *c)
{
	char t[TEXT_MAX];

	conn_errtext(j, c, t, sizeof(t));
	final_all(j, DS_DEFER, 421, "4.4.2", t);
	return TRY_DONE;
}

/* Before MAIL: the try failed softly, the next address may do better. */
enum try_result
greet_lost(struct job *j, struct conn *c)
{
	char t[TEXT_MAX];

	conn_errtext(j, c, t, sizeof(t));
	set_last(j, DS_DEFER, 421, "4.4.2", "%s", t);
	conn_failed(j);
	return TRY_NEXT;
}

int
addr_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s > 127)
			return 1;
	return 0;
}

/* The next piece of content at pos into in (at most len): its size, or
 * -1 (logged, c->err set). */
static ssize_t
body_read(struct job *j, struct conn *c, size_t pos, char *in, size_t len)
{
	ssize_t n = agent_read(j->a, pos, in, len);

	if (n <= 0) {
		log_error("%s: read queue file: %s", j->id,
		    n == 0 ? "short file" : strerror(errno));
		c->err = C_PROTO;
		c->why = "queue file read error";
		return -1;
	}
	return n;
}

/*
 * Send the content: LF -> CRLF, dot-stuffing, then CRLF.CRLF in the same
 * write as the last piece (a dot of its own would wait for the peer's
 * delayed ACK of the piece before it where Nagle's algorithm is on).
 */
static int
send_body(struct job *j, struct conn *c)
{
	size_t piece = job_piece(j, CHUNK), pos = 0, o;
	char *in = xmalloc(piece), *out = xmalloc(2 * piece + 16);
	struct smtp_dot d;
	int rv = -1;

	c->stage = "sending message body";
	smtp_dot_init(&d);
	do {
		ssize_t n = 0;

		if (pos < j->q->content_len &&
		    (n = body_read(j, c, pos, in, piece)) == -1)
			goto done;
		pos += (size_t)n;
		o = smtp_dot_encode(&d, in, (size_t)n, out);
		if (pos >= j->q->content_len) {
			o += smtp_dot_finish(&d, out + o);
			c->stage = "sending end of data -- message may be "
			    "sent more than once";
		}
		if (conn_write(c, out, o, XFER_TIMEOUT) == -1)
			goto done;
	} while (pos < j->q->content_len);
	rv = 0;
done:
	free(in);
	free(out);
	return rv;
}

/* MAIL's DSN parameters for a next hop that offers DSN (RFC 3461 4.3,
 * 4.4): what the sender gave, ENVID encoded again. */
static void
mail_dsn(const struct job *j, struct buf *cmds)
{
	char x[3 * DSN_ENVID_MAX + 1];

	if (j->q->ret)
		(void)buf_printf(cmds, " RET=%s", j->q->ret == DSN_RET_HDRS ?
		    "HDRS" : "FULL");
	if (j->q->envid && xtext_encode(j->q->envid, x, sizeof(x)) == 0)
		(void)buf_printf(cmds, " ENVID=%s", x);
}

/*
 * RCPT's: NOTIFY as given, ORCPT as given or, when none was, the address
 * this message came in for (RFC 3461 4.2: a relay may add it). An ORCPT
 * that would not fit the 500 octets is left out.
 */
static void
rcpt_dsn(const struct qrcpt *r, struct buf *cmds)
{
	char x[DSN_ORCPT_MAX + 1], nt[40];
	const char *o = r->orcpt, *semi;
	size_t tl;

	if (r->notify) {
		dsn_notify_format(r->notify, nt, sizeof(nt));
		(void)buf_printf(cmds, " NOTIFY=%s", nt);
	}
	if (o == NULL || (semi = strchr(o, ';')) == NULL) {
		if (xtext_encode(r->addr, x, sizeof(x) - 7) == 0)
			(void)buf_printf(cmds, " ORCPT=rfc822;%s", x);
		return;
	}
	tl = (size_t)(semi - o) + 1;
	if (tl < sizeof(x) && xtext_encode(semi + 1, x, sizeof(x) - tl) == 0)
		(void)buf_printf(cmds, " ORCPT=%.*s%s", (int)tl, o, x);
}

/*
 * The content in BDAT chunks (RFC 3030): LF -> CRLF, no dot-stuffing,
 * each read of the queue file one chunk, the last one (maybe empty)
 * marked LAST. A chunk's reply is read before the next chunk goes. 0:
 * all sent (the reply to LAST is the caller's to read), 1: a chunk was
 * refused (its reply in *r), -1: I/O error.
 */
static int
send_bdat(struct job *j, struct conn *c, struct smtp_reply *r)
{
	size_t piece = job_piece(j, BDAT_CHUNK), pos = 0, o;
	char *in = xmalloc(piece), *out = xmalloc(2 * piece + 8);
	char cmd[64];
	struct smtp_dot d;
	ssize_t n;
	int rv = -1, last;

	c->stage = "sending message body";
	smtp_dot_init(&d);
	d.stuff = 0;
	do {
		n = 0;
		if (pos < j->q->content_len &&
		    (n = body_read(j, c, pos, in, piece)) == -1)
			goto done;
		pos += (size_t)n;
		last = pos >= j->q->content_len;
		o = smtp_dot_encode(&d, in, (size_t)n, out);
		if (last) {
			o += smtp_crlf_finish(&d, out + o);
			c->stage = "sending end of data -- message may be "
			    "sent more than once";
		}
		snprintf(cmd, sizeof(cmd), "BDAT %zu%s\r\n", o,
		    last ? " LAST" : "");
		if (conn_write(c, cmd, strlen(cmd), XFER_TIMEOUT) == -1 ||
		    conn_write(c, out, o, XFER_TIMEOUT) == -1)
			goto done;
		if (!last && conn_reply(c, r, XFER_TIMEOUT) == -1)
			goto done;
		if (!last && r->code / 100 != 2) {
			rv = 1;
			goto done;
		}
	} while (!last);
	rv = 0;
done:
	free(in);
	free(out);
	return rv;
}

/* DATA and the content: 0 sent (the final reply is the caller's to
 * read), 1 DATA refused (its reply in *r), -1 I/O error. */
static int
send_data(struct job *j, struct conn *c, struct smtp_reply *r)
{
	if (conn_cmd(c, r, DATA_TIMEOUT, "sending DATA command",
	    "DATA") == -1)
		return -1;
	if (r->code / 100 != 3)
		return 1;
	return send_body(j, c) == -1 ? -1 : 0;
}

/* Who a pipelined command's reply is for: a recipient's index, or: */
#define WHO_MAIL	((size_t)-1)
#define WHO_DATA	((size_t)-2)

/* The envelope's progress over its pipelined groups. */
struct env {
	struct buf	 cmds;
	size_t		*who, nwho, next;
	int		 mail_sent, mail_ok, naccepted;
	struct smtp_reply data;		/* DATA's, when it went with a group */
};

static void
env_mail(struct job *j, const struct smtp_ehlo *e, struct env *v)
{
	(void)buf_printf(&v->cmds, "MAIL FROM:<%s>", j->q->sender);
	if (e->size)
		(void)buf_printf(&v->cmds, " SIZE=%zu",
		    j->q->content_len + j->nlines);
	if (j->eightbit && e->eightbitmime)
		(void)buf_puts(&v->cmds, " BODY=8BITMIME");
	if ((j->need_utf8 || (j->q->flags & QF_SMTPUTF8)) && e->smtputf8)
		(void)buf_puts(&v->cmds, " SMTPUTF8");
	if (e->dsn)
		mail_dsn(j, &v->cmds);
	(void)buf_puts(&v->cmds, "\r\n");
	v->who[v->nwho++] = WHO_MAIL;
	v->mail_sent = 1;
}

/* Is recipient i still to be offered to the server? */
static int
rcpt_open(const struct job *j, size_t i)
{
	return !j->a->rcpt[i].answered && !j->accepted[i];
}

/*
 * The next group: MAIL first, then RCPTs, and DATA after the last RCPT
 * when the server pipelines and no BDAT follows (RFC 2920 3.1: DATA may
 * end a group), so that a message of one group costs one round trip
 * before its content.
 */
static void
env_group(struct job *j, const struct smtp_ehlo *e, struct env *v)
{
	size_t group = e->pipelining ? PIPE_GROUP : 1;

	buf_reset(&v->cmds);
	v->nwho = 0;
	if (!v->mail_sent)
		env_mail(j, e, v);
	for (; v->next < j->a->nrcpt && v->nwho < group; v->next++) {
		const char *addr = j->a->rcpt[v->next].addr;

		if (!rcpt_open(j, v->next))
			continue;
		if (buf_printf(&v->cmds, "RCPT TO:<%s>", addr) == -1)
			break;
		if (e->dsn)
			rcpt_dsn(&j->q->rcpt[j->a->rcpt[v->next].idx],
			    &v->cmds);
		if (buf_puts(&v->cmds, "\r\n") == -1)
			break;
		v->who[v->nwho++] = v->next;
	}
	while (v->next < j->a->nrcpt && !rcpt_open(j, v->next))
		v->next++;
	if (e->pipelining && !e->chunking && v->next >= j->a->nrcpt &&
	    v->nwho > 0 && v->who[v->nwho - 1] != WHO_MAIL &&
	    buf_puts(&v->cmds, "DATA\r\n") == 0)
		v->who[v->nwho++] = WHO_DATA;
}

/* The group's replies, in order: -1 when the connection broke. */
static int
env_replies(struct job *j, struct conn *c, struct env *v)
{
	struct smtp_reply r;

	for (size_t k = 0; k < v->nwho; k++) {
		size_t w = v->who[k];

		c->stage = w == WHO_MAIL ? "sending MAIL FROM" :
		    w == WHO_DATA ? "sending DATA command" : "sending RCPT TO";
		if (conn_reply(c, &r, w == WHO_MAIL ? MAIL_TIMEOUT :
		    w == WHO_DATA ? DATA_TIMEOUT : RCPT_TIMEOUT) == -1)
			return -1;
		if (w == WHO_DATA)
			v->data = r;
		else if (w == WHO_MAIL) {
			if (r.code / 100 == 2)
				v->mail_ok = 1;
			else
				final_reply(j, WHO_MAIL, &r, "MAIL FROM");
		} else if (!v->mail_ok)
			;	/* pipelined after a failed MAIL */
		else if (r.code / 100 == 2) {
			j->accepted[w] = 1;
			v->naccepted++;
		} else
			final_reply(j, w, &r, "RCPT TO");
	}
	return 0;
}

/*
 * MAIL, RCPTs (pipelined in groups when offered) and, with them, DATA.
 * Returns 0 to go on to the content (*data: DATA's reply if it was
 * sent, else code 0), 1 when the transaction ended (answers given), -1
 * on I/O error. A 354 with no recipient accepted gets an empty message
 * ended at once (RFC 2920 3.1), which no recipient is told about.
 */
static int
envelope(struct job *j, struct conn *c, const struct smtp_ehlo *e,
    struct smtp_reply *data)
{
	struct env v;
	int rv = -1;

	memset(&v, 0, sizeof(v));
	buf_init(&v.cmds, (size_t)PIPE_GROUP * 1700 + 64);
	j->peer_dsn = e->dsn;
	v.who = xreallocarray(NULL, (size_t)PIPE_GROUP + 2, sizeof(size_t));
	while (!v.mail_sent || v.next < j->a->nrcpt) {
		env_group(j, e, &v);
		if (v.nwho == 0)
			break;
		c->stage = v.who[0] == WHO_MAIL ? "sending MAIL FROM" :
		    "sending RCPT TO";
		if (conn_write(c, v.cmds.data, v.cmds.len, RCPT_TIMEOUT) == -1 ||
		    env_replies(j, c, &v) == -1)
			goto out;
		if (!v.mail_ok)
			break;
	}
	*data = v.data;
	rv = v.mail_ok && v.naccepted > 0 ? 0 : 1;
	if (rv == 1 && v.data.code / 100 == 3) {
		c->stage = "ending an empty message";
		if (conn_cmd(c, data, FINAL_TIMEOUT, c->stage, ".") == -1)
			rv = -1;
	}
out:
	buf_free(&v.cmds);
	free(v.who);
	return rv;
}

/*
 * EHLO (HELO when EHLO gets a 5xx and helo_ok is set): 0 to go on with
 * *e filled, -1 with *res set when this try is over.
 */
static int
hello(struct job *j, struct conn *c, struct smtp_ehlo *e, int helo_ok,
    enum try_result *res)
{
	struct smtp_reply r;
	char cmd[600];

	fmt(cmd, sizeof(cmd), "EHLO %s", wk.conf.hostname);
	if (conn_cmd(c, &r, HELO_TIMEOUT, "performing the EHLO handshake",
	    cmd) == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code / 100 == 2) {
		smtp_ehlo_parse(&r, e);
		if (names_me(r.text)) {
			set_last(j, DS_DEFER, 451, "4.4.6",
			    "mail for %s loops back to myself", j->nexthop);
			quit(c);
			*res = TRY_DONE;
			return -1;
		}
		return 0;
	}
	if (r.code / 100 == 5 && helo_ok) {
		memset(e, 0, sizeof(*e));
		fmt(cmd, sizeof(cmd), "HELO %s", wk.conf.hostname);
		if (conn_cmd(c, &r, HELO_TIMEOUT,
		    "performing the HELO handshake", cmd) == -1) {
			*res = greet_lost(j, c);
			return -1;
		}
		if (r.code / 100 == 2)
			return 0;
		last_from_reply(j, &r, "host %s[%s] said: %s "
		    "(in reply to %s command)", "HELO");
	} else
		last_from_reply(j, &r, "host %s[%s] said: %s "
		    "(in reply to %s command)", "EHLO");
	conn_failed(j);
	quit(c);
	*res = TRY_NEXT;
	return -1;
}

/* The name is checked too when credentials want a verified session
 * (remote_auth_tls); only remote_tls = verify fails the handshake. */
static int
tls_check(const struct job *j)
{
	if (j->tls == RTLS_VERIFY)
		return TLSC_REQUIRE;
	if (j->has_cred && wk.conf.remote_auth_tls == ATLS_VERIFY)
		return TLSC_CHECK;
	return TLSC_NOCHECK;
}

/*
 * After the server's 220 to STARTTLS: the handshake, and the log line
 * saying how far the peer is trusted. 0 over TLS, -1 (the try is over,
 * with the last status set) when it failed.
 */
static int
handshake(struct job *j, struct conn *c)
{
	struct tlsc_info info;
	char err[256];
	const char *trust;

	if (c->inlen > 0) {	/* sent before the handshake: an injection */
		log_warn("%s: host %s[%s] sent %zu bytes after its STARTTLS "
		    "reply; discarded", j->id, j->host, j->ip, c->inlen);
		c->inlen = 0;
	}
	c->stage = "performing the TLS handshake";
	c->tls = tlsc_connect(c->fd, j->host, j->host, tls_check(j),
	    clock_ms() + (long long)TLS_TIMEOUT * 1000, &info, err,
	    sizeof(err));
	if (c->tls == NULL) {
		set_last(j, DS_DEFER, 454, "4.7.5", "Cannot start TLS with "
		    "%s[%s]: %s", j->host, j->ip, err);
		conn_failed(j);
		log_info("%s: Cannot start TLS with %s[%s]:%u: %s", j->id,
		    j->host, j->ip, j->port, err);
		return -1;
	}
	c->tls_verified = info.verified;
	fmt(c->tls_why, sizeof(c->tls_why), "%s", info.verify_err);
	if (info.verified)
		trust = "Verified";
	else if (strcmp(info.verify_err, "name not checked") == 0)
		trust = "Trusted";
	else
		trust = "Untrusted";
	log_info("%s: %s TLS connection established to %s[%s]:%u: %s with "
	    "cipher %s (%d bits)", j->id, trust, j->host, j->ip, j->port,
	    info.version, info.cipher, info.bits);
	log_debug("%s: peer certificate CN=\"%s\"%s%s", j->id, info.peer_cn,
	    info.verified ? "" : ", not verified: ",
	    info.verified ? "" : info.verify_err);
	return 0;
}

/*
 * STARTTLS per remote_tls, then EHLO again. 0 to go on (over TLS, or in
 * plaintext where remote_tls allows it), -1 with *res set when this try
 * is over. A failed handshake never falls back to plaintext.
 */
static int
starttls(struct job *j, struct conn *c, struct smtp_ehlo *e,
    enum try_result *res)
{
	enum conf_remote_tls lvl = j->tls;
	struct smtp_reply r;
	char err[256], flat[SMTP_REPLY_TEXT_MAX];

	if (lvl == RTLS_NONE)
		return 0;
	if (!e->starttls) {
		if (lvl == RTLS_MAY)
			return 0;
		set_last(j, DS_DEFER, 454, "4.7.4", "TLS is required, but was "
		    "not offered by host %s[%s]", j->host, j->ip);
		conn_failed(j);
		log_info("%s: TLS is required, but was not offered by host "
		    "%s[%s]", j->id, j->host, j->ip);
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (tlsc_init(wk.conf.smtpd.tls_ca, err, sizeof(err)) == -1) {
		log_error("%s: cannot set up TLS: %s", j->id, err);
		set_last(j, DS_DEFER, 454, "4.7.5", "local TLS setup failed: "
		    "%s", err);
		quit(c);
		*res = TRY_DONE;
		return -1;
	}
	if (conn_cmd(c, &r, TLS_TIMEOUT, "sending STARTTLS", "STARTTLS")
	    == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code != 220) {
		smtp_reply_flat(&r, flat, sizeof(flat));
		if (lvl == RTLS_MAY && r.code / 100 != 2) {
			log_info("%s: host %s[%s] refused STARTTLS (%s); "
			    "going on without TLS", j->id, j->host, j->ip,
			    flat);
			return 0;
		}
		set_last(j, DS_DEFER, 454, "4.7.5", "TLS is required, but "
		    "host %s[%s] refused to start TLS: %s", j->host, j->ip,
		    flat);
		conn_failed(j);
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (handshake(j, c) == -1) {
		*res = TRY_NEXT;
		return -1;
	}
	/* RFC 3207: forget everything learnt before TLS */
	memset(e, 0, sizeof(*e));
	return hello(j, c, e, 0, res);
}

/*
 * A new connection: greeting, EHLO, STARTTLS and AUTH. 0 with *e filled
 * when a transaction may start, -1 with *res set when this try is over.
 */
static int
open_session(struct job *j, struct conn *c, struct smtp_ehlo *e,
    enum try_result *res)
{
	struct smtp_reply r;

	c->stage = "receiving the initial server greeting";
	if (conn_reply(c, &r, GREET_TIMEOUT) == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code / 100 != 2) {
		last_from_reply(j, &r,
		    "host %s[%s] refused to talk to me: %s%s", "");
		conn_failed(j);
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (names_me(r.text)) {
		set_last(j, DS_DEFER, 451, "4.4.6",
		    "mail for %s loops back to myself", j->nexthop);
		quit(c);
		*res = TRY_DONE;
		return -1;
	}
	memset(e, 0, sizeof(*e));
	if (hello(j, c, e, 1, res) == -1)
		return -1;
	if (starttls(j, c, e, res) == -1)
		return -1;
	if (authenticate(j, c, e, res) == -1)
		return -1;
	log_debug("%s: %s: pipelining=%d size=%d 8bitmime=%d tls=%d", j->id,
	    j->relay, e->pipelining, e->size, e->eightbitmime, c->tls != NULL);
	return 0;
}

/*
 * One mail transaction on an open session; every recipient gets its
 * answer. c->keep is set when the session is still usable afterwards
 * (whatever the server said to this message); the caller QUITs or
 * caches it.
 */
enum try_result
transaction(struct job *j, struct conn *c, const struct smtp_ehlo *e)
{
	struct smtp_reply r;
	int rv;

	c->keep = 0;
	if (e->size && e->size_max > 0 &&
	    j->q->content_len + j->nlines > e->size_max) {
		char t[TEXT_MAX];

		fmt(t, sizeof(t), "message size %zu exceeds size limit "
		    "%llu of server %s[%s]", j->q->content_len + j->nlines,
		    e->size_max, j->host, j->ip);
		final_all(j, DS_BOUNCE, 552, "5.3.4", t);
		c->keep = 1;
		return TRY_DONE;
	}
	if (j->need_utf8 && !e->smtputf8) {	/* RFC 6531 section 3.2 */
		char t[TEXT_MAX];

		fmt(t, sizeof(t), "SMTPUTF8 is needed, but host %s[%s] does "
		    "not offer it", j->host, j->ip);
		final_all(j, DS_BOUNCE, 550, "5.6.7", t);
		c->keep = 1;
		return TRY_DONE;
	}
	rv = envelope(j, c, e, &r);
	if (rv == -1)
		return session_lost(j, c);
	if (rv == 1) {
		c->keep = 1;
		return TRY_DONE;
	}
	if (e->chunking)
		rv = send_bdat(j, c, &r);
	else if (r.code == 0)		/* DATA was not pipelined */
		rv = send_data(j, c, &r);
	else
		rv = r.code / 100 != 3 ? 1 : send_body(j, c) == -1 ? -1 : 0;
	if (rv == -1)
		return session_lost(j, c);
	if (rv == 1) {
		final_reply(j, (size_t)-1, &r, e->chunking ? "BDAT" : "DATA");
		c->keep = !e->chunking;	/* a failed BDAT: no reuse */
		return TRY_DONE;
	}
	if (conn_reply(c, &r, FINAL_TIMEOUT) == -1)
		return session_lost(j, c);
	if (r.code / 100 == 2) {
		char dsn[16], flat[SMTP_REPLY_TEXT_MAX], text[TEXT_MAX];
		char prefix[400];

		reply_dsn(&r, dsn, sizeof(dsn));
		smtp_reply_flat(&r, flat, sizeof(flat));
		fmt(prefix, sizeof(prefix), "host %s[%s] said: ",
		    j->host, j->ip);
		make_text(text, dsn, prefix, flat, e->chunking ?
		    " (in reply to end of BDAT command)" :
		    " (in reply to end of DATA command)");
		clean_copy(prefix, sizeof(prefix), flat);
		for (size_t i = 0; i < j->a->nrcpt; i++)
			if (j->accepted[i] && !j->a->rcpt[i].answered)
				rcpt_final(j, i, DS_SENT, r.code, dsn,
				    text + strlen(dsn) + 1, prefix);
	} else
		final_reply(j, (size_t)-1, &r, e->chunking ? "end of BDAT" :
		    "end of DATA");
	c->keep = 1;
	return TRY_DONE;
}

/* A new connection: the dialogue, then QUIT or the cache; fd is taken. */
enum try_result
session(struct job *j, int fd)
{
	struct conn c = { .fd = fd };
	struct smtp_ehlo e;
	enum try_result rv;

	j->conn_use = 1;
	if (open_session(j, &c, &e, &rv) == -1) {
		conn_close(&c, 0);	/* QUIT already sent where due */
		return rv;
	}
	rv = transaction(j, &c, &e);
	session_end(j, &c, &e, 1);
	return rv;
}
