/*
 * proto_admin: the messages of the control plane (lib/proto.h): CLI ->
 * master, tlscheck -> postern, mailq -> showq, smtpd -> anvil. Same
 * rules as proto.c: every field is checked before a program sees it; no
 * I/O.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "proto_int.h"

/* ---- master ---- */

int
master_request_encode(struct buf *b, const struct master_request *r)
{
	int bad;

	if (r->req != REQ_RESTART && r->req != REQ_MASTER_STATUS)
		return -1;
	ipc_begin(b);
	bad = pr_put_req(b, r->req);
	if (r->req == REQ_RESTART)
		bad |= r->service[0] == '\0' ||
		    memchr(r->service, '\0', sizeof(r->service)) == NULL ||
		    ipc_add_str(b, ATTR_SERVICE, r->service);
	return pr_finish(b, bad);
}

int
master_request_decode(const struct ipc_msg *m, struct master_request *r,
    char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->req = proto_req_type(m);
	if (r->req == REQ_MASTER_STATUS)
		return 0;
	if (r->req != REQ_RESTART)
		return pr_fail(err, errlen, "unknown request");
	if (pr_get_fixed(m, ATTR_SERVICE, r->service, sizeof(r->service), 1, 1,
	    err, errlen) == -1)
		return -1;
	if (r->service[0] == '\0')
		return pr_fail(err, errlen, "empty %s", ATTR_SERVICE);
	return 0;
}

/* ---- tlscheck ---- */

int
tls_verdict_encode(struct buf *b, const struct tls_verdict *v)
{
	int bad;

	if (v->result < 0 || v->result > TLS_VERDICT_MAX ||
	    memchr(v->text, '\0', sizeof(v->text)) == NULL)
		return -1;
	ipc_begin(b);
	bad = ipc_add_num(b, ATTR_RESULT, v->result);
	if (v->text[0] != '\0')
		bad |= ipc_add_str(b, ATTR_TEXT, v->text);
	return pr_finish(b, bad);
}

int
tls_verdict_decode(const struct ipc_msg *m, struct tls_verdict *v,
    char *err, size_t errlen)
{
	long long r;

	memset(v, 0, sizeof(*v));
	if (pr_get_num(m, ATTR_RESULT, 0, TLS_VERDICT_MAX, 0, 1, &r, err,
	    errlen) == -1)
		return -1;
	v->result = (int)r;
	return pr_get_fixed(m, ATTR_TEXT, v->text, sizeof(v->text), 0, 1, err,
	    errlen);
}

/* ---- counters ---- */

static const char *const pstat_names[PSTAT_N] = {
	[PSTAT_RECEIVED] = ATTR_RECEIVED, [PSTAT_DELIVERED] = ATTR_DELIVERED,
	[PSTAT_DEFERRED] = ATTR_DEFERRED, [PSTAT_BOUNCED] = ATTR_BOUNCED,
	[PSTAT_BOUNCES] = ATTR_BOUNCES,
	[PSTAT_REJECTED_RCPT] = ATTR_REJECTED_RCPT,
	[PSTAT_REJECTED_CONN] = ATTR_REJECTED_CONN,
	[PSTAT_STARTED] = ATTR_STARTED,
};

const char *
pstat_name(enum pstat i)
{
	return (unsigned)i < PSTAT_N ? pstat_names[i] : "";
}

int
proto_stats_encode(struct buf *b, const struct proto_stats *st)
{
	int bad = 0;

	ipc_begin(b);
	bad |= ipc_add_str(b, ATTR_STATUS, "ok");
	for (size_t i = 0; i < PSTAT_N; i++)
		if (st->v[i] >= 0)
			bad |= ipc_add_num(b, pstat_names[i], st->v[i]);
	return pr_finish(b, bad);
}

int
proto_stats_decode(const struct ipc_msg *m, struct proto_stats *st,
    char *err, size_t errlen)
{
	int ok;

	if (pr_get_status(m, &ok, err, errlen) == -1)
		return -1;
	if (!ok)
		return pr_fail(err, errlen, "the process refused the request");
	for (size_t i = 0; i < PSTAT_N; i++)
		if (pr_get_num(m, pstat_names[i], 0, LLONG_MAX, -1, 0,
		    &st->v[i], err, errlen) == -1)
			return -1;
	return 0;
}

/* ---- showq ---- */

int
showq_request_encode(struct buf *b, const struct showq_request *r)
{
	int bad;

	ipc_begin(b);
	bad = pr_put_req(b, REQ_LIST);
	if (r->json)
		bad |= ipc_add_str(b, ATTR_JSON, "1");
	return pr_finish(b, bad);
}

