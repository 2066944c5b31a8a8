/*
 * Unit tests of the filtered flush: the req=flush codec (lib/proto_flush.c)
 * and which messages a filter picks (qmgr/flush.c flush_match).
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

static struct buf	 b;
static struct ipc_msg	 m;
static char		 err[128];

static int
setup(void **state)
{
	(void)state;
	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_msg_init(&m);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	buf_free(&b);
	ipc_msg_free(&m);
	return 0;
}

static void
parse(void)
{
	assert_int_equal(ipc_frame_ready(b.data, b.len), (long)b.len);
	assert_int_equal(ipc_parse(&m, b.data + 4, b.len - 4), 0);
}

static void
roundtrip(enum flush_by by, const char *v)
{
	struct qmgr_flush f = { .by = by }, d;

	strlcpy(f.value, v, sizeof(f.value));
	assert_int_equal(qmgr_flush_encode(&b, &f), 0);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.by, by);
	assert_string_equal(d.value, v);
}

static void
test_codec(void **state)
{
	struct qmgr_flush f = { .by = FLUSH_RCPT_DOMAIN }, d;
	char big[FLUSH_MAX_VALUE + 2];

	(void)state;
	roundtrip(FLUSH_ALL, "");
	roundtrip(FLUSH_RCPT_DOMAIN, "Example.ORG");
	roundtrip(FLUSH_SENDER_DOMAIN, "[192.0.2.1]");
	roundtrip(FLUSH_ID, QID);
	/* The plain flush of older clients is still a whole flush. */
	assert_int_equal(proto_simple_encode(&b, REQ_FLUSH), 0);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.by, FLUSH_ALL);
	/* Nothing bad is encoded. */
	for (const char *const *v = (const char *const[]){ "", "a b",
	    "a/b", "x@y", "[1.2.3.4", "[]", NULL }; *v; v++) {
		strlcpy(f.value, *v, sizeof(f.value));
		assert_int_equal(qmgr_flush_encode(&b, &f), -1);
	}
	f.by = FLUSH_ID;
	strlcpy(f.value, "0123456789abcdef", sizeof(f.value));
	assert_int_equal(qmgr_flush_encode(&b, &f), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(flush_domain_ok(big), 0);
	big[FLUSH_MAX_VALUE] = '\0';
	assert_int_equal(flush_domain_ok(big), 1);
}

static void
test_decode_rejects(void **state)
{
	struct qmgr_flush d;
	char big[FLUSH_MAX_VALUE + 2];

	(void)state;
	ipc_begin(&b);
	ipc_add_str(&b, ATTR_REQ, "flush");
	ipc_add_str(&b, ATTR_RCPT_DOMAIN, "a.example");
	ipc_add_str(&b, ATTR_SENDER_DOMAIN, "b.example");
	ipc_end(&b);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "more than one flush filter");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ipc_begin(&b);
	ipc_add_str(&b, ATTR_REQ, "flush");
	ipc_add_str(&b, ATTR_RCPT_DOMAIN, big);
	ipc_end(&b);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	ipc_begin(&b);
	ipc_add_str(&b, ATTR_REQ, "flush");
	ipc_add_str(&b, ATTR_SENDER_DOMAIN, "evil\ndomain");
	ipc_end(&b);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "bad domain");
	ipc_begin(&b);
	ipc_add_str(&b, ATTR_REQ, "flush");
	ipc_add(&b, ATTR_ID, "0123456789ABCDE\0", 16);
	ipc_end(&b);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	ipc_begin(&b);
	ipc_add_str(&b, ATTR_REQ, "hold");
	ipc_end(&b);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
}

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
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
