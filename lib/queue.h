/*
 * queue: the queue tree on disk: its directories opened once, the one way
 * to name a path under queue_dir, moves between queues (rename, optional
 * directory fsync), removal and listing. It never reads or writes a queue
 * file's contents (that is lib/qfile) and never decides where mail goes.
 */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H

#include <stddef.h>

/* The queues a message lives in; names from qfile.h (QDIR_*). */
enum qdir {
	QD_INCOMING, QD_ACTIVE, QD_DEFERRED, QD_HOLD, QD_CORRUPT, QD_MAX
};

struct queue {
	const char	*root;		/* queue_dir; the caller's string */
	int		 fd[QD_MAX];	/* -1 when the open failed */
	int		 err[QD_MAX];	/* errno of that open, else 0 */
};

/* Flags of queue_move() and queue_remove(). */
#define QUEUE_SYNC	0x01	/* fsync both directories: a promise */
#define QUEUE_NOREPLACE	0x02	/* fail (EEXIST) rather than replace a file */

/* "incoming", "active", ... */
const char	*queue_name(enum qdir);
/* root/rel into out; fatal if it does not fit (queue_dir is checked at
 * config load, so this is a broken setup, not input). */
void		 queue_path(const char *root, const char *rel, char *out,
		    size_t outlen);
/* Open every queue directory of root. 0 when all opened, else -1 with
 * errno of the first failure; the others stay usable either way. */
int		 queue_open(struct queue *, const char *root);
void		 queue_close(struct queue *);
/* Move id from one queue to another. 0, or -1 with errno. */
int		 queue_move(struct queue *, enum qdir from, enum qdir to,
		    const char *id, int flags);
/* Remove id from a queue. 0, or -1 with errno. */
int		 queue_remove(struct queue *, enum qdir, const char *id,
		    int flags);
/* Open a regular file relative to dfd, never following a symlink and
 * never blocking on a FIFO (O_NOFOLLOW, O_CLOEXEC added; anything but a
 * regular file: EINVAL). fd, or -1 with errno. */
int		 queue_open_regular(int dfd, const char *name, int oflags);
/* queue_open_regular() of a file of a queue. */
int		 queue_file_open(struct queue *, enum qdir, const char *id,
		    int oflags);
/* Set id's modification time (the time of its next try) to now. */
int		 queue_touch(struct queue *, enum qdir, const char *id);
/* fsync one queue directory (removals batched by the caller). */
void		 queue_sync(struct queue *, enum qdir);

/* Poke qmgr to scan incoming/ (REQ_TRIGGER, no answer awaited), best
 * effort. 1 when qmgr's socket took it, 0 when qmgr is not reachable. */
int		 queue_trigger(const char *root);

/* The queue IDs of one queue, sorted (IDs sort by arrival). Dot files
 * and temp files "t.*" are left out silently, other names go to bad[]. */
struct queue_ids {
	char	**id;
	size_t	  n;
	char	**bad;
	size_t	  nbad;
};
int		 queue_list(struct queue *, enum qdir, struct queue_ids *);
/* Append a copy of id. */
void		 queue_ids_add(struct queue_ids *, const char *id);
void		 queue_ids_free(struct queue_ids *);

#endif
