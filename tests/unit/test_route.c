/*
 * Unit tests for maps/route.c and conf/transport.c: the decision table
 * of route_resolve (local, localhost, IP literals, relay domains at a
 * label boundary, smarthost, MX, case, trailing dot, source routes and
 * the percent hack as smtpd's relay tests expect) and the transport rows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route.h"

static struct conf	 cf;
static struct router	 rt;

static void
setup(const char *smarthost)
{
	struct conf_errors errs = { 0 };

	memset(&cf, 0, sizeof(cf));
	cf.hostname = "mx.test.example";
	cf.local_domains = "localhost, Test.Example.";
	cf.relay_domains = "relayed.example";
	cf.smarthost = (char *)smarthost;
	cf.remote_tls = RTLS_MAY;
	cf.local_processes = 3;
	cf.remote_processes = 7;
	cf.remote_concurrency = 5;
	assert_int_equal(route_init(&rt, &cf, &errs), 0);
	assert_int_equal(errs.n, 0);
}

struct want {
	const char	*rcpt;
	const char	*addr;		/* rewritten */
	enum route_dest	 dest;
	const char	*transport;
	const char	*nexthop;
};

static void
check(const struct want *w)
{
	struct route r;

	if (route_resolve(&rt, w->rcpt, &r, NULL, NULL) != 0)
		fail_msg("<%s>: no route", w->rcpt);
	if (strcmp(r.addr, w->addr) != 0 || r.dest != w->dest ||
	    strcmp(r.transport->name, w->transport) != 0 ||
	    strcmp(r.nexthop, w->nexthop) != 0)
		fail_msg("<%s>: got <%s> dest %d %s %s, want <%s> dest %d "
		    "%s %s", w->rcpt, r.addr, r.dest, r.transport->name,
		    r.nexthop, w->addr, w->dest, w->transport, w->nexthop);
	assert_int_equal(r.tls, r.dest == ROUTE_LOCAL ? RTLS_NONE : RTLS_MAY);
}

#define LOCAL(rc, a)	{ rc, a, ROUTE_LOCAL, "local", "mx.test.example" }
#define MX(rc, a, nh)	{ rc, a, ROUTE_ELSEWHERE, "remote", nh }

static const struct want mx_table[] = {
	LOCAL("user@mx.test.example", "user@mx.test.example"),
	LOCAL("<User@MX.Test.Example.>", "User@mx.test.example"),
	LOCAL("postmaster", "postmaster@mx.test.example"),
	LOCAL("user@localhost", "user@localhost"),
	LOCAL("user@LocalHost.", "user@localhost"),
	LOCAL("user@test.example", "user@test.example"),
	LOCAL("user@TEST.example.", "user@test.example"),
	/* the percent hack, bang paths and quoted '@' stay with the local
	 * domain (local refuses them); they never pick another route */
	LOCAL("user%elsewhere.example@mx.test.example",
	    "user%elsewhere.example@mx.test.example"),
	LOCAL("elsewhere.example!user@mx.test.example",
	    "elsewhere.example!user@mx.test.example"),
	LOCAL("\"user@elsewhere.example\"@mx.test.example",
	    "\"user@elsewhere.example\"@mx.test.example"),
	LOCAL("postmaster%elsewhere.example@localhost",
	    "postmaster%elsewhere.example@localhost"),
	/* not parseable: kept, routed by the text after the last '@' */
	LOCAL("user@elsewhere.example@mx.test.example",
	    "user@elsewhere.example@mx.test.example"),
	LOCAL("user@", "user@"),
	LOCAL("user@.", "user@."),
	/* a source route is dropped: the mailbox decides */
	MX("@mx.test.example:user@elsewhere.example",
	    "user@elsewhere.example", "elsewhere.example"),
	MX("<@mx.test.example,@localhost:user@elsewhere.example>",
	    "user@elsewhere.example", "elsewhere.example"),
	MX("user@elsewhere.example.", "user@elsewhere.example",
	    "elsewhere.example"),
	MX("user@ElseWhere.EXAMPLE", "user@elsewhere.example",
	    "elsewhere.example"),
	/* exact match only: subdomains and look-alikes are elsewhere */
	MX("user@sub.test.example", "user@sub.test.example",
	    "sub.test.example"),
	MX("user@mx.test.example.evil.example",
	    "user@mx.test.example.evil.example",
	    "mx.test.example.evil.example"),
	MX("user@localhost.evil.example", "user@localhost.evil.example",
	    "localhost.evil.example"),
	MX("user@evilrelayed.example", "user@evilrelayed.example",
	    "evilrelayed.example"),
	MX("user@relayed.example.evil.example",
	    "user@relayed.example.evil.example",
	    "relayed.example.evil.example"),
	/* IP literals are never ours, not even our own address */
	MX("user@[127.0.0.1]", "user@[127.0.0.1]", "[127.0.0.1]"),
	MX("user@[IPv6:::1]", "user@[IPv6:::1]", "[IPv6:::1]"),
	MX("a b@Example.COM.", "a b@Example.COM.", "example.com"),
	/* an IDN keeps its U-label in the address; its next hop (one
	 * destination for both forms) is the A-label */
	MX("jos\xc3\xa9@caf\xc3\xa9.example", "jos\xc3\xa9@caf\xc3\xa9.example",
	    "xn--caf-dma.example"),
	MX("x@XN--CAF-DMA.example", "x@xn--caf-dma.example",
	    "xn--caf-dma.example"),
	{ "user@relayed.example", "user@relayed.example",
	    ROUTE_RELAY_DOMAIN, "remote", "relayed.example" },
	{ "user@Sub.Relayed.Example", "user@sub.relayed.example",
	    ROUTE_RELAY_DOMAIN, "remote", "sub.relayed.example" },
};

