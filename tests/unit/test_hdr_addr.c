/*
 * Unit tests for lib/hdr_addr.c: header address lists as real clients
 * write them (display names, comments, groups, quoted local parts,
 * folding, obsolete forms), values that must not parse, and the rewrite
 * that changes only a domain and keeps every other byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdr_addr.h"

/* The addresses of v as "local@domain" joined by " | " ("local" alone
 * when unqualified, "local@[lit]" for literals), or "ERR". */
static const char *
show(const char *v)
{
	static char		 out[2048];
	struct hdr_addr_list	 l;
	const char		*why = NULL;
	size_t			 o = 0;

	if (hdr_addr_parse(v, strlen(v), &l, &why) == -1) {
		assert_non_null(why);
		assert_int_equal(l.n, 0);
		return "ERR";
	}
	out[0] = '\0';
	for (size_t i = 0; i < l.n; i++) {
		const struct hdr_addr *a = &l.a[i];
		int n = snprintf(out + o, sizeof(out) - o, "%s%.*s%s%.*s",
		    i ? " | " : "", (int)a->local_len, v + a->local,
		    a->domain_len ? "@" : "", (int)a->domain_len,
		    v + a->domain);
		assert_true(n > 0 && (size_t)n < sizeof(out) - o);
		o += (size_t)n;
	}
	hdr_addr_free(&l);
	return out;
}

static void
test_plain(void **state)
{
	(void)state;
	assert_string_equal(show(" bob@example.com"), "bob@example.com");
	assert_string_equal(show("bob@example.com\n"), "bob@example.com");
	assert_string_equal(show(" bob"), "bob");
	assert_string_equal(show(" bob, carol"), "bob | carol");
	assert_string_equal(show(""), "");
	assert_string_equal(show("   "), "");
	assert_string_equal(show(" a@b.c, d@e.f,g@h"), "a@b.c | d@e.f | g@h");
}

static void
test_display_names(void **state)
{
	(void)state;
	assert_string_equal(show(" Bob Smith <bob@example.com>"),
	    "bob@example.com");
	assert_string_equal(show(" \"Smith, Bob\" <bob@example.com>"),
	    "bob@example.com");
	assert_string_equal(show(" John Q. Public <jqp@x.example>"),
	    "jqp@x.example");
	assert_string_equal(show(" <bob@example.com>"), "bob@example.com");
	assert_string_equal(show(" =?UTF-8?B?Sm9zw6k=?= <jose@ex.uy>"),
	    "jose@ex.uy");
	assert_string_equal(show(" Jos\xc3\xa9 P\xc3\xa9rez <jose@ex.uy>"),
	    "jose@ex.uy");
	/* seen in the wild, not RFC 5322: an address as the display name */
	assert_string_equal(show(" bob@example.com <bob@example.com>"),
	    "bob@example.com");
	assert_string_equal(show(" a@x <b@y>"), "b@y");
	assert_string_equal(show(" Bob <bob>"), "bob");
	assert_string_equal(show(" \"Bob\" <bob@a>, Carol <carol@b>"),
	    "bob@a | carol@b");
}

static void
test_comments(void **state)
{
	(void)state;
	assert_string_equal(show(" bob@example.com (Bob Smith)"),
	    "bob@example.com");
	assert_string_equal(show(" bob (Bob (the (nested)) one)"), "bob");
	assert_string_equal(show(" (c) <bob@x> (c2)"), "bob@x");
	assert_string_equal(show(" Pete(A nice \\) chap) <pete(his account)"
	    "@silly.test(his host)>"), "pete@silly.test");
	assert_string_equal(show(" bob@example.com (unterminated"), "ERR");
}

static void
test_quoted_local(void **state)
{
	(void)state;
	struct hdr_addr_list	 l;
	const char		*why, *v = " \"j\\\"doe smith\"@example.com";
	char			 lp[64];

	assert_string_equal(show(v), "\"j\\\"doe smith\"@example.com");
	assert_int_equal(hdr_addr_parse(v, strlen(v), &l, &why), 0);
	assert_int_equal(hdr_addr_local(v, &l.a[0], lp, sizeof(lp)), 0);
	assert_string_equal(lp, "j\"doe smith");
	assert_int_equal(hdr_addr_local(v, &l.a[0], lp, 4), -1);
	assert_int_equal(hdr_addr_domain(v, &l.a[0], lp, sizeof(lp)), 0);
	assert_string_equal(lp, "example.com");
	hdr_addr_free(&l);
	v = " john . doe (x) @ ex (y) . com";
	assert_int_equal(hdr_addr_parse(v, strlen(v), &l, &why), 0);
	assert_int_equal(hdr_addr_local(v, &l.a[0], lp, sizeof(lp)), 0);
	assert_string_equal(lp, "john.doe");
	assert_int_equal(hdr_addr_domain(v, &l.a[0], lp, sizeof(lp)), 0);
	assert_string_equal(lp, "ex.com");
	hdr_addr_free(&l);
	assert_string_equal(show(" \"bob\""), "\"bob\"");
	assert_string_equal(show(" \"unterminated@x"), "ERR");
}