int
showq_request_decode(const struct ipc_msg *m, struct showq_request *r,
    char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (proto_req_type(m) != REQ_LIST)
		return pr_fail(err, errlen, "not a list request");
	return pr_get_flag(m, ATTR_JSON, 0, &r->json, err, errlen);
}

/* ---- anvil ---- */

static int
anvil_req(enum proto_req r)
{
	return r == REQ_AUTH_FAIL || r == REQ_AUTH_CHECK ||
	    r == REQ_CONNECT || r == REQ_DISCONNECT ||
	    r == REQ_REJECT_RCPT || r == REQ_REJECT_CONN;
}

int
anvil_request_encode(struct buf *b, const struct anvil_request *r)
{
	int bad = 0;

	if (!anvil_req(r->req) || r->ip[0] == '\0' ||
	    memchr(r->ip, '\0', sizeof(r->ip)) == NULL ||
	    memchr(r->listener, '\0', sizeof(r->listener)) == NULL)
		return -1;
	ipc_begin(b);
	bad |= pr_put_req(b, r->req);
	bad |= ipc_add_str(b, ATTR_IP, r->ip);
	if (r->listener[0] != '\0')
		bad |= ipc_add_str(b, ATTR_LISTENER, r->listener);
	return pr_finish(b, bad);
}

int
anvil_client_key(const char *ip, char *out, size_t outlen)
{
	struct in6_addr a;
	char txt[INET6_ADDRSTRLEN];

	if (strchr(ip, ':') == NULL || inet_pton(AF_INET6, ip, &a) != 1 ||
	    IN6_IS_ADDR_V4MAPPED(&a)) {
		(void)strlcpy(out, ip, outlen);
		return strchr(ip, ':') == NULL ? 0 : -1;
	}
	memset(&a.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a, txt, sizeof(txt)) == NULL ||
	    (size_t)snprintf(out, outlen, "%s/64", txt) >= outlen) {
		(void)strlcpy(out, ip, outlen);
		return -1;
	}
	return 0;
}

/* Anything but printable ASCII in an IP or a name becomes '?'. */
static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s > '~')
			*s = '?';
}

int
anvil_request_decode(const struct ipc_msg *m, struct anvil_request *r,
    char *err, size_t errlen)
{
	char key[sizeof(r->ip)];

	memset(r, 0, sizeof(*r));
	r->req = proto_req_type(m);
	if (!anvil_req(r->req))
		return pr_fail(err, errlen, "unknown request");
	if (pr_get_fixed(m, ATTR_IP, r->ip, sizeof(r->ip), 1, 0, err, errlen)
	    == -1 || r->ip[0] == '\0')
		return pr_fail(err, errlen, "missing or bad ip");
	printable(r->ip);
	(void)anvil_client_key(r->ip, key, sizeof(key));
	(void)strlcpy(r->ip, key, sizeof(r->ip));
	if (pr_get_fixed(m, ATTR_LISTENER, r->listener, sizeof(r->listener), 0,
	    0, err, errlen) == -1)
		return -1;
	printable(r->listener);
	return 0;
}

int
anvil_reply_encode(struct buf *b, const struct anvil_reply *r)
{
	const long long *n[] = { &r->count, &r->blocked, &r->count_minute,
	    &r->sessions };
	const char *names[] = { ATTR_COUNT, ATTR_BLOCKED, ATTR_COUNT_MINUTE,
	    ATTR_SESSIONS };
	int bad = 0;

	if (memchr(r->text, '\0', sizeof(r->text)) == NULL)
		return -1;
	ipc_begin(b);
	bad |= ipc_add_str(b, ATTR_STATUS, r->ok ? "ok" : "error");
	if (r->text[0] != '\0')
		bad |= ipc_add_str(b, ATTR_TEXT, r->text);
	for (size_t i = 0; i < 4; i++)
		if (*n[i] >= 0)
			bad |= ipc_add_num(b, names[i], *n[i]);
	return pr_finish(b, bad);
}

int
anvil_reply_decode(const struct ipc_msg *m, struct anvil_reply *r, char *err,
    size_t errlen)
{
	long long *n[] = { &r->count, &r->blocked, &r->count_minute,
	    &r->sessions };
	const char *names[] = { ATTR_COUNT, ATTR_BLOCKED, ATTR_COUNT_MINUTE,
	    ATTR_SESSIONS };

	memset(r, 0, sizeof(*r));
	if (pr_get_status(m, &r->ok, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (pr_get_num(m, names[i], 0, i == 1 ? 1 : LLONG_MAX, -1, 0,
		    n[i], err, errlen) == -1)
			return -1;
	return pr_get_fixed(m, ATTR_TEXT, r->text, sizeof(r->text), 0, 1, err,
	    errlen);
}
