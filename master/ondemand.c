/*
 * ondemand: master's side of the pools that start small, grow with load
 * and retire idle processes (docs/internals.md, section 2). Each pooled
 * process reports idle or busy on a pipe of its own; a service with no
 * idle process has its sockets watched, and a connection there starts
 * one more. It never reads from a socket it watches: a connection is
 * only ever accepted, and served, by a worker.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "svc.h"

static int
proc_idle(const struct proc *p)
{
	return p->state == 0 || p->state == PROC_STATUS_IDLE;
}

struct pool_view
od_view(const struct service *s)
{
	struct pool_view v = { .min = s->min, .max = s->count,
	    .pending = s->pending };

	for (unsigned k = 0; k < MAX_PROCS; k++) {
		const struct proc *p = &s->proc[k];

		if (p->pid <= 0 || p->retiring)
			continue;
		v.alive++;
		if (proc_idle(p))
			v.idle++;
	}
	return v;
}

int
od_pollset(struct service *svc, int nsvc, struct pollfd *pfd,
    struct od_ref *ref, int max)
{
	int n = 0;

	for (int i = 0; i < nsvc; i++) {
		struct service *s = &svc[i];
		struct pool_view v;

		if (!s->ondemand)
			continue;
		for (int k = 0; k < MAX_PROCS && n < max; k++)
			if (s->proc[k].pid > 0 && s->proc[k].status_fd != -1) {
				pfd[n] = (struct pollfd){ .fd =
				    s->proc[k].status_fd, .events = POLLIN };
				ref[n++] = (struct od_ref){ s, k };
			}
		v = od_view(s);
		if (!pool_watch(&v))
			continue;
		for (int k = 0; k < s->nfds && n < max; k++) {
			pfd[n] = (struct pollfd){ .fd = s->fds[k],
			    .events = POLLIN };
			ref[n++] = (struct od_ref){ s, -1 };
		}
	}
	return n;
}

/* The states a process wrote since the last read; the last one counts. */
static void
status_read(struct proc *p)
{
	char b[64];
	ssize_t r;

	while ((r = read(p->status_fd, b, sizeof(b))) > 0) {
		char st = b[r - 1];

		if (st != PROC_STATUS_IDLE && st != PROC_STATUS_BUSY)
			continue;	/* not ours to believe */
		if (st == PROC_STATUS_IDLE && p->state != PROC_STATUS_IDLE)
			p->idle_since = time(NULL);
		p->state = st;
	}
	if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
		close(p->status_fd);	/* it exited: reap() has the rest */
		p->status_fd = -1;
		p->state = PROC_STATUS_BUSY;
	}
}

void
od_events(const struct pollfd *pfd, const struct od_ref *ref, int n)
{
	for (int i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (ref[i].slot >= 0) {
			struct proc *p = &ref[i].s->proc[ref[i].slot];

			if (p->status_fd == pfd[i].fd)
				status_read(p);
		} else if (pfd[i].revents & POLLIN &&
		    ref[i].s->pending == POOL_NONE)
			ref[i].s->pending = POOL_WAITING;
	}
}

/* A connection on s's sockets that no one has taken, this instant. */
static int
readable(const struct service *s)
{
	struct pollfd pfd[CHILD_MAX_FDS];

	for (int k = 0; k < s->nfds; k++)
		pfd[k] = (struct pollfd){ .fd = s->fds[k], .events = POLLIN };
	return poll(pfd, (nfds_t)s->nfds, 0) > 0;
}

void
od_tick(struct service *svc, int nsvc, time_t now, time_t max_idle)
{
	for (int i = 0; i < nsvc; i++) {
		struct service *s = &svc[i];
		struct pool_view v;
		int r;

		if (!s->ondemand)
			continue;
		v = od_view(s);
		/* Missed wake-ups: pending although someone is idle. */
		r = v.idle > 0 && readable(s);
		if (r && s->was_readable)
			s->pending = POOL_STUCK;
		s->was_readable = r;
		for (unsigned k = 0; k < MAX_PROCS; k++) {
			struct proc *p = &s->proc[k];

			if (p->pid <= 0 || p->retiring ||
			    p->state != PROC_STATUS_IDLE ||
			    !pool_retire(&v, p->idle_since, now, max_idle))
				continue;
			log_debug("%s (pid %ld) idle for %lld s: retiring",
			    s->name, (long)p->pid,
			    (long long)(now - p->idle_since));
			kill(p->pid, SIGUSR1);
			p->retiring = 1;
			v.alive--;
			v.idle--;
		}
	}
}

void
od_forget(struct proc *p)
{
	if (p->status_fd != -1)
		close(p->status_fd);
	p->status_fd = -1;
	p->state = 0;
	p->retiring = 0;
}
