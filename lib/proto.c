/*
 * proto: the encoders and decoders of every message between postern's
 * processes (lib/proto.h). Decoders trust nothing: each field is checked
 * for presence, length, NUL bytes and range before it reaches a program.
 * Encoders never emit a frame the matching decoder would refuse.
 * Nothing here does I/O beyond building and reading frames in memory.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_int.h"
#include "qfile.h"

/* Bounds of string fields (bytes, without the NUL). */
#define MAX_ADDR	QF_MAX_ADDR
#define MAX_NAME	255	/* client_name, helo, auth_user, nexthop */
#define MAX_CADDR	64
#define MAX_PROTO	16
#define MAX_TLS		128
#define MAX_SMTP_ID	32
#define MAX_FULL_NAME	128
#define MAX_LISTENER	32
#define MAX_TEXT	(DSTATUS_TEXT - 1)
#define MAX_CODE	999
#define MAX_TLS_POLICY	4	/* 1 + the last enum conf_remote_tls */

static const char *const req_words[] = {
	[REQ_NONE] = "",
	[REQ_OPEN] = "open", [REQ_DATA] = "data", [REQ_END] = "end",
	[REQ_ABORT] = "abort",
	[REQ_TRIGGER] = "trigger", [REQ_FLUSH] = "flush", [REQ_HOLD] = "hold",
	[REQ_RELEASE] = "release", [REQ_DELETE] = "delete",
	[REQ_REQUEUE] = "requeue", [REQ_STATS] = "stats",
	[REQ_DELIVER] = "deliver", [REQ_DONE] = "done",
	[REQ_RESTART] = "restart", [REQ_MASTER_STATUS] = "status",
	[REQ_AUTH_FAIL] = "auth_fail", [REQ_AUTH_CHECK] = "auth_check",
	[REQ_CONNECT] = "connect", [REQ_DISCONNECT] = "disconnect",
	[REQ_REJECT_RCPT] = "reject_rcpt", [REQ_REJECT_CONN] = "reject_conn",
	[REQ_LIST] = "list",
};
#define NREQ	(sizeof(req_words) / sizeof(req_words[0]))

/* The wire words of struct dstatus (deliver_status). */
static const char *const dstat_wire[] = {
	[DS_SENT] = "sent", [DS_DEFER] = "defer", [DS_BOUNCE] = "bounce",
};

int
pr_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Replace control characters (header injection) with '?'. */
static void
scrub(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			*s = '?';
}

enum proto_req
proto_req_type(const struct ipc_msg *m)
{
	const struct ipc_attr *a = ipc_get(m, ATTR_REQ);

	if (a == NULL)
		return REQ_NONE;
	for (size_t i = 1; i < NREQ; i++)
		if (a->len == strlen(req_words[i]) &&
		    memcmp(a->val, req_words[i], a->len) == 0)
			return (enum proto_req)i;
	return REQ_NONE;
}

const char *
proto_req_word(enum proto_req r)
{
	if ((size_t)r >= NREQ)
		return "";
	return req_words[r];
}

const char *
dstat_word(enum dstat s)
{
	switch (s) {
	case DS_SENT:
		return "sent";
	case DS_DEFER:
		return "deferred";
	case DS_BOUNCE:
		return "bounced";
	}
	return "deferred";
}

void
dstatus_set(struct dstatus *d, enum dstat st, int code, const char *fmt, ...)
{
	va_list ap;

	d->stat = st;
	d->code = code;
	d->relayed = 0;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	scrub(d->text);
}

/* ---- field readers ---- */

/*
 * A string attribute into a fresh string (*out; NULL when absent and not
 * required). Refuses NUL bytes and values over max bytes; control
 * characters are replaced when clean is set.
 */
static int
get_str(const struct ipc_msg *m, const char *name, size_t max, int req,
    int clean, char **out, char *err, size_t errlen)
{
	const struct ipc_attr *a = ipc_get(m, name);

	*out = NULL;
	if (a == NULL)
		return req ? pr_fail(err, errlen, "missing %s", name) : 0;
	if (a->len > max)
		return pr_fail(err, errlen, "%s too long", name);
	if (memchr(a->val, '\0', a->len) != NULL)
		return pr_fail(err, errlen, "NUL in %s", name);
	*out = xstrndup(a->val, a->len);
	if (clean)
		scrub(*out);
	return 0;
}

