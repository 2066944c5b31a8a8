/* sched: qmgr's retry timing and per-destination concurrency window. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "qmgr/sched.h"	/* qmgr/sched.o is linked in */

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_backoff_schedule),
		cmocka_unit_test(test_backoff_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
