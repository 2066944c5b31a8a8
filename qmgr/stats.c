/*
 * stats: qmgr's message counters (received, delivered, deferred,
 * bounced recipients, bounces written) since qmgr started, for
 * `postern status --json` and `postern metrics`. It only counts and
 * answers; it must never touch the queue or block qmgr for long.
 */
#include <limits.h>
#include <time.h>

#include "buf.h"
#include "ipc.h"
#include "stats.h"

static long long	 counters[PSTAT_N];
static time_t		 started;

void
stats_init(void)
{
	started = time(NULL);
}

void
stats_count(enum pstat i, long long n)
{
	if ((unsigned)i < PSTAT_N && counters[i] <= LLONG_MAX - n)
		counters[i] += n;
}

void
stats_answer(int fd)
{
	struct proto_stats st;
	struct buf b;

	for (size_t i = 0; i < PSTAT_N; i++)
		st.v[i] = i <= PSTAT_BOUNCES ? counters[i] : -1;
	st.v[PSTAT_STARTED] = (long long)started;
	buf_init(&b, 4096);
	if (proto_stats_encode(&b, &st) == 0)
		(void)ipc_send(fd, &b, 2000);
	buf_free(&b);
}
