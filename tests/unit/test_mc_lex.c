/*
 * test_mc_lex: the sendmail.mc reader of postern import-mc (tools/mc_lex.o
 * is linked in): m4 quotes and the seeds' typos (smart quotes, dn1,
 * spaces in names, calls over several lines, two calls after a dnl),
 * and the bounds (arguments, statement length, NUL bytes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tools/mc_lex.h"

static struct mc_file	 f;

static void
lex(const char *text)
{
	mc_free(&f);
	assert_int_equal(mc_lex(text, strlen(text), &f), 0);
}

static int
teardown(void **state)
{
	mc_free(&f);
	return 0;
}

static void
test_plain_define(void **state)
{
	lex("divert(-1)dnl\n"
	    "define(`confMAX_MESSAGE_SIZE', `3075000')dnl\n"
	    "define(`confDEF_USER_ID',``8:12'')dnl\n"
	    "define(`confPRIVACY_FLAGS', `authwarnings,novrfy, noexpn')dnl\n");
	assert_int_equal(f.n, 4);
	assert_string_equal(f.st[1].key, "DEFINE");
	assert_int_equal(f.st[1].line, 2);
	assert_int_equal(f.st[1].nargs, 2);
	assert_string_equal(f.st[1].args[0], "confMAX_MESSAGE_SIZE");
	assert_string_equal(f.st[1].args[1], "3075000");
	assert_int_equal(f.st[1].lenient, 0);
	assert_string_equal(f.st[2].args[1], "8:12");
	assert_int_equal(f.st[2].lenient, 0);
	assert_string_equal(f.st[3].args[1], "authwarnings,novrfy, noexpn");
}

static void
test_seed_typos(void **state)
{
	char	 k[64];

	lex("define (\" confMAX RCPTS_PER MESSAGE', '10')dnl\n"
	    "DAEMON OPTIONS ( Port=smtp, Name=MTA')dnl\n"
	    "define(`confAUTH_OPTIONS\xc2\xb4, `A p\xc2\xb4)dn1 - es la\n"
	    "\xe2\x80\x98" "define(\xe2\x80\x98" "confMAX_HEADERS_LENGTH"
	    "\xe2\x80\x98, ~10240')dnl \xe2\x80\x98\n"
	    "FEATURE(nodns)dn1\n");
	assert_int_equal(f.n, 5);
	mc_squash(f.st[0].args[0], k, sizeof(k));
	assert_string_equal(k, "CONFMAXRCPTSPERMESSAGE");
	assert_string_equal(f.st[0].args[1], "10");
	assert_true(f.st[0].lenient & MC_L_PAREN);
	assert_true(f.st[0].lenient & MC_L_QUOTES);
	assert_string_equal(f.st[1].key, "DAEMONOPTIONS");
	assert_true(f.st[1].lenient & MC_L_NAME);
	/* unquoted: the options arrive as two arguments */
	assert_int_equal(f.st[1].nargs, 2);
	assert_string_equal(f.st[1].args[0], "Port=smtp");
	assert_string_equal(f.st[1].args[1], "Name=MTA");
	assert_string_equal(f.st[2].args[1], "A p");
	assert_true(f.st[2].lenient & MC_L_DN1);
	assert_string_equal(f.st[3].args[0], "confMAX_HEADERS_LENGTH");
	assert_string_equal(f.st[3].args[1], "10240");
	assert_true(f.st[3].lenient & MC_L_NOISE);
	assert_true(f.st[4].lenient & MC_L_DN1);
}

static void
test_comments(void **state)
{
	lex("dnl MASQUERADE_AS(`mydomain.com')dnl\n"
	    "# a comment\n"
	    "\n"
	    "dn1 MAILER(local)dn1\n"
	    "dn1 divert(-1)\n");
	assert_int_equal(f.n, 2);
	assert_int_equal(f.st[0].kind, MC_DN1);
	assert_int_equal(f.st[0].line, 4);
	assert_string_equal(f.st[0].text, "MAILER(local)dn1");
	assert_int_equal(f.st[1].kind, MC_DN1);
}

