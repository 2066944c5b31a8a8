/* proto: every message round-trips; every decoder refuses bad frames. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "qfile.h"

#define QID	"0123456789ABCDEF"

static struct buf	 b;
static struct ipc_msg	 m;
static char		 err[128];

static int
setup(void **state)
{
	(void)state;
	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_msg_init(&m);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	buf_free(&b);
	ipc_msg_free(&m);
	return 0;
}

/* Parse what is in b (a whole frame) into m. */
static void
parse(void)
{
	assert_int_equal(ipc_frame_ready(b.data, b.len), (long)b.len);
	assert_int_equal(ipc_parse(&m, b.data + 4, b.len - 4), 0);
}

/* Start a hand-made frame. */
static void
frame(const char *req)
{
	ipc_begin(&b);
	if (req != NULL)
		assert_int_equal(ipc_add_str(&b, ATTR_REQ, req), 0);
}

static void
add(const char *name, const char *val)
{
	assert_int_equal(ipc_add_str(&b, name, val), 0);
}

static void
add_bin(const char *name, const void *val, size_t len)
{
	assert_int_equal(ipc_add(&b, name, val, len), 0);
}

static void
done(void)
{
	assert_int_equal(ipc_end(&b), 0);
	parse();
}

static char *
str_of(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_words(void **state)
{
	(void)state;
	assert_string_equal(dstat_word(DS_SENT), "sent");
	assert_string_equal(dstat_word(DS_DEFER), "deferred");
	assert_string_equal(dstat_word(DS_BOUNCE), "bounced");
	assert_string_equal(proto_req_word(REQ_OPEN), "open");
	assert_string_equal(proto_req_word(REQ_MASTER_STATUS), "status");
	assert_string_equal(proto_req_word(REQ_AUTH_FAIL), "auth_fail");
	for (int r = REQ_OPEN; r <= REQ_DISCONNECT; r++) {
		assert_int_equal(proto_simple_encode(&b, r), 0);
		parse();
		assert_int_equal(proto_req_type(&m), r);
	}
	assert_int_equal(proto_simple_encode(&b, REQ_NONE), -1);
	frame("bogus");
	done();
	assert_int_equal(proto_req_type(&m), REQ_NONE);
	frame(NULL);
	done();
	assert_int_equal(proto_req_type(&m), REQ_NONE);
}

static void
test_dstatus_set(void **state)
{
	struct dstatus d;
	char *big = str_of(1000, 'x');

	(void)state;
	dstatus_set(&d, DS_BOUNCE, 550, "5.1.1 no\r\nsuch %s", "user");
	assert_int_equal(d.stat, DS_BOUNCE);
	assert_int_equal(d.code, 550);
	assert_string_equal(d.text, "5.1.1 no??such user");
	dstatus_set(&d, DS_DEFER, 451, "%s", big);
	assert_int_equal(strlen(d.text), DSTATUS_TEXT - 1);
	free(big);
}

static void
test_reply(void **state)
{
	struct proto_reply r = { 1, 0, NULL, QID }, o;
	char *big = str_of(240, 'x');

	(void)state;
	assert_int_equal(proto_reply_encode(&b, &r), 0);
	parse();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), 0);
	assert_true(o.ok);
	assert_int_equal(o.code, 0);
	assert_null(o.text);
	assert_string_equal(o.queue_id, QID);
	proto_reply_free(&o);

	r = (struct proto_reply){ 0, 552, "5.3.4 Too big", NULL };
	assert_int_equal(proto_reply_encode(&b, &r), 0);
	parse();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), 0);
	assert_false(o.ok);
	assert_int_equal(o.code, 552);
	assert_string_equal(o.text, "5.3.4 Too big");
	assert_null(o.queue_id);
	proto_reply_free(&o);

	/* encoder refusals */
	r.text = big;
	assert_int_equal(proto_reply_encode(&b, &r), -1);
	r = (struct proto_reply){ 1, 0, NULL, "not-a-qid" };
	assert_int_equal(proto_reply_encode(&b, &r), -1);
	free(big);
}

static void
test_reply_rejects(void **state)
{
	struct proto_reply o;
	char *big = str_of(240, 'x');

	(void)state;
	frame(NULL); done();			/* no status */
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "maybe"); done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "error"); add(ATTR_CODE, "55x"); done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "error"); add(ATTR_CODE, "1000"); done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "error"); add(ATTR_TEXT, big); done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "ok"); add_bin(ATTR_TEXT, "a\0b", 3);
	done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "ok"); add(ATTR_QUEUE_ID, "0123"); done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), -1);
	assert_true(strstr(err, ATTR_QUEUE_ID) != NULL);
	/* control characters become '?' */
	frame(NULL); add(ATTR_STATUS, "error"); add(ATTR_TEXT, "a\nb"); done();
	assert_int_equal(proto_reply_decode(&m, &o, err, sizeof(err)), 0);
	assert_string_equal(o.text, "a?b");
	proto_reply_free(&o);
	free(big);
}


