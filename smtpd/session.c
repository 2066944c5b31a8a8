/*
 * smtpd session: one SMTP dialogue on a bufferevent. Owns the session's
 * life (accept, banner, timeouts, close), its replies, and the one bounded
 * line reader that splits hostile input for commands, AUTH and DATA.
 * Runs one command at a time (pipelined input waits in the buffer), and
 * none while its replies are above OUT_HIWAT (a client that never reads
 * holds at most its input buffer and one bound of replies); deadlines
 * for the whole session and the whole DATA phase.
 * Never blocks the event loop; never reads a line past its limit.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "smtpd.h"

#define CLIENT_RD_HIWAT	(256 * 1024)
#define CLOSE_LINGER	10		/* s to flush the last reply */

static unsigned long	 session_serial;

static void	client_read(struct bufferevent *, void *);
static void	client_write(struct bufferevent *, void *);
static void	client_event(struct bufferevent *, short, void *);

/* Replace control and non-ASCII bytes: for logs and ipc attrs. */
void
sanitize(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
}

/*
 * Output to the client. When nothing waits before it on a plain
 * connection it is sent at once: the bufferevent would arm the write
 * event and disarm it after the write, two epoll_ctl calls and a loop
 * turn per reply. What the socket does not take now (and everything
 * under TLS, or after an error: the bufferevent reports it) is queued.
 */
void
session_out(struct session *s, const void *p, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	ssize_t w = 0;

	if (s->bev == s->plain && evbuffer_get_length(out) == 0 &&
	    (w = send(bufferevent_getfd(s->bev), p, n,
	    MSG_DONTWAIT | MSG_NOSIGNAL)) == -1)
		w = 0;
	if ((size_t)w < n)
		evbuffer_add(out, (const char *)p + w, n - (size_t)w);
}

/* A reply line, already formatted (data or catalogue), to the client. */
void
session_reply_line(struct session *s, const char *r)
{
	char line[REPLY_MAX + 16];
	size_t n;

	n = strlcpy(line, r, sizeof(line) - 2);
	if (n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	sanitize(line);
	if (line[0] == '4' || line[0] == '5') {
		s->nerrors++;
		if (s->cur >= 0 && !s->cur_failed) {
			s->fail[s->cur]++;
			s->cur_failed = 1;
		}
	}
	memcpy(line + n, "\r\n", 2);
	session_out(s, line, n + 2);
}

void
session_reply(struct session *s, enum reply_id id, ...)
{
	char line[REPLY_MAX + 16];
	va_list ap;

	va_start(ap, id);
	(void)reply_vformat(line, sizeof(line), id, ap);	/* cut to fit */
	va_end(ap);
	session_reply_line(s, line);
}

/* ---- deadlines: the whole session, the whole DATA phase ---- */

/* DATA must end within data_timeout, plus a second for every
 * min_data_rate octets received (a big message from a slow link). */
static time_t
data_deadline(const struct session *s)
{
	size_t rate = lc->min_data_rate;

	return s->data_begin + (time_t)lc->data_timeout +
	    (time_t)(rate > 0 ? s->msg_size / rate : 0);
}

static void
deadline_arm(struct session *s)
{
	struct timeval tv = { 0, 0 };
	time_t now = time(NULL), at = s->session_end;

	if (s->data_begin && (at == 0 || data_deadline(s) < at))
		at = data_deadline(s);
	if (at == 0) {
		evtimer_del(s->deadline);
		return;
	}
	tv.tv_sec = at > now ? at - now : 0;
	evtimer_add(s->deadline, &tv);
}

static void
deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session *s = arg;
	time_t now = time(NULL);
	const char *what;

	(void)fd; (void)ev;
	if (s->closing)
		return;
	if (s->data_begin && now >= data_deadline(s))
		what = "DATA deadline";
	else if (s->session_end && now >= s->session_end &&
	    s->state != S_WAIT_OPEN && s->state != S_WAIT_END)
		what = "session deadline";	/* cleanup answers first */
	else {
		struct timeval one = { 1, 0 };

		if (s->data_begin || s->session_end > now)
			deadline_arm(s);	/* more data came: later */
		else
			evtimer_add(s->deadline, &one);
		return;
	}
	log_info("%s exceeded after %s from %s[%s]", what,
	    s->last ? s->last : "CONNECT", s->name, s->ip);
	s->cur = -1;		/* the session's failure, not a command's */
	session_reply(s, R_TIMEOUT);
	session_close(s);
}

