/*
 * Unit tests for lib/qspace.c: queue_minfree and 1.5 x SIZE against the
 * real free space of a file system, overflow-safe, and a path that
 * cannot be seen falls back to the working directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/statvfs.h>

#include "qspace.h"

static uint64_t
avail(const char *path)
{
	struct statvfs sv;

	assert_int_equal(statvfs(path, &sv), 0);
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static void
test_minfree_and_size(void **state)
{
	uint64_t a = avail(".");

	(void)state;
	assert_true(qspace_ok(".", 0, 0));
	assert_true(a > 4096);
	assert_true(qspace_ok(".", a / 2, 0));
	assert_false(qspace_ok(".", a + (a / 2) + (1ULL << 30), 0));
	/* 1.5 x SIZE: over the free space is refused, well under is not */
	assert_false(qspace_ok(".", 0, a));
	assert_true(qspace_ok(".", 0, a / 4));
	/* the larger of the two counts */
	assert_false(qspace_ok(".", 1, a));
	assert_false(qspace_ok(".", UINT64_MAX, 1));
	assert_false(qspace_ok(".", 0, UINT64_MAX));
	assert_false(qspace_ok(".", 0, UINT64_MAX / 2));
}

static void
test_unseen_path(void **state)
{
	(void)state;
	/* a chrooted worker: the configured path is not there, "." is */
	assert_true(qspace_ok("/nonexistent/postern/queue", 0, 0));
	assert_false(qspace_ok("/nonexistent/postern/queue", UINT64_MAX, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minfree_and_size),
		cmocka_unit_test(test_unseen_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
