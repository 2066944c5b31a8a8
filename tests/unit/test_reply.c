/*
 * Unit tests for lib/reply.c: every catalogue entry is a well-formed
 * reply, formatting with arguments, cutting to fit, and replies as data
 * (split and re-coded, as the access map's TEMPFAIL at connect).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "reply.h"

static void
test_catalogue_well_formed(void **state)
{
	char out[REPLY_MAX];

	(void)state;
	for (int id = 0; id < R__COUNT; id++) {
		int code = reply_code((enum reply_id)id);
		const char *t = reply_text((enum reply_id)id);

		assert_true(code >= 200 && code <= 599);
		assert_non_null(t);
		/* no conversion but %s: the arguments are strings */
		for (const char *p = strchr(t, '%'); p; p = strchr(p + 2, '%'))
			assert_int_equal(p[1], 's');
		/* an enhanced code, when there is one, is of the same class */
		if (t[0] >= '2' && t[0] <= '5' && t[1] == '.')
			assert_int_equal(t[0] - '0', code / 100);
		assert_true(reply_format(out, sizeof(out), (enum reply_id)id,
		    "x", "y") > 0);
	}
}

static void
test_format(void **state)
{
	char out[REPLY_MAX];

	(void)state;
	assert_int_equal(reply_format(out, sizeof(out), R_OKAY), 12);
	assert_string_equal(out, "250 2.0.0 Ok");
	reply_format(out, sizeof(out), R_USER_UNKNOWN, "a@b.example");
	assert_string_equal(out, "550 5.1.1 <a@b.example>: User unknown");
	reply_format(out, sizeof(out), R_GREETING, "mx.example");
	assert_string_equal(out, "220 mx.example ESMTP postern");
	reply_format(out, sizeof(out), R_BLOCKED, "192.0.2.1", "bl.example");
	assert_string_equal(out, "554 5.7.1 Service unavailable; client "
	    "[192.0.2.1] blocked using bl.example");
	assert_string_equal(reply_text(R_HDR_SIZE), "5.6.0 Headers too large");
	assert_int_equal(reply_code(R_QUEUE), 451);
	/* an id out of range is an internal error, never a crash */
	reply_format(out, sizeof(out), (enum reply_id)R__COUNT);
	assert_string_equal(out, "451 4.3.0 Internal error");
}

static void
test_format_cut(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(reply_format(out, sizeof(out), R_AUTH_FAIL), -1);
	assert_string_equal(out, "535 5.7");
	assert_int_equal(reply_format(out, 3, R_OKAY), -1);
	assert_string_equal(out, "25");
}

static void
test_data(void **state)
{
	char out[REPLY_MAX];
	const char *text;
	int code;

	(void)state;
	assert_int_equal(reply_split("451 4.7.1 Try again later", &code,
	    &text), 0);
	assert_int_equal(code, 451);
	assert_string_equal(text, "4.7.1 Try again later");
	reply_data(out, sizeof(out), 421, text);
	assert_string_equal(out, "421 4.7.1 Try again later");
	assert_int_equal(reply_split("550", &code, &text), 0);
	assert_string_equal(text, "");
	assert_int_equal(reply_split("250 2.0.0 Ok", &code, &text), -1);
	assert_int_equal(reply_split("45", &code, &text), -1);
	assert_int_equal(reply_split("4x1 a", &code, &text), -1);
	assert_int_equal(reply_split("451-a", &code, &text), -1);
	assert_int_equal(reply_split("", &code, &text), -1);
	assert_int_equal(reply_split(NULL, &code, &text), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalogue_well_formed),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_cut),
		cmocka_unit_test(test_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
