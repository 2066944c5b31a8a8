/*
 * master: the supervisor (master.c, its plumbing in daemon.c), its
 * queue tree and sockets (qtree.c), the worker's start (child.c) and
 * the CLI (postern.c).
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <sys/types.h>

#include "conf.h"

#define CHILD_MAX_FDS	16

/* Directory fds master keeps, opened with O_DIRECTORY|O_NOFOLLOW. */
struct qtree {
	int	 root, pid, private, public, maildrop;
};

/* What a forked child needs to become a worker (child.c). */
struct child_spec {
	const char		*name;		/* service */
	const char		*prog;		/* under libexec */
	const char		*libexec;
	const int		*fds;		/* sockets, to 3.. */
	int			 nfds;
	int			 drop;		/* to uid/gid */
	uid_t			 uid;
	gid_t			 gid;
	int			 queue_fd;	/* the worker's cwd */
	int			 stderr_fd;	/* its fd 2, or -1 */
	int			 status_fd;	/* pool status pipe, or -1 */
	pid_t			 master;
	const struct conf	*conf;
	const char		*conf_file;	/* absolute */
};

/* postern start: returns an exit status (only in the CLI process). */
int	 master_start(const char *conf_file, int foreground);
/* notify.c: systemd's Type=notify protocol ($NOTIFY_SOCKET). */
void	 notify_init(void);
void	 notify_state(const char *state);	/* "READY=1", ... */
/* status.c: `postern status` (pid: master's, -1 if not verified) as
 * text or JSON, and `postern metrics` (pid 0: not running). Exit status. */
int	 status_print(const struct conf *, pid_t pid, int json);
int	 metrics_print(const struct conf *, pid_t pid);
/* Resolve conf user/group when root; when not root: ourselves. */
int	 run_identity(const struct conf *, uid_t *, gid_t *, char *err, size_t);
/* daemon.c: "host:port", "[v6]:port", "*:port" bound and listening into
 * out[max]; how many, or -1 (err says why). */
int	 bind_tcp(const char *spec, int *out, int max, char *err, size_t);
/* "exit status N", "signal N (name)" of a waitpid() status. */
void	 describe_exit(int status, char *out, size_t len);
/* Our pid into the pid file fd, under a POSIX write lock. */
void	 write_pid(int fd);

/* The queue tree: queue_dir and pid/ root's, the rest uid/gid's; the
 * directory fds into *qt. 0 or -1 (err says why). */
int	 queue_tree_create(const struct conf *, uid_t, gid_t, struct qtree *,
	    char *err, size_t);
/* 1 when maildrop/ holds a file for pickup (not a temp file), else 0. */
int	 qtree_maildrop_waiting(const struct qtree *);
/* A listening UNIX socket name in directory dfd, bound as uid/gid with
 * mode; label names it in errors. The fd or -1. */
int	 queue_socket_bind(int dfd, const char *label, const char *name,
	    mode_t mode, uid_t, gid_t, char *err, size_t);
/* tlsexec.c: where the workers and tlscheck are (LIBEXECDIR, or
 * $POSTERN_LIBEXEC for tests and `make run`). */
const char *libexec_dir(void);
/* conf_tls_pair for postern: the check runs in tlscheck, so that this
 * program never maps OpenSSL (conf.h: CONF_TLS_*). */
int	 tls_pair_exec(const char *cert, const char *key, char *err,
	    size_t len);
/* In the forked child: become the worker. Never returns. */
void	 child_exec(const struct child_spec *) __attribute__((noreturn));

#endif
