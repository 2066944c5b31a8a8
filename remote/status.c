/*
 * remote status: what each recipient is told. Texts are "X.Y.Z text",
 * bounded and cleaned of control bytes (a remote server's words reach the
 * queue file and the log); nothing here talks to the network.
 */
#include <stdarg.h>
#include <time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "remote.h"

/* snprintf that may cut (texts are bounded on purpose); never fails. */
void
fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;

	if (len == 0)
		return;
	va_start(ap, f);
	if (vsnprintf(out, len, f, ap) < 0)
		out[0] = '\0';
	va_end(ap);
}

/* Copy s into out (size outlen), replacing non-printable bytes. */
void
clean_copy(char *out, size_t outlen, const char *s)
{
	size_t o = 0;

	for (; *s && o + 1 < outlen; s++) {
		unsigned char c = (unsigned char)*s;
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
}

/*
 * out = "DSN PREFIX BODY SUFFIX", within TEXT_MAX; BODY is cut first so
 * the suffix "(in reply to ... command)" survives.
 */
void
make_text(char *out, const char *dsn, const char *prefix, const char *body,
    const char *suffix)
{
	char b[TEXT_MAX];
	size_t fixed = strlen(dsn) + 1 + strlen(prefix) + strlen(suffix);
	size_t room = fixed < TEXT_MAX - 1 ? TEXT_MAX - 1 - fixed : 0;

	clean_copy(b, room + 1 < sizeof(b) ? room + 1 : sizeof(b), body);
	fmt(out, TEXT_MAX, "%s %s%s%s", dsn, prefix, b, suffix);
}

/*
 * A recipient's final answer for this delivery: record it and log it.
 * text goes to qmgr as "DSN text"; logtext (or text) goes to the log.
 */
void
rcpt_final(struct job *j, size_t i, enum dstat st, int code, const char *dsn,
    const char *text, const char *logtext)
{
	const struct agent_rcpt *r = &j->a->rcpt[i];
	struct dstatus ds;
	struct timespec ts;
	double delay;
	size_t dl = strlen(dsn) + 1;
	char cu[32];

	if (r->answered)
		return;
	ds.stat = st;
	ds.code = code;
	ds.relayed = st != DS_SENT ? 0 : j->peer_dsn ? DSTATUS_PASSED :
	    DSTATUS_RELAYED;
	make_text(ds.text, dsn, "", text, "");
	agent_report(j->a, i, &ds);
	clock_gettime(CLOCK_REALTIME, &ts);
	delay = (double)ts.tv_sec + ts.tv_nsec / 1e9 -
	    (double)j->q->arrival_us / 1e6;
	if (delay < 0)
		delay = 0;
	if (j->conn_use > 1)
		fmt(cu, sizeof(cu), ", conn_use=%d", j->conn_use);
	else
		cu[0] = '\0';
	log_info("%s: to=<%s>, relay=%s%s, delay=%.1f, dsn=%s, status=%s (%s)",
	    j->id, r->addr ? r->addr : "?", j->relay, cu, delay, dsn,
	    dstat_word(st), logtext ? logtext :
	    strlen(ds.text) >= dl ? ds.text + dl : ds.text);
}

/* Every recipient still open gets the same answer. */
void
final_all(struct job *j, enum dstat st, int code, const char *dsn,
    const char *text)
{
	for (size_t i = 0; i < j->a->nrcpt; i++)
		rcpt_final(j, i, st, code, dsn, text, NULL);
}

void
set_last(struct job *j, enum dstat st, int code, const char *dsn,
    const char *f, ...)
{
	char tmp[TEXT_MAX], text[TEXT_MAX];
	va_list ap;

	va_start(ap, f);
	if (vsnprintf(tmp, sizeof(tmp), f, ap) < 0)
		tmp[0] = '\0';
	va_end(ap);
	clean_copy(text, sizeof(text), tmp);
	dstatus_set(&j->last, st, code, "%s %s", dsn, text);
	j->last_conn = 0;
}

/*
 * The last try's error (just set) is the next hop's, at the connection
 * level: no address, no connection, or a session refused, lost or failed
 * before MAIL (greeting, EHLO, TLS that remote_tls requires). qmgr shrinks
 * the destination's window on it, and declares it dead after a cohort of
 * them; a recipient's or a message's own 4xx/5xx is never one.
 */
void
conn_failed(struct job *j)
{
	j->last_conn = 1;
}

/* Every recipient still open gets the last try's error. */
void
final_last(struct job *j)
{
	char dsn[16];
	const char *text = j->last.text;
	size_t n = strcspn(text, " ");

	fmt(dsn, sizeof(dsn), "%.*s", (int)n, text);
	text += n;
	text += strspn(text, " ");
	j->a->conn_fail = j->last_conn;
	final_all(j, j->last.stat, j->last.code, dsn, text);
	j->a->conn_fail = 0;
}

/* DSN for a server reply: its own enhanced code if sane, else X.0.0. */
void
reply_dsn(const struct smtp_reply *r, char *out, size_t len)
{
	int cls = r->code / 100;

	if (r->esc[0] != '\0' && r->esc[0] - '0' == cls)
		fmt(out, len, "%s", r->esc);
	else
		fmt(out, len, "%d.0.0", cls == 2 || cls == 5 ? cls : 4);
}

/* Answer recipient i (or, with i == (size_t)-1, all open ones) from a
 * server reply: "host H[IP] said: REPLY (in reply to WHAT command)". */
void
final_reply(struct job *j, size_t i, const struct smtp_reply *r,
    const char *what)
{
	char dsn[16], flat[SMTP_REPLY_TEXT_MAX], text[TEXT_MAX];
	char prefix[400], suffix[64];
	enum dstat st;
	int code = r->code;

	reply_dsn(r, dsn, sizeof(dsn));
	smtp_reply_flat(r, flat, sizeof(flat));
	fmt(prefix, sizeof(prefix), "host %s[%s] said: ", j->host, j->ip);
	fmt(suffix, sizeof(suffix), " (in reply to %s command)", what);
	make_text(text, dsn, prefix, flat, suffix);
	if (code >= 500)
		st = DS_BOUNCE;
	else if (code >= 400)
		st = DS_DEFER;
	else {			/* a 2xx/3xx where it makes no sense */
		st = DS_DEFER;
		fmt(dsn, sizeof(dsn), "4.5.0");
		make_text(text, dsn, prefix, flat, suffix);
	}
	if (i == (size_t)-1)
		final_all(j, st, code, dsn, text + strlen(dsn) + 1);
	else
		rcpt_final(j, i, st, code, dsn, text + strlen(dsn) + 1, NULL);
}

void
last_from_reply(struct job *j, const struct smtp_reply *r, const char *f,
    const char *what)
{
	char dsn[16], flat[SMTP_REPLY_TEXT_MAX];

	reply_dsn(r, dsn, sizeof(dsn));
	smtp_reply_flat(r, flat, sizeof(flat));
	if (r->code / 100 != 5 && r->code / 100 != 4)
		fmt(dsn, sizeof(dsn), "4.5.0");
	set_last(j, r->code / 100 == 5 ? DS_BOUNCE : DS_DEFER, r->code, dsn,
	    f, j->host, j->ip, flat, what);
}
