/*
 * proto_flush: the codec of a flush request to qmgr, whole or filtered by
 * recipient domain, sender domain or queue ID (lib/proto.h). It builds and
 * checks frames in memory only; a value it cannot vouch for (length,
 * characters) is refused, never cut or passed on.
 */
#include <errno.h>
#include <string.h>

#include "proto.h"
#include "qfile.h"

static const char *const by_attr[] = {
	[FLUSH_RCPT_DOMAIN] = ATTR_RCPT_DOMAIN,
	[FLUSH_SENDER_DOMAIN] = ATTR_SENDER_DOMAIN,
	[FLUSH_ID] = ATTR_ID,
};

int
flush_domain_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > FLUSH_MAX_VALUE)
		return 0;
	if (v[0] == '[')	/* an address literal: [192.0.2.1] */
		return n > 2 && v[n - 1] == ']' &&
		    strspn(v + 1, "0123456789abcdefABCDEF.:IPv") == n - 2;
	return strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static int
value_ok(enum flush_by by, const char *v)
{
	return by == FLUSH_ID ? qid_valid(v) : flush_domain_ok(v);
}

int
qmgr_flush_encode(struct buf *b, const struct qmgr_flush *f)
{
	int bad;

	if (f->by != FLUSH_ALL && (f->by > FLUSH_ID ||
	    !value_ok(f->by, f->value)))
		return -1;
	ipc_begin(b);
	bad = ipc_add_str(b, ATTR_REQ, proto_req_word(REQ_FLUSH));
	if (f->by != FLUSH_ALL)
		bad |= ipc_add_str(b, by_attr[f->by], f->value);
	return bad ? -1 : ipc_end(b);
}

static int
ferr(char *err, size_t errlen, const char *why)
{
	if (err != NULL && errlen > 0)
		strlcpy(err, why, errlen);
	return -1;
}

int
qmgr_flush_decode(const struct ipc_msg *m, struct qmgr_flush *f, char *err,
    size_t errlen)
{
	memset(f, 0, sizeof(*f));
	if (proto_req_type(m) != REQ_FLUSH)
		return ferr(err, errlen, "not a flush request");
	for (int by = FLUSH_RCPT_DOMAIN; by <= FLUSH_ID; by++) {
		const struct ipc_attr *a = ipc_get(m, by_attr[by]);

		if (a == NULL)
			continue;
		if (f->by != FLUSH_ALL)
			return ferr(err, errlen, "more than one flush filter");
		if (a->len > FLUSH_MAX_VALUE || a->len == 0 ||
		    memchr(a->val, '\0', a->len) != NULL)
			return ferr(err, errlen, "bad flush filter");
		memcpy(f->value, a->val, a->len);
		f->value[a->len] = '\0';
		if (!value_ok(by, f->value))
			return ferr(err, errlen, by == FLUSH_ID ?
			    "bad queue ID" : "bad domain");
		f->by = by;
	}
	return 0;
}
