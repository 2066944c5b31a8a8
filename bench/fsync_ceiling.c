/*
 * fsync_ceiling: the physical limit of durable message acceptance on one
 * filesystem. Each "message" is create + write 4 KiB + fsync + rename +
 * fsync(dir), as an MTA queue does; N threads share the directory. Prints
 * messages/s. It must never touch anything outside the directory it is given.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static int dirfd_g, per_thread;
static double max_secs;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
worker(void *arg)
{
	long id = (long)arg, done = 0;
	char tmp[4096], fin[4096], data[4096];
	double t0 = now();
	int i, fd, n;

	memset(data, 'x', sizeof(data));
	for (i = 0; i < per_thread && now() - t0 < max_secs; i++) {
		n = snprintf(tmp, sizeof(tmp), "%s/t.%ld.%d", dir, id, i);
		if (n < 0 || (size_t)n >= sizeof(tmp))
			break;
		n = snprintf(fin, sizeof(fin), "%s/m.%ld.%d", dir, id, i);
		if (n < 0 || (size_t)n >= sizeof(fin))
			break;
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1) {
			perror("open");
			break;
		}
		if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data) ||
		    fsync(fd) == -1) {
			perror("write/fsync");
			close(fd);
			break;
		}
		close(fd);
		if (rename(tmp, fin) == -1 || fsync(dirfd_g) == -1) {
			perror("rename/fsync dir");
			break;
		}
		done++;
	}
	return (void *)done;
}

int
main(int argc, char *argv[])
{
	pthread_t th[256];
	long total = 0, i, nthreads;
	void *r;
	double t0, el;

	if (argc != 5) {
		fprintf(stderr, "usage: fsync_ceiling DIR THREADS MSGS_PER_THREAD MAX_SECS\n");
		return 2;
	}
	dir = argv[1];
	nthreads = strtol(argv[2], NULL, 10);
	per_thread = (int)strtol(argv[3], NULL, 10);
	max_secs = strtod(argv[4], NULL);
	if (nthreads < 1 || nthreads > 256 || per_thread < 1 ||
	    per_thread > 1000000 || max_secs <= 0) {
		fprintf(stderr, "fsync_ceiling: bad arguments\n");
		return 2;
	}
	if ((dirfd_g = open(dir, O_RDONLY | O_DIRECTORY)) == -1) {
		perror(dir);
		return 1;
	}
	t0 = now();
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], &r);
		total += (long)r;
	}
	el = now() - t0;
	printf("%ld %.6f %.1f\n", total, el, el > 0 ? total / el : 0.0);
	return 0;
}
