/*
 * test_maildir: the Maildir writer (lib/maildir.c): the unique name and
 * its host encoding, exact bytes and layout of a delivery (directories
 * created 0700 below the kept prefix, ",S=" the file's size, tmp/ left
 * empty), symbolic links refused, and mailbox_size_limit per file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "mbox.h"

static char	 top[64];
static char	 home[128];
static int	 cfd = -1;
static const char content[] = "JUNKFrom: a\n\nFrom x\nbody";
#define OFF	4
#define LEN	(sizeof(content) - 1 - OFF)

static int
setup(void **state)
{
	char	 p[200];

	(void)state;
	snprintf(top, sizeof(top), "/tmp/test_maildir.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	snprintf(home, sizeof(home), "%s/home", top);
	if (mkdir(home, 0700) == -1)
		return -1;
	snprintf(p, sizeof(p), "%s/content", top);
	if ((cfd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(cfd, content, sizeof(content) - 1) !=
	    (ssize_t)sizeof(content) - 1)
		return -1;
	return 0;
}

static int
rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int
teardown(void **state)
{
	(void)state;
	close(cfd);
	return nftw(top, rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The one name in DIR/SUB (NULL when none; fails on more than one). */
static char *
only_entry(const char *dir, const char *sub)
{
	static char	 name[512];
	char		 p[300];
	struct dirent	*e;
	DIR		*d;
	int		 n = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	d = opendir(p);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%s", e->d_name);
		n++;
	}
	closedir(d);
	assert_true(n <= 1);
	return n ? name : NULL;
}

static void
test_name(void **state)
{
	char	 out[128];

	(void)state;
	assert_int_equal(maildir_name(out, sizeof(out), 1764072000, 42, 1234,
	    7, "mx.example"), 0);
	assert_string_equal(out, "1764072000.M000042P1234Q7.mx.example");
	/* '/' and ':' (the spec), ',' (Dovecot's ",S=") are encoded. */
	assert_int_equal(maildir_name(out, sizeof(out), 1, 999999, 1, 1,
	    "a/b:c,d"), 0);
	assert_string_equal(out, "1.M999999P1Q1.a\\057b\\072c\\054d");
	assert_int_equal(maildir_name(out, 20, 1, 1, 1, 1, "mx.example"),
	    -1);
	assert_int_equal(maildir_name(out, 18, 1, 1, 1, 1, "a/b"), -1);
}

static void
test_deliver(void **state)
{
	char		 md[200], p[1400], err[256], buf[256], *name;
	const char	*want = "Return-Path: <s@x>\nDelivered-To: u@h\n"
			    "From: a\n\nFrom x\nbody";
	unsigned long long size;
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	(void)state;
	snprintf(md, sizeof(md), "%s/Mail/box/", home);
	assert_int_equal(maildir_deliver(md, strlen(home), "s@x", "u@h", NULL,
	    cfd, OFF, LEN, 0, err, sizeof(err)), MBOX_OK);
	name = only_entry(md, "new");
	assert_non_null(name);
	assert_null(only_entry(md, "tmp"));
	assert_null(only_entry(md, "cur"));
	assert_non_null(strstr(name, ",S="));
	size = strtoull(strstr(name, ",S=") + 3, NULL, 10);
	assert_int_equal(size, strlen(want));
	snprintf(p, sizeof(p), "%snew/%s", md, name);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal((unsigned long long)st.st_size, size);
	fd = open(p, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	for (const char *const *s = (const char *const[]){ "", "tmp", "new",
	    "cur", NULL }; *s; s++) {
		snprintf(p, sizeof(p), "%s%s", md, *s);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0700);
	}
	/* keep 0: the parent must exist, only the Maildir is made. The
	 * content from memory (a small queue file the agent read whole):
	 * the same bytes, no file read. */
	snprintf(md, sizeof(md), "%s/Mail/second", home);
	assert_int_equal(maildir_deliver(md, 0, "s@x", "u@h", content + OFF,
	    -1, 0, LEN, 0, err, sizeof(err)), MBOX_OK);
	assert_non_null(name = only_entry(md, "new"));
	snprintf(p, sizeof(p), "%s/new/%s", md, name);
	fd = open(p, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	snprintf(md, sizeof(md), "%s/Nothere/box", home);
	assert_int_equal(maildir_deliver(md, 0, "", "u@h", NULL,
	    cfd, OFF, LEN, 0, err, sizeof(err)), MBOX_TEMP);
	assert_non_null(strstr(err, "4.2.0 cannot open"));
	/* A missing kept prefix is never created. */
	snprintf(md, sizeof(md), "%s/gone/Maildir", home);
	assert_int_equal(maildir_deliver(md, strlen(home) + 5, "", "u@h", NULL,
	    cfd, OFF, LEN, 0, err, sizeof(err)), MBOX_TEMP);
	md[strlen(home) + 5] = '\0';
	assert_int_equal(access(md, F_OK), -1);
}

static void
test_symlink(void **state)
{
	char	 md[200], link[200], sub[300], err[256];

	(void)state;
	snprintf(md, sizeof(md), "%s/real", home);
	snprintf(link, sizeof(link), "%s/link", home);
	assert_int_equal(maildir_deliver(md, 0, "", "u@h", NULL,
	    cfd, OFF, LEN, 0, err, sizeof(err)), MBOX_OK);
	assert_int_equal(symlink(md, link), 0);
	assert_int_equal(maildir_deliver(link, strlen(home), "", "u@h", NULL,
	    cfd, OFF, LEN, 0, err, sizeof(err)), MBOX_TEMP);
	assert_non_null(strstr(err, "unsafe"));
	assert_non_null(only_entry(md, "new"));	/* still just the one */
	/* new/ itself a symbolic link */
	snprintf(md, sizeof(md), "%s/evil", home);
	snprintf(sub, sizeof(sub), "%s/new", md);
	assert_int_equal(mkdir(md, 0700), 0);
	assert_int_equal(symlink(home, sub), 0);
	assert_int_equal(maildir_deliver(md, 0, "", "u@h", NULL,
	    cfd, OFF, LEN, 0, err, sizeof(err)), MBOX_TEMP);
	assert_non_null(strstr(err, "unsafe"));
	assert_null(only_entry(md, "tmp"));
}

static void
test_size_limit(void **state)
{
	char	 md[200], err[256], want[256];
	size_t	 whole;

	(void)state;
	whole = strlen("Return-Path: <>\nDelivered-To: u@h\n") + LEN;
	snprintf(md, sizeof(md), "%s/limited", home);
	assert_int_equal(maildir_deliver(md, 0, "", "u@h", NULL, cfd, OFF, LEN,
	    whole - 1, err, sizeof(err)), MBOX_PERM);
	snprintf(want, sizeof(want), "5.2.2 mailbox full (message larger "
	    "than mailbox_size_limit %zu bytes)", whole - 1);
	assert_string_equal(err, want);
	assert_int_equal(access(md, F_OK), -1);	/* nothing made */
	assert_int_equal(maildir_deliver(md, 0, "", "u@h", NULL, cfd, OFF, LEN,
	    whole, err, sizeof(err)), MBOX_OK);
	/* per file: the next one fits as well */
	assert_int_equal(maildir_deliver(md, 0, "", "u@h", NULL, cfd, OFF, LEN,
	    whole, err, sizeof(err)), MBOX_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