static void
test_mx(void **state)
{
	(void)state;
	setup(NULL);
	for (size_t i = 0; i < sizeof(mx_table) / sizeof(mx_table[0]); i++)
		check(&mx_table[i]);
	route_free(&rt);
}

static void
test_smarthost(void **state)
{
	static const struct want table[] = {
		LOCAL("user@mx.test.example", "user@mx.test.example"),
		MX("user@elsewhere.example", "user@elsewhere.example",
		    "[127.0.0.2]:2525"),
		MX("user@[127.0.0.1]", "user@[127.0.0.1]", "[127.0.0.2]:2525"),
		{ "user@relayed.example", "user@relayed.example",
		    ROUTE_RELAY_DOMAIN, "remote", "[127.0.0.2]:2525" },
	};

	(void)state;
	setup("[127.0.0.2]:2525");
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		check(&table[i]);
	route_free(&rt);
}

static void
test_domain(void **state)
{
	(void)state;
	setup(NULL);
	assert_int_equal(route_domain(&rt, "MX.TEST.EXAMPLE."), ROUTE_LOCAL);
	assert_int_equal(route_domain(&rt, "localhost"), ROUTE_LOCAL);
	assert_int_equal(route_domain(&rt, "test.example"), ROUTE_LOCAL);
	assert_int_equal(route_domain(&rt, "a.relayed.example"),
	    ROUTE_RELAY_DOMAIN);
	assert_int_equal(route_domain(&rt, "xrelayed.example"),
	    ROUTE_ELSEWHERE);
	assert_int_equal(route_domain(&rt, ""), ROUTE_ELSEWHERE);
	assert_int_equal(route_domain(&rt, "."), ROUTE_ELSEWHERE);
	assert_int_equal(route_domain(&rt, "[127.0.0.1]"), ROUTE_ELSEWHERE);
	assert_true(route_relay_client(&rt, "mail.relayed.example"));
	assert_true(route_relay_client(&rt, "relayed.example"));
	assert_false(route_relay_client(&rt, "relayed.example.evil"));
	assert_false(route_relay_client(&rt, "unknown"));
	route_free(&rt);
}

static void
test_trick(void **state)
{
	(void)state;
	assert_true(route_local_part_trick("user%elsewhere.example"));
	assert_true(route_local_part_trick("elsewhere.example!user"));
	assert_true(route_local_part_trick("user@elsewhere.example"));
	assert_true(route_local_part_trick("@mx.test.example:user"));
	assert_false(route_local_part_trick("user+ext"));
	assert_false(route_local_part_trick("first.last"));
}

static void
test_too_long(void **state)
{
	char big[ROUTE_ADDR_MAX + 10];
	struct route r;

	(void)state;
	setup(NULL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '@';
	assert_int_equal(route_resolve(&rt, big, &r, NULL, NULL), -1);
	route_free(&rt);
	setup("[a-very-long-smarthost-name-that-goes-on-and-on-and-on-and-on-"
	    "and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-"
	    "and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-"
	    "and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-and-on-"
	    "and-on-and-on-and-on-and-on-and-on-and-on-and-on.example]:25");
	assert_int_equal(route_resolve(&rt, "u@x.example", &r, NULL, NULL),
	    -1);
	route_free(&rt);
}

static void
record(void *arg, const char *step, const char *what)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s: %s\n", step, what);
}

static void
test_trace(void **state)
{
	char out[512] = "";
	struct route r;

	(void)state;
	setup("[127.0.0.2]:2525");
	assert_int_equal(route_resolve(&rt, "U@Sub.Relayed.Example.", &r,
	    record, out), 0);
	assert_string_equal(out,
	    "address: <U@sub.relayed.example>, domain sub.relayed.example\n"
	    "relay_domains: sub.relayed.example is a relay domain\n"
	    "smarthost: via [127.0.0.2]:2525\n");
	out[0] = '\0';
	assert_int_equal(route_resolve(&rt, "postmaster", &r, record, out), 0);
	assert_string_equal(out,
	    "address: <postmaster@mx.test.example>, domain mx.test.example\n"
	    "local_domains: mx.test.example is local\n");
	route_free(&rt);
}

static void
test_transports(void **state)
{
	const struct transport *l, *r;

	(void)state;
	setup(NULL);
	assert_int_equal(transport_count(), 2);
	l = transport_find("local");
	r = transport_find("remote");
	assert_non_null(l);
	assert_non_null(r);
	assert_null(transport_find("smtp"));
	assert_ptr_equal(transport_role(TROLE_LOCAL), l);
	assert_ptr_equal(transport_role(TROLE_DEFAULT), r);
	assert_ptr_equal(transport_at(transport_index(r)), r);
	assert_null(transport_at(transport_count()));
	assert_true(l->keep_root);
	assert_false(r->keep_root);
	assert_string_equal(l->socket, "private/local");
	assert_string_equal(r->program, "remote");
	assert_int_equal(transport_processes(l, &cf), 3);
	assert_int_equal(transport_processes(r, &cf), 7);
	assert_int_equal(transport_dest_limit(l, &cf), 2);
	assert_int_equal(transport_dest_limit(r, &cf), 5);
	assert_int_equal(l->dest, TDEST_RCPT);
	assert_int_equal(r->dest, TDEST_NEXTHOP);
	route_free(&rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_smarthost),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_trick),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_transports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
