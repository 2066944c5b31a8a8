/*
 * cleanup between two messages of one client connection: wait for the
 * next request, and give the connection up (the client reopens) when it
 * ends, idles out, the worker stops, or another client waits for a
 * cleanup process. Never reads a byte of the next request.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>

#include "keep.h"

#define KEEP_TICK_MS	1000	/* how often worker_stop is seen */

/* 1: a request is there to read on fd; 0: close the connection. */
int
keep_wait(const struct worker *wk, int fd, int timeout_ms)
{
	struct pollfd pfd[1 + 16];
	nfds_t n = 0;
	char c;

	pfd[n].fd = fd;
	pfd[n++].events = POLLIN;
	for (int i = 0; i < wk->nlisten && i < 16; i++) {
		pfd[n].fd = wk->listen_fd[i];
		pfd[n++].events = POLLIN;
	}
	for (int waited = 0; waited < timeout_ms && !worker_stop;
	    waited += KEEP_TICK_MS) {
		int r = poll(pfd, n, KEEP_TICK_MS);

		if (r == -1 && errno != EINTR)
			return 0;
		if (r <= 0)
			continue;
		if (pfd[0].revents)	/* a request, or the end (EOF) */
			return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
		return 0;	/* a client waits for a cleanup process */
	}
	return 0;
}
