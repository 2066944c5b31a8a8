/*
 * test_mbox: the mbox writer (lib/mbox.c): ">From " quoting (also across
 * piece boundaries), final newline and blank line, the "From " line,
 * exact bytes of a delivery, truncation back to the old size on a write
 * failure (callback and RLIMIT_FSIZE), the unsafe-file refusals and
 * mailbox_size_limit (5.2.2, the mbox left as it was), and a dotlock
 * that never exists without its creator's pid (a kill in between).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbox.h"

static char	 dir[64];
static char	 path[128];

/*
 * Linked with -Wl,--wrap=write (Makefile): with die_at_pid set, the
 * write of this process's pid line ends it at once, as a kill -9 there
 * would. Any other write goes through.
 */
ssize_t		 __real_write(int, const void *, size_t);
ssize_t		 __wrap_write(int, const void *, size_t);
static int	 die_at_pid;

ssize_t
__wrap_write(int fd, const void *p, size_t n)
{
	char	 line[32];
	int	 k = snprintf(line, sizeof(line), "%ld\n", (long)getpid());

	if (die_at_pid && n == (size_t)k && memcmp(p, line, n) == 0)
		_exit(9);
	return __real_write(fd, p, n);
}

/* Collects quoter output in memory. */
struct sink {
	char	 data[65536];
	size_t	 len;
};

static ssize_t
sink_write(void *ctx, const void *p, size_t len)
{
	struct sink *s = ctx;

	if (len > sizeof(s->data) - s->len)
		len = sizeof(s->data) - s->len;
	memcpy(s->data + s->len, p, len);
	s->len += len;
	return (ssize_t)len;
}

/* Writes to the fd until `left` bytes are used up, then fails ENOSPC. */
struct failer {
	int	 fd;
	size_t	 left;
};

static ssize_t
fail_write(void *ctx, const void *p, size_t len)
{
	struct failer *f = ctx;

	if (f->left == 0) {
		errno = ENOSPC;
		return -1;
	}
	if (len > f->left)
		len = f->left;
	f->left -= len;
	return write(f->fd, p, len);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_mbox.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/mbox", dir);
	return 0;
}