/* A message with DELIVER_MAX_RCPT + 1 rcpt attributes (more than ipc_parse
 * allows today, IPC_MAX_ATTRS): the decoders refuse it on their own. */
static void
test_too_many_rcpts(enum proto_req req)
{
	size_t n = DELIVER_MAX_RCPT + 4;
	struct ipc_attr *a = calloc(n, sizeof(*a));
	struct ipc_msg big = { n, a, { 0 } };
	struct cleanup_open o;
	struct deliver_request d;

	assert_non_null(a);
	strlcpy(a[0].name, ATTR_REQ, sizeof(a[0].name));
	a[0].val = proto_req_word(req);
	a[0].len = strlen(a[0].val);
	strlcpy(a[1].name, ATTR_QUEUE_ID, sizeof(a[1].name));
	a[1].val = QID;
	a[1].len = QID_LEN;
	strlcpy(a[2].name, ATTR_DIR, sizeof(a[2].name));
	a[2].val = "active";
	a[2].len = 6;
	for (size_t i = 3; i < n; i++) {
		strlcpy(a[i].name, ATTR_RCPT, sizeof(a[i].name));
		a[i].val = "1";
		a[i].len = 1;
	}
	if (req == REQ_OPEN)
		assert_int_equal(cleanup_open_decode(&big, &o, err,
		    sizeof(err)), -1);
	else
		assert_int_equal(deliver_request_decode(&big, &d, err,
		    sizeof(err)), -1);
	assert_non_null(strstr(err, "too many"));
	big.nattr = DELIVER_MAX_RCPT + 3;	/* exactly the limit */
	if (req == REQ_OPEN) {
		assert_int_equal(cleanup_open_decode(&big, &o, err,
		    sizeof(err)), 0);
		assert_int_equal(o.nrcpt, DELIVER_MAX_RCPT);
		cleanup_open_free(&o);
	} else {
		assert_int_equal(deliver_request_decode(&big, &d, err,
		    sizeof(err)), 0);
		assert_int_equal(d.nrcpt, DELIVER_MAX_RCPT);
		deliver_request_free(&d);
	}
	free(a);
}

static void
test_cleanup_open(void **state)
{
	struct cleanup_open o, d;
	char *rcpt[] = { "a@b", "c@d" };

	(void)state;
	cleanup_open_init(&o);
	assert_true(o.received);
	o.sender = "s@x";
	o.rcpt = rcpt;
	o.nrcpt = 2;
	o.client_name = "mx.example";
	o.client_addr = "192.0.2.1";
	o.helo = "helo.example";
	o.proto = "ESMTPA";
	o.auth_user = "u";
	o.tls = "TLSv1.3";
	o.listener = "submission";
	o.smtp_id = "abc";
	o.full_name = "Full Name";
	o.local = o.extract = o.msa = o.smtputf8 = 1;
	o.received = 0;
	o.max_size = 1000;
	o.max_header_size = 100;
	o.uid = 4294967295LL;
	assert_int_equal(cleanup_open_encode(&b, &o), 0);
	parse();
	assert_int_equal(proto_req_type(&m), REQ_OPEN);
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.sender, "s@x");
	assert_int_equal(d.nrcpt, 2);
	assert_string_equal(d.rcpt[0], "a@b");
	assert_string_equal(d.rcpt[1], "c@d");
	assert_string_equal(d.client_name, "mx.example");
	assert_string_equal(d.client_addr, "192.0.2.1");
	assert_string_equal(d.helo, "helo.example");
	assert_string_equal(d.proto, "ESMTPA");
	assert_string_equal(d.auth_user, "u");
	assert_string_equal(d.tls, "TLSv1.3");
	assert_string_equal(d.listener, "submission");
	assert_string_equal(d.smtp_id, "abc");
	assert_string_equal(d.full_name, "Full Name");
	assert_true(d.local && d.extract && d.msa && d.smtputf8 && !d.received);
	assert_int_equal(d.max_size, 1000);
	assert_int_equal(d.max_header_size, 100);
	assert_int_equal(d.uid, 4294967295LL);
	cleanup_open_free(&d);

	/* the minimum: defaults */
	frame("open"); done();
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), 0);
	assert_null(d.sender);
	assert_int_equal(d.nrcpt, 0);
	assert_null(d.helo);
	assert_true(d.received);
	assert_false(d.local || d.extract || d.msa || d.smtputf8);
	assert_int_equal(d.max_size, 0);
	assert_int_equal(d.uid, -1);
	cleanup_open_free(&d);

	/* the local submitter's uid (pickup): a number in 0..2^32-1 */
	frame("open"); add(ATTR_UID, "4294967296"); done();
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), -1);
	frame("open"); add(ATTR_UID, "-1"); done();
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), -1);
	o.uid = 4294967296LL;
	assert_int_equal(cleanup_open_encode(&b, &o), -1);

	/* empty sender is <>; controls in the sender become '?' */
	frame("open"); add(ATTR_SENDER, ""); add(ATTR_HELO, "a\r\nb"); done();
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.sender, "");
	assert_string_equal(d.helo, "a??b");
	cleanup_open_free(&d);
}