/* Per-read timeouts for the state, and the deadlines that go with it. */
void
session_timeouts(struct session *s)
{
	struct timeval rd = { 0, 0 }, wr = { 0, 0 };

	if (s->state != S_DATA)
		s->data_begin = 0;
	else if (s->data_begin == 0)
		s->data_begin = time(NULL);
	deadline_arm(s);

	rd.tv_sec = s->state == S_DATA ? lc->data_timeout : lc->command_timeout;
	wr.tv_sec = lc->command_timeout;
	bufferevent_set_timeouts(s->bev, rd.tv_sec ? &rd : NULL,
	    wr.tv_sec ? &wr : NULL);
}

/* Callbacks and limits on s->bev (again after STARTTLS). */
void
session_setup_bev(struct session *s)
{
	bufferevent_setcb(s->bev, client_read, client_write, client_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, CLIENT_RD_HIWAT);
	/* client_write runs once the replies are down to OUT_LOWAT */
	bufferevent_setwatermark(s->bev, EV_WRITE, OUT_LOWAT, 0);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	session_timeouts(s);
}

const char *
session_proto(const struct session *s)
{
	/* RFC 6531 section 3.7.3: the Received "with" of an SMTPUTF8 one */
	if (s->esmtp && s->smtputf8 && s->auth_user)
		return s->tls ? "UTF8SMTPSA" : "UTF8SMTPA";
	if (s->esmtp && s->smtputf8)
		return s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (s->esmtp && s->auth_user)
		return s->tls ? "ESMTPSA" : "ESMTPA";
	if (s->esmtp)
		return s->tls ? "ESMTPS" : "ESMTP";
	return s->tls ? "SMTPS" : "SMTP";
}

