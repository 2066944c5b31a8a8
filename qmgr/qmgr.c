/*
 * qmgr: the one scheduler. Moves queue files incoming/ -> active/ ->
 * deferred/ (or removes them), hands recipients to the local and remote
 * agents, records each result in place, retries with jittered backoff,
 * and writes DSNs. Runs as the unprivileged user; one process; never
 * parses network input (only its own queue files and agents' replies).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "qfile.h"
#include "xtext.h"
#include "queue.h"
#include "worker.h"
#include "agentconn.h"
#include "dsn.h"
#include "flush.h"
#include "conf.h"
#include "route.h"
#include "sched.h"
#include "stats.h"
#include "syncer.h"
#include "transport.h"

#define MAX_ACTIVE	500	/* each holds an open fd */
#define JOB_TIMEOUT	(30 * 60)
#define SCAN_INCOMING	5	/* seconds between scans without a trigger */
#define SCAN_DEFERRED	10

static struct worker	 wk;
static struct msg	*msgs;
static size_t		 nmsgs;
static struct queue	 qq;
static struct router	 router;
static int		 want_incoming = 1, want_deferred = 1, flush_all;
static int		 backlog;	/* a scan stopped at MAX_ACTIVE */

static time_t
now(void)
{
	return time(NULL);
}

/*
 * Moves into and out of active/ never replace a file (a queue ID names
 * one message); a move that fails leaves the file where it was, and what
 * is left in active/ goes back to incoming/ at the next start. These
 * renames are not fsync'd one by one: the file itself is durable, and a
 * rename lost in a crash only sends the message around once more.
 * Removals are made durable by the syncer thread (syncer.c), one fsync of
 * active/ for what each loop iteration removed, off the scheduler's path.
 */
static int	 active_dirty;

static void
sync_dirs(void)
{
	if (active_dirty) {
		syncer_dirty();
		active_dirty = 0;
	}
}

static void
to_corrupt(enum qdir from, const char *id, const char *why)
{
	log_warn("%s: corrupt queue file moved to corrupt/: %s", id, why);
	if (queue_move(&qq, from, QD_CORRUPT, id, 0) == -1)
		log_error("%s: cannot move to corrupt/: %s", id, strerror(errno));
}

static void rcpt_record(struct msg *, struct qrcpt *,
    const struct dstatus *);

/*
 * Route one recipient; 1 if it got no transport and was recorded here:
 * a transport_map or virtual_map error: target bounces (5xx) or waits
 * (4xx) without a delivery agent, a failed map lookup waits, and an
 * address that does not route (cleanup queues only parsed addresses;
 * one from an older queue file may not) bounces.
 */
static int
route_unroutable(struct msg *m, struct qrcpt *r, struct route *rt)
{
	struct dstatus st;
	int n = route_resolve(&router, r->addr, rt, NULL, NULL);

	if (n == 0 && rt->err.code == 0)
		return 0;
	if (n == -2)
		dstatus_set(&st, DS_DEFER, 451, "4.3.0 routing table lookup "
		    "failed");
	else if (n != 0)
		dstatus_set(&st, DS_BOUNCE, 553, "5.1.3 no route for this "
		    "address (bad syntax)");
	else
		dstatus_set(&st, rt->err.code / 100 == 4 ? DS_DEFER :
		    DS_BOUNCE, rt->err.code, "%s", rt->err.text);
	if (n == 0)	/* the admin's error: target, as asked */
		log_info("%s: to=<%s>: routing table error: target: %s",
		    m->id, r->addr, st.text);
	else
		log_warn("%s: to=<%s>: %s", m->id, r->addr, st.text);
	rcpt_record(m, r, &st);
	return 1;
}