static void
expect_open_fails(void)
{
	struct cleanup_open d;

	done();
	err[0] = '\0';
	assert_int_equal(cleanup_open_decode(&m, &d, err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_null(d.sender);
	assert_null(d.rcpt);
}

static void
test_cleanup_open_rejects(void **state)
{
	struct cleanup_open o;
	char *a513 = str_of(513, 'a'), *h256 = str_of(256, 'h');
	char *c65 = str_of(65, '1'), *p17 = str_of(17, 'P');
	char *t129 = str_of(129, 't'), *l33 = str_of(33, 'l');
	char *i33 = str_of(33, 'i');
	char *many[DELIVER_MAX_RCPT + 1];

	(void)state;
	frame("data"); expect_open_fails();
	frame(NULL); expect_open_fails();
	frame("open"); add(ATTR_SENDER, a513); expect_open_fails();
	frame("open"); add(ATTR_RCPT, "x@y"); add(ATTR_RCPT, a513);
	expect_open_fails();
	frame("open"); add_bin(ATTR_RCPT, "x\0y", 3); expect_open_fails();
	frame("open"); add_bin(ATTR_SENDER, "x\0y", 3); expect_open_fails();
	frame("open"); add(ATTR_CLIENT_NAME, h256); expect_open_fails();
	frame("open"); add(ATTR_HELO, h256); expect_open_fails();
	frame("open"); add(ATTR_CLIENT_ADDR, c65); expect_open_fails();
	frame("open"); add(ATTR_PROTO, p17); expect_open_fails();
	frame("open"); add(ATTR_TLS, t129); expect_open_fails();
	frame("open"); add(ATTR_FULL_NAME, t129); expect_open_fails();
	frame("open"); add(ATTR_LISTENER, l33); expect_open_fails();
	frame("open"); add(ATTR_SMTP_ID, i33); expect_open_fails();
	frame("open"); add(ATTR_LOCAL, "2"); expect_open_fails();
	frame("open"); add(ATTR_RECEIVED, "no"); expect_open_fails();
	frame("open"); add(ATTR_MAX_SIZE, "-1"); expect_open_fails();
	frame("open"); add(ATTR_MAX_HEADER_SIZE, "1x"); expect_open_fails();
	test_too_many_rcpts(REQ_OPEN);

	/* encoder refusals */
	cleanup_open_init(&o);
	o.helo = h256;
	assert_int_equal(cleanup_open_encode(&b, &o), -1);
	cleanup_open_init(&o);
	o.sender = a513;
	assert_int_equal(cleanup_open_encode(&b, &o), -1);
	cleanup_open_init(&o);
	for (int i = 0; i <= DELIVER_MAX_RCPT; i++)
		many[i] = "r@x";
	o.rcpt = many;
	o.nrcpt = DELIVER_MAX_RCPT + 1;
	assert_int_equal(cleanup_open_encode(&b, &o), -1);
	free(a513); free(h256); free(c65); free(p17); free(t129); free(l33);
	free(i33);
}

static void
test_cleanup_data(void **state)
{
	const char *chunk;
	size_t len;
	char *big = str_of(IPC_MAX_FRAME - 63, 'd');

	(void)state;
	assert_int_equal(cleanup_data_encode(&b, "a\0b\n", 4), 0);
	parse();
	assert_int_equal(proto_req_type(&m), REQ_DATA);
	assert_int_equal(cleanup_data_decode(&m, &chunk, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(chunk, "a\0b\n", 4);
	assert_int_equal(cleanup_data_encode(&b, big, strlen(big)), -1);
	frame("data"); done();
	assert_int_equal(cleanup_data_decode(&m, &chunk, &len), -1);
	frame("end"); add(ATTR_CHUNK, "x"); done();
	assert_int_equal(cleanup_data_decode(&m, &chunk, &len), -1);
	free(big);
}

static void
test_qmgr_admin(void **state)
{
	struct qmgr_admin a = { REQ_HOLD, QID }, d;

	(void)state;
	assert_int_equal(qmgr_admin_encode(&b, &a), 0);
	parse();
	assert_int_equal(qmgr_admin_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.req, REQ_HOLD);
	assert_string_equal(d.id, QID);
	for (int r = REQ_RELEASE; r <= REQ_REQUEUE; r++) {
		a.req = r;
		assert_int_equal(qmgr_admin_encode(&b, &a), 0);
		parse();
		assert_int_equal(qmgr_admin_decode(&m, &d, err, sizeof(err)),
		    0);
		assert_int_equal(d.req, r);
	}
	a.req = REQ_FLUSH;
	assert_int_equal(qmgr_admin_encode(&b, &a), -1);
	a.req = REQ_HOLD;
	strlcpy(a.id, "0123456789abcdef", sizeof(a.id));
	assert_int_equal(qmgr_admin_encode(&b, &a), -1);

	frame("hold"); done();				/* no id */
	assert_int_equal(qmgr_admin_decode(&m, &d, err, sizeof(err)), -1);
	frame("hold"); add(ATTR_ID, "../../etc"); done();
	assert_int_equal(qmgr_admin_decode(&m, &d, err, sizeof(err)), -1);
	frame("hold"); add(ATTR_ID, QID "0"); done();
	assert_int_equal(qmgr_admin_decode(&m, &d, err, sizeof(err)), -1);
	frame("flush"); add(ATTR_ID, QID); done();
	assert_int_equal(qmgr_admin_decode(&m, &d, err, sizeof(err)), -1);
}

static void
flush_roundtrip(enum flush_by by, const char *v)
{
	struct qmgr_flush f = { .by = by }, d;

	strlcpy(f.value, v, sizeof(f.value));
	assert_int_equal(qmgr_flush_encode(&b, &f), 0);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.by, by);
	assert_string_equal(d.value, v);
}

static void
test_qmgr_flush(void **state)
{
	struct qmgr_flush f = { .by = FLUSH_RCPT_DOMAIN }, d;
	char big[FLUSH_MAX_VALUE + 2];

	(void)state;
	flush_roundtrip(FLUSH_ALL, "");
	flush_roundtrip(FLUSH_RCPT_DOMAIN, "Example.ORG");
	flush_roundtrip(FLUSH_SENDER_DOMAIN, "[192.0.2.1]");
	flush_roundtrip(FLUSH_ID, QID);
	/* The plain flush of older clients is still a whole flush. */
	assert_int_equal(proto_simple_encode(&b, REQ_FLUSH), 0);
	parse();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.by, FLUSH_ALL);
	/* Nothing bad is encoded. */
	for (const char *const *v = (const char *const[]){ "", "a b",
	    "a/b", "x@y", "[1.2.3.4", "[]", NULL }; *v; v++) {
		strlcpy(f.value, *v, sizeof(f.value));
		assert_int_equal(qmgr_flush_encode(&b, &f), -1);
	}
	f.by = FLUSH_ID;
	strlcpy(f.value, "0123456789abcdef", sizeof(f.value));
	assert_int_equal(qmgr_flush_encode(&b, &f), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(flush_domain_ok(big), 0);
	big[FLUSH_MAX_VALUE] = '\0';
	assert_int_equal(flush_domain_ok(big), 1);
}

static void
test_qmgr_flush_rejects(void **state)
{
	struct qmgr_flush d;
	char big[FLUSH_MAX_VALUE + 2];

	(void)state;
	frame("flush"); add(ATTR_RCPT_DOMAIN, "a.example");
	add(ATTR_SENDER_DOMAIN, "b.example"); done();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "more than one flush filter");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	frame("flush"); add(ATTR_RCPT_DOMAIN, big); done();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	frame("flush"); add(ATTR_SENDER_DOMAIN, "evil\ndomain"); done();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	assert_string_equal(err, "bad domain");
	frame("flush"); add_bin(ATTR_ID, "0123456789ABCDE\0", 16); done();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
	frame("hold"); done();
	assert_int_equal(qmgr_flush_decode(&m, &d, err, sizeof(err)), -1);
}

static void
test_deliver_request(void **state)
{
	size_t idx[] = { 0, 7, 9999 };
	struct deliver_request r = { QID, "active", "[mx]:25", idx, 3, 0 }, d;

	(void)state;
	assert_int_equal(deliver_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(proto_req_type(&m), REQ_DELIVER);
	assert_int_equal(deliver_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.queue_id, QID);
	assert_string_equal(d.dir, "active");
	assert_string_equal(d.nexthop, "[mx]:25");
	assert_int_equal(d.nrcpt, 3);
	assert_int_equal(d.rcpt[2], 9999);
	assert_int_equal(d.tls, 0);	/* absent: the agent's default */
	deliver_request_free(&d);

	/* transport_map's tls=verify travels as 1 + RTLS_VERIFY */
	r.tls = 4;
	assert_int_equal(deliver_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(deliver_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.tls, 4);
	deliver_request_free(&d);
	r.tls = 5;
	assert_int_equal(deliver_request_encode(&b, &r), -1);
	r.tls = 0;
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_TLS_POLICY, "5"); add(ATTR_RCPT, "1"); done();
	assert_int_equal(deliver_request_decode(&m, &d, err, sizeof(err)), -1);

	/* nexthop may be absent: "" */
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_RCPT, "1"); done();
	assert_int_equal(deliver_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.nexthop, "");
	deliver_request_free(&d);

	idx[1] = DELIVER_MAX_RCPT;
	assert_int_equal(deliver_request_encode(&b, &r), -1);
	idx[1] = 1;
	r.nrcpt = 0;
	assert_int_equal(deliver_request_encode(&b, &r), -1);
}

static void
expect_deliver_fails(void)
{
	struct deliver_request d;

	done();
	assert_int_equal(deliver_request_decode(&m, &d, err, sizeof(err)), -1);
	assert_null(d.nexthop);
	assert_null(d.rcpt);
}

static void
test_deliver_request_rejects(void **state)
{
	char *h256 = str_of(256, 'h');

	(void)state;
	frame("done"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_RCPT, "1"); expect_deliver_fails();
	frame("deliver"); add(ATTR_DIR, "active"); add(ATTR_RCPT, "1");
	expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, "x"); add(ATTR_DIR, "active");
	add(ATTR_RCPT, "1"); expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_RCPT, "1");
	expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "../x");
	add(ATTR_RCPT, "1"); expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID);
	add(ATTR_DIR, "averyveryverylongdir"); add(ATTR_RCPT, "1");
	expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	expect_deliver_fails();				/* no rcpt */
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_RCPT, "1"); add(ATTR_RCPT, "-1"); expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_RCPT, "10000"); expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_RCPT, " 1"); expect_deliver_fails();
	frame("deliver"); add(ATTR_QUEUE_ID, QID); add(ATTR_DIR, "active");
	add(ATTR_NEXTHOP, h256); add(ATTR_RCPT, "1"); expect_deliver_fails();
	test_too_many_rcpts(REQ_DELIVER);
	free(h256);
}

