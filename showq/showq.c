/*
 * showq: lists the queue, as mailq prints it, to local users who may not
 * read it (mailq, sendmail -bp, postern queue as non-root) over
 * public/showq. Runs as the unprivileged user, reads the queues only
 * (Landlock read-only), never changes a file. Connections wait in a
 * poll set until their request arrives (at most IDLE_MS, MAX_PENDING of
 * them), so idle clients hold no process; a listing being sent gets at
 * most DEADLINE_MS, so a slow reader holds a showq process, never qmgr.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "proto.h"
#include "tools/tools.h"	/* mailq_list(): the listing mailq prints */
#include "worker.h"

#define REQ_TIMEOUT_MS	(2 * 1000)	/* the rest of a request begun */
#define IDLE_MS		(5 * 1000)	/* connected, nothing sent yet */
#define MAX_PENDING	32
#define SEND_TIMEOUT_MS	(10 * 1000)
#define DEADLINE_MS	(20 * 1000)
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

/* Connections that have not sent their request yet. */
struct pending {
	int		 fd[MAX_PENDING];
	long long	 since[MAX_PENDING];
	int		 n;
};

static void
pending_drop(struct pending *p, int i)
{
	close(p->fd[i]);
	p->fd[i] = p->fd[--p->n];
	p->since[i] = p->since[p->n];
}

/* A new connection waits; when the set is full the oldest goes. */
static void
pending_accept(struct pending *p, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd == -1)
		return;		/* the other showq was quicker */
	if (p->n == MAX_PENDING) {
		log_warn("%d clients connected without a request: "
		    "dropping the oldest", MAX_PENDING);
		pending_drop(p, 0);
	}
	p->fd[p->n] = fd;
	p->since[p->n++] = clock_ms();
}

/* One round: wait (at most a second), accept, serve who spoke, expire
 * who stayed silent past IDLE_MS. */
static void
round_trip(struct pending *p, int lfd)
{
	struct pollfd pfd[MAX_PENDING + 1];
	long long now;

	pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (int i = 0; i < p->n; i++)
		pfd[i + 1] = (struct pollfd){ .fd = p->fd[i],
		    .events = POLLIN };
	if (poll(pfd, (nfds_t)p->n + 1, 1000) == -1)
		return;		/* a signal: worker_stop is looked at */
	for (int i = p->n - 1; i >= 0; i--) {
		if (pfd[i + 1].revents == 0)
			continue;
		serve(p->fd[i]);
		pending_drop(p, i);
	}
	now = clock_ms();
	for (int i = p->n - 1; i >= 0; i--)
		if (now - p->since[i] >= IDLE_MS) {
			log_debug("client sent no request: closed");
			pending_drop(p, i);
		}
	if (pfd[0].revents & POLLIN)
		pending_accept(p, lfd);
}

int
main(int argc, char **argv)
{
	struct pending p = { .n = 0 };

	worker_init(&wk, "showq", argc, argv);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	worker_confine(&wk);
	fcntl(wk.listen_fd[0], F_SETFL, O_NONBLOCK);
	while (!worker_stop)
		round_trip(&p, wk.listen_fd[0]);
	while (p.n > 0)
		pending_drop(&p, 0);
	return 0;
}
