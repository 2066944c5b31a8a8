/* pool: how master's on-demand pools grow and shrink (master/pool.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "master/pool.h"	/* master/pool.o is linked in */

/* Below min: start up to min, whatever waits; never past max. */
static void
test_spawn_to_min(void **state)
{
	struct pool_view v = { .min = 1, .max = 16 };

	(void)state;
	assert_int_equal(pool_spawn(&v), 1);
	v.alive = 1;
	v.idle = 1;
	assert_int_equal(pool_spawn(&v), 0);
	v = (struct pool_view){ .min = 3, .max = 2 };
	assert_int_equal(pool_spawn(&v), 2);
	v = (struct pool_view){ .min = 0, .max = 4 };
	assert_int_equal(pool_spawn(&v), 0);
}

/* A waiting connection starts one more only when no one is idle. */
static void
test_spawn_on_demand(void **state)
{
	struct pool_view v = { .min = 0, .max = 4, .pending = POOL_WAITING };

	(void)state;
	assert_int_equal(pool_spawn(&v), 1);	/* 0 -> 1 */
	v.alive = 1;
	v.idle = 1;				/* it is starting */
	assert_int_equal(pool_spawn(&v), 0);
	v.idle = 0;				/* it took one */
	assert_int_equal(pool_spawn(&v), 1);
	v.alive = 4;
	assert_int_equal(pool_spawn(&v), 0);	/* full */
	v.alive = 5;			/* max lowered by a reload */
	assert_int_equal(pool_spawn(&v), 0);
}

/* Waiting two ticks with someone idle (a missed wake-up): one more. */
static void
test_spawn_stuck(void **state)
{
	struct pool_view v = { .min = 1, .max = 3, .alive = 2, .idle = 2,
	    .pending = POOL_STUCK };

	(void)state;
	assert_int_equal(pool_spawn(&v), 1);
	v.alive = 3;
	assert_int_equal(pool_spawn(&v), 0);
}

/* Sockets watched only when no process waits and there is room. */
static void
test_watch(void **state)
{
	struct pool_view v = { .min = 1, .max = 2, .alive = 1, .idle = 0 };

	(void)state;
	assert_true(pool_watch(&v));
	v.idle = 1;
	assert_false(pool_watch(&v));
	v = (struct pool_view){ .min = 1, .max = 2, .alive = 2 };
	assert_false(pool_watch(&v));
	v = (struct pool_view){ .min = 0, .max = 2 };
	assert_true(pool_watch(&v));
}

/* Idle max_idle seconds or more, and more than min alive: retire. */
static void
test_retire(void **state)
{
	struct pool_view v = { .min = 1, .max = 8, .alive = 3, .idle = 2 };

	(void)state;
	assert_false(pool_retire(&v, 1000, 1099, 100));
	assert_true(pool_retire(&v, 1000, 1100, 100));
	assert_true(pool_retire(&v, 1000, 5000, 100));
	/* the clock stepped back */
	assert_false(pool_retire(&v, 1000, 999, 100));
	v.alive = 1;
	assert_false(pool_retire(&v, 0, 5000, 100));	/* keeps min */
	v = (struct pool_view){ .min = 0, .max = 2, .alive = 1 };
	assert_true(pool_retire(&v, 0, 1, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_to_min),
		cmocka_unit_test(test_spawn_on_demand),
		cmocka_unit_test(test_spawn_stuck),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_retire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