/* The same into a fixed array of size bytes ("" when absent). */
int
pr_get_fixed(const struct ipc_msg *m, const char *name, char *dst, size_t size,
    int req, int clean, char *err, size_t errlen)
{
	char *s;

	if (get_str(m, name, size - 1, req, clean, &s, err, errlen) == -1)
		return -1;
	if (s == NULL)
		dst[0] = '\0';
	else {
		memcpy(dst, s, strlen(s) + 1);
		free(s);
	}
	return 0;
}

/* The decimal value of one attribute, if it is in [min, max]. */
static int
attr_num(const struct ipc_attr *a, long long min, long long max,
    long long *out)
{
	char tmp[24], *end;
	long long v;

	if (a->len == 0 || a->len >= sizeof(tmp))
		return -1;
	memcpy(tmp, a->val, a->len);
	tmp[a->len] = '\0';
	if (tmp[0] != '-' && (tmp[0] < '0' || tmp[0] > '9'))
		return -1;
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A decimal number in [min, max]; *out = dflt when absent and optional. */
int
pr_get_num(const struct ipc_msg *m, const char *name, long long min,
    long long max, long long dflt, int req, long long *out, char *err,
    size_t errlen)
{
	const struct ipc_attr *a = ipc_get(m, name);

	*out = dflt;
	if (a == NULL)
		return req ? pr_fail(err, errlen, "missing %s", name) : 0;
	if (attr_num(a, min, max, out) == -1)
		return pr_fail(err, errlen, "bad %s", name);
	return 0;
}

/* A 0|1 flag; dflt when absent. */
int
pr_get_flag(const struct ipc_msg *m, const char *name, int dflt, int *out,
    char *err, size_t errlen)
{
	long long v;

	if (pr_get_num(m, name, 0, 1, dflt, 0, &v, err, errlen) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

/* A queue ID attribute into dst[QID_LEN + 1]. */
static int
get_qid(const struct ipc_msg *m, const char *name, char *dst, char *err,
    size_t errlen)
{
	if (pr_get_fixed(m, name, dst, QID_LEN + 1, 1, 0, err, errlen) == -1)
		return pr_fail(err, errlen, "bad %s", name);
	if (!qid_valid(dst))
		return pr_fail(err, errlen, "bad %s", name);
	return 0;
}

/* ---- field writers: -1 when over the bound (nothing is cut) ---- */

static int
put_str(struct buf *b, const char *name, const char *v, size_t max)
{
	if (v == NULL)
		return 0;
	if (strlen(v) > max) {
		errno = EMSGSIZE;
		return -1;
	}
	return ipc_add_str(b, name, v);
}

int
pr_put_req(struct buf *b, enum proto_req r)
{
	if (r == REQ_NONE || (size_t)r >= NREQ) {
		errno = EINVAL;
		return -1;
	}
	return ipc_add_str(b, ATTR_REQ, req_words[r]);
}

int
pr_finish(struct buf *b, int bad)
{
	if (bad)
		return -1;
	return ipc_end(b);
}

/* ---- generic reply ---- */

int
proto_reply_encode(struct buf *b, const struct proto_reply *r)
{
	int bad = 0;

	ipc_begin(b);
	bad |= ipc_add_str(b, ATTR_STATUS, r->ok ? "ok" : "error");
	if (r->code != 0) {
		if (r->code < 100 || r->code > MAX_CODE)
			return -1;
		bad |= ipc_add_num(b, ATTR_CODE, r->code);
	}
	bad |= put_str(b, ATTR_TEXT, r->text, MAX_TEXT);
	if (r->queue_id != NULL && !qid_valid(r->queue_id))
		return -1;
	bad |= put_str(b, ATTR_QUEUE_ID, r->queue_id, QID_LEN);
	return pr_finish(b, bad);
}

int
proto_reply_send(int fd, const struct proto_reply *r, int timeout_ms)
{
	struct buf b;
	int ret = -1;

	buf_init(&b, IPC_MAX_FRAME + 4);
	if (proto_reply_encode(&b, r) == 0)
		ret = ipc_send(fd, &b, timeout_ms);
	else
		errno = EINVAL;
	buf_free(&b);
	return ret;
}

/* status=ok|error into *ok. */
int
pr_get_status(const struct ipc_msg *m, int *ok, char *err, size_t errlen)
{
	if (ipc_is(m, ATTR_STATUS, "ok"))
		*ok = 1;
	else if (ipc_is(m, ATTR_STATUS, "error"))
		*ok = 0;
	else
		return pr_fail(err, errlen, "missing or bad status");
	return 0;
}

int
proto_reply_decode(const struct ipc_msg *m, struct proto_reply *r, char *err,
    size_t errlen)
{
	long long code;

	memset(r, 0, sizeof(*r));
	if (pr_get_status(m, &r->ok, err, errlen) == -1 ||
	    pr_get_num(m, ATTR_CODE, 100, MAX_CODE, 0, 0, &code, err, errlen)
	    == -1 ||
	    get_str(m, ATTR_TEXT, MAX_TEXT, 0, 1, &r->text, err, errlen) == -1)
		goto bad;
	r->code = (int)code;
	if (get_str(m, ATTR_QUEUE_ID, QID_LEN, 0, 0, &r->queue_id, err,
	    errlen) == -1)
		goto bad;
	if (r->queue_id != NULL && !qid_valid(r->queue_id)) {
		pr_fail(err, errlen, "bad %s", ATTR_QUEUE_ID);
		goto bad;
	}
	return 0;
bad:
	proto_reply_free(r);
	return -1;
}

void
proto_reply_free(struct proto_reply *r)
{
	free(r->text);
	free(r->queue_id);
	r->text = r->queue_id = NULL;
}

/* ---- requests with no arguments ---- */

int
proto_simple_encode(struct buf *b, enum proto_req r)
{
	ipc_begin(b);
	return pr_finish(b, pr_put_req(b, r));
}

/* ---- cleanup ---- */

void
cleanup_open_init(struct cleanup_open *o)
{
	memset(o, 0, sizeof(*o));
	o->received = 1;
	o->uid = -1;
}

/* ---- optional string fields of a struct, driven by a table ---- */

struct str_field {
	const char	*name;
	size_t		 max;
	size_t		 off;	/* of the char * in the struct */
};

static char **
field_slot(const void *base, const struct str_field *f)
{
	return (char **)((char *)(uintptr_t)base + f->off);
}

static int
put_fields(struct buf *b, const void *base, const struct str_field *f,
    size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n && !bad; i++)
		bad |= put_str(b, f[i].name, *field_slot(base, &f[i]),
		    f[i].max);
	return bad;
}

static int
get_fields(const struct ipc_msg *m, void *base, const struct str_field *f,
    size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (get_str(m, f[i].name, f[i].max, 0, 1,
		    field_slot(base, &f[i]), err, errlen) == -1)
			return -1;
	return 0;
}

static void
free_fields(void *base, const struct str_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(*field_slot(base, &f[i]));
		*field_slot(base, &f[i]) = NULL;
	}
}

/* The optional session strings of an open request, in wire order. */
#define SF(a, m, f)	{ a, m, offsetof(struct cleanup_open, f) }
static const struct str_field sess_fields[] = {
	SF(ATTR_CLIENT_NAME, MAX_NAME, client_name),
	SF(ATTR_CLIENT_ADDR, MAX_CADDR, client_addr),
	SF(ATTR_HELO, MAX_NAME, helo),
	SF(ATTR_PROTO, MAX_PROTO, proto),
	SF(ATTR_TLS, MAX_TLS, tls),
	SF(ATTR_AUTH_USER, MAX_NAME, auth_user),
	SF(ATTR_LISTENER, MAX_LISTENER, listener),
	SF(ATTR_SMTP_ID, MAX_SMTP_ID, smtp_id),
	SF(ATTR_FULL_NAME, MAX_FULL_NAME, full_name),
};
#undef SF
#define NSESS	(sizeof(sess_fields) / sizeof(sess_fields[0]))

static int
open_flags_encode(struct buf *b, const struct cleanup_open *o)
{
	int bad = 0;

	if (o->local)
		bad |= ipc_add_str(b, ATTR_LOCAL, "1");
	if (o->extract)
		bad |= ipc_add_str(b, ATTR_EXTRACT, "1");
	if (!o->received)
		bad |= ipc_add_str(b, ATTR_RECEIVED, "0");
	if (o->msa)
		bad |= ipc_add_str(b, ATTR_MSA, "1");
	if (o->smtputf8)
		bad |= ipc_add_str(b, ATTR_SMTPUTF8, "1");
	if (o->max_size > 0)
		bad |= ipc_add_num(b, ATTR_MAX_SIZE, (long long)o->max_size);
	if (o->max_header_size > 0)
		bad |= ipc_add_num(b, ATTR_MAX_HEADER_SIZE,
		    (long long)o->max_header_size);
	if (o->uid >= 0)
		bad |= o->uid > 0xffffffffLL ||
		    ipc_add_num(b, ATTR_UID, o->uid);
	return bad;
}

int
cleanup_open_encode(struct buf *b, const struct cleanup_open *o)
{
	int bad = 0;

	if (o->nrcpt > DELIVER_MAX_RCPT)
		return -1;
	ipc_begin(b);
	bad |= pr_put_req(b, REQ_OPEN);
	bad |= put_str(b, ATTR_SENDER, o->sender, MAX_ADDR);
	for (size_t i = 0; i < o->nrcpt && !bad; i++) {
		bad |= put_str(b, ATTR_RCPT, o->rcpt[i], MAX_ADDR);
		bad |= dsn_open_rcpt_encode(b, o, i);
	}
	bad |= dsn_open_msg_encode(b, o);
	if (!bad)
		bad |= put_fields(b, o, sess_fields, NSESS);
	bad |= open_flags_encode(b, o);
	return pr_finish(b, bad);
}

/* Every rcpt attribute of an open request, in order. */
static int
open_rcpts_decode(const struct ipc_msg *m, struct cleanup_open *o,
    char *err, size_t errlen)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nattr; i++)
		if (strcmp(m->attr[i].name, ATTR_RCPT) == 0)
			n++;
	if (n > DELIVER_MAX_RCPT)
		return pr_fail(err, errlen, "too many %s", ATTR_RCPT);
	o->rcpt = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < m->nattr; i++) {
		const struct ipc_attr *a = &m->attr[i];

		if (strcmp(a->name, ATTR_RCPT) != 0)
			continue;
		if (a->len > MAX_ADDR)
			return pr_fail(err, errlen, "%s too long", ATTR_RCPT);
		if (memchr(a->val, '\0', a->len) != NULL)
			return pr_fail(err, errlen, "NUL in %s", ATTR_RCPT);
		o->rcpt[o->nrcpt++] = xstrndup(a->val, a->len);
	}
	return 0;
}