static void
test_deliver_status(void **state)
{
	struct deliver_status s = { 0 }, d;
	char *t240 = str_of(240, 't');

	(void)state;
	s.rcpt = 42;
	dstatus_set(&s.st, DS_DEFER, 451, "4.4.1 %s", "no answer");
	assert_int_equal(deliver_status_encode(&b, &s), 0);
	parse();
	assert_true(ipc_is(&m, ATTR_STATUS, "defer"));	/* today's word */
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.rcpt, 42);
	assert_int_equal(d.st.stat, DS_DEFER);
	assert_int_equal(d.st.code, 451);
	assert_string_equal(d.st.text, "4.4.1 no answer");
	for (int st = DS_SENT; st <= DS_BOUNCE; st++) {
		s.st.stat = st;
		assert_int_equal(deliver_status_encode(&b, &s), 0);
		parse();
		assert_int_equal(deliver_status_decode(&m, &d, err,
		    sizeof(err)), 0);
		assert_int_equal(d.st.stat, st);
	}
	assert_int_equal(d.conn_fail, 0);
	assert_null(ipc_get(&m, ATTR_CONN_FAIL));	/* sent only when set */
	s.conn_fail = 1;
	assert_int_equal(deliver_status_encode(&b, &s), 0);
	parse();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.conn_fail, 1);
	s.conn_fail = 2;
	assert_int_equal(deliver_status_encode(&b, &s), -1);
	s.conn_fail = 0;
	s.rcpt = DELIVER_MAX_RCPT;
	assert_int_equal(deliver_status_encode(&b, &s), -1);

	frame(NULL); add(ATTR_RCPT, "1"); add(ATTR_STATUS, "defer");
	add(ATTR_CONN_FAIL, "2"); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "1"); add(ATTR_STATUS, "defer");
	add(ATTR_CONN_FAIL, "yes"); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);

	frame(NULL); add(ATTR_STATUS, "sent"); done();	/* no rcpt */
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "1"); done();	/* no status */
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "1"); add(ATTR_STATUS, "deferred"); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "x"); add(ATTR_STATUS, "sent"); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "1"); add(ATTR_STATUS, "sent");
	add(ATTR_CODE, "-5"); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "1"); add(ATTR_STATUS, "sent");
	add(ATTR_TEXT, t240); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RCPT, "1"); add(ATTR_STATUS, "sent");
	add_bin(ATTR_TEXT, "a\0", 2); done();
	assert_int_equal(deliver_status_decode(&m, &d, err, sizeof(err)), -1);
	free(t240);
}