static void
test_groups(void **state)
{
	(void)state;
	assert_string_equal(show(" undisclosed-recipients:;"), "");
	assert_string_equal(show(" undisclosed-recipients: ;"), "");
	assert_string_equal(show(" Team: a@x, b@y;, c@z"), "a@x | b@y | c@z");
	assert_string_equal(show(" A Group:Ed Jones <c@a.test>,joe@where.test,"
	    "John <jdoe@one.test>;"),
	    "c@a.test | joe@where.test | jdoe@one.test");
	assert_string_equal(show(" list: a@x"), "a@x");	/* no ";" */
	assert_string_equal(show(" g: a@x; junk"), "ERR");
}

static void
test_folded_and_obs(void **state)
{
	(void)state;
	assert_string_equal(show(" Bob\n <bob@example.com>,\n\tcarol@x.org"),
	    "bob@example.com | carol@x.org");
	assert_string_equal(show(" bob@example.com\r\n"), "bob@example.com");
	/* obs-local-part and obs-domain: CFWS around the dots */
	assert_string_equal(show(" john . doe @ example . com"),
	    "john . doe@example . com");
	/* obs-route, obs-addr-list's empty elements */
	assert_string_equal(show(" <@relay.x,@b.y:bob@example.com>"),
	    "bob@example.com");
	assert_string_equal(show(" , a@x,, ,b@y ,"), "a@x | b@y");
	assert_string_equal(show(" bob@[192.0.2.1]"), "bob@[192.0.2.1]");
}

static void
test_bad(void **state)
{
	(void)state;
	const char *bad[] = {
		" <bob@example.com", " bob@", " @example.com", " <>",
		" bob@example.com>", " a b", " bob@x.", " bob@[1.2[3]",
		" a@b@c", " <a@x> <b@y>", " a;b", " \x01",
		" bob)x", " <a@x", " Bob: <a@x> extra;", " a@x:",
		" john.@docomo.example", " [1.2.3.4]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strcmp(show(bad[i]), "ERR") != 0)
			fail_msg("parsed \"%s\" as %s", bad[i], show(bad[i]));
}

static const char *
to_masq(void *arg, const char *v, const struct hdr_addr *a)
{
	(void)arg;
	if (a->domain_len == 0)
		return "masq.example";
	if (a->domain_len == 4 && strncmp(v + a->domain, "host", 4) == 0)
		return "masq.example";
	return NULL;
}

static void
rewrite(const char *v, const char *want, int nchanged)
{
	struct hdr_addr_list	 l;
	struct buf		 b;
	const char		*why;

	buf_init(&b, 4096);
	assert_int_equal(hdr_addr_parse(v, strlen(v), &l, &why), 0);
	assert_int_equal(hdr_addr_rewrite(&b, v, strlen(v), &l, to_masq,
	    NULL), nchanged);
	assert_string_equal(b.data ? b.data : "", want);
	hdr_addr_free(&l);
	buf_free(&b);
}

static void
test_rewrite(void **state)
{
	(void)state;
	rewrite(" \"Bob (x)\" <bob@host> (work)\n",
	    " \"Bob (x)\" <bob@masq.example> (work)\n", 1);
	rewrite(" bob, carol@other, Dan <dan>",
	    " bob@masq.example, carol@other, Dan <dan@masq.example>", 2);
	rewrite(" bob (Bob)", " bob@masq.example (Bob)", 1);
	rewrite(" team: a@host;", " team: a@masq.example;", 1);
	rewrite(" a@other", " a@other", 0);
	rewrite("", "", 0);
}

static void
test_rewrite_full(void **state)
{
	(void)state;
	struct hdr_addr_list	 l;
	struct buf		 b;
	const char		*why, *v = " a, b, c";

	buf_init(&b, 10);
	assert_int_equal(hdr_addr_parse(v, strlen(v), &l, &why), 0);
	assert_int_equal(hdr_addr_rewrite(&b, v, strlen(v), &l, to_masq,
	    NULL), -1);
	hdr_addr_free(&l);
	buf_free(&b);
}

/* Deep nesting is counted, not recursed: 100,000 parentheses. */
static void
test_deep(void **state)
{
	(void)state;
	size_t	 n = 100000;
	char	*v = malloc(2 * n + 8);

	assert_non_null(v);
	memcpy(v, "a@b ", 4);
	memset(v + 4, '(', n);
	memset(v + 4 + n, ')', n);
	v[4 + 2 * n] = '\0';
	assert_string_equal(show(v), "a@b");
	v[4 + 2 * n - 1] = '\0';
	assert_string_equal(show(v), "ERR");
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_display_names),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_quoted_local),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_folded_and_obs),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_rewrite_full),
		cmocka_unit_test(test_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