void
session_txn_reset(struct session *s)
{
	free(s->sender);
	s->sender = NULL;
	for (size_t i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	free(s->rcpt);
	s->rcpt = NULL;
	for (size_t i = 0; s->dsn_orcpt && i < s->nrcpt; i++)
		free(s->dsn_orcpt[i]);
	free(s->dsn_orcpt);
	free(s->dsn_notify);
	free(s->dsn_envid);
	s->dsn_orcpt = NULL;
	s->dsn_notify = NULL;
	s->dsn_envid = NULL;
	s->dsn_ret = 0;
	s->nrcpt = 0;
	s->mail = 0;
	s->discard = 0;
	s->smtputf8 = 0;
	s->delayed_from[0] = '\0';
	bdat_reset(s);
}

void
session_log_reject(struct session *s, const char *stage, const char *text,
    const char *to)
{
	log_info("NOQUEUE: reject: %s from %s[%s]: %s; from=<%s>%s%s%s "
	    "proto=%s helo=<%s>", stage, s->name, s->ip, text,
	    s->sender ? s->sender : "", to ? " to=<" : "", to ? to : "",
	    to ? ">" : "", session_proto(s), s->helo);
}

/* ---- closing ---- */

static void
session_free(struct session *s)
{
	char stats[400], total[32];
	unsigned nfail = 0;

	command_stats(s, stats, sizeof(stats));
	for (size_t i = 0; i < sizeof(s->fail) / sizeof(s->fail[0]); i++)
		nfail += s->fail[i];
	if (nfail > 0)
		snprintf(total, sizeof(total), "%u/%u", s->ncmds - nfail,
		    s->ncmds);
	else
		snprintf(total, sizeof(total), "%u", s->ncmds);
	log_info("disconnect from %s[%s]%s commands=%s", s->name, s->ip,
	    stats, total);
	TAILQ_REMOVE(&sessions, s, entry);
	auth_reset(s);
	policy_session_end(s);
	free(s->pend);
	cleanup_close(s);
	session_txn_reset(s);
	bufferevent_free(s->bev);	/* frees the plain one under a filter */
	event_free(s->timer);
	event_free(s->deadline);
	buf_free(&s->chunk);
	buf_free(&s->frame);
	free(s);
	nsessions--;
	sessions_changed();
}

void
session_close(struct session *s)
{
	struct timeval tv = { 0, 100000 };

	if (s->closing)
		return;
	s->closing = 1;
	s->close_deadline = time(NULL) + CLOSE_LINGER;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_add(s->timer, &tv);
}

/* Free a closing session once its output is flushed. 1 if freed. */
int
session_try_finish(struct session *s)
{
	int late;

	if (!s->closing)
		return 0;
	late = time(NULL) >= s->close_deadline;
	if (!late && evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return 0;
	if (!late && s->bev != s->plain &&
	    evbuffer_get_length(bufferevent_get_output(s->plain)) > 0)
		return 0;
	session_free(s);
	return 1;
}

/* Replies queued, the TLS layer's included. */
static size_t
out_pending(const struct session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (s->bev != s->plain)
		n += evbuffer_get_length(bufferevent_get_output(s->plain));
	return n;
}

/* Over the bound: no more commands until the client reads its replies
 * (client_write, or this timer under TLS). 1 if so. */
static int
out_full(struct session *s)
{
	struct timeval tv = { 0, 100000 };

	if (s->outwait)
		return 1;
	if (out_pending(s) < OUT_HIWAT)
		return 0;
	s->outwait = 1;
	log_debug("%s: %zu octets of replies unread by %s[%s]: input waits",
	    s->id, out_pending(s), s->name, s->ip);
	evtimer_add(s->timer, &tv);
	return 1;
}

/* The client read enough of its replies: go on with its commands. */
static void
out_resume(struct session *s)
{
	if (!s->outwait || s->closing || out_pending(s) > OUT_LOWAT)
		return;
	s->outwait = 0;
	session_kick(s);
}

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session *s = arg;
	struct timeval tv = { 0, 100000 };

	(void)fd; (void)ev;
	if (!s->closing && s->outwait) {
		if (out_pending(s) > OUT_LOWAT)
			evtimer_add(s->timer, &tv);
		else
			out_resume(s);	/* may free s; out_full re-arms */
		return;
	}
	if (!session_try_finish(s))
		evtimer_add(s->timer, &tv);
}

/* A session at rest between commands, with no mail transaction. */
int
session_idle(const struct session *s)
{
	return !s->closing && s->state == S_CMD && !s->mail &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0;
}

/* ---- the line reader ---- */

static int
last_byte(struct evbuffer *in, size_t len)
{
	struct evbuffer_ptr ptr;
	char c = 0;

	if (len == 0 || evbuffer_ptr_set(in, &ptr, len - 1,
	    EVBUFFER_PTR_SET) == -1 ||
	    evbuffer_copyout_from(in, &ptr, &c, 1) != 1)
		return -1;
	return (unsigned char)c;
}

/* Inside an over-long line: drop up to its LF. */
static int
line_skip(struct session *s, struct evbuffer *in, size_t len,
    struct line *l)
{
	struct evbuffer_ptr ptr;

	ptr = evbuffer_search(in, "\n", 1, NULL);
	if (ptr.pos < 0) {
		s->lskip_cr = last_byte(in, len) == '\r';
		evbuffer_drain(in, len);
		return 0;
	}
	l->kind = LINE_SKIPPED;
	l->ended = 1;
	l->crlf = ptr.pos > 0 ? last_byte(in, (size_t)ptr.pos) == '\r' :
	    s->lskip_cr;
	evbuffer_drain(in, (size_t)ptr.pos + 1);
	s->lskip = 0;
	return 1;
}

/*
 * The next line of input, at most max octets with its line end. 0: more
 * input is needed. 1: *l is a line (LINE_OK: l->p valid until
 * session_line_done), the end of a skipped over-long line (LINE_SKIPPED,
 * already consumed), or an over-long line (LINE_LONG, consumed; if it has
 * no LF yet its rest is skipped).
 */
int
session_line(struct session *s, size_t max, struct line *l)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len = evbuffer_get_length(in), lim, n;
	unsigned char *p, *lf;

	memset(l, 0, sizeof(*l));
	if (len == 0)
		return 0;
	if (s->lskip)
		return line_skip(s, in, len, l);
	lim = len < max + 1 ? len : max + 1;
	p = evbuffer_pullup(in, (ssize_t)lim);
	lf = memchr(p, '\n', lim);
	if (lf == NULL) {
		if (len <= max)
			return 0;
		l->kind = LINE_LONG;
		s->lskip = 1;
		s->lskip_cr = p[lim - 1] == '\r';
		evbuffer_drain(in, lim);
		return 1;
	}
	n = (size_t)(lf - p) + 1;
	l->crlf = n >= 2 && p[n - 2] == '\r';
	l->ended = 1;
	if (n > max) {
		l->kind = LINE_LONG;
		evbuffer_drain(in, n);
		return 1;
	}
	l->kind = LINE_OK;
	l->p = p;
	l->len = n - (l->crlf ? 2 : 1);
	l->n = n;
	return 1;
}

