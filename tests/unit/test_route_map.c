/*
 * Unit tests for maps/route_map.c: the value syntax of virtual_map and
 * transport_map (error: forms, mailers, hosts, ports, tls=, %1), the
 * compile-time check (file:line, nothing written on a check) and
 * route_resolve with both maps: search orders, one level, precedence.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "route.h"

static char		 dir[64], vpath[128], tpath[128];
static struct conf	 cf;
static struct router	 rt;
static char		 why[256];

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
errs_clear(struct conf_errors *e)
{
	conf_errors_free(e);
}

static int
setup(void **state)
{
	struct conf_errors e = { 0 };

	(void)state;
	strlcpy(dir, "/tmp/test_route_map.XXXXXX", sizeof(dir));
	assert_non_null(mkdtemp(dir));
	snprintf(vpath, sizeof(vpath), "%s/virtusertable", dir);
	snprintf(tpath, sizeof(tpath), "%s/mailertable", dir);
	write_file(vpath,
	    "info@virt.example   root\n"
	    "sales@virt.example  someone@remote.example\n"
	    "bad@virt.example    error:5.1.1:550 No such person here\n"
	    "gone@virt.example   error:nouser\n"
	    "joe+list@virt.example  listkeeper\n"
	    "joe@virt.example    jdoe\n"
	    "@virt.example       %1@other.example\n"
	    "chain@virt.example  info@virt.example\n");
	write_file(tpath,
	    "dest.example     relay:[127.0.0.2]:2526\n"
	    ".sub.example     smtp:mx.sub.example tls=verify\n"
	    "a.sub.example    smtp:[10.0.0.1]\n"
	    "loc.example      local:\n"
	    "locu.example     local:root\n"
	    "err.example      error:5.7.1:550 We do not deliver there\n"
	    "soft.example     error:tempfail\n"
	    "test.example     relay:[192.0.2.1]\n"
	    ".                relay:[127.0.0.9]:26\n");
	assert_int_equal(map_compile_checked(vpath, route_virtual_check, 0,
	    &e), 0);
	assert_int_equal(map_compile_checked(tpath, route_transport_check, 0,
	    &e), 0);
	assert_int_equal(e.n, 0);
	memset(&cf, 0, sizeof(cf));
	cf.hostname = "mx.test.example";
	cf.local_domains = "test.example, virt.example";
	cf.relay_domains = "relayed.example";
	cf.smarthost = "[127.0.0.2]:2525";
	cf.remote_tls = RTLS_MAY;
	cf.virtual_map = vpath;
	cf.transport_map = tpath;
	assert_int_equal(route_init(&rt, &cf, &e), 0);
	rt.virtual_step = 1;
	return 0;
}

static int
teardown(void **state)
{
	char p[200];

	(void)state;
	route_free(&rt);
	unlink(vpath);
	unlink(tpath);
	snprintf(p, sizeof(p), "%s.cdb", vpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s.cdb", tpath);
	unlink(p);
	rmdir(dir);
	return 0;
}

static void
test_error_values(void **state)
{
	struct route_error e;

	(void)state;
	assert_int_equal(route_error_parse("error:5.1.1:550 No such user",
	    &e, why, sizeof(why)), 0);
	assert_int_equal(e.code, 550);
	assert_string_equal(e.text, "5.1.1 No such user");
	assert_int_equal(route_error_parse("ERROR:4.2.10:451 later", &e, why,
	    sizeof(why)), 0);
	assert_int_equal(e.code, 451);
	assert_string_equal(e.text, "4.2.10 later");
	assert_int_equal(route_error_parse("error:5.7.1:550", &e, why,
	    sizeof(why)), 0);
	assert_string_equal(e.text, "5.7.1 Address rejected");
	assert_int_equal(route_error_parse("error:553 go away", &e, why,
	    sizeof(why)), 0);
	assert_int_equal(e.code, 553);
	assert_string_equal(e.text, "5.0.0 go away");
	assert_int_equal(route_error_parse("error:nouser", &e, why,
	    sizeof(why)), 0);
	assert_string_equal(e.text, "5.1.1 User unknown");
	assert_int_equal(route_error_parse("error:nohost No such host", &e,
	    why, sizeof(why)), 0);
	assert_int_equal(e.code, 550);
	assert_string_equal(e.text, "5.1.2 No such host");
	assert_int_equal(route_error_parse("error:tempfail  ", &e, why,
	    sizeof(why)), 0);
	assert_int_equal(e.code, 451);
	assert_string_equal(e.text, "4.0.0 Try again later");
	/* bad forms */
	assert_int_equal(route_error_parse("error:5.1.1:450 x", &e, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "same class"));
	assert_int_equal(route_error_parse("error:5.1.1", &e, why,
	    sizeof(why)), -1);
	assert_int_equal(route_error_parse("error:6.1.1:650 x", &e, why,
	    sizeof(why)), -1);
	assert_int_equal(route_error_parse("error:5.1.1:250 x", &e, why,
	    sizeof(why)), -1);
	assert_int_equal(route_error_parse("error:5.1111.1:550 x", &e, why,
	    sizeof(why)), -1);
	assert_int_equal(route_error_parse("error:", &e, why, sizeof(why)),
	    -1);
	assert_int_equal(route_error_parse("error:nousers x", &e, why,
	    sizeof(why)), -1);
	assert_int_equal(route_error_parse("error:550 a\tb\x01", &e, why,
	    sizeof(why)), -1);
}

