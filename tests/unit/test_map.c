/*
 * test_map: map compile/lookup and the access DB (seed-style entries,
 * search order, CIDR, aliases, value parser, error reporting).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map.h"

static char	 dir[64];
static char	 path[128];

static void
errs_clear(struct conf_errors *e)
{
	size_t	 i;

	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

static int
setup(void **state)
{
	strncpy(dir, "/tmp/test_map.XXXXXX", sizeof(dir));
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/map", dir);
	return 0;
}

static int
teardown(void **state)
{
	char	 p[160];

	unlink(path);
	snprintf(p, sizeof(p), "%s.cdb", path);
	unlink(p);
	rmdir(dir);
	return 0;
}

static void
write_map(const char *text)
{
	FILE	*fp;

	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

/* Compile text and open it; returns compile's result. */
static int
compile_open(const char *text, enum map_kind kind, struct map *m,
    struct conf_errors *e)
{
	int	 r;

	write_map(text);
	memset(e, 0, sizeof(*e));
	r = map_compile(path, kind, e);
	assert_int_equal(map_open(m, path), 0);
	return r;
}

static void
assert_value(const struct map *m, const char *key, const char *want)
{
	char	*v = NULL;
	int	 r;

	r = map_lookup(m, key, &v);
	if (want == NULL) {
		assert_int_equal(r, 0);
		assert_null(v);
		return;
	}
	assert_int_equal(r, 1);
	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static int
has_msg(const struct conf_errors *e, const char *needle)
{
	size_t	 i;

	for (i = 0; i < e->n; i++)
		if (strstr(e->msg[i], needle) != NULL)
			return 1;
	return 0;
}

static const char seed[] =
    "# access map, sendmail style\n"
    "\n"
    "Connect: 192.168.1 REJECT\n"
    "Connect:20.20.128. RELAY\n"
    "Connect:127.0.0.1 RELAY\n"
    "Connect:10.1.0.0/16 RELAY\n"
    "Connect:172.16.0.0/12 REJECT\n"
    "Connect:IPv6:2001:db8::/32 RELAY\n"
    "Connect:spammer.example.net REJECT\n"
    "From:spam@bad.com REJECT\n"
    "bad.com ERROR:5.7.1:550 go away\n"
    "To:friend.net RELAY\n"
    "From:good.bad.com OK\n"
    "From:abuse@ OK\n"
    "Connect:skip.example.org SKIP\n"
    "example.org REJECT\n";

static void
test_compile_lookup(void **state)
{
	struct map		 m;
	struct conf_errors	 e;

	assert_int_equal(compile_open("alpha one\nBeta  two words  \n",
	    MAP_PLAIN, &m, &e), 0);
	assert_int_equal(e.n, 0);
	assert_value(&m, "alpha", "one");
	assert_value(&m, "beta", "two words");
	assert_value(&m, "BETA", "two words");
	assert_value(&m, "gamma", NULL);
	map_close(&m);
	errs_clear(&e);
}

static void
test_missing_cdb_is_empty(void **state)
{
	struct map	 m;
	char		*v;

	write_map("a b\n");
	assert_int_equal(map_open(&m, path), 0);
	assert_int_equal(m.fd, -1);
	assert_int_equal(map_lookup(&m, "a", &v), 0);
	map_close(&m);
}

static void
test_missing_source(void **state)
{
	struct conf_errors	 e = { NULL, 0, 0 };

	assert_int_equal(map_compile("/nonexistent/postern/map", MAP_PLAIN,
	    &e), -1);
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msg[0],
	    "/nonexistent/postern/map: cannot open:"));
	errs_clear(&e);
}

static void
test_seed_entries(void **state)
{
	struct map		 m;
	struct conf_errors	 e;

	assert_int_equal(compile_open(seed, MAP_PLAIN, &m, &e), 0);
	/* only the "Connect: 192.168.1" warning */
	assert_int_equal(e.n, 1);
	assert_int_equal(e.nwarn, 1);
	assert_true(has_msg(&e, ":3: warning: "));
	assert_value(&m, "connect:192.168.1", "REJECT");
	assert_value(&m, "Connect:20.20.128", "RELAY");
	assert_value(&m, "from:spam@bad.com", "REJECT");
	assert_value(&m, "bad.com", "ERROR:5.7.1:550 go away");
	assert_value(&m, "to:friend.net", "RELAY");
	map_close(&m);
	errs_clear(&e);
}