static int
teardown(void **state)
{
	char	 p[200];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s.lock", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/link", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/content", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

static void
quote(const char *in, size_t piece, struct sink *s)
{
	struct mbox_quoter	 q;
	size_t			 len = strlen(in), off = 0;

	memset(s, 0, sizeof(*s));
	mbox_quote_init(&q, sink_write, s);
	while (off < len) {
		size_t n = piece && piece < len - off ? piece : len - off;
		assert_int_equal(mbox_quote_feed(&q, in + off, n), 0);
		off += n;
	}
	assert_int_equal(mbox_quote_finish(&q), 0);
	s->data[s->len] = '\0';
}

static const char body_in[] =
    "Subject: x\n\nFrom a\n>From b\n>>From c\nFromage\n From d\n"
    "From\n>From\n>x From y\nfrom e\n>>\n";
static const char body_out[] =
    "Subject: x\n\n>From a\n>>From b\n>>>From c\nFromage\n From d\n"
    "From\n>From\n>x From y\nfrom e\n>>\n\n";

static void
test_quote(void **state)
{
	struct sink	*s = malloc(sizeof(*s));

	(void)state;
	quote(body_in, 0, s);
	assert_string_equal(s->data, body_out);
	free(s);
}

static void
test_quote_pieces(void **state)
{
	struct sink	*s = malloc(sizeof(*s));

	(void)state;
	for (size_t piece = 1; piece < 9; piece++) {
		quote(body_in, piece, s);
		assert_string_equal(s->data, body_out);
	}
	free(s);
}

static void
test_final_newline(void **state)
{
	struct sink	*s = malloc(sizeof(*s));

	(void)state;
	quote("abc", 0, s);
	assert_string_equal(s->data, "abc\n\n");
	quote("a\n>Fro", 1, s);
	assert_string_equal(s->data, "a\n>Fro\n\n");
	quote("a\nFrom ", 0, s);
	assert_string_equal(s->data, "a\n>From \n\n");
	quote("", 0, s);
	assert_string_equal(s->data, "\n");
	quote("x\n", 0, s);
	assert_string_equal(s->data, "x\n\n");
	free(s);
}

static void
test_from_line(void **state)
{
	char	 buf[256];
	time_t	 t = 1764072000;	/* 2025-11-25 12:00:00 UTC */

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(mbox_from_line(buf, sizeof(buf), "", t), 0);
	assert_string_equal(buf, "From MAILER-DAEMON Tue Nov 25 12:00:00 2025\n");
	assert_int_equal(mbox_from_line(buf, sizeof(buf), "a b@c\nd", t), 0);
	assert_string_equal(buf, "From a_b@c_d Tue Nov 25 12:00:00 2025\n");
	assert_int_equal(mbox_from_line(buf, sizeof(buf), "x@y", t + 86400 * 10),
	    0);
	assert_string_equal(buf, "From x@y Fri Dec  5 12:00:00 2025\n");
	assert_int_equal(mbox_from_line(buf, 10, "x@y", t), -1);
}

static char *
slurp(const char *p, size_t *len)
{
	static char	 data[1 << 20];
	int		 fd = open(p, O_RDONLY);
	ssize_t		 n;

	assert_true(fd != -1);
	n = read(fd, data, sizeof(data) - 1);
	assert_true(n >= 0);
	close(fd);
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

static void
test_write_message(void **state)
{
	char	 err[256], *got;
	size_t	 len;
	int	 fd;
	const char *expect =
	    "OLD\n"
	    "From alice@example.org Tue Nov 25 12:00:00 2025\n"
	    "Return-Path: <alice@example.org>\n"
	    "Delivered-To: bob@example.com\n"
	    "Subject: hi\n\n>From here\nbye";

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "OLD\n", 4), 4);
	assert_int_equal(mbox_write_message(fd, NULL, NULL, "alice@example.org",
	    "bob@example.com", 1764072000, "Subject: hi\n\nFrom here\nbye", -1,
	    0, 26, err, sizeof(err)), MBOX_OK);
	close(fd);
	got = slurp(path, &len);
	assert_int_equal(len, strlen(expect) + 2);
	assert_memory_equal(got, expect, strlen(expect));
	assert_memory_equal(got + strlen(expect), "\n\n", 2);
}

static void
test_truncate_on_error(void **state)
{
	struct failer	 f;
	char		 err[256], *got, big[20000];
	size_t		 len;
	int		 fd;

	(void)state;
	memset(big, 'x', sizeof(big));
	for (size_t i = 79; i < sizeof(big); i += 80)
		big[i] = '\n';
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "OLD\n", 4), 4);
	/* Fail at several points: in the From line, the body, the end. */
	size_t points[] = { 0, 10, 5000, 19000 };
	for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		f.fd = fd;
		f.left = points[k];
		err[0] = '\0';
		assert_int_equal(mbox_write_message(fd, fail_write, &f, "a@b",
		    "c@d", 0, big, -1, 0, sizeof(big), err, sizeof(err)),
		    MBOX_TEMP);
		assert_string_equal(err, "4.3.1 Insufficient system storage");
		got = slurp(path, &len);
		assert_int_equal(len, 4);
		assert_memory_equal(got, "OLD\n", 4);
	}
	close(fd);
}

