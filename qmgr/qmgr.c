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
#include "qfile.h"
#include "worker.h"
#include "dsn.h"
#include "conf.h"
#include "route.h"

#define MAX_ACTIVE	500	/* each holds an open fd */
#define MAX_JOBS	64
#define JOB_TIMEOUT	(30 * 60)
#define SCAN_INCOMING	5	/* seconds between scans without a trigger */
#define SCAN_DEFERRED	10

struct msg {
	struct msg	*next;
	char		 id[QID_LEN + 1];
	int		 fd;		/* active/ID, read-write */
	struct qfile	 q;
	int		 jobs;		/* outstanding jobs */
	int		 hold, delete;	/* admin asked while active */
	int		 agent_lost;	/* an agent went away without answering */
};

struct job {
	struct job	*next;		/* in the wait list */
	struct msg	*m;
	size_t		 t;		/* transport_at(t) */
	char		*nexthop;
	size_t		*idx;
	size_t		 nidx;
	char		*replied;	/* per idx */
	int		 fd;
	struct buf	 in;
	time_t		 started;
};

static struct worker	 wk;
static struct msg	*msgs;
static size_t		 nmsgs;
static struct job	*waitq[TRANSPORT_MAX], **waitq_tail[TRANSPORT_MAX];
static struct job	*running[MAX_JOBS];
static unsigned		 nrunning[TRANSPORT_MAX], limit[TRANSPORT_MAX];
static unsigned		 dest_limit[TRANSPORT_MAX];	/* 0: none */
static time_t		 blocked_until[TRANSPORT_MAX];
static int		 dirfd_in, dirfd_act, dirfd_def, dirfd_hold, dirfd_bad;
static struct router	 router;
static int		 want_incoming = 1, want_deferred = 1, flush_all;
static int		 backlog;	/* a scan stopped at MAX_ACTIVE */

static time_t
now(void)
{
	return time(NULL);
}

static int
open_dir(const char *rel)
{
	char path[512];
	int fd;

	queue_path(&wk.conf, rel, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("open %s: %s", path, strerror(errno));
	return fd;
}

/*
 * Renames between queue dirs are not fsync'd one by one: the file itself
 * is durable, and a rename lost in a crash only sends the message around
 * once more (active/ is swept back to incoming/ at start). Removals are
 * made durable in one fsync of active/ per loop (sync_dirs()).
 */
static int	 active_dirty;

static int
qmove(int from, int to, const char *id)
{
	return renameat(from, id, to, id);
}

/* Admin moves are promises to a person: make them durable now. */
static int
qmove_sync(int from, int to, const char *id)
{
	if (renameat(from, id, to, id) == -1)
		return -1;
	fsync(to);
	fsync(from);
	return 0;
}

static void
sync_dirs(void)
{
	if (active_dirty) {
		fsync(dirfd_act);
		active_dirty = 0;
	}
}

static void
to_corrupt(int from, const char *id, const char *why)
{
	log_warn("%s: corrupt queue file moved to corrupt/: %s", id, why);
	if (qmove(from, dirfd_bad, id) == -1)
		log_error("%s: cannot move to corrupt/: %s", id, strerror(errno));
}

static void
job_enqueue(struct job *j)
{
	j->next = NULL;
	*waitq_tail[j->t] = j;
	waitq_tail[j->t] = &j->next;
	j->m->jobs++;
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

		if (r->status != QR_PENDING)
			continue;
		if (route_resolve(&router, r->addr, &rt, NULL, NULL) == -1)
			panic("%s: no route for <%s>: longer than a queue file "
			    "allows", m->id, r->addr);
		t = transport_index(rt.transport);
		nh = rt.nexthop;
		for (size_t k = 0; k < nj; k++)
			if (jl[k]->t == t && strcasecmp(jl[k]->nexthop, nh) == 0)
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

/* Load active/ID and schedule it. The file is already in active/. */
static void
msg_load(const char *id)
{
	char err[256];
	struct msg *m;
	int fd;

	fd = openat(dirfd_act, id, O_RDWR | O_CLOEXEC);
	if (fd == -1 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM)) {
		/* Our limit, not the file's fault: put it back for later. */
		log_warn("%s: open: %s; leaving it in incoming/", id,
		    strerror(errno));
		renameat(dirfd_act, id, dirfd_in, id);
		return;
	}
	if (fd == -1) {
		/* Not ours to read (wrong owner, not a file): quarantine. */
		char why[128];
		snprintf(why, sizeof(why), "open: %s", strerror(errno));
		to_corrupt(dirfd_act, id, why);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	memcpy(m->id, id, QID_LEN + 1);
	m->fd = fd;
	if (qfile_read(fd, &m->q, err, sizeof(err)) == -1) {
		qfile_free(&m->q);
		close(fd);
		free(m);
		to_corrupt(dirfd_act, id, err);
		return;
	}
	m->next = msgs;
	msgs = m;
	nmsgs++;
	if (m->q.attempts == 0)
		log_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)",
		    id, m->q.sender, (long long)m->q.size, m->q.nrcpt);
	msg_schedule(m);
	if (m->jobs == 0)
		msg_finish(m);
}