static int
open_flags_decode(const struct ipc_msg *m, struct cleanup_open *o,
    char *err, size_t errlen)
{
	long long v;

	if (pr_get_flag(m, ATTR_LOCAL, 0, &o->local, err, errlen) == -1 ||
	    pr_get_flag(m, ATTR_EXTRACT, 0, &o->extract, err, errlen) == -1 ||
	    pr_get_flag(m, ATTR_RECEIVED, 1, &o->received, err, errlen) == -1 ||
	    pr_get_flag(m, ATTR_MSA, 0, &o->msa, err, errlen) == -1 ||
	    pr_get_flag(m, ATTR_SMTPUTF8, 0, &o->smtputf8, err,
	    errlen) == -1)
		return -1;
	if (pr_get_num(m, ATTR_MAX_SIZE, 0, LLONG_MAX, 0, 0, &v,
	    err, errlen) == -1)
		return -1;
	o->max_size = (size_t)v;
	if (pr_get_num(m, ATTR_MAX_HEADER_SIZE, 0, LLONG_MAX, 0, 0,
	    &v, err, errlen) == -1)
		return -1;
	o->max_header_size = (size_t)v;
	return pr_get_num(m, ATTR_UID, 0, 0xffffffffLL, -1, 0, &o->uid, err,
	    errlen);
}

