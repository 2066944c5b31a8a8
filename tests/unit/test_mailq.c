/*
 * test_mailq: golden test of the mailq listing (text and --json). Builds
 * the queue tree described in tests/golden/mailq/input with lib/qfile in
 * a temp dir and compares mailq_list() output, in TZ=UTC, with
 * expected.txt and expected.json. Run from the top of the tree (make check).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qfile.h"
#include "tools/tools.h"	/* mailq_list: tools/queue.o is linked in */

#define GOLDEN	"tests/golden/mailq/"

static char	 qdir[64];

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s;
	long n;

	if (fp == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return s;
}

static void
rm_tree(void)
{
	static const char *sub[] = { "incoming", "active", "deferred", "hold",
	    "build" };
	char p[256];

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		DIR *d;
		struct dirent *de;

		snprintf(p, sizeof(p), "%s/%s", qdir, sub[i]);
		if ((d = opendir(p)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			char f[512];

			if (de->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			unlink(f);
		}
		closedir(d);
		rmdir(p);
	}
	rmdir(qdir);
}

static int
setup(void **state)
{
	static const char *sub[] = { "incoming", "active", "deferred", "hold",
	    "build" };
	char p[256];

	setenv("TZ", "UTC", 1);
	tzset();
	snprintf(qdir, sizeof(qdir), "/tmp/test_mailq.XXXXXX");
	assert_non_null(mkdtemp(qdir));
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", qdir, sub[i]);
		assert_int_equal(mkdir(p, 0700), 0);
	}
	return 0;
}

static int
teardown(void **state)
{
	rm_tree();
	return 0;
}

struct rc { char status; int code; char addr[QF_MAX_ADDR + 1]; char err[QF_ERR_LEN]; };

/* Write one message: content of n bytes, recipients, then statuses set
 * in place, then moved to queue/id. */
