/*
 * agent: the delivery-agent skeleton (see agent.h). The request is parsed
 * once, here, by lib/proto; the hooks see a job whose recipients all exist
 * in the queue file. It only reads the queue: never writes, moves or
 * deletes a queue file, and answers every recipient exactly once.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"

#define AGENT_IO_TIMEOUT_MS	(60 * 1000)	/* each frame to/from qmgr */
#define AGENT_IDLE_FDS		16		/* idle state polled, at most */
#define AGENT_WAIT_MS		1000	/* worker_stop is seen this fast */

static void
agent_send(struct agent_job *j, struct buf *b, int rv)
{
	if (j->lost)
		return;
	if (rv == -1 || ipc_send(j->qmgr, b, AGENT_IO_TIMEOUT_MS) == -1) {
		log_warn("%s: cannot answer qmgr: %s", j->id, strerror(errno));
		j->lost = 1;
	}
}

void
agent_report(struct agent_job *j, size_t i, const struct dstatus *st)
{
	struct deliver_status ds;
	struct buf b;

	if (i >= j->nrcpt || j->rcpt[i].answered)
		return;
	j->rcpt[i].answered = 1;
	j->rcpt[i].st = *st;
	j->nopen--;
	ds.rcpt = j->rcpt[i].idx;
	ds.st = *st;
	ds.conn_fail = j->conn_fail != 0;
	buf_init(&b, IPC_MAX_FRAME + 4);
	agent_send(j, &b, deliver_status_encode(&b, &ds));
	buf_free(&b);
}

ssize_t
agent_read(const struct agent_job *j, size_t pos, void *buf, size_t len)
{
	return qfile_content_pread(j->fd, &j->q, pos, buf, len);
}

/* Every recipient still open gets st. */
static void
agent_report_all(struct agent_job *j, const struct dstatus *st)
{
	for (size_t i = 0; i < j->nrcpt; i++)
		agent_report(j, i, st);
}

static void
agent_done(struct agent_job *j)
{
	struct buf b;

	buf_init(&b, 64);
	agent_send(j, &b, proto_simple_encode(&b, REQ_DONE));
	buf_free(&b);
}

/* Open and read active/ID, keeping a small file's content in memory
 * (the hooks read it next); -1 with err set when it cannot be read. */
