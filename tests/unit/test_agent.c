/*
 * test_agent: the delivery-agent skeleton (lib/agent.c) on a real queue
 * file and a socketpair standing in for qmgr: one status per recipient
 * then done, a recipient the hook left open deferred, an unreadable queue
 * file deferring all, and a bad request (index out of range, repeated,
 * not in active/) refused whole with nothing sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "ipc.h"
#include "qfile.h"

static char		 dir[64];
static char		 qid[QID_LEN + 1];
static struct worker	 wk;
static int		 pair[2];	/* [0] qmgr's end, [1] the agent's */
static size_t		 answered;	/* how many the hook answers */
static char		 seen_addr[64];

/* A queue file with two recipients in dir/active. */
static int
setup(void **state)
{
	struct qwriter w;
	char inc[128], act[128], from[160], to[160];
	int dfd;

	snprintf(dir, sizeof(dir), "/tmp/test_agent.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(inc, sizeof(inc), "%s/%s", dir, QDIR_INCOMING);
	snprintf(act, sizeof(act), "%s/%s", dir, QDIR_ACTIVE);
	assert_int_equal(mkdir(inc, 0700), 0);
	assert_int_equal(mkdir(act, 0700), 0);
	dfd = open(inc, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(qfile_create(&w, dfd, 1, 0, "a@example.com", NULL),
	    0);
	assert_int_equal(qfile_content_write(&w, "Subject: x\n\nhi\n", 15),
	    0);
	assert_int_equal(qfile_content_end(&w), 0);
	assert_int_equal(qfile_add_rcpt(&w, "b@example.net"), 0);
	assert_int_equal(qfile_add_rcpt(&w, "c@example.net"), 0);
	assert_int_equal(qfile_commit(&w, qid), 0);
	close(dfd);
	snprintf(from, sizeof(from), "%s/%s", inc, qid);
	snprintf(to, sizeof(to), "%s/%s", act, qid);
	assert_int_equal(rename(from, to), 0);
	wk.conf.queue_dir = dir;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The hook: answers the first `answered` recipients as sent, reading a
 * byte of content to show the queue file is open. */
static void
hook(struct agent_job *j)
{
	struct dstatus st;
	char c;

	assert_int_equal(agent_read(j, 0, &c, 1), 1);
	assert_int_equal(c, 'S');
	snprintf(seen_addr, sizeof(seen_addr), "%s", j->rcpt[0].addr);
	dstatus_set(&st, DS_SENT, 250, "2.0.0 ok");
	for (size_t i = 0; i < answered && i < j->nrcpt; i++)
		agent_report(j, i, &st);
	agent_report(j, 0, &st);	/* a second answer is ignored */
}

static const struct agent_ops ops = { .name = "test", .deliver = hook };

/* Build a request, run it; returns agent_request's result. */
static int
run(const char *id, const char *d, const size_t *idx, size_t n)
{
	struct deliver_request req = { .nexthop = "", .nrcpt = n };
	struct ipc_msg m;
	struct buf b;
	int rv;

	snprintf(req.queue_id, sizeof(req.queue_id), "%s", id);
	snprintf(req.dir, sizeof(req.dir), "%s", d);
	req.rcpt = (size_t *)idx;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	buf_init(&b, IPC_MAX_FRAME + 4);
	assert_int_equal(deliver_request_encode(&b, &req), 0);
	ipc_msg_init(&m);
	assert_int_equal(ipc_send(pair[0], &b, 1000), 0);
	assert_int_equal(ipc_recv(pair[1], &m, 1000), 0);
	rv = agent_request(&wk, &ops, pair[1], &m);
	close(pair[1]);
	ipc_msg_free(&m);
	buf_free(&b);
	return rv;
}

/* The next frame from the agent: 1 a status (in *ds), 0 done, -1 EOF. */
static int
next(struct deliver_status *ds)
{
	struct ipc_msg m;
	char err[128];
	int rv = -1;

	ipc_msg_init(&m);
	if (ipc_recv(pair[0], &m, 1000) == 0) {
		if (proto_req_type(&m) == REQ_DONE)
			rv = 0;
		else {
			assert_int_equal(deliver_status_decode(&m, ds, err,
			    sizeof(err)), 0);
			rv = 1;
		}
	}
	ipc_msg_free(&m);
	return rv;
}

static void
test_answers(void **state)
{
	size_t idx[] = { 1, 0 };
	struct deliver_status ds;

	answered = 1;
	assert_int_equal(run(qid, QDIR_ACTIVE, idx, 2), 0);
	assert_string_equal(seen_addr, "c@example.net");
	assert_int_equal(next(&ds), 1);
	assert_int_equal(ds.rcpt, 1);
	assert_int_equal(ds.st.stat, DS_SENT);
	assert_int_equal(next(&ds), 1);
	assert_int_equal(ds.rcpt, 0);
	assert_int_equal(ds.st.stat, DS_DEFER);
	assert_int_equal(ds.st.code, 451);
	assert_true(strncmp(ds.st.text, "4.3.0 ", 6) == 0);
	assert_int_equal(next(&ds), 0);
	close(pair[0]);
}

static void
test_no_queue_file(void **state)
{
	size_t idx[] = { 0, 1 };
	struct deliver_status ds;

	answered = 2;
	assert_int_equal(run("0000000000000001", QDIR_ACTIVE, idx, 2), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(next(&ds), 1);
		assert_int_equal(ds.st.stat, DS_DEFER);
		assert_non_null(strstr(ds.st.text, "cannot read queue file"));
	}
	assert_int_equal(next(&ds), 0);
	close(pair[0]);
}

static void
test_bad_requests(void **state)
{
	size_t range[] = { 0, 2 }, twice[] = { 1, 1 }, ok[] = { 0 };
	struct deliver_status ds;

	answered = 2;
	assert_int_equal(run(qid, QDIR_ACTIVE, range, 2), -1);
	assert_int_equal(next(&ds), -1);	/* nothing at all */
	close(pair[0]);
	assert_int_equal(run(qid, QDIR_ACTIVE, twice, 2), -1);
	assert_int_equal(next(&ds), -1);
	close(pair[0]);
	assert_int_equal(run(qid, QDIR_DEFERRED, ok, 1), -1);
	assert_int_equal(next(&ds), -1);
	close(pair[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_no_queue_file),
		cmocka_unit_test(test_bad_requests),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
