/*
 * test_confine: conf/confine.c in a forked child each time (what it does
 * cannot be undone): not dumpable, core limit 0, no_new_privs; Landlock
 * lets a child read below a read-only rule, write below a read-write one,
 * and refuses everything else (EACCES), including exec. Skips the
 * Landlock cases where the kernel lacks it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "confine.h"

static char dir[64], ro[128], rw[128], out[128];

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_confine.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	snprintf(rw, sizeof(rw), "%s/rw", dir);
	snprintf(out, sizeof(out), "%s/outside", dir);
	if (mkdir(ro, 0755) == -1 || mkdir(rw, 0755) == -1)
		return -1;
	if ((fd = open(out, O_WRONLY | O_CREAT, 0644)) == -1)
		return -1;
	close(fd);
	snprintf(out, sizeof(out), "%s/ro/file", dir);
	if ((fd = open(out, O_WRONLY | O_CREAT, 0644)) == -1)
		return -1;
	close(fd);
	snprintf(out, sizeof(out), "%s/outside", dir);
	return 0;
}

static int
teardown(void **state)
{
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/ro/file", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/rw/new", dir);
	unlink(p);
	unlink(out);
	rmdir(ro);
	rmdir(rw);
	rmdir(dir);
	return 0;
}

/* Run fn in a child; its exit status (0 = all checks held). */
static int
in_child(int (*fn)(void))
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
child_process(void)
{
	struct rlimit rl;

	if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
	    setgid(65534) == -1 || setuid(65534) == -1))
		return 4;
	confine_process("test", 0);
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 1;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 2;
	if (getrlimit(RLIMIT_CORE, &rl) == -1 || rl.rlim_cur != 0 ||
	    rl.rlim_max != 0)
		return 3;
	return 0;
}

static void
test_process(void **state)
{
	(void)state;
	assert_int_equal(in_child(child_process), 0);
}

static int
child_root(void)
{
	confine_process("test", 0);	/* fatal: exit 1 */
	return 0;
}

/* A worker that should have been dropped and was not refuses to run. */
static void
test_root_refused(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(in_child(child_root), 1);
}

static int
landlock_abi(void)
{
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
}

static int
child_landlock(void)
{
	struct confine_rule rules[] = {
		{ ro, CONFINE_RO },
		{ rw, CONFINE_RW },
		{ "/nonexistent/path", CONFINE_RO },	/* skipped */
	};
	char p[160], *argv[] = { "true", NULL };
	int fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return 10;
	if (confine_landlock(rules, 3) != 1)
		return 11;
	snprintf(p, sizeof(p), "%s/file", ro);
	if ((fd = open(p, O_RDONLY)) == -1)
		return 12;
	close(fd);
	if (open(p, O_WRONLY) != -1 || errno != EACCES)
		return 13;
	if (open(out, O_RDONLY) != -1 || errno != EACCES)
		return 14;
	snprintf(p, sizeof(p), "%s/new", rw);
	if ((fd = open(p, O_WRONLY | O_CREAT, 0644)) == -1)
		return 15;
	close(fd);
	snprintf(p, sizeof(p), "%s/new", ro);
	if (open(p, O_WRONLY | O_CREAT, 0644) != -1 || errno != EACCES)
		return 16;
	execv("/bin/true", argv);
	return errno == EACCES ? 0 : 17;
}

static void
test_landlock(void **state)
{
	(void)state;
	if (landlock_abi() < 1)
		skip();
	assert_int_equal(in_child(child_landlock), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process),
		cmocka_unit_test(test_root_refused),
		cmocka_unit_test(test_landlock),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
