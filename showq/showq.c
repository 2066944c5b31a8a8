/*
 * showq: lists the queue, as mailq prints it, to local users who may not
 * read it (mailq, sendmail -bp, postern queue as non-root) over
 * public/showq. Runs as the unprivileged user, reads the queues only
 * (Landlock read-only), never changes a file; a client gets at most
 * DEADLINE_MS, so a slow one holds a showq process, never qmgr.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "proto.h"
#include "tools/tools.h"	/* mailq_list(): the listing mailq prints */
#include "worker.h"

#define REQ_TIMEOUT_MS	(10 * 1000)
#define SEND_TIMEOUT_MS	(10 * 1000)
#define DEADLINE_MS	(60 * 1000)
#define CHUNK		(64 * 1024)

struct out {
	int		 fd;
	struct buf	 pending;	/* < CHUNK octets not yet sent */
	struct buf	 frame;
	long long	 deadline;
	int		 failed;	/* the client is gone or too slow */
};

static struct worker	wk;

/* What is pending as one req=data frame, within the deadline. */
static int
out_flush(struct out *o)
{
	long long left = o->deadline - clock_ms();

	if (o->failed || o->pending.len == 0)
		return o->failed ? -1 : 0;
	if (left <= 0 || cleanup_data_encode(&o->frame, o->pending.data,
	    o->pending.len) == -1 || ipc_send(o->fd, &o->frame,
	    left < SEND_TIMEOUT_MS ? (int)left : SEND_TIMEOUT_MS) == -1) {
		o->failed = 1;
		return -1;
	}
	buf_reset(&o->pending);
	return 0;
}

/* The FILE's write: listing text into frames of CHUNK octets. */
static ssize_t
out_write(void *cookie, const char *p, size_t n)
{
	struct out *o = cookie;
	size_t done = 0;

	while (done < n) {
		size_t k = CHUNK - o->pending.len;

		if (k > n - done)
			k = n - done;
		if (buf_append(&o->pending, p + done, k) == -1)
			return -1;
		done += k;
		if (o->pending.len == CHUNK && out_flush(o) == -1)
			return -1;
	}
	return (ssize_t)n;
}

static void
serve(int fd)
{
	cookie_io_functions_t io = { .write = out_write };
	struct out o = { .fd = fd, .deadline = clock_ms() + DEADLINE_MS };
	struct proto_reply r = { 1, 0, NULL, NULL };
	struct showq_request req;
	struct ipc_msg m;
	char why[128];
	FILE *f;
	int rc;

	ipc_msg_init(&m);
	if (ipc_recv(fd, &m, REQ_TIMEOUT_MS) == -1 ||
	    showq_request_decode(&m, &req, why, sizeof(why)) == -1) {
		log_warn("bad or missing list request");
		ipc_msg_free(&m);
		return;
	}
	ipc_msg_free(&m);
	buf_init(&o.pending, CHUNK);
	buf_init(&o.frame, IPC_MAX_FRAME + 4);
	if ((f = fopencookie(&o, "w", io)) == NULL) {
		r = (struct proto_reply){ 0, 451, "4.3.0 out of memory", NULL };
		rc = 0;
	} else {
		rc = mailq_list(wk.conf.queue_dir, req.json, f);
		if (fclose(f) != 0)
			o.failed = 1;
	}
	if (rc == -1)
		r = (struct proto_reply){ 0, 451,
		    "4.3.0 showq cannot read the queue", NULL };
	if (out_flush(&o) == 0 && proto_reply_send(fd, &r,
	    SEND_TIMEOUT_MS) == 0)
		log_debug("queue listed");
	else
		log_warn("listing not sent: the client went away or was "
		    "too slow");
	buf_free(&o.pending);
	buf_free(&o.frame);
}

int
main(int argc, char **argv)
{
	worker_init(&wk, "showq", argc, argv);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	worker_confine(&wk);
	while (!worker_stop) {
		int which, fd = worker_accept(&wk, 1000, &which);

		if (fd == -1)
			continue;
		serve(fd);
		close(fd);
	}
	return 0;
}
