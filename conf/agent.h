/*
 * agent: the skeleton every delivery agent (local, remote) runs on. It
 * accepts qmgr's connections, decodes each delivery request (lib/proto),
 * opens the queue file read-only, calls the program's deliver hook and
 * answers one status per recipient, then done. It never writes, moves or
 * deletes a queue file; a request qmgr would never send is refused whole.
 */
#ifndef POSTERN_AGENT_H
#define POSTERN_AGENT_H

#include <sys/types.h>

#include <poll.h>
#include <stddef.h>

#include "proto.h"
#include "qfile.h"
#include "worker.h"

/* One recipient of the request. */
struct agent_rcpt {
	size_t		 idx;		/* index into job->q.rcpt */
	const char	*addr;		/* job->q.rcpt[idx].addr */
	int		 answered;
	struct dstatus	 st;		/* valid once answered */
};

/* One delivery request, its queue file open and read. */
struct agent_job {
	const char	*id;		/* the queue ID */
	const char	*nexthop;	/* "" when qmgr gave none */
	int		 tls;		/* 0: remote_tls; else 1 + enum
					   conf_remote_tls (transport_map) */
	int		 fd;		/* the queue file, read-only */
	struct qfile	 q;
	struct agent_rcpt *rcpt;
	size_t		 nrcpt;
	size_t		 nopen;		/* recipients not yet answered */
	int		 qmgr;		/* connection to qmgr */
	int		 lost;		/* qmgr went away: stop answering */
	/* set by the hook around the answers that come from a failure to
	 * reach the next hop or open a session with it (qmgr's
	 * per-destination window) */
	int		 conn_fail;
};

/* The program's hooks; only deliver is required. */
struct agent_ops {
	const char	*name;		/* "local" */
	/* After worker_init: open maps, drop or keep privileges. */
	void	 (*init)(struct worker *);
	/* Deliver the job, answering recipients with agent_report(). */
	void	 (*deliver)(struct agent_job *);
	/* Idle state to watch with the listeners (e.g. cached sessions):
	 * fills up to max pollfds, returns how many. */
	int	 (*idle_fds)(struct pollfd *, int max);
	/* Milliseconds until idle() is due, at most max_ms. */
	int	 (*idle_wait_ms)(int max_ms);
	/* Called after every wait (expire what is due). */
	void	 (*idle)(void);
	/* Before exit (QUIT what is cached). */
	void	 (*fini)(void);
};

/* The program's main: worker_init, ops->init, the accept loop until
 * worker_stop, ops->fini. Returns the exit status. */
int	 agent_main(struct worker *, const struct agent_ops *, int argc,
	    char **argv);

/* One decoded frame from qmgr, answered on qmgr_fd (the loop's work; a
 * function of its own for the unit test). -1 when the connection must
 * be closed: a bad request, or qmgr went away. */
int	 agent_request(struct worker *, const struct agent_ops *, int qmgr_fd,
	    const struct ipc_msg *);

/* Answer recipient i (an index into job->rcpt) now; a second answer for
 * the same recipient is ignored. */
void	 agent_report(struct agent_job *, size_t i, const struct dstatus *);

/* Up to len bytes of the message content from offset pos, retrying
 * interrupted reads: > 0 bytes read, 0 past the end or a short file, -1
 * with errno set. */
ssize_t	 agent_read(const struct agent_job *, size_t pos, void *buf,
	    size_t len);

#endif
