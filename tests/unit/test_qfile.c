/* qfile: writer, reader, in-place updates, and rejection of bad files;
 * version 2 (the DSN records) and version-1 files: a queue written before
 * the upgrade must still read, update and deliver. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qfile.h"
#include "xtext.h"

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

/* Content in pieces around the writer's 64 KiB buffer (the length of
 * the 'M' record patched in the buffer or in the file, a piece over
 * 64 KiB written past the buffer): what is read back is what went in. */
static void
test_content_sizes(void **state)
{
	static const size_t sizes[][3] = { { 10, 0, 0 }, { 65000, 600, 0 },
	    { 10, 70000, 100 }, { 65536, 65536, 1 } };
	char id[QID_LEN + 1], err[128];
	struct qwriter w;
	struct qfile q;
	struct buf client;
	char *in, *out;
	size_t total;
	int fd;

	(void)state;
	buf_init(&client, 1024);
	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
		total = sizes[t][0] + sizes[t][1] + sizes[t][2];
		in = malloc(total);
		out = malloc(total);
		assert_non_null(in);
		assert_non_null(out);
		for (size_t i = 0; i < total; i++)
			in[i] = (char)('a' + (i * 7 + t) % 26);
		assert_int_equal(qfile_create(&w, dfd, 1764072000123456ULL +
		    t, 0, "alice@example.com", &client), 0);
		for (size_t k = 0, off = 0; k < 3; off += sizes[t][k++])
			assert_int_equal(qfile_content_write(&w, in + off,
			    sizes[t][k]), 0);
		assert_int_equal(qfile_content_end(&w), 0);
		assert_int_equal(qfile_add_rcpt(&w, "bob@example.net"), 0);
		assert_int_equal(qfile_commit(&w, id), 0);
		fd = openat(dfd, id, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
		assert_int_equal(q.content_len, total);
		assert_int_equal(pread(fd, out, total, q.content_off),
		    (ssize_t)total);
		assert_memory_equal(in, out, total);
		assert_string_equal(q.rcpt[0].addr, "bob@example.net");
		qfile_free(&q);
		close(fd);
		free(in);
		free(out);
	}
	buf_free(&client);
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

/* ---- version 2 (DSN) and version 1 ---- */

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* Append one record to b at *n. */
static void
rec(unsigned char *b, size_t *n, char type, const void *data, size_t len)
{
	b[(*n)++] = (unsigned char)type;
	put32(b + *n, (uint32_t)len);
	*n += 4;
	memcpy(b + *n, data, len);
	*n += len;
}

/*
 * A version-1 file as the old writer laid it out, byte by byte (not with
 * today's writer): header, I, S, M, R, then extra (a record the test
 * adds, NULL none) and E. status is the recipient's status byte.
 */
static int
v1_file(const char *name, char status, const char *extra_type)
{
	unsigned char b[4096], info[32], r[248 + 32];
	const char *content = "Subject: old\n\nqueued before the upgrade\n";
	size_t n = 0;
	int fd;

	memcpy(b, "PSTQ\1\0\0\0", 8);
	n = 8;
	memset(info, 0, sizeof(info));
	info[4] = 0x01;		/* some arrival time */
	rec(b, &n, 'I', info, sizeof(info));
	rec(b, &n, 'S', "old@example.com", 15);
	rec(b, &n, 'M', content, strlen(content));
	memset(r, 0, sizeof(r));
	r[0] = (unsigned char)status;
	memcpy(r + 248, "bob@example.net", 15);
	rec(b, &n, 'R', r, 248 + 15);
	if (extra_type) {
		unsigned char x[8] = { DSN_NOTIFY_SUCCESS, 0, 0, 0 };
		rec(b, &n, extra_type[0], x, 4);
	}
	rec(b, &n, 'E', "", 0);
	fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	return fd;
}

static void
test_v1_still_reads_and_updates(void **state)
{
	struct qfile q;
	char err[128], data[64];
	int fd;

	(void)state;
	fd = v1_file("v1", QR_PENDING, NULL);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_int_equal(q.version, 1);
	assert_string_equal(q.sender, "old@example.com");
	assert_int_equal(q.nrcpt, 1);
	assert_string_equal(q.rcpt[0].addr, "bob@example.net");
	assert_int_equal(q.rcpt[0].notify, 0);
	assert_null(q.rcpt[0].orcpt);
	assert_null(q.envid);
	assert_int_equal(q.ret, 0);
	/* what an agent reads to deliver it */
	assert_int_equal(pread(fd, data, q.content_len, q.content_off),
	    (ssize_t)q.content_len);
	assert_memory_equal(data, "Subject: old\n", 13);
	/* what qmgr writes after the delivery */
	q.rcpt[0].status = QR_SENT;
	assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[0]), 0);
	qfile_free(&q);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_int_equal(q.rcpt[0].status, QR_SENT);
	qfile_free(&q);
	close(fd);
}

