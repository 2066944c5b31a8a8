/*
 * local forward: a message re-injected through cleanup to an alias's
 * remote targets, with Delivered-To first so a loop through another host
 * is caught. Reads the queue file only; never writes the queue itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "local.h"

/* Read cleanup's answer: 0 on status=ok (the new queue ID in qid, when
 * asked), -1 with *r set otherwise. */
static int
cleanup_reply(int fd, struct dstatus *r, char *qid, size_t qidlen)
{
	struct ipc_msg		 m;
	struct proto_reply	 rep;
	char			 err[128];
	int			 rv = -1;

	ipc_msg_init(&m);
	if (ipc_recv(fd, &m, IO_TIMEOUT_MS) == -1)
		setres(r, DS_DEFER, "4.3.0 cleanup: %s", strerror(errno));
	else if (proto_reply_decode(&m, &rep, err, sizeof(err)) == -1)
		setres(r, DS_DEFER, "4.3.0 cleanup: bad reply: %s", err);
	else {
		if (rep.ok) {
			if (qid && rep.queue_id)
				strlcpy(qid, rep.queue_id, qidlen);
			rv = 0;
		} else
			setres(r, rep.code >= 500 && rep.code < 600 ?
			    DS_BOUNCE : DS_DEFER, "%s",
			    rep.text ? rep.text : "4.3.0 cleanup error");
		proto_reply_free(&rep);
	}
	ipc_msg_free(&m);
	return rv;
}

/* Send the frame in b (encoded with result enc); -1 with *r set. */
static int
cleanup_send(int fd, struct buf *b, int enc, struct dstatus *r)
{
	if (enc == -1 || ipc_send(fd, b, IO_TIMEOUT_MS) == -1) {
		setres(r, DS_DEFER, "4.3.0 cleanup: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* req=open: the same sender, every forward target, no Received:. */
static int
forward_open(int fd, struct job *j, const struct expansion *x,
    struct buf *b, struct dstatus *r)
{
	struct cleanup_open	 o;
	int			 enc;

	cleanup_open_init(&o);
	o.sender = (char *)(j->q->sender ? j->q->sender : "");
	o.rcpt = xcalloc(x->n ? x->n : 1, sizeof(char *));
	for (size_t i = 0; i < x->n; i++)
		if (x->t[i].kind == T_FWD)
			o.rcpt[o.nrcpt++] = x->t[i].name;
	o.received = 0;
	o.smtputf8 = (j->q->flags & QF_SMTPUTF8) != 0;	/* kept (RFC 6531) */
	enc = cleanup_open_encode(b, &o);
	free(o.rcpt);	/* the strings are x's */
	if (cleanup_send(fd, b, enc, r) == -1)
		return -1;
	return cleanup_reply(fd, r, NULL, 0);
}

/*
 * req=data: Delivered-To first, as Postfix does (a forwarding loop through
 * another host comes back with it and is stopped here), then the content.
 */
static int
forward_content(int fd, struct job *j, const char *orig, struct buf *b,
    struct dstatus *r)
{
	char	*chunk = xmalloc(CHUNK);
	size_t	 done = 0;
	int	 n, rv = -1;

	n = snprintf(chunk, CHUNK, "Delivered-To: %s\n", orig);
	if (n < 0 || n >= CHUNK ||
	    cleanup_send(fd, b, cleanup_data_encode(b, chunk, (size_t)n), r)
	    == -1)
		goto out;
	while (done < j->q->content_len) {
		ssize_t got = agent_read(j->a, done, chunk, CHUNK);

		if (got <= 0) {
			setres(r, DS_DEFER, "4.3.0 cannot read queue file");
			goto out;
		}
		if (cleanup_send(fd, b, cleanup_data_encode(b, chunk,
		    (size_t)got), r) == -1)
			goto out;
		done += (size_t)got;
	}
	rv = 0;
out:
	free(chunk);
	return rv;
}

/* One new message (same sender, received=0) to every forward target. */
void
forward(struct job *j, const struct expansion *x, const char *orig,
    struct dstatus *r, char *newid, size_t newidlen)
{
	struct buf	 b;
	char		 path[512];
	int		 fd;

	queue_path(wk.conf.queue_dir, QDIR_PRIVATE "/cleanup", path, sizeof(path));
	if ((fd = ipc_connect(path)) == -1) {
		setres(r, DS_DEFER, "4.3.0 cannot connect to cleanup: %s",
		    strerror(errno));
		return;
	}
	buf_init(&b, IPC_MAX_FRAME + 4);
	if (forward_open(fd, j, x, &b, r) == 0 &&
	    forward_content(fd, j, orig, &b, r) == 0 &&
	    cleanup_send(fd, &b, proto_simple_encode(&b, REQ_END), r) == 0 &&
	    cleanup_reply(fd, r, newid, newidlen) == 0)
		setres(r, DS_SENT, "2.0.0 forwarded as %s", newid);
	buf_free(&b);
	close(fd);
}