void
session_line_done(struct session *s, const struct line *l)
{
	if (l->kind == LINE_OK)
		evbuffer_drain(bufferevent_get_input(s->bev), l->n);
}

/* ---- reading ---- */

/* Consume one command line if there is one; 0 = need more input. */
static int
cmd_step(struct session *s)
{
	char line[SMTP_LINE_MAX + 1];
	struct line l;

	if (session_line(s, SMTP_LINE_MAX, &l) == 0)
		return 0;
	if (l.kind == LINE_LONG)
		session_reply(s, R_LINE_LONG);
	if (l.kind != LINE_OK)
		return 1;
	memcpy(line, l.p, l.len);
	line[l.len] = '\0';
	session_line_done(s, &l);
	if (memchr(line, '\r', l.len) != NULL ||
	    memchr(line, '\0', l.len) != NULL) {
		session_reply(s, R_BARE_CMD);
		return 1;
	}
	command(s, line, l.len);
	return 1;
}

/* Consume one AUTH response line if there is one; 0 = need more input. */
static int
auth_step(struct session *s)
{
	/* RFC 4954: AUTH_LINE_MAX octets and CRLF; a bare LF ends a line
	 * one octet longer, still held here (then refused as too long). */
	static char line[AUTH_LINE_MAX + 2];
	struct line l;

	if (session_line(s, AUTH_LINE_MAX + 2, &l) == 0)
		return 0;
	if (l.kind != LINE_OK) {
		/* too long: abort the exchange (the rest is skipped) */
		if (l.kind == LINE_LONG)
			auth_response(s, "*", 1);
		return 1;
	}
	memcpy(line, l.p, l.len);
	line[l.len] = '\0';
	session_line_done(s, &l);
	auth_response(s, line, l.len);
	explicit_bzero(line, l.len);
	return 1;
}

static void
session_process(struct session *s)
{
	int r;

	while (!s->closing && !s->throttled && !s->dns_wait && !out_full(s)) {
		if (s->state == S_CMD)
			r = cmd_step(s);
		else if (s->state == S_AUTH)
			r = auth_step(s);
		else if (s->state == S_DATA)
			r = data_step(s);
		else if (s->state == S_BDAT)
			r = bdat_step(s);
		else
			break;
		if (lc->max_errors > 0 && s->nerrors >= lc->max_errors &&
		    !s->closing) {
			session_reply(s, R_TOO_MANY_ERRORS);
			log_info("too many errors after %s from %s[%s]",
			    s->last ? s->last : "CONNECT", s->name, s->ip);
			session_close(s);
		}
		if (r == 0)
			break;
	}
}

/* Work through buffered input, then free the session if it is done. */
void
session_kick(struct session *s)
{
	session_process(s);
	(void)session_try_finish(s);
}

