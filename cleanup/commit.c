/*
 * cleanup's incoming/ directory. Group commit for every cleanup process:
 * after its rename a message needs one fsync of the directory begun after
 * the rename; one process does it under a lock while the others wait,
 * and each waiter whose rename it covered answers without an fsync of
 * its own. Never lets a message count as synced by an fsync that began
 * before its rename or that failed. Also the sweep of stale temp files.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commit.h"
#include "log.h"

/* incoming/.commit: skipped by queue_list (a dot file), not queue data */
#define COMMIT_FILE	".commit"
#define COMMIT_SIZE	4096

/*
 * started: the number of the last directory fsync begun; done: the last
 * one that succeeded. Both only grow, under the lock; started is also
 * read without it. A crash under the lock leaves started ahead of done,
 * which only costs the next process an fsync of its own.
 */
struct commit_shared {
	_Atomic uint64_t started;
	_Atomic uint64_t done;
};

static int			 commit_fd = -1;
static struct commit_shared	*shared;

/* Map incoming/.commit; without it every commit syncs on its own. */
void
commit_init(int incoming_fd)
{
	struct stat st;
	void *p;
	int fd;

	fd = openat(incoming_fd, COMMIT_FILE, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("incoming/%s: %s; directory syncs are not shared",
		    COMMIT_FILE, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_size < COMMIT_SIZE && ftruncate(fd, COMMIT_SIZE) == -1)) {
		log_warn("incoming/%s: not a usable file; directory syncs "
		    "are not shared", COMMIT_FILE);
		close(fd);
		return;
	}
	p = mmap(NULL, COMMIT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		log_warn("mmap incoming/%s: %s", COMMIT_FILE, strerror(errno));
		close(fd);
		return;
	}
	shared = p;
	commit_fd = fd;
}

static int
commit_lock(int op)
{
	while (flock(commit_fd, op) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/*
 * Make the renames done so far in dirfd (incoming/) durable: 0 once an
 * fsync of it that began after this call's start has succeeded.
 */
int
commit_dir(int dirfd)
{
	uint64_t need, gen;
	int rv;

	if (shared == NULL)
		return fsync(dirfd);
	/* any fsync numbered need or later starts after this point */
	need = atomic_load(&shared->started) + 1;
	if (commit_lock(LOCK_EX) == -1)
		return fsync(dirfd);
	if (atomic_load(&shared->done) >= need) {
		(void)commit_lock(LOCK_UN);
		return 0;
	}
	gen = atomic_load(&shared->started) + 1;
	atomic_store(&shared->started, gen);
	if ((rv = fsync(dirfd)) == 0)
		atomic_store(&shared->done, gen);
	(void)commit_lock(LOCK_UN);
	return rv;
}

/* Remove temp files a crashed cleanup left behind (older than an hour). */
void
commit_sweep(int incoming_fd)
{
	char path[512];
	int dfd = dup(incoming_fd);
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "t.", 2) != 0)
			continue;
		if (fstatat(incoming_fd, de->d_name, &st, 0) == 0 &&
		    now - st.st_mtime > 3600) {
			snprintf(path, sizeof(path), "%s", de->d_name);
			unlinkat(incoming_fd, path, 0);
		}
	}
	closedir(d);
}
