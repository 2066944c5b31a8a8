/*
 * sched: qmgr's scheduler: a waiting queue of jobs per transport, the
 * running slots (at most MAX_JOBS, each transport within its pool size)
 * and the per-destination limit. Pure bookkeeping: it never opens a queue
 * file or an agent's socket; qmgr.c hands it jobs and a start hook.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sched.h"
#include "transport.h"

static struct job	*waitq[TRANSPORT_MAX], **waitq_tail[TRANSPORT_MAX];
static struct job	*running[MAX_JOBS];
static unsigned		 nrunning[TRANSPORT_MAX], limit[TRANSPORT_MAX];
static unsigned		 dest_limit[TRANSPORT_MAX];	/* 0: none */
static time_t		 blocked_until[TRANSPORT_MAX];

void
job_enqueue(struct job *j)
{
	j->next = NULL;
	*waitq_tail[j->t] = j;
	waitq_tail[j->t] = &j->next;
	j->m->jobs++;
}

/*
 * A job's destination, for the transport's per-destination limit
 * (conf/transport.c): its first recipient (a mailbox, whose lock the
 * deliveries take in turn) or its next hop.
 */
static const char *
job_dest(const struct job *j)
{
	if (transport_at(j->t)->dest == TDEST_NEXTHOP)
		return j->nexthop;
	return j->m->q.rcpt[j->idx[0]].addr;
}

static int
dest_busy(const struct job *j)
{
	unsigned n = 0;

	if (dest_limit[j->t] == 0)
		return 0;
	for (int k = 0; k < MAX_JOBS; k++)
		if (running[k] && running[k]->t == j->t &&
		    strcasecmp(job_dest(running[k]), job_dest(j)) == 0)
			n++;
	return n >= dest_limit[j->t];
}

/* The first waiting job of transport tr that may start now, unlinked. */
static struct job *
job_next(size_t tr)
{
	struct job **pp;
	int looked = 0;

	for (pp = &waitq[tr]; *pp && looked < 1000; pp = &(*pp)->next, looked++) {
		struct job *j = *pp;
		if (dest_busy(j))
			continue;
		*pp = j->next;
		if (*pp == NULL)
			waitq_tail[tr] = pp;
		return j;
	}
	return NULL;
}

static void
job_requeue_front(size_t tr, struct job *j)
{
	j->next = waitq[tr];
	waitq[tr] = j;
	if (j->next == NULL)
		waitq_tail[tr] = &j->next;
}

/*
 * Per-transport limits from the transport table: a transport's jobs at
 * once are its pool size; together they fit in MAX_JOBS (table order
 * first, at least one each).
 */
void
sched_init(const struct conf *c)
{
	unsigned used = 0;

	for (size_t t = 0; t < transport_count(); t++) {
		const struct transport *tr = transport_at(t);
		unsigned room = MAX_JOBS - used;

		if (room > transport_count() - t)
			room -= (unsigned)(transport_count() - t - 1);
		else
			room = 1;
		limit[t] = transport_processes(tr, c);
		if (limit[t] > room)
			limit[t] = room;
		used += limit[t];
		dest_limit[t] = transport_dest_limit(tr, c);
		waitq_tail[t] = &waitq[t];
	}
}

unsigned
jobs_running(void)
{
	unsigned n = 0;

	for (size_t t = 0; t < transport_count(); t++)
		n += nrunning[t];
	return n;
}

/* A free slot exists: nrunning of all transports < their limits, whose
 * sum is at most MAX_JOBS. */
static void
running_add(struct job *j)
{
	for (int k = 0; k < MAX_JOBS; k++)
		if (running[k] == NULL) {
			running[k] = j;
			return;
		}
	panic("%s: no free job slot with %u jobs running", j->m->id,
	    jobs_running());
}

void
sched_dispatch(int (*start)(struct job *))
{
	time_t t = time(NULL);

	for (size_t tr = 0; tr < transport_count(); tr++) {
		while (waitq[tr] && nrunning[tr] < limit[tr] &&
		    blocked_until[tr] <= t) {
			struct job *j = job_next(tr);
			if (j == NULL)
				break;		/* all waiting on busy mailboxes */
			if (start(j) == -1) {
				log_warn("cannot reach the %s agent: %s; "
				    "retrying", transport_at(tr)->name,
				    strerror(errno));
				blocked_until[tr] = t + 1;
				job_requeue_front(tr, j);
				break;
			}
			running_add(j);
			nrunning[tr]++;
		}
	}
}

struct job *
sched_slot(int k)
{
	return running[k];
}

void
sched_release(int k)
{
	nrunning[running[k]->t]--;
	running[k] = NULL;
}

void
sched_unblock(void)
{
	memset(blocked_until, 0, sizeof(blocked_until));
}

/*
 * The wait before a message's next try, after its attempts-th failed
 * one: min doubled per attempt up to max, plus a jitter of up to half of
 * that drawn from rnd (a uniform random number), cut at max. A burst's
 * retries spread out, never sooner than min nor later than max.
 */
uint64_t
sched_backoff(uint32_t attempts, uint64_t min, uint64_t max, uint32_t rnd)
{
	uint64_t d = min, span;

	for (uint32_t i = 1; i < attempts && d < max; i++)
		d = d > max / 2 ? max : d * 2;
	if (d > max)
		d = max;
	span = d / 2;
	if (span > max - d)
		span = max - d;
	return d + (span == 0 ? 0 : rnd % (span + 1));
}
