/*
 * Unit tests for the pure parts of lib/dns.c: dns_servers parsing,
 * reverse names (IPv4, IPv6, DNSBL zones), wire-format names from hostile
 * answers, MX rdata, ordering and self-trimming, and the dnsbl list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dns.h"

static void
test_servers(void **st)
{
	char out[DNS_MAX_SERVERS][80];

	(void)st;
	assert_int_equal(dns_servers_parse("127.0.0.1:5353, [::1]:53 ::1 "
	    "10.0.0.1", out, DNS_MAX_SERVERS), 4);
	assert_string_equal(out[0], "127.0.0.1@5353");
	assert_string_equal(out[1], "::1@53");
	assert_string_equal(out[2], "::1");
	assert_string_equal(out[3], "10.0.0.1");
	assert_int_equal(dns_servers_parse("", out, 8), 0);
	assert_int_equal(dns_servers_parse("ns.example.com", out, 8), -1);
	assert_int_equal(dns_servers_parse("1.2.3.4:0", out, 8), -1);
	assert_int_equal(dns_servers_parse("1.2.3.4:65536", out, 8), -1);
	assert_int_equal(dns_servers_parse("1.2.3.4:", out, 8), -1);
	assert_int_equal(dns_servers_parse("[::1", out, 8), -1);
	assert_int_equal(dns_servers_parse("[::1]x", out, 8), -1);
	assert_int_equal(dns_servers_parse("1.1.1.1 2.2.2.2", out, 1), -1);
}

static void
test_reverse(void **st)
{
	char out[300];

	(void)st;
	assert_int_equal(dns_reverse_name("1.2.3.4", NULL, out, sizeof(out)),
	    0);
	assert_string_equal(out, "4.3.2.1.in-addr.arpa");
	assert_int_equal(dns_reverse_name("127.0.0.10", "bl.example", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "10.0.0.127.bl.example");
	assert_int_equal(dns_reverse_name("2001:db8::1", NULL, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_int_equal(dns_reverse_name("1.2.3", NULL, out, sizeof(out)),
	    -1);
	assert_int_equal(dns_reverse_name("unknown", NULL, out, sizeof(out)),
	    -1);
	assert_int_equal(dns_reverse_name("1.2.3.4", NULL, out, 10), -1);
}

static void
test_wire_name(void **st)
{
	static const unsigned char ok[] = "\x02Mx\x07" "example\x03" "com";
	static const unsigned char ptr[] = { 0xc0, 0x0c };
	static const unsigned char dot[] = { 3, 'a', '.', 'b', 0 };
	static const unsigned char ctl[] = { 2, 'a', '\n', 0 };
	static const unsigned char lng[] = { 10, 'a', 'b', 0 };
	static const unsigned char root[] = { 0 };
	char out[256];

	(void)st;
	assert_int_equal(dns_wire_name(ok, sizeof(ok), out, sizeof(out)),
	    (int)sizeof(ok));
	assert_string_equal(out, "mx.example.com");
	assert_int_equal(dns_wire_name(ok, sizeof(ok) - 1, out, sizeof(out)),
	    -1);				/* no terminating root label */
	assert_int_equal(dns_wire_name(ok, sizeof(ok), out, 5), -1);
	assert_int_equal(dns_wire_name(ptr, sizeof(ptr), out, sizeof(out)),
	    -1);
	assert_int_equal(dns_wire_name(dot, sizeof(dot), out, sizeof(out)),
	    -1);
	assert_int_equal(dns_wire_name(ctl, sizeof(ctl), out, sizeof(out)),
	    -1);
	assert_int_equal(dns_wire_name(lng, sizeof(lng), out, sizeof(out)),
	    -1);
	assert_int_equal(dns_wire_name(root, 1, out, sizeof(out)), 1);
	assert_string_equal(out, "");
}

static void
test_mx(void **st)
{
	static const unsigned char rd[] = "\x00\x0a\x02mx\x02pt\x07" "example";
	struct dns_mx mx[5];
	int me;

	(void)st;
	assert_int_equal(dns_mx_rdata(rd, sizeof(rd), &mx[0]), 0);
	assert_int_equal(mx[0].pref, 10);
	assert_string_equal(mx[0].host, "mx.pt.example");
	assert_int_equal(dns_mx_rdata(rd, sizeof(rd) + 0 - 1, &mx[0]), -1);
	assert_int_equal(dns_mx_rdata(rd, 2, &mx[0]), -1);

	mx[0].pref = 20; snprintf(mx[0].host, sizeof(mx[0].host), "%s", "c");
	mx[1].pref = 10; snprintf(mx[1].host, sizeof(mx[1].host), "%s", "a");
	mx[2].pref = 20; snprintf(mx[2].host, sizeof(mx[2].host), "%s", "d");
	mx[3].pref = 10; snprintf(mx[3].host, sizeof(mx[3].host), "%s", "b");
	mx[4].pref = 30; snprintf(mx[4].host, sizeof(mx[4].host), "%s", "me.example");
	dns_mx_sort(mx, 5);
	assert_string_equal(mx[0].host, "a");
	assert_string_equal(mx[1].host, "b");
	assert_string_equal(mx[2].host, "c");
	assert_string_equal(mx[3].host, "d");
	assert_string_equal(mx[4].host, "me.example");
	/* we are 30: only the better ones stay */
	assert_int_equal(dns_mx_trim_self(mx, 5, "ME.example", &me), 4);
	assert_int_equal(me, 1);
	assert_int_equal(dns_mx_trim_self(mx, 4, "other", &me), 4);
	assert_int_equal(me, 0);
	/* we are the best: nothing left (a loop) */
	mx[0].pref = 1; snprintf(mx[0].host, sizeof(mx[0].host), "%s", "me.example");
	assert_int_equal(dns_mx_trim_self(mx, 4, "me.example", &me), 0);
	assert_int_equal(me, 1);
}

static void
test_bl(void **st)
{
	struct dns_bl bl[4];

	(void)st;
	assert_int_equal(dns_bl_parse("zen.example, bl.example=\"Go, away "
	    "$&{client_addr}\" x.example.=plain text", bl, 4), 3);
	assert_string_equal(bl[0].zone, "zen.example");
	assert_string_equal(bl[0].text, "");
	assert_string_equal(bl[1].zone, "bl.example");
	assert_string_equal(bl[1].text, "Go, away $&{client_addr}");
	assert_string_equal(bl[2].zone, "x.example");
	assert_string_equal(bl[2].text, "plain text");
	assert_int_equal(dns_bl_parse("", bl, 4), 0);
	assert_int_equal(dns_bl_parse("a=\"unterminated", bl, 4), -1);
	assert_int_equal(dns_bl_parse("a=\"x\"y", bl, 4), -1);
	assert_int_equal(dns_bl_parse("bad/zone", bl, 4), -1);
	assert_int_equal(dns_bl_parse(".lead", bl, 4), -1);
	assert_int_equal(dns_bl_parse("a b c d e", bl, 4), -1);
	assert_int_equal(dns_bl_parse("a=\"ctl\x01\"", bl, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servers),
		cmocka_unit_test(test_reverse),
		cmocka_unit_test(test_wire_name),
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_bl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
