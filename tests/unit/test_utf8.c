/*
 * test_utf8: the UTF-8 validator (RFC 3629: overlongs, surrogates,
 * controls, truncation), the IDN conversions (U-label -> A-label, map
 * keys), UTF-8 in addresses and the SMTPUTF8 MAIL parameter, and a map
 * compiled in one form of a domain found in the other.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "idn.h"
#include "map.h"
#include "smtp_cmd.h"
#include "utf8.h"

static int
valid(const char *s)
{
	return utf8_valid(s, strlen(s));
}

static void
test_valid(void **state)
{
	(void)state;
	assert_true(valid(""));
	assert_true(valid("ascii.only"));
	assert_true(valid("caf\xc3\xa9"));		/* é */
	assert_true(valid("\xe2\x82\xac"));		/* € */
	assert_true(valid("\xf0\x9f\x98\x80"));		/* U+1F600 */
	assert_true(valid("\xf4\x8f\xbf\xbf"));		/* U+10FFFF */
	assert_true(valid("\xed\x9f\xbf"));		/* U+D7FF */
	assert_true(valid("\xc2\xa0"));			/* U+00A0 */
}

static void
test_invalid(void **state)
{
	(void)state;
	assert_false(valid("\xc0\xaf"));		/* overlong '/' */
	assert_false(valid("\xc1\xbf"));
	assert_false(valid("\xe0\x80\xaf"));		/* overlong, 3 */
	assert_false(valid("\xf0\x80\x80\xaf"));	/* overlong, 4 */
	assert_false(valid("\xed\xa0\x80"));		/* U+D800 */
	assert_false(valid("\xed\xbf\xbf"));		/* U+DFFF */
	assert_false(valid("\xf4\x90\x80\x80"));	/* U+110000 */
	assert_false(valid("\xf5\x80\x80\x80"));
	assert_false(valid("\xff"));
	assert_false(valid("\x80"));			/* lone continuation */
	assert_false(valid("caf\xc3"));			/* truncated */
	assert_false(valid("\xe2\x82"));
	assert_false(valid("\xe2\x28\xa1"));		/* bad continuation */
	assert_false(valid("\xc2\x85"));		/* C1 NEL */
	assert_false(valid("\xc2\x9f"));
	assert_false(valid("a\x01z"));			/* C0 */
	assert_false(valid("a\x7fz"));			/* DEL */
	/* never reads past len */
	assert_true(utf8_valid("caf\xc3\xa9", 3));
	assert_false(utf8_valid("caf\xc3\xa9", 4));
	assert_true(utf8_has8bit("a\xc3\xa9", 3));
	assert_false(utf8_has8bit("abc", 3));
}

