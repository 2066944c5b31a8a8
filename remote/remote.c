/*
 * remote: the SMTP delivery agent. qmgr hands it one message and a list of
 * recipient indexes (private/remote, docs/internals.md "delivery agents");
 * it talks SMTP (RFC 5321) to the next hop and answers one status per
 * recipient. Runs as the unprivileged user and only ever reads the queue:
 * it must never write, move or delete a queue file (qmgr alone does that),
 * and must never trust a byte the remote server sends.
 *
 * Master runs a pool of these processes, each doing one delivery at a
 * time with blocking I/O and poll()-based timeouts. A session that ended
 * cleanly is kept open for a few seconds (a small per-process cache keyed
 * by the next hop) and reused, after an RSET, for the next message to the
 * same next hop; a bare-domain next hop is resolved by MX (lib/dns.c: best
 * preference first, A/AAAA of the domain without MX, never to ourselves).
 * STARTTLS per remote_tls (tls_client.c) and AUTH with the remote_auth
 * credentials, which are sent only over TLS (unless remote_tls = none) and
 * must never reach a log line or a status text.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "dns.h"
#include "ipc.h"
#include "log.h"
#include "qfile.h"
#include "smtp_reply.h"
#include "tls_client.h"
#include "worker.h"

/* Timeouts, seconds (Postfix's smtp_*_timeout defaults). */
#define CONNECT_TIMEOUT	30
#define GREET_TIMEOUT	300
#define HELO_TIMEOUT	300
#define MAIL_TIMEOUT	300
#define RCPT_TIMEOUT	300
#define DATA_TIMEOUT	120	/* the 354 to DATA */
#define XFER_TIMEOUT	180	/* each write of the message body */
#define FINAL_TIMEOUT	600	/* the reply to end of data */
#define QUIT_TIMEOUT	30
#define TLS_TIMEOUT	300	/* STARTTLS reply and handshake */
#define AUTH_TIMEOUT	300
#define RSET_TIMEOUT	30	/* before reusing a cached session */
#define IDLE_QUIT_TIMEOUT 5	/* QUIT of an expired cached session */
#define IPC_TIMEOUT_MS	30000

#define MAX_ADDRS	10	/* addresses tried per next hop */
#define PIPE_GROUP	50	/* commands per pipelined group (keeps both
				   directions' socket buffers from filling) */
#define TEXT_MAX	230	/* status text to qmgr (queue files store 240) */
#define CHUNK		65536
#define CRED_MAX	256	/* user name or password, octets */
#define AUTH_LINE_MAX	1024	/* a remote_auth line */
#define CACHE_MAX	4	/* idle sessions kept per process */
#define CACHE_IDLE_MS	5000	/* how long one is kept */
#define CACHE_MAX_USES	100	/* transactions per connection */

enum rstat { R_PENDING, R_ACCEPTED, R_SENT, R_DEFER, R_BOUNCE };

struct rcpt {
	long		 idx;
	const char	*addr;		/* into the qfile; NULL if bad index */
	enum rstat	 st;
	int		 code;
	int		 dup;		/* index repeated in the request */
	char		 text[TEXT_MAX];
};

/* What happens to every recipient still pending when a try ends. */
struct err {
	enum rstat	 st;		/* R_DEFER or R_BOUNCE */
	int		 code;
	char		 dsn[16];
	char		 text[TEXT_MAX];	/* without the dsn */
};

struct job {
	char		 id[QID_LEN + 1];
	char		 nexthop[300];
	struct qfile	 q;
	int		 qfd;
	struct rcpt	*r;
	size_t		 nr;
	size_t		 npending;	/* R_PENDING or R_ACCEPTED */
	int		 eightbit;	/* content has bytes > 127 */
	int		 utf8addr;	/* an address has bytes > 127 */
	size_t		 nlines;	/* LFs in the content */
	/* the current try */
	char		 host[256];
	char		 ip[64];
	unsigned	 port;
	char		 relay[340];	/* "host[ip]:port" or "none" */
	int		 conn_use;	/* transactions on this connection */
	struct err	 last;		/* why the last try failed */
	/* AUTH credentials for this next hop (remote_auth), if any */
	int		 has_cred;
	char		 cred_user[CRED_MAX];
	char		 cred_pass[CRED_MAX];
};

/* One SMTP connection. */
struct conn {
	int		 fd;
	struct tlsc	*tls;		/* after STARTTLS */
	char		 in[8192];
	size_t		 inlen;
	const char	*stage;		/* "sending RCPT TO", for errors */
	enum { C_OK, C_TIMEOUT, C_LOST, C_PROTO } err;
	const char	*why;		/* C_PROTO detail */
	int		 saw421;	/* the server is closing: never reuse */
	int		 keep;		/* the last transaction left it usable */
};

/*
 * An idle session kept for the next message to the same next hop, with
 * everything learnt on it (address, TLS, EHLO, AUTH). The password is
 * never kept: a session is reused only for the same remote_auth user.
 */
struct cached {
	int		 used;
	char		 nexthop[300];
	char		 host[256];
	char		 ip[64];
	unsigned	 port;
	int		 has_cred;
	char		 cred_user[CRED_MAX];
	struct smtp_ehlo e;
	struct conn	 c;
	int		 uses;		/* transactions done on it */
	long long	 idle_since;	/* now_ms() */
};

static struct cached	 cache[CACHE_MAX];

static struct worker	 wk;

/* snprintf that may cut (texts are bounded on purpose); never fails. */
static void
fmt(char *out, size_t len, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void
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

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copy s into out (size outlen), replacing non-printable bytes. */
static void
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
static void
make_text(char *out, const char *dsn, const char *prefix, const char *body,
    const char *suffix)
{
	char b[TEXT_MAX];
	size_t fixed = strlen(dsn) + 1 + strlen(prefix) + strlen(suffix);
	size_t room = fixed < TEXT_MAX - 1 ? TEXT_MAX - 1 - fixed : 0;

	clean_copy(b, room + 1 < sizeof(b) ? room + 1 : sizeof(b), body);
	fmt(out, TEXT_MAX, "%s %s%s%s", dsn, prefix, b, suffix);
}

static const char *
stat_word(enum rstat st)
{
	switch (st) {
	case R_SENT:
		return "sent";
	case R_BOUNCE:
		return "bounced";
	default:
		return "deferred";
	}
}

/*
 * A recipient's final answer for this delivery: record it and log it.
 * text goes to qmgr as "DSN text"; logtext (or text) goes to the log.
 */
static void
rcpt_final(struct job *j, size_t i, enum rstat st, int code, const char *dsn,
    const char *text, const char *logtext)
{
	struct rcpt *r = &j->r[i];
	struct timespec ts;
	double delay;
	size_t dl = strlen(dsn) + 1;
	char cu[32];

	if (r->st != R_PENDING && r->st != R_ACCEPTED)
		return;
	r->st = st;
	r->code = code;
	make_text(r->text, dsn, "", text, "");
	j->npending--;
	if (r->addr == NULL)	/* no queue file: the caller logged why */
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	delay = (double)ts.tv_sec + ts.tv_nsec / 1e9 -
	    (double)j->q.arrival_us / 1e6;
	if (delay < 0)
		delay = 0;
	if (j->conn_use > 1)
		fmt(cu, sizeof(cu), ", conn_use=%d", j->conn_use);
	else
		cu[0] = '\0';
	log_info("%s: to=<%s>, relay=%s%s, delay=%.1f, dsn=%s, status=%s (%s)",
	    j->id, r->addr ? r->addr : "?", j->relay, cu, delay, dsn,
	    stat_word(st), logtext ? logtext :
	    strlen(r->text) >= dl ? r->text + dl : r->text);
}

/* Every recipient still open gets the same answer. */
static void
final_all(struct job *j, enum rstat st, int code, const char *dsn,
    const char *text)
{
	for (size_t i = 0; i < j->nr; i++)
		rcpt_final(j, i, st, code, dsn, text, NULL);
}

static void
set_last(struct job *j, enum rstat st, int code, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
set_last(struct job *j, enum rstat st, int code, const char *dsn,
    const char *f, ...)
{
	char tmp[TEXT_MAX];
	va_list ap;

	j->last.st = st;
	j->last.code = code;
	fmt(j->last.dsn, sizeof(j->last.dsn), "%s", dsn);
	va_start(ap, f);
	if (vsnprintf(tmp, sizeof(tmp), f, ap) < 0)
		tmp[0] = '\0';
	va_end(ap);
	clean_copy(j->last.text, sizeof(j->last.text), tmp);
}

/* ---- SMTP connection I/O ---- */

static int
wait_fd(struct conn *c, short ev, long long deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = ev };

	for (;;) {
		long long left = deadline - now_ms();
		int r;

		if (left <= 0) {
			c->err = C_TIMEOUT;
			return -1;
		}
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR) {
			c->err = C_LOST;
			return -1;
		}
	}
}