/* A real write failure: RLIMIT_FSIZE in a child makes write() EFBIG. */
static void
test_truncate_fsize(void **state)
{
	char	 big[20000], *got;
	size_t	 len;
	pid_t	 pid;
	int	 st, fd;

	(void)state;
	memset(big, 'y', sizeof(big));
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "OLD\n", 4), 4);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 8192, 8192 };
		char err[256];
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		int r = mbox_write_message(fd, NULL, NULL, "a@b", "c@d", 0, big,
		    -1, 0, sizeof(big), err, sizeof(err));
		_exit(r == MBOX_TEMP && strncmp(err, "4.3.1 ", 6) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(fd);
	got = slurp(path, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(got, "OLD\n", 4);
}

/* mailbox_size_limit: up to the byte, and nothing written beyond it. */
static void
test_size_limit(void **state)
{
	static const char msg[] = "Subject: hi\n\nFrom here\nbye";
	char	 err[256], want[256], *got;
	size_t	 len, whole;
	int	 fd;

	(void)state;
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "OLD\n", 4), 4);
	assert_int_equal(mbox_write_message(fd, NULL, NULL, "a@b", "c@d", 0,
	    msg, -1, 0, sizeof(msg) - 1, err, sizeof(err)), MBOX_OK);
	got = slurp(path, &len);
	whole = len - 4;	/* one quoted message with its envelope */
	assert_int_equal(ftruncate(fd, 4), 0);
	/* Exactly at the limit: in. One byte less: 5.2.2, left as it was. */
	mbox_set_limit(4 + whole);
	assert_int_equal(mbox_write_message(fd, NULL, NULL, "a@b", "c@d", 0,
	    msg, -1, 0, sizeof(msg) - 1, err, sizeof(err)), MBOX_OK);
	assert_int_equal(ftruncate(fd, 4), 0);
	mbox_set_limit(4 + whole - 1);
	assert_int_equal(mbox_write_message(fd, NULL, NULL, "a@b", "c@d", 0,
	    msg, -1, 0, sizeof(msg) - 1, err, sizeof(err)), MBOX_PERM);
	snprintf(want, sizeof(want), "5.2.2 mailbox full (mailbox_size_limit "
	    "%zu bytes)", 4 + whole - 1);
	assert_string_equal(err, want);
	got = slurp(path, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(got, "OLD\n", 4);
	/* A content longer than the room, and an mbox already over it. */
	mbox_set_limit(10);
	assert_int_equal(mbox_write_message(fd, NULL, NULL, "a@b", "c@d", 0,
	    msg, -1, 0, sizeof(msg) - 1, err, sizeof(err)), MBOX_PERM);
	mbox_set_limit(3);
	assert_int_equal(mbox_write_message(fd, NULL, NULL, "a@b", "c@d", 0,
	    "x", -1, 0, 1, err, sizeof(err)), MBOX_PERM);
	assert_int_equal(strncmp(err, "5.2.2 ", 6), 0);
	got = slurp(path, &len);
	assert_int_equal(len, 4);
	mbox_set_limit(0);
	close(fd);
}