static void
test_connect_checks(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open(seed, MAP_PLAIN, &m, &e);
	assert_int_equal(access_check_connect(&m, "192.168.1.77", NULL, &r), 1);
	assert_int_equal(r.action, ACCESS_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Access denied");
	assert_string_equal(r.key, "Connect:192.168.1");
	assert_int_equal(access_check_connect(&m, "20.20.128.9", NULL, &r), 1);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_int_equal(access_check_connect(&m, "127.0.0.1", NULL, &r), 1);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_int_equal(access_check_connect(&m, "8.8.8.8", NULL, &r), 0);
	assert_int_equal(r.action, ACCESS_NONE);
	/* verified host name and its parents, untagged too */
	assert_int_equal(access_check_connect(&m, "8.8.8.8",
	    "mx.spammer.example.net", &r), 1);
	assert_int_equal(r.action, ACCESS_REJECT);
	assert_string_equal(r.key, "Connect:spammer.example.net");
	assert_int_equal(access_check_connect(&m, "8.8.8.8",
	    "mail.bad.com", &r), 1);
	assert_int_equal(r.action, ACCESS_ERROR);
	assert_string_equal(r.key, "bad.com");
	assert_string_equal(r.reply, "550 5.7.1 go away");
	map_close(&m);
	errs_clear(&e);
}

static void
test_skip(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open(seed, MAP_PLAIN, &m, &e);
	/* SKIP on host stops before the untagged parent "example.org" */
	assert_int_equal(access_check_connect(&m, "8.8.8.8",
	    "a.skip.example.org", &r), 0);
	assert_int_equal(r.action, ACCESS_NONE);
	assert_int_equal(access_check_connect(&m, "8.8.8.8",
	    "other.example.org", &r), 1);
	assert_int_equal(r.action, ACCESS_REJECT);
	map_close(&m);
	errs_clear(&e);
}

static void
test_addr_order(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open(seed, MAP_PLAIN, &m, &e);
	/* full address beats domain */
	assert_int_equal(access_check_addr(&m, "From", "<spam@bad.com>", &r),
	    1);
	assert_int_equal(r.action, ACCESS_REJECT);
	assert_string_equal(r.key, "From:spam@bad.com");
	/* the most specific domain wins over its parent */
	assert_int_equal(access_check_addr(&m, "From", "x@good.bad.com", &r),
	    1);
	assert_int_equal(r.action, ACCESS_OK);
	assert_string_equal(r.key, "From:good.bad.com");
	/* parent, untagged */
	assert_int_equal(access_check_addr(&m, "From", "x@mail.bad.com", &r),
	    1);
	assert_int_equal(r.action, ACCESS_ERROR);
	assert_string_equal(r.key, "bad.com");
	/* domain beats user@ */
	assert_int_equal(access_check_addr(&m, "From", "abuse@bad.com", &r),
	    1);
	assert_string_equal(r.key, "bad.com");
	/* user@ last */
	assert_int_equal(access_check_addr(&m, "From", "abuse@nice.org", &r),
	    1);
	assert_int_equal(r.action, ACCESS_OK);
	assert_string_equal(r.key, "From:abuse@");
	/* To: tag */
	assert_int_equal(access_check_addr(&m, "To", "bob@FRIEND.net", &r), 1);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_int_equal(access_check_addr(&m, "To", "bob@enemy.net", &r), 0);
	/* From: tag does not match To: entries */
	assert_int_equal(access_check_addr(&m, "From", "bob@friend.net", &r),
	    0);
	map_close(&m);
	errs_clear(&e);
}

static void
test_cidr16(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open(seed, MAP_PLAIN, &m, &e);
	assert_value(&m, "connect:10.1", "RELAY");
	assert_int_equal(access_check_connect(&m, "10.1.200.3", NULL, &r), 1);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_string_equal(r.key, "Connect:10.1");
	assert_int_equal(access_check_connect(&m, "10.2.0.1", NULL, &r), 0);
	map_close(&m);
	errs_clear(&e);
}

static void
test_cidr_odd(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open(seed, MAP_PLAIN, &m, &e);
	/* 172.16.0.0/12 is 172.16 .. 172.31 */
	assert_int_equal(access_check_connect(&m, "172.16.0.1", NULL, &r), 1);
	assert_int_equal(access_check_connect(&m, "172.31.255.1", NULL, &r),
	    1);
	assert_int_equal(access_check_connect(&m, "172.32.0.1", NULL, &r), 0);
	assert_int_equal(access_check_connect(&m, "172.15.0.1", NULL, &r), 0);
	map_close(&m);
	errs_clear(&e);

	compile_open("Connect:192.0.2.64/26 REJECT\n", MAP_PLAIN, &m, &e);
	assert_int_equal(e.n, 0);
	assert_value(&m, "connect:192.0.2.64", "REJECT");
	assert_value(&m, "connect:192.0.2.127", "REJECT");
	assert_value(&m, "connect:192.0.2.128", NULL);
	assert_value(&m, "connect:192.0.2.63", NULL);
	map_close(&m);
	errs_clear(&e);
}

static void
test_cidr_v6(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open(seed, MAP_PLAIN, &m, &e);
	assert_int_equal(access_check_connect(&m, "2001:db8::25", NULL, &r),
	    1);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_string_equal(r.key, "Connect:IPv6:2001:db8");
	assert_int_equal(access_check_connect(&m, "2001:db9::25", NULL, &r),
	    0);
	map_close(&m);
	errs_clear(&e);
}

static void
test_ip_keys_v4(void **state)
{
	char	 k[8][64];

	assert_int_equal(access_ip_keys("192.168.1.5", k, 8), 4);
	assert_string_equal(k[0], "192.168.1.5");
	assert_string_equal(k[1], "192.168.1");
	assert_string_equal(k[2], "192.168");
	assert_string_equal(k[3], "192");
	assert_int_equal(access_ip_keys("192.168.1.5", k, 2), 2);
	assert_int_equal(access_ip_keys("not an ip", k, 8), 0);
	/* v4-mapped IPv6 is looked up as IPv4 */
	assert_int_equal(access_ip_keys("::ffff:10.0.0.1", k, 8), 4);
	assert_string_equal(k[0], "10.0.0.1");
}

static void
test_ip_keys_v6(void **state)
{
	char	 k[16][64];

	assert_int_equal(access_ip_keys("2001:DB8::1", k, 16), 8);
	assert_string_equal(k[0], "IPv6:2001:db8:0:0:0:0:0:1");
	assert_string_equal(k[1], "IPv6:2001:db8:0:0:0:0:0");
	assert_string_equal(k[6], "IPv6:2001:db8");
	assert_string_equal(k[7], "IPv6:2001");
}

static void
test_v6_exact_key(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open("Connect:IPv6:2001:db8::1 REJECT\n", MAP_PLAIN, &m, &e);
	assert_int_equal(e.n, 0);
	assert_int_equal(access_check_connect(&m, "2001:0db8:0::1", NULL, &r),
	    1);
	assert_int_equal(r.action, ACCESS_REJECT);
	assert_int_equal(access_check_connect(&m, "2001:db8::2", NULL, &r), 0);
	map_close(&m);
	errs_clear(&e);
}

static void
test_aliases(void **state)
{
	struct map		 m;
	struct conf_errors	 e;

	assert_int_equal(compile_open(
	    "# aliases\n"
	    "postmaster: root\n"
	    "Staff:alice,   bob ,\n"
	    "\tcarol,\n"
	    "  dave\n"
	    "\n"
	    "pipe: \"|/usr/bin/prog a, b\", /var/log/x\n",
	    MAP_ALIASES, &m, &e), 0);
	assert_int_equal(e.n, 0);
	assert_value(&m, "postmaster", "root");
	assert_value(&m, "staff", "alice, bob, carol, dave");
	assert_value(&m, "STAFF", "alice, bob, carol, dave");
	assert_value(&m, "pipe", "\"|/usr/bin/prog a, b\", /var/log/x");
	map_close(&m);
	errs_clear(&e);
}

static void
test_errors_file_line(void **state)
{
	struct conf_errors	 e = { NULL, 0, 0 };
	char			 want[200], cdb[160];

	write_map("good value\n# c\nlonely\nConnect:1.2.3.0/40 REJECT\n");
	assert_int_equal(map_compile(path, MAP_PLAIN, &e), -1);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.nwarn, 0);
	snprintf(want, sizeof(want), "%s:3: missing value", path);
	assert_string_equal(e.msg[0], want);
	snprintf(want, sizeof(want), "%s:4: ", path);
	assert_true(strncmp(e.msg[1], want, strlen(want)) == 0);
	/* nothing installed, temp removed */
	snprintf(cdb, sizeof(cdb), "%s.cdb", path);
	assert_int_equal(access(cdb, F_OK), -1);
	errs_clear(&e);

	write_map("alias-without-colon root\n");
	assert_int_equal(map_compile(path, MAP_ALIASES, &e), -1);
	assert_int_equal(e.n, 1);
	snprintf(want, sizeof(want), "%s:1: ", path);
	assert_true(strncmp(e.msg[0], want, strlen(want)) == 0);
	errs_clear(&e);

	write_map("  continued first\n");
	assert_int_equal(map_compile(path, MAP_PLAIN, &e), -1);
	errs_clear(&e);
}