/* One send or TLS write; -1 with errno EAGAIN and *want set to wait. */
static ssize_t
conn_send(struct conn *c, const char *p, size_t len, short *want)
{
	ssize_t n;

	if (c->tls != NULL)
		return tlsc_write(c->tls, p, len, want);
	*want = POLLOUT;
	n = send(c->fd, p, len, MSG_NOSIGNAL);
	if (n == -1 && errno == EWOULDBLOCK)
		errno = EAGAIN;
	return n;
}

static int
conn_write(struct conn *c, const char *p, size_t len, int timeout_s)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000;

	while (len > 0) {
		short want = POLLOUT;
		ssize_t n = conn_send(c, p, len, &want);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (wait_fd(c, want, deadline) == -1)
					return -1;
				continue;
			}
			c->err = C_LOST;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		/* a slow but moving peer gets a fresh timeout per write */
		deadline = now_ms() + (long long)timeout_s * 1000;
	}
	return 0;
}

/* Read one complete reply (all its lines) within timeout_s. */
static int
conn_reply(struct conn *c, struct smtp_reply *r, int timeout_s)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000;

	smtp_reply_init(r);
	for (;;) {
		char *lf = memchr(c->in, '\n', c->inlen);

		if (lf != NULL) {
			size_t ll = (size_t)(lf - c->in);
			int rv = smtp_reply_line(r, c->in, ll, &c->why);

			memmove(c->in, lf + 1, c->inlen - ll - 1);
			c->inlen -= ll + 1;
			if (rv == -1) {
				c->err = C_PROTO;
				return -1;
			}
			if (rv == 1) {
				if (r->code == 421)
					c->saw421 = 1;
				return 0;
			}
			continue;
		}
		if (c->inlen >= SMTP_REPLY_MAX_LINE) {
			c->err = C_PROTO;
			c->why = "reply line too long";
			return -1;
		}
		short want = POLLIN;
		ssize_t n;

		if (c->tls != NULL)
			n = tlsc_read(c->tls, c->in + c->inlen,
			    sizeof(c->in) - c->inlen, &want);
		else {
			n = read(c->fd, c->in + c->inlen,
			    sizeof(c->in) - c->inlen);
			if (n == -1 && errno == EWOULDBLOCK)
				errno = EAGAIN;
		}
		if (n == 0) {
			c->err = C_LOST;
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (wait_fd(c, want, deadline) == -1)
					return -1;
				continue;
			}
			c->err = C_LOST;
			return -1;
		}
		c->inlen += (size_t)n;
	}
}

/* Send one command line (CRLF added) and read its reply. */
static int
conn_cmd(struct conn *c, struct smtp_reply *r, int timeout_s,
    const char *stage, const char *cmd)
{
	char line[1100];
	int n, rv;

	c->stage = stage;
	n = snprintf(line, sizeof(line), "%s\r\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		explicit_bzero(line, sizeof(line));
		c->err = C_PROTO;
		c->why = "command too long";
		return -1;
	}
	rv = conn_write(c, line, (size_t)n, timeout_s);
	explicit_bzero(line, (size_t)n);	/* it may have been AUTH */
	if (rv == -1)
		return -1;
	return conn_reply(c, r, timeout_s);
}

/* The text for a failed conversation: "lost connection with H[IP] while X". */
static void
conn_errtext(const struct job *j, const struct conn *c, char *out, size_t len)
{
	switch (c->err) {
	case C_TIMEOUT:
		fmt(out, len, "conversation with %s[%s] timed out while %s",
		    j->host, j->ip, c->stage);
		break;
	case C_PROTO:
		fmt(out, len, "protocol error with %s[%s] while %s: %s",
		    j->host, j->ip, c->stage, c->why ? c->why : "?");
		break;
	default:
		fmt(out, len, "lost connection with %s[%s] while %s",
		    j->host, j->ip, c->stage);
		break;
	}
}

/* DSN for a server reply: its own enhanced code if sane, else X.0.0. */
static void
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
static void
final_reply(struct job *j, size_t i, const struct smtp_reply *r,
    const char *what)
{
	char dsn[16], flat[SMTP_REPLY_TEXT_MAX], text[TEXT_MAX];
	char prefix[400], suffix[64];
	enum rstat st;
	int code = r->code;

	reply_dsn(r, dsn, sizeof(dsn));
	smtp_reply_flat(r, flat, sizeof(flat));
	fmt(prefix, sizeof(prefix), "host %s[%s] said: ", j->host, j->ip);
	fmt(suffix, sizeof(suffix), " (in reply to %s command)", what);
	make_text(text, dsn, prefix, flat, suffix);
	if (code >= 500)
		st = R_BOUNCE;
	else if (code >= 400)
		st = R_DEFER;
	else {			/* a 2xx/3xx where it makes no sense */
		st = R_DEFER;
		fmt(dsn, sizeof(dsn), "4.5.0");
		make_text(text, dsn, prefix, flat, suffix);
	}
	if (i == (size_t)-1)
		final_all(j, st, code, dsn, text + strlen(dsn) + 1);
	else
		rcpt_final(j, i, st, code, dsn, text + strlen(dsn) + 1, NULL);
}

/* ---- the SMTP dialogue ---- */

enum try_result { TRY_DONE, TRY_NEXT };

static void
quit_within(struct conn *c, int timeout_s)
{
	struct smtp_reply r;

	(void)conn_cmd(c, &r, timeout_s, "sending QUIT", "QUIT");
}

static void
quit(struct conn *c)
{
	quit_within(c, QUIT_TIMEOUT);
}

/* Does the first word of text (a greeting or EHLO reply) name us? */
static int
names_me(const char *text)
{
	size_t n = strcspn(text, " \n");

	return n > 0 && n == strlen(wk.conf.hostname) &&
	    strncasecmp(text, wk.conf.hostname, n) == 0;
}

/* After MAIL was sent: a broken connection defers whatever is open. */
static enum try_result
session_lost(struct job *j, struct conn *c)
{
	char t[TEXT_MAX];

	conn_errtext(j, c, t, sizeof(t));
	final_all(j, R_DEFER, 421, "4.4.2", t);
	return TRY_DONE;
}

/* Before MAIL: the try failed softly, the next address may do better. */
static enum try_result
greet_lost(struct job *j, struct conn *c)
{
	char t[TEXT_MAX];

	conn_errtext(j, c, t, sizeof(t));
	set_last(j, R_DEFER, 421, "4.4.2", "%s", t);
	return TRY_NEXT;
}