/* The whole delivery, content read from a file at an offset. */
static void
test_deliver(void **state)
{
	char		 cpath[200], lpath[200], err[256], *got;
	const char	*content = "JUNKFrom: a\n\nFrom x\nbody";
	struct stat	 st;
	struct timeval	 old[2] = { { 1000, 0 }, { 1000, 0 } };
	size_t		 len;
	int		 cfd, fd;

	(void)state;
	unlink(path);
	snprintf(cpath, sizeof(cpath), "%s/content", dir);
	cfd = open(cpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(cfd != -1);
	assert_int_equal(write(cfd, content, strlen(content)),
	    (ssize_t)strlen(content));
	assert_int_equal(mbox_deliver(path, "", "u@h", NULL, cfd, 4,
	    strlen(content) - 4, err, sizeof(err)), MBOX_OK);
	got = slurp(path, &len);
	assert_true(strncmp(got, "From MAILER-DAEMON ", 19) == 0);
	assert_non_null(strstr(got, "\nReturn-Path: <>\nDelivered-To: u@h\n"
	    "From: a\n\n>From x\nbody\n\n"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(lpath, sizeof(lpath), "%s.lock", path);
	assert_int_equal(access(lpath, F_OK), -1);	/* dotlock removed */

	/* A second message is appended after the first; its content from
	 * memory (no file to read), quoted the same. */
	assert_int_equal(mbox_deliver(path, "s@x", "u@h", content + 4, -1, 0,
	    strlen(content) - 4, err, sizeof(err)), MBOX_OK);
	got = slurp(path, &len);
	assert_non_null(strstr(got, "body\n\nFrom s@x "));
	assert_non_null(strstr(strstr(got, "body\n\nFrom s@x "),
	    "\nReturn-Path: <s@x>\nDelivered-To: u@h\nFrom: a\n\n"
	    ">From x\nbody\n\n"));

	/* A stale dotlock is removed. */
	fd = open(lpath, O_WRONLY | O_CREAT, 0600);
	assert_true(fd != -1);
	close(fd);
	assert_int_equal(utimes(lpath, old), 0);
	assert_int_equal(mbox_deliver(path, "s@x", "u@h", NULL, cfd, 4,
	    strlen(content) - 4, err, sizeof(err)), MBOX_OK);
	assert_int_equal(access(lpath, F_OK), -1);

	/* A fresh dotlock whose creator is dead (kill -9) is stale at once. */
	{
		pid_t dead = fork();
		char pidline[32];
		time_t t0;
		if (dead == 0)
			_exit(0);
		waitpid(dead, NULL, 0);
		fd = open(lpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd != -1);
		snprintf(pidline, sizeof(pidline), "%ld\n", (long)dead);
		assert_int_equal(write(fd, pidline, strlen(pidline)),
		    (ssize_t)strlen(pidline));
		close(fd);
		t0 = time(NULL);
		assert_int_equal(mbox_deliver(path, "s@x", "u@h", NULL, cfd, 4,
		    strlen(content) - 4, err, sizeof(err)), MBOX_OK);
		assert_true(time(NULL) - t0 < 3);
		assert_int_equal(access(lpath, F_OK), -1);
	}

	/* A hard link makes it unsafe. */
	snprintf(lpath, sizeof(lpath), "%s/link", dir);
	assert_int_equal(link(path, lpath), 0);
	assert_int_equal(mbox_deliver(path, "s@x", "u@h", NULL, cfd, 4,
	    strlen(content) - 4, err, sizeof(err)), MBOX_TEMP);
	assert_string_equal(err, "4.2.0 mailbox is unsafe");
	unlink(lpath);

	/* A symlink is refused, and its target is left alone. */
	assert_int_equal(symlink(path, lpath), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(mbox_deliver(lpath, "s@x", "u@h", NULL, cfd, 4,
	    strlen(content) - 4, err, sizeof(err)), MBOX_TEMP);
	assert_non_null(strstr(err, "unsafe"));
	got = slurp(path, &len);
	assert_int_equal(len, (size_t)st.st_size);
	unlink(lpath);
	close(cfd);
}

/* Killed while writing the pid into its dotlock: no lock is left that
 * names no one (it would hold the mailbox for MBOX_LOCK_STALE). */
static void
test_dotlock_never_without_pid(void **state)
{
	char		 cpath[400], lpath[200], err[256];
	struct dirent	*de;
	time_t		 t0;
	DIR		*d;
	pid_t		 pid;
	int		 cfd, st;

	(void)state;
	snprintf(cpath, sizeof(cpath), "%s/content", dir);
	cfd = open(cpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(cfd != -1);
	assert_int_equal(write(cfd, "body\n", 5), 5);
	snprintf(lpath, sizeof(lpath), "%s.lock", path);
	unlink(lpath);
	if ((pid = fork()) == 0) {
		die_at_pid = 1;
		(void)mbox_deliver(path, "s@x", "u@h", NULL, cfd, 0, 5, err,
		    sizeof(err));
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 9);
	assert_int_equal(access(lpath, F_OK), -1);	/* no empty lock */
	/* its temp file (the pid never got there) is left: not a lock */
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "mbox.lock.", 10) == 0) {
			snprintf(cpath, sizeof(cpath), "%s/%s", dir,
			    de->d_name);
			unlink(cpath);
		}
	closedir(d);
	t0 = time(NULL);
	assert_int_equal(mbox_deliver(path, "s@x", "u@h", NULL, cfd, 0, 5, err,
	    sizeof(err)), MBOX_OK);
	assert_true(time(NULL) - t0 < 3);
	close(cfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_pieces),
		cmocka_unit_test(test_final_newline),
		cmocka_unit_test(test_from_line),
		cmocka_unit_test(test_write_message),
		cmocka_unit_test(test_truncate_on_error),
		cmocka_unit_test(test_truncate_fsize),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_dotlock_never_without_pid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
