/*
 * test_cmdline: local/cmdline.c, the pure parts of running a delivery
 * command: the shell decision, word splitting with $NAME expansion and its
 * bounds, the output tail and last line, the sysexits mapping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local/cmdline.h"	/* local/cmdline.o is linked in */

static char *vals[CMD_NVARS] = { "bob", "bob", "/home/bob", "a b;rm -rf /",
    "bob+x@example.org", "x", "example.org" };

static void
freev(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
}

static void
test_needs_shell(void **state)
{
	assert_false(cmd_needs_shell("/usr/bin/procmail -t -Y -a $EXTENSION "
	    "-d $USER"));
	assert_false(cmd_needs_shell("/bin/prog ${RECIPIENT}x $SENDER"));
	assert_true(cmd_needs_shell("/bin/prog | tee x"));
	assert_true(cmd_needs_shell("/bin/prog > /tmp/x"));
	assert_true(cmd_needs_shell("/bin/prog $OTHER"));
	assert_true(cmd_needs_shell("/bin/prog $USERS"));
	assert_true(cmd_needs_shell("/bin/prog 'quoted'"));
	assert_true(cmd_needs_shell("/bin/prog $"));
	assert_true(cmd_needs_shell("A=1 /bin/prog"));
}

static void
test_split(void **state)
{
	char	*argv[CMD_MAX_ARGS + 4];

	assert_int_equal(cmd_split("  /usr/bin/procmail -a $EXTENSION\t-d "
	    "$USER ", vals, argv), 5);
	assert_string_equal(argv[0], "/usr/bin/procmail");
	assert_string_equal(argv[2], "x");
	assert_string_equal(argv[4], "bob");
	assert_null(argv[5]);
	freev(argv);
	/* a value is one word, whatever it holds: no shell sees it */
	assert_int_equal(cmd_split("/bin/p $SENDER ${DOMAIN}.x", vals, argv),
	    3);
	assert_string_equal(argv[1], "a b;rm -rf /");
	assert_string_equal(argv[2], "example.org.x");
	freev(argv);
	assert_int_equal(cmd_split("   ", vals, argv), -1);
}

static void
test_split_bounds(void **state)
{
	char	*argv[CMD_MAX_ARGS + 4], *big;
	size_t	 n = CMD_MAX_ARGS * 2 + 1;

	big = malloc(n * 2 + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(big + 2 * i, "a ", 2);
	big[2 * n] = '\0';
	assert_int_equal(cmd_split(big, vals, argv), -1);	/* too many */
	free(big);
	big = malloc(CMD_ARG_LEN + 2);
	memset(big, 'a', CMD_ARG_LEN);
	big[CMD_ARG_LEN] = '\0';
	assert_int_equal(cmd_split(big, vals, argv), -1);	/* too long */
	big[CMD_ARG_LEN - 1] = '\0';
	assert_int_equal(cmd_split(big, vals, argv), 1);
	freev(argv);
	free(big);
}

static void
test_tail(void **state)
{
	struct cmd_tail	 t;
	char		 line[CMD_LINE_SHOWN + 1], *mb;

	memset(&t, 0, sizeof(t));
	cmd_tail_add(&t, "first\nsecond line\n\n  \n", 22);
	cmd_last_line(&t, line, sizeof(line));
	assert_string_equal(line, "second line");
	/* megabytes: only the tail is kept, every byte counted */
	mb = malloc(1 << 20);
	memset(mb, 'x', 1 << 20);
	for (int i = 0; i < 10; i++)
		cmd_tail_add(&t, mb, 1 << 20);
	free(mb);
	cmd_tail_add(&t, "\nlast\twords\x1b[0m\n", 16);
	assert_int_equal(t.len, CMD_TAIL);
	assert_true(t.total == 22 + 10ULL * (1 << 20) + 16);
	cmd_last_line(&t, line, sizeof(line));
	assert_string_equal(line, "last?words?[0m");
	/* a last line longer than shown is cut */
	memset(&t, 0, sizeof(t));
	mb = malloc(600);
	memset(mb, 'y', 600);
	cmd_tail_add(&t, mb, 600);
	free(mb);
	cmd_last_line(&t, line, sizeof(line));
	assert_int_equal(strlen(line), CMD_LINE_SHOWN);
}

static void
test_exit_dsn(void **state)
{
	int	 temp;

	assert_null(cmd_exit_dsn(0, &temp));
	assert_string_equal(cmd_exit_dsn(75, &temp), "4.3.0");
	assert_true(temp);
	assert_string_equal(cmd_exit_dsn(71, &temp), "4.3.0");
	assert_true(temp);
	assert_string_equal(cmd_exit_dsn(74, &temp), "4.3.0");
	assert_true(temp);
	assert_string_equal(cmd_exit_dsn(73, &temp), "5.3.0");
	assert_false(temp);
	assert_string_equal(cmd_exit_dsn(67, &temp), "5.1.1");
	assert_string_equal(cmd_exit_dsn(77, &temp), "5.7.1");
	assert_string_equal(cmd_exit_dsn(1, &temp), "5.3.0");
	assert_false(temp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needs_shell),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_bounds),
		cmocka_unit_test(test_tail),
		cmocka_unit_test(test_exit_dsn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