static void
last_from_reply(struct job *j, const struct smtp_reply *r, const char *f,
    const char *what)
{
	char dsn[16], flat[SMTP_REPLY_TEXT_MAX];

	reply_dsn(r, dsn, sizeof(dsn));
	smtp_reply_flat(r, flat, sizeof(flat));
	if (r->code / 100 != 5 && r->code / 100 != 4)
		fmt(dsn, sizeof(dsn), "4.5.0");
	set_last(j, r->code / 100 == 5 ? R_BOUNCE : R_DEFER, r->code, dsn,
	    f, j->host, j->ip, flat, what);
}

static int
addr_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s > 127)
			return 1;
	return 0;
}

/* Send the content: LF -> CRLF, dot-stuffing, then CRLF.CRLF. */
static int
send_body(struct job *j, struct conn *c)
{
	char *in = xmalloc(CHUNK), *out = xmalloc(2 * CHUNK + 8);
	size_t pos = 0, o;
	int bol = 1, cr = 0, rv = -1;

	c->stage = "sending message body";
	while (pos < j->q.content_len) {
		size_t want = j->q.content_len - pos;
		ssize_t n;

		if (want > CHUNK)
			want = CHUNK;
		n = pread(j->qfd, in, want, j->q.content_off + (off_t)pos);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			log_error("%s: read queue file: %s", j->id,
			    n == 0 ? "short file" : strerror(errno));
			c->err = C_PROTO;
			c->why = "queue file read error";
			goto done;
		}
		pos += (size_t)n;
		o = 0;
		for (ssize_t k = 0; k < n; k++) {
			char ch = in[k];

			if (cr) {	/* a CR held back: CRLF is one line end */
				cr = 0;
				if (ch != '\n') {
					out[o++] = '\r';
					bol = 0;
				}
			}
			if (ch == '\r') {
				cr = 1;
				continue;
			}
			if (ch == '\n') {
				out[o++] = '\r';
				out[o++] = '\n';
				bol = 1;
				continue;
			}
			if (bol && ch == '.')
				out[o++] = '.';
			out[o++] = ch;
			bol = 0;
		}
		if (conn_write(c, out, o, XFER_TIMEOUT) == -1)
			goto done;
	}
	o = 0;
	if (cr) {
		out[o++] = '\r';
		bol = 0;
	}
	if (!bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	c->stage = "sending end of data -- message may be sent more than once";
	rv = conn_write(c, out, o, XFER_TIMEOUT);
done:
	free(in);
	free(out);
	return rv;
}

/* MAIL, RCPTs (pipelined in groups when offered). Returns 0 to go on to
 * DATA, 1 when the transaction ended (answers given), -1 on I/O error. */
static int
envelope(struct job *j, struct conn *c, const struct smtp_ehlo *e)
{
	struct buf cmds;
	struct smtp_reply r;
	size_t *who, nwho, next = 0;
	int mail_sent = 0, mail_ok = 0, naccepted = 0;
	int group = e->pipelining ? PIPE_GROUP : 1;

	buf_init(&cmds, (size_t)PIPE_GROUP * 1100 + 64);
	who = xreallocarray(NULL, (size_t)PIPE_GROUP, sizeof(size_t));
	while (!mail_sent || next < j->nr) {
		buf_reset(&cmds);
		nwho = 0;
		if (!mail_sent) {
			(void)buf_printf(&cmds, "MAIL FROM:<%s>", j->q.sender);
			if (e->size)
				(void)buf_printf(&cmds, " SIZE=%zu",
				    j->q.content_len + j->nlines);
			if (j->eightbit && e->eightbitmime)
				(void)buf_puts(&cmds, " BODY=8BITMIME");
			if (j->utf8addr && e->smtputf8)
				(void)buf_puts(&cmds, " SMTPUTF8");
			(void)buf_puts(&cmds, "\r\n");
			who[nwho++] = (size_t)-1;
			mail_sent = 1;
		}
		for (; next < j->nr && nwho < (size_t)group; next++) {
			if (j->r[next].st != R_PENDING)
				continue;
			if (buf_printf(&cmds, "RCPT TO:<%s>\r\n",
			    j->r[next].addr) == -1)
				break;
			who[nwho++] = next;
		}
		if (nwho == 0)
			break;
		c->stage = who[0] == (size_t)-1 ? "sending MAIL FROM" :
		    "sending RCPT TO";
		if (conn_write(c, cmds.data, cmds.len, RCPT_TIMEOUT) == -1)
			goto lost;
		for (size_t k = 0; k < nwho; k++) {
			c->stage = who[k] == (size_t)-1 ? "sending MAIL FROM" :
			    "sending RCPT TO";
			if (conn_reply(c, &r, who[k] == (size_t)-1 ?
			    MAIL_TIMEOUT : RCPT_TIMEOUT) == -1)
				goto lost;
			if (who[k] == (size_t)-1) {
				if (r.code / 100 == 2)
					mail_ok = 1;
				else
					final_reply(j, (size_t)-1, &r,
					    "MAIL FROM");
			} else if (!mail_ok)
				;	/* pipelined after a failed MAIL */
			else if (r.code / 100 == 2) {
				j->r[who[k]].st = R_ACCEPTED;
				naccepted++;
			} else
				final_reply(j, who[k], &r, "RCPT TO");
		}
		if (!mail_ok)
			break;
	}
	buf_free(&cmds);
	free(who);
	return mail_ok && naccepted > 0 ? 0 : 1;
lost:
	buf_free(&cmds);
	free(who);
	return -1;
}

/*
 * EHLO (HELO when EHLO gets a 5xx and helo_ok is set): 0 to go on with
 * *e filled, -1 with *res set when this try is over.
 */
static int
hello(struct job *j, struct conn *c, struct smtp_ehlo *e, int helo_ok,
    enum try_result *res)
{
	struct smtp_reply r;
	char cmd[600];

	fmt(cmd, sizeof(cmd), "EHLO %s", wk.conf.hostname);
	if (conn_cmd(c, &r, HELO_TIMEOUT, "performing the EHLO handshake",
	    cmd) == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code / 100 == 2) {
		smtp_ehlo_parse(&r, e);
		if (names_me(r.text)) {
			set_last(j, R_DEFER, 451, "4.4.6",
			    "mail for %s loops back to myself", j->nexthop);
			quit(c);
			*res = TRY_DONE;
			return -1;
		}
		return 0;
	}
	if (r.code / 100 == 5 && helo_ok) {
		memset(e, 0, sizeof(*e));
		fmt(cmd, sizeof(cmd), "HELO %s", wk.conf.hostname);
		if (conn_cmd(c, &r, HELO_TIMEOUT,
		    "performing the HELO handshake", cmd) == -1) {
			*res = greet_lost(j, c);
			return -1;
		}
		if (r.code / 100 == 2)
			return 0;
		last_from_reply(j, &r, "host %s[%s] said: %s "
		    "(in reply to %s command)", "HELO");
	} else
		last_from_reply(j, &r, "host %s[%s] said: %s "
		    "(in reply to %s command)", "EHLO");
	quit(c);
	*res = TRY_NEXT;
	return -1;
}

/*
 * STARTTLS per remote_tls, then EHLO again. 0 to go on (over TLS, or in
 * plaintext where remote_tls allows it), -1 with *res set when this try
 * is over. A failed handshake never falls back to plaintext.
 */
static int
starttls(struct job *j, struct conn *c, struct smtp_ehlo *e,
    enum try_result *res)
{
	enum conf_remote_tls lvl = wk.conf.remote_tls;
	struct smtp_reply r;
	struct tlsc_info info;
	char err[256], flat[SMTP_REPLY_TEXT_MAX];
	const char *trust;