int
cleanup_open_decode(const struct ipc_msg *m, struct cleanup_open *o,
    char *err, size_t errlen)
{
	cleanup_open_init(o);
	if (proto_req_type(m) != REQ_OPEN) {
		pr_fail(err, errlen, "not an open request");
		return -1;
	}
	if (get_str(m, ATTR_SENDER, MAX_ADDR, 0, 1, &o->sender, err, errlen)
	    == -1 || open_rcpts_decode(m, o, err, errlen) == -1)
		goto bad;
	if (get_fields(m, o, sess_fields, NSESS, err, errlen) == -1 ||
	    open_flags_decode(m, o, err, errlen) == -1 ||
	    dsn_open_decode(m, o, err, errlen) == -1)
		goto bad;
	return 0;
bad:
	cleanup_open_free(o);
	return -1;
}

void
cleanup_open_free(struct cleanup_open *o)
{
	free(o->sender);
	for (size_t i = 0; i < o->nrcpt; i++)
		free(o->rcpt[i]);
	free(o->rcpt);
	dsn_open_free(o);
	free_fields(o, sess_fields, NSESS);
	cleanup_open_init(o);
}

int
cleanup_data_encode(struct buf *b, const void *chunk, size_t len)
{
	if (len > IPC_MAX_FRAME - 64)
		return -1;
	ipc_begin(b);
	return pr_finish(b, pr_put_req(b, REQ_DATA) |
	    ipc_add(b, ATTR_CHUNK, chunk, len));
}

