/* sched, dest: qmgr's retry timing and per-destination concurrency window. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "proto.h"
#include "qmgr/dest.h"	/* qmgr/sched.o and qmgr/dest.o are linked in */
#include "qmgr/sched.h"

/* Never before min, never after max, whatever the random draw. */
static void
test_backoff_bounds(void **state)
{
	static const uint32_t rnd[] = { 0, 1, 7, 29, 30, 31, 12345,
	    UINT32_MAX / 2, UINT32_MAX - 1, UINT32_MAX };
	static const uint64_t mm[][2] = { { 60, 120 }, { 300, 3600 },
	    { 1, 1 }, { 1, 2 }, { 7, 1000000 }, { 3600, 3600 },
	    { 60, 61 }, { 5, UINT64_MAX } };

	(void)state;
	for (size_t m = 0; m < sizeof(mm) / sizeof(mm[0]); m++)
		for (uint32_t a = 1; a < 80; a++)
			for (size_t r = 0; r < sizeof(rnd) / sizeof(rnd[0]);
			    r++) {
				uint64_t d = sched_backoff(a, mm[m][0],
				    mm[m][1], rnd[r]);

				assert_true(d >= mm[m][0]);
				assert_true(d <= mm[m][1]);
			}
}

/* The base doubles per attempt; the jitter only adds, at most half. */
static void
test_backoff_schedule(void **state)
{
	(void)state;
	assert_int_equal(sched_backoff(1, 60, 3600, 0), 60);
	assert_int_equal(sched_backoff(2, 60, 3600, 0), 120);
	assert_int_equal(sched_backoff(3, 60, 3600, 0), 240);
	assert_int_equal(sched_backoff(7, 60, 3600, 0), 3600);
	assert_int_equal(sched_backoff(1000, 60, 3600, 0), 3600);
	/* the top of the jitter: d + d/2 */
	assert_int_equal(sched_backoff(1, 60, 3600, 30), 90);
	assert_int_equal(sched_backoff(1, 60, 3600, 31), 60);
	/* cut at max: 60 s base, max 70: at most 70 */
	assert_int_equal(sched_backoff(1, 60, 70, 10), 70);
	assert_int_equal(sched_backoff(1, 60, 70, 11), 60);
	/* at the cap there is no room left for jitter */
	assert_int_equal(sched_backoff(9, 60, 120, UINT32_MAX), 120);
	/* attempt 0 (never counted) is the first */
	assert_int_equal(sched_backoff(0, 60, 3600, 0), 60);
}

/* Over many draws the jitter does spread the retries. */
static void
test_backoff_spread(void **state)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)state;
	for (uint32_t r = 0; r < 1000; r++) {
		uint64_t d = sched_backoff(1, 300, 3600, r * 2654435761u);

		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo >= 300 && lo < 320);
	assert_true(hi > 430 && hi <= 450);
}

static void
conn_fail(struct dest *d, time_t now)
{
	struct dstatus why;

	dstatus_set(&why, DS_DEFER, 421, "4.4.1 connect to x[192.0.2.1]:25: "
	    "Connection refused");
	dest_feedback(d, DF_FAIL, &why, now);
}

/* Transport 1 (remote): windows start at 5 and grow to 20; 300 s dead. */
static int
setup_dest(void **state)
{
	(void)state;
	dest_setup(1, 5, 20, 300);
	dest_setup(0, 0, 2, 300);	/* local: no slow start */
	return 0;
}

