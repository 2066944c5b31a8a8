/*
 * dest: the per-destination concurrency window: it opens at the
 * transport's initial value, gains one per delivery without connection
 * failure up to the ceiling, loses one per connection failure; a cohort
 * of failures in a row makes the destination dead for dead_time, then one
 * delivery at a time probes it. Bookkeeping only: never does any I/O.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dest.h"
#include "log.h"
#include "transport.h"

#define NBUCKET	1024

static struct dest	*bucket[NBUCKET];
static size_t		 ndest;
static struct {
	unsigned	 initial, ceiling;
	time_t		 dead_time;
} param[TRANSPORT_MAX];

void
dest_setup(size_t t, unsigned initial, unsigned ceiling, time_t dead_time)
{
	if (t >= TRANSPORT_MAX || ceiling == 0)
		panic("dest_setup: transport %zu, ceiling %u", t, ceiling);
	param[t].ceiling = ceiling;
	param[t].initial = initial == 0 || initial > ceiling ? ceiling :
	    initial;
	param[t].dead_time = dead_time;
}

static size_t
hash(size_t t, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)t;

	for (; *name; name++) {
		h ^= (uint32_t)tolower((unsigned char)*name);
		h *= 16777619u;
	}
	return h % NBUCKET;
}

struct dest *
dest_get(size_t t, const char *name)
{
	size_t b = hash(t, name);
	struct dest *d;

	for (d = bucket[b]; d; d = d->next)
		if (d->t == t && strcasecmp(d->name, name) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->t = t;
	d->name = xstrdup(name);
	d->window = param[t].initial;
	d->next = bucket[b];
	bucket[b] = d;
	ndest++;
	return d;
}

static const char *
tname(const struct dest *d)
{
	return transport_at(d->t)->name;
}

enum dest_state
dest_state(struct dest *d, time_t now)
{
	if (d->dead_until != 0) {
		if (now < d->dead_until)
			return DEST_DEAD;
		d->dead_until = 0;
		d->probing = 1;
		d->fails = 0;
		d->window = 1;
		log_info("%s destination %s: trying again, one delivery at "
		    "a time", tname(d), d->name);
	}
	return d->busy < d->window ? DEST_GO : DEST_FULL;
}

static void
dest_ok(struct dest *d, time_t now)
{
	if (d->probing || d->dead_until > now)
		log_info("%s destination %s is alive again", tname(d),
		    d->name);
	d->probing = 0;
	d->dead_until = 0;
	d->fails = 0;
	if (d->window < param[d->t].ceiling) {
		d->window++;
		log_debug("%s destination %s: window %u", tname(d), d->name,
		    d->window);
	}
}

static void
dest_fail(struct dest *d, const struct dstatus *why, time_t now)
{
	d->why = *why;
	if (d->dead_until > now)
		return;		/* a try that began before it died */
	if (d->fails++ == 0)
		d->cohort = d->window;
	if (d->window > 1)
		d->window--;
	if (d->fails < d->cohort) {
		log_debug("%s destination %s: window %u after %u connection "
		    "failure(s)", tname(d), d->name, d->window, d->fails);
		return;
	}
	d->dead_until = now + param[d->t].dead_time;
	d->probing = 0;
	log_info("%s destination %s is dead after %u connection failure(s) "
	    "in a row; its mail waits %lld s untried: %s", tname(d), d->name,
	    d->fails, (long long)param[d->t].dead_time, d->why.text);
}

void
dest_feedback(struct dest *d, enum dest_feedback fb,
    const struct dstatus *why, time_t now)
{
	if (fb == DF_OK)
		dest_ok(d, now);
	else if (fb == DF_FAIL)
		dest_fail(d, why, now);
}

/* Nothing holds it, and it has nothing to remember (or remembered it
 * long enough): a new job starts it afresh. */
static int
dest_stale(const struct dest *d, time_t now)
{
	time_t since;

	if (d->busy != 0 || d->waiting != 0)
		return 0;
	if (d->dead_until == 0 && d->fails == 0 && !d->probing)
		return 1;
	since = d->dead_until > d->idle_since ? d->dead_until : d->idle_since;
	return now - since >= param[d->t].dead_time;
}

void
dest_expire(time_t now)
{
	for (size_t b = 0; b < NBUCKET; b++) {
		struct dest **pp = &bucket[b];

		while (*pp) {
			struct dest *d = *pp;

			if (!dest_stale(d, now)) {
				pp = &d->next;
				continue;
			}
			*pp = d->next;
			free(d->name);
			free(d);
			ndest--;
		}
	}
}

void
dest_revive_all(time_t now)
{
	for (size_t b = 0; b < NBUCKET; b++)
		for (struct dest *d = bucket[b]; d; d = d->next)
			if (d->dead_until > now)
				d->dead_until = now;
}

size_t
dest_count(void)
{
	return ndest;
}
