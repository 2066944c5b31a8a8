/* ipc: frame building and the parser's bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"

static void
test_roundtrip(void **state)
{
	struct buf b;
	struct ipc_msg m;
	long long n;
	char *s;

	(void)state;
	buf_init(&b, 0);
	ipc_begin(&b);
	assert_int_equal(ipc_add_str(&b, "req", "open"), 0);
	assert_int_equal(ipc_add_str(&b, "rcpt", "a@b"), 0);
	assert_int_equal(ipc_add_str(&b, "rcpt", "c@d"), 0);
	assert_int_equal(ipc_add_num(&b, "max_size", 12345), 0);
	assert_int_equal(ipc_add(&b, "chunk", "x\0y", 3), 0);
	assert_int_equal(ipc_end(&b), 0);
	assert_int_equal(ipc_frame_ready(b.data, b.len), (long)b.len);
	assert_int_equal(ipc_frame_ready(b.data, b.len - 1), 0);
	ipc_msg_init(&m);
	assert_int_equal(ipc_parse(&m, b.data + 4, b.len - 4), 0);
	assert_int_equal(m.nattr, 5);
	assert_true(ipc_is(&m, "req", "open"));
	assert_false(ipc_is(&m, "req", "ope"));
	s = ipc_get_str(&m, "rcpt");
	assert_string_equal(s, "a@b");
	free(s);
	assert_string_equal(m.attr[2].name, "rcpt");
	assert_int_equal(ipc_get_num(&m, "max_size", &n), 0);
	assert_int_equal(n, 12345);
	assert_null(ipc_get_str(&m, "chunk"));	/* embedded NUL */
	assert_int_equal(ipc_get(&m, "chunk")->len, 3);
	assert_int_equal(ipc_get_num(&m, "req", &n), -1);
	ipc_msg_free(&m);
	buf_free(&b);
}

static void
test_bad_names(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	ipc_begin(&b);
	assert_int_equal(ipc_add_str(&b, "Bad", "x"), -1);
	assert_int_equal(ipc_add_str(&b, "", "x"), -1);
	assert_int_equal(ipc_add_str(&b,
	    "a_name_that_is_far_too_long_for_ipc", "x"), -1);
	assert_int_equal(ipc_add_str(&b, "bad-dash", "x"), -1);
	buf_free(&b);
}

static void
test_parser_rejects_overruns(void **state)
{
	struct ipc_msg m;
	/* name length 3 "req", value length 100 but only 2 bytes follow */
	const unsigned char over[] = { 3, 'r', 'e', 'q', 0, 0, 0, 100, 'o', 'k' };
	const unsigned char shortname[] = { 9, 'r', 'e' };
	const unsigned char badchar[] = { 3, 'R', 'E', 'Q', 0, 0, 0, 0 };
	const unsigned char zeroname[] = { 0, 0, 0, 0, 0 };
	const unsigned char trunc_len[] = { 3, 'r', 'e', 'q', 0, 0 };
	const unsigned char empty_ok[] = { 3, 'r', 'e', 'q', 0, 0, 0, 0 };

	(void)state;
	ipc_msg_init(&m);
	assert_int_equal(ipc_parse(&m, over, sizeof(over)), -1);
	assert_int_equal(ipc_parse(&m, shortname, sizeof(shortname)), -1);
	assert_int_equal(ipc_parse(&m, badchar, sizeof(badchar)), -1);
	assert_int_equal(ipc_parse(&m, zeroname, sizeof(zeroname)), -1);
	assert_int_equal(ipc_parse(&m, trunc_len, sizeof(trunc_len)), -1);
	assert_int_equal(ipc_parse(&m, empty_ok, sizeof(empty_ok)), 0);
	assert_int_equal(m.nattr, 1);
	assert_int_equal(m.attr[0].len, 0);
	ipc_msg_free(&m);
}

static void
test_frame_too_big(void **state)
{
	unsigned char hdr[4] = { 0x7f, 0xff, 0xff, 0xff };

	(void)state;
	assert_int_equal(ipc_frame_ready(hdr, 4), -1);
	assert_int_equal(ipc_frame_ready(hdr, 3), 0);
}

static void
test_too_many_attrs(void **state)
{
	unsigned char *p = malloc((IPC_MAX_ATTRS + 1) * 6);
	struct ipc_msg m;

	(void)state;
	for (int i = 0; i <= IPC_MAX_ATTRS; i++) {
		unsigned char *a = p + i * 6;
		a[0] = 1; a[1] = 'x'; a[2] = a[3] = a[4] = a[5] = 0;
	}
	ipc_msg_init(&m);
	assert_int_equal(ipc_parse(&m, p, (IPC_MAX_ATTRS + 1) * 6), -1);
	assert_int_equal(ipc_parse(&m, p, IPC_MAX_ATTRS * 6), 0);
	ipc_msg_free(&m);
	free(p);
}

