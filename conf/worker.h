/*
 * worker: the start-up contract every worker shares with master
 * (docs/internals.md): argv "-c CONF [-s SERVICE]", listening fds from 3,
 * POSTERN_LISTEN_FDS, SIGTERM = finish and exit.
 */
#ifndef POSTERN_WORKER_H
#define POSTERN_WORKER_H

#include <signal.h>
#include "conf.h"
#include "queue.h"	/* queue_path(): every worker names queue paths */

struct worker {
	const char	*prog;		/* "smtpd" */
	const char	*conf_file;
	const char	*service;	/* -s value or prog */
	int		 listen_fd[16];
	int		 nlisten;
	struct conf	 conf;
	int		 epfd;		/* worker_accept(), lazily */
	int		 status_fd;	/* pooled: POSTERN_STATUS_FD, or -1 */
	char		 status;	/* the last PROC_STATUS_* sent */
};

/* Parse argv, load config (fatal on error), open the log, collect the
 * listening fds, ignore SIGPIPE, install the SIGTERM/SIGINT handler that
 * sets worker_stop, and SIGUSR1 (sets worker_stop and worker_graceful). */
void	 worker_init(struct worker *, const char *prog, int argc, char **argv);
/*
 * Once a program has opened what it opens at start-up: the Landlock
 * allow-list of that program (conf/worker_confine.c): read-only the
 * system, config and map files it may still open, read-write only its
 * own queues, no execute. Logs and goes on unconfined where the kernel
 * lacks Landlock; a program without a list (local) is left alone.
 * 1 confined, 0 not.
 */
int	 worker_confine(struct worker *);
extern volatile sig_atomic_t worker_stop;
/* Set with worker_stop by SIGUSR1 (reload, restart of one service):
 * finish every session in hand, however long, then exit. SIGTERM (stop)
 * may cut idle sessions short. */
extern volatile sig_atomic_t worker_graceful;

/*
 * Pool workers: wait up to timeout_ms for a connection on any listening
 * fd and accept it. Uses epoll with EPOLLEXCLUSIVE so one connection
 * wakes one idle process, not the whole pool. Returns the new fd (and
 * the index of its listener in *which), or -1 (timeout, signal, error).
 */
int	 worker_accept(struct worker *, int timeout_ms, int *which);
/*
 * A pooled worker tells master it is idle (busy 0: about to wait for a
 * connection) or busy (busy 1: it accepted one); only changes are sent.
 * worker_accept() does both; a program that waits on the listeners by
 * itself calls it before it waits. Nothing without a status pipe.
 */
void	 worker_status(struct worker *, int busy);
/*
 * Memory at rest: a program's wait loop calls this on each wake-up (at
 * least once a second), busy 1 when it has work in hand or had some
 * since the last call. Once it has been idle WORKER_REST_S seconds after
 * some work, its free heap goes back to the kernel (malloc_trim), so the
 * pages a load grew do not stay in the resting size. worker_accept()
 * calls it for the pooled workers.
 */
#define WORKER_REST_S	2
void	 worker_rest(int busy);

#endif