/* Move every due file of dir into active/ and load it. */
static void
scan(int dirfd, int due_only)
{
	int dfd = dup(dirfd);
	DIR *d;
	struct dirent *de;
	struct stat st;
	time_t t = now();

	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (nmsgs >= MAX_ACTIVE) {
			/* Come back as soon as there is room, not at the
			 * next timer: the triggers for these are spent. */
			backlog = 1;
			break;
		}
		if (!qid_valid(de->d_name))
			continue;
		if (due_only && (fstatat(dirfd, de->d_name, &st, 0) == -1 ||
		    st.st_mtime > t))
			continue;
		if (renameat(dirfd, de->d_name, dirfd_act, de->d_name) == -1)
			continue;
		msg_load(de->d_name);
	}
	closedir(d);
}

static int
job_start(struct job *j)
{
	char path[512];
	struct buf b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", wk.conf.queue_dir,
	    transport_at(j->t)->socket);
	if ((fd = ipc_connect(path)) == -1)
		return -1;
	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "deliver");
	ipc_add_str(&b, "queue_id", j->m->id);
	ipc_add_str(&b, "dir", QDIR_ACTIVE);
	ipc_add_str(&b, "nexthop", j->nexthop);
	for (size_t i = 0; i < j->nidx; i++)
		ipc_add_num(&b, "rcpt", (long long)j->idx[i]);
	ipc_end(&b);
	if (ipc_send(fd, &b, 5000) == -1) {
		buf_free(&b);
		close(fd);
		return -1;
	}
	buf_free(&b);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	j->fd = fd;
	j->started = now();
	return 0;
}

/*
 * A job's destination, for the transport's per-destination limit
 * (conf/transport.c): its first recipient (a mailbox, whose lock the
 * deliveries take in turn) or its next hop.
 */
static const char *
job_dest(const struct job *j)
{
	if (transport_at(j->t)->dest == TDEST_NEXTHOP)
		return j->nexthop;
	return j->m->q.rcpt[j->idx[0]].addr;
}

static int
dest_busy(const struct job *j)
{
	unsigned n = 0;

	if (dest_limit[j->t] == 0)
		return 0;
	for (int k = 0; k < MAX_JOBS; k++)
		if (running[k] && running[k]->t == j->t &&
		    strcasecmp(job_dest(running[k]), job_dest(j)) == 0)
			n++;
	return n >= dest_limit[j->t];
}

/* The first waiting job of transport tr that may start now, unlinked. */
static struct job *
job_next(size_t tr)
{
	struct job **pp;
	int looked = 0;

	for (pp = &waitq[tr]; *pp && looked < 1000; pp = &(*pp)->next, looked++) {
		struct job *j = *pp;
		if (dest_busy(j))
			continue;
		*pp = j->next;
		if (*pp == NULL)
			waitq_tail[tr] = pp;
		return j;
	}
	return NULL;
}

static void
job_requeue_front(size_t tr, struct job *j)
{
	j->next = waitq[tr];
	waitq[tr] = j;
	if (j->next == NULL)
		waitq_tail[tr] = &j->next;
}

static void
dispatch(void)
{
	time_t t = now();

	for (size_t tr = 0; tr < transport_count(); tr++) {
		while (waitq[tr] && nrunning[tr] < limit[tr] &&
		    blocked_until[tr] <= t) {
			struct job *j = job_next(tr);
			if (j == NULL)
				break;		/* all waiting on busy mailboxes */
			if (job_start(j) == -1) {
				log_warn("cannot reach the %s agent: %s; "
				    "retrying", transport_at(tr)->name,
				    strerror(errno));
				blocked_until[tr] = t + 1;
				job_requeue_front(tr, j);
				break;
			}
			for (int k = 0; k < MAX_JOBS; k++)
				if (running[k] == NULL) {
					running[k] = j;
					break;
				}
			nrunning[tr]++;
		}
	}
}

static void
set_error(struct qrcpt *r, int code, const char *text)
{
	r->code = code;
	strlcpy(r->error, text, sizeof(r->error));
}