static void
make_msg(const char *queue, const char *id, uint64_t arrival, const char *sender,
    size_t n, struct rc *r, size_t nr)
{
	struct qwriter w;
	struct qfile q;
	char bdir[256], from[512], to[512], cid[QID_LEN + 1], err[128];
	char line[64];
	int dfd, fd;

	snprintf(bdir, sizeof(bdir), "%s/build", qdir);
	dfd = open(bdir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(qfile_create(&w, dfd, arrival * 1000000 + 123456, 0,
	    sender, NULL), 0);
	memset(line, 'x', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	while (n > 0) {
		size_t k = n < sizeof(line) ? n : sizeof(line);
		assert_int_equal(qfile_content_write(&w, line + sizeof(line) - k, k), 0);
		n -= k;
	}
	assert_int_equal(qfile_content_end(&w), 0);
	for (size_t i = 0; i < nr; i++)
		assert_int_equal(qfile_add_rcpt(&w, r[i].addr), 0);
	assert_int_equal(qfile_commit(&w, cid), 0);
	close(dfd);

	snprintf(from, sizeof(from), "%s/%s", bdir, cid);
	fd = open(from, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(qfile_read(fd, &q, err, sizeof(err)), 0);
	assert_int_equal(q.nrcpt, nr);
	for (size_t i = 0; i < nr; i++) {
		q.rcpt[i].status = r[i].status;
		q.rcpt[i].code = r[i].code;
		snprintf(q.rcpt[i].error, sizeof(q.rcpt[i].error), "%s", r[i].err);
		assert_int_equal(qfile_rcpt_update(fd, &q.rcpt[i]), 0);
	}
	qfile_free(&q);
	close(fd);
	snprintf(to, sizeof(to), "%s/%s/%s", qdir, queue, id);
	assert_int_equal(rename(from, to), 0);
}

/* Build the tree from the golden input description. */
static void
build_tree(void)
{
	char *text = slurp(GOLDEN "input"), *save = NULL, *ln;
	char queue[32] = "", id[QID_LEN + 1] = "", sender[QF_MAX_ADDR + 1] = "";
	unsigned long long arrival = 0;
	size_t size = 0, nr = 0;
	struct rc r[16];
	int have = 0;

	for (ln = strtok_r(text, "\n", &save); ; ln = strtok_r(NULL, "\n", &save)) {
		if (ln == NULL || strncmp(ln, "msg ", 4) == 0 ||
		    strncmp(ln, "junk ", 5) == 0) {
			if (have)
				make_msg(queue, id, arrival, strcmp(sender, "<>") ?
				    sender : "", size, r, nr);
			have = 0;
			nr = 0;
		}
		if (ln == NULL)
			break;
		if (ln[0] == '#' || ln[0] == '\0')
			continue;
		if (strncmp(ln, "msg ", 4) == 0) {
			assert_int_equal(sscanf(ln, "msg %31s %16s %llu %512s %zu",
			    queue, id, &arrival, sender, &size), 5);
			have = 1;
		} else if (strncmp(ln, "rcpt ", 5) == 0) {
			int off = 0;

			assert_true(nr < 16);
			memset(&r[nr], 0, sizeof(r[nr]));
			assert_int_equal(sscanf(ln, "rcpt %c %d %512s %n",
			    &r[nr].status, &r[nr].code, r[nr].addr, &off), 3);
			if (off > 0)
				snprintf(r[nr].err, sizeof(r[nr].err), "%s", ln + off);
			nr++;
		} else if (strncmp(ln, "junk ", 5) == 0) {
			char p[256], q[32], name[64];
			FILE *fp;

			assert_int_equal(sscanf(ln, "junk %31s %63s", q, name), 2);
			snprintf(p, sizeof(p), "%s/%s/%s", qdir, q, name);
			assert_non_null(fp = fopen(p, "w"));
			fputs("PSTQ garbage, not a queue file\n", fp);
			fclose(fp);
		} else
			fail_msg("bad input line: %s", ln);
	}
	free(text);
}

static char *
list(int json)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	assert_non_null(fp);
	assert_int_equal(mailq_list(qdir, json, fp), 0);
	fclose(fp);
	return out;
}

static void
test_golden_text(void **state)
{
	char *want, *got;

	build_tree();
	got = list(0);
	want = slurp(GOLDEN "expected.txt");
	if (strcmp(got, want) != 0)
		fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void
test_golden_json(void **state)
{
	char *want, *got;

	build_tree();
	got = list(1);
	want = slurp(GOLDEN "expected.json");
	if (strcmp(got, want) != 0)
		fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void
test_empty(void **state)
{
	char p[256], *got;
	FILE *fp;

	/* temp files are not messages */
	snprintf(p, sizeof(p), "%s/incoming/t.12345", qdir);
	assert_non_null(fp = fopen(p, "w"));
	fclose(fp);
	got = list(0);
	assert_string_equal(got, "Mail queue is empty\n");
	free(got);
	got = list(1);
	assert_string_equal(got, "");
	free(got);
}

static void
test_sanitise(void **state)
{
	struct rc r[1];
	char *got;

	memset(r, 0, sizeof(r));
	r[0].status = QR_PENDING;
	snprintf(r[0].addr, sizeof(r[0].addr), "a\033[2Jb@example.net");
	snprintf(r[0].err, sizeof(r[0].err), "bad\r\nline\t\x01");
	make_msg("deferred", "5FBAA9040F1B2C3D", 1606068484, "s\033@x.org", 10, r, 1);
	got = list(0);
	assert_null(strchr(got, '\033'));
	assert_non_null(strstr(got, "a?[2Jb@example.net"));
	assert_non_null(strstr(got, "(bad?" "?line?" "?)"));
	free(got);
	got = list(1);
	assert_non_null(strstr(got, "\"a\\u001b[2Jb@example.net\""));
	assert_non_null(strstr(got, "\"bad\\r\\nline\\t\\u0001\""));
	free(got);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_golden_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_golden_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sanitise, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
