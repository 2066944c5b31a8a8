/*
 * Unit tests for lib/smtp_bdat.c (the BDAT argument: size bounded,
 * digits only, optional LAST) and for the BDAT form of lib/smtp_data.c
 * (LF -> CRLF without dot-stuffing, no final dot).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp_bdat.h"
#include "smtp_data.h"

static void
ok(const char *arg, unsigned long long want, int want_last)
{
	unsigned long long size = 12345;
	int last = 7;

	assert_int_equal(smtp_bdat_parse(arg, &size, &last), 0);
	assert_true(size == want);
	assert_int_equal(last, want_last);
}

static void
bad(const char *arg)
{
	unsigned long long size;
	int last;

	assert_int_equal(smtp_bdat_parse(arg, &size, &last), -1);
}

static void
test_parse(void **state)
{
	(void)state;
	ok("0", 0, 0);
	ok("0 LAST", 0, 1);
	ok("1000", 1000, 0);
	ok("1000 last", 1000, 1);
	ok("65536\t  LaSt", 65536, 1);
	ok("999999999999999999", 999999999999999999ULL, 0);	/* 18 digits */
	ok("000000000000000001 LAST", 1, 1);
}

static void
test_parse_bad(void **state)
{
	(void)state;
	bad("");
	bad(" 10");
	bad("LAST");
	bad("-1");
	bad("+1");
	bad("1e3");
	bad("10 LAST x");
	bad("10 LASTING");
	bad("10 FIRST");
	bad("10 ");
	bad("0x10");
	bad("1000000000000000000");		/* 19 digits */
	bad("123456789012345678901234567890");	/* would overflow */
	bad("18446744073709551616 LAST");
}

static void
test_bdat_wire(void **state)
{
	struct smtp_dot d;
	char out[64];
	size_t o;

	(void)state;
	smtp_dot_init(&d);
	d.stuff = 0;
	o = smtp_dot_encode(&d, ".a\n.\n", 5, out);
	o += smtp_crlf_finish(&d, out + o);
	assert_int_equal(o, 7);
	assert_memory_equal(out, ".a\r\n.\r\n", 7);

	smtp_dot_init(&d);	/* no final LF: one is added, no dot */
	d.stuff = 0;
	o = smtp_dot_encode(&d, "x\r", 2, out);
	o += smtp_crlf_finish(&d, out + o);
	assert_int_equal(o, 4);
	assert_memory_equal(out, "x\r\r\n", 4);

	smtp_dot_init(&d);	/* empty: nothing at all */
	d.stuff = 0;
	assert_int_equal(smtp_crlf_finish(&d, out), 0);

	smtp_dot_init(&d);	/* DATA's form is unchanged */
	o = smtp_dot_encode(&d, ".a\n", 3, out);
	o += smtp_dot_finish(&d, out + o);
	assert_int_equal(o, 8);
	assert_memory_equal(out, "..a\r\n.\r\n", 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_bdat_wire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
