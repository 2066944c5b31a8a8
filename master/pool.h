/*
 * pool: the arithmetic of an on-demand worker pool (docs/internals.md,
 * section 2): how many processes master starts now, whether it watches
 * the service's sockets, whether an idle process retires. Pure functions
 * of master's view; they never touch a process or a socket.
 */
#ifndef POSTERN_POOL_H
#define POSTERN_POOL_H

#include <time.h>

/* A connection waits on the service's socket, accepted by no one. */
enum pool_pending {
	POOL_NONE,	/* nothing waits (or master does not look) */
	POOL_WAITING,	/* readable now */
	POOL_STUCK	/* readable at two ticks in a row */
};

/* Master's view of one service. */
struct pool_view {
	unsigned		 min;	/* kept running at rest */
	unsigned		 max;	/* the configured pool size */
	unsigned		 alive;	/* running and not retiring */
	unsigned		 idle;	/* of those: starting, or
					   waiting for a connection */
	enum pool_pending	 pending;
};

/* How many processes to start now: up to min, and one more for a
 * connection no process is waiting for (or one that waits too long
 * while some report idle); never past max. */
unsigned pool_spawn(const struct pool_view *);
/* 1 when master polls the sockets: no process waits, there is room. */
int	 pool_watch(const struct pool_view *);
/* 1 when a process idle since `since` retires at `now`: idle at least
 * max_idle seconds and more than min alive. */
int	 pool_retire(const struct pool_view *, time_t since, time_t now,
	    time_t max_idle);

#endif