/* Split the message's pending recipients into jobs by transport/nexthop. */
static void
msg_schedule(struct msg *m)
{
	struct job *jl[64];
	size_t nj = 0;

	for (size_t i = 0; i < m->q.nrcpt; i++) {
		struct qrcpt *r = &m->q.rcpt[i];
		struct route rt;
		size_t t;
		const char *nh;
		struct job *j = NULL;
		int tls;

		if (r->status != QR_PENDING)
			continue;
		if (route_unroutable(m, r, &rt))
			continue;
		t = transport_index(rt.transport);
		nh = rt.nexthop;
		/* transport_map's tls=, else -1: remote_tls */
		tls = rt.tls_map ? (int)rt.tls : -1;
		for (size_t k = 0; k < nj; k++)
			if (jl[k]->t == t && jl[k]->tls == tls &&
			    strcasecmp(jl[k]->nexthop, nh) == 0)
				j = jl[k];
		if (j == NULL) {
			if (nj == 64) {		/* later rounds take the rest */
				r->code = 0;
				continue;
			}
			j = xcalloc(1, sizeof(*j));
			j->m = m;
			j->t = t;
			j->nexthop = xstrdup(nh);
			j->tls = tls;
			j->fd = -1;
			buf_init(&j->in, IPC_MAX_FRAME + 4);
			jl[nj++] = j;
		}
		j->idx = xreallocarray(j->idx, j->nidx + 1, sizeof(size_t));
		j->idx[j->nidx++] = i;
	}
	for (size_t k = 0; k < nj; k++) {
		jl[k]->replied = xcalloc(jl[k]->nidx, 1);
		job_enqueue(jl[k]);
	}
}

static void msg_finish(struct msg *);