static void
test_joined_lines(void **state)
{
	lex("FEATURE(dnsbl, `a.example', `Rejected - see www.mail-\n"
	    "abuse.org/rbl/')dnl\n"
	    "define(`confAUTH_MECHANISMS', `EXTERNAL LOGIN\n"
	    "\n"
	    "PLAIN')dnl\n"
	    "MAILER(smtp)dnl\n");
	assert_int_equal(f.n, 3);
	assert_string_equal(f.st[0].args[2],
	    "Rejected - see www.mail-abuse.org/rbl/");
	assert_true(f.st[0].lenient & MC_L_JOINED);
	assert_string_equal(f.st[1].args[1], "EXTERNAL LOGIN PLAIN");
	assert_int_equal(f.st[1].line, 3);
	assert_string_equal(f.st[2].key, "MAILER");
	assert_int_equal(f.st[2].line, 6);
}

static void
test_two_calls_one_line(void **state)
{
	lex("TRUST_AUTH_MECH(`LOGIN PLAIN')dnl define(`confAUTH_MECHANISMS', "
	    "`LOGIN PLAIN')dnl\n");
	assert_int_equal(f.n, 2);
	assert_string_equal(f.st[0].key, "TRUSTAUTHMECH");
	assert_int_equal(f.st[0].lenient & MC_L_AFTERDNL, 0);
	assert_string_equal(f.st[1].key, "DEFINE");
	assert_true(f.st[1].lenient & MC_L_AFTERDNL);
	assert_int_equal(f.st[1].line, 1);
}

static void
test_unreadable(void **state)
{
	char	*big;
	char	 nul[] = "define(`a', `b')\n\0junk\nMAILER(smtp)\n";

	lex("define(`confMAX_MESSAGE_SIZE', `2000000'\n"
	    "FEATURE(`x')dnl\n"
	    "|de\xc2\xa3ine(\xe2\x80\x98|;9')dnl |\n"
	    "Kfoo hash /etc/mail/foo\n"
	    "LOCAL_CONFIG\n"
	    "A(1,2,3,4,5,6,7,8,9)\n");
	assert_int_equal(f.n, 6);
	assert_int_equal(f.st[0].kind, MC_BAD);
	assert_non_null(strstr(f.st[0].why, "does not end"));
	assert_int_equal(f.st[1].kind, MC_CALL);	/* not swallowed */
	assert_int_equal(f.st[1].line, 2);
	assert_int_equal(f.st[2].kind, MC_BAD);
	assert_int_equal(f.st[3].kind, MC_BAD);
	assert_int_equal(f.st[4].nargs, -1);
	assert_int_equal(f.st[5].kind, MC_BAD);
	assert_string_equal(f.st[5].why, "too many arguments");

	mc_free(&f);
	assert_int_equal(mc_lex(nul, sizeof(nul) - 1, &f), 0);
	assert_int_equal(f.n, 3);
	assert_int_equal(f.st[1].kind, MC_BAD);
	assert_int_equal(f.st[1].line, 2);

	big = malloc(MC_MAXSTMT + 16);
	memset(big, 'x', MC_MAXSTMT + 15);
	memcpy(big, "define(`a', `", 13);
	big[MC_MAXSTMT + 15] = '\0';
	lex(big);
	free(big);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.st[0].kind, MC_BAD);
}

static void
test_class_line(void **state)
{
	lex("Cwmyhostname.myprimary.domain myhostname.UUCP localhost\n");
	assert_int_equal(f.n, 1);
	assert_int_equal(f.st[0].kind, MC_CW);
	assert_string_equal(f.st[0].name, "Cw");
	assert_int_equal(f.st[0].nargs, 3);
	assert_string_equal(f.st[0].args[0], "myhostname.myprimary.domain");
	assert_string_equal(f.st[0].args[2], "localhost");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_plain_define, teardown),
		cmocka_unit_test_teardown(test_seed_typos, teardown),
		cmocka_unit_test_teardown(test_comments, teardown),
		cmocka_unit_test_teardown(test_joined_lines, teardown),
		cmocka_unit_test_teardown(test_two_calls_one_line, teardown),
		cmocka_unit_test_teardown(test_unreadable, teardown),
		cmocka_unit_test_teardown(test_class_line, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
