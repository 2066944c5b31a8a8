/*
 * stats: qmgr's message counters since it started, answered to
 * req=stats on private/qmgr. Counting only: never touches the queue.
 */
#ifndef POSTERN_QMGR_STATS_H
#define POSTERN_QMGR_STATS_H

#include "proto.h"

/* At qmgr start: the counters are since then. */
void	 stats_init(void);
/* One more (or n more) of counter i. */
void	 stats_count(enum pstat i, long long n);
/* The counters as a proto_stats reply on fd. */
void	 stats_answer(int fd);

#endif