static struct msg *
msg_find(const char *id)
{
	for (struct msg *m = msgs; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* Load active/ID and schedule it. The file is already in active/. */
static void
msg_load(const char *id)
{
	char err[256];
	struct msg *m;
	int fd;

	if (msg_find(id) != NULL)
		panic("%s: loaded twice", id);
	fd = queue_file_open(&qq, QD_ACTIVE, id, O_RDWR);
	if (fd == -1 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) {
		/* Our limit, not the file's fault: put it back for later. */
		log_warn("%s: open: %s; leaving it in incoming/", id,
		    strerror(errno));
		(void)queue_move(&qq, QD_ACTIVE, QD_INCOMING, id,
		    QUEUE_NOREPLACE);
		return;
	}
	if (fd == -1) {
		/* Not ours to read (wrong owner, not a file): quarantine. */
		char why[128];
		snprintf(why, sizeof(why), "open: %s", strerror(errno));
		to_corrupt(QD_ACTIVE, id, why);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	memcpy(m->id, id, QID_LEN + 1);
	m->fd = fd;
	if (qfile_read(fd, &m->q, err, sizeof(err)) == -1) {
		qfile_free(&m->q);
		close(fd);
		free(m);
		to_corrupt(QD_ACTIVE, id, err);
		return;
	}
	memcpy(m->q.id, id, QID_LEN + 1);	/* bounces name it */
	m->next = msgs;
	msgs = m;
	nmsgs++;
	if (m->q.attempts == 0 && m->q.client.len > 0)	/* not a DSN */
		stats_count(PSTAT_RECEIVED, 1);
	if (m->q.attempts == 0)
		log_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)",
		    id, m->q.sender, (long long)m->q.size, m->q.nrcpt);
	msg_schedule(m);
	if (m->jobs == 0)
		msg_finish(m);
}

/* Move every due file of a queue into active/ and load it, oldest
 * first. NOREPLACE: a file already active is never overwritten. */
static void
scan(enum qdir d, int due_only)
{
	struct queue_ids l;
	struct stat st;
	time_t t = now();

	if (queue_list(&qq, d, &l) == -1)
		return;
	for (size_t i = 0; i < l.n; i++) {
		if (nmsgs >= MAX_ACTIVE) {
			/* Come back as soon as there is room, not at the
			 * next timer: the triggers for these are spent. */
			backlog = 1;
			break;
		}
		if (due_only && (fstatat(qq.fd[d], l.id[i], &st, 0) == -1 ||
		    st.st_mtime > t))
			continue;
		if (queue_move(&qq, d, QD_ACTIVE, l.id[i],
		    QUEUE_NOREPLACE) == -1)
			continue;
		msg_load(l.id[i]);
	}
	queue_ids_free(&l);
}

static int
job_start(struct job *j)
{
	struct deliver_request dr = { .nexthop = j->nexthop, .rcpt = j->idx,
	    .nrcpt = j->nidx, .tls = j->tls + 1 };
	char path[512];
	struct buf b;
	int fd;

	strlcpy(dr.queue_id, j->m->id, sizeof(dr.queue_id));
	strlcpy(dr.dir, QDIR_ACTIVE, sizeof(dr.dir));
	buf_init(&b, IPC_MAX_FRAME + 4);
	if (deliver_request_encode(&b, &dr) == -1)
		panic("%s: cannot encode a delivery request of %zu "
		    "recipient(s)", j->m->id, j->nidx);
	if ((fd = agentconn_take(j->t, j->nexthop)) != -1 &&
	    ipc_send(fd, &b, 5000) == -1) {
		close(fd);	/* its agent went away meanwhile */
		fd = -1;
	}
	queue_path(wk.conf.queue_dir, transport_at(j->t)->socket, path,
	    sizeof(path));
	if (fd == -1 && ((fd = ipc_connect(path)) == -1 ||
	    ipc_send(fd, &b, 5000) == -1)) {
		buf_free(&b);
		if (fd != -1)
			close(fd);
		return -1;
	}
	buf_free(&b);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	j->fd = fd;
	j->started = now();
	return 0;
}

static void
set_error(struct qrcpt *r, int code, const char *text)
{
	r->code = code;
	strlcpy(r->error, text, sizeof(r->error));
}

/* The one mapping of a delivery status to a queue-file recipient (its
 * status byte and last error), written in place. */
static void
rcpt_record(struct msg *m, struct qrcpt *r, const struct dstatus *st)
{
	stats_count(st->stat == DS_SENT ? PSTAT_DELIVERED :
	    st->stat == DS_BOUNCE ? PSTAT_BOUNCED : PSTAT_DEFERRED, 1);
	switch (st->stat) {
	case DS_SENT:	/* NOTIFY=SUCCESS: a notice is due, unless the
			 * next hop speaks DSN and owns it (RFC 3461 5.2) */
		r->status = !(r->notify & DSN_NOTIFY_SUCCESS) ||
		    st->relayed == DSTATUS_PASSED || !*m->q.sender ? QR_SENT :
		    st->relayed ? QR_RELAYED_NOTIFY : QR_SENT_NOTIFY;
		set_error(r, st->code, "");
		break;
	case DS_BOUNCE:
		r->status = QR_FAILED;
		set_error(r, st->code, st->text[0] ? st->text :
		    "5.0.0 delivery failed");
		break;
	case DS_DEFER:
		set_error(r, st->code, st->text[0] ? st->text :
		    "4.0.0 delivery deferred");
		break;
	default:
		panic("%s: delivery status %d", m->id, (int)st->stat);
	}
	if (qfile_rcpt_update(m->fd, r) == -1)
		log_error("%s: cannot update recipient: %s", m->id,
		    strerror(errno));
}

/* One reply frame from an agent. Returns 1 when the job is done, -1 on
 * a protocol error. */
static int
job_reply(struct job *j, struct ipc_msg *im)
{
	struct deliver_status ds;
	char err[128];
	size_t k;

	if (proto_req_type(im) == REQ_DONE)
		return 1;
	if (deliver_status_decode(im, &ds, err, sizeof(err)) == -1) {
		log_warn("%s: bad status from the %s agent: %s", j->m->id,
		    transport_at(j->t)->name, err);
		return -1;
	}
	for (k = 0; k < j->nidx; k++)
		if (j->idx[k] == ds.rcpt)
			break;
	if (k == j->nidx || j->replied[k])
		return -1;
	if (ds.rcpt >= j->m->q.nrcpt)
		panic("%s: job holds recipient %zu of %zu", j->m->id, ds.rcpt,
		    j->m->q.nrcpt);
	j->replied[k] = 1;
	if (ds.conn_fail) {
		j->conn_fail = 1;
		j->conn_why = ds.st;
	}
	rcpt_record(j->m, &j->m->q.rcpt[ds.rcpt], &ds.st);
	return 0;
}

static void
job_free(struct job *j)
{
	if (j->fd != -1)
		close(j->fd);
	buf_free(&j->in);
	free(j->nexthop);
	free(j->idx);
	free(j->replied);
	free(j);
}

/* The job's recipients without an answer wait, with st as the reason;
 * the job is freed and its message finished when it was the last. */
static void
job_close(struct job *j, const struct dstatus *st, int lost)
{
	struct msg *m = j->m;

	for (size_t k = 0; k < j->nidx; k++) {
		if (j->replied[k])
			continue;
		struct qrcpt *r = &m->q.rcpt[j->idx[k]];

		m->agent_lost |= lost;
		rcpt_record(m, r, st);
		if (lost)
			log_warn("%s: to=<%s>, status=%s (%s)", m->id,
			    r->addr, dstat_word(st->stat), r->error);
		else
			log_info("%s: to=<%s>, relay=none, status=%s (%s)",
			    m->id, r->addr, dstat_word(st->stat), r->error);
	}
	job_free(j);
	if (--m->jobs == 0)
		msg_finish(m);
}

/* The job in slot is over: done (why NULL), or the agent went away. Its
 * answers move the destination's window (sched_release). */
static void
job_end(int slot, const char *why)
{
	struct job *j = sched_slot(slot);
	struct dstatus st;

	dstatus_set(&st, DS_DEFER, 0, "%s",
	    why ? why : "4.3.0 delivery agent gave no answer");
	sched_release(slot, why ? DF_NONE : j->conn_fail ? DF_FAIL : DF_OK,
	    &j->conn_why);
	if (why == NULL && j->in.len == 0) {	/* clean: the next job's */
		agentconn_park(j->t, j->nexthop, j->fd, now());
		j->fd = -1;
	}
	job_close(j, &st, 1);
}

/* A job of a dead destination: its recipients wait, untried, with the
 * destination's last failure (sched_dispatch). */
static void
job_suspend(struct job *j, const struct dstatus *why)
{
	struct dstatus st;
	size_t n = strcspn(why->text, " ");

	dstatus_set(&st, DS_DEFER, why->code, "%.*s delivery temporarily "
	    "suspended: %s", (int)n, why->text, why->text + n +
	    strspn(why->text + n, " "));
	job_close(j, &st, 0);
}

static void
job_input(int slot)
{
	struct job *j = sched_slot(slot);
	struct ipc_msg im;
	char tmp[65536];
	ssize_t n;
	long fr;

	n = read(j->fd, tmp, sizeof(tmp));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		job_end(slot, "4.3.0 delivery agent crashed or closed the connection");
		return;
	}
	if (buf_append(&j->in, tmp, (size_t)n) == -1) {
		job_end(slot, "4.3.0 delivery agent protocol error");
		return;
	}
	ipc_msg_init(&im);
	while ((fr = ipc_frame_ready(j->in.data, j->in.len)) != 0) {
		int r;
		if (fr < 0 || ipc_parse(&im, j->in.data + 4, (size_t)fr - 4) == -1 ||
		    (r = job_reply(j, &im)) == -1) {
			log_error("%s: protocol error from the %s agent",
			    j->m->id, transport_at(j->t)->name);
			ipc_msg_free(&im);
			job_end(slot, "4.3.0 delivery agent protocol error");
			return;
		}
		buf_consume(&j->in, (size_t)fr);
		if (r == 1) {
			ipc_msg_free(&im);
			job_end(slot, NULL);
			return;
		}
	}
	ipc_msg_free(&im);
}

