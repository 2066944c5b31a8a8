/*
 * smtpd cleanup client: DATA. Checks each content line (bare CR/LF, line
 * and size limits, dot-stuffing) and streams the message to cleanup
 * (private/cleanup) with backpressure. Only CRLF.CRLF ends DATA (no
 * smuggling); 250 only once cleanup says the message is on stable
 * storage. One connection serves the session's messages until cleanup
 * gives it up. Never blocks the event loop; never trusts cleanup's
 * replies.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "qfile.h"
#include "smtpd.h"

#define CLEANUP_LOWAT	(256 * 1024)	/* and resume below this */
#define CLEANUP_TIMEOUT	600		/* s, for cleanup's replies */

static struct ipc_msg	 rmsg;
static int		 rmsg_init;

void
cleanup_close(struct session *s)
{
	if (s->cbev) {
		bufferevent_free(s->cbev);
		s->cbev = NULL;
	}
	s->throttled = 0;
}

/* Drop the message at cleanup: req=abort if it can go out at once. */
void
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
		if (proto_simple_encode(&b, REQ_ABORT) == 0)
			(void)send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		buf_free(&b);
	}
	cleanup_close(s);
	if (S_CONTENT(s->state) && !s->closing)
		bufferevent_enable(s->bev, EV_READ);	/* if throttled */
}

/* Frames to cleanup: sent at once when nothing waits before them (no
 * write event armed and disarmed per frame), what the socket does not
 * take through the bufferevent. */
static int
frames_out(struct session *s, const char *p, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(s->cbev);
	ssize_t w = 0;

	if (evbuffer_get_length(out) == 0 && (w = send(bufferevent_getfd(
	    s->cbev), p, n, MSG_DONTWAIT | MSG_NOSIGNAL)) == -1)
		w = 0;
	if ((size_t)w < n && evbuffer_add(out, p + w, n - (size_t)w) == -1)
		return -1;
	return 0;
}

/* Send the encoded frame (rv: its encoder's result) to cleanup. */
static int
cleanup_send_frame(struct session *s, int rv)
{
	if (rv == -1)
		return -1;
	return frames_out(s, s->frame.data, s->frame.len);
}

int
flush_chunk(struct session *s)
{
	if (s->chunk.len == 0 || s->cbev == NULL)
		return 0;
	if (cleanup_send_frame(s, cleanup_data_encode(&s->frame,
	    s->chunk.data, s->chunk.len)) == -1)
		return -1;
	buf_reset(&s->chunk);
	return 0;
}

/* Mark the message rejected (first reason wins) and stop forwarding it. */
static void
data_fail_line(struct session *s, const char *r)
{
	if (!s->derr) {
		s->derr = 1;
		strlcpy(s->derr_text, r, sizeof(s->derr_text));
	}
	cleanup_abort(s);
}

void
data_fail(struct session *s, enum reply_id id)
{
	char r[REPLY_MAX];

	(void)reply_format(r, sizeof(r), id);
	data_fail_line(s, r);
}

/* Back to the command state after DATA or a failed DATA start. */
static void
to_command_state(struct session *s)
{
	cleanup_close(s);
	session_txn_reset(s);
	s->state = S_CMD;
	session_timeouts(s);
	if (!s->closing)
		bufferevent_enable(s->bev, EV_READ);
}

/* The open for a BDAT chunk failed (reply r): the chunk is still read
 * (and dropped), then gets r. */
static void
bdat_open_failed(struct session *s, const char *r)
{
	data_fail_line(s, r);
	s->state = S_BDAT;
	session_timeouts(s);
	bufferevent_enable(s->bev, EV_READ);
}

/* The message is answered and cleanup's reply read: back to commands,
 * keeping the connection for the session's next message. */
static void
to_command_state_keep(struct session *s)
{
	struct bufferevent *b = s->cbev;

	s->cbev = NULL;
	to_command_state(s);
	if ((s->cbev = b) != NULL)
		bufferevent_set_timeouts(b, NULL, NULL);
}