static void
test_duplicate_last_wins(void **state)
{
	struct map		 m;
	struct conf_errors	 e;

	assert_int_equal(compile_open("k one\nK two\n", MAP_PLAIN, &m, &e), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.nwarn, 1);
	assert_true(has_msg(&e, ":2: warning: duplicate"));
	assert_value(&m, "k", "two");
	map_close(&m);
	errs_clear(&e);
}

/* A CIDR entry that repeats another warns once, not once a key (an
 * IPv6 /1 made 32768 warnings): found by fuzz_access. */
static void
test_duplicate_cidr_warns_once(void **state)
{
	struct map		 m;
	struct conf_errors	 e;

	assert_int_equal(compile_open("16.0.0.0/4 a\n16.0.0.0/4 b\n",
	    MAP_PLAIN, &m, &e), 0);
	assert_int_equal(e.n, 1);
	assert_true(has_msg(&e, ":2: warning: duplicate"));
	assert_value(&m, "31", "b");
	map_close(&m);
	errs_clear(&e);
}

static void
test_recompile_replaces(void **state)
{
	struct map		 m;
	struct conf_errors	 e;

	compile_open("a 1\n", MAP_PLAIN, &m, &e);
	map_close(&m);
	errs_clear(&e);
	compile_open("b 2\n", MAP_PLAIN, &m, &e);
	assert_value(&m, "a", NULL);
	assert_value(&m, "b", "2");
	map_close(&m);
	errs_clear(&e);
}