static void
test_targets(void **state)
{
	struct route_target t;

	(void)state;
	assert_int_equal(route_target_parse("relay:[127.0.0.2]:2526", &t, why,
	    sizeof(why)), 0);
	assert_int_equal(t.kind, RT_RELAY);
	assert_string_equal(t.host, "[127.0.0.2]:2526");
	assert_int_equal(t.tls, -1);
	assert_int_equal(route_target_parse("smtp:mx.example tls=verify", &t,
	    why, sizeof(why)), 0);
	assert_int_equal(t.kind, RT_SMTP);
	assert_string_equal(t.host, "mx.example");
	assert_int_equal(t.tls, RTLS_VERIFY);
	assert_int_equal(route_target_parse("esmtp:[IPv6:2001:db8::1]", &t,
	    why, sizeof(why)), 0);
	assert_int_equal(route_target_parse("local:", &t, why, sizeof(why)),
	    0);
	assert_int_equal(t.kind, RT_LOCAL);
	assert_string_equal(t.host, "");
	assert_int_equal(route_target_parse("local:bob", &t, why,
	    sizeof(why)), 0);
	assert_string_equal(t.host, "bob");
	assert_int_equal(route_target_parse("error:5.7.1:550 no", &t, why,
	    sizeof(why)), 0);
	assert_int_equal(t.kind, RT_ERROR);
	assert_int_equal(t.err.code, 550);
	/* bad ones, each with its reason */
	assert_int_equal(route_target_parse("relay:[h]:0", &t, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "bad port"));
	assert_int_equal(route_target_parse("relay:[h]:65536", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("relay:[h]:25x", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("relay:h:", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("relay:", &t, why, sizeof(why)),
	    -1);
	assert_int_equal(route_target_parse("relay:[]", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("relay:[h]x", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("relay:h/x", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("uucp:h", &t, why, sizeof(why)),
	    -1);
	assert_non_null(strstr(why, "unknown mailer"));
	assert_int_equal(route_target_parse("[127.0.0.1]", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("smtp:h tls=maybe", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("smtp:h port=1", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("local: tls=verify", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("smtp:%1.example", &t, why,
	    sizeof(why)), -1);
	assert_int_equal(route_target_parse("local:a@b", &t, why,
	    sizeof(why)), -1);
}

static void
test_checks(void **state)
{
	(void)state;
	assert_int_equal(route_virtual_check("u@d.example", "root", why,
	    sizeof(why)), 0);
	assert_int_equal(route_virtual_check("@d.example", "%1@x.example",
	    why, sizeof(why)), 0);
	assert_int_equal(route_virtual_check("@d.example", "%1", why,
	    sizeof(why)), 0);
	assert_int_equal(route_virtual_check("u@d.example", "error:nouser",
	    why, sizeof(why)), 0);
	assert_int_equal(route_virtual_check("u", "root", why, sizeof(why)),
	    -1);
	assert_int_equal(route_virtual_check("u@", "root", why, sizeof(why)),
	    -1);
	assert_int_equal(route_virtual_check("@d.example", "%2@x.example",
	    why, sizeof(why)), -1);
	assert_non_null(strstr(why, "only %1"));
	assert_int_equal(route_virtual_check("@d.example", "100%", why,
	    sizeof(why)), -1);
	assert_int_equal(route_virtual_check("u@d.example", "a, b", why,
	    sizeof(why)), -1);
	assert_int_equal(route_virtual_check("u@d.example", "a@", why,
	    sizeof(why)), -1);
	assert_int_equal(route_virtual_check("u@d.example", "error:5.1.1",
	    why, sizeof(why)), -1);
	assert_int_equal(route_transport_check(".sub.example", "local:", why,
	    sizeof(why)), 0);
	assert_int_equal(route_transport_check(".", "relay:[h]", why,
	    sizeof(why)), 0);
	assert_int_equal(route_transport_check("[192.0.2.1]", "local:", why,
	    sizeof(why)), 0);
	assert_int_equal(route_transport_check("..x", "local:", why,
	    sizeof(why)), -1);
	assert_int_equal(route_transport_check("a b", "local:", why,
	    sizeof(why)), -1);
	assert_int_equal(route_transport_check("u@d", "local:", why,
	    sizeof(why)), -1);
}

/* Bad lines are errors naming file:line; a check writes nothing. */
static void
test_compile_check(void **state)
{
	struct conf_errors e = { 0 };
	char bad[200], cdb[220];
	struct stat st;

	(void)state;
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	snprintf(cdb, sizeof(cdb), "%s.cdb", bad);
	write_file(bad, "# comment\nok.example local:\nnotarget.example\n"
	    "port.example relay:[h]:99999\n\nerr.example error:5.1:550 x\n");
	assert_int_equal(map_compile_checked(bad, route_transport_check, 1,
	    &e), -1);
	assert_int_equal(e.n, 3);
	assert_non_null(strstr(e.msg[0], "/bad:3: missing value"));
	assert_non_null(strstr(e.msg[1], "/bad:4: bad port"));
	assert_non_null(strstr(e.msg[2], "/bad:6: bad error: syntax"));
	assert_int_equal(stat(cdb, &st), -1);
	errs_clear(&e);
	assert_int_equal(map_compile_checked(bad, route_transport_check, 0,
	    &e), -1);
	assert_int_equal(stat(cdb, &st), -1);	/* nothing half-good */
	errs_clear(&e);
	unlink(bad);
}

struct want {
	const char	*rcpt;
	const char	*addr;		/* after rewriting */
	const char	*transport;	/* NULL: an error */
	const char	*nexthop;	/* or the error text */
	int		 tls;
};

static void
check(const struct want *w)
{
	struct route r;

	if (route_resolve(&rt, w->rcpt, &r, NULL, NULL) != 0)
		fail_msg("<%s>: no route", w->rcpt);
	if (w->transport == NULL) {
		if (r.err.code == 0 || strcmp(r.err.text, w->nexthop) != 0 ||
		    r.transport != NULL)
			fail_msg("<%s>: got %d %s, want error %s", w->rcpt,
			    r.err.code, r.err.text, w->nexthop);
		return;
	}
	if (r.err.code != 0 || strcmp(r.addr, w->addr) != 0 ||
	    strcmp(r.transport->name, w->transport) != 0 ||
	    strcmp(r.nexthop, w->nexthop) != 0 || (int)r.tls != w->tls)
		fail_msg("<%s>: got <%s> %s %s tls %d err %d, want <%s> %s %s "
		    "tls %d", w->rcpt, r.addr, r.transport ?
		    r.transport->name : "-", r.nexthop, r.tls, r.err.code,
		    w->addr, w->transport, w->nexthop, w->tls);
}

#define LOC(rc, a)	{ rc, a, "local", "mx.test.example", RTLS_NONE }
#define REM(rc, a, nh, t)	{ rc, a, "remote", nh, t }
#define ERR(rc, t)	{ rc, NULL, NULL, t, 0 }

static void
test_resolve(void **state)
{
	static const struct want table[] = {
		/* virtual_map: user@domain, +detail, catch-all with %1 */
		LOC("info@virt.example", "root@mx.test.example"),
		LOC("Info@Virt.Example", "root@mx.test.example"),
		REM("sales@virt.example", "someone@remote.example",
		    "[127.0.0.9]:26", RTLS_MAY),	/* "." */
		ERR("bad@virt.example", "5.1.1 No such person here"),
		ERR("gone@virt.example", "5.1.1 User unknown"),
		LOC("joe+list@virt.example", "listkeeper@mx.test.example"),
		LOC("joe+other@virt.example", "jdoe@mx.test.example"),
		LOC("joe@virt.example", "jdoe@mx.test.example"),
		REM("anyone@virt.example", "anyone@other.example",
		    "[127.0.0.9]:26", RTLS_MAY),
		REM("anyone+x@virt.example", "anyone@other.example",
		    "[127.0.0.9]:26", RTLS_MAY),
		/* one level: the result is not looked up again */
		LOC("chain@virt.example", "info@virt.example"),
		/* a local domain is never looked up in transport_map */
		LOC("u@test.example", "u@test.example"),
		LOC("u@mx.test.example", "u@mx.test.example"),
		/* transport_map: exact, then .parents, then "." */
		REM("u@dest.example", "u@dest.example", "[127.0.0.2]:2526",
		    RTLS_MAY),
		REM("u@x.dest.example", "u@x.dest.example", "[127.0.0.9]:26",
		    RTLS_MAY),
		REM("u@a.sub.example", "u@a.sub.example", "[10.0.0.1]",
		    RTLS_MAY),
		REM("u@b.a.sub.example", "u@b.a.sub.example", "mx.sub.example",
		    RTLS_VERIFY),
		REM("u@sub.example", "u@sub.example", "[127.0.0.9]:26",
		    RTLS_MAY),
		LOC("u@loc.example", "u@loc.example"),
		LOC("u@locu.example", "root@mx.test.example"),
		ERR("u@err.example", "5.7.1 We do not deliver there"),
		ERR("u@soft.example", "4.0.0 Try again later"),
		/* "." beats the smarthost; relay_domains too */
		REM("u@relayed.example", "u@relayed.example", "[127.0.0.9]:26",
		    RTLS_MAY),
		REM("u@[192.0.2.7]", "u@[192.0.2.7]", "[127.0.0.9]:26",
		    RTLS_MAY),
	};

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		check(&table[i]);
}

static void
test_no_virtual_step(void **state)
{
	struct route r;

	(void)state;
	/* qmgr and local route queued (already rewritten) addresses */
	rt.virtual_step = 0;
	assert_int_equal(route_resolve(&rt, "info@virt.example", &r, NULL,
	    NULL), 0);
	assert_string_equal(r.addr, "info@virt.example");
	assert_string_equal(r.transport->name, "local");
	rt.virtual_step = 1;
}

static void
test_virtual_direct(void **state)
{
	struct route_error e;
	char out[300], key[300];

	(void)state;
	assert_int_equal(route_virtual(&rt, "joe+x@virt.example", out,
	    sizeof(out), &e, key, sizeof(key)), RV_ADDR);
	assert_string_equal(out, "jdoe@mx.test.example");
	assert_string_equal(key, "joe@virt.example");
	assert_int_equal(route_virtual(&rt, "bad@virt.example", out,
	    sizeof(out), &e, key, sizeof(key)), RV_ERROR);
	assert_int_equal(e.code, 550);
	/* not a local domain: never looked up */
	assert_int_equal(route_virtual(&rt, "info@dest.example", out,
	    sizeof(out), &e, NULL, 0), RV_NONE);
	assert_int_equal(route_virtual(&rt, "nodomain", out, sizeof(out), &e,
	    NULL, 0), RV_NONE);
}

static void
record(void *arg, const char *step, const char *what)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 1024 - n, "%s: %s\n", step, what);
}

static void
test_trace(void **state)
{
	char out[1024] = "";
	struct route r;

	(void)state;
	assert_int_equal(route_resolve(&rt, "Sales@virt.example", &r, record,
	    out), 0);
	assert_string_equal(out,
	    "address: <Sales@virt.example>, domain virt.example\n"
	    "virtual_map: sales@virt.example: <Sales@virt.example> -> "
	    "<someone@remote.example>\n"
	    "transport_map: .: relay:[127.0.0.9]:26\n");
	out[0] = '\0';
	assert_int_equal(route_resolve(&rt, "u@b.sub.example", &r, record,
	    out), 0);
	assert_string_equal(out,
	    "address: <u@b.sub.example>, domain b.sub.example\n"
	    "transport_map: .sub.example: smtp:mx.sub.example tls=verify\n");
	out[0] = '\0';
	assert_int_equal(route_resolve(&rt, "u@err.example", &r, record,
	    out), 0);
	assert_string_equal(out,
	    "address: <u@err.example>, domain err.example\n"
	    "transport_map: err.example: error 550 5.7.1 We do not deliver "
	    "there\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_values),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_compile_check),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_no_virtual_step),
		cmocka_unit_test(test_virtual_direct),
		cmocka_unit_test(test_trace),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