static void
msg_unlink(struct msg *m)
{
	struct msg **pp;

	for (pp = &msgs; *pp != m; pp = &(*pp)->next)
		if (*pp == NULL)
			panic("%s: finished but not in the active list", m->id);
	*pp = m->next;
	nmsgs--;
	syncer_close(m->fd);
	qfile_free(&m->q);
	free(m);
}

/* Recipients pending past queue_lifetime fail. */
static void
msg_expire(struct msg *m, time_t age)
{
	struct dstatus st;

	if (age < (time_t)wk.conf.queue_lifetime)
		return;
	for (size_t i = 0; i < m->q.nrcpt; i++) {
		struct qrcpt *r = &m->q.rcpt[i];
		if (r->status != QR_PENDING)
			continue;
		dstatus_set(&st, DS_BOUNCE, r->code, "5.4.7 message expired "
		    "after %lld s in the queue: %s", (long long)age,
		    r->error[0] ? r->error : "not delivered");
		rcpt_record(m, r, &st);
	}
}

/* Bounce the failed recipients; -1 when the bounce could not be written
 * (the file stays for a retry). */
static int
msg_bounce(struct msg *m)
{
	if (dsn_send(&wk.conf, qq.fd[QD_INCOMING], &m->q, m->fd,
	    DS_BOUNCE) == -1) {
		log_error("%s: cannot write bounce; will retry", m->id);
		return -1;
	}
	for (size_t i = 0; i < m->q.nrcpt; i++) {
		struct qrcpt *r = &m->q.rcpt[i];
		if (r->status != QR_FAILED)
			continue;
		r->status = QR_DONE_FAILED;
		qfile_rcpt_update(m->fd, r);
		log_info("%s: to=<%s>, status=%s (%s)", m->id, r->addr,
		    dstat_word(DS_BOUNCE), r->error);
	}
	return 0;
}

