/*
 * smtpd BDAT (RFC 3030 CHUNKING): reads each chunk of exactly its size
 * and streams it to cleanup in frames, as DATA does; BDAT LAST ends the
 * message the way the final dot does (data_end: 250 once cleanup has
 * committed). A chunk is never parsed for commands, and a refused chunk
 * is still read (and dropped) so that the dialogue stays in step.
 */
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "log.h"
#include "qspace.h"
#include "smtp_bdat.h"
#include "smtpd.h"

/* The transaction is failed: nothing is queued, BDAT gets 503 until
 * RSET. */
static void
bdat_fail(struct session *s)
{
	if (s->bdat == BDAT_OPEN)	/* else a kept connection is idle */
		cleanup_abort(s);
	s->bdat = BDAT_FAILED;
}

/* The first chunk of a message: open it at cleanup (as DATA does); 0,
 * or a reply id when the chunk must be dropped. */
static int
bdat_begin(struct session *s)
{
	if (!qspace_ok(wk.conf.queue_dir, wk.conf.queue_minfree, 0)) {
		s->bdat = BDAT_FAILED;	/* never a message without its start */
		return R_NO_SPACE;
	}
	s->bdat = BDAT_OPEN;
	s->hdr_size = 0;
	s->derr = 0;
	s->derr_text[0] = '\0';
	buf_reset(&s->chunk);
	if (s->discard || s->connect_discard) {
		cleanup_close(s);	/* a kept connection is not this message's */
		return 0;
	}
	if (cleanup_open(s) == -1) {
		s->bdat = BDAT_FAILED;
		return R_QUEUE;
	}
	return 0;
}

/* Why this chunk is not taken (a reply id), or 0. */
static int
bdat_check(struct session *s, unsigned long long size)
{
	int r;

	if (!s->mail)
		return R_NEED_MAIL;
	if (s->nrcpt == 0)
		return R_BDAT_NO_RCPT;
	if (s->bdat == BDAT_FAILED)
		return R_BDAT_FAILED;
	if (s->bdat == BDAT_NONE)
		s->msg_size = 0;	/* the first chunk */
	if (size > lc->max_message_size - s->msg_size) {
		bdat_fail(s);
		return R_MSG_SIZE;
	}
	if (s->bdat == BDAT_NONE && (r = bdat_begin(s)) != 0)
		return r;
	/* cleanup went away between chunks; a refusal it sent (derr) is
	 * the reply at this chunk's end */
	if (s->cbev == NULL && !s->derr && !s->discard &&
	    !s->connect_discard) {
		bdat_fail(s);
		return R_QUEUE;
	}
	s->msg_size += size;
	return 0;
}

void
bdat_cmd(struct session *s, const struct smtp_cmd *c)
{
	unsigned long long size;
	int last, first = s->bdat == BDAT_NONE;

	if (smtp_bdat_parse(c->arg, &size, &last) == -1) {
		session_reply(s, R_BDAT_SYNTAX);
		return;
	}
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_skip = bdat_check(s, size);
	if (s->bdat_skip == 0 && first && s->cbev != NULL) {
		/* the first chunk: its reads wait for cleanup's open */
		s->state = S_WAIT_OPEN;
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	s->state = S_BDAT;
	session_timeouts(s);
}

/* The whole chunk is read: answer it (LAST: once cleanup commits). */
static void
bdat_chunk_end(struct session *s)
{
	char r[REPLY_MAX];

	s->state = S_CMD;
	session_timeouts(s);
	if (s->bdat_skip != 0) {
		(void)reply_format(r, sizeof(r), s->bdat_skip);
		if (s->bdat_skip == R_MSG_SIZE || s->bdat_skip == R_QUEUE)
			session_log_reject(s, "BDAT", r,
			    s->nrcpt ? s->rcpt[0] : NULL);
		session_reply_line(s, r);
		return;
	}
	if (s->derr) {
		session_log_reject(s, "BDAT", s->derr_text,
		    s->nrcpt ? s->rcpt[0] : NULL);
		session_reply_line(s, s->derr_text);
		bdat_fail(s);
		return;
	}
	if (s->bdat_last) {
		data_end(s);
		return;
	}
	snprintf(r, sizeof(r), "%zu", s->msg_size);
	session_reply(s, R_BDAT_OK, r);
}

/* Take what there is of the chunk; 0 = need more input. */
int
bdat_step(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);
	int keep;

	if (s->bdat_left == 0) {
		bdat_chunk_end(s);
		return 1;
	}
	if (n == 0)
		return 0;
	keep = s->bdat_skip == 0 && !s->derr && s->cbev != NULL;
	if (keep && evbuffer_get_length(bufferevent_get_output(s->cbev)) >
	    CLEANUP_HIWAT) {
		s->throttled = 1;
		bufferevent_disable(s->bev, EV_READ);
		return 0;
	}
	if (n > s->bdat_left)
		n = (size_t)s->bdat_left;
	if (n > CHUNK_FLUSH)
		n = CHUNK_FLUSH;
	if (keep && (buf_append(&s->chunk, evbuffer_pullup(in, (ssize_t)n),
	    n) == -1 || (s->chunk.len >= CHUNK_FLUSH &&
	    flush_chunk(s) == -1))) {
		log_error("%s: cannot frame message content", s->id);
		data_fail(s, R_QUEUE);
	}
	evbuffer_drain(in, n);
	s->bdat_left -= n;
	return 1;
}

/* The transaction ends (RSET, EHLO, a message done): forget BDAT. */
void
bdat_reset(struct session *s)
{
	if (s->bdat == BDAT_OPEN && s->cbev != NULL)
		cleanup_abort(s);
	s->bdat = BDAT_NONE;
	s->bdat_skip = 0;
	s->bdat_left = 0;
}