static void
client_read(struct bufferevent *b, void *arg)
{
	(void)b;
	session_kick(arg);
}

static void
client_write(struct bufferevent *b, void *arg)
{
	struct session *s = arg;

	(void)b;
	if (s->closing)
		(void)session_try_finish(s);
	else
		out_resume(s);
}

static void
client_event(struct bufferevent *b, short what, void *arg)
{
	struct session *s = arg;

	(void)b;
	if (what & BEV_EVENT_CONNECTED) {
		tls_established(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing || (what & BEV_EVENT_WRITING)) {
			s->close_deadline = 0;
			(void)session_try_finish(s);
			return;
		}
		log_info("timeout after %s from %s[%s]",
		    s->last ? s->last : "CONNECT", s->name, s->ip);
		session_reply(s, R_TIMEOUT);
		session_close(s);
		(void)session_try_finish(s);
		return;
	}
	/* EOF or error */
	tls_log_errors(s);
	if (!s->closing)
		log_info("lost connection after %s from %s[%s]",
		    s->last ? s->last : "CONNECT", s->name, s->ip);
	if (!s->closing)
		session_close(s);
	s->close_deadline = 0;
	(void)session_try_finish(s);
}

/* ---- start ---- */

static struct session *
session_new(int fd, const char *ip)
{
	struct session *s;

	s = xcalloc(1, sizeof(*s));
	s->cur = -1;
	s->plain = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->timer = evtimer_new(base, timer_cb, s);
	s->deadline = evtimer_new(base, deadline_cb, s);
	if (s->plain == NULL || s->timer == NULL || s->deadline == NULL) {
		log_error("cannot set up a session for %s", ip);
		if (s->plain)
			bufferevent_free(s->plain);
		else
			close(fd);
		if (s->timer)
			event_free(s->timer);
		if (s->deadline)
			event_free(s->deadline);
		free(s);
		return NULL;
	}
	s->bev = s->plain;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	snprintf(s->name, sizeof(s->name), "unknown");
	snprintf(s->id, sizeof(s->id), "%lX.%lX", (unsigned long)getpid(),
	    ++session_serial);
	buf_init(&s->chunk, 64 * 1024);
	buf_init(&s->frame, IPC_MAX_FRAME + 4);
	s->state = S_CMD;
	if (lc->session_timeout > 0)
		s->session_end = time(NULL) + (time_t)lc->session_timeout;
	return s;
}

void
session_accept(int fd, const char *ip)
{
	struct session *s;

	if ((s = session_new(fd, ip)) == NULL)
		return;
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	if (lc->tls == TLS_WRAPPER && tls_start(s) == -1) {
		log_error("%s: cannot start TLS", s->id);
		s->closing = 1;
		s->close_deadline = 0;
		(void)session_try_finish(s);
		return;
	}
	session_setup_bev(s);
	/* commands wait for the PTR and DNSBL answers; then session_greet */
	s->dns_wait = 1;
	policy_connect_start(s);
}

/* The connect checks are done (s->name is set): banner or rejection. */
void
session_greet(struct session *s)
{
	char r[REPLY_MAX];

	s->dns_wait = 0;
	log_info("connect from %s[%s]", s->name, s->ip);
	if (policy_connect(s, r, sizeof(r)) == -1) {
		log_info("NOQUEUE: reject: CONNECT from %s[%s]: %s", s->name,
		    s->ip, r);
		anvil_notify(REQ_REJECT_CONN, s->ip);
		session_reply_line(s, r);
		session_close(s);
		return;
	}
	session_reply(s, R_GREETING, wk.conf.hostname);
	session_kick(s);	/* commands sent before the banner */
}

/* A DNS answer for a waiting MAIL is in: run it again, then go on. */
void
session_resume(struct session *s)
{
	struct smtp_cmd *c = s->pend;

	s->dns_wait = 0;
	s->pend = NULL;
	if (c != NULL && !s->closing)
		command_mail(s, c);
	free(c);
	session_kick(s);
}