/* The success notices due (NOTIFY=SUCCESS), then those recipients are
 * plain QR_SENT. Best effort: a notice that cannot be written is logged
 * and not retried (the mail itself was delivered). */
static void
msg_success(struct msg *m)
{
	size_t i;

	for (i = 0; i < m->q.nrcpt; i++)
		if (m->q.rcpt[i].status == QR_SENT_NOTIFY ||
		    m->q.rcpt[i].status == QR_RELAYED_NOTIFY)
			break;
	if (i == m->q.nrcpt)
		return;
	if (dsn_send(&wk.conf, qq.fd[QD_INCOMING], &m->q, m->fd,
	    DS_SENT) == -1)
		log_error("%s: cannot write success notice", m->id);
	for (; i < m->q.nrcpt; i++) {
		struct qrcpt *r = &m->q.rcpt[i];
		if (r->status != QR_SENT_NOTIFY &&
		    r->status != QR_RELAYED_NOTIFY)
			continue;
		r->status = QR_SENT;
		qfile_rcpt_update(m->fd, r);
	}
}

static void
msg_remove(struct msg *m, const char *how)
{
	if (queue_remove(&qq, QD_ACTIVE, m->id, 0) == -1 && !m->delete)
		log_error("%s: unlink: %s", m->id, strerror(errno));
	active_dirty = 1;
	log_info("%s: removed%s", m->id, how);
	msg_unlink(m);
}

/* Some recipients wait: warn the sender once, set the next try (the
 * file's mtime, which scan() reads) and park it in deferred/ or hold/. */
