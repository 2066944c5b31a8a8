/*
 * sched: qmgr's scheduler state: the messages in active/ and their jobs,
 * a waiting queue per transport, the running slots and the
 * per-destination limit. Pure bookkeeping: never opens a queue file or
 * talks to an agent (qmgr.c does, through the start hook).
 */
#ifndef POSTERN_SCHED_H
#define POSTERN_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "dest.h"
#include "qfile.h"

#define MAX_JOBS	64

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
	int		 tls;		/* -1, or transport_map's tls= */
	size_t		*idx;
	size_t		 nidx;
	char		*replied;	/* per idx */
	int		 fd;
	struct buf	 in;
	time_t		 started;
	struct dest	*dest;		/* its destination's window */
	int		 conn_fail;	/* an answer was conn_fail */
	struct dstatus	 conn_why;	/* that answer */
};

/* Limits from the transport table and the config. */
void		 sched_init(const struct conf *);
/* Append a job to its transport's waiting queue. */
void		 job_enqueue(struct job *);
/* Start what may start now: start(j) is 0 when the job went to its
 * agent, -1 (errno set) when the agent cannot be reached. A job of a dead
 * destination goes to suspend(j, why) instead (its recipients wait, with
 * why, the destination's last failure), out of the scheduler's hands. */
void		 sched_dispatch(int (*start)(struct job *),
		    void (*suspend)(struct job *, const struct dstatus *));
/* The running job in slot k (0 <= k < MAX_JOBS), or NULL. */
struct job	*sched_slot(int k);
/* Slot k's job is over: the slot is free again, and what the job said
 * about its destination (why: the failure, for DF_FAIL) moves its window. */
void		 sched_release(int k, enum dest_feedback,
		    const struct dstatus *why);
unsigned	 jobs_running(void);
/* A flush: forget the pauses after an agent could not be reached, and
 * try dead destinations again now. */
void		 sched_unblock(void);
/* Seconds from a message's attempts-th failed try to its next: at least
 * min (doubling per attempt), at most max, jittered upward by rnd. */
uint64_t	 sched_backoff(uint32_t attempts, uint64_t min, uint64_t max,
		    uint32_t rnd);

#endif
