/*
 * dsn: bounce, delay and success notices (RFC 3464 multipart/report),
 * from MAILER-DAEMON, never to the null sender. Honours what the sender
 * asked for (RFC 3461: NOTIFY, RET, ENVID, ORCPT).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "dsn.h"
#include "log.h"
#include "stats.h"
#include "xtext.h"

#define DSN_MAX_RETURN	(1024 * 1024)	/* return whole messages up to this */

/* "5.1.1 text" -> "5.1.1"; else the default. */
static void
status_of(const char *err, const char *dflt, char *out, size_t len)
{
	int a, b, c, n = 0;

	if (sscanf(err, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 && n > 0 &&
	    (err[n] == ' ' || err[n] == '\0') && (a == 2 || a == 4 || a == 5))
		snprintf(out, len, "%d.%d.%d", a, b, c);
	else
		snprintf(out, len, "%s", dflt);
}

/* "4 hours", "5 days", "90 seconds": the largest unit that divides. */
static void
duration(uint64_t s, char *out, size_t len)
{
	static const struct { uint64_t n; const char *unit; } u[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" },
	};

	for (size_t i = 0; i < 4; i++)
		if (s >= u[i].n && s % u[i].n == 0) {
			snprintf(out, len, "%llu %s%s", (unsigned long long)(s / u[i].n),
			    u[i].unit, s / u[i].n == 1 ? "" : "s");
			return;
		}
	snprintf(out, len, "%llu seconds", (unsigned long long)s);
}

/* Does this notice report on r? A bounce: the recipients that failed
 * (QR_FAILED, not yet reported); a delay notice: those still pending; a
 * success notice: those delivered with one due. Each only when the
 * recipient's NOTIFY asks for it (none given: failures and delays). */
static int
reported(const struct qrcpt *r, enum dstat kind)
{
	switch (kind) {
	case DS_BOUNCE:
		return r->status == QR_FAILED && (r->notify == 0 ||
		    (r->notify & DSN_NOTIFY_FAILURE));
	case DS_DEFER:
		return r->status == QR_PENDING && (r->notify == 0 ||
		    (r->notify & DSN_NOTIFY_DELAY));
	default:
		return r->status == QR_SENT_NOTIFY ||
		    r->status == QR_RELAYED_NOTIFY;
	}
}

static const char *
subject_of(enum dstat kind)
{
	return kind == DS_BOUNCE ? "Undelivered Mail Returned to Sender" :
	    kind == DS_DEFER ? "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report";
}

/* The message headers and the human-readable part's opening. */
static void
dsn_head(const struct conf *c, const struct qfile *q, enum dstat kind,
    const char *new_id, const char *to, struct buf *out)
{
	char date[64];
	date_rfc5322(date, sizeof(date), time(NULL));
	buf_printf(out,
	    "From: MAILER-DAEMON@%s (Mail Delivery System)\n"
	    "To: <%s>\n"
	    "Subject: %s\n"
	    "Date: %s\n"
	    "Message-ID: <%s.dsn@%s>\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s/%s\"\n"
	    "\n"
	    "This is a MIME-encapsulated message.\n"
	    "\n"
	    "--%s/%s\n"
	    "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "\n"
	    "This is the mail system at host %s.\n\n",
	    c->hostname, to, subject_of(kind), date, new_id, c->hostname,
	    new_id, c->hostname, new_id,
	    c->hostname, c->hostname);
	if (kind == DS_BOUNCE)
		buf_puts(out, "I'm sorry to have to inform you that your message "
		    "could not\nbe delivered to one or more recipients. "
		    "It's attached below.\n\n");
	else if (kind == DS_SENT)
		buf_puts(out, "Your message was delivered to the recipients "
		    "listed below, as you\nasked (NOTIFY=SUCCESS). Its "
		    "headers are attached below.\n\n");
	else {
		char dw[32], ql[32];
		duration(c->delay_warning, dw, sizeof(dw));
		duration(c->queue_lifetime, ql, sizeof(ql));
		buf_printf(out, "Your message could not be delivered for %s.\n"
		    "It will be retried until it is %s old.\n\n", dw, ql);
	}
}

/* One per-recipient block of the message/delivery-status part. */
static void
dsn_rcpt_status(const struct qrcpt *r, enum dstat kind, struct buf *out)
{
	int failed = kind == DS_BOUNCE;
	const char *said, *action;
	char st[16];

	if (kind == DS_SENT)
		snprintf(st, sizeof(st), "2.0.0");
	else
		status_of(r->error, failed ? "5.0.0" : "4.0.0", st,
		    sizeof(st));
	action = failed ? "failed" : kind == DS_DEFER ? "delayed" :
	    r->status == QR_RELAYED_NOTIFY ? "relayed" : "delivered";
	buf_putc(out, '\n');
	if (r->orcpt)	/* RFC 3464 2.3.1: as ORCPT gave it, decoded */
		buf_printf(out, "Original-Recipient: %s\n", r->orcpt);
	buf_printf(out, "Final-Recipient: rfc822; %s\n"
	    "Action: %s\nStatus: %s\n", r->addr, action, st);
	if (kind == DS_SENT)
		return;
	if ((said = strstr(r->error, " said: ")) != NULL) {
		/* The peer's own reply, without our "(in reply to ...)". */
		said += 7;
		const char *end = strstr(said, " (in reply to ");
		int len = end ? (int)(end - said) : (int)strlen(said);
		buf_printf(out, "Diagnostic-Code: smtp; %.*s\n", len, said);
	} else if (r->code >= 200 && r->code <= 599)
		buf_printf(out, "Diagnostic-Code: smtp; %d %s\n", r->code,
		    r->error);
	else if (r->error[0])
		buf_printf(out, "Diagnostic-Code: x-postern; %s\n", r->error);
}

/* The original: whole when small and a bounce, else its headers. */
static void
dsn_original(const struct qfile *q, int cfd, int whole, struct buf *out)
{
	size_t want = q->content_len < DSN_MAX_RETURN ? q->content_len :
	    DSN_MAX_RETURN;
	char *tmp;
	ssize_t got;

	if (cfd == -1 || q->content_len == 0)
		return;
	tmp = xmalloc(want + 1);
	if ((got = pread(cfd, tmp, want, q->content_off)) > 0) {
		size_t len = (size_t)got;
		if (!whole) {	/* headers only: up to the blank line */
			char *e = memmem(tmp, len, "\n\n", 2);
			if (e)
				len = (size_t)(e - tmp) + 1;
		}
		buf_append(out, tmp, len);
		if (tmp[len - 1] != '\n')
			buf_putc(out, '\n');
	}
	free(tmp);
}

int
dsn_format(const struct conf *c, const struct qfile *q, int cfd,
    enum dstat kind, const char *new_id, const char *to, struct buf *out)
{
	char arr[64];
	const char *bnd = new_id;
	/* The whole message only in a bounce, and not when RET=HDRS. */
	int whole = kind == DS_BOUNCE && q->ret != DSN_RET_HDRS &&
	    q->content_len <= DSN_MAX_RETURN;
	size_t n = 0;

	dsn_head(c, q, kind, new_id, to, out);
	for (size_t i = 0; i < q->nrcpt; i++) {
		const struct qrcpt *r = &q->rcpt[i];
		if (!reported(r, kind))
			continue;
		if (kind == DS_SENT)
			buf_printf(out, "<%s>: %s\n", r->addr,
			    r->status == QR_RELAYED_NOTIFY ? "relayed to a "
			    "next hop that does not report delivery" :
			    "delivered to the mailbox");
		else
			buf_printf(out, "<%s>: %s\n", r->addr,
			    r->error[0] ? r->error : "no reason given");
		n++;
	}
	date_rfc5322(arr, sizeof(arr), (time_t)(q->arrival_us / 1000000));
	buf_printf(out, "\n--%s/%s\n"
	    "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n"
	    "\n", bnd, c->hostname);
	if (q->envid)	/* RFC 3464 2.2.1, decoded (lib/xtext.h) */
		buf_printf(out, "Original-Envelope-Id: %s\n", q->envid);
	buf_printf(out, "Reporting-MTA: dns; %s\n"
	    "X-Postern-Queue-ID: %s\n"
	    "Arrival-Date: %s\n",
	    c->hostname, q->id[0] ? q->id : "unknown", arr);
	for (size_t i = 0; i < q->nrcpt; i++)
		if (reported(&q->rcpt[i], kind))
			dsn_rcpt_status(&q->rcpt[i], kind, out);
	buf_printf(out, "\n--%s/%s\n"
	    "Content-Description: %s\n"
	    "Content-Type: %s\n\n", bnd, c->hostname,
	    whole ? "Undelivered Message" : "Message Headers",
	    whole ? "message/rfc822" : "text/rfc822-headers");
	dsn_original(q, cfd, whole, out);
	buf_printf(out, "\n--%s/%s--\n", bnd, c->hostname);
	return n ? 0 : -1;
}

int
dsn_send(const struct conf *c, int dirfd, const struct qfile *q, int cfd,
    enum dstat kind)
{
	struct qwriter w;
	struct buf out;
	char to[QF_MAX_ADDR + 1], id[QID_LEN + 1];
	int r;

	if (*q->sender) {
		snprintf(to, sizeof(to), "%s", q->sender);
	} else if (kind != DS_BOUNCE) {
		return 0;	/* RFC 3461 6.1: never to the null sender */
	} else {
		if (q->flags & QF_BOUNCE) {
			/* Already a notice to postmaster that bounced: drop. */
			log_warn("%s: undeliverable postmaster notification "
			    "discarded", q->id);
			return 0;
		}
		snprintf(to, sizeof(to), "postmaster@%s", c->hostname);
	}
	if (qfile_create(&w, dirfd, clock_us(), *q->sender ? 0 : QF_BOUNCE,
	    "", NULL) == -1)
		return -1;
	buf_init(&out, DSN_MAX_RETURN + 256 * 1024);
	if (dsn_format(c, q, cfd, kind, w.id, to, &out) == -1) {
		buf_free(&out);
		qfile_abort(&w);
		return 0;	/* nothing to report */
	}
	r = qfile_content_write(&w, out.data, out.len);
	buf_free(&out);
	if (r == -1 || qfile_content_end(&w) == -1 ||
	    qfile_add_rcpt(&w, to) == -1 || qfile_commit(&w, id) == -1) {
		qfile_abort(&w);
		return -1;
	}
	if (kind == DS_BOUNCE)
		stats_count(PSTAT_BOUNCES, 1);
	log_info("%s: sender %s notification: %s", q->id,
	    kind == DS_BOUNCE ? "non-delivery" : kind == DS_DEFER ? "delay" :
	    "delivery status", id);
	return 0;
}