/* What only version 2 may hold is refused in a version-1 file. */
static void
test_v1_refuses_v2_records(void **state)
{
	struct qfile q;
	char err[128];
	int fd;

	(void)state;
	fd = v1_file("v1n", QR_PENDING, "N");
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), -1);
	qfile_free(&q);
	close(fd);
	fd = v1_file("v1s", QR_SENT_NOTIFY, NULL);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), -1);
	qfile_free(&q);
	close(fd);
}

static void
test_v2_roundtrip(void **state)
{
	struct qwriter w;
	struct qfile q;
	char id[QID_LEN + 1], err[128];
	int fd;

	(void)state;
	assert_int_equal(qfile_create(&w, dfd, 1764072000000000ULL, 0,
	    "alice@example.com", NULL), 0);
	assert_int_equal(qfile_content_write(&w, "x\n", 2), 0);
	assert_int_equal(qfile_content_end(&w), 0);
	assert_int_equal(qfile_add_dsn(&w, DSN_RET_HDRS, "env 1"), 0);
	assert_int_equal(qfile_add_rcpt_dsn(&w, "a@x", DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_FAILURE, "rfc822;A+b@y"), 0);
	assert_int_equal(qfile_add_rcpt_dsn(&w, "b@x", 0, NULL), 0);
	assert_int_equal(qfile_add_rcpt_dsn(&w, "c@x", DSN_NOTIFY_NEVER,
	    NULL), 0);
	assert_int_equal(qfile_commit(&w, id), 0);
	fd = openat(dfd, id, O_RDWR);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_int_equal(q.version, 2);
	assert_int_equal(q.ret, DSN_RET_HDRS);
	assert_string_equal(q.envid, "env 1");
	assert_int_equal(q.nrcpt, 3);
	assert_int_equal(q.rcpt[0].notify, DSN_NOTIFY_SUCCESS |
	    DSN_NOTIFY_FAILURE);
	assert_string_equal(q.rcpt[0].orcpt, "rfc822;A+b@y");
	assert_int_equal(q.rcpt[1].notify, 0);
	assert_null(q.rcpt[1].orcpt);
	assert_int_equal(q.rcpt[2].notify, DSN_NOTIFY_NEVER);
	/* the success-notice states are written in place and read back */
	q.rcpt[0].status = QR_RELAYED_NOTIFY;
	assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[0]), 0);
	qfile_free(&q);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_int_equal(q.rcpt[0].status, QR_RELAYED_NOTIFY);
	assert_string_equal(q.rcpt[0].orcpt, "rfc822;A+b@y");
	qfile_free(&q);
	close(fd);
}

/* The writer refuses what the reader would: no half-good file. */
static void
test_v2_writer_bounds(void **state)
{
	struct qwriter w;
	char big[DSN_ORCPT_MAX + 2];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(qfile_create(&w, dfd, 1764072000000001ULL, 0, "",
	    NULL), 0);
	assert_int_equal(qfile_content_end(&w), 0);
	assert_int_equal(qfile_add_rcpt_dsn(&w, "a@x", 0, big), -1);
	assert_true(w.failed);
	qfile_abort(&w);
	assert_int_equal(qfile_create(&w, dfd, 1764072000000002ULL, 0, "",
	    NULL), 0);
	assert_int_equal(qfile_content_end(&w), 0);
	assert_int_equal(qfile_add_rcpt(&w, "a@x"), 0);
	assert_int_equal(qfile_add_dsn(&w, DSN_RET_FULL, NULL), -1);
	qfile_abort(&w);
}

