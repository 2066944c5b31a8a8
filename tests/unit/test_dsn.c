/* dsn: the bounce and delay-notice text against golden files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qmgr/dsn.h"	/* qmgr/dsn.o is linked in */
#include "xtext.h"

#define GOLDEN	"tests/golden/dsn/"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = calloc(1, (size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	return p;
}

/* The Date: of the notice is "now": pin it before comparing. */
static void
pin_date(struct buf *b)
{
	char *d = strstr(b->data, "\nDate: ");
	char *e = d ? strchr(d + 1, '\n') : NULL;
	const char *fixed = "\nDate: (now)";

	assert_non_null(e);
	size_t tail = b->len - (size_t)(e - b->data);
	memmove(d + strlen(fixed), e, tail + 1);
	memcpy(d, fixed, strlen(fixed));
	b->len = (size_t)(d - b->data) + strlen(fixed) + tail;
}

static void
check(enum dstat kind, const char *golden)
{
	static char content[] = "Subject: original\nMessage-ID: <orig@x>\n\n"
	    "the original body\n";
	char tmpl[] = "/tmp/dsn-test-XXXXXX";
	struct conf c;
	struct qfile q;
	struct qrcpt r[3];
	struct buf out;
	char *want;
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	unlink(tmpl);
	assert_int_equal(write(fd, content, sizeof(content) - 1),
	    (ssize_t)sizeof(content) - 1);
	memset(&c, 0, sizeof(c));
	c.hostname = "mx.example.com";
	c.delay_warning = 4 * 3600;
	c.queue_lifetime = 5 * 86400;
	memset(&q, 0, sizeof(q));
	memset(r, 0, sizeof(r));
	snprintf(q.id, sizeof(q.id), "0D8F3A2C91B4E6F7");
	q.arrival_us = 1764072000ULL * 1000000;
	q.sender = "alice@example.com";
	q.rcpt = r;
	q.nrcpt = 3;
	q.content_off = 0;
	q.content_len = sizeof(content) - 1;
	r[0].addr = "bob@example.net";
	r[0].status = QR_FAILED;
	r[0].code = 550;
	snprintf(r[0].error, sizeof(r[0].error), "5.1.1 host mx.example.net"
	    "[192.0.2.1] said: 550 5.1.1 No such user");
	r[1].addr = "carol@example.org";
	r[1].status = QR_PENDING;
	snprintf(r[1].error, sizeof(r[1].error), "4.4.1 connect to "
	    "mx.example.org[192.0.2.2]:25: Connection refused");
	r[2].addr = "dave@example.com";
	r[2].status = QR_SENT;
	if (kind == DS_SENT) {	/* NOTIFY=SUCCESS, ENVID, ORCPT, RET=HDRS */
		r[2].status = QR_SENT_NOTIFY;
		r[2].notify = DSN_NOTIFY_SUCCESS;
		r[2].orcpt = "rfc822;Dave+1@example.com";
		r[1].status = QR_RELAYED_NOTIFY;
		q.envid = "env-0042";
		q.ret = DSN_RET_HDRS;
	}
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_format(&c, &q, fd, kind, "6B06D1A3E80B1227",
	    "alice@example.com", &out), 0);
	pin_date(&out);
	want = slurp(golden);
	if (want == NULL || strcmp(want, out.data) != 0) {
		fprintf(stderr, "--- got (%s differs) ---\n%s", golden, out.data);
		if (getenv("DSN_GOLDEN_WRITE")) {
			FILE *f = fopen(golden, "wb");
			fwrite(out.data, 1, out.len, f);
			fclose(f);
		}
	}
	assert_non_null(want);
	assert_string_equal(want, out.data);
	free(want);
	buf_free(&out);
	close(fd);
}

static void
test_bounce(void **state)
{
	(void)state;
	check(DS_BOUNCE, GOLDEN "bounce.txt");
}

static void
test_delay(void **state)
{
	(void)state;
	check(DS_DEFER, GOLDEN "delay.txt");
}

static void
test_success(void **state)
{
	(void)state;
	check(DS_SENT, GOLDEN "success.txt");
}

/* NOTIFY without FAILURE (or NEVER): that recipient is not reported;
 * with no one left to report on there is no notice at all. */
static void
test_notify_filters(void **state)
{
	struct conf c;
	struct qfile q;
	struct qrcpt r[2];
	struct buf out;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.hostname = "mx.example.com";
	memset(&q, 0, sizeof(q));
	memset(r, 0, sizeof(r));
	q.sender = "alice@example.com";
	q.rcpt = r;
	q.nrcpt = 2;
	r[0].addr = "never@example.net";
	r[0].status = QR_FAILED;
	r[0].notify = DSN_NOTIFY_NEVER;
	r[1].addr = "succ@example.net";
	r[1].status = QR_FAILED;
	r[1].notify = DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY;
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_format(&c, &q, -1, DS_BOUNCE, "X", "a@b", &out),
	    -1);
	r[0].status = QR_PENDING;	/* DELAY asked for by r[1] only */
	r[1].status = QR_PENDING;
	buf_reset(&out);
	assert_int_equal(dsn_format(&c, &q, -1, DS_DEFER, "X", "a@b", &out),
	    0);
	assert_null(strstr(out.data, "never@example.net"));
	assert_non_null(strstr(out.data, "Final-Recipient: rfc822; "
	    "succ@example.net"));
	r[1].notify = DSN_NOTIFY_FAILURE;
	buf_reset(&out);
	assert_int_equal(dsn_format(&c, &q, -1, DS_DEFER, "X", "a@b", &out),
	    -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_notify_filters),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