/* Cleanup failed us while we wait for it (reply now) or in DATA. */
static void
cleanup_lost(struct session *s)
{
	char r[REPLY_MAX];

	if (S_CONTENT(s->state))
		data_fail(s, R_QUEUE);
	else if (s->state == S_WAIT_OPEN && s->bdat) {
		(void)reply_format(r, sizeof(r), R_QUEUE);
		bdat_open_failed(s, r);
	} else if (s->state == S_WAIT_OPEN || s->state == S_WAIT_END) {
		session_reply(s, R_QUEUE);
		to_command_state(s);
	} else
		cleanup_close(s);
}

/* status=ok: the message is open (354) or on stable storage (250). */
static void
cleanup_ok(struct session *s, const struct proto_reply *pr)
{
	char *id = pr->queue_id;

	if (s->state == S_WAIT_OPEN) {
		bufferevent_set_timeouts(s->cbev, NULL, NULL);
		s->state = s->bdat ? S_BDAT : S_DATA;	/* BDAT: no 354 */
		session_timeouts(s);
		bufferevent_enable(s->bev, EV_READ);
		if (!s->bdat)
			session_reply(s, R_DATA_GO);
		return;
	}
	if (s->state != S_WAIT_END) {
		log_warn("%s: unexpected status=ok from cleanup", s->id);
		data_fail(s, R_QUEUE);
		return;
	}
	if (id == NULL) {
		log_warn("%s: cleanup sent no queue_id", s->id);
		session_reply(s, R_QUEUED_NOID);
	} else {
		session_reply(s, R_QUEUED, id);
		/* Postfix's smtpd line, which log tools count as received */
		log_info("%s: client=%s[%s]%s%s", id, s->name, s->ip,
		    s->auth_user ? ", sasl_username=" : "",
		    s->auth_user ? s->auth_user : "");
	}
	s->njunk = s->nerrors = 0;	/* mail delivered (as Postfix) */
	to_command_state_keep(s);
}

/* status=error code=NNN text="N.N.N text": cleanup's reply, as data. */
static void
cleanup_error(struct session *s, const struct proto_reply *pr)
{
	char r[REPLY_MAX];

	if (pr->code < 400 || pr->code > 599 || pr->text == NULL ||
	    strlen(pr->text) > 300)
		(void)reply_format(r, sizeof(r), R_QUEUE);
	else
		(void)reply_data(r, sizeof(r), pr->code, pr->text);
	sanitize(r);
	if (s->state == S_WAIT_OPEN && s->bdat) {
		bdat_open_failed(s, r);
		return;
	}
	switch (s->state) {
	case S_WAIT_OPEN:
	case S_WAIT_END:
		session_reply_line(s, r);
		log_info("NOQUEUE: reject: %s from %s[%s]: %s; from=<%s> "
		    "proto=%s helo=<%s>", s->state == S_WAIT_OPEN ? "DATA" :
		    "END-OF-MESSAGE", s->name, s->ip, r,
		    s->sender ? s->sender : "", session_proto(s), s->helo);
		/* after the end cleanup reads the next request; after a
		 * refused open it closes */
		if (s->state == S_WAIT_END)
			to_command_state_keep(s);
		else
			to_command_state(s);
		break;
	case S_DATA:
	case S_BDAT:
		data_fail_line(s, r);
		break;
	default:
		if (s->bdat == BDAT_OPEN)	/* between two chunks */
			data_fail_line(s, r);
		else
			cleanup_close(s);
		break;
	}
}

static void
cleanup_read(struct bufferevent *b, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(b);
	struct proto_reply pr;
	unsigned char *p;
	char err[128] = "";	/* set only by a failed decode */
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
		    == -1 || proto_reply_decode(&rmsg, &pr, err, sizeof(err))
		    == -1) {
			log_warn("%s: bad frame from cleanup%s%s", s->id,
			    err[0] ? ": " : "", err);
			cleanup_lost(s);
			break;
		}
		evbuffer_drain(in, (size_t)total);
		if (pr.ok)
			cleanup_ok(s, &pr);
		else
			cleanup_error(s, &pr);
		proto_reply_free(&pr);
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
		if (S_CONTENT(s->state) && !s->closing)
			bufferevent_enable(s->bev, EV_READ);
		session_kick(s);
	}
}