	if (lvl == RTLS_NONE)
		return 0;
	if (!e->starttls) {
		if (lvl == RTLS_MAY)
			return 0;
		set_last(j, R_DEFER, 454, "4.7.4", "TLS is required, but was "
		    "not offered by host %s[%s]", j->host, j->ip);
		log_info("%s: TLS is required, but was not offered by host "
		    "%s[%s]", j->id, j->host, j->ip);
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (tlsc_init(wk.conf.smtpd.tls_ca, err, sizeof(err)) == -1) {
		log_error("%s: cannot set up TLS: %s", j->id, err);
		set_last(j, R_DEFER, 454, "4.7.5", "local TLS setup failed: "
		    "%s", err);
		quit(c);
		*res = TRY_DONE;
		return -1;
	}
	if (conn_cmd(c, &r, TLS_TIMEOUT, "sending STARTTLS", "STARTTLS")
	    == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code != 220) {
		smtp_reply_flat(&r, flat, sizeof(flat));
		if (lvl == RTLS_MAY && r.code / 100 != 2) {
			log_info("%s: host %s[%s] refused STARTTLS (%s); "
			    "going on without TLS", j->id, j->host, j->ip,
			    flat);
			return 0;
		}
		set_last(j, R_DEFER, 454, "4.7.5", "TLS is required, but "
		    "host %s[%s] refused to start TLS: %s", j->host, j->ip,
		    flat);
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (c->inlen > 0) {	/* sent before the handshake: an injection */
		log_warn("%s: host %s[%s] sent %zu bytes after its STARTTLS "
		    "reply; discarded", j->id, j->host, j->ip, c->inlen);
		c->inlen = 0;
	}
	c->stage = "performing the TLS handshake";
	c->tls = tlsc_connect(c->fd, j->host, j->host, lvl == RTLS_VERIFY,
	    now_ms() + (long long)TLS_TIMEOUT * 1000, &info, err,
	    sizeof(err));
	if (c->tls == NULL) {
		set_last(j, R_DEFER, 454, "4.7.5", "Cannot start TLS with "
		    "%s[%s]: %s", j->host, j->ip, err);
		log_info("%s: Cannot start TLS with %s[%s]:%u: %s", j->id,
		    j->host, j->ip, j->port, err);
		*res = TRY_NEXT;
		return -1;
	}
	if (info.verified)
		trust = "Verified";
	else if (strcmp(info.verify_err, "name not checked") == 0)
		trust = "Trusted";
	else
		trust = "Untrusted";
	log_info("%s: %s TLS connection established to %s[%s]:%u: %s with "
	    "cipher %s (%d bits)", j->id, trust, j->host, j->ip, j->port,
	    info.version, info.cipher, info.bits);
	log_debug("%s: peer certificate CN=\"%s\"%s%s", j->id, info.peer_cn,
	    info.verified ? "" : ", not verified: ",
	    info.verified ? "" : info.verify_err);
	/* RFC 3207: forget everything learnt before TLS */
	memset(e, 0, sizeof(*e));
	return hello(j, c, e, 0, res);
}

/* Is word (upper-case) in the space separated list? */
static int
has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p; ) {
		size_t n = strcspn(p, " ");

		if (n == wl && strncasecmp(p, word, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* base64 of len bytes into out (room for 4 * ceil(len / 3) + 1). */
static void
b64(char *out, const void *in, size_t len)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/*
 * AUTH to the next hop with the remote_auth credentials: PLAIN, or LOGIN
 * when PLAIN is not offered. 0 when authenticated (or nothing to do), -1
 * with *res set otherwise. Nothing secret is logged or kept.
 */
static int
authenticate(struct job *j, struct conn *c, const struct smtp_ehlo *e,
    enum try_result *res)
{
	struct smtp_reply r;
	char raw[2 * CRED_MAX + 2], enc[4 * ((2 * CRED_MAX + 4) / 3) + 16];
	char cmd[sizeof(enc) + 16], flat[SMTP_REPLY_TEXT_MAX], dsn[16];
	char user[CRED_MAX];
	const char *mech;
	size_t ul, pl;
	int rv;

	if (!j->has_cred)
		return 0;
	clean_copy(user, sizeof(user), j->cred_user);
	if (c->tls == NULL && wk.conf.remote_tls != RTLS_NONE) {
		set_last(j, R_DEFER, 454, "4.7.0", "credentials for %s are "
		    "sent only over TLS, and host %s[%s] did not start TLS",
		    j->nexthop, j->host, j->ip);
		log_warn("%s: not sending AUTH credentials to %s[%s] without "
		    "TLS (remote_tls = none would allow it)", j->id, j->host,
		    j->ip);
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (!e->auth) {
		log_info("%s: host %s[%s] offers no AUTH; sending without "
		    "authentication", j->id, j->host, j->ip);
		return 0;
	}
	if (has_word(e->auth_mechs, "PLAIN"))
		mech = "PLAIN";
	else if (has_word(e->auth_mechs, "LOGIN"))
		mech = "LOGIN";
	else {
		clean_copy(flat, sizeof(flat), e->auth_mechs);
		set_last(j, R_DEFER, 454, "4.7.0", "host %s[%s] offers no "
		    "SASL mechanism we support (PLAIN, LOGIN): %s", j->host,
		    j->ip, flat);
		quit(c);
		*res = TRY_DONE;
		return -1;
	}
	ul = strlen(j->cred_user);
	pl = strlen(j->cred_pass);
	if (strcmp(mech, "PLAIN") == 0) {
		/* authzid empty, authcid, password (RFC 4616) */
		raw[0] = '\0';
		memcpy(raw + 1, j->cred_user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, j->cred_pass, pl);
		b64(enc, raw, 2 + ul + pl);
		fmt(cmd, sizeof(cmd), "AUTH PLAIN %s", enc);
		rv = conn_cmd(c, &r, AUTH_TIMEOUT, "sending AUTH command",
		    cmd);
	} else {
		rv = conn_cmd(c, &r, AUTH_TIMEOUT, "sending AUTH command",
		    "AUTH LOGIN");
		if (rv == 0 && r.code == 334) {
			b64(enc, j->cred_user, ul);
			rv = conn_cmd(c, &r, AUTH_TIMEOUT,
			    "sending AUTH user name", enc);
		}
		if (rv == 0 && r.code == 334) {
			b64(enc, j->cred_pass, pl);
			rv = conn_cmd(c, &r, AUTH_TIMEOUT,
			    "sending AUTH password", enc);
		}
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(cmd, sizeof(cmd));
	if (rv == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code == 334 && conn_cmd(c, &r, AUTH_TIMEOUT,
	    "cancelling AUTH", "*") == -1) {	/* a challenge we can't answer */
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code / 100 == 2) {
		log_info("%s: authenticated to %s[%s]:%u as %s (%s)", j->id,
		    j->host, j->ip, j->port, user, mech);
		return 0;
	}
	/* a rejected login is a configuration problem: defer, never bounce */
	smtp_reply_flat(&r, flat, sizeof(flat));
	reply_dsn(&r, dsn, sizeof(dsn));
	dsn[0] = '4';
	set_last(j, R_DEFER, 454, dsn, "SASL authentication failed; server "
	    "%s[%s] said: %s", j->host, j->ip, flat);
	log_warn("%s: SASL %s authentication as %s failed at %s[%s]:%u: %s",
	    j->id, mech, user, j->host, j->ip, j->port, flat);
	quit(c);
	*res = r.code / 100 == 5 ? TRY_DONE : TRY_NEXT;
	return -1;
}

/*
 * A new connection: greeting, EHLO, STARTTLS and AUTH. 0 with *e filled
 * when a transaction may start, -1 with *res set when this try is over.
 */
static int
open_session(struct job *j, struct conn *c, struct smtp_ehlo *e,
    enum try_result *res)
{
	struct smtp_reply r;

	c->stage = "receiving the initial server greeting";
	if (conn_reply(c, &r, GREET_TIMEOUT) == -1) {
		*res = greet_lost(j, c);
		return -1;
	}
	if (r.code / 100 != 2) {
		last_from_reply(j, &r, "host %s[%s] refused to talk to me: %s%s",
		    "");
		quit(c);
		*res = TRY_NEXT;
		return -1;
	}
	if (names_me(r.text)) {
		set_last(j, R_DEFER, 451, "4.4.6",
		    "mail for %s loops back to myself", j->nexthop);
		quit(c);
		*res = TRY_DONE;
		return -1;
	}
	memset(e, 0, sizeof(*e));
	if (hello(j, c, e, 1, res) == -1)
		return -1;
	if (starttls(j, c, e, res) == -1)
		return -1;
	if (authenticate(j, c, e, res) == -1)
		return -1;
	log_debug("%s: %s: pipelining=%d size=%d 8bitmime=%d tls=%d", j->id,
	    j->relay, e->pipelining, e->size, e->eightbitmime, c->tls != NULL);
	return 0;
}

/*
 * One mail transaction on an open session; every recipient gets its
 * answer. c->keep is set when the session is still usable afterwards
 * (whatever the server said to this message); the caller QUITs or
 * caches it.
 */
static enum try_result
transaction(struct job *j, struct conn *c, const struct smtp_ehlo *e)
{
	struct smtp_reply r;
	int rv;

	c->keep = 0;
	if (e->size && e->size_max > 0 &&
	    j->q.content_len + j->nlines > e->size_max) {
		char t[TEXT_MAX];

		fmt(t, sizeof(t), "message size %zu exceeds size limit "
		    "%llu of server %s[%s]", j->q.content_len + j->nlines,
		    e->size_max, j->host, j->ip);
		final_all(j, R_BOUNCE, 552, "5.3.4", t);
		c->keep = 1;
		return TRY_DONE;
	}

	rv = envelope(j, c, e);
	if (rv == -1)
		return session_lost(j, c);
	if (rv == 1) {
		c->keep = 1;
		return TRY_DONE;
	}
	if (conn_cmd(c, &r, DATA_TIMEOUT, "sending DATA command",
	    "DATA") == -1)
		return session_lost(j, c);
	if (r.code / 100 != 3) {
		final_reply(j, (size_t)-1, &r, "DATA");
		c->keep = 1;
		return TRY_DONE;
	}
	if (send_body(j, c) == -1)
		return session_lost(j, c);
	if (conn_reply(c, &r, FINAL_TIMEOUT) == -1)
		return session_lost(j, c);
	if (r.code / 100 == 2) {
		char dsn[16], flat[SMTP_REPLY_TEXT_MAX], text[TEXT_MAX];
		char prefix[400];

		reply_dsn(&r, dsn, sizeof(dsn));
		smtp_reply_flat(&r, flat, sizeof(flat));
		fmt(prefix, sizeof(prefix), "host %s[%s] said: ",
		    j->host, j->ip);
		make_text(text, dsn, prefix, flat,
		    " (in reply to end of DATA command)");
		clean_copy(prefix, sizeof(prefix), flat);
		for (size_t i = 0; i < j->nr; i++)
			if (j->r[i].st == R_ACCEPTED)
				rcpt_final(j, i, R_SENT, r.code, dsn,
				    text + strlen(dsn) + 1, prefix);
	} else
		final_reply(j, (size_t)-1, &r, "end of DATA");
	c->keep = 1;
	return TRY_DONE;
}

/* ---- the connection cache ---- */

/* Close a connection: QUIT first (within timeout_s) if it is still sane. */
static void
conn_close(struct conn *c, int timeout_s)
{
	if (timeout_s > 0 && c->err == C_OK && !c->saw421)
		quit_within(c, timeout_s);
	tlsc_free(c->tls);
	c->tls = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	explicit_bzero(c->in, sizeof(c->in));
	c->inlen = 0;
}

static void
cache_drop(struct cached *k, int timeout_s)
{
	conn_close(&k->c, timeout_s);
	explicit_bzero(k, sizeof(*k));
	k->c.fd = -1;
}

/*
 * Is an idle session still there? Anything readable means it is not: the
 * peer closed, or said something unasked (a 421 on its idle timeout). Over
 * TLS a record that carries no data (a session ticket) is not a sign.
 */
static int
cache_alive(struct cached *k)
{
	struct pollfd pfd = { .fd = k->c.fd, .events = POLLIN };
	char b[512];
	short want;
	ssize_t n;

	if (k->c.inlen > 0 || (k->c.tls != NULL && tlsc_pending(k->c.tls)))
		return 0;
	if (poll(&pfd, 1, 0) == 0)
		return 1;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return 0;
	if (k->c.tls == NULL)
		return 0;
	n = tlsc_read(k->c.tls, b, sizeof(b), &want);
	explicit_bzero(b, sizeof(b));
	return n == -1 && errno == EAGAIN;
}

/* QUIT and close what has been idle too long or went away. */
static void
cache_expire(void)
{
	long long now = now_ms();

	for (int i = 0; i < CACHE_MAX; i++) {
		struct cached *k = &cache[i];

		if (!k->used)
			continue;
		if (!cache_alive(k)) {
			log_debug("cached connection to %s[%s]:%u closed by "
			    "the peer", k->host, k->ip, k->port);
			k->c.err = C_LOST;
			cache_drop(k, 0);
		} else if (now - k->idle_since >= CACHE_IDLE_MS) {
			log_debug("closing idle connection to %s[%s]:%u after "
			    "%d transactions", k->host, k->ip, k->port,
			    k->uses);
			cache_drop(k, IDLE_QUIT_TIMEOUT);
		}
	}
}

/* Milliseconds until the next cached session expires (cap: max_ms). */
static int
cache_wait_ms(int max_ms)
{
	long long now = now_ms(), w = max_ms;

	for (int i = 0; i < CACHE_MAX; i++) {
		long long left;

		if (!cache[i].used)
			continue;
		left = cache[i].idle_since + CACHE_IDLE_MS - now;
		if (left < w)
			w = left;
	}
	return w < 0 ? 0 : (int)w;
}

/* SIGTERM, reload: every cached session gets its QUIT. */
static void
cache_flush(void)
{
	for (int i = 0; i < CACHE_MAX; i++)
		if (cache[i].used)
			cache_drop(&cache[i], IDLE_QUIT_TIMEOUT);
}

/*
 * A transaction is over: keep the session for the next message to this
 * next hop when it is clean (no error, no 421, nothing unread, use count
 * left), else QUIT (if it is still sane) and close it. *c is given away
 * either way.
 */
static void
session_end(struct job *j, struct conn *c, const struct smtp_ehlo *e,
    int uses)
{
	struct cached *k = NULL;

	if (!c->keep || c->err != C_OK || c->saw421 || c->inlen > 0 ||
	    (c->tls != NULL && tlsc_pending(c->tls)) ||
	    uses >= CACHE_MAX_USES || worker_stop) {
		conn_close(c, QUIT_TIMEOUT);
		return;
	}
	for (int i = 0; i < CACHE_MAX; i++) {	/* a free slot, or the oldest */
		if (!cache[i].used) {
			k = &cache[i];
			break;
		}
		if (k == NULL || cache[i].idle_since < k->idle_since)
			k = &cache[i];
	}
	if (k->used)
		cache_drop(k, IDLE_QUIT_TIMEOUT);
	k->used = 1;
	fmt(k->nexthop, sizeof(k->nexthop), "%s", j->nexthop);
	fmt(k->host, sizeof(k->host), "%s", j->host);
	fmt(k->ip, sizeof(k->ip), "%s", j->ip);
	k->port = j->port;
	k->has_cred = j->has_cred;
	if (j->has_cred)
		fmt(k->cred_user, sizeof(k->cred_user), "%s", j->cred_user);
	k->e = *e;
	k->c = *c;
	k->c.stage = NULL;
	k->c.why = NULL;
	k->uses = uses;
	k->idle_since = now_ms();
	explicit_bzero(c->in, sizeof(c->in));
	c->fd = -1;
	c->tls = NULL;
}

/*
 * The next message for a next hop with a cached session: RSET, and on
 * 250 the transaction on it. -1 when there was no usable session (the
 * caller connects afresh: nothing was said to any recipient).
 */
static int
cache_deliver(struct job *j)
{
	struct cached *k = NULL;
	struct conn c;
	struct smtp_ehlo e;
	struct smtp_reply r;
	char host[sizeof(j->host)];
	unsigned port = j->port;
	int uses;

	for (int i = 0; i < CACHE_MAX; i++)
		if (cache[i].used &&
		    strcasecmp(cache[i].nexthop, j->nexthop) == 0) {
			k = &cache[i];
			break;
		}
	if (k == NULL)
		return -1;
	if (k->has_cred != j->has_cred || (j->has_cred &&
	    strcmp(k->cred_user, j->cred_user) != 0)) {
		cache_drop(k, IDLE_QUIT_TIMEOUT);	/* other credentials */
		return -1;
	}
	if (now_ms() - k->idle_since >= CACHE_IDLE_MS) {
		cache_drop(k, IDLE_QUIT_TIMEOUT);
		return -1;
	}
	if (!cache_alive(k)) {
		log_debug("%s: cached connection to %s[%s]:%u closed by the "
		    "peer; connecting afresh", j->id, k->host, k->ip,
		    k->port);
		k->c.err = C_LOST;
		cache_drop(k, 0);
		return -1;
	}
	/* take it out of the cache */
	memcpy(host, j->host, sizeof(host));
	c = k->c;
	e = k->e;
	uses = k->uses;
	fmt(j->host, sizeof(j->host), "%s", k->host);
	fmt(j->ip, sizeof(j->ip), "%s", k->ip);
	j->port = k->port;
	explicit_bzero(k, sizeof(*k));
	k->c.fd = -1;

	if (conn_cmd(&c, &r, RSET_TIMEOUT, "sending RSET", "RSET") == -1 ||
	    r.code != 250) {
		log_debug("%s: cached connection to %s[%s]:%u unusable (%s); "
		    "connecting afresh", j->id, j->host, j->ip, j->port,
		    c.err != C_OK ? "no reply to RSET" : "RSET refused");
		conn_close(&c, IDLE_QUIT_TIMEOUT);	/* QUIT if still sane */
		memcpy(j->host, host, sizeof(j->host));
		j->port = port;
		j->ip[0] = '\0';
		return -1;
	}
	fmt(j->relay, sizeof(j->relay), "%s[%s]:%u", j->host, j->ip,
	    j->port);
	log_debug("%s: reused connection to %s[%s]:%u", j->id, j->host,
	    j->ip, j->port);
	j->conn_use = uses + 1;
	set_last(j, R_DEFER, 451, "4.3.0",
	    "delivery via %s[%s] did not complete", j->host, j->ip);
	(void)transaction(j, &c, &e);
	session_end(j, &c, &e, uses + 1);
	return 0;
}

/* A new connection: the dialogue, then QUIT or the cache; fd is taken. */
static enum try_result
session(struct job *j, int fd)
{
	struct conn c = { .fd = fd };
	struct smtp_ehlo e;
	enum try_result rv;

	j->conn_use = 1;
	if (open_session(j, &c, &e, &rv) == -1) {
		conn_close(&c, 0);	/* QUIT already sent where due */
		return rv;
	}
	rv = transaction(j, &c, &e);
	session_end(j, &c, &e, 1);
	return rv;
}

/* ---- next hop, addresses, connect ---- */

static int
valid_host(const char *h)
{
	if (*h == '\0' || strlen(h) > 255)
		return 0;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-_:", *h))
			return 0;
	return 1;
}

static int
parse_port(const char *s, unsigned *port)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/*
 * "[host]:port", "[host]", "host:port" or a bare domain. *relay is set for
 * the forms that name a configured relay (anything but a bare domain).
 */
static int
parse_nexthop(struct job *j, int *relay)
{
	const char *nh = j->nexthop, *p;
	size_t n;

	j->port = wk.conf.remote_port;
	*relay = 1;
	if (nh[0] == '[') {
		p = strchr(nh, ']');
		if (p == NULL)
			return -1;
		nh++;
		if (strncasecmp(nh, "IPv6:", 5) == 0)
			nh += 5;
		n = (size_t)(p - nh);
		if (n == 0 || n >= sizeof(j->host))
			return -1;
		memcpy(j->host, nh, n);
		j->host[n] = '\0';
		if (p[1] == ':') {
			if (parse_port(p + 2, &j->port) == -1)
				return -1;
		} else if (p[1] != '\0')
			return -1;
	} else if ((p = strchr(nh, ':')) != NULL) {
		n = (size_t)(p - nh);
		if (strchr(p + 1, ':') || n == 0 || n >= sizeof(j->host) ||
		    parse_port(p + 1, &j->port) == -1)
			return -1;
		memcpy(j->host, nh, n);
		j->host[n] = '\0';
	} else {
		if (strlen(nh) >= sizeof(j->host))
			return -1;
		memcpy(j->host, nh, strlen(nh) + 1);
		*relay = 0;
	}
	return valid_host(j->host) ? 0 : -1;
}

/* Non-blocking connect with a timeout; the fd stays non-blocking. */
static int
connect_to(const struct addrinfo *ai, char *err, size_t errlen)
{
	struct pollfd pfd;
	socklen_t sl;
	int fd, e = 0, r;
	long long deadline = now_ms() + CONNECT_TIMEOUT * 1000;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1) {
		fmt(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		e = errno;
		goto fail;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		long long left = deadline - now_ms();

		if (left <= 0) {
			e = ETIMEDOUT;
			goto fail;
		}
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			break;
		if (r == 0) {
			e = ETIMEDOUT;
			goto fail;
		}
		if (errno != EINTR) {
			e = errno;
			goto fail;
		}
	}
	sl = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
		e = errno;
	if (e == 0)
		return fd;
fail:
	fmt(err, errlen, "%s", strerror(e));
	close(fd);
	return -1;
}

/*
 * The remote_auth entry for this next hop: the next hop as written
 * ("[127.0.0.2]:2525", "relay.example.net"), else its host name alone.
 * Lines are "host user:password" (# comments). 1 found, 0 none, -1 the
 * file is unusable (err set; never any part of a password in err).
 */
static int
cred_lookup(struct job *j, char *err, size_t errlen)
{
	struct stat st;
	FILE *fp;
	char line[AUTH_LINE_MAX + 2], *k, *v, *colon, *e;
	int fd, found = 0, lineno = 0, best = 0;

	j->has_cred = 0;
	if (wk.conf.remote_auth == NULL)
		return 0;
	fd = open(wk.conf.remote_auth, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		fmt(err, errlen, "cannot open remote_auth %s: %s",
		    wk.conf.remote_auth, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		fmt(err, errlen, "remote_auth %s must be a regular file not "
		    "accessible by group or others", wk.conf.remote_auth);
		close(fd);
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		fmt(err, errlen, "remote_auth: %s", strerror(errno));
		close(fd);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t len = strlen(line);
		int rank;

		lineno++;
		if (len > AUTH_LINE_MAX) {
			fmt(err, errlen, "remote_auth %s:%d: line too long",
			    wk.conf.remote_auth, lineno);
			found = -1;
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r' || line[len - 1] == ' ' ||
		    line[len - 1] == '\t'))
			line[--len] = '\0';
		k = line + strspn(line, " \t");
		if (*k == '\0' || *k == '#')
			continue;
		v = k + strcspn(k, " \t");
		if (*v == '\0') {
			fmt(err, errlen, "remote_auth %s:%d: expected "
			    "\"host user:password\"", wk.conf.remote_auth,
			    lineno);
			found = -1;
			break;
		}
		*v++ = '\0';
		v += strspn(v, " \t");
		if (strcasecmp(k, j->nexthop) == 0)
			rank = 2;
		else if (strcasecmp(k, j->host) == 0)
			rank = 1;
		else
			continue;
		if (rank <= best)
			continue;
		colon = strchr(v, ':');
		if (colon == NULL || colon == v ||
		    (size_t)(colon - v) >= CRED_MAX ||
		    strlen(colon + 1) >= CRED_MAX) {
			fmt(err, errlen, "remote_auth %s:%d: expected "
			    "\"host user:password\" (each at most %d octets)",
			    wk.conf.remote_auth, lineno, CRED_MAX - 1);
			found = -1;
			break;
		}
		*colon = '\0';
		for (e = v; *e; e++)	/* goes on the wire as a line */
			if ((unsigned char)*e < 0x20)
				break;
		if (*e == '\0')
			for (e = colon + 1; *e; e++)
				if ((unsigned char)*e < 0x20)
					break;
		if (*e != '\0') {
			fmt(err, errlen, "remote_auth %s:%d: control "
			    "character in the credentials",
			    wk.conf.remote_auth, lineno);
			found = -1;
			break;
		}
		fmt(j->cred_user, sizeof(j->cred_user), "%s", v);
		fmt(j->cred_pass, sizeof(j->cred_pass), "%s", colon + 1);
		best = rank;
		found = 1;
	}
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	if (found == 1)
		j->has_cred = 1;
	else {
		explicit_bzero(j->cred_user, sizeof(j->cred_user));
		explicit_bzero(j->cred_pass, sizeof(j->cred_pass));
	}
	return found;
}

static void
deliver(struct job *j)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8], err[128], err2[TEXT_MAX];
	int relay, rv, tried = 0, mx = 0;

	fmt(j->relay, sizeof(j->relay), "none");
	if (parse_nexthop(j, &relay) == -1) {
		char t[TEXT_MAX];

		clean_copy(err, sizeof(err), j->nexthop);
		fmt(t, sizeof(t), "bad next hop \"%s\"", err);
		final_all(j, R_DEFER, 451, "4.3.5", t);
		return;
	}
	if (cred_lookup(j, err2, sizeof(err2)) == -1) {
		log_error("%s: %s", j->id, err2);
		final_all(j, R_DEFER, 451, "4.3.5", err2);
		return;
	}
	if (cache_deliver(j) == 0) {
		final_all(j, j->last.st, j->last.code, j->last.dsn,
		    j->last.text);	/* none left, normally */
		explicit_bzero(j->cred_user, sizeof(j->cred_user));
		explicit_bzero(j->cred_pass, sizeof(j->cred_pass));
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	fmt(port, sizeof(port), "%u", j->port);
	if (!relay) {		/* MX delivery (lib/dns.c) */
		char t[TEXT_MAX];

		switch (dns_mail_targets(wk.conf.dns_servers, j->host,
		    wk.conf.hostname, j->port, &res, t, sizeof(t))) {
		case DNS_OK:
			mx = 1;
			break;
		case DNS_NXDOMAIN:
			final_all(j, R_BOUNCE, 550, "5.1.2", t);
			return;
		case DNS_LOOP:
			final_all(j, R_DEFER, 451, "4.4.6", t);
			return;
		default:
			final_all(j, R_DEFER, 451, "4.4.3", t);
			return;
		}
		rv = 0;
	} else
		rv = getaddrinfo(j->host, port, &hints, &res);
	if (rv != 0) {
		char t[TEXT_MAX];
		int nx = rv == EAI_NONAME
#ifdef EAI_NODATA
		    || rv == EAI_NODATA
#endif
		    ;

		fmt(t, sizeof(t), "Host or domain name not found. "
		    "Name service error for name=%s: %s", j->host,
		    gai_strerror(rv));
		/* a bare domain that does not exist bounces; a configured
		 * relay that does not resolve is a local error: retry */
		if (nx && !relay)
			final_all(j, R_BOUNCE, 550, "5.1.2", t);
		else
			final_all(j, R_DEFER, 451, "4.4.3", t);
		return;
	}
	set_last(j, R_DEFER, 451, "4.4.3", "no address for %s", j->host);
	for (ai = res; ai && tried < MAX_ADDRS && j->npending > 0;
	    ai = ai->ai_next) {
		int fd;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		tried++;
		if (mx && ai->ai_canonname != NULL)	/* this MX host */
			fmt(j->host, sizeof(j->host), "%s", ai->ai_canonname);
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, j->ip,
		    sizeof(j->ip), NULL, 0, NI_NUMERICHOST) != 0)
			fmt(j->ip, sizeof(j->ip), "?");
		fmt(j->relay, sizeof(j->relay), "none");
		fd = connect_to(ai, err, sizeof(err));
		if (fd == -1) {
			set_last(j, R_DEFER, 421, "4.4.1",
			    "connect to %s[%s]:%u: %s", j->host, j->ip,
			    j->port, err);
			log_info("%s: connect to %s[%s]:%u: %s", j->id,
			    j->host, j->ip, j->port, err);
			continue;
		}
		fmt(j->relay, sizeof(j->relay), "%s[%s]:%u", j->host,
		    j->ip, j->port);
		set_last(j, R_DEFER, 451, "4.3.0",
		    "delivery via %s[%s] did not complete", j->host, j->ip);
		rv = session(j, fd);
		if (rv == TRY_DONE)
			break;
	}
	if (mx)
		dns_addrinfo_free(res);
	else
		freeaddrinfo(res);
	final_all(j, j->last.st, j->last.code, j->last.dsn, j->last.text);
	explicit_bzero(j->cred_user, sizeof(j->cred_user));
	explicit_bzero(j->cred_pass, sizeof(j->cred_pass));
}

/* ---- the job: request in, answers out ---- */

static int
addr_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f || *a == '<' ||
		    *a == '>')
			return 0;
	return 1;
}

/* One pass over the content: 8-bit bytes and the line count (SIZE=). */
static int
scan_content(struct job *j)
{
	char *in = xmalloc(CHUNK);
	size_t pos = 0;

	while (pos < j->q.content_len) {
		size_t want = j->q.content_len - pos;
		ssize_t n;

		if (want > CHUNK)
			want = CHUNK;
		n = pread(j->qfd, in, want, j->q.content_off + (off_t)pos);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			free(in);
			return -1;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (in[k] == '\n')
				j->nlines++;
			else if ((unsigned char)in[k] > 127)
				j->eightbit = 1;
		}
		pos += (size_t)n;
	}
	free(in);
	return 0;
}

