/*
 * Unit tests for lib/smtp_reply.c: single and multi-line replies, the
 * enhanced status code, the line and count bounds, the buffer parser,
 * the flat form for logs, and the EHLO keywords.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

static struct smtp_reply	 r;

static int
feed(const char *line)
{
	const char *why = NULL;

	return smtp_reply_line(&r, line, strlen(line), &why);
}

static void
test_single(void **state)
{
	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(feed("250 2.1.0 Ok"), 1);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.esc, "2.1.0");
	assert_string_equal(r.text, "2.1.0 Ok");
	assert_int_equal(r.nlines, 1);
	assert_true(r.done);

	smtp_reply_init(&r);
	assert_int_equal(feed("354 End data with <CR><LF>.<CR><LF>\r"), 1);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.esc, "");
	assert_string_equal(r.text, "End data with <CR><LF>.<CR><LF>");

	/* a bare code is a complete reply (RFC 5321 4.2) */
	smtp_reply_init(&r);
	assert_int_equal(feed("220"), 1);
	assert_int_equal(r.code, 220);
	assert_string_equal(r.text, "");
}

static void
test_multi(void **state)
{
	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(feed("250-mx.example.net Hello"), 0);
	assert_int_equal(feed("250-PIPELINING"), 0);
	assert_int_equal(feed("250-SIZE 10240000"), 0);
	assert_int_equal(feed("250 8BITMIME"), 1);
	assert_int_equal(r.nlines, 4);
	assert_string_equal(r.text,
	    "mx.example.net Hello\nPIPELINING\nSIZE 10240000\n8BITMIME");
	/* nothing after the last line */
	assert_int_equal(feed("250 more"), -1);
}

static void
test_esc(void **state)
{
	(void)state;
	assert_int_equal(smtp_esc_len("5.1.1 No such user", 18), 5);
	assert_int_equal(smtp_esc_len("4.7.1", 5), 5);
	assert_int_equal(smtp_esc_len("5.123.456 x", 11), 9);
	assert_int_equal(smtp_esc_len("3.1.1 x", 7), 0);
	assert_int_equal(smtp_esc_len("5.1 x", 5), 0);
	assert_int_equal(smtp_esc_len("5.1.1x", 6), 0);
	assert_int_equal(smtp_esc_len("5.1234.1", 8), 0);
	assert_int_equal(smtp_esc_len("5..1", 4), 0);

	/* the class must agree with the reply code */
	smtp_reply_init(&r);
	assert_int_equal(feed("550 2.0.0 odd"), 1);
	assert_string_equal(r.esc, "");
	smtp_reply_init(&r);
	assert_int_equal(feed("451-4.3.0 try later"), 0);
	assert_int_equal(feed("451 4.3.0 really"), 1);
	assert_string_equal(r.esc, "4.3.0");
}

static void
test_bad(void **state)
{
	const char *why = NULL;
	char *big;

	(void)state;
	smtp_reply_init(&r);
	assert_int_equal(feed("25"), -1);
	smtp_reply_init(&r);
	assert_int_equal(feed("abc hello"), -1);
	smtp_reply_init(&r);
	assert_int_equal(feed("250_x"), -1);
	smtp_reply_init(&r);
	assert_int_equal(feed("150 x"), -1);	/* no 1yz in SMTP */
	smtp_reply_init(&r);
	assert_int_equal(feed("600 x"), -1);
	smtp_reply_init(&r);
	assert_int_equal(feed("255 x"), 1);
	smtp_reply_init(&r);
	assert_int_equal(feed("260 x"), -1);	/* second digit 0-5 */
	/* code must not change between lines */
	smtp_reply_init(&r);
	assert_int_equal(feed("250-a"), 0);
	assert_int_equal(smtp_reply_line(&r, "251 b", 5, &why), -1);
	assert_non_null(why);

	/* line length: 998 octets + CRLF is the limit */
	big = malloc(1200);
	assert_non_null(big);
	memset(big, 'x', 1200);
	memcpy(big, "250 ", 4);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_line(&r, big, 998, &why), 1);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_line(&r, big, 999, &why), -1);
	free(big);
}

static void
test_many_lines(void **state)
{
	(void)state;
	smtp_reply_init(&r);
	for (int i = 0; i < SMTP_REPLY_MAX_LINES - 1; i++)
		assert_int_equal(feed("250-x"), 0);
	assert_int_equal(feed("250 last"), 1);

	smtp_reply_init(&r);
	for (int i = 0; i < SMTP_REPLY_MAX_LINES; i++)
		assert_int_equal(feed("250-x"), 0);
	assert_int_equal(feed("250 last"), -1);
}