/* A 'D' after a recipient, an 'N' with no 'R' before it, a bad RET or
 * unprintable ENVID: the file is corrupt. */
static void
test_v2_misplaced_records(void **state)
{
	unsigned char b[2048], info[32], r[248 + 8];
	unsigned char d[8] = { DSN_RET_FULL, 0, 0, 0, 'e', '\n', 0, 0 };
	struct qfile q;
	char err[128];
	const struct { const char *order; size_t dlen; } cases[] = {
		{ "SMRDE", 4 }, { "SMNRE", 4 }, { "SMDDRE", 4 },
		{ "SMDRE", 6 },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t n = 8;
		int fd;

		memcpy(b, "PSTQ\2\0\0\0", 8);
		memset(info, 0, sizeof(info));
		rec(b, &n, 'I', info, sizeof(info));
		for (const char *t = cases[c].order; *t; t++) {
			memset(r, 0, sizeof(r));
			r[0] = QR_PENDING;
			memcpy(r + 248, "a@x", 3);
			switch (*t) {
			case 'S': rec(b, &n, 'S', "s@x", 3); break;
			case 'M': rec(b, &n, 'M', "x\n", 2); break;
			case 'R': rec(b, &n, 'R', r, 251); break;
			case 'D': rec(b, &n, 'D', d, cases[c].dlen); break;
			case 'N': rec(b, &n, 'N', d, 4); break;
			case 'E': rec(b, &n, 'E', "", 0); break;
			}
		}
		fd = openat(dfd, "bad", O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_int_equal(write(fd, b, n), (ssize_t)n);
		assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), -1);
		qfile_free(&q);
		close(fd);
	}
}

/* ---- the reader's window: 64 KiB of the file read at a time ---- */

#define WIN		65536
#define WIN_HEAD	(8 + 5 + 32 + 5 + 13 + 5)	/* up to C's data */

/* A version-2 file byte by byte into b: header, I, S, C of clen bytes,
 * M, D, then two R each with an N, and E; its length. */
static size_t
win_file(unsigned char *b, size_t clen, const char *content)
{
	static unsigned char client[64 * 1024 + 1];
	unsigned char info[32], r[248 + 15], d[4 + 12];
	size_t n = 8;

	memcpy(b, "PSTQ\2\0\0\0", 8);
	memset(info, 0, sizeof(info));
	info[7] = 9;
	rec(b, &n, 'I', info, sizeof(info));
	rec(b, &n, 'S', "s@example.com", 13);
	memset(client, 'c', sizeof(client));
	rec(b, &n, 'C', client, clen);
	rec(b, &n, 'M', content, strlen(content));
	memset(d, 0, sizeof(d));
	d[0] = DSN_RET_HDRS;
	memcpy(d + 4, "envid-1", 7);
	rec(b, &n, 'D', d, 4 + 7);
	for (int i = 0; i < 2; i++) {
		memset(r, 0, sizeof(r));
		r[0] = QR_PENDING;
		put32(r + 4, 450 + (uint32_t)i);
		memcpy(r + 8, "4.0.0 later", 11);
		memcpy(r + 248, i ? "bob@example.net" : "amy@example.net", 15);
		rec(b, &n, 'R', r, sizeof(r));
		memset(d, 0, sizeof(d));
		d[0] = DSN_NOTIFY_SUCCESS;
		memcpy(d + 4, "rfc822;x@y.z", 12);
		rec(b, &n, 'N', d, sizeof(d));
	}
	rec(b, &n, 'E', "", 0);
	return n;
}

