/*
 * smtpd session: one SMTP dialogue on a bufferevent. Splits hostile input
 * into bounded lines, runs the commands (pipelined, one at a time), and
 * streams DATA to cleanup (private/cleanup, lib/ipc frames) with
 * backpressure. Only CRLF.CRLF ends DATA (no smuggling); input pipelined
 * before STARTTLS is thrown away; 250 after DATA only once cleanup says
 * the message is on stable storage. Never blocks the event loop.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "addr.h"
#include "ipc.h"
#include "log.h"
#include "qfile.h"
#include "smtpd.h"

#define CLIENT_RD_HIWAT	(256 * 1024)
#define CHUNK_FLUSH	(60 * 1024)	/* frame content at this size (< 64 KiB) */
#define CLEANUP_HIWAT	(1024 * 1024)	/* stop reading the client above this */
#define CLEANUP_LOWAT	(256 * 1024)	/* and resume below this */
#define CLEANUP_TIMEOUT	600		/* s, for cleanup's replies */
#define CLOSE_LINGER	10		/* s to flush the last reply */

#define R_BARE		"554 5.6.0 Bare CR or LF not allowed"
#define R_DATA_LONG	"552 5.6.0 Line too long"
#define R_HDR_SIZE	"552 5.6.0 Headers too large"
#define R_MSG_SIZE	"552 5.3.4 Message size exceeds fixed limit"
#define R_QUEUE		"451 4.3.0 Queue write error"

static unsigned long	 session_serial;
static struct ipc_msg	 rmsg;
static int		 rmsg_init;

static const char *verb_names[] = {
	[SMTP_UNKNOWN] = "unknown", [SMTP_HELO] = "helo",
	[SMTP_EHLO] = "ehlo", [SMTP_MAIL] = "mail", [SMTP_RCPT] = "rcpt",
	[SMTP_DATA] = "data", [SMTP_BDAT] = "bdat", [SMTP_RSET] = "rset",
	[SMTP_NOOP] = "noop", [SMTP_QUIT] = "quit", [SMTP_VRFY] = "vrfy",
	[SMTP_EXPN] = "expn", [SMTP_HELP] = "help",
	[SMTP_STARTTLS] = "starttls", [SMTP_AUTH] = "auth",
};

static const char *verb_upper[] = {
	[SMTP_UNKNOWN] = "UNKNOWN", [SMTP_HELO] = "HELO",
	[SMTP_EHLO] = "EHLO", [SMTP_MAIL] = "MAIL", [SMTP_RCPT] = "RCPT",
	[SMTP_DATA] = "DATA", [SMTP_BDAT] = "BDAT", [SMTP_RSET] = "RSET",
	[SMTP_NOOP] = "NOOP", [SMTP_QUIT] = "QUIT", [SMTP_VRFY] = "VRFY",
	[SMTP_EXPN] = "EXPN", [SMTP_HELP] = "HELP",
	[SMTP_STARTTLS] = "STARTTLS", [SMTP_AUTH] = "AUTH",
};

static void	client_read(struct bufferevent *, void *);
static void	client_write(struct bufferevent *, void *);
static void	client_event(struct bufferevent *, short, void *);
static void	session_kick(struct session *);

/* Replace control and non-ASCII bytes: for logs and ipc attrs. */
static void
sanitize(char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
}

void
reply(struct session *s, const char *fmt, ...)
{
	char line[REPLY_MAX + 16];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sanitize(line);
	if (line[0] == '4' || line[0] == '5')
		s->nerrors++;
	evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\r\n", line);
}

static void
set_timeouts(struct session *s)
{
	struct timeval rd = { 0, 0 }, wr = { 0, 0 };

	rd.tv_sec = s->state == S_DATA ? lc->data_timeout : lc->command_timeout;
	wr.tv_sec = lc->command_timeout;
	bufferevent_set_timeouts(s->bev, rd.tv_sec ? &rd : NULL,
	    wr.tv_sec ? &wr : NULL);
}

