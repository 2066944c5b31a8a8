/* queue: opening the tree, moves (NOREPLACE, SYNC), removal, listing,
 * touch, and a queue whose directory is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qfile.h"
#include "queue.h"

#define ID1	"0000000100000001"
#define ID2	"0000000200000002"

static char root[64];

static void
mkfile(const char *sub, const char *name)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s/%s", root, sub, name);
	assert_true((fd = open(p, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
}

static int
exists(const char *sub, const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s/%s", root, sub, name);
	return access(p, F_OK) == 0;
}

static int
setup(void **state)
{
	static const char *sub[] = { QDIR_INCOMING, QDIR_ACTIVE,
	    QDIR_DEFERRED, QDIR_HOLD };
	char p[256];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/queue-test-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	/* no corrupt/: a queue that cannot be opened */
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, sub[i]);
		if (mkdir(p, 0700) == -1)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_open_missing_queue(void **state)
{
	struct queue q;

	(void)state;
	assert_int_equal(queue_open(&q, root), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(q.fd[QD_CORRUPT], -1);
	assert_int_equal(q.err[QD_CORRUPT], ENOENT);
	assert_true(q.fd[QD_INCOMING] >= 0);
	mkfile(QDIR_INCOMING, ID1);
	assert_int_equal(queue_move(&q, QD_INCOMING, QD_CORRUPT, ID1, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(exists(QDIR_INCOMING, ID1));
	assert_int_equal(queue_remove(&q, QD_INCOMING, ID1, 0), 0);
	queue_close(&q);
	assert_string_equal(queue_name(QD_HOLD), "hold");
}

static void
test_move_noreplace(void **state)
{
	struct queue q;

	(void)state;
	(void)queue_open(&q, root);
	mkfile(QDIR_DEFERRED, ID1);
	mkfile(QDIR_HOLD, ID1);
	assert_int_equal(queue_move(&q, QD_HOLD, QD_DEFERRED, ID1,
	    QUEUE_NOREPLACE | QUEUE_SYNC), -1);
	assert_int_equal(errno, EEXIST);
	assert_true(exists(QDIR_HOLD, ID1));
	assert_int_equal(queue_remove(&q, QD_DEFERRED, ID1, QUEUE_SYNC), 0);
	assert_int_equal(queue_move(&q, QD_HOLD, QD_DEFERRED, ID1,
	    QUEUE_NOREPLACE | QUEUE_SYNC), 0);
	assert_false(exists(QDIR_HOLD, ID1));
	assert_true(exists(QDIR_DEFERRED, ID1));
	assert_int_equal(queue_move(&q, QD_HOLD, QD_DEFERRED, ID1, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(queue_remove(&q, QD_DEFERRED, ID1, 0), 0);
	queue_close(&q);
}

static void
test_list_sorted_and_bad_names(void **state)
{
	struct queue_ids l;
	struct queue q;

	(void)state;
	(void)queue_open(&q, root);
	mkfile(QDIR_ACTIVE, ID2);
	mkfile(QDIR_ACTIVE, ID1);
	mkfile(QDIR_ACTIVE, "t.12345");
	mkfile(QDIR_ACTIVE, ".hidden");
	mkfile(QDIR_ACTIVE, "junk");
	assert_int_equal(queue_list(&q, QD_ACTIVE, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.id[0], ID1);
	assert_string_equal(l.id[1], ID2);
	assert_int_equal(l.nbad, 1);
	assert_string_equal(l.bad[0], "junk");
	/* a second listing on the same fd starts from the top again */
	queue_ids_free(&l);
	assert_int_equal(queue_list(&q, QD_ACTIVE, &l), 0);
	assert_int_equal(l.n, 2);
	queue_ids_add(&l, ID1);
	assert_int_equal(l.n, 3);
	queue_ids_free(&l);
	assert_int_equal(queue_list(&q, QD_CORRUPT, &l), -1);
	assert_int_equal(errno, ENOENT);
	queue_close(&q);
}

static void
test_touch_and_open(void **state)
{
	struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	struct queue q;
	struct stat st;
	time_t before = time(NULL);
	int fd;

	(void)state;
	(void)queue_open(&q, root);
	mkfile(QDIR_HOLD, ID2);
	assert_int_equal(utimensat(q.fd[QD_HOLD], ID2, old, 0), 0);
	assert_int_equal(queue_touch(&q, QD_HOLD, ID2), 0);
	assert_int_equal(fstatat(q.fd[QD_HOLD], ID2, &st, 0), 0);
	assert_true(st.st_mtime >= before);
	fd = queue_file_open(&q, QD_HOLD, ID2, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	assert_int_equal(queue_file_open(&q, QD_INCOMING, ID2, O_RDONLY), -1);
	assert_int_equal(queue_trigger(root), 0);	/* no qmgr here */
	queue_close(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_missing_queue),
		cmocka_unit_test(test_move_noreplace),
		cmocka_unit_test(test_list_sorted_and_bad_names),
		cmocka_unit_test(test_touch_and_open),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