static void
msg_defer(struct msg *m, time_t t, time_t age, size_t pending)
{
	if (!(m->q.flags & (QF_WARNED | QF_BOUNCE)) && *m->q.sender &&
	    wk.conf.delay_warning && age >= (time_t)wk.conf.delay_warning &&
	    dsn_send(&wk.conf, qq.fd[QD_INCOMING], &m->q, m->fd,
	    DS_DEFER) == 0) {
		m->q.flags |= QF_WARNED;
		log_info("%s: sender delay notification sent", m->id);
	}
	if (m->agent_lost) {
		/* Not the destination's fault (an agent was killed or
		 * restarted): try again soon, without growing the backoff. */
		m->q.next_try = t + 5;
	} else {
		m->q.attempts++;
		m->q.next_try = t + (int64_t)sched_backoff(m->q.attempts,
		    wk.conf.min_backoff, wk.conf.max_backoff, arc4random());
	}
	qfile_info_update(m->fd, &m->q);
	if (fsync(m->fd) == -1)
		log_error("%s: fsync: %s", m->id, strerror(errno));
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = m->q.next_try } };
	futimens(m->fd, ts);
	if (queue_move(&qq, QD_ACTIVE, m->hold ? QD_HOLD : QD_DEFERRED, m->id,
	    QUEUE_NOREPLACE) == -1)
		log_error("%s: cannot move to deferred/: %s", m->id,
		    strerror(errno));
	log_info("%s: deferred, %zu recipient(s) pending, next try in %lld s",
	    m->id, pending, (long long)(m->q.next_try - t));
	msg_unlink(m);
}

/* All jobs are back: bounce, warn, defer or remove. */
static void
msg_finish(struct msg *m)
{
	time_t t = now();
	time_t age = t - (time_t)(m->q.arrival_us / 1000000);
	size_t pending = 0, failed = 0;

	if (m->jobs != 0)
		panic("%s: finished with %d job(s) out", m->id, m->jobs);
	msg_expire(m, age);
	for (size_t i = 0; i < m->q.nrcpt; i++) {
		if (m->q.rcpt[i].status == QR_PENDING)
			pending++;
		else if (m->q.rcpt[i].status == QR_FAILED)
			failed++;
	}
	if (!m->delete)
		msg_success(m);
	if (failed && !m->delete && msg_bounce(m) == -1)
		pending++;	/* keep the file */
	if (m->delete)
		msg_remove(m, " (deleted by the admin)");
	else if (pending == 0)
		msg_remove(m, "");
	else
		msg_defer(m, t, age, pending);
}

/* Admin moves are promises to a person: durable now, never replacing. */
static int
admin_move(const enum qdir *from, size_t n, enum qdir to, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (queue_move(&qq, from[i], to, id,
		    QUEUE_SYNC | QUEUE_NOREPLACE) == 0)
			return 0;
	return -1;
}

/*
 * Queue admin on one ID; returns a static reply text, NULL if not found.
 * release puts a held message in deferred/ due now (scheduled as any
 * retry), the same as `postern queue release` does while qmgr is down.
 */
static const char *
admin(enum proto_req req, const char *id)
{
	static const enum qdir hold_from[] = { QD_INCOMING, QD_DEFERRED };
	static const enum qdir requeue_from[] = { QD_DEFERRED, QD_HOLD };
	static const enum qdir del_from[] = { QD_INCOMING, QD_DEFERRED,
	    QD_HOLD };
	static const enum qdir release_from[] = { QD_HOLD };
	struct msg *m = msg_find(id);

	switch (req) {
	case REQ_HOLD:
		if (m) {
			m->hold = 1;
			return "held (after the delivery in progress)";
		}
		if (admin_move(hold_from, 2, QD_HOLD, id) == -1)
			return NULL;
		return "held";
	case REQ_RELEASE:
		if (admin_move(release_from, 1, QD_DEFERRED, id) == 0) {
			(void)queue_touch(&qq, QD_DEFERRED, id);
			want_deferred = 1;
			sched_unblock();	/* "try it now", as flush */
			return "released";
		}
		if (m && m->hold) {
			m->hold = 0;
			return "released";
		}
		return m ? "active (already being delivered)" : NULL;
	case REQ_REQUEUE:
		if (admin_move(requeue_from, 2, QD_INCOMING, id) == 0) {
			(void)queue_touch(&qq, QD_INCOMING, id);
			want_incoming = 1;
			sched_unblock();	/* "try it now", as flush */
			return "requeued";
		}
		return m ? "active (already being delivered)" : NULL;
	case REQ_DELETE:
		if (m) {
			m->delete = 1;
			return "deleted (after the delivery in progress)";
		}
		for (size_t i = 0; i < 3; i++) {
			if (queue_remove(&qq, del_from[i], id, QUEUE_SYNC) == -1)
				continue;
			log_info("%s: removed (deleted by the admin)", id);
			return "deleted";
		}
		return NULL;
	default:
		panic("queue admin request %d", (int)req);
	}
}