/* One reply frame from an agent. Returns 1 when the job is done. */
static int
job_reply(struct job *j, struct ipc_msg *im)
{
	long long idx, code = 0;
	char *status, *text;
	size_t k;

	if (ipc_is(im, "req", "done"))
		return 1;
	if (ipc_get_num(im, "rcpt", &idx) == -1)
		return -1;
	for (k = 0; k < j->nidx; k++)
		if ((long long)j->idx[k] == idx)
			break;
	if (k == j->nidx || j->replied[k])
		return -1;
	status = ipc_get_str(im, "status");
	text = ipc_get_str(im, "text");
	(void)ipc_get_num(im, "code", &code);
	if (code < 0 || code > 999)
		code = 0;
	struct qrcpt *r = &j->m->q.rcpt[idx];
	j->replied[k] = 1;
	if (status && strcmp(status, "sent") == 0) {
		r->status = QR_SENT;
		set_error(r, (int)code, "");
	} else if (status && strcmp(status, "bounce") == 0) {
		r->status = QR_FAILED;
		set_error(r, (int)code, text ? text : "5.0.0 delivery failed");
	} else {
		set_error(r, (int)code, text ? text : "4.0.0 delivery deferred");
	}
	if (qfile_rcpt_update(j->m->fd, r) == -1)
		log_error("%s: cannot update recipient: %s", j->m->id,
		    strerror(errno));
	free(status);
	free(text);
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

static void
job_end(int slot, const char *why)
{
	struct job *j = running[slot];
	struct msg *m = j->m;

	for (size_t k = 0; k < j->nidx; k++) {
		if (j->replied[k])
			continue;
		struct qrcpt *r = &m->q.rcpt[j->idx[k]];
		set_error(r, 0, why ? why : "4.3.0 delivery agent gave no answer");
		m->agent_lost = 1;
		qfile_rcpt_update(m->fd, r);
		log_warn("%s: to=<%s>, status=deferred (%s)", m->id, r->addr,
		    r->error);
	}
	running[slot] = NULL;
	nrunning[j->t]--;
	job_free(j);
	if (--m->jobs == 0)
		msg_finish(m);
}

static void
job_input(int slot)
{
	struct job *j = running[slot];
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

	for (pp = &msgs; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	nmsgs--;
	close(m->fd);
	qfile_free(&m->q);
	free(m);
}

static uint64_t
backoff(uint32_t attempts)
{
	uint64_t d = wk.conf.min_backoff;

	for (uint32_t i = 1; i < attempts && d < wk.conf.max_backoff; i++)
		d *= 2;
	if (d > wk.conf.max_backoff)
		d = wk.conf.max_backoff;
	/* Jitter: somewhere in [d/2, d], so retries of a burst spread out. */
	return d / 2 + (uint64_t)arc4random_uniform((uint32_t)(d / 2 + 1));
}

/* All jobs are back: bounce, warn, defer or remove. */
static void
msg_finish(struct msg *m)
{
	time_t t = now();
	time_t age = t - (time_t)(m->q.arrival_us / 1000000);
	size_t pending = 0, failed = 0;

	for (size_t i = 0; i < m->q.nrcpt; i++) {
		struct qrcpt *r = &m->q.rcpt[i];
		if (r->status == QR_PENDING && age >= (time_t)wk.conf.queue_lifetime) {
			char why[2 * QF_ERR_LEN];
			snprintf(why, sizeof(why), "5.4.7 message expired after "
			    "%lld s in the queue: %s", (long long)age,
			    r->error[0] ? r->error : "not delivered");
			r->status = QR_FAILED;
			set_error(r, r->code, why);
			qfile_rcpt_update(m->fd, r);
		}
		if (r->status == QR_PENDING)
			pending++;
		else if (r->status == QR_FAILED)
			failed++;
	}
	if (failed && !m->delete) {
		if (dsn_send(&wk.conf, dirfd_in, &m->q, m->fd, DSN_FAILED) == 0) {
			for (size_t i = 0; i < m->q.nrcpt; i++) {
				struct qrcpt *r = &m->q.rcpt[i];
				if (r->status != QR_FAILED)
					continue;
				r->status = QR_DONE_FAILED;
				qfile_rcpt_update(m->fd, r);
				log_info("%s: to=<%s>, status=bounced (%s)", m->id,
				    r->addr, r->error);
			}
		} else {
			log_error("%s: cannot write bounce; will retry", m->id);
			pending++;	/* keep the file */
		}
	}
	if (m->delete) {
		unlinkat(dirfd_act, m->id, 0);
		active_dirty = 1;
		log_info("%s: removed (deleted by the admin)", m->id);
		msg_unlink(m);
		return;
	}
	if (pending == 0) {
		if (unlinkat(dirfd_act, m->id, 0) == -1)
			log_error("%s: unlink: %s", m->id, strerror(errno));
		active_dirty = 1;
		log_info("%s: removed", m->id);
		msg_unlink(m);
		return;
	}
	if (!(m->q.flags & (QF_WARNED | QF_BOUNCE)) && *m->q.sender &&
	    wk.conf.delay_warning && age >= (time_t)wk.conf.delay_warning) {
		if (dsn_send(&wk.conf, dirfd_in, &m->q, m->fd, DSN_DELAYED) == 0) {
			m->q.flags |= QF_WARNED;
			log_info("%s: sender delay notification sent", m->id);
		}
	}
	if (m->agent_lost) {
		/* Not the destination's fault (an agent was killed or
		 * restarted): try again soon, without growing the backoff. */
		m->q.next_try = t + 5;
	} else {
		m->q.attempts++;
		m->q.next_try = t + (int64_t)backoff(m->q.attempts);
	}
	qfile_info_update(m->fd, &m->q);
	if (fsync(m->fd) == -1)
		log_error("%s: fsync: %s", m->id, strerror(errno));
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = m->q.next_try } };
	futimens(m->fd, ts);
	if (qmove(dirfd_act, m->hold ? dirfd_hold : dirfd_def, m->id) == -1)
		log_error("%s: cannot move to deferred/: %s", m->id,
		    strerror(errno));
	log_info("%s: deferred, %zu recipient(s) pending, next try in %lld s",
	    m->id, pending, (long long)(m->q.next_try - t));
	msg_unlink(m);
}

