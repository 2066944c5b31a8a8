/*
 * test_maildrop: the names and bounds of maildrop files (lib/maildrop):
 * what pickup takes for a file, a temp file or neither, and the size it
 * refuses beyond.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ipc.h"
#include "maildrop.h"

static void
test_names(void **state)
{
	char a[64], b[64], t[64];

	(void)state;
	assert_int_equal(maildrop_name(a, sizeof(a), 0), 0);
	assert_int_equal(maildrop_name(b, sizeof(b), 0), 0);
	assert_int_equal(maildrop_name(t, sizeof(t), 1), 0);
	assert_int_equal(strlen(a), MAILDROP_NAME_LEN);
	assert_string_not_equal(a, b);		/* random bits */
	assert_true(strncmp(a, b, 8) <= 0);	/* time first: sorted */
	assert_int_equal(maildrop_kind(a), MD_FILE);
	assert_int_equal(maildrop_kind(t), MD_TEMP);
	assert_memory_equal(t, MAILDROP_TEMP, strlen(MAILDROP_TEMP));
	/* too small a buffer: refused, never cut */
	assert_int_equal(maildrop_name(a, MAILDROP_NAME_LEN, 0), -1);
	assert_int_equal(maildrop_name(a, MAILDROP_NAME_LEN + 2, 1), -1);
}

static void
test_kinds(void **state)
{
	(void)state;
	assert_int_equal(maildrop_kind("0006617AAEDAE7E12325EDCF"), MD_FILE);
	assert_int_equal(maildrop_kind("t.0006617AAEDAE7E12325EDCF"),
	    MD_TEMP);
	assert_int_equal(maildrop_kind("0006617aaedae7e12325edcf"), MD_OTHER);
	assert_int_equal(maildrop_kind("0006617AAEDAE7E12325EDC"), MD_OTHER);
	assert_int_equal(maildrop_kind("0006617AAEDAE7E12325EDCF0"),
	    MD_OTHER);
	assert_int_equal(maildrop_kind("../6617AAEDAE7E12325EDCF"), MD_OTHER);
	assert_int_equal(maildrop_kind("t."), MD_OTHER);
	assert_int_equal(maildrop_kind(""), MD_OTHER);
	assert_int_equal(maildrop_kind("."), MD_OTHER);
	assert_int_equal(maildrop_kind("t.t.0006617AAEDAE7E12325EDCF"),
	    MD_OTHER);
}

static void
test_size_max(void **state)
{
	(void)state;
	/* room for the content, its framing and the open frame */
	assert_true(maildrop_size_max(10240) > 10240 + IPC_MAX_FRAME);
	assert_true(maildrop_size_max(10240) < 10240 + 8 * IPC_MAX_FRAME);
	/* no limit configured: still bounded */
	assert_true(maildrop_size_max(0) <= 2048UL * 1024 * 1024);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_size_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