/* What win_file wrote, read back with qfile_read or qfile_read_keep. */
static void
win_check(int fd, size_t clen, const char *content, int keep)
{
	size_t len = strlen(content);
	char err[128], got[64];
	struct qfile q;

	assert_int_equal(keep ? qfile_read_keep(fd, &q, err, sizeof(err)) :
	    qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_string_equal(q.sender, "s@example.com");
	assert_int_equal(q.client.len, clen);
	assert_int_equal(q.ret, DSN_RET_HDRS);
	assert_string_equal(q.envid, "envid-1");
	assert_int_equal(q.nrcpt, 2);
	assert_string_equal(q.rcpt[0].addr, "amy@example.net");
	assert_string_equal(q.rcpt[1].addr, "bob@example.net");
	assert_int_equal(q.rcpt[1].code, 451);
	assert_string_equal(q.rcpt[1].error, "4.0.0 later");
	assert_int_equal(q.rcpt[1].notify, DSN_NOTIFY_SUCCESS);
	assert_string_equal(q.rcpt[1].orcpt, "rfc822;x@y.z");
	assert_int_equal(q.content_len, len);
	assert_int_equal(qfile_content_pread(fd, &q, 0, got, sizeof(got)),
	    (ssize_t)len);
	assert_memory_equal(got, content, len);
	assert_int_equal(qfile_content_pread(fd, &q, len, got, 1), 0);
	if (!keep || q.size <= WIN)
		assert_true(keep ? q.content_mem != NULL :
		    q.content_mem == NULL);
	if (q.content_mem != NULL)
		assert_memory_equal(q.content_mem, content, len);
	qfile_free(&q);
}

/* In memory (memfd): thousands of these, no disk. */
static int
win_write(const unsigned char *b, size_t n)
{
	int fd = memfd_create("win", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	return fd;
}

/* The first read's end anywhere in the records after the client one (a
 * record header or data cut in two): every value reads as written, and
 * every truncation of such a file is refused. */
static void
test_window_straddle(void **state)
{
	static unsigned char b[WIN + 2048];
	const char *content = "Subject: w\n\nbody\n";
	char err[128];
	struct qfile q;
	size_t n, tail;
	int fd;

	(void)state;
	tail = win_file(b, 0, content) - WIN_HEAD;
	for (size_t clen = WIN - WIN_HEAD - tail; clen <= WIN - WIN_HEAD;
	    clen++) {
		n = win_file(b, clen, content);
		fd = win_write(b, n);
		win_check(fd, clen, content, 0);
		win_check(fd, clen, content, 1);
		close(fd);
		if (clen % 29 != 0)
			continue;
		for (size_t cut = n - tail; cut < n; cut += 13) {
			fd = win_write(b, cut);
			assert_int_equal(qfile_read_keep(fd, &q, err,
			    sizeof(err)), -1);
			qfile_free(&q);
			close(fd);
		}
	}
}

/* A client record of the largest size reads (it does not fit the first
 * read: the reader reads it whole from its start); one byte more is
 * refused. */
static void
test_window_client_max(void **state)
{
	static unsigned char b[WIN + 2048];
	const char *content = "x\n";
	char err[128];
	struct qfile q;
	int fd;

	(void)state;
	fd = win_write(b, win_file(b, 64 * 1024, content));
	win_check(fd, 64 * 1024, content, 0);
	win_check(fd, 64 * 1024, content, 1);
	close(fd);
	fd = win_write(b, win_file(b, 64 * 1024 + 1, content));
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client record too long"));
	qfile_free(&q);
	close(fd);
}

#define BIG_CONTENT	200000
#define BIG_RCPT	300

/* Recipient i of the big file: 400 bytes and more. */
static void
big_addr(char *a, size_t i)
{
	memset(a, 'a' + (int)(i % 26), 400);
	snprintf(a + 400, 32, "%zu@example.net", i);
}

static void
big_write(char id[QID_LEN + 1], const char *content)
{
	struct qwriter w;
	char a[448];

	assert_int_equal(qfile_create(&w, dfd, 1764072000000077ULL, 0,
	    "big@example.com", NULL), 0);
	assert_int_equal(qfile_content_write(&w, content, BIG_CONTENT), 0);
	assert_int_equal(qfile_content_end(&w), 0);
	for (size_t i = 0; i < BIG_RCPT; i++) {
		big_addr(a, i);
		assert_int_equal(qfile_add_rcpt_dsn(&w, a, i % 3 ?
		    DSN_NOTIFY_FAILURE : 0, i % 5 ? NULL : "rfc822;o@x"), 0);
	}
	assert_int_equal(qfile_commit(&w, id), 0);
}

/* The big file read back: every recipient, the content from the file. */
static void
big_check(int fd, const char *content, struct qfile *q)
{
	char err[128], a[448], *got = malloc(BIG_CONTENT);

	assert_non_null(got);
	assert_int_equal(qfile_read_keep(fd, q, err, sizeof(err)), 0);
	assert_null(q->content_mem);	/* larger than the first read */
	assert_string_equal(q->sender, "big@example.com");
	assert_int_equal(q->nrcpt, BIG_RCPT);
	for (size_t i = 0; i < BIG_RCPT; i++) {
		big_addr(a, i);
		assert_string_equal(q->rcpt[i].addr, a);
		assert_int_equal(q->rcpt[i].notify, i % 3 ?
		    DSN_NOTIFY_FAILURE : 0);
		assert_true((q->rcpt[i].orcpt == NULL) == (i % 5 != 0));
	}
	assert_int_equal(q->content_len, BIG_CONTENT);
	for (size_t pos = 0; pos < BIG_CONTENT; ) {
		ssize_t n = qfile_content_pread(fd, q, pos, got + pos,
		    BIG_CONTENT);

		assert_true(n > 0);
		pos += (size_t)n;
	}
	assert_memory_equal(got, content, BIG_CONTENT);
	assert_int_equal(qfile_content_pread(fd, q, BIG_CONTENT - 10, got,
	    100), 10);
	free(got);
}

/* A file larger than the first read (content 200 KB, recipients over
 * several reads): read, updated in place and read again; cut anywhere
 * (at the first read's end, in the content, in a recipient): refused. */
static void
test_window_big_file(void **state)
{
	static const off_t cuts[] = { 65535, 65536, 65537, 100000,
	    200100, 265536, 300000 };
	char id[QID_LEN + 1], err[128], *content = malloc(BIG_CONTENT), *all;
	struct qfile q;
	off_t size;
	int fd, t;

	(void)state;
	assert_non_null(content);
	for (size_t i = 0; i < BIG_CONTENT; i++)
		content[i] = (char)('a' + i % 23);
	big_write(id, content);
	fd = openat(dfd, id, O_RDWR);
	assert_true(fd >= 0);
	big_check(fd, content, &q);
	q.rcpt[BIG_RCPT - 1].status = QR_SENT;
	assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[BIG_RCPT - 1]), 0);
	size = q.size;
	qfile_free(&q);
	big_check(fd, content, &q);
	assert_int_equal(q.rcpt[BIG_RCPT - 1].status, QR_SENT);
	assert_int_equal(q.rcpt[BIG_RCPT - 2].status, QR_PENDING);
	qfile_free(&q);
	all = malloc((size_t)size);
	assert_non_null(all);
	for (size_t c = 0; c <= sizeof(cuts) / sizeof(cuts[0]); c++) {
		off_t cut = c < sizeof(cuts) / sizeof(cuts[0]) ? cuts[c] :
		    size - 1;

		assert_true(cut < size);
		assert_int_equal(pread(fd, all, (size_t)cut, 0), (ssize_t)cut);
		t = openat(dfd, "cut", O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_int_equal(write(t, all, (size_t)cut), (ssize_t)cut);
		assert_int_equal(qfile_read(t, &q, err, sizeof(err)), -1);
		qfile_free(&q);
		close(t);
	}
	close(fd);
	free(all);
	free(content);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_content_sizes),
		cmocka_unit_test(test_ids_unique_and_sorted),
		cmocka_unit_test(test_truncations_rejected),
		cmocka_unit_test(test_bad_magic_and_version),
		cmocka_unit_test(test_no_rcpt_refused),
		cmocka_unit_test(test_bad_code_refused),
		cmocka_unit_test(test_v1_still_reads_and_updates),
		cmocka_unit_test(test_v1_refuses_v2_records),
		cmocka_unit_test(test_v2_roundtrip),
		cmocka_unit_test(test_v2_writer_bounds),
		cmocka_unit_test(test_v2_misplaced_records),
		cmocka_unit_test(test_window_straddle),
		cmocka_unit_test(test_window_client_max),
		cmocka_unit_test(test_window_big_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
