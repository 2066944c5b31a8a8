/*
 * Unit tests for lib/smtp_cmd.c: verbs, argument rules, MAIL/RCPT paths
 * and ESMTP parameters, and the exact replies given for bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "smtp_cmd.h"

static struct smtp_cmd	 cmd;

static int
parse(const char *s, const char **reply)
{
	*reply = NULL;
	return smtp_cmd_parse(s, strlen(s), &cmd, reply);
}

/* Copy a literal into buf, returning its length. */
static size_t
cpy(char *buf, const char *s, size_t size)
{
	size_t	 n = strlen(s);

	assert_true(n < size);
	memcpy(buf, s, n + 1);
	return n;
}

static void
ok(const char *s, enum smtp_verb v)
{
	const char	*r;

	if (parse(s, &r) != 0)
		fail_msg("rejected \"%s\": %s", s, r);
	assert_int_equal(cmd.verb, v);
}

static void
bad(const char *s, const char *want)
{
	const char	*r;

	if (parse(s, &r) != -1)
		fail_msg("accepted \"%s\"", s);
	assert_non_null(r);
	assert_string_equal(r, want);
}

static void
test_helo_ehlo(void **state)
{
	(void)state;
	ok("EHLO mx.example.com", SMTP_EHLO);
	assert_string_equal(cmd.arg, "mx.example.com");
	ok("helo   client.example  ", SMTP_HELO);
	assert_string_equal(cmd.arg, "client.example");
	ok("eHlO [1.2.3.4]", SMTP_EHLO);
	bad("EHLO", "501 5.5.4 Syntax: EHLO hostname");
	bad("EHLO   ", "501 5.5.4 Syntax: EHLO hostname");
	bad("HELO", "501 5.5.4 Syntax: HELO hostname");
}

static void
test_unknown(void **state)
{
	(void)state;
	bad("FOO bar", "500 5.5.1 Command unrecognized");
	bad("", "500 5.5.1 Command unrecognized");
	bad("EHLOX foo", "500 5.5.1 Command unrecognized");
	bad("MAI FROM:<a@b.c>", "500 5.5.1 Command unrecognized");
	bad(" EHLO x", "500 5.5.1 Command unrecognized");
	bad("GET / HTTP/1.1", "500 5.5.1 Command unrecognized");
}

static void
test_mail_basic(void **state)
{
	(void)state;
	ok("MAIL FROM:<User@Example.COM>", SMTP_MAIL);
	assert_string_equal(cmd.path.local, "User");
	assert_string_equal(cmd.path.domain, "example.com");
	assert_int_equal(cmd.nparam, 0);
	assert_int_equal(cmd.size, 0);
	ok("mail from: <a@b.c>", SMTP_MAIL);
	assert_string_equal(cmd.path.local, "a");
	ok("MAIL FROM:<>", SMTP_MAIL);
	assert_int_equal(cmd.path.null, 1);
	ok("MAIL FROM:a@b.c", SMTP_MAIL);
	assert_string_equal(cmd.path.domain, "b.c");
	ok("MAIL FROM:<@r.example:a@b.c>", SMTP_MAIL);
	assert_string_equal(cmd.path.domain, "b.c");
}

static void
test_mail_params(void **state)
{
	(void)state;
	ok("MAIL FROM:<a@b.c> SIZE=12345 BODY=8bitmime SMTPUTF8", SMTP_MAIL);
	assert_int_equal(cmd.size, 12345);
	assert_int_equal(cmd.body_8bit, 1);
	assert_int_equal(cmd.nparam, 3);
	assert_string_equal(cmd.param[0].key, "SIZE");
	assert_string_equal(cmd.param[0].val, "12345");
	assert_string_equal(cmd.param[2].key, "SMTPUTF8");
	assert_string_equal(cmd.param[2].val, "");
	ok("MAIL FROM:<a@b.c> body=7BIT ret=HDRS envid=xyz auth=<>", SMTP_MAIL);
	assert_int_equal(cmd.body_8bit, 0);
	assert_string_equal(cmd.param[1].key, "RET");
	assert_string_equal(cmd.param[1].val, "HDRS");
	assert_string_equal(cmd.param[3].key, "AUTH");
	assert_string_equal(cmd.param[3].val, "<>");
}