int
cleanup_data_decode(const struct ipc_msg *m, const char **chunk, size_t *len)
{
	const struct ipc_attr *a = ipc_get(m, ATTR_CHUNK);

	if (proto_req_type(m) != REQ_DATA || a == NULL)
		return -1;
	*chunk = a->val;
	*len = a->len;
	return 0;
}

/* ---- queue admin ---- */

static int
admin_req(enum proto_req r)
{
	return r == REQ_HOLD || r == REQ_RELEASE || r == REQ_DELETE ||
	    r == REQ_REQUEUE;
}

int
qmgr_admin_encode(struct buf *b, const struct qmgr_admin *a)
{
	if (!admin_req(a->req) || !qid_valid(a->id))
		return -1;
	ipc_begin(b);
	return pr_finish(b, pr_put_req(b, a->req) |
	    ipc_add_str(b, ATTR_ID, a->id));
}

int
qmgr_admin_decode(const struct ipc_msg *m, struct qmgr_admin *a, char *err,
    size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->req = proto_req_type(m);
	if (!admin_req(a->req))
		return pr_fail(err, errlen, "not a queue admin request");
	return get_qid(m, ATTR_ID, a->id, err, errlen);
}

/* ---- delivery request ---- */

/* A queue subdirectory name: one path component. */
static int
dir_ok(const char *d)
{
	return *d != '\0' && strchr(d, '/') == NULL && strcmp(d, ".") != 0 &&
	    strcmp(d, "..") != 0;
}

int
deliver_request_encode(struct buf *b, const struct deliver_request *d)
{
	int bad = 0;

	if (!qid_valid(d->queue_id) || !dir_ok(d->dir) || d->nrcpt == 0 ||
	    d->nrcpt > DELIVER_MAX_RCPT)
		return -1;
	ipc_begin(b);
	bad |= pr_put_req(b, REQ_DELIVER);
	bad |= ipc_add_str(b, ATTR_QUEUE_ID, d->queue_id);
	bad |= ipc_add_str(b, ATTR_DIR, d->dir);
	bad |= put_str(b, ATTR_NEXTHOP, d->nexthop ? d->nexthop : "",
	    MAX_NAME);
	if (d->tls < 0 || d->tls > MAX_TLS_POLICY)
		return -1;
	if (d->tls > 0)
		bad |= ipc_add_num(b, ATTR_TLS_POLICY, d->tls);
	for (size_t i = 0; i < d->nrcpt && !bad; i++) {
		if (d->rcpt[i] >= DELIVER_MAX_RCPT)
			return -1;
		bad |= ipc_add_num(b, ATTR_RCPT, (long long)d->rcpt[i]);
	}
	return pr_finish(b, bad);
}