/* Slow start: one more at once per success, up to the ceiling. */
static void
test_window_grows(void **state)
{
	struct dest *d = dest_get(1, "[grow.example]:25");

	(void)state;
	assert_ptr_equal(dest_get(1, "[GROW.example]:25"), d);
	assert_ptr_not_equal(dest_get(0, "[grow.example]:25"), d);
	assert_int_equal(dest_get(0, "[grow.example]:25")->window, 2);
	assert_int_equal(d->window, 5);
	d->busy = 4;
	assert_int_equal(dest_state(d, 1000), DEST_GO);
	d->busy = 5;
	assert_int_equal(dest_state(d, 1000), DEST_FULL);
	for (int i = 0; i < 100; i++)
		dest_feedback(d, DF_OK, NULL, 1000);
	assert_int_equal(d->window, 20);		/* the ceiling */
	dest_feedback(d, DF_NONE, NULL, 1000);	/* agent lost: no word */
	assert_int_equal(d->window, 20);
	d->busy = 0;
}

/* Connection failures shrink it; a cohort of them in a row kills it;
 * after the dead time one delivery probes; a success revives it. */
static void
test_window_dies_and_revives(void **state)
{
	struct dest *d = dest_get(1, "dead.example");

	(void)state;
	assert_int_equal(d->window, 5);
	conn_fail(d, 1000);
	assert_int_equal(d->window, 4);
	dest_feedback(d, DF_OK, NULL, 1000);	/* a success ends the run */
	assert_int_equal(d->window, 5);
	assert_int_equal(d->fails, 0);
	for (int i = 0; i < 4; i++) {
		conn_fail(d, 1000);
		assert_int_equal(dest_state(d, 1000), DEST_GO);
	}
	assert_int_equal(d->window, 1);
	conn_fail(d, 1000);		/* the fifth: one cohort */
	assert_int_equal(dest_state(d, 1000), DEST_DEAD);
	assert_int_equal(dest_state(d, 1299), DEST_DEAD);
	assert_string_equal(d->why.text, "4.4.1 connect to x[192.0.2.1]:25: "
	    "Connection refused");
	conn_fail(d, 1001);		/* late answers change nothing */
	assert_int_equal(dest_state(d, 1299), DEST_DEAD);
	/* after 300 s: one at a time */
	assert_int_equal(dest_state(d, 1300), DEST_GO);
	assert_int_equal(d->window, 1);
	d->busy = 1;
	assert_int_equal(dest_state(d, 1300), DEST_FULL);
	/* the probe fails: dead again at once */
	d->busy = 0;
	conn_fail(d, 1301);
	assert_int_equal(dest_state(d, 1302), DEST_DEAD);
	assert_int_equal(dest_state(d, 1601), DEST_GO);
	dest_feedback(d, DF_OK, NULL, 1602);
	assert_int_equal(d->window, 2);
	assert_int_equal(dest_state(d, 1602), DEST_GO);
}

/* A flush tries dead destinations at once. */
static void
test_revive_all(void **state)
{
	struct dest *d = dest_get(1, "flushed.example");

	(void)state;
	for (int i = 0; i < 5; i++)
		conn_fail(d, 2000);
	assert_int_equal(dest_state(d, 2001), DEST_DEAD);
	dest_revive_all(2001);
	assert_int_equal(dest_state(d, 2001), DEST_GO);
	assert_int_equal(d->window, 1);
}

/* Idle destinations with nothing to remember go; dead ones stay while
 * dead and a while after; busy ones stay. */
static void
test_expire(void **state)
{
	struct dest *d;

	(void)state;
	dest_expire(1000000);		/* forget the tests above */
	assert_int_equal(dest_count(), 0);
	d = dest_get(1, "busy.example");
	d->busy = 1;
	d = dest_get(1, "waiting.example");
	d->waiting = 1;
	d = dest_get(1, "deadidle.example");
	for (int i = 0; i < 5; i++)
		conn_fail(d, 1000000);
	d->idle_since = 1000000;
	dest_get(1, "idle.example");
	assert_int_equal(dest_count(), 4);
	dest_expire(1000001);
	assert_int_equal(dest_count(), 3);
	dest_expire(1000599);	/* dead until 1000300, kept 300 more */
	assert_int_equal(dest_count(), 3);
	dest_expire(1000600);
	assert_int_equal(dest_count(), 2);
	dest_get(1, "busy.example")->busy = 0;
	dest_get(1, "waiting.example")->waiting = 0;
	dest_expire(1000601);
	assert_int_equal(dest_count(), 0);
}

