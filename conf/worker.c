/*
 * worker: the start-up every worker program shares (docs/internals.md):
 * argv, config, log, inherited listening fds, SIGTERM handling.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "confine.h"
#include "log.h"
#include "proto.h"
#include "transport.h"
#include "worker.h"

volatile sig_atomic_t worker_stop;
volatile sig_atomic_t worker_graceful;

static void
on_term(int sig)
{
	if (sig == SIGUSR1)
		worker_graceful = 1;
	worker_stop = 1;
}

/* local keeps root (it becomes each recipient); every other worker runs
 * as the unprivileged user. */
static int
worker_keeps_root(const char *prog)
{
	const struct transport *t = transport_find(prog);

	return t != NULL && t->keep_root;
}

void
worker_init(struct worker *w, const char *prog, int argc, char **argv)
{
	struct conf_errors errs = { 0 };
	struct sigaction sa;
	enum log_level lvl = LOG_LVL_INFO;
	const char *nfds;
	int c;

	memset(w, 0, sizeof(*w));
	w->epfd = -1;
	w->status_fd = -1;
	w->prog = prog;
	w->service = prog;
	while ((c = getopt(argc, argv, "c:s:")) != -1) {
		switch (c) {
		case 'c':
			w->conf_file = optarg;
			break;
		case 's':
			w->service = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s -c CONF [-s SERVICE]\n", prog);
			exit(2);
		}
	}
	log_open(prog, "stderr", LOG_LVL_INFO);
	w->conf_file = conf_path(w->conf_file);
	conf_worker = 1;	/* master checked and opened the private files */
	if (conf_load(w->conf_file, &w->conf, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("%s", errs.msg[i]);
		fatal("bad configuration; not starting");
	}
	conf_errors_free(&errs);
	if (log_level_parse(w->conf.log_level, &lvl) == -1)
		lvl = LOG_LVL_INFO;
	if (log_open(prog, w->conf.log, lvl) == -1)
		fatal("cannot open log %s: %s", w->conf.log, strerror(errno));

	nfds = getenv("POSTERN_LISTEN_FDS");
	if (nfds) {
		int n = atoi(nfds);
		if (n < 0 || n > 16)
			fatal("bad POSTERN_LISTEN_FDS=%s", nfds);
		for (int i = 0; i < n; i++) {
			int fd = 3 + i;
			if (fcntl(fd, F_GETFD) == -1)
				fatal("listening fd %d missing", fd);
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			w->listen_fd[w->nlisten++] = fd;
		}
	}
	if ((nfds = getenv("POSTERN_STATUS_FD")) != NULL) {
		int fd = atoi(nfds);

		if (fd < 3 || fcntl(fd, F_GETFD) == -1)
			fatal("bad POSTERN_STATUS_FD=%s", nfds);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		w->status_fd = fd;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	confine_process(prog, worker_keeps_root(prog));
}

void
worker_status(struct worker *w, int busy)
{
	char st = busy ? PROC_STATUS_BUSY : PROC_STATUS_IDLE;

	if (w->status_fd == -1 || w->status == st)
		return;
	/* Non-blocking: a master that reads late costs a stale view. */
	if (write(w->status_fd, &st, 1) == 1)
		w->status = st;
}

int
worker_accept(struct worker *w, int timeout_ms, int *which)
{
	struct epoll_event ev;
	int n = 0, fd;

	if (w->epfd < 0) {
		if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
			fatal("epoll_create1: %s", strerror(errno));
		for (int i = 0; i < w->nlisten; i++) {
			memset(&ev, 0, sizeof(ev));
			ev.events = EPOLLIN | EPOLLEXCLUSIVE;
			ev.data.u32 = (uint32_t)i;
			fcntl(w->listen_fd[i], F_SETFL, O_NONBLOCK);
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd[i],
			    &ev) == -1)
				fatal("epoll_ctl: %s", strerror(errno));
		}
	}
	/* Busy with connection after connection: no status for each. */
	if (w->status == PROC_STATUS_BUSY)
		n = epoll_wait(w->epfd, &ev, 1, 0);
	if (n <= 0) {
		worker_status(w, 0);
		n = epoll_wait(w->epfd, &ev, 1, timeout_ms);
	}
	if (n <= 0) {
		worker_rest(0);
		return -1;
	}
	if ((fd = accept4(w->listen_fd[ev.data.u32], NULL, NULL,
	    SOCK_CLOEXEC)) == -1)
		return -1;	/* another process was quicker */
	worker_rest(1);
	worker_status(w, 1);
	if (which)
		*which = (int)ev.data.u32;
	return fd;
}

void
worker_rest(int busy)
{
	static int dirty;		/* work since the last trim */
	static long long idle_since;	/* ms, 0: not idle yet */
	long long t;

	if (busy) {
		dirty = 1;
		idle_since = 0;
		return;
	}
	if (!dirty)
		return;
	t = clock_ms();
	if (idle_since == 0)
		idle_since = t;
	else if (t - idle_since >= WORKER_REST_S * 1000LL) {
		(void)malloc_trim(0);
		dirty = 0;
		idle_since = 0;
	}
}
