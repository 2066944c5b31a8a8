/* qfile: writer, reader, in-place updates, and rejection of bad files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qfile.h"

static char dir[64];
static int dfd;

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/qfile-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	return dfd == -1 ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_one(char id[QID_LEN + 1], const char *content)
{
	struct qwriter w;
	struct buf client;

	buf_init(&client, 1024);
	buf_puts(&client, "");
	assert_int_equal(qfile_create(&w, dfd, 1764072000123456ULL, 0,
	    "alice@example.com", &client), 0);
	assert_true(qid_valid(w.id));
	assert_int_equal(qfile_content_write(&w, content, strlen(content)), 0);
	assert_int_equal(qfile_content_end(&w), 0);
	assert_int_equal(qfile_add_rcpt(&w, "bob@example.net"), 0);
	assert_int_equal(qfile_add_rcpt(&w, "carol@example.org"), 0);
	assert_int_equal(qfile_commit(&w, id), 0);
	buf_free(&client);
}

static void
test_write_read(void **state)
{
	char id[QID_LEN + 1], err[128], data[64];
	struct qfile q;
	int fd;

	(void)state;
	write_one(id, "Subject: x\n\nhello\n");
	fd = openat(dfd, id, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_string_equal(q.sender, "alice@example.com");
	assert_int_equal(q.arrival_us, 1764072000123456ULL);
	assert_int_equal(q.nrcpt, 2);
	assert_string_equal(q.rcpt[1].addr, "carol@example.org");
	assert_int_equal(q.rcpt[0].status, QR_PENDING);
	assert_int_equal(q.content_len, 18);
	assert_int_equal(pread(fd, data, q.content_len, q.content_off), 18);
	assert_memory_equal(data, "Subject: x\n\nhello\n", 18);

	/* In-place updates survive a re-read. */
	q.rcpt[0].status = QR_SENT;
	q.rcpt[1].code = 451;
	snprintf(q.rcpt[1].error, sizeof(q.rcpt[1].error), "4.4.1 refused");
	assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[0]), 0);
	assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[1]), 0);
	q.attempts = 3;
	q.next_try = 1764075600;
	q.flags = QF_WARNED;
	assert_int_equal(qfile_info_update(fd, &q), 0);
	off_t size = q.size;
	qfile_free(&q);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_int_equal(q.size, size);
	assert_int_equal(q.rcpt[0].status, QR_SENT);
	assert_int_equal(q.rcpt[1].code, 451);
	assert_string_equal(q.rcpt[1].error, "4.4.1 refused");
	assert_int_equal(q.attempts, 3);
	assert_int_equal(q.next_try, 1764075600);
	assert_int_equal(q.flags, QF_WARNED);
	qfile_free(&q);
	close(fd);
}

static void
test_ids_unique_and_sorted(void **state)
{
	char a[QID_LEN + 1], b[QID_LEN + 1];

	(void)state;
	qid_make(1000000ULL * 100 + 5, 77, a);
	qid_make(1000000ULL * 100 + 6, 77, b);
	assert_true(strcmp(a, b) < 0);
	assert_true(qid_valid(a));
	assert_false(qid_valid("0123456789abcdef"));
	assert_false(qid_valid("0123456789ABCDE"));
	assert_false(qid_valid("../../etc/passwd"));
	write_one(a, "x\n");
	write_one(b, "y\n");
	assert_string_not_equal(a, b);
}

/* Every truncation of a good file must be rejected, never crash. */
static void
test_truncations_rejected(void **state)
{
	char id[QID_LEN + 1], err[128];
	struct stat st;
	struct qfile q;
	char *all;
	int fd;

	(void)state;
	write_one(id, "Subject: t\n\nbody\n");
	fd = openat(dfd, id, O_RDONLY);
	fstat(fd, &st);
	all = malloc((size_t)st.st_size);
	assert_int_equal(read(fd, all, (size_t)st.st_size), st.st_size);
	close(fd);
	for (off_t len = 0; len < st.st_size; len++) {
		int t = openat(dfd, "trunc", O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_int_equal(write(t, all, (size_t)len), len);
		assert_int_equal(qfile_read(t, &q, err, sizeof(err)), -1);
		qfile_free(&q);
		close(t);
	}
	/* Flip bytes: the reader may accept or refuse, but must not crash. */
	for (off_t i = 0; i < st.st_size; i++) {
		int t = openat(dfd, "flip", O_RDWR | O_CREAT | O_TRUNC, 0600);
		all[i] ^= 0xff;
		assert_int_equal(write(t, all, (size_t)st.st_size), st.st_size);
		all[i] ^= 0xff;
		(void)qfile_read(t, &q, err, sizeof(err));
		qfile_free(&q);
		close(t);
	}
	free(all);
}

static void
test_bad_magic_and_version(void **state)
{
	char err[128];
	struct qfile q;
	int t = openat(dfd, "bad", O_RDWR | O_CREAT | O_TRUNC, 0600);

	(void)state;
	assert_int_equal(write(t, "PSTQ\x03\0\0\0", 8), 8);
	assert_int_equal(qfile_read(t, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version"));
	qfile_free(&q);
	assert_int_equal(pwrite(t, "MBOX", 4, 0), 4);
	assert_int_equal(qfile_read(t, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "magic"));
	qfile_free(&q);
	close(t);
}

static void
test_no_rcpt_refused(void **state)
{
	struct qwriter w;
	char id[QID_LEN + 1];

	(void)state;
	assert_int_equal(qfile_create(&w, dfd, 1, 0, "", NULL), 0);
	qfile_content_write(&w, "x\n", 2);
	qfile_content_end(&w);
	assert_int_equal(qfile_commit(&w, id), -1);
	/* and no temp file is left behind */
	assert_int_equal(faccessat(dfd, w.tmpname, F_OK, 0), -1);
}

/* A code the reader cannot hold (e.g. 0xFFFFFFFF, which read back as
 * -1) makes the file corrupt: found by fuzz_qfile. */
static void
test_bad_code_refused(void **state)
{
	char id[QID_LEN + 1], err[128];
	struct qfile q;
	int fd;

	(void)state;
	write_one(id, "x\n");
	fd = openat(dfd, id, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	q.rcpt[1].code = -1;
	assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[1]), 0);
	qfile_free(&q);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad recipient data"));
	qfile_free(&q);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_ids_unique_and_sorted),
		cmocka_unit_test(test_truncations_rejected),
		cmocka_unit_test(test_bad_magic_and_version),
		cmocka_unit_test(test_no_rcpt_refused),
		cmocka_unit_test(test_bad_code_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