static int
send_answers(int fd, const struct job *j)
{
	struct buf b;
	int rv = 0;

	buf_init(&b, IPC_MAX_FRAME);
	for (size_t i = 0; i < j->nr && rv == 0; i++) {
		const struct rcpt *r = &j->r[i];
		const char *st = r->st == R_SENT ? "sent" :
		    r->st == R_BOUNCE ? "bounce" : "defer";

		if (r->dup)
			continue;

		ipc_begin(&b);
		if (ipc_add_num(&b, "rcpt", r->idx) == -1 ||
		    ipc_add_str(&b, "status", st) == -1 ||
		    ipc_add_num(&b, "code", r->code) == -1 ||
		    ipc_add_str(&b, "text", r->text) == -1 ||
		    ipc_end(&b) == -1 || ipc_send(fd, &b, IPC_TIMEOUT_MS) == -1)
			rv = -1;
	}
	if (rv == 0) {
		ipc_begin(&b);
		if (ipc_add_str(&b, "req", "done") == -1 || ipc_end(&b) == -1 ||
		    ipc_send(fd, &b, IPC_TIMEOUT_MS) == -1)
			rv = -1;
	}
	buf_free(&b);
	return rv;
}

/* Handle one req=deliver; -1 if the qmgr connection should be dropped. */
static int
job_run(int fd, const struct ipc_msg *m)
{
	struct job j;
	char path[512], err[256], *s;
	unsigned char *seen = NULL;
	int rv;

	memset(&j, 0, sizeof(j));
	j.qfd = -1;
	fmt(j.relay, sizeof(j.relay), "none");
	/* the recipient indexes first: every one of them gets an answer */
	for (size_t i = 0; i < m->nattr; i++) {
		const struct ipc_attr *a = &m->attr[i];
		char num[24];
		char *end;
		long v;

		if (strcmp(a->name, "rcpt") != 0)
			continue;
		if (a->len == 0 || a->len >= sizeof(num))
			return -1;
		memcpy(num, a->val, a->len);
		num[a->len] = '\0';
		errno = 0;
		v = strtol(num, &end, 10);
		if (errno || *end != '\0' || v < 0 || v >= QF_MAX_RCPT ||
		    !isdigit((unsigned char)num[0]))
			return -1;
		j.r = xreallocarray(j.r, j.nr + 1, sizeof(*j.r));
		memset(&j.r[j.nr], 0, sizeof(*j.r));
		j.r[j.nr].idx = v;
		j.nr++;
	}
	j.npending = j.nr;

	s = ipc_get_str(m, "queue_id");
	if (s == NULL || !qid_valid(s)) {
		free(s);
		free(j.r);
		return -1;
	}
	memcpy(j.id, s, QID_LEN + 1);
	free(s);
	s = ipc_get_str(m, "nexthop");
	if (s == NULL || strlen(s) >= sizeof(j.nexthop)) {
		final_all(&j, R_DEFER, 451, "4.3.5", "bad or missing next hop");
		free(s);
		goto answer;
	}
	memcpy(j.nexthop, s, strlen(s) + 1);
	free(s);
	if (!ipc_is(m, "dir", "active")) {
		final_all(&j, R_DEFER, 451, "4.3.0",
		    "queue file is not in active/");
		goto answer;
	}

	fmt(err, sizeof(err), "%s/%s", QDIR_ACTIVE, j.id);
	queue_path(wk.conf.queue_dir, err, path, sizeof(path));
	j.qfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (j.qfd == -1) {
		char t[TEXT_MAX];

		log_warn("%s: open %s: %s", j.id, path, strerror(errno));
		fmt(t, sizeof(t), "cannot open queue file: %s",
		    strerror(errno));
		final_all(&j, R_DEFER, 451, "4.3.0", t);
		goto answer;
	}
	if (qfile_read(j.qfd, &j.q, err, sizeof(err)) == -1) {
		char t[TEXT_MAX];

		log_warn("%s: bad queue file: %s", j.id, err);
		fmt(t, sizeof(t), "cannot read queue file: %s", err);
		qfile_free(&j.q);
		final_all(&j, R_DEFER, 451, "4.3.0", t);
		goto answer;
	}
	if (scan_content(&j) == -1) {
		log_warn("%s: read queue file: %s", j.id, strerror(errno));
		final_all(&j, R_DEFER, 451, "4.3.0",
		    "cannot read queue file content");
		goto answer;
	}
	fmt(j.relay, sizeof(j.relay), "none");
	seen = xcalloc(j.q.nrcpt ? j.q.nrcpt : 1, 1);
	for (size_t i = 0; i < j.nr; i++) {
		struct rcpt *r = &j.r[i];

		if ((size_t)r->idx >= j.q.nrcpt) {
			log_warn("%s: recipient index %ld out of range",
			    j.id, r->idx);
			rcpt_final(&j, i, R_DEFER, 451, "4.3.0",
			    "recipient index out of range", NULL);
			continue;
		}
		r->addr = j.q.rcpt[r->idx].addr;
		if (seen[r->idx]) {	/* asked twice: answer once */
			r->dup = 1;
			r->st = R_DEFER;
			j.npending--;
			continue;
		}
		seen[r->idx] = 1;
		if (!addr_ok(r->addr))
			rcpt_final(&j, i, R_BOUNCE, 553, "5.1.3",
			    "bad recipient address syntax", NULL);
		else if (addr_8bit(r->addr))
			j.utf8addr = 1;
	}
	if (!addr_ok(j.q.sender))
		final_all(&j, R_BOUNCE, 553, "5.1.7",
		    "bad sender address syntax");
	else if (addr_8bit(j.q.sender))
		j.utf8addr = 1;
	if (j.npending > 0)
		deliver(&j);

answer:
	explicit_bzero(j.cred_user, sizeof(j.cred_user));
	explicit_bzero(j.cred_pass, sizeof(j.cred_pass));
	rv = send_answers(fd, &j);
	if (rv == -1)
		log_warn("%s: cannot answer qmgr: %s", j.id, strerror(errno));
	if (j.qfd != -1)
		close(j.qfd);
	qfile_free(&j.q);
	free(seen);
	free(j.r);
	return rv;
}