static void
test_socket_send_recv(void **state)
{
	int sv[2];
	struct buf b;
	struct ipc_msg m;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&b, 0);
	ipc_begin(&b);
	ipc_add_str(&b, "status", "ok");
	ipc_end(&b);
	assert_int_equal(ipc_send(sv[0], &b, 1000), 0);
	ipc_msg_init(&m);
	assert_int_equal(ipc_recv(sv[1], &m, 1000), 0);
	assert_true(ipc_is(&m, "status", "ok"));
	/* Nothing more: times out. */
	assert_int_equal(ipc_recv(sv[1], &m, 50), -1);
	/* A peer that announces a huge frame is refused. */
	unsigned char huge[4] = { 0x10, 0, 0, 0 };
	assert_int_equal(write(sv[0], huge, 4), 4);
	assert_int_equal(ipc_recv(sv[1], &m, 1000), -1);
	close(sv[0]);
	assert_int_equal(ipc_recv(sv[1], &m, 1000), -1);	/* EOF */
	close(sv[1]);
	ipc_msg_free(&m);
	buf_free(&b);
}

/* One frame of n octets of value "v" (name "chunk") into b. */
static void
frame_of(struct buf *b, size_t n)
{
	char *v = calloc(1, n ? n : 1);

	assert_non_null(v);
	memset(v, 'v', n);
	ipc_begin(b);
	assert_int_equal(ipc_add(b, "chunk", v, n), 0);
	assert_int_equal(ipc_end(b), 0);
	free(v);
}

/* The reader: frames that came in one write, a frame larger than its
 * first buffer, and the same ends as ipc_recv (timeout, too big, EOF). */
static void
test_reader(void **state)
{
	int sv[2];
	struct buf b, two;
	struct ipc_msg m;
	struct ipc_reader r;
	const struct ipc_attr *a;
	pid_t pid;
	int st;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&b, 0);
	buf_init(&two, 1024 * 1024);
	frame_of(&b, 10);
	buf_append(&two, b.data, b.len);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "end");
	ipc_end(&b);
	buf_append(&two, b.data, b.len);
	assert_int_equal(write(sv[0], two.data, two.len), (ssize_t)two.len);
	ipc_msg_init(&m);
	ipc_reader_init(&r, sv[1]);
	assert_int_equal(ipc_reader_recv(&r, &m, 1000), 0);
	assert_non_null(a = ipc_get(&m, "chunk"));
	assert_int_equal(a->len, 10);
	assert_true(ipc_reader_pending(&r) > 0);	/* the end came too */
	assert_int_equal(ipc_reader_recv(&r, &m, 1000), 0);
	assert_true(ipc_is(&m, "req", "end"));
	assert_int_equal(ipc_reader_pending(&r), 0);
	/* A frame at the limit, sent while the reader reads it. */
	frame_of(&b, IPC_MAX_FRAME - 10);
	/* a partial header first */
	assert_int_equal(write(sv[0], "\0", 1), 1);
	if ((pid = fork()) == 0) {
		ssize_t w = write(sv[0], b.data + 1, b.len - 1);

		_exit(w == (ssize_t)b.len - 1 ? 0 : 1);
	}
	assert_int_equal(ipc_reader_recv(&r, &m, 5000), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_non_null(a = ipc_get(&m, "chunk"));
	assert_int_equal(a->len, IPC_MAX_FRAME - 10);
	assert_int_equal(ipc_reader_recv(&r, &m, 50), -1);	/* timeout */
	unsigned char huge[4] = { 0x10, 0, 0, 0 };
	assert_int_equal(write(sv[0], huge, 4), 4);
	assert_int_equal(ipc_reader_recv(&r, &m, 1000), -1);
	ipc_reader_free(&r);
	ipc_reader_init(&r, sv[1]);
	close(sv[0]);
	assert_int_equal(ipc_reader_recv(&r, &m, 1000), -1);	/* EOF */
	ipc_reader_free(&r);
	close(sv[1]);
	ipc_msg_free(&m);
	buf_free(&b);
	buf_free(&two);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_parser_rejects_overruns),
		cmocka_unit_test(test_frame_too_big),
		cmocka_unit_test(test_too_many_attrs),
		cmocka_unit_test(test_socket_send_recv),
		cmocka_unit_test(test_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