static void
test_parse_keywords(void **state)
{
	struct access_result	 r;

	assert_int_equal(access_value_parse("OK", &r), 0);
	assert_int_equal(r.action, ACCESS_OK);
	assert_int_equal(access_value_parse("relay", &r), 0);
	assert_int_equal(r.action, ACCESS_RELAY);
	assert_int_equal(access_value_parse(" REJECT ", &r), 0);
	assert_int_equal(r.action, ACCESS_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Access denied");
	assert_int_equal(access_value_parse("DISCARD", &r), 0);
	assert_int_equal(r.action, ACCESS_DISCARD);
	assert_int_equal(access_value_parse("Skip", &r), 0);
	assert_int_equal(r.action, ACCESS_SKIP);
	assert_int_equal(access_value_parse("TEMPFAIL", &r), 0);
	assert_int_equal(r.action, ACCESS_TEMPFAIL);
	assert_string_equal(r.reply, "451 4.7.1 Try again later");
	assert_int_equal(access_value_parse("RELAYX", &r), -1);
	assert_int_equal(access_value_parse("", &r), -1);
	assert_int_equal(access_value_parse("bogus", &r), -1);
}

static void
test_parse_error(void **state)
{
	struct access_result	 r;

	assert_int_equal(access_value_parse("ERROR:5.7.1:550 go away", &r), 0);
	assert_int_equal(r.action, ACCESS_ERROR);
	assert_string_equal(r.reply, "550 5.7.1 go away");
	assert_int_equal(access_value_parse("error:\"550 no thanks\"", &r), 0);
	assert_string_equal(r.reply, "550 5.7.1 no thanks");
	assert_int_equal(access_value_parse("ERROR:550 text here", &r), 0);
	assert_string_equal(r.reply, "550 5.7.1 text here");
	assert_int_equal(access_value_parse("ERROR:451 later", &r), 0);
	assert_string_equal(r.reply, "451 4.7.1 later");
	assert_int_equal(access_value_parse("ERROR:553 5.1.8 bad domain", &r),
	    0);
	assert_string_equal(r.reply, "553 5.1.8 bad domain");
	assert_int_equal(access_value_parse("ERROR:4.2.0:450 busy", &r), 0);
	assert_string_equal(r.reply, "450 4.2.0 busy");
	assert_int_equal(access_value_parse("ERROR:xyz", &r), -1);
	assert_int_equal(access_value_parse("ERROR:250 fine", &r), -1);
	assert_int_equal(access_value_parse("ERROR:", &r), -1);
}

static void
test_bad_value_is_error(void **state)
{
	struct map		 m;
	struct conf_errors	 e;
	struct access_result	 r;

	compile_open("Connect:1.2.3.4 MAYBE\n", MAP_PLAIN, &m, &e);
	assert_int_equal(access_check_connect(&m, "1.2.3.4", NULL, &r), -1);
	map_close(&m);
	errs_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compile_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_cdb_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seed_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addr_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cidr16, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cidr_odd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cidr_v6, setup, teardown),
		cmocka_unit_test(test_ip_keys_v4),
		cmocka_unit_test(test_ip_keys_v6),
		cmocka_unit_test_setup_teardown(test_v6_exact_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_file_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_last_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_cidr_warns_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recompile_replaces, setup, teardown),
		cmocka_unit_test(test_parse_keywords),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test_setup_teardown(test_bad_value_is_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