static void
test_truncate(void **state)
{
	char line[900];

	(void)state;
	memset(line, 'y', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "250-", 4);
	smtp_reply_init(&r);
	for (int i = 0; i < 20; i++)
		assert_int_equal(feed(line), 0);
	assert_int_equal(feed("250 end"), 1);
	assert_true(r.truncated);
	assert_int_equal(r.textlen, SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(strlen(r.text), r.textlen);
}

static void
test_parse_buf(void **state)
{
	const char *why = NULL;
	const char *s = "250-a\r\n250 b\r\n550 5.1.1 no\r\n";
	size_t used = 99;

	(void)state;
	/* incomplete: nothing consumed */
	assert_int_equal(smtp_reply_parse(&r, s, 3, &used, &why), 0);
	assert_int_equal(used, 0);
	assert_int_equal(smtp_reply_parse(&r, s, 7, &used, &why), 0);
	assert_int_equal(used, 0);
	/* two pipelined replies */
	assert_int_equal(smtp_reply_parse(&r, s, strlen(s), &used, &why), 1);
	assert_int_equal(used, 14);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "a\nb");
	assert_int_equal(smtp_reply_parse(&r, s + used, strlen(s) - used,
	    &used, &why), 1);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.esc, "5.1.1");
	/* bare LF tolerated */
	assert_int_equal(smtp_reply_parse(&r, "221 bye\n", 8, &used, &why), 1);
	assert_int_equal(used, 8);
	assert_string_equal(r.text, "bye");
	/* garbage */
	assert_int_equal(smtp_reply_parse(&r, "HTTP/1.1 400\r\n", 14, &used,
	    &why), -1);
}

static void
test_parse_buf_long(void **state)
{
	const char *why = NULL;
	char *big = malloc(2000);
	size_t used;

	(void)state;
	assert_non_null(big);
	memset(big, 'z', 2000);
	memcpy(big, "250 ", 4);
	/* 999 bytes without LF: could still be 998 + CR */
	assert_int_equal(smtp_reply_parse(&r, big, 999, &used, &why), 0);
	/* 1000 without LF: too long already */
	assert_int_equal(smtp_reply_parse(&r, big, 1000, &used, &why), -1);
	assert_int_equal(smtp_reply_parse(&r, big, 2000, &used, &why), -1);
	free(big);
}

static void
test_flat(void **state)
{
	char out[64];

	(void)state;
	smtp_reply_init(&r);
	feed("550-5.1.1 No such");
	feed("550 5.1.1 user\x01\xff");
	assert_int_equal(smtp_reply_flat(&r, out, sizeof(out)),
	    strlen("550 5.1.1 No such 5.1.1 user??"));
	assert_string_equal(out, "550 5.1.1 No such 5.1.1 user??");
	smtp_reply_flat(&r, out, 8);
	assert_string_equal(out, "550 5.1");
	smtp_reply_init(&r);
	feed("221");
	smtp_reply_flat(&r, out, sizeof(out));
	assert_string_equal(out, "221");
}

static void
test_ehlo(void **state)
{
	struct smtp_ehlo e;

	(void)state;
	smtp_reply_init(&r);
	feed("250-mx.example.net greets you");
	feed("250-pipelining");
	feed("250-SIZE 10240000");
	feed("250-8BITMIME");
	feed("250-AUTH=LOGIN");
	feed("250-AUTH plain login");
	feed("250-STARTTLS");
	feed("250-ENHANCEDSTATUSCODES");
	feed("250-XFOO bar");
	feed("250 SMTPUTF8");
	smtp_ehlo_parse(&r, &e);
	assert_true(e.pipelining);
	assert_true(e.size);
	assert_true(e.size_max == 10240000ULL);
	assert_true(e.eightbitmime);
	assert_true(e.auth);
	assert_string_equal(e.auth_mechs, "PLAIN LOGIN");
	assert_true(e.starttls);
	assert_true(e.enhancedstatuscodes);
	assert_true(e.smtputf8);
	assert_false(e.chunking);
	assert_false(e.dsn);

	/* the greeting line is not a keyword */
	smtp_reply_init(&r);
	feed("250 PIPELINING");
	smtp_ehlo_parse(&r, &e);
	assert_false(e.pipelining);

	/* SIZE without a number; an absurd number */
	smtp_reply_init(&r);
	feed("250-x");
	feed("250-SIZE");
	feed("250 SIZEX");
	smtp_ehlo_parse(&r, &e);
	assert_true(e.size);
	assert_true(e.size_max == 0);
	smtp_reply_init(&r);
	feed("250-x");
	feed("250 SIZE 99999999999999999999999");
	smtp_ehlo_parse(&r, &e);
	assert_true(e.size);
	assert_true(e.size_max == 0);

	/* not a 2xx: nothing */
	smtp_reply_init(&r);
	feed("502-x");
	feed("502 PIPELINING");
	smtp_ehlo_parse(&r, &e);
	assert_false(e.pipelining);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_multi),
		cmocka_unit_test(test_esc),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_parse_buf),
		cmocka_unit_test(test_parse_buf_long),
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_ehlo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