/* ---- sched_dispatch: windows, the last process, dead destinations ---- */

static struct job	*started[16];
static size_t		 nstarted, nsuspended;

static int
start_ok(struct job *j)
{
	started[nstarted++] = j;
	return 0;
}

static void
suspend(struct job *j, const struct dstatus *why)
{
	assert_string_equal(why->text, "4.4.1 connect to x[192.0.2.1]:25: "
	    "Connection refused");
	j->m->jobs--;
	free(j);
	nsuspended++;
}

static struct job *
remote_job(struct msg *m, char *nexthop)
{
	struct job *j = calloc(1, sizeof(*j));

	j->m = m;
	j->t = 1;		/* remote */
	j->nexthop = nexthop;
	j->fd = -1;
	job_enqueue(j);
	return j;
}

/* Release the running job j with feedback fb. */
static void
release(struct job *j, enum dest_feedback fb)
{
	struct dstatus why;

	dstatus_set(&why, DS_DEFER, 421, "4.4.1 connect to x[192.0.2.1]:25: "
	    "Connection refused");
	for (int k = 0; k < MAX_JOBS; k++)
		if (sched_slot(k) == j) {
			sched_release(k, fb, &why);
			j->m->jobs--;
			free(j);
			return;
		}
	fail_msg("job not running");
}

static void
test_dispatch(void **state)
{
	struct conf c;
	struct msg m;
	struct job *slow[5], *fast;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&m, 0, sizeof(m));
	c.local_processes = 2;
	c.remote_processes = 3;
	c.remote_concurrency = 20;	/* at most the 3 processes */
	c.remote_initial_concurrency = 3;
	c.min_backoff = 300;
	sched_init(&c);
	for (int i = 0; i < 5; i++)
		slow[i] = remote_job(&m, "[slow.example]");
	fast = remote_job(&m, "[fast.example]");
	/* two for the slow one; the last process is left to the fast one,
	 * whose mail waits behind */
	sched_dispatch(start_ok, suspend);
	assert_int_equal(nstarted, 3);
	assert_ptr_equal(started[0], slow[0]);
	assert_ptr_equal(started[1], slow[1]);
	assert_ptr_equal(started[2], fast);
	assert_int_equal(jobs_running(), 3);
	/* nobody else waits: the slow one may have all three */
	release(fast, DF_OK);
	sched_dispatch(start_ok, suspend);
	assert_int_equal(nstarted, 4);
	assert_ptr_equal(started[3], slow[2]);
	/* a cohort (3) of connection failures: dead; the rest suspended */
	for (int i = 0; i < 3; i++)
		release(slow[i], DF_FAIL);
	assert_int_equal(jobs_running(), 0);
	sched_dispatch(start_ok, suspend);
	assert_int_equal(nstarted, 4);
	assert_int_equal(nsuspended, 2);
	assert_int_equal(m.jobs, 0);
	/* a flush: one job at a time probes it */
	for (int i = 0; i < 3; i++)
		slow[i] = remote_job(&m, "[slow.example]");
	sched_unblock();
	sched_dispatch(start_ok, suspend);
	assert_int_equal(nstarted, 5);
	assert_ptr_equal(started[4], slow[0]);
	release(slow[0], DF_OK);		/* alive: window 2 */
	sched_dispatch(start_ok, suspend);
	assert_int_equal(nstarted, 7);
	release(slow[1], DF_OK);
	release(slow[2], DF_OK);
	assert_int_equal(m.jobs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_schedule),
		cmocka_unit_test(test_backoff_spread),
		cmocka_unit_test(test_window_grows),
		cmocka_unit_test(test_window_dies_and_revives),
		cmocka_unit_test(test_revive_all),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, setup_dest, NULL);
}