static void
test_mail_bad_params(void **state)
{
	(void)state;
	bad("MAIL FROM:<a@b.c> FOO=bar", "555 5.5.4 Unsupported option");
	bad("MAIL FROM:<a@b.c> NOTIFY=NEVER", "555 5.5.4 Unsupported option");
	bad("MAIL FROM:<a@b.c> SIZE=12x", "501 5.5.4 Syntax: SIZE=number");
	bad("MAIL FROM:<a@b.c> SIZE=", "501 5.5.4 Malformed parameter");
	bad("MAIL FROM:<a@b.c> SIZE=99999999999999999999999",
	    "501 5.5.4 Syntax: SIZE=number");
	bad("MAIL FROM:<a@b.c> BODY=BINARYMIME",
	    "501 5.5.4 Syntax: BODY=7BIT|8BITMIME");
	bad("MAIL FROM:<a@b.c> SIZE=1 SIZE=2", "501 5.5.4 Duplicate parameter");
	bad("MAIL FROM:<a@b.c> =x", "501 5.5.4 Malformed parameter");
	bad("MAIL FROM:<a@b.c> SMTPUTF8=yes", "501 5.5.4 Malformed parameter");
	bad("MAIL FROM:<a@b.c> ENVID", "501 5.5.4 Malformed parameter");
	bad("MAIL FROM:<a@b.c> SI_ZE=1", "501 5.5.4 Malformed parameter");
}

static void
test_mail_bad_syntax(void **state)
{
	(void)state;
	const char *m = "501 5.5.4 Syntax: MAIL FROM:<address>";

	bad("MAIL", m);
	bad("MAIL TO:<a@b.c>", m);
	bad("MAIL FROM", m);
	bad("MAIL FROM:", m);
	bad("MAIL FROM:<a@b.c", m);
	bad("MAIL FROM:<a@b.c>junk", m);
	bad("MAIL FROM <a@b.c>", m);
	bad("MAIL FROM:<a b@c.d>", "553 5.1.3 Bad address syntax");
	bad("MAIL FROM:<a@b..c>", "553 5.1.3 Bad address syntax");
}

static void
test_rcpt(void **state)
{
	(void)state;
	ok("RCPT TO:<Bob@Example.Org>", SMTP_RCPT);
	assert_string_equal(cmd.path.local, "Bob");
	assert_string_equal(cmd.path.domain, "example.org");
	ok("rcpt to: <x@y.z> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.z",
	    SMTP_RCPT);
	assert_int_equal(cmd.nparam, 2);
	assert_string_equal(cmd.param[0].key, "NOTIFY");
	assert_string_equal(cmd.param[1].val, "rfc822;x@y.z");
	ok("RCPT TO:<postmaster>", SMTP_RCPT);
	assert_string_equal(cmd.path.local, "postmaster");
	ok("RCPT TO:<\"john doe\"@x.org>", SMTP_RCPT);
	assert_int_equal(cmd.path.quoted, 1);
	assert_string_equal(cmd.path.local, "john doe");
}

static void
test_rcpt_bad(void **state)
{
	(void)state;
	const char *r = "501 5.5.4 Syntax: RCPT TO:<address>";

	bad("RCPT TO:<>", "553 5.1.3 Bad address syntax");
	bad("RCPT FROM:<a@b.c>", r);
	bad("RCPT", r);
	bad("RCPT TO:", r);
	bad("RCPT TO:<a@b.c> SIZE=10", "555 5.5.4 Unsupported option");
	bad("RCPT TO:<a@b.c> BODY=8BITMIME", "555 5.5.4 Unsupported option");
	bad("RCPT TO:<a@>", "553 5.1.3 Bad address syntax");
}

static void
test_no_arg_verbs(void **state)
{
	(void)state;
	const char *n = "501 5.5.4 Syntax error, no parameters allowed";

	ok("DATA", SMTP_DATA);
	ok("rset", SMTP_RSET);
	ok("Quit  ", SMTP_QUIT);
	ok("STARTTLS", SMTP_STARTTLS);
	bad("DATA now", n);
	bad("RSET x", n);
	bad("QUIT bye", n);
	bad("STARTTLS please", n);
}

