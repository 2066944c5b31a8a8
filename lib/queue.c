/*
 * queue: the queue tree on disk (see queue.h). Directory fds are opened
 * once per process; every path and move under queue_dir goes through here,
 * and the poke that tells qmgr there is new mail.
 * Never reads or writes inside a queue file.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "qfile.h"
#include "queue.h"

static const char *qnames[QD_MAX] = {
	QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED, QDIR_HOLD, QDIR_CORRUPT
};

const char *
queue_name(enum qdir d)
{
	if ((unsigned)d >= QD_MAX)
		panic("queue_name: no queue %d", (int)d);
	return qnames[d];
}

void
queue_path(const char *root, const char *rel, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", root, rel);

	if (n < 0 || (size_t)n >= outlen)
		fatal("queue path too long: %s/%s", root, rel);
}

int
queue_open(struct queue *q, const char *root)
{
	char path[4096];
	int first = 0;

	q->root = root;
	for (int d = 0; d < QD_MAX; d++) {
		queue_path(root, qnames[d], path, sizeof(path));
		q->err[d] = 0;
		q->fd[d] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (q->fd[d] == -1) {
			q->err[d] = errno;
			if (first == 0)
				first = errno;
		}
	}
	errno = first;
	return first ? -1 : 0;
}

void
queue_close(struct queue *q)
{
	for (int d = 0; d < QD_MAX; d++) {
		if (q->fd[d] != -1)
			close(q->fd[d]);
		q->fd[d] = -1;
	}
}

/* The fd of a queue, or -1 with the errno its open failed with. */
static int
dirfd_of(const struct queue *q, enum qdir d)
{
	if ((unsigned)d >= QD_MAX)
		panic("queue: no queue %d", (int)d);
	if (q->fd[d] == -1)
		errno = q->err[d] ? q->err[d] : EBADF;
	return q->fd[d];
}

int
queue_move(struct queue *q, enum qdir from, enum qdir to, const char *id,
    int flags)
{
	int ffd = dirfd_of(q, from), tfd;

	if (ffd == -1 || (tfd = dirfd_of(q, to)) == -1)
		return -1;
	if (renameat2(ffd, id, tfd, id,
	    (flags & QUEUE_NOREPLACE) ? RENAME_NOREPLACE : 0) == -1)
		return -1;
	if (flags & QUEUE_SYNC) {
		(void)fsync(tfd);
		(void)fsync(ffd);
	}
	return 0;
}

int
queue_remove(struct queue *q, enum qdir d, const char *id, int flags)
{
	int fd = dirfd_of(q, d);

	if (fd == -1 || unlinkat(fd, id, 0) == -1)
		return -1;
	if (flags & QUEUE_SYNC)
		(void)fsync(fd);
	return 0;
}

int
queue_open_regular(int dfd, const char *name, int oflags)
{
	struct stat st;
	int fd, fl;

	/* O_NONBLOCK: a FIFO planted in a user-owned queue directory must
	 * not hang a root reader (mailq, local) in open(). */
	fd = openat(dfd, name, oflags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if ((oflags & O_NONBLOCK) == 0 && (fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

int
queue_file_open(struct queue *q, enum qdir d, const char *id, int oflags)
{
	int fd = dirfd_of(q, d);

	if (fd == -1)
		return -1;
	return queue_open_regular(fd, id, oflags);
}

int
queue_touch(struct queue *q, enum qdir d, const char *id)
{
	int fd = dirfd_of(q, d);

	if (fd == -1)
		return -1;
	return utimensat(fd, id, NULL, AT_SYMLINK_NOFOLLOW);
}

void
queue_sync(struct queue *q, enum qdir d)
{
	int fd = dirfd_of(q, d);

	if (fd != -1)
		(void)fsync(fd);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
ids_add(char ***v, size_t *n, const char *s)
{
	/* Grow in powers of two from 64: n is a power of two at each step. */
	if (*n == 0 || (*n >= 64 && (*n & (*n - 1)) == 0))
		*v = xreallocarray(*v, *n ? *n * 2 : 64, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

int
queue_list(struct queue *q, enum qdir d, struct queue_ids *l)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	memset(l, 0, sizeof(*l));
	if (dirfd_of(q, d) == -1)
		return -1;
	/* A dup, rewound: the fd stays the queue's, the offset ours. */
	if ((fd = dup(q->fd[d])) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, "t.", 2) == 0)
			continue;
		if (qid_valid(de->d_name))
			ids_add(&l->id, &l->n, de->d_name);
		else
			ids_add(&l->bad, &l->nbad, de->d_name);
	}
	closedir(dir);
	if (l->n > 1)
		qsort(l->id, l->n, sizeof(*l->id), cmp_str);
	return 0;
}

void
queue_ids_add(struct queue_ids *l, const char *id)
{
	ids_add(&l->id, &l->n, id);
}

void
queue_ids_free(struct queue_ids *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->id[i]);
	for (size_t i = 0; i < l->nbad; i++)
		free(l->bad[i]);
	free(l->id);
	free(l->bad);
	memset(l, 0, sizeof(*l));
}

int
queue_trigger(const char *root)
{
	char path[4096];
	struct buf b;
	int fd;

	queue_path(root, QDIR_PRIVATE "/qmgr", path, sizeof(path));
	if ((fd = ipc_connect(path)) == -1)
		return 0;
	buf_init(&b, 256);
	if (proto_simple_encode(&b, REQ_TRIGGER) == 0)
		(void)ipc_send(fd, &b, 1000);
	buf_free(&b);
	close(fd);
	return 1;
}