static void
test_master(void **state)
{
	struct master_request r = { REQ_RESTART, "smtpd" }, d;

	(void)state;
	assert_int_equal(master_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(master_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.req, REQ_RESTART);
	assert_string_equal(d.service, "smtpd");
	r.req = REQ_MASTER_STATUS;
	assert_int_equal(master_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(master_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.req, REQ_MASTER_STATUS);
	r.req = REQ_FLUSH;
	assert_int_equal(master_request_encode(&b, &r), -1);
	r.req = REQ_RESTART;
	r.service[0] = '\0';
	assert_int_equal(master_request_encode(&b, &r), -1);

	frame("restart"); done();
	assert_int_equal(master_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("restart"); add(ATTR_SERVICE, ""); done();
	assert_int_equal(master_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("restart");
	add(ATTR_SERVICE, "0123456789012345678901234567890123456789"
	    "012345678901234567890123"); done();
	assert_int_equal(master_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("reboot"); done();
	assert_int_equal(master_request_decode(&m, &d, err, sizeof(err)), -1);
}

static void
test_tls_verdict(void **state)
{
	struct tls_verdict v = { 2, "bad private key in /k.pem: x" }, d;
	char *big = str_of(sizeof(d.text), 'x');	/* one too many */

	(void)state;
	assert_int_equal(tls_verdict_encode(&b, &v), 0);
	parse();
	assert_int_equal(tls_verdict_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.result, 2);
	assert_string_equal(d.text, v.text);
	v.result = 0;
	v.text[0] = '\0';
	assert_int_equal(tls_verdict_encode(&b, &v), 0);
	parse();
	assert_int_equal(tls_verdict_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.result, 0);
	assert_string_equal(d.text, "");
	v.result = TLS_VERDICT_MAX + 1;
	assert_int_equal(tls_verdict_encode(&b, &v), -1);
	v.result = -1;
	assert_int_equal(tls_verdict_encode(&b, &v), -1);

	frame(NULL); done();		/* no result */
	assert_int_equal(tls_verdict_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RESULT, "4"); done();
	assert_int_equal(tls_verdict_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RESULT, "1"); add(ATTR_TEXT, "a\nb"); done();
	assert_int_equal(tls_verdict_decode(&m, &d, err, sizeof(err)), 0);
	assert_null(strchr(d.text, '\n'));	/* for the log: one line */
	frame(NULL); add(ATTR_RESULT, "1"); add(ATTR_TEXT, big); done();
	assert_int_equal(tls_verdict_decode(&m, &d, err, sizeof(err)), -1);
	free(big);
}

static void
test_showq(void **state)
{
	struct showq_request r = { 1 }, d;

	(void)state;
	assert_int_equal(showq_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(proto_req_type(&m), REQ_LIST);
	assert_int_equal(showq_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.json, 1);
	r.json = 0;
	assert_int_equal(showq_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(showq_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.json, 0);
	frame("list"); add(ATTR_JSON, "2"); done();
	assert_int_equal(showq_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("flush"); done();
	assert_int_equal(showq_request_decode(&m, &d, err, sizeof(err)), -1);
}

static void
test_anvil_client_key(void **state)
{
	char k[64], l[64];

	(void)state;
	assert_int_equal(anvil_client_key("192.0.2.7", k, sizeof(k)), 0);
	assert_string_equal(k, "192.0.2.7");
	/* two addresses of one /64 are one client; the next /64 is not */
	assert_int_equal(anvil_client_key("2001:db8:1:2::1", k, sizeof(k)),
	    0);
	assert_int_equal(anvil_client_key("2001:db8:1:2:ffff:1:2:3", l,
	    sizeof(l)), 0);
	assert_string_equal(k, "2001:db8:1:2::/64");
	assert_string_equal(k, l);
	assert_int_equal(anvil_client_key("2001:db8:1:3::1", l, sizeof(l)),
	    0);
	assert_string_not_equal(k, l);
	assert_int_equal(anvil_client_key("::1", k, sizeof(k)), 0);
	assert_string_equal(k, "::/64");
	assert_int_equal(anvil_client_key("fe80::1:2:3:4", k, sizeof(k)), 0);
	assert_string_equal(k, "fe80::/64");
	/* not an address: a copy, cut to fit */
	assert_int_equal(anvil_client_key("1:x", k, sizeof(k)), -1);
	assert_string_equal(k, "1:x");
	assert_int_equal(anvil_client_key("2001:db8::1", k, 8), -1);
	assert_string_equal(k, "2001:db");
	assert_int_equal(anvil_client_key("unknown", k, sizeof(k)), 0);
	assert_string_equal(k, "unknown");
}

static void
test_anvil(void **state)
{
	struct anvil_request r = { REQ_AUTH_FAIL, "192.0.2.1", "smtp" }, d;
	struct anvil_reply a = { 1, 3, 0, -1, -1, "" }, e;
	char *ip64 = str_of(64, '1');

	(void)state;
	assert_int_equal(anvil_request_encode(&b, &r), 0);
	parse();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.req, REQ_AUTH_FAIL);
	assert_string_equal(d.ip, "192.0.2.1");
	assert_string_equal(d.listener, "smtp");
	r.req = REQ_CONNECT;
	r.listener[0] = '\0';
	assert_int_equal(anvil_request_encode(&b, &r), 0);
	parse();
	assert_null(ipc_get(&m, ATTR_LISTENER));
	r.req = REQ_OPEN;
	assert_int_equal(anvil_request_encode(&b, &r), -1);

	frame("connect"); done();			/* no ip */
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("connect"); add(ATTR_IP, ""); done();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("connect"); add(ATTR_IP, ip64); done();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("connect"); add_bin(ATTR_IP, "1\0", 2); done();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("auth_fail"); add(ATTR_IP, "1"); add(ATTR_LISTENER,
	    "012345678901234567890123456789012"); done();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("hello"); add(ATTR_IP, "1"); done();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), -1);
	frame("connect"); add(ATTR_IP, "1 2\n"); done();	/* printable */
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.ip, "1?2?");
	/* IPv6 clients count by their /64 */
	frame("connect"); add(ATTR_IP, "2001:db8:1:2:aaaa::5"); done();
	assert_int_equal(anvil_request_decode(&m, &d, err, sizeof(err)), 0);
	assert_string_equal(d.ip, "2001:db8:1:2::/64");

	assert_int_equal(anvil_reply_encode(&b, &a), 0);
	parse();
	assert_int_equal(anvil_reply_decode(&m, &e, err, sizeof(err)), 0);
	assert_true(e.ok);
	assert_int_equal(e.count, 3);
	assert_int_equal(e.blocked, 0);
	assert_int_equal(e.count_minute, -1);
	assert_int_equal(e.sessions, -1);
	a = (struct anvil_reply){ 0, -1, -1, -1, -1, "bad ip" };
	assert_int_equal(anvil_reply_encode(&b, &a), 0);
	parse();
	assert_int_equal(anvil_reply_decode(&m, &e, err, sizeof(err)), 0);
	assert_false(e.ok);
	assert_string_equal(e.text, "bad ip");

	frame(NULL); add(ATTR_STATUS, "ok"); add(ATTR_BLOCKED, "2"); done();
	assert_int_equal(anvil_reply_decode(&m, &e, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "ok"); add(ATTR_SESSIONS, "-3"); done();
	assert_int_equal(anvil_reply_decode(&m, &e, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_COUNT, "1"); done();
	assert_int_equal(anvil_reply_decode(&m, &e, err, sizeof(err)), -1);
	free(ip64);
}

/* req=stats answers: the counters a process keeps, absent ones -1;
 * negative or non-numeric counters and an error status are refused. */
static void
test_stats(void **state)
{
	struct proto_stats st, d;

	(void)state;
	for (size_t i = 0; i < PSTAT_N; i++)
		st.v[i] = -1;
	st.v[PSTAT_RECEIVED] = 4;
	st.v[PSTAT_BOUNCES] = 0;
	st.v[PSTAT_STARTED] = 1700000000;
	assert_int_equal(proto_simple_encode(&b, REQ_STATS), 0);
	parse();
	assert_int_equal(proto_req_type(&m), REQ_STATS);
	assert_int_equal(proto_stats_encode(&b, &st), 0);
	parse();
	assert_int_equal(proto_stats_decode(&m, &d, err, sizeof(err)), 0);
	assert_int_equal(d.v[PSTAT_RECEIVED], 4);
	assert_int_equal(d.v[PSTAT_BOUNCES], 0);
	assert_int_equal(d.v[PSTAT_DELIVERED], -1);
	assert_int_equal(d.v[PSTAT_STARTED], 1700000000);
	assert_string_equal(pstat_name(PSTAT_REJECTED_RCPT), "rejected_rcpt");
	assert_string_equal(pstat_name(PSTAT_N), "");

	frame(NULL); add(ATTR_STATUS, "ok"); add(ATTR_DELIVERED, "-1"); done();
	assert_int_equal(proto_stats_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "ok"); add(ATTR_BOUNCED, "x"); done();
	assert_int_equal(proto_stats_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "ok"); add(ATTR_RECEIVED,
	    "99999999999999999999"); done();
	assert_int_equal(proto_stats_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_STATUS, "error"); done();
	assert_int_equal(proto_stats_decode(&m, &d, err, sizeof(err)), -1);
	frame(NULL); add(ATTR_RECEIVED, "1"); done();	/* no status */
	assert_int_equal(proto_stats_decode(&m, &d, err, sizeof(err)), -1);
	/* smtpd's rejections are anvil requests with an ip */
	frame("reject_rcpt"); add(ATTR_IP, "192.0.2.9"); done();
	{
		struct anvil_request r;
		assert_int_equal(anvil_request_decode(&m, &r, err,
		    sizeof(err)), 0);
		assert_int_equal(r.req, REQ_REJECT_RCPT);
	}
}

static void
test_client_info(void **state)
{
	struct client_info c = { "mx", "192.0.2.1", "helo", "ESMTP", NULL,
	    "TLSv1.3", "smtp", "id1", -1 }, d;
	char *h256 = str_of(256, 'h');

	(void)state;
	assert_int_equal(client_info_encode(&b, &c), 0);
	assert_int_equal(client_info_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_string_equal(d.client_name, "mx");
	assert_string_equal(d.client_addr, "192.0.2.1");
	assert_string_equal(d.helo, "helo");
	assert_string_equal(d.proto, "ESMTP");
	assert_null(d.auth_user);
	assert_string_equal(d.tls, "TLSv1.3");
	assert_string_equal(d.listener, "smtp");
	assert_string_equal(d.smtp_id, "id1");
	assert_int_equal(d.uid, -1);
	client_info_free(&d);

	c = (struct client_info){ .proto = "local", .uid = 1000 };
	assert_int_equal(client_info_encode(&b, &c), 0);
	assert_int_equal(client_info_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.uid, 1000);
	assert_string_equal(d.proto, "local");
	assert_null(d.helo);
	client_info_free(&d);

	c.helo = h256;
	assert_int_equal(client_info_encode(&b, &c), -1);
	assert_int_equal(client_info_decode("\x05", 1, &d, err,
	    sizeof(err)), -1);
	assert_int_equal(client_info_decode("", 0, &d, err, sizeof(err)), 0);
	client_info_free(&d);
	frame(NULL); add(ATTR_HELO, h256); done();
	assert_int_equal(client_info_decode(b.data + 4, b.len - 4, &d, err,
	    sizeof(err)), -1);
	frame(NULL); add(ATTR_UID, "-2"); done();
	assert_int_equal(client_info_decode(b.data + 4, b.len - 4, &d, err,
	    sizeof(err)), -1);
	frame(NULL); add(ATTR_HELO, "a\tb"); done();
	assert_int_equal(client_info_decode(b.data + 4, b.len - 4, &d, err,
	    sizeof(err)), 0);
	assert_string_equal(d.helo, "a?b");
	client_info_free(&d);
	free(h256);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_dstatus_set),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_reply_rejects),
		cmocka_unit_test(test_cleanup_open),
		cmocka_unit_test(test_cleanup_open_rejects),
		cmocka_unit_test(test_cleanup_data),
		cmocka_unit_test(test_qmgr_admin),
		cmocka_unit_test(test_qmgr_flush),
		cmocka_unit_test(test_qmgr_flush_rejects),
		cmocka_unit_test(test_deliver_request),
		cmocka_unit_test(test_deliver_request_rejects),
		cmocka_unit_test(test_deliver_status),
		cmocka_unit_test(test_master),
		cmocka_unit_test(test_tls_verdict),
		cmocka_unit_test(test_showq),
		cmocka_unit_test(test_anvil),
		cmocka_unit_test(test_anvil_client_key),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_client_info),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
