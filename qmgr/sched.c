/*
 * sched: qmgr's scheduler: a waiting queue of jobs per transport, the
 * running slots (at most MAX_JOBS, each transport within its pool size)
 * and each destination's concurrency window (dest.c). Pure bookkeeping:
 * it never opens a queue file or an agent's socket; qmgr.c hands it jobs
 * and the hooks that start or suspend one.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "dest.h"
#include "log.h"
#include "sched.h"
#include "transport.h"

static struct job	*waitq[TRANSPORT_MAX], **waitq_tail[TRANSPORT_MAX];
static struct job	*running[MAX_JOBS];
static unsigned		 nrunning[TRANSPORT_MAX], limit[TRANSPORT_MAX];
static unsigned		 nwaiting[TRANSPORT_MAX];
static time_t		 blocked_until[TRANSPORT_MAX];

/*
 * A job's destination, for the transport's per-destination window
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

void
job_enqueue(struct job *j)
{
	j->next = NULL;
	*waitq_tail[j->t] = j;
	waitq_tail[j->t] = &j->next;
	j->m->jobs++;
	j->dest = dest_get(j->t, job_dest(j));
	j->dest->waiting++;
	nwaiting[j->t]++;
}

/* The job leaves the waiting queue (started or suspended). */
static void
job_unwait(struct job *j, time_t now)
{
	j->dest->waiting--;
	nwaiting[j->t]--;
	if (j->dest->waiting + j->dest->busy == 0)
		j->dest->idle_since = now;
}

/*
 * May j start now? Within its destination's window, and a destination
 * never takes the transport's every process while another one's mail
 * waits (a slow destination that grew its window cannot starve the rest).
 */
static enum dest_state
job_may_start(const struct job *j, time_t now)
{
	struct dest *d = j->dest;
	enum dest_state st = dest_state(d, now);

	if (st == DEST_GO && d->busy + 1 >= limit[j->t] && limit[j->t] > 1 &&
	    nwaiting[j->t] > d->waiting)
		return DEST_FULL;
	return st;
}

/*
 * The first waiting job of transport tr that may start now, unlinked;
 * *dead is set when it is one of a dead destination (not to be tried).
 */
static struct job *
job_next(size_t tr, time_t now, int *dead)
{
	struct job **pp;
	int looked = 0;

	for (pp = &waitq[tr]; *pp && looked < 1000; pp = &(*pp)->next, looked++) {
		struct job *j = *pp;
		enum dest_state st = job_may_start(j, now);

		if (st == DEST_FULL)
			continue;
		*dead = st == DEST_DEAD;
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
 * first, at least one each). A destination's window starts at the
 * transport's initial value and grows to its limit (at most the pool); a
 * dead one rests for min_backoff, as a message's first retry does.
 */
void
sched_init(const struct conf *c)
{
	unsigned used = 0, ceiling;

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
		ceiling = transport_dest_limit(tr, c);
		if (ceiling == 0 || ceiling > limit[t])
			ceiling = limit[t];
		dest_setup(t, transport_dest_initial(tr, c), ceiling,
		    (time_t)c->min_backoff);
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
sched_dispatch(int (*start)(struct job *),
    void (*suspend)(struct job *, const struct dstatus *))
{
	static time_t last_expire;
	time_t t = time(NULL);
	int dead;

	if (t != last_expire) {
		dest_expire(t);
		last_expire = t;
	}
	for (size_t tr = 0; tr < transport_count(); tr++) {
		while (waitq[tr] && nrunning[tr] < limit[tr] &&
		    blocked_until[tr] <= t) {
			struct job *j = job_next(tr, t, &dead);
			if (j == NULL)
				break;		/* all waiting on busy
						   destinations */
			if (dead) {
				job_unwait(j, t);
				suspend(j, &j->dest->why);
				continue;
			}
			if (start(j) == -1) {
				log_warn("cannot reach the %s agent: %s; "
				    "retrying", transport_at(tr)->name,
				    strerror(errno));
				blocked_until[tr] = t + 1;
				job_requeue_front(tr, j);
				break;
			}
			job_unwait(j, t);
			j->dest->busy++;
			running_add(j);
			nrunning[tr]++;
			log_debug("%s: to %s %s: %u running (window %u), "
			    "%u of %u processes", j->m->id,
			    transport_at(tr)->name, j->dest->name,
			    j->dest->busy, j->dest->window, nrunning[tr],
			    limit[tr]);
		}
	}
}

struct job *
sched_slot(int k)
{
	return running[k];
}

void
sched_release(int k, enum dest_feedback fb, const struct dstatus *why)
{
	struct job *j = running[k];
	time_t t = time(NULL);

	nrunning[j->t]--;
	running[k] = NULL;
	j->dest->busy--;
	dest_feedback(j->dest, fb, why, t);
	if (j->dest->waiting + j->dest->busy == 0)
		j->dest->idle_since = t;
}

void
sched_unblock(void)
{
	memset(blocked_until, 0, sizeof(blocked_until));
	dest_revive_all(time(NULL));
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