static void
setup_bev(struct session *s)
{
	bufferevent_setcb(s->bev, client_read, client_write, client_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, CLIENT_RD_HIWAT);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	set_timeouts(s);
}

static const char *
proto(const struct session *s)
{
	if (s->esmtp && s->auth_user)
		return s->tls ? "ESMTPSA" : "ESMTPA";
	if (s->esmtp)
		return s->tls ? "ESMTPS" : "ESMTP";
	return s->tls ? "SMTPS" : "SMTP";
}

static void
txn_reset(struct session *s)
{
	free(s->sender);
	s->sender = NULL;
	for (size_t i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	free(s->rcpt);
	s->rcpt = NULL;
	s->nrcpt = 0;
	s->mail = 0;
	s->discard = 0;
	s->delayed_from[0] = '\0';
}

static void
log_reject(struct session *s, const char *stage, const char *text,
    const char *to)
{
	log_info("NOQUEUE: reject: %s from %s[%s]: %s; from=<%s>%s%s%s "
	    "proto=%s helo=<%s>", stage, s->name, s->ip, text,
	    s->sender ? s->sender : "", to ? " to=<" : "", to ? to : "",
	    to ? ">" : "", proto(s), s->helo);
}

/* ---- closing ---- */

static void
session_free(struct session *s)
{
	char stats[400];
	size_t off = 0;
	static const enum smtp_verb order[] = { SMTP_HELO, SMTP_EHLO,
	    SMTP_STARTTLS, SMTP_AUTH, SMTP_MAIL, SMTP_RCPT, SMTP_DATA,
	    SMTP_BDAT, SMTP_RSET, SMTP_NOOP, SMTP_VRFY, SMTP_EXPN, SMTP_HELP,
	    SMTP_QUIT, SMTP_UNKNOWN };

	stats[0] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int n;

		if (s->cnt[order[i]] == 0)
			continue;
		n = snprintf(stats + off, sizeof(stats) - off, " %s=%u",
		    verb_names[order[i]], s->cnt[order[i]]);
		if (n < 0 || (size_t)n >= sizeof(stats) - off)
			break;
		off += (size_t)n;
	}
	log_info("disconnect from %s[%s]%s commands=%u", s->name, s->ip,
	    stats, s->ncmds);
	TAILQ_REMOVE(&sessions, s, entry);
	auth_reset(s);
	policy_session_end(s);
	free(s->pend);
	if (s->cbev)
		bufferevent_free(s->cbev);
	txn_reset(s);
	bufferevent_free(s->bev);	/* frees the plain one under a filter */
	event_free(s->timer);
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

static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct session *s = arg;
	struct timeval tv = { 0, 100000 };

	(void)fd; (void)ev;
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

/* ---- cleanup connection ---- */

static void
cleanup_close(struct session *s)
{
	if (s->cbev) {
		bufferevent_free(s->cbev);
		s->cbev = NULL;
	}
	s->throttled = 0;
}

/* Drop the message at cleanup: req=abort if it can go out at once. */
static void
cleanup_abort(struct session *s)
{
	struct buf b;
	int fd;

	if (s->cbev == NULL)
		return;
	fd = bufferevent_getfd(s->cbev);
	if (fd != -1 &&
	    evbuffer_get_length(bufferevent_get_output(s->cbev)) == 0) {
		buf_init(&b, 64);
		ipc_begin(&b);
		if (ipc_add_str(&b, "req", "abort") == 0 && ipc_end(&b) == 0)
			(void)send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		buf_free(&b);
	}
	cleanup_close(s);
	if (s->state == S_DATA && !s->closing)
		bufferevent_enable(s->bev, EV_READ);	/* if throttled */
}

static int
cleanup_send_frame(struct session *s)
{
	if (ipc_end(&s->frame) == -1 ||
	    bufferevent_write(s->cbev, s->frame.data, s->frame.len) == -1)
		return -1;
	return 0;
}

static int
flush_chunk(struct session *s)
{
	if (s->chunk.len == 0 || s->cbev == NULL)
		return 0;
	ipc_begin(&s->frame);
	if (ipc_add_str(&s->frame, "req", "data") == -1 ||
	    ipc_add(&s->frame, "chunk", s->chunk.data, s->chunk.len) == -1 ||
	    cleanup_send_frame(s) == -1)
		return -1;
	buf_reset(&s->chunk);
	return 0;
}

/* Mark the message rejected (first reason wins) and stop forwarding it. */
static void
data_fail(struct session *s, const char *text)
{
	if (!s->derr) {
		s->derr = 1;
		snprintf(s->derr_text, sizeof(s->derr_text), "%s", text);
	}
	cleanup_abort(s);
}

/* Back to the command state after DATA or a failed DATA start. */
static void
to_command_state(struct session *s)
{
	cleanup_close(s);
	txn_reset(s);
	s->state = S_CMD;
	set_timeouts(s);
	if (!s->closing)
		bufferevent_enable(s->bev, EV_READ);
}

static void
cleanup_got(struct session *s, struct ipc_msg *m)
{
	long long code;
	char *text = NULL, *id = NULL;
	const char *r;

	if (ipc_is(m, "status", "ok")) {
		if (s->state == S_WAIT_OPEN) {
			bufferevent_set_timeouts(s->cbev, NULL, NULL);
			s->state = S_DATA;
			set_timeouts(s);
			bufferevent_enable(s->bev, EV_READ);
			reply(s, "354 End data with <CR><LF>.<CR><LF>");
			return;
		}
		if (s->state == S_WAIT_END) {
			id = ipc_get_str(m, "queue_id");
			if (id == NULL || strlen(id) > QID_LEN)
				log_warn("%s: cleanup sent a bad queue_id", s->id);
			else {
				sanitize(id);
				reply(s, "250 2.0.0 Ok: queued as %s", id);
				log_debug("%s: %s: queued from %s[%s]", s->id,
				    id, s->name, s->ip);
			}
			if (id == NULL || strlen(id) > QID_LEN)
				reply(s, "250 2.0.0 Ok: queued");
			free(id);
			to_command_state(s);
			return;
		}
		log_warn("%s: unexpected status=ok from cleanup", s->id);
		data_fail(s, R_QUEUE);
		return;
	}
	/* status=error code=NNN text="N.N.N text" */
	text = ipc_get_str(m, "text");
	if (ipc_get_num(m, "code", &code) == -1 || code < 400 || code > 599 ||
	    text == NULL || strlen(text) > 300) {
		free(text);
		text = xstrdup("4.3.0 Queue write error");
		code = 451;
	}
	sanitize(text);
	switch (s->state) {
	case S_WAIT_OPEN:
	case S_WAIT_END:
		r = s->state == S_WAIT_OPEN ? "DATA" : "END-OF-MESSAGE";
		reply(s, "%lld %s", code, text);
		log_info("NOQUEUE: reject: %s from %s[%s]: %lld %s; from=<%s> "
		    "proto=%s helo=<%s>", r, s->name, s->ip, code, text,
		    s->sender ? s->sender : "", proto(s), s->helo);
		to_command_state(s);
		break;
	case S_DATA: {
		char t[REPLY_MAX];

		snprintf(t, sizeof(t), "%lld %s", code, text);
		data_fail(s, t);
		break;
	}
	default:
		cleanup_close(s);
		break;
	}
	free(text);
}

static void
cleanup_read(struct bufferevent *b, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(b);
	unsigned char *p;
	size_t len;
	long total;

	while (s->cbev == b && (len = evbuffer_get_length(in)) >= 4) {
		if (len > 64 * 1024)
			len = 64 * 1024;
		p = evbuffer_pullup(in, (ssize_t)len);
		total = ipc_frame_ready(p, len);
		if (total == 0 && len < 64 * 1024)
			break;
		if (total <= 4 || ipc_parse(&rmsg, p + 4, (size_t)total - 4)
		    == -1) {
			log_warn("%s: bad frame from cleanup", s->id);
			if (s->state == S_DATA)
				data_fail(s, R_QUEUE);
			else if (s->state != S_CMD) {
				reply(s, R_QUEUE);
				to_command_state(s);
			} else
				cleanup_close(s);
			break;
		}
		evbuffer_drain(in, (size_t)total);
		cleanup_got(s, &rmsg);
	}
	session_kick(s);
}

static void
cleanup_write(struct bufferevent *b, void *arg)
{
	struct session *s = arg;

	(void)b;
	if (s->throttled && s->cbev &&
	    evbuffer_get_length(bufferevent_get_output(s->cbev)) <=
	    CLEANUP_LOWAT) {
		s->throttled = 0;
		if (s->state == S_DATA && !s->closing)
			bufferevent_enable(s->bev, EV_READ);
		session_kick(s);
	}
}

static void
cleanup_event(struct bufferevent *b, short what, void *arg)
{
	struct session *s = arg;

	(void)b;
	log_warn("%s: cleanup connection: %s", s->id,
	    (what & BEV_EVENT_TIMEOUT) ? "timeout" :
	    (what & BEV_EVENT_EOF) ? "closed by cleanup" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	cleanup_close(s);
	switch (s->state) {
	case S_WAIT_OPEN:
	case S_WAIT_END:
		reply(s, R_QUEUE);
		to_command_state(s);
		break;
	case S_DATA:
		data_fail(s, R_QUEUE);
		break;
	default:
		break;
	}
	session_kick(s);
}

static int
cleanup_open(struct session *s)
{
	struct sockaddr_un sun;
	char path[512];
	int fd, bad = 0;
	const char *why;

	queue_path(wk.conf.queue_dir, QDIR_PRIVATE "/cleanup", path, sizeof(path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("%s: socket path too long: %s", s->id, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1
	    && errno != EINPROGRESS)) {
		why = strerror(errno);
		log_warn("%s: cannot connect to cleanup %s: %s", s->id, path,
		    why);
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((s->cbev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		return -1;
	}
	bufferevent_setcb(s->cbev, cleanup_read, cleanup_write, cleanup_event,
	    s);
	bufferevent_setwatermark(s->cbev, EV_WRITE, CLEANUP_LOWAT, 0);
	bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
	{
		struct timeval tv = { CLEANUP_TIMEOUT, 0 };

		bufferevent_set_timeouts(s->cbev, &tv, NULL);
	}

	ipc_begin(&s->frame);
	bad |= ipc_add_str(&s->frame, "req", "open");
	bad |= ipc_add_str(&s->frame, "sender", s->sender ? s->sender : "");
	for (size_t i = 0; i < s->nrcpt; i++)
		bad |= ipc_add_str(&s->frame, "rcpt", s->rcpt[i]);
	bad |= ipc_add_str(&s->frame, "client_name", s->name);
	bad |= ipc_add_str(&s->frame, "client_addr", s->ip);
	bad |= ipc_add_str(&s->frame, "helo", s->helo);
	bad |= ipc_add_str(&s->frame, "proto", proto(s));
	if (s->tls && s->tls_info[0])
		bad |= ipc_add_str(&s->frame, "tls", s->tls_info);
	if (s->auth_user) {
		/* an authenticated submission: cleanup fixes it as an MSA */
		bad |= ipc_add_str(&s->frame, "auth_user", s->auth_user);
		bad |= ipc_add_str(&s->frame, "msa", "1");
	}
	bad |= ipc_add_str(&s->frame, "listener", wk.service);
	bad |= ipc_add_str(&s->frame, "smtp_id", s->id);
	bad |= ipc_add_num(&s->frame, "max_size",
	    (long long)lc->max_message_size);
	bad |= ipc_add_num(&s->frame, "max_header_size",
	    (long long)lc->max_header_size);
	if (bad || cleanup_send_frame(s) == -1) {
		log_error("%s: cannot build the cleanup request", s->id);
		cleanup_close(s);
		return -1;
	}
	return 0;
}

/* ---- DATA ---- */

static void
data_end(struct session *s)
{
	if (s->derr) {
		log_reject(s, "END-OF-MESSAGE", s->derr_text,
		    s->nrcpt ? s->rcpt[0] : NULL);
		reply(s, "%s", s->derr_text);
		to_command_state(s);
		return;
	}
	if (s->discard || s->connect_discard) {
		log_info("%s: discard: END-OF-MESSAGE from %s[%s]; from=<%s> "
		    "to=<%s>", s->id, s->name, s->ip, s->sender ? s->sender : "",
		    s->nrcpt ? s->rcpt[0] : "");
		reply(s, "250 2.0.0 Ok");
		to_command_state(s);
		return;
	}
	if (s->cbev == NULL || flush_chunk(s) == -1) {
		reply(s, R_QUEUE);
		to_command_state(s);
		return;
	}
	ipc_begin(&s->frame);
	if (ipc_add_str(&s->frame, "req", "end") == -1 ||
	    cleanup_send_frame(s) == -1) {
		reply(s, R_QUEUE);
		to_command_state(s);
		return;
	}
	{
		struct timeval tv = { CLEANUP_TIMEOUT, 0 };

		bufferevent_set_timeouts(s->cbev, &tv, NULL);
	}
	s->state = S_WAIT_END;
	bufferevent_disable(s->bev, EV_READ);
}

/* One complete line p[0..n) ending in LF, n <= SMTP_LINE_MAX. 1 = end. */
static int
data_line(struct session *s, const unsigned char *p, size_t n)
{
	int crlf = n >= 2 && p[n - 2] == '\r';
	size_t cl = n - (crlf ? 2 : 1);

	if (crlf && cl == 1 && p[0] == '.' && s->prev_crlf)
		return 1;
	s->prev_crlf = crlf;
	if (!crlf || memchr(p, '\r', cl) != NULL)
		data_fail(s, R_BARE);
	if (cl > 0 && p[0] == '.') {
		p++;
		cl--;
	}
	s->msg_size += cl + 1;
	if (s->msg_size > lc->max_message_size)
		data_fail(s, R_MSG_SIZE);
	if (s->in_header) {
		if (cl == 0)
			s->in_header = 0;
		else {
			s->hdr_size += cl + 1;
			if (s->hdr_size > lc->max_header_size)
				data_fail(s, R_HDR_SIZE);
		}
	}
	if (s->derr || s->cbev == NULL)
		return 0;
	if (buf_append(&s->chunk, p, cl) == -1 || buf_putc(&s->chunk, '\n')
	    == -1 || (s->chunk.len >= CHUNK_FLUSH && flush_chunk(s) == -1)) {
		log_error("%s: cannot frame message content", s->id);
		data_fail(s, R_QUEUE);
	}
	return 0;
}

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

/* Consume one line of DATA if there is one; 0 = need more input. */
static int
data_step(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len = evbuffer_get_length(in), lim, n;
	struct evbuffer_ptr ptr;
	unsigned char *p, *lf;
	int crlf, end;

	if (len == 0)
		return 0;
	if (s->cbev && evbuffer_get_length(bufferevent_get_output(s->cbev)) >
	    CLEANUP_HIWAT) {
		s->throttled = 1;
		bufferevent_disable(s->bev, EV_READ);
		return 0;
	}
	if (s->dskip) {
		/* inside an over-long line: drop up to its LF */
		ptr = evbuffer_search(in, "\n", 1, NULL);
		if (ptr.pos < 0) {
			s->dskip_cr = last_byte(in, len) == '\r';
			evbuffer_drain(in, len);
			return 0;
		}
		crlf = ptr.pos > 0 ? last_byte(in, (size_t)ptr.pos) == '\r' :
		    s->dskip_cr;
		evbuffer_drain(in, (size_t)ptr.pos + 1);
		s->dskip = 0;
		s->prev_crlf = crlf;
		return 1;
	}
	lim = len < SMTP_LINE_MAX + 1 ? len : SMTP_LINE_MAX + 1;
	p = evbuffer_pullup(in, (ssize_t)lim);
	lf = memchr(p, '\n', lim);
	if (lf == NULL) {
		if (len <= SMTP_LINE_MAX)
			return 0;
		data_fail(s, R_DATA_LONG);
		s->dskip = 1;
		s->dskip_cr = p[lim - 1] == '\r';
		evbuffer_drain(in, lim);
		return 1;
	}
	n = (size_t)(lf - p) + 1;
	if (n > SMTP_LINE_MAX) {
		data_fail(s, R_DATA_LONG);
		s->prev_crlf = p[n - 2] == '\r';
		evbuffer_drain(in, n);
		return 1;
	}
	end = data_line(s, p, n);
	evbuffer_drain(in, n);
	if (end)
		data_end(s);
	return 1;
}

/* ---- commands ---- */

static void
cmd_ehlo(struct session *s, const struct smtp_cmd *c)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const char *ext[8], *mechs;
	char size[64], authx[300];
	size_t n = 0;

	txn_reset(s);
	s->helo_seen = 1;
	s->esmtp = c->verb == SMTP_EHLO;
	strlcpy(s->helo, c->arg, sizeof(s->helo));
	sanitize(s->helo);
	if (!s->esmtp) {
		reply(s, "250 %s", wk.conf.hostname);
		return;
	}
	snprintf(size, sizeof(size), "SIZE %zu", lc->max_message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (ssl_ctx && !s->tls)
		ext[n++] = "STARTTLS";
	if (auth_enabled() && !(lc->tls == TLS_REQUIRED && !s->tls) &&
	    (mechs = auth_mechs(s)) != NULL) {
		snprintf(authx, sizeof(authx), "AUTH %s", mechs);
		ext[n++] = authx;
	}
	evbuffer_add_printf(out, "250-%s\r\n", wk.conf.hostname);
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(out, "250%c%s\r\n", i + 1 == n ? ' ' : '-',
		    ext[i]);
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *c)
{
	char a[600], r[REPLY_MAX];

	if (!s->helo_seen) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (lc->tls == TLS_REQUIRED && !s->tls) {
		reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (lc->auth == AUTH_REQUIRED && s->auth_user == NULL) {
		reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (s->mail) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (c->size > lc->max_message_size) {
		reply(s, R_MSG_SIZE);
		return;
	}
	if (c->path.null)
		a[0] = '\0';
	else if (addr_format(&c->path, a, sizeof(a)) == -1) {
		reply(s, "553 5.1.3 Bad address syntax");
		return;
	}
	/* sender_login_map: which MAIL FROM this login may use */
	if (auth_sender_ok(s, a, r, sizeof(r)) == -1) {
		s->sender = xstrdup(a);
		sanitize(s->sender);
		log_reject(s, "MAIL", r, NULL);
		free(s->sender);
		s->sender = NULL;
		reply(s, "%s", r);
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
		s->sender = xstrdup(a);
		sanitize(s->sender);
		log_reject(s, "MAIL", r, NULL);
		free(s->sender);
		s->sender = NULL;
		reply(s, "%s", r);
		s->discard = 0;
		s->delayed_from[0] = '\0';
		return;
	}
	s->mail = 1;
	s->sender = xstrdup(a);
	reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c)
{
	char a[600], r[REPLY_MAX];
	int saved_relay, rv;

	if (!s->mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt >= lc->max_recipients || s->nrcpt >= QF_MAX_RCPT) {
		reply(s, "452 4.5.3 Too many recipients");
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
		log_reject(s, "RCPT", r, a);
		reply(s, "%s", r);
		return;
	}
	if (strlen(a) > QF_MAX_ADDR) {
		reply(s, "553 5.1.3 Address too long");
		return;
	}
	s->rcpt = xreallocarray(s->rcpt, s->nrcpt + 1, sizeof(char *));
	s->rcpt[s->nrcpt++] = xstrdup(a);
	reply(s, "250 2.1.5 Ok");
}

static void
cmd_data(struct session *s)
{
	if (!s->mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt == 0) {
		reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	s->prev_crlf = 1;
	s->in_header = 1;
	s->dskip = s->dskip_cr = 0;
	s->msg_size = s->hdr_size = 0;
	s->derr = 0;
	s->derr_text[0] = '\0';
	buf_reset(&s->chunk);
	if (s->discard || s->connect_discard) {
		s->state = S_DATA;
		set_timeouts(s);
		reply(s, "354 End data with <CR><LF>.<CR><LF>");
		return;
	}
	if (cleanup_open(s) == -1) {
		reply(s, R_QUEUE);
		txn_reset(s);
		return;
	}
	s->state = S_WAIT_OPEN;
	bufferevent_disable(s->bev, EV_READ);
}

static void
cmd_starttls(struct session *s)
{
	struct evbuffer *in;

	if (ssl_ctx == NULL) {
		reply(s, "454 4.7.0 TLS not available");
		return;
	}
	if (s->tls) {
		reply(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
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
	setup_bev(s);
	txn_reset(s);
	auth_reset(s);		/* RFC 3207: forget everything learnt */
	s->helo_seen = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
}

static void
command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *err;

	s->ncmds++;
	if (smtp_cmd_parse(line, len, &c, &err) == -1) {
		s->cnt[SMTP_UNKNOWN]++;
		s->last = "UNKNOWN";
		reply(s, "%s", err);
		return;
	}
	s->cnt[c.verb]++;
	s->last = verb_upper[c.verb];
	if (shutting && !worker_graceful && !s->mail && c.verb != SMTP_QUIT) {
		reply(s, "421 4.3.2 Service shutting down");
		session_close(s);
		return;
	}
	switch (c.verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
		cmd_ehlo(s, &c);
		break;
	case SMTP_MAIL:
		cmd_mail(s, &c);
		break;
	case SMTP_RCPT:
		cmd_rcpt(s, &c);
		break;
	case SMTP_DATA:
		cmd_data(s);
		break;
	case SMTP_RSET:
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_QUIT:
		reply(s, "221 2.0.0 Bye");
		session_close(s);
		break;
	case SMTP_VRFY:
		if (lc->vrfy)
			reply(s, "252 2.0.0 Will attempt delivery");
		else
			reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
			    "message and attempt delivery");
		break;
	case SMTP_EXPN:
		if (lc->expn)
			reply(s, "502 5.5.1 EXPN not implemented");
		else
			reply(s, "502 5.7.0 EXPN disabled");
		break;
	case SMTP_HELP:
		reply(s, "214 2.0.0 See RFC 5321");
		break;
	case SMTP_STARTTLS:
		cmd_starttls(s);
		break;
	case SMTP_AUTH:
		auth_cmd(s, c.arg);
		break;
	case SMTP_BDAT:
		reply(s, "502 5.5.1 BDAT not supported");
		break;
	default:
		reply(s, "500 5.5.1 Command unrecognized");
		break;
	}
}

/* Consume one command line if there is one; 0 = need more input. */
static int
cmd_step(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len = evbuffer_get_length(in), lim, n, l;
	struct evbuffer_ptr ptr;
	unsigned char *p, *lf;
	char line[SMTP_LINE_MAX + 1];

	if (len == 0)
		return 0;
	if (s->cskip) {
		ptr = evbuffer_search(in, "\n", 1, NULL);
		if (ptr.pos < 0) {
			evbuffer_drain(in, len);
			return 0;
		}
		evbuffer_drain(in, (size_t)ptr.pos + 1);
		s->cskip = 0;
		return 1;
	}
	lim = len < SMTP_LINE_MAX + 1 ? len : SMTP_LINE_MAX + 1;
	p = evbuffer_pullup(in, (ssize_t)lim);
	lf = memchr(p, '\n', lim);
	if (lf == NULL) {
		if (len <= SMTP_LINE_MAX)
			return 0;
		evbuffer_drain(in, lim);	/* the rest up to LF is skipped */
		s->cskip = 1;
		reply(s, "500 5.5.2 Line too long");
		return 1;
	}
	n = (size_t)(lf - p) + 1;
	if (n > SMTP_LINE_MAX) {
		evbuffer_drain(in, n);
		reply(s, "500 5.5.2 Line too long");
		return 1;
	}
	l = n - 1;
	if (l > 0 && p[l - 1] == '\r')
		l--;
	memcpy(line, p, l);
	line[l] = '\0';
	evbuffer_drain(in, n);
	if (memchr(line, '\r', l) != NULL || memchr(line, '\0', l) != NULL) {
		reply(s, "500 5.5.2 Bare CR or NUL not allowed");
		return 1;
	}
	command(s, line, l);
	return 1;
}

/* Consume one AUTH response line if there is one; 0 = need more input. */
static int
auth_step(struct session *s)
{
	static char line[AUTH_LINE_MAX + 1];
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t len = evbuffer_get_length(in), lim, n, l;
	unsigned char *p, *lf;

	if (len == 0)
		return 0;
	lim = len < AUTH_LINE_MAX + 2 ? len : AUTH_LINE_MAX + 2;
	p = evbuffer_pullup(in, (ssize_t)lim);
	lf = memchr(p, '\n', lim);
	if (lf == NULL) {
		if (len < AUTH_LINE_MAX + 2)
			return 0;
		/* too long: abort the exchange, skip the line as a command */
		evbuffer_drain(in, lim);
		s->cskip = 1;
		auth_response(s, "*", 1);
		return 1;
	}
	n = (size_t)(lf - p) + 1;
	l = n - 1;
	if (l > 0 && p[l - 1] == '\r')
		l--;
	memcpy(line, p, l);
	line[l] = '\0';
	evbuffer_drain(in, n);
	auth_response(s, line, l);
	explicit_bzero(line, l);
	return 1;
}

static void
session_process(struct session *s)
{
	int r;

	while (!s->closing && !s->throttled && !s->dns_wait) {
		if (s->state == S_CMD)
			r = cmd_step(s);
		else if (s->state == S_AUTH)
			r = auth_step(s);
		else if (s->state == S_DATA)
			r = data_step(s);
		else
			break;
		if (lc->max_errors > 0 && s->nerrors >= lc->max_errors &&
		    !s->closing) {
			reply(s, "421 4.7.0 Too many errors");
			log_info("too many errors after %s from %s[%s]",
			    s->last ? s->last : "CONNECT", s->name, s->ip);
			session_close(s);
		}
		if (r == 0)
			break;
	}
}

/* Work through buffered input, then free the session if it is done. */
static void
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
		reply(s, "421 4.4.2 Timeout");
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

void
session_accept(int fd, const char *ip)
{
	struct session *s;

	if (!rmsg_init) {
		ipc_msg_init(&rmsg);
		rmsg_init = 1;
	}
	s = xcalloc(1, sizeof(*s));
	s->plain = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->timer = evtimer_new(base, timer_cb, s);
	if (s->plain == NULL || s->timer == NULL) {
		log_error("cannot set up a session for %s", ip);
		if (s->plain)
			bufferevent_free(s->plain);
		else
			close(fd);
		if (s->timer)
			event_free(s->timer);
		free(s);
		return;
	}
	s->bev = s->plain;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	snprintf(s->name, sizeof(s->name), "unknown");
	snprintf(s->id, sizeof(s->id), "%lX.%lX", (unsigned long)getpid(),
	    ++session_serial);
	buf_init(&s->chunk, 64 * 1024);
	buf_init(&s->frame, IPC_MAX_FRAME + 4);
	s->state = S_CMD;
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;

	if (lc->tls == TLS_WRAPPER && tls_start(s) == -1) {
		log_error("%s: cannot start TLS", s->id);
		s->closing = 1;
		s->close_deadline = 0;
		(void)session_try_finish(s);
		return;
	}
	setup_bev(s);
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
		reply(s, "%s", r);
		session_close(s);
		return;
	}
	reply(s, "220 %s ESMTP postern", wk.conf.hostname);
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
		cmd_mail(s, c);
	free(c);
	session_kick(s);
}