/*
 * A flush: every deferred message, or those a filter picks (made due
 * now). Either way dead destinations are tried again: a flush says "the
 * peer is back". The reply text goes in err when it is not static.
 */
static void
flush_request(const struct ipc_msg *im, struct proto_reply *rep, char *err,
    size_t errlen)
{
	static const char *const what[] = { "", "recipient domain",
	    "sender domain", "queue ID" };
	struct qmgr_flush f;
	int n;

	rep->text = err;
	if (qmgr_flush_decode(im, &f, err, errlen) == -1) {
		rep->ok = 0;
		return;
	}
	want_deferred = 1;
	sched_unblock();
	if (f.by == FLUSH_ALL) {
		flush_all = 1;
		rep->text = "flushing the deferred queue";
		return;
	}
	if ((n = flush_filtered(&qq, &f)) == -1) {
		rep->ok = 0;
		snprintf(err, errlen, "cannot read deferred/");
	} else if (n == 0 && f.by == FLUSH_ID) {
		rep->ok = 0;
		snprintf(err, errlen, msg_find(f.value) ? "active (already "
		    "being delivered)" : "no such deferred message");
	} else
		snprintf(err, errlen, "flushing %d deferred message(s) for "
		    "%s %.120s", n, what[f.by], f.value);	/* in a reply */
	log_info("flush of %s %s: %d deferred message(s) due now",
	    what[f.by], f.value, n);
}

/* One request on the control socket: a trigger (no answer: cleanup does
 * not wait), a flush, or queue admin on one ID. */
static void
control(int lfd)
{
	struct proto_reply rep = { .ok = 1 };
	struct qmgr_admin qa;
	struct ipc_msg im;
	char err[384];	/* a flush names its domain */
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd == -1)
		return;
	ipc_msg_init(&im);
	if (ipc_recv(fd, &im, 2000) == -1)
		goto out;
	if (proto_req_type(&im) == REQ_TRIGGER) {
		want_incoming = 1;
		goto out;
	}
	if (proto_req_type(&im) == REQ_STATS) {
		stats_answer(fd);
		goto out;
	}
	if (proto_req_type(&im) == REQ_FLUSH)
		flush_request(&im, &rep, err, sizeof(err));
	else if (qmgr_admin_decode(&im, &qa, err, sizeof(err)) == -1) {
		rep.ok = 0;
		rep.text = err;
	} else if ((rep.text = (char *)admin(qa.req, qa.id)) == NULL) {
		rep.ok = 0;
		rep.text = "no such message in the queue";
	}
	(void)proto_reply_send(fd, &rep, 2000);
out:
	ipc_msg_free(&im);
	close(fd);
}

/* After a crash, whatever was active goes back through incoming/. */
static void
recover(void)
{
	struct queue_ids l;
	int n = 0;

	if (queue_list(&qq, QD_ACTIVE, &l) == -1)
		fatal("cannot read active/: %s", strerror(errno));
	for (size_t i = 0; i < l.n; i++)
		if (queue_move(&qq, QD_ACTIVE, QD_INCOMING, l.id[i],
		    QUEUE_NOREPLACE) == 0)
			n++;
	queue_ids_free(&l);
	if (n) {
		queue_sync(&qq, QD_INCOMING);
		queue_sync(&qq, QD_ACTIVE);
		log_info("recovered %d message(s) from active/", n);
	}
}