/* The rcpt=INDEX attributes of a delivery request. */
static int
deliver_rcpts_decode(const struct ipc_msg *m, struct deliver_request *d,
    char *err, size_t errlen)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nattr; i++)
		if (strcmp(m->attr[i].name, ATTR_RCPT) == 0)
			n++;
	if (n == 0)
		return pr_fail(err, errlen, "missing %s", ATTR_RCPT);
	if (n > DELIVER_MAX_RCPT)
		return pr_fail(err, errlen, "too many %s", ATTR_RCPT);
	d->rcpt = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < m->nattr; i++) {
		long long v;

		if (strcmp(m->attr[i].name, ATTR_RCPT) != 0)
			continue;
		if (attr_num(&m->attr[i], 0, DELIVER_MAX_RCPT - 1, &v) == -1)
			return pr_fail(err, errlen, "bad %s", ATTR_RCPT);
		d->rcpt[d->nrcpt++] = (size_t)v;
	}
	return 0;
}

int
deliver_request_decode(const struct ipc_msg *m, struct deliver_request *d,
    char *err, size_t errlen)
{
	long long tls;

	memset(d, 0, sizeof(*d));
	if (proto_req_type(m) != REQ_DELIVER)
		return pr_fail(err, errlen, "not a delivery request");
	if (get_qid(m, ATTR_QUEUE_ID, d->queue_id, err, errlen) == -1 ||
	    pr_get_fixed(m, ATTR_DIR, d->dir, sizeof(d->dir), 1, 0, err, errlen)
	    == -1)
		goto bad;
	if (!dir_ok(d->dir)) {
		pr_fail(err, errlen, "bad %s", ATTR_DIR);
		goto bad;
	}
	if (get_str(m, ATTR_NEXTHOP, MAX_NAME, 0, 0, &d->nexthop, err, errlen)
	    == -1 || pr_get_num(m, ATTR_TLS_POLICY, 1, MAX_TLS_POLICY, 0, 0,
	    &tls, err, errlen) == -1 ||
	    deliver_rcpts_decode(m, d, err, errlen) == -1)
		goto bad;
	d->tls = (int)tls;
	if (d->nexthop == NULL)
		d->nexthop = xstrdup("");
	return 0;
bad:
	deliver_request_free(d);
	return -1;
}

void
deliver_request_free(struct deliver_request *d)
{
	free(d->nexthop);
	free(d->rcpt);
	d->nexthop = NULL;
	d->rcpt = NULL;
	d->nrcpt = 0;
}

/* ---- delivery status ---- */

int
deliver_status_encode(struct buf *b, const struct deliver_status *s)
{
	int bad = 0;

	if ((size_t)s->st.stat >= sizeof(dstat_wire) / sizeof(dstat_wire[0]) ||
	    s->rcpt >= DELIVER_MAX_RCPT || s->st.code < 0 ||
	    s->st.code > MAX_CODE || (s->conn_fail != 0 && s->conn_fail != 1))
		return -1;
	ipc_begin(b);
	bad |= ipc_add_num(b, ATTR_RCPT, (long long)s->rcpt);
	bad |= ipc_add_str(b, ATTR_STATUS, dstat_wire[s->st.stat]);
	bad |= ipc_add_num(b, ATTR_CODE, s->st.code);
	bad |= put_str(b, ATTR_TEXT, s->st.text, MAX_TEXT);
	if (s->conn_fail)
		bad |= ipc_add_num(b, ATTR_CONN_FAIL, 1);
	if (s->st.relayed < 0 || s->st.relayed > DSTATUS_PASSED)
		return -1;
	if (s->st.relayed)
		bad |= ipc_add_num(b, ATTR_RELAYED, s->st.relayed);
	return pr_finish(b, bad);
}