static void
test_optional_arg_verbs(void **state)
{
	(void)state;
	ok("NOOP", SMTP_NOOP);
	ok("NOOP hello there", SMTP_NOOP);
	assert_string_equal(cmd.arg, "hello there");
	ok("HELP", SMTP_HELP);
	ok("help MAIL", SMTP_HELP);
	ok("VRFY postmaster", SMTP_VRFY);
	assert_string_equal(cmd.arg, "postmaster");
	ok("EXPN list", SMTP_EXPN);
	ok("VRFY", SMTP_VRFY);
}

static void
test_bdat_auth(void **state)
{
	(void)state;
	ok("BDAT 1000 LAST", SMTP_BDAT);
	assert_string_equal(cmd.arg, "1000 LAST");
	ok("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", SMTP_AUTH);
	assert_string_equal(cmd.arg, "PLAIN dGVzdAB0ZXN0AHRlc3Q=");
	bad("BDAT", "501 5.5.4 Syntax: BDAT size [LAST]");
	bad("AUTH", "501 5.5.4 Syntax: AUTH mechanism");
}

static void
test_overflow(void **state)
{
	(void)state;
	char		 line[1100];
	const char	*r;
	size_t		 n;

	/* A 600-octet parameter value must not overflow val[501]. */
	n = cpy(line, "MAIL FROM:<a@b.c> ENVID=", sizeof(line));
	memset(line + n, 'x', 600);
	line[n + 600] = '\0';
	bad(line, "501 5.5.4 Malformed parameter");
	/* 300 octets fit the array, not ENVID's 100 (RFC 3461 4.4) */
	line[n + 300] = '\0';
	bad(line, "501 5.5.4 Syntax: ENVID=xtext (100 octets at most)");

	/* A 40-octet keyword must not overflow key[32]. */
	n = cpy(line, "MAIL FROM:<a@b.c> ", sizeof(line));
	memset(line + n, 'K', 40);
	memcpy(line + n + 40, "=1", 3);
	bad(line, "501 5.5.4 Malformed parameter");

	/* Many parameters: refused before the array can overflow. */
	cpy(line, "MAIL FROM:<a@b.c> SIZE=1 BODY=7BIT SMTPUTF8 RET=FULL "
	    "ENVID=a AUTH=<> X=1 Y=2 Z=3", sizeof(line));
	assert_int_equal(parse(line, &r), -1);
	bad("RCPT TO:<a@b.c> NOTIFY=NEVER ORCPT=t;a NOTIFY=x ORCPT=b NOTIFY=c "
	    "ORCPT=d NOTIFY=e ORCPT=f NOTIFY=g", "501 5.5.4 Duplicate parameter");

	/* Line longer than arg[] can hold. */
	memset(line, 'a', sizeof(line) - 1);
	memcpy(line, "NOOP ", 5);
	line[sizeof(line) - 1] = '\0';
	assert_int_equal(parse(line, &r), -1);

	/* Exactly 1000 octets is fine. */
	line[1000] = '\0';
	ok(line, SMTP_NOOP);
	assert_int_equal(strlen(cmd.arg), 995);

	/* Long local part inside MAIL. */
	n = cpy(line, "MAIL FROM:<", sizeof(line));
	memset(line + n, 'l', 200);
	memcpy(line + n + 200, "@b.c>", 6);
	bad(line, "553 5.1.3 Bad address syntax");
}

static void
test_embedded_nul(void **state)
{
	(void)state;
	const char	*r = NULL;

	assert_int_equal(smtp_cmd_parse("NOOP a\0b", 8, &cmd, &r), -1);
	assert_non_null(r);
	/* len bounds the line: trailing bytes after len are ignored */
	assert_int_equal(smtp_cmd_parse("QUITXYZ", 4, &cmd, &r), 0);
	assert_int_equal(cmd.verb, SMTP_QUIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helo_ehlo),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_mail_basic),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_mail_bad_params),
		cmocka_unit_test(test_mail_bad_syntax),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_rcpt_bad),
		cmocka_unit_test(test_no_arg_verbs),
		cmocka_unit_test(test_optional_arg_verbs),
		cmocka_unit_test(test_bdat_auth),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_embedded_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
