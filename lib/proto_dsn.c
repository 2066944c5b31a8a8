/*
 * proto_dsn: the DSN attributes (RFC 3461) of a cleanup open request:
 * RET and ENVID of the message, NOTIFY and ORCPT of each recipient (each
 * right after its rcpt). Values are the decoded forms smtpd checked; the
 * decoder checks them again and refuses, never cuts, what does not fit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "xtext.h"

/* NOTIFY flags as RCPT may give them: NEVER alone, or the others. */
static int
notify_ok(long long v)
{
	return v > 0 && v <= DSN_NOTIFY_ALL &&
	    (!(v & DSN_NOTIFY_NEVER) || v == DSN_NOTIFY_NEVER);
}

int
dsn_open_msg_encode(struct buf *b, const struct cleanup_open *o)
{
	int bad = 0;

	if (o->ret < 0 || o->ret > DSN_RET_HDRS)
		return -1;
	if (o->ret)
		bad |= ipc_add_num(b, ATTR_RET, o->ret);
	if (o->envid) {
		if (!dsn_text_ok(o->envid, strlen(o->envid), DSN_ENVID_MAX))
			return -1;
		bad |= ipc_add_str(b, ATTR_ENVID, o->envid);
	}
	return bad;
}

int
dsn_open_rcpt_encode(struct buf *b, const struct cleanup_open *o, size_t i)
{
	int bad = 0;

	if (o->notify && o->notify[i]) {
		if (!notify_ok(o->notify[i]))
			return -1;
		bad |= ipc_add_num(b, ATTR_NOTIFY, o->notify[i]);
	}
	if (o->orcpt && o->orcpt[i]) {
		const char *v = o->orcpt[i];
		if (!dsn_text_ok(v, strlen(v), DSN_ORCPT_MAX) ||
		    strchr(v, ';') == NULL)
			return -1;
		bad |= ipc_add_str(b, ATTR_ORCPT, v);
	}
	return bad;
}

/* notify= or orcpt= for recipient i (o->notify/orcpt allocated). */
static int
rcpt_attr(const struct ipc_attr *a, struct cleanup_open *o, size_t i,
    char *err, size_t errlen)
{
	long long v;

	if (strcmp(a->name, ATTR_NOTIFY) == 0) {
		char tmp[4];
		char *end;
		if (a->len == 0 || a->len >= sizeof(tmp) || o->notify[i])
			return pr_fail(err, errlen, "bad %s", ATTR_NOTIFY);
		memcpy(tmp, a->val, a->len);
		tmp[a->len] = '\0';
		v = strtoll(tmp, &end, 10);
		if (*end != '\0' || !notify_ok(v))
			return pr_fail(err, errlen, "bad %s", ATTR_NOTIFY);
		o->notify[i] = (int)v;
		return 0;
	}
	if (o->orcpt[i] || !dsn_text_ok(a->val, a->len, DSN_ORCPT_MAX) ||
	    memchr(a->val, ';', a->len) == NULL)
		return pr_fail(err, errlen, "bad %s", ATTR_ORCPT);
	o->orcpt[i] = xstrndup(a->val, a->len);
	return 0;
}

int
dsn_open_decode(const struct ipc_msg *m, struct cleanup_open *o, char *err,
    size_t errlen)
{
	const struct ipc_attr *a;
	long long v;
	size_t i = 0;

	if (pr_get_num(m, ATTR_RET, 1, DSN_RET_HDRS, 0, 0, &v, err,
	    errlen) == -1)
		return -1;
	o->ret = (int)v;
	if ((a = ipc_get(m, ATTR_ENVID)) != NULL) {
		if (!dsn_text_ok(a->val, a->len, DSN_ENVID_MAX))
			return pr_fail(err, errlen, "bad %s", ATTR_ENVID);
		o->envid = xstrndup(a->val, a->len);
	}
	for (size_t k = 0; k < m->nattr; k++) {
		a = &m->attr[k];
		if (strcmp(a->name, ATTR_RCPT) == 0) {
			i++;
			continue;
		}
		if (strcmp(a->name, ATTR_NOTIFY) != 0 &&
		    strcmp(a->name, ATTR_ORCPT) != 0)
			continue;
		if (i == 0 || i > o->nrcpt)
			return pr_fail(err, errlen, "%s before any %s",
			    a->name, ATTR_RCPT);
		if (o->notify == NULL) {
			o->notify = xcalloc(o->nrcpt, sizeof(int));
			o->orcpt = xcalloc(o->nrcpt, sizeof(char *));
		}
		if (rcpt_attr(a, o, i - 1, err, errlen) == -1)
			return -1;
	}
	return 0;
}

void
dsn_open_free(struct cleanup_open *o)
{
	free(o->envid);
	if (o->orcpt)
		for (size_t i = 0; i < o->nrcpt; i++)
			free(o->orcpt[i]);
	free(o->orcpt);
	free(o->notify);
	o->envid = NULL;
	o->orcpt = NULL;
	o->notify = NULL;
}
