/*
 * Unit tests of the filtered flush: which messages a filter picks
 * (qmgr/flush.c flush_match; the req=flush codec is in test_proto.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto.h"
#include "qfile.h"
#include "qmgr/flush.h"

#define QID	"0123456789ABCDEF"

static void
test_match(void **state)
{
	struct qrcpt r[2] = { { .addr = "u@sent.example", .status = QR_SENT },
	    { .addr = "v@Wait.Example", .status = QR_PENDING } };
	struct qfile q = { .id = QID, .sender = "me@From.example", .rcpt = r,
	    .nrcpt = 2 };
	struct qmgr_flush f = { .by = FLUSH_RCPT_DOMAIN, .value =
	    "wait.example" };

	(void)state;
	assert_int_equal(flush_match(&q, &f), 1);
	strlcpy(f.value, "sent.example", sizeof(f.value));	/* done: no */
	assert_int_equal(flush_match(&q, &f), 0);
	strlcpy(f.value, "example", sizeof(f.value));	/* not a suffix */
	assert_int_equal(flush_match(&q, &f), 0);
	f.by = FLUSH_SENDER_DOMAIN;
	strlcpy(f.value, "from.EXAMPLE", sizeof(f.value));
	assert_int_equal(flush_match(&q, &f), 1);
	q.sender = "";					/* <> */
	assert_int_equal(flush_match(&q, &f), 0);
	f.by = FLUSH_ID;
	strlcpy(f.value, QID, sizeof(f.value));
	assert_int_equal(flush_match(&q, &f), 1);
	f.value[0] = '1';
	assert_int_equal(flush_match(&q, &f), 0);
	f.by = FLUSH_ALL;
	assert_int_equal(flush_match(&q, &f), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
