/*
 * qmgr's connections to the delivery agents, kept between jobs: a job
 * goes out on an idle connection of its transport (one that last served
 * its next hop first, whose agent may hold a session to it) before a new
 * one is made.
 */
#ifndef QMGR_AGENTCONN_H
#define QMGR_AGENTCONN_H

#include <stddef.h>
#include <time.h>

/* An idle connection of transport t, or -1: make a new one. */
int	 agentconn_take(size_t t, const char *nexthop);
/* The job on fd is done and its answers all read: keep fd. */
void	 agentconn_park(size_t t, const char *nexthop, int fd, time_t now);
/* Close what idled too long (its agent goes back to accepting). */
void	 agentconn_expire(time_t now);

#endif
