/*
 * dest: qmgr's per-destination concurrency window (slow start, back-off
 * on connection failures, dead destinations), as Postfix's destination
 * concurrency scheduler does. Pure bookkeeping on in-memory counters:
 * never opens anything, never talks to an agent.
 */
#ifndef POSTERN_DEST_H
#define POSTERN_DEST_H

#include <stddef.h>
#include <time.h>

#include "proto.h"

/* One destination of one transport: a next hop, or a mailbox. */
struct dest {
	struct dest	*next;		/* hash chain */
	size_t		 t;		/* transport_at(t) */
	char		*name;
	unsigned	 window;	/* deliveries at once allowed now */
	unsigned	 busy;		/* jobs running */
	unsigned	 waiting;	/* jobs in the waiting queue */
	unsigned	 fails;		/* connection failures in a row */
	unsigned	 cohort;	/* the window when they began */
	time_t		 dead_until;	/* 0: alive */
	int		 probing;	/* back from dead, no success yet */
	time_t		 idle_since;	/* busy + waiting fell to 0 */
	struct dstatus	 why;		/* the last connection failure */
};

/* What one finished job says about its destination. */
enum dest_feedback {
	DF_NONE,	/* nothing (the agent went away) */
	DF_OK,		/* a delivery without connection failure */
	DF_FAIL,	/* the next hop could not be reached or refused us */
};

/* What may happen to a destination's next job. */
enum dest_state { DEST_GO, DEST_FULL, DEST_DEAD };

/* Transport t's windows start at initial and grow up to ceiling (both
 * >= 1); a dead destination rests for dead_time seconds. */
void		 dest_setup(size_t t, unsigned initial, unsigned ceiling,
		    time_t dead_time);
/* The destination name of transport t, made if new (case-insensitive). */
struct dest	*dest_get(size_t t, const char *name);
/* GO, FULL (the window is full) or DEAD (its mail waits, without a try). */
enum dest_state	 dest_state(struct dest *, time_t now);
/* A finished job's feedback: the window grows, shrinks or dies. */
void		 dest_feedback(struct dest *, enum dest_feedback,
		    const struct dstatus *why, time_t now);
/* Destinations no job holds and with nothing to remember are freed. */
void		 dest_expire(time_t now);
/* A flush: every dead destination may be tried again now. */
void		 dest_revive_all(time_t now);
/* How many destinations are known (tests). */
size_t		 dest_count(void);

#endif
