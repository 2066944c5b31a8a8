/*
 * svc: master's table of services and their processes, shared by
 * master.c (start, reap, reload) and ondemand.c (pools that grow with
 * load and shrink when idle). Internal to master/.
 */
#ifndef POSTERN_SVC_H
#define POSTERN_SVC_H

#include <sys/types.h>

#include <poll.h>
#include <time.h>

#include "master.h"
#include "pool.h"

#define MAX_PROCS	64

struct proc {
	pid_t	 pid;
	time_t	 started;
	int	 status_fd;	/* read end of its status pipe, or -1 */
	char	 state;		/* last PROC_STATUS_*; 0: starting */
	time_t	 idle_since;	/* when it last reported idle */
	int	 retiring;	/* asked to exit (idle); not a death */
};

struct service {
	char		 name[32];
	char		 prog[16];
	int		 fds[CHILD_MAX_FDS];
	int		 nfds;
	unsigned	 count;		/* wanted: the pool's maximum */
	unsigned	 min;		/* on demand: kept at rest */
	int		 ondemand;	/* grows with load, shrinks */
	enum pool_pending pending;	/* a connection waits (on demand) */
	int		 was_readable;	/* at the previous tick */
	int		 drop;		/* drop to user/group before exec */
	int		 single;	/* never two at once (qmgr) */
	int		 keep;		/* not restarted by a reload (anvil) */
	const struct transport *transport;	/* NULL: not a transport */
	struct proc	 proc[MAX_PROCS];
	unsigned	 fails;		/* quick deaths in a row */
	unsigned long	 restarts;	/* deaths restarted, since start */
	time_t		 hold_until;	/* backoff */
};

/* Where a pollfd of od_pollset() comes from. */
struct od_ref {
	struct service	*s;
	int		 slot;		/* a status pipe; -1: socket */
};

/* ondemand.c */
struct pool_view od_view(const struct service *);
/* The status pipes and the sockets of the services master watches
 * into pfd[max] (ref says whose); how many. */
int	 od_pollset(struct service *, int nsvc, struct pollfd *,
	    struct od_ref *, int max);
/* What poll() found in them: statuses read, connections waiting. */
void	 od_events(const struct pollfd *, const struct od_ref *, int n);
/* Once a second: a connection waiting two ticks in a row although some
 * process reports idle, and idle processes past max_idle (SIGUSR1:
 * they exit between connections, never in one). */
void	 od_tick(struct service *, int nsvc, time_t now, time_t max_idle);
/* A process of s is gone (reaped or moved to the old generation). */
void	 od_forget(struct proc *);

#endif
