/*
 * notify: tells systemd (Type=notify) that master is ready, reloading or
 * stopping: one datagram "READY=1\nMAINPID=N" to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). Does
 * nothing without it; never blocks, never fails the caller. The variable
 * is unset after use: no worker inherits it (child.c clears env anyway).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

static struct sockaddr_un	 notify_sa;
static socklen_t		 notify_len;

/* Read $NOTIFY_SOCKET once, at start, before anything may change env. */
void
notify_init(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	size_t n;

	notify_len = 0;
	if (p == NULL || (p[0] != '/' && p[0] != '@'))
		return;
	n = strlen(p);
	if (n < 2 || n >= sizeof(notify_sa.sun_path)) {
		log_warn("NOTIFY_SOCKET too long or empty: ignored");
		return;
	}
	memset(&notify_sa, 0, sizeof(notify_sa));
	notify_sa.sun_family = AF_UNIX;
	memcpy(notify_sa.sun_path, p, n);
	if (p[0] == '@')
		notify_sa.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (p[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
}

/* "READY=1", "RELOADING=1", "STOPPING=1"; MAINPID is added. */
void
notify_state(const char *state)
{
	char msg[128];
	int fd, len;

	if (notify_len == 0)
		return;
	len = snprintf(msg, sizeof(msg), "%s\nMAINPID=%ld\n", state,
	    (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(msg))
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return;
	if (sendto(fd, msg, (size_t)len, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_sa, notify_len) == -1)
		log_warn("systemd notify (%s): %s", state, strerror(errno));
	close(fd);
}