static int
job_open(struct worker *wk, struct agent_job *j, char *err, size_t errlen)
{
	char rel[64], path[512];

	snprintf(rel, sizeof(rel), "%s/%s", QDIR_ACTIVE, j->id);
	queue_path(wk->conf.queue_dir, rel, path, sizeof(path));
	j->fd = queue_open_regular(AT_FDCWD, path, O_RDONLY);
	if (j->fd == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (qfile_read_keep(j->fd, &j->q, err, errlen) == -1) {
		qfile_free(&j->q);
		memset(&j->q, 0, sizeof(j->q));
		return -1;
	}
	return 0;
}

/* Every index inside the queue file, none twice: -1 (err set) if not. */
static int
job_check(struct agent_job *j, char *err, size_t errlen)
{
	unsigned char *seen = xcalloc(j->q.nrcpt ? j->q.nrcpt : 1, 1);
	int rv = 0;

	for (size_t i = 0; i < j->nrcpt && rv == 0; i++) {
		size_t idx = j->rcpt[i].idx;

		if (idx >= j->q.nrcpt || seen[idx]) {
			snprintf(err, errlen, "recipient index %zu %s", idx,
			    idx >= j->q.nrcpt ? "out of range" : "repeated");
			rv = -1;
			continue;
		}
		seen[idx] = 1;
		j->rcpt[i].addr = j->q.rcpt[idx].addr;
	}
	free(seen);
	return rv;
}

static void
job_free(struct agent_job *j)
{
	if (j->fd != -1)
		close(j->fd);
	qfile_free(&j->q);
	free(j->rcpt);
}

/* The request, for a file in active/ only; -1 (logged) for one qmgr
 * never sends. */
static int
request_decode(const struct ipc_msg *m, struct deliver_request *req)
{
	char err[256];

	if (deliver_request_decode(m, req, err, sizeof(err)) == -1) {
		log_warn("bad delivery request from qmgr: %s; closing", err);
		return -1;
	}
	if (strcmp(req->dir, QDIR_ACTIVE) != 0) {
		log_warn("%s: bad delivery request from qmgr: not in %s/; "
		    "closing", req->queue_id, QDIR_ACTIVE);
		deliver_request_free(req);
		return -1;
	}
	return 0;
}

/* One request: decoded, its queue file read, the hook called, every
 * recipient answered, then done. */
int
agent_request(struct worker *wk, const struct agent_ops *ops, int cfd,
    const struct ipc_msg *m)
{
	struct deliver_request req;
	struct agent_job j;
	struct dstatus st;
	char err[256];

	if (request_decode(m, &req) == -1)
		return -1;
	memset(&j, 0, sizeof(j));
	j.id = req.queue_id;
	j.nexthop = req.nexthop;
	j.tls = req.tls;
	j.fd = -1;
	j.qmgr = cfd;
	j.rcpt = xcalloc(req.nrcpt, sizeof(*j.rcpt));
	j.nrcpt = j.nopen = req.nrcpt;
	for (size_t i = 0; i < req.nrcpt; i++)
		j.rcpt[i].idx = req.rcpt[i];
	if (job_open(wk, &j, err, sizeof(err)) == -1) {
		log_warn("%s: cannot read queue file: %s", j.id, err);
		dstatus_set(&st, DS_DEFER, 451,
		    "4.3.0 cannot read queue file: %s", err);
		agent_report_all(&j, &st);
	} else if (job_check(&j, err, sizeof(err)) == -1) {
		log_warn("%s: bad delivery request from qmgr: %s; closing",
		    j.id, err);
		j.lost = 1;
	} else
		ops->deliver(&j);
	dstatus_set(&st, DS_DEFER, 451, "4.3.0 delivery did not complete");
	agent_report_all(&j, &st);
	agent_done(&j);
	job_free(&j);
	deliver_request_free(&req);
	return j.lost ? -1 : 0;
}

static int
agent_wait_ms(const struct agent_ops *ops)
{
	return ops->idle_wait_ms ? ops->idle_wait_ms(AGENT_WAIT_MS) :
	    AGENT_WAIT_MS;
}

/* Wait for the next request on a connection, doing idle work; 1 when
 * one is there, 0 to wait again, -1 on error. */
static int
agent_poll(const struct agent_ops *ops, int cfd)
{
	struct pollfd pfd = { .fd = cfd, .events = POLLIN };
	int r = poll(&pfd, 1, agent_wait_ms(ops));

	if (ops->idle)
		ops->idle();
	if (r == 0 || (r == -1 && errno == EINTR))
		return 0;
	return r == -1 ? -1 : 1;
}

/*
 * One qmgr connection: requests until EOF, an error or worker_stop. The
 * first request (sent with the connect) is always read and served.
 */
static void
agent_serve(struct worker *wk, const struct agent_ops *ops, int cfd)
{
	struct ipc_msg m;

	ipc_msg_init(&m);
	for (int first = 1; first || !worker_stop; first = 0) {
		int r = first ? 1 : agent_poll(ops, cfd);

		if (r == 0)
			continue;
		if (r == -1)
			break;
		if (ipc_recv(cfd, &m, AGENT_IO_TIMEOUT_MS) == -1) {
			if (errno != ECONNRESET)
				log_warn("qmgr connection: %s",
				    strerror(errno));
			break;
		}
		if (proto_req_type(&m) != REQ_DELIVER) {
			log_warn("unknown request from qmgr; closing");
			break;
		}
		if (agent_request(wk, ops, cfd, &m) == -1)
			break;
	}
	ipc_msg_free(&m);
}

/*
 * Wait for qmgr's next connection (worker_accept: one idle process is
 * woken), watching the program's idle state too; -1 when none came.
 */
static int
agent_accept(struct worker *wk, const struct agent_ops *ops)
{
	struct pollfd pfd[1 + AGENT_IDLE_FDS];
	int n = 0, fd = -1, wait = agent_wait_ms(ops);

	if (ops->idle_fds != NULL && wk->epfd >= 0)
		n = ops->idle_fds(pfd + 1, AGENT_IDLE_FDS);
	if (n == 0)
		fd = worker_accept(wk, wait, NULL);
	else {
		worker_status(wk, 0);
		pfd[0].fd = wk->epfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		if (poll(pfd, (nfds_t)n + 1, wait) > 0 &&
		    (pfd[0].revents & POLLIN))
			fd = worker_accept(wk, 0, NULL);
	}
	if (ops->idle)
		ops->idle();
	return fd;
}

int
agent_main(struct worker *wk, const struct agent_ops *ops, int argc,
    char **argv)
{
	worker_init(wk, ops->name, argc, argv);
	if (wk->nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	if (ops->init)
		ops->init(wk);
	worker_confine(wk);
	while (!worker_stop) {
		int fd = agent_accept(wk, ops);

		if (fd == -1)
			continue;
		agent_serve(wk, ops, fd);
		close(fd);
	}
	if (ops->fini)
		ops->fini();
	return 0;
}