static void
qmgr_init(int argc, char **argv)
{
	struct conf_errors errs = { 0 };
	struct rlimit rl;

	worker_init(&wk, "qmgr", argc, argv);
	stats_init();
	/* One fd per active message plus the agents' connections. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (wk.nlisten != 1)
		fatal("expected one listening socket (start me from postern start)");
	fcntl(wk.listen_fd[0], F_SETFL, O_NONBLOCK);
	if (queue_open(&qq, wk.conf.queue_dir) == -1)
		fatal("cannot open the queue directories of %s: %s",
		    wk.conf.queue_dir, strerror(errno));
	route_init(&router, &wk.conf, &errs);
	conf_errors_free(&errs);
	sched_init(&wk.conf);
	recover();
	/* confined first: Landlock binds only the calling thread and those
	 * it creates afterwards */
	worker_confine(&wk);
	syncer_start(qq.fd[QD_ACTIVE]);
}

/* Scan incoming/ on a trigger or every SCAN_INCOMING s, deferred/ on a
 * flush or every SCAN_DEFERRED s. */
static void
scan_due(time_t t)
{
	static time_t last_in, last_def;
	int full = 0;

	if (backlog && nmsgs < MAX_ACTIVE / 2) {
		backlog = 0;
		want_incoming = want_deferred = 1;
	}
	if (want_incoming || t - last_in >= SCAN_INCOMING) {
		want_incoming = 0;
		last_in = t;
		scan(QD_INCOMING, 0);
		full = backlog;
	}
	if (want_deferred || t - last_def >= SCAN_DEFERRED) {
		want_deferred = 0;
		last_def = t;
		backlog = 0;
		scan(QD_DEFERRED, !flush_all);
		if (!backlog)		/* a flush goes on after a full scan */
			flush_all = 0;
		/* incoming/ left files behind too: come back for them as
		 * soon as there is room, not at the next timer */
		backlog |= full;
	}
}

/* Wait up to a second for the control socket and the agents; time out
 * jobs that ran too long. */
static void
wait_events(time_t t)
{
	struct pollfd pfd[MAX_JOBS + 1];
	int slot[MAX_JOBS + 1];
	nfds_t n = 0;

	pfd[n].fd = wk.listen_fd[0];
	pfd[n].events = POLLIN;
	slot[n++] = -1;
	for (int k = 0; k < MAX_JOBS; k++) {
		struct job *j = sched_slot(k);

		if (j == NULL)
			continue;
		if (t - j->started > JOB_TIMEOUT) {
			job_end(k, "4.4.7 delivery timed out");
			continue;
		}
		pfd[n].fd = j->fd;
		pfd[n].events = POLLIN;
		slot[n++] = k;
	}
	sync_dirs();
	if (poll(pfd, n, 1000) <= 0)
		return;
	for (nfds_t i = 0; i < n; i++) {
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (slot[i] == -1)
			control(pfd[i].fd);
		else if (sched_slot(slot[i]))
			job_input(slot[i]);
	}
}

int
main(int argc, char **argv)
{
	time_t stop_deadline = 0;

	qmgr_init(argc, argv);
	for (;;) {
		time_t t = now();

		if (worker_stop) {
			/* Let deliveries in flight report back, for a while. */
			if (stop_deadline == 0)
				stop_deadline = t + 20;
			if (jobs_running() == 0 || t >= stop_deadline)
				break;
		} else {
			agentconn_expire(t);
			scan_due(t);
			sched_dispatch(job_start, job_suspend);
			worker_rest(nmsgs > 0 || jobs_running() > 0);
		}
		wait_events(t);
	}
	/* Stop: jobs in flight are left to their agents; the files stay in
	 * active/ and go back through incoming/ at the next start. */
	syncer_flush();
	log_info("stopping with %zu message(s) active", nmsgs);
	return 0;
}