static struct msg *
msg_find(const char *id)
{
	for (struct msg *m = msgs; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* Queue admin on one ID; returns a static reply text. */
static const char *
admin(const char *req, const char *id)
{
	int from[3] = { dirfd_in, dirfd_def, dirfd_hold };
	struct msg *m = msg_find(id);
	struct timespec ts[2] = { { .tv_nsec = UTIME_NOW }, { .tv_nsec = UTIME_NOW } };

	if (strcmp(req, "hold") == 0) {
		if (m) {
			m->hold = 1;
			return "held (after the delivery in progress)";
		}
		for (int i = 0; i < 2; i++)
			if (qmove_sync(from[i], dirfd_hold, id) == 0)
				return "held";
		return NULL;
	}
	if (strcmp(req, "release") == 0 || strcmp(req, "requeue") == 0) {
		int n = strcmp(req, "release") == 0 ? 1 : 2;
		for (int i = 3 - n; i < 3; i++) {
			if (qmove_sync(from[i], dirfd_in, id) == 0) {
				utimensat(dirfd_in, id, ts, 0);
				want_incoming = 1;
				return n == 1 ? "released" : "requeued";
			}
		}
		if (m)
			return "active (already being delivered)";
		return NULL;
	}
	if (strcmp(req, "delete") == 0) {
		if (m) {
			m->delete = 1;
			return "deleted (after the delivery in progress)";
		}
		for (int i = 0; i < 3; i++)
			if (unlinkat(from[i], id, 0) == 0) {
				fsync(from[i]);
				log_info("%s: removed (deleted by the admin)", id);
				return "deleted";
			}
		return NULL;
	}
	return NULL;
}

static void
control(int lfd)
{
	struct ipc_msg im;
	struct buf b;
	char *req = NULL, *id = NULL;
	const char *res = "ok", *st = "ok";
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd == -1)
		return;
	ipc_msg_init(&im);
	if (ipc_recv(fd, &im, 2000) == -1 || (req = ipc_get_str(&im, "req")) == NULL)
		goto out;
	if (strcmp(req, "trigger") == 0) {
		want_incoming = 1;
		goto out;	/* no answer: cleanup does not wait */
	} else if (strcmp(req, "flush") == 0) {
		want_deferred = 1;
		flush_all = 1;
		memset(blocked_until, 0, sizeof(blocked_until));
		res = "flushing the deferred queue";
	} else if ((id = ipc_get_str(&im, "id")) == NULL || !qid_valid(id)) {
		st = "error";
		res = "bad or missing queue ID";
	} else if ((res = admin(req, id)) == NULL) {
		st = "error";
		res = "no such message in the queue";
	}
	buf_init(&b, 4096);
	ipc_begin(&b);
	ipc_add_str(&b, "status", st);
	ipc_add_str(&b, "text", res);
	ipc_end(&b);
	ipc_send(fd, &b, 2000);
	buf_free(&b);
out:
	free(req);
	free(id);
	ipc_msg_free(&im);
	close(fd);
}

/*
 * Per-transport limits from the transport table: a transport's jobs at
 * once are its pool size; together they fit in MAX_JOBS (table order
 * first, at least one each).
 */
static void
transports_init(void)
{
	unsigned used = 0;

	for (size_t t = 0; t < transport_count(); t++) {
		const struct transport *tr = transport_at(t);
		unsigned room = MAX_JOBS - used;

		if (room > transport_count() - t)
			room -= (unsigned)(transport_count() - t - 1);
		else
			room = 1;
		limit[t] = transport_processes(tr, &wk.conf);
		if (limit[t] > room)
			limit[t] = room;
		used += limit[t];
		dest_limit[t] = transport_dest_limit(tr, &wk.conf);
		waitq_tail[t] = &waitq[t];
	}
}

static unsigned
jobs_running(void)
{
	unsigned n = 0;

	for (size_t t = 0; t < transport_count(); t++)
		n += nrunning[t];
	return n;
}

/* After a crash, whatever was active goes back through incoming/. */
static void
recover(void)
{
	int dfd = dup(dirfd_act);
	DIR *d = dfd == -1 ? NULL : fdopendir(dfd);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		fatal("cannot read active/");
	while ((de = readdir(d)) != NULL)
		if (qid_valid(de->d_name) &&
		    renameat(dirfd_act, de->d_name, dirfd_in, de->d_name) == 0)
			n++;
	closedir(d);
	if (n) {
		fsync(dirfd_in);
		fsync(dirfd_act);
		log_info("recovered %d message(s) from active/", n);
	}
}

int
main(int argc, char **argv)
{
	struct conf_errors errs = { 0 };
	struct pollfd pfd[MAX_JOBS + 1];
	int slot[MAX_JOBS + 1];
	time_t last_in = 0, last_def = 0, stop_deadline = 0;

	worker_init(&wk, "qmgr", argc, argv);
	{
		/* One fd per active message plus the agents' connections. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (wk.nlisten != 1)
		fatal("expected one listening socket (start me from postern start)");
	fcntl(wk.listen_fd[0], F_SETFL, O_NONBLOCK);
	dirfd_in = open_dir(QDIR_INCOMING);
	dirfd_act = open_dir(QDIR_ACTIVE);
	dirfd_def = open_dir(QDIR_DEFERRED);
	dirfd_hold = open_dir(QDIR_HOLD);
	dirfd_bad = open_dir(QDIR_CORRUPT);
	route_init(&router, &wk.conf, &errs);
	conf_errors_free(&errs);
	transports_init();
	recover();

	for (;;) {
		time_t t = now();
		nfds_t n = 0;

		if (worker_stop) {
			/* Let deliveries in flight report back, for a while. */
			if (stop_deadline == 0)
				stop_deadline = t + 20;
			if (jobs_running() == 0 || t >= stop_deadline)
				break;
			goto wait;
		}
		if (backlog && nmsgs < MAX_ACTIVE / 2) {
			backlog = 0;
			want_incoming = want_deferred = 1;
		}
		if (want_incoming || t - last_in >= SCAN_INCOMING) {
			want_incoming = 0;
			last_in = t;
			scan(dirfd_in, 0);
		}
		if (want_deferred || t - last_def >= SCAN_DEFERRED) {
			want_deferred = 0;
			last_def = t;
			backlog = 0;
			scan(dirfd_def, !flush_all);
			if (!backlog)		/* a flush goes on after a full scan */
				flush_all = 0;
		}
		dispatch();
wait:
		pfd[n].fd = wk.listen_fd[0];
		pfd[n].events = POLLIN;
		slot[n++] = -1;
		for (int k = 0; k < MAX_JOBS; k++) {
			if (running[k] == NULL)
				continue;
			if (t - running[k]->started > JOB_TIMEOUT) {
				job_end(k, "4.4.7 delivery timed out");
				continue;
			}
			pfd[n].fd = running[k]->fd;
			pfd[n].events = POLLIN;
			slot[n++] = k;
		}
		sync_dirs();
		if (poll(pfd, n, 1000) <= 0)
			continue;
		for (nfds_t i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (slot[i] == -1)
				control(pfd[i].fd);
			else if (running[slot[i]])
				job_input(slot[i]);
		}
	}
	/* Stop: jobs in flight are left to their agents; the files stay in
	 * active/ and go back through incoming/ at the next start. */
	sync_dirs();
	log_info("stopping with %zu message(s) active", nmsgs);
	return 0;
}