static void
cleanup_event(struct bufferevent *b, short what, void *arg)
{
	struct session *s = arg;

	(void)b;
	if (s->state == S_CMD) {	/* a kept connection cleanup gave up */
		cleanup_close(s);
		return;
	}
	if (s->state == S_WAIT_OPEN && s->creused) {
		/* given up before cleanup read the open: once more, anew */
		cleanup_close(s);
		if (cleanup_open(s) == 0)
			return;
		cleanup_lost(s);
		session_kick(s);
		return;
	}
	log_warn("%s: cleanup connection: %s", s->id,
	    (what & BEV_EVENT_TIMEOUT) ? "timeout" :
	    (what & BEV_EVENT_EOF) ? "closed by cleanup" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	cleanup_close(s);
	if (s->state != S_CMD)
		cleanup_lost(s);
	session_kick(s);
}

static void
cleanup_wait(struct session *s)
{
	struct timeval tv = { CLEANUP_TIMEOUT, 0 };

	bufferevent_set_timeouts(s->cbev, &tv, NULL);
}

/* A non-blocking connection to cleanup's socket, or -1. */
static int
cleanup_connect(struct session *s)
{
	struct sockaddr_un sun;
	char path[512];
	int fd;

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
		log_warn("%s: cannot connect to cleanup %s: %s", s->id, path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* req=open: the envelope and who sent it. */
static int
cleanup_request(struct session *s)
{
	struct cleanup_open o;

	cleanup_open_init(&o);
	o.sender = s->sender ? s->sender : "";
	o.rcpt = s->rcpt;
	o.nrcpt = s->nrcpt;
	o.ret = s->dsn_ret;		/* DSN: borrowed, as rcpt */
	o.envid = s->dsn_envid;
	o.notify = s->dsn_notify;
	o.orcpt = s->dsn_orcpt;
	o.client_name = s->name;
	o.client_addr = s->ip;
	o.helo = s->helo;
	o.proto = (char *)session_proto(s);
	if (s->tls && s->tls_info[0])
		o.tls = s->tls_info;
	/* an authenticated submission: cleanup fixes it as an MSA */
	o.auth_user = s->auth_user;
	o.msa = s->auth_user != NULL;
	o.smtputf8 = s->smtputf8;
	o.listener = (char *)wk.service;
	o.smtp_id = s->id;
	o.max_size = lc->max_message_size;
	o.max_header_size = lc->max_header_size;
	return cleanup_send_frame(s, cleanup_open_encode(&s->frame, &o));
}

int
cleanup_open(struct session *s)
{
	int fd;

	if (!rmsg_init) {
		ipc_msg_init(&rmsg);
		rmsg_init = 1;
	}
	if ((s->creused = s->cbev != NULL))
		goto request;
	if ((fd = cleanup_connect(s)) == -1)
		return -1;
	if ((s->cbev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		return -1;
	}
	bufferevent_setcb(s->cbev, cleanup_read, cleanup_write, cleanup_event,
	    s);
	bufferevent_setwatermark(s->cbev, EV_WRITE, CLEANUP_LOWAT, 0);
	bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
request:
	cleanup_wait(s);
	if (cleanup_request(s) == -1) {
		log_error("%s: cannot build the cleanup request", s->id);
		cleanup_close(s);
		return -1;
	}
	return 0;
}

/* ---- DATA ---- */

/* DATA accepted (MAIL and RCPT done): open the message at cleanup. */
void
data_start(struct session *s)
{
	s->prev_crlf = 1;
	s->in_header = 1;
	s->msg_size = s->hdr_size = 0;
	s->derr = 0;
	s->derr_text[0] = '\0';
	buf_reset(&s->chunk);
	if (s->discard || s->connect_discard) {
		cleanup_close(s);	/* a kept connection is not this message's */
		s->state = S_DATA;
		session_timeouts(s);
		session_reply(s, R_DATA_GO);
		return;
	}
	if (cleanup_open(s) == -1) {
		session_reply(s, R_QUEUE);
		session_txn_reset(s);
		return;
	}
	s->state = S_WAIT_OPEN;
	bufferevent_disable(s->bev, EV_READ);
}

/* req=end: the message is complete; cleanup answers once it is safe.
 * The last content goes in the same write: cleanup wakes up once. */
static int
cleanup_end(struct session *s)
{
	struct buf both;
	int rv = 0;

	if (s->chunk.len == 0)
		return cleanup_send_frame(s, proto_simple_encode(&s->frame,
		    REQ_END));
	buf_init(&both, 2 * (IPC_MAX_FRAME + 4));
	if (cleanup_data_encode(&s->frame, s->chunk.data, s->chunk.len)
	    == -1 || buf_append(&both, s->frame.data, s->frame.len) == -1 ||
	    proto_simple_encode(&s->frame, REQ_END) == -1 ||
	    buf_append(&both, s->frame.data, s->frame.len) == -1 ||
	    frames_out(s, both.data, both.len) == -1)
		rv = -1;
	buf_free(&both);
	buf_reset(&s->chunk);
	return rv;
}

void
data_end(struct session *s)
{
	if (s->derr) {
		session_log_reject(s, "END-OF-MESSAGE", s->derr_text,
		    s->nrcpt ? s->rcpt[0] : NULL);
		session_reply_line(s, s->derr_text);
		to_command_state(s);
		return;
	}
	if (s->discard || s->connect_discard) {
		log_info("%s: discard: END-OF-MESSAGE from %s[%s]; from=<%s> "
		    "to=<%s>", s->id, s->name, s->ip, s->sender ? s->sender : "",
		    s->nrcpt ? s->rcpt[0] : "");
		session_reply(s, R_OKAY);
		to_command_state(s);
		return;
	}
	if (s->cbev == NULL || cleanup_end(s) == -1) {
		session_reply(s, R_QUEUE);
		to_command_state(s);
		return;
	}
	cleanup_wait(s);
	s->state = S_WAIT_END;
	bufferevent_disable(s->bev, EV_READ);
}

/* The size limits of one content line of cl octets (unstuffed). */
static void
data_count(struct session *s, size_t cl)
{
	s->msg_size += cl + 1;
	if (s->msg_size > lc->max_message_size)
		data_fail(s, R_MSG_SIZE);
	if (!s->in_header)
		return;
	if (cl == 0) {
		s->in_header = 0;
		return;
	}
	s->hdr_size += cl + 1;
	if (s->hdr_size > lc->max_header_size)
		data_fail(s, R_HDR_SIZE);
}

/* One complete content line (without its line end). 1 = the end. */
static int
data_line(struct session *s, const struct line *l)
{
	const unsigned char *p = l->p;
	size_t cl = l->len;

	if (l->crlf && cl == 1 && p[0] == '.' && s->prev_crlf)
		return 1;
	s->prev_crlf = l->crlf;
	if (!l->crlf || memchr(p, '\r', cl) != NULL)
		data_fail(s, R_BARE);
	if (cl > 0 && p[0] == '.') {
		p++;
		cl--;
	}
	data_count(s, cl);
	if (s->derr || s->cbev == NULL)
		return 0;
	if (buf_append(&s->chunk, p, cl) == -1 || buf_putc(&s->chunk, '\n')
	    == -1 || (s->chunk.len >= CHUNK_FLUSH && flush_chunk(s) == -1)) {
		log_error("%s: cannot frame message content", s->id);
		data_fail(s, R_QUEUE);
	}
	return 0;
}

/* Consume one line of DATA if there is one; 0 = need more input. */
int
data_step(struct session *s)
{
	struct line l;
	int end;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
		return 0;
	if (s->cbev && evbuffer_get_length(bufferevent_get_output(s->cbev)) >
	    CLEANUP_HIWAT) {
		s->throttled = 1;
		bufferevent_disable(s->bev, EV_READ);
		return 0;
	}
	/* One octet more for a transparency dot: the limit counts the
	 * line as it is, not as it was stuffed (RFC 5321 4.5.3.1.6). */
	if (session_line(s, SMTP_LINE_MAX + 1, &l) == 0)
		return 0;
	if (l.kind == LINE_OK && l.n > SMTP_LINE_MAX && l.p[0] != '.') {
		session_line_done(s, &l);
		l.kind = LINE_LONG;
	}
	if (l.kind == LINE_LONG)
		data_fail(s, R_DATA_LONG);
	if (l.kind != LINE_OK) {
		if (l.ended)
			s->prev_crlf = l.crlf;
		return 1;
	}
	end = data_line(s, &l);
	session_line_done(s, &l);
	if (end)
		data_end(s);
	return 1;
}