int
deliver_status_decode(const struct ipc_msg *m, struct deliver_status *s,
    char *err, size_t errlen)
{
	long long v;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (pr_get_num(m, ATTR_RCPT, 0, DELIVER_MAX_RCPT - 1, 0, 1, &v, err,
	    errlen) == -1)
		return -1;
	s->rcpt = (size_t)v;
	for (i = 0; i < sizeof(dstat_wire) / sizeof(dstat_wire[0]); i++)
		if (ipc_is(m, ATTR_STATUS, dstat_wire[i]))
			break;
	if (i == sizeof(dstat_wire) / sizeof(dstat_wire[0]))
		return pr_fail(err, errlen, "missing or bad %s", ATTR_STATUS);
	s->st.stat = (enum dstat)i;
	if (pr_get_num(m, ATTR_CODE, 0, MAX_CODE, 0, 0, &v, err, errlen) == -1)
		return -1;
	s->st.code = (int)v;
	if (pr_get_flag(m, ATTR_CONN_FAIL, 0, &s->conn_fail, err, errlen) == -1)
		return -1;
	if (pr_get_num(m, ATTR_RELAYED, 0, DSTATUS_PASSED, 0, 0, &v, err,
	    errlen) == -1)
		return -1;
	s->st.relayed = (int)v;
	return pr_get_fixed(m, ATTR_TEXT, s->st.text, sizeof(s->st.text), 0, 1,
	    err, errlen);
}

/* ---- the 'C' record ---- */

#define CF(a, m, f)	{ a, m, offsetof(struct client_info, f) }
static const struct str_field ci_fields[] = {
	CF(ATTR_CLIENT_NAME, MAX_NAME, client_name),
	CF(ATTR_CLIENT_ADDR, MAX_CADDR, client_addr),
	CF(ATTR_HELO, MAX_NAME, helo),
	CF(ATTR_PROTO, MAX_PROTO, proto),
	CF(ATTR_AUTH_USER, MAX_NAME, auth_user),
	CF(ATTR_TLS, MAX_TLS, tls),
	CF(ATTR_LISTENER, MAX_LISTENER, listener),
	CF(ATTR_SMTP_ID, MAX_SMTP_ID, smtp_id),
};
#undef CF
#define NCI	(sizeof(ci_fields) / sizeof(ci_fields[0]))

int
client_info_encode(struct buf *payload, const struct client_info *c)
{
	int bad;

	ipc_begin(payload);
	bad = put_fields(payload, c, ci_fields, NCI);
	if (c->uid >= 0)
		bad |= ipc_add_num(payload, ATTR_UID, c->uid);
	if (bad || ipc_end(payload) == -1)
		return -1;
	buf_consume(payload, 4);	/* the payload only, no length */
	return 0;
}

static int
client_info_fields(const struct ipc_msg *m, struct client_info *c,
    char *err, size_t errlen)
{
	if (get_fields(m, c, ci_fields, NCI, err, errlen) == -1)
		return -1;
	return pr_get_num(m, ATTR_UID, 0, 0xffffffffLL, -1, 0, &c->uid, err,
	    errlen);
}

int
client_info_decode(const void *payload, size_t len, struct client_info *c,
    char *err, size_t errlen)
{
	struct ipc_msg m;
	int r;

	memset(c, 0, sizeof(*c));
	c->uid = -1;
	ipc_msg_init(&m);
	if (ipc_parse(&m, payload, len) == -1)
		r = pr_fail(err, errlen, "malformed client record");
	else
		r = client_info_fields(&m, c, err, errlen);
	ipc_msg_free(&m);
	if (r == -1)
		client_info_free(c);
	return r;
}

void
client_info_free(struct client_info *c)
{
	free_fields(c, ci_fields, NCI);
	c->uid = -1;
}
