/*
 * qmgr's idle connections to the delivery agents. A connection is kept
 * only between two complete jobs (every answer and req=done read); one
 * that shows input or a hang-up while idle is closed, never reused. At
 * most AC_MAX are kept, each at most AC_IDLE seconds: an agent bound to
 * an idle connection takes no other work.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agentconn.h"
#include "buf.h"

#define AC_MAX		64
#define AC_IDLE		2	/* seconds */

struct agentconn {
	int	 fd;
	size_t	 t;
	char	*nexthop;
	time_t	 since;
};

static struct agentconn	 idle[AC_MAX];
static size_t		 nidle;

/* Forget idle[i]; its fd is closed unless handed out. */
static void
forget(size_t i, int close_it)
{
	if (close_it)
		close(idle[i].fd);
	free(idle[i].nexthop);
	idle[i] = idle[--nidle];
}

/* Still idle and open: nothing to read, no hang-up. */
static int
alive(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 0;
}

int
agentconn_take(size_t t, const char *nexthop)
{
	for (;;) {
		size_t i, pick = nidle;
		int fd;

		for (i = 0; i < nidle; i++) {
			if (idle[i].t != t)
				continue;
			if (pick == nidle)
				pick = i;
			if (strcasecmp(idle[i].nexthop, nexthop) == 0) {
				pick = i;
				break;
			}
		}
		if (pick == nidle)
			return -1;
		fd = idle[pick].fd;
		if (alive(fd)) {
			forget(pick, 0);
			return fd;
		}
		forget(pick, 1);	/* its agent went away: the next */
	}
}

void
agentconn_park(size_t t, const char *nexthop, int fd, time_t now)
{
	size_t oldest = 0;

	if (nidle == AC_MAX) {
		for (size_t i = 1; i < nidle; i++)
			if (idle[i].since < idle[oldest].since)
				oldest = i;
		forget(oldest, 1);
	}
	idle[nidle].fd = fd;
	idle[nidle].t = t;
	idle[nidle].nexthop = xstrdup(nexthop);
	idle[nidle].since = now;
	nidle++;
}

void
agentconn_expire(time_t now)
{
	for (size_t i = 0; i < nidle; )
		if (now - idle[i].since >= AC_IDLE)
			forget(i, 1);
		else
			i++;
}
