/* xtext and the DSN parameters: decoding bounds, smtp_cmd's 501s, and
 * the cleanup open request carrying them (lib/xtext.c, lib/proto_dsn.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "smtp_cmd.h"
#include "xtext.h"

static void
test_decode(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(xtext_decode("a+2Bb", 5, out, sizeof(out)), 3);
	assert_string_equal(out, "a+b");
	assert_int_equal(xtext_decode("+20x", 4, out, sizeof(out)), 2);
	assert_string_equal(out, " x");
	/* lower-case hex, cut escapes, bad octets, control characters */
	assert_int_equal(xtext_decode("a+2b", 4, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("a+2", 3, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("a+", 2, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("a=b", 3, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("a b", 3, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("a\x80", 2, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("+0A", 3, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("+00", 3, out, sizeof(out)), -1);
	assert_int_equal(xtext_decode("+7F", 3, out, sizeof(out)), -1);
	/* the bound: 15 octets fit in 16, 16 do not */
	assert_int_equal(xtext_decode("aaaaaaaaaaaaaaa", 15, out, 16), 15);
	assert_int_equal(xtext_decode("aaaaaaaaaaaaaaaa", 16, out, 16), -1);
	assert_int_equal(xtext_decode("+41+41", 6, out, 3), 2);
	assert_int_equal(xtext_decode("+41+41+41", 9, out, 3), -1);
	assert_int_equal(xtext_decode("x", 1, out, 0), -1);
}

static void
test_encode(void **state)
{
	char out[16], back[16];

	(void)state;
	assert_int_equal(xtext_encode("a+b=c d", out, sizeof(out)), 0);
	assert_string_equal(out, "a+2Bb+3Dc+20d");
	assert_int_equal(xtext_decode(out, strlen(out), back, sizeof(back)), 7);
	assert_string_equal(back, "a+b=c d");
	assert_int_equal(xtext_encode("abc", out, 4), 0);
	assert_int_equal(xtext_encode("abcd", out, 4), -1);
	assert_int_equal(xtext_encode("ab+", out, 5), -1);	/* needs 6 */
	assert_int_equal(xtext_encode("ab+", out, 6), 0);
}

static void
test_notify(void **state)
{
	char out[40];

	(void)state;
	assert_int_equal(dsn_notify_parse("NEVER"), DSN_NOTIFY_NEVER);
	assert_int_equal(dsn_notify_parse("success,Failure,DELAY"),
	    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE | DSN_NOTIFY_DELAY);
	assert_int_equal(dsn_notify_parse("NEVER,SUCCESS"), -1);
	assert_int_equal(dsn_notify_parse("SUCCESS,SUCCESS"), -1);
	assert_int_equal(dsn_notify_parse("SUCCESS,"), -1);
	assert_int_equal(dsn_notify_parse(",SUCCESS"), -1);
	assert_int_equal(dsn_notify_parse(""), -1);
	assert_int_equal(dsn_notify_parse("SOMETIMES"), -1);
	dsn_notify_format(DSN_NOTIFY_DELAY | DSN_NOTIFY_SUCCESS, out,
	    sizeof(out));
	assert_string_equal(out, "SUCCESS,DELAY");
	dsn_notify_format(DSN_NOTIFY_NEVER, out, sizeof(out));
	assert_string_equal(out, "NEVER");
}

static void
test_orcpt(void **state)
{
	char out[DSN_ORCPT_MAX + 1], big[DSN_ORCPT_MAX + 2];

	(void)state;
	assert_int_equal(dsn_orcpt_parse("rfc822;a+2Bb@x", out, sizeof(out)),
	    0);
	assert_string_equal(out, "rfc822;a+b@x");
	assert_int_equal(dsn_orcpt_parse("rfc822;", out, sizeof(out)), -1);
	assert_int_equal(dsn_orcpt_parse(";a@x", out, sizeof(out)), -1);
	assert_int_equal(dsn_orcpt_parse("a@x", out, sizeof(out)), -1);
	assert_int_equal(dsn_orcpt_parse("rfc 822;a@x", out, sizeof(out)), -1);
	assert_int_equal(dsn_orcpt_parse("rfc822;a+2b@x", out, sizeof(out)),
	    -1);
	memset(big, 'a', sizeof(big));
	memcpy(big, "rfc822;", 7);
	big[DSN_ORCPT_MAX] = '\0';		/* 500 octets: fits */
	assert_int_equal(dsn_orcpt_parse(big, out, sizeof(out)), 0);
	big[DSN_ORCPT_MAX] = 'a';
	big[DSN_ORCPT_MAX + 1] = '\0';		/* 501: refused */
	assert_int_equal(dsn_orcpt_parse(big, out, sizeof(out)), -1);
}

/* The SMTP command parser: the values it keeps and the replies. */
static void
test_smtp_cmd(void **state)
{
	struct smtp_cmd c;
	const char *r, *l;
	char line[900];

	(void)state;
	l = "MAIL FROM:<a@b> RET=hdrs ENVID=x+2By";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &c, &r), 0);
	assert_int_equal(c.ret, DSN_RET_HDRS);
	assert_string_equal(c.envid, "x+y");
	l = "RCPT TO:<a@b> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a@b";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &c, &r), 0);
	assert_int_equal(c.notify, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
	assert_string_equal(c.orcpt, "rfc822;a@b");
	static const char *bad[] = {
		"MAIL FROM:<a@b> RET=ALL",
		"MAIL FROM:<a@b> RET=FULL RET=FULL",
		"MAIL FROM:<a@b> ENVID=a+zz",
		"RCPT TO:<a@b> NOTIFY=NEVER,DELAY",
		"RCPT TO:<a@b> ORCPT=rfc822;a+2",
		"RCPT TO:<a@b> ORCPT=rfc822",
		"RCPT TO:<a@b> NOTIFY=DELAY NOTIFY=DELAY",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(smtp_cmd_parse(bad[i], strlen(bad[i]), &c,
		    &r), -1);
		assert_memory_equal(r, "501 5.5.4", 9);
	}
	/* ENVID: 100 octets decoded are fine, 101 are not */
	snprintf(line, sizeof(line), "MAIL FROM:<a@b> ENVID=");
	for (int i = 0; i < 100; i++)
		strlcat(line, "+41", sizeof(line));
	assert_int_equal(smtp_cmd_parse(line, strlen(line), &c, &r), 0);
	assert_int_equal(strlen(c.envid), 100);
	strlcat(line, "B", sizeof(line));
	assert_int_equal(smtp_cmd_parse(line, strlen(line), &c, &r), -1);
	assert_memory_equal(r, "501 5.5.4", 9);
	l = "RCPT TO:<a@b> X-FOO=1";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &c, &r), -1);
	assert_memory_equal(r, "555 5.5.4", 9);
}

/* o encoded, sent as a frame, decoded into d. */
static void
roundtrip(const struct cleanup_open *o, struct cleanup_open *d)
{
	struct ipc_msg m;
	struct buf b;
	char err[128];

	buf_init(&b, IPC_MAX_FRAME + 4);
	assert_int_equal(cleanup_open_encode(&b, o), 0);
	ipc_msg_init(&m);
	assert_int_equal(ipc_parse(&m, b.data + 4, b.len - 4), 0);
	assert_int_equal(cleanup_open_decode(&m, d, err, sizeof(err)), 0);
	ipc_msg_free(&m);
	buf_free(&b);
}

/* The open request carries the DSN data to cleanup and back. */
static void
test_open_roundtrip(void **state)
{
	struct cleanup_open o, d;
	struct buf b;
	char *rcpt[] = { "a@x", "b@x", "c@x" };
	int notify[] = { DSN_NOTIFY_SUCCESS, 0, DSN_NOTIFY_NEVER };
	char *orcpt[] = { NULL, "rfc822;B@y", NULL };

	(void)state;
	cleanup_open_init(&o);
	o.sender = "s@x";
	o.rcpt = rcpt;
	o.nrcpt = 3;
	o.ret = DSN_RET_FULL;
	o.envid = "E 1";
	o.notify = notify;
	o.orcpt = orcpt;
	roundtrip(&o, &d);
	assert_int_equal(d.ret, DSN_RET_FULL);
	assert_string_equal(d.envid, "E 1");
	assert_int_equal(d.notify[0], DSN_NOTIFY_SUCCESS);
	assert_int_equal(d.notify[1], 0);
	assert_int_equal(d.notify[2], DSN_NOTIFY_NEVER);
	assert_null(d.orcpt[0]);
	assert_string_equal(d.orcpt[1], "rfc822;B@y");
	assert_null(d.orcpt[2]);
	cleanup_open_free(&d);

	/* a bad value never goes out */
	buf_init(&b, IPC_MAX_FRAME + 4);
	notify[1] = DSN_NOTIFY_NEVER | DSN_NOTIFY_DELAY;
	assert_int_equal(cleanup_open_encode(&b, &o), -1);
	notify[1] = 0;
	orcpt[0] = "no-type";
	assert_int_equal(cleanup_open_encode(&b, &o), -1);
	orcpt[0] = NULL;
	o.envid = "bad\nid";
	assert_int_equal(cleanup_open_encode(&b, &o), -1);

	/* none at all: nothing allocated */
	o.envid = NULL;
	o.notify = NULL;
	o.orcpt = NULL;
	o.ret = 0;
	buf_free(&b);
	roundtrip(&o, &d);
	assert_null(d.notify);
	assert_null(d.envid);
	cleanup_open_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_orcpt),
		cmocka_unit_test(test_smtp_cmd),
		cmocka_unit_test(test_open_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