/* in -> want through f (idn_domain_ascii or idn_key_norm) */
static void
conv(int (*f)(const char *, char *, size_t), const char *in,
    const char *want)
{
	char out[300];

	assert_int_equal(f(in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
test_idn_domain(void **state)
{
	char out[256];

	(void)state;
	conv(idn_domain_ascii, "caf\xc3\xa9.example", "xn--caf-dma.example");
	/* upper-case U-label, trailing dot: the same A-label */
	conv(idn_domain_ascii, "CAF\xc3\x89.Example.", "xn--caf-dma.example");
	conv(idn_domain_ascii, "XN--CAF-DMA.example", "xn--caf-dma.example");
	conv(idn_domain_ascii, "\xe4\xbe\x8b\xe3\x81\x88.jp", "xn--r8jz45g.jp");
	/* bad UTF-8, too small a buffer */
	assert_int_equal(idn_domain_ascii("caf\xc3.example", out,
	    sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(idn_domain_ascii("caf\xc3\xa9.example", out, 8), -1);
	assert_int_equal(idn_domain_ascii("example.org", out, 5), -1);
}

static void
test_key_norm(void **state)
{
	char out[16];

	(void)state;
	conv(idn_key_norm, "From:Jos\xc3\xa9@CAF\xc3\xa9.example",
	    "from:jos\xc3\xa9@xn--caf-dma.example");
	conv(idn_key_norm, "To:caf\xc3\xa9.example", "to:xn--caf-dma.example");
	conv(idn_key_norm, "caf\xc3\xa9.example", "xn--caf-dma.example");
	conv(idn_key_norm, "User@Example.ORG", "user@example.org");
	conv(idn_key_norm, "jos\xc3\xa9@", "jos\xc3\xa9@");
	/* not a domain that converts: kept, lower-cased */
	conv(idn_key_norm, "a@B\xc3", "a@b\xc3");
	assert_int_equal(idn_key_norm("caf\xc3\xa9.example", out, 10), -1);
}

static void
test_addr_utf8(void **state)
{
	struct addr a;
	const char *why = NULL, *p;

	(void)state;
	p = "<jos\xc3\xa9@caf\xc3\xa9.example>";
	assert_int_equal(addr_parse_path(p, strlen(p), 0, &a, &why), 0);
	assert_string_equal(a.local, "jos\xc3\xa9");
	assert_true(addr_has8bit(&a));
	p = "<jose@example.org>";
	assert_int_equal(addr_parse_path(p, strlen(p), 0, &a, &why), 0);
	assert_false(addr_has8bit(&a));
	p = "<jos\xc0\xaf@example.org>";
	assert_int_equal(addr_parse_path(p, strlen(p), 0, &a, &why), -1);
	assert_string_equal(why, ADDR_BAD_UTF8);
	p = "<jose@caf\xed\xa0\x80.example>";
	assert_int_equal(addr_parse_path(p, strlen(p), 0, &a, &why), -1);
	assert_string_equal(why, ADDR_BAD_UTF8);
	p = "<\"jos\xc2\x85\"@example.org>";	/* C1 even when quoted */
	assert_int_equal(addr_parse_path(p, strlen(p), 0, &a, &why), -1);
}

static void
cmd_bad(const char *line, const char *reply)
{
	struct smtp_cmd c;
	const char *r = NULL;

	assert_int_equal(smtp_cmd_parse(line, strlen(line), &c, &r), -1);
	assert_string_equal(r, reply);
}

static void
test_cmd_smtputf8(void **state)
{
	struct smtp_cmd c;
	const char *r, *l;

	(void)state;
	l = "MAIL FROM:<jos\xc3\xa9@example.org> SMTPUTF8";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &c, &r), 0);
	assert_true(c.smtputf8);
	l = "MAIL FROM:<a@example.org>";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &c, &r), 0);
	assert_false(c.smtputf8);
	cmd_bad("MAIL FROM:<a@b.c> SMTPUTF8=1",
	    "501 5.5.4 Malformed parameter");
	cmd_bad("MAIL FROM:<jos\xc3@example.org> SMTPUTF8",
	    "553 5.1.7 Malformed UTF-8 in sender address");
	cmd_bad("RCPT TO:<a@caf\xc0\xa9.example>",
	    "553 5.1.3 Malformed UTF-8 in recipient address");
	cmd_bad("RCPT TO:<a@b.c> SMTPUTF8", "555 5.5.4 Unsupported option");
}

/* A map written with one form of a domain answers for the other. */
static void
test_map_forms(void **state)
{
	char dir[] = "/tmp/test_utf8.XXXXXX", path[64], cdb[80], *v;
	struct conf_errors e = { NULL, 0, 0 };
	struct map m;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access", dir);
	snprintf(cdb, sizeof(cdb), "%s.cdb", path);
	assert_non_null(fp = fopen(path, "w"));
	fputs("From:caf\xc3\xa9.example REJECT\n"
	    "To:xn--bcher-kva.example RELAY\n"
	    "jos\xc3\xa9@xn--caf-dma.example OK\n", fp);
	fclose(fp);
	assert_int_equal(map_compile(path, MAP_PLAIN, &e), 0);
	assert_int_equal(map_open(&m, path), 0);
	assert_int_equal(map_lookup(&m, "From:xn--caf-dma.example", &v), 1);
	assert_string_equal(v, "REJECT");
	free(v);
	assert_int_equal(map_lookup(&m, "from:CAF\xc3\x89.example", &v), 1);
	free(v);
	assert_int_equal(map_lookup(&m, "To:b\xc3\xbc" "cher.example", &v),
	    1);
	assert_string_equal(v, "RELAY");
	free(v);
	assert_int_equal(map_lookup(&m, "jos\xc3\xa9@caf\xc3\xa9.example",
	    &v), 1);
	assert_string_equal(v, "OK");
	free(v);
	assert_int_equal(map_lookup(&m, "jose@caf\xc3\xa9.example", &v), 0);
	map_close(&m);
	unlink(cdb);
	unlink(path);
	rmdir(dir);
	for (size_t i = 0; i < e.n; i++)
		free(e.msg[i]);
	free(e.msg);
}

/* local_domains/relay_domains: either form in the list matches either
 * form in the mail. */
static void
test_domain_list(void **state)
{
	struct domain_list dl;
	struct conf_errors e = { NULL, 0, 0 };

	(void)state;
	assert_int_equal(domain_list_load("caf\xc3\xa9.example, "
	    "xn--bcher-kva.example", &dl, &e), 0);
	assert_true(domain_list_match(&dl, "xn--caf-dma.example", 0));
	assert_true(domain_list_match(&dl, "CAF\xc3\x89.example", 0));
	assert_true(domain_list_match(&dl, "b\xc3\xbc" "cher.example", 0));
	assert_true(domain_list_match(&dl, "a.b\xc3\xbc" "cher.example", 1));
	assert_false(domain_list_match(&dl, "cafe.example", 1));
	domain_list_free(&dl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_idn_domain),
		cmocka_unit_test(test_key_norm),
		cmocka_unit_test(test_addr_utf8),
		cmocka_unit_test(test_cmd_smtputf8),
		cmocka_unit_test(test_map_forms),
		cmocka_unit_test(test_domain_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