/* One qmgr connection: requests until EOF or SIGTERM. */
static void
serve(int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m);
	while (!worker_stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, cache_wait_ms(1000));

		cache_expire();

		if (r == 0 || (r == -1 && errno == EINTR))
			continue;
		if (r == -1)
			break;
		if (ipc_recv(fd, &m, IPC_TIMEOUT_MS) == -1) {
			if (errno != ECONNRESET)
				log_warn("qmgr connection: %s",
				    strerror(errno));
			break;
		}
		if (!ipc_is(&m, "req", "deliver")) {
			log_warn("unknown request from qmgr; dropping it");
			break;
		}
		if (job_run(fd, &m) == -1)
			break;
	}
	ipc_msg_free(&m);
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[16 + CACHE_MAX];

	worker_init(&wk, "remote", argc, argv);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	for (int i = 0; i < CACHE_MAX; i++)
		cache[i].c.fd = -1;
	for (int i = 0; i < wk.nlisten; i++) {
		pfd[i].fd = wk.listen_fd[i];
		pfd[i].events = POLLIN;
		fcntl(wk.listen_fd[i], F_SETFL, O_NONBLOCK);
	}
	while (!worker_stop) {
		nfds_t n = (nfds_t)wk.nlisten;
		int r;

		/* idle cached sessions: a peer that closes is noticed at
		 * once, an expired one is QUIT on time */
		for (int i = 0; i < CACHE_MAX; i++)
			if (cache[i].used) {
				pfd[n].fd = cache[i].c.fd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				n++;
			}
		r = poll(pfd, n, cache_wait_ms(1000));
		cache_expire();
		if (r <= 0)
			continue;
		for (int i = 0; i < wk.nlisten; i++) {
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd == -1)
				continue;
			serve(fd);
			close(fd);
		}
	}
	cache_flush();
	return 0;
}
