/*
 * Unit tests for lib/addr.c: path parsing (good and hostile input),
 * formatting with re-quoting, domain normalisation and +ext splitting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "addr.h"

static int
parse(const char *s, int allow_null, struct addr *a, const char **why)
{
	*why = NULL;
	return addr_parse_path(s, strlen(s), allow_null, a, why);
}

static void
bad(const char *s, int allow_null)
{
	struct addr	 a;
	const char	*why;

	if (parse(s, allow_null, &a, &why) != -1)
		fail_msg("accepted bad path \"%s\"", s);
	assert_non_null(why);
}

static void
test_basic(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("<User@Example.COM>", 0, &a, &why), 0);
	assert_string_equal(a.local, "User");
	assert_string_equal(a.domain, "example.com");
	assert_int_equal(a.quoted, 0);
	assert_int_equal(a.null, 0);
}

static void
test_no_brackets(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("user@example.com", 0, &a, &why), 0);
	assert_string_equal(a.local, "user");
	assert_string_equal(a.domain, "example.com");
}

static void
test_null(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("<>", 1, &a, &why), 0);
	assert_int_equal(a.null, 1);
	assert_string_equal(a.local, "");
	assert_int_equal(parse("<>", 0, &a, &why), -1);
	assert_non_null(why);
	bad("", 1);
}

static void
test_source_route(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("<@a.com,@b.com:user@c.com>", 0, &a, &why), 0);
	assert_string_equal(a.local, "user");
	assert_string_equal(a.domain, "c.com");
	assert_int_equal(parse("<@a.com:x@y.z>", 0, &a, &why), 0);
	assert_string_equal(a.domain, "y.z");
	bad("<@a.com,@b.com>", 0);
	bad("<@:user@c.com>", 0);
	bad("<@a..com:user@c.com>", 0);
	bad("<@a.com:>", 0);
}

static void
test_quoted(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("\"john doe\"@x.org", 0, &a, &why), 0);
	assert_string_equal(a.local, "john doe");
	assert_string_equal(a.domain, "x.org");
	assert_int_equal(a.quoted, 1);
	assert_int_equal(parse("<\"a\\\"b>c\"@x.org>", 0, &a, &why), 0);
	assert_string_equal(a.local, "a\"b>c");
	bad("\"unterminated@x.org", 0);
	bad("\"a\"b@x.org", 0);
}

static void
test_domain_norm(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;
	char		 d[32] = "Mail.EXAMPLE.org.";

	assert_int_equal(parse("<u@Example.COM.>", 0, &a, &why), 0);
	assert_string_equal(a.domain, "example.com");
	addr_domain_norm(d);
	assert_string_equal(d, "mail.example.org");
	assert_int_equal(parse("u@b\xc3\xbc" "cher.de", 0, &a, &why), 0);
	assert_string_equal(a.domain, "b\xc3\xbc" "cher.de");
}

static void
test_ip_literal(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("<root@[1.2.3.4]>", 0, &a, &why), 0);
	assert_string_equal(a.domain, "[1.2.3.4]");
	assert_int_equal(parse("<root@[IPv6:2001:db8::1]>", 0, &a, &why), 0);
	assert_string_equal(a.domain, "[IPv6:2001:db8::1]");
	bad("<root@[1.2.3.4>", 0);
	bad("<root@1.2.3.4]>", 0);
	bad("<root@[]>", 0);
	bad("<root@[1.2 .3.4]>", 0);
}

static void
test_bare_local(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;

	assert_int_equal(parse("<postmaster>", 0, &a, &why), 0);
	assert_string_equal(a.local, "postmaster");
	assert_string_equal(a.domain, "");
	assert_int_equal(parse("Postmaster", 0, &a, &why), 0);
	assert_string_equal(a.local, "Postmaster");
}

static void
test_bad_syntax(void **state)
{
	(void)state;
	bad("<user@example.com", 0);
	bad("user@example.com>", 0);
	bad("<user@>", 0);
	bad("<@example.com>", 0);
	bad("<us er@example.com>", 0);
	bad("<user@exa mple.com>", 0);
	bad("<user@example..com>", 0);
	bad("<user@.example.com>", 0);
	bad("<user@exam_ple.com>", 0);
	bad("<user@example.com..>", 0);
	bad("<user@ex(ample).com>", 0);
	bad("<user\x01@example.com>", 0);
	bad("<user@example.com\x7f>", 0);
	bad("<<user@example.com>>", 0);
	bad("<a,b@example.com>", 0);
	bad("<>", 0);
}

static void
test_embedded_nul(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why = NULL;

	assert_int_equal(addr_parse_path("<a\0b@x.org>", 11, 0, &a, &why), -1);
	assert_non_null(why);
}

static void
test_lengths(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;
	char		 buf[600], *p;
	int		 i;

	/* 64-octet local part: accepted; 65: rejected. */
	memset(buf, 'a', 64);
	memcpy(buf + 64, "@x.org", 7);
	assert_int_equal(parse(buf, 0, &a, &why), 0);
	assert_int_equal(strlen(a.local), 64);
	memset(buf, 'a', 65);
	memcpy(buf + 65, "@x.org", 7);
	bad(buf, 0);
	memset(buf, 'q', 60);
	buf[0] = '"';
	memcpy(buf + 60, "aaaaaa\"@x.org", 14);
	bad(buf, 0);

	/* 255-octet domain: accepted; 256 (or a 64-octet label): rejected. */
	p = buf;
	*p++ = 'u';
	*p++ = '@';
	for (i = 0; i < 4; i++) {
		memset(p, 'd', 62);
		p += 62;
		*p++ = '.';
	}
	memcpy(p, "com", 4);	/* 4 * 63 + 3 = 255 */
	assert_int_equal(parse(buf, 0, &a, &why), 0);
	assert_int_equal(strlen(a.domain), 255);
	memcpy(p, "coms", 5);
	bad(buf, 0);
	memset(buf + 2, 'e', 64);
	memcpy(buf + 66, ".com", 5);
	bad(buf, 0);

	/* Far too long overall. */
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	bad(buf, 0);
}

static void
test_format(void **state)
{
	(void)state;
	struct addr	 a;
	const char	*why;
	char		 out[256], small[8];

	assert_int_equal(parse("<User@Example.COM>", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "User@example.com");
	assert_int_equal(parse("\"john doe\"@x.org", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "\"john doe\"@x.org");
	assert_int_equal(parse("\"a\\\"b\"@x.org", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "\"a\\\"b\"@x.org");
	/* quoted but needs no quotes: emitted bare */
	assert_int_equal(parse("\"abc\"@x.org", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "abc@x.org");
	assert_int_equal(parse("<>", 1, &a, &why), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(parse("postmaster", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, out, sizeof(out)), 0);
	assert_string_equal(out, "postmaster");
	/* does not fit */
	assert_int_equal(parse("longuser@x.org", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(parse("abc@d.e", 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, small, sizeof(small)), 0);
	assert_string_equal(small, "abc@d.e");
	assert_int_equal(addr_format(&a, small, 0), -1);
}

static void
test_local_base(void **state)
{
	(void)state;
	assert_int_equal(addr_local_base_len("user+ext"), 4);
	assert_int_equal(addr_local_base_len("user"), 4);
	assert_int_equal(addr_local_base_len("+x"), 0);
	assert_int_equal(addr_local_base_len("a+b+c"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_no_brackets),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_source_route),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_domain_norm),
		cmocka_unit_test(test_ip_literal),
		cmocka_unit_test(test_bare_local),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_local_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
