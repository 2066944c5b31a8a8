/*
 * qmgr's syncer: a thread that fsyncs active/ after removals (one fsync
 * for every removal handed over before it began) and closes the files
 * of finished messages, so that the scheduler never waits for the disk
 * there. Nothing waits on it: a removal a crash loses only sends the
 * message once more, as before. It touches no queue state but these.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "syncer.h"

static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cv = PTHREAD_COND_INITIALIZER;
static int		 sync_fd = -1, running, dirty;
static int		 sync_err;	/* a failed fsync's errno, to log */
static int		*fds;
static size_t		 nfds, capfds;

/* Take what is pending (under mu): the fds to close and the dirty bit. */
static int
take(int **out, size_t *n)
{
	int d = dirty;

	*out = fds;
	*n = nfds;
	fds = NULL;
	nfds = capfds = 0;
	dirty = 0;
	return d;
}

static void
work(int d, int *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(v[i]);
	free(v);
	if (d && fsync(sync_fd) == -1) {
		pthread_mutex_lock(&mu);
		sync_err = errno;	/* logged by the main thread */
		pthread_mutex_unlock(&mu);
	}
}

static void *
loop(void *arg)
{
	(void)arg;
	for (;;) {
		int *v, d;
		size_t n;

		pthread_mutex_lock(&mu);
		while (!dirty && nfds == 0)
			pthread_cond_wait(&cv, &mu);
		d = take(&v, &n);
		pthread_mutex_unlock(&mu);
		work(d, v, n);
	}
	return NULL;
}

void
syncer_start(int dirfd)
{
	pthread_t t;

	sync_fd = dirfd;
	if (pthread_create(&t, NULL, loop, NULL) != 0) {
		log_warn("cannot start the syncer thread: syncing in line");
		return;
	}
	pthread_detach(t);
	running = 1;
}

void
syncer_dirty(void)
{
	int err;

	if (!running) {
		work(1, NULL, 0);
		return;
	}
	pthread_mutex_lock(&mu);
	err = sync_err;
	sync_err = 0;
	dirty = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	if (err)
		log_warn("fsync active/: %s", strerror(err));
}

void
syncer_close(int fd)
{
	if (!running) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&mu);
	if (nfds == capfds) {
		capfds = capfds ? capfds * 2 : 64;
		fds = xreallocarray(fds, capfds, sizeof(*fds));
	}
	fds[nfds++] = fd;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

void
syncer_flush(void)
{
	int *v, d;
	size_t n;

	pthread_mutex_lock(&mu);
	d = take(&v, &n);
	pthread_mutex_unlock(&mu);
	work(1, v, n);
	(void)d;
}
