/*
 * qmgr's kept agent connections (qmgr/agentconn.o is linked in): a job
 * takes one of its own transport, the one of its next hop first; one
 * whose agent hung up is never handed out; idle ones expire.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "qmgr/agentconn.h"

/* A connected pair: *peer plays the agent; the other end is qmgr's. */
static int
pair(int *peer)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*peer = sv[1];
	return sv[0];
}

/* Close what is still open of n fds. */
static void
close_open(const int *fd, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fcntl(fd[i], F_GETFD) != -1)
			close(fd[i]);
}

static int
is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
test_take_prefers_nexthop(void **state)
{
	int pa, pb, pc, a = pair(&pa), b = pair(&pb), c = pair(&pc);

	(void)state;
	agentconn_park(1, "[mx.a.example]", a, 100);
	agentconn_park(1, "[mx.b.example]", b, 100);
	agentconn_park(0, "mailbox", c, 100);
	assert_int_equal(agentconn_take(1, "[MX.B.example]"), b);
	assert_int_equal(agentconn_take(1, "[mx.b.example]"), a);
	assert_int_equal(agentconn_take(1, "[mx.b.example]"), -1);
	assert_int_equal(agentconn_take(0, "other"), c);
	assert_int_equal(agentconn_take(0, "other"), -1);
	close_open((int []){ a, b, c, pa, pb, pc }, 6);
}

static void
test_dead_agent_never_handed_out(void **state)
{
	int pa, pb, pc, a = pair(&pa), b = pair(&pb), c = pair(&pc);

	(void)state;
	agentconn_park(2, "x", a, 100);
	agentconn_park(2, "x", b, 100);
	agentconn_park(2, "x", c, 100);
	close(pa);			/* this agent died */
	assert_int_equal(write(pb, "z", 1), 1);	/* this one talks out of turn */
	assert_int_equal(agentconn_take(2, "x"), c);
	assert_int_equal(agentconn_take(2, "x"), -1);
	assert_false(is_open(a));	/* both closed on the way */
	assert_false(is_open(b));
	close_open((int []){ c, pb, pc }, 3);
}

static void
test_idle_ones_expire(void **state)
{
	int pa, pb, a = pair(&pa), b = pair(&pb);

	(void)state;
	agentconn_park(3, "x", a, 100);
	agentconn_park(3, "x", b, 101);
	agentconn_expire(102);		/* a idled 2 s, b 1 s */
	assert_false(is_open(a));
	assert_true(is_open(b));
	assert_int_equal(agentconn_take(3, "x"), b);
	agentconn_expire(200);
	assert_true(is_open(b));	/* handed out: not the list's to close */
	close_open((int []){ b, pa, pb }, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_prefers_nexthop),
		cmocka_unit_test(test_dead_agent_never_handed_out),
		cmocka_unit_test(test_idle_ones_expire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
