/*
 * lmtp: an LMTP client (RFC 2033) for a local mail store. Every reply is
 * parsed line by line through lib/smtp_reply (at most SMTP_REPLY_MAX_LINE
 * octets a line, SMTP_REPLY_MAX_LINES lines) under a deadline; every
 * recipient is answered once: by its RCPT reply, by its reply after the
 * final dot, or, when the session fails, deferred. Never run as root.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "lmtp.h"
#include "smtp_data.h"
#include "smtp_reply.h"

#define LMTP_CHUNK	65536

struct lsess {
	const struct lmtp_target *t;
	const struct lmtp_msg	 *m;
	int		 fd;
	char		 in[4096];
	size_t		 inlen;
	const char	*stage;		/* "sending RCPT TO" */
	const char	*why;		/* why the session failed */
	unsigned char	*answered;	/* per recipient */
	struct smtp_ehlo e;
};

int
lmtp_target_parse(const char *spec, struct lmtp_target *t, const char **why)
{
	const char	*end;
	char		*ep;
	long		 port;

	memset(t, 0, sizeof(*t));
	if (strlcpy(t->name, spec, sizeof(t->name)) >= sizeof(t->name)) {
		*why = "too long";
		return -1;
	}
	if (strncmp(spec, "unix:", 5) == 0) {
		t->is_unix = 1;
		if (spec[5] != '/') {
			*why = "unix: needs an absolute socket path";
			return -1;
		}
		if (strlcpy(t->path, spec + 5, sizeof(t->path)) >=
		    sizeof(t->path)) {
			*why = "socket path longer than 107 bytes";
			return -1;
		}
		return 0;
	}
	if (spec[0] != '[' || (end = strchr(spec, ']')) == NULL ||
	    end == spec + 1 || (size_t)(end - spec - 1) >= sizeof(t->host) ||
	    end[1] != ':') {
		*why = "must be unix:/PATH or [HOST]:PORT";
		return -1;
	}
	memcpy(t->host, spec + 1, (size_t)(end - spec - 1));
	t->host[end - spec - 1] = '\0';
	for (const char *p = t->host; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '[' || *p == '/') {
			*why = "bad character in HOST";
			return -1;
		}
	errno = 0;
	port = strtol(end + 2, &ep, 10);
	if (end[2] < '0' || end[2] > '9' || *ep != '\0' || errno != 0 ||
	    port < 1 || port > 65535) {
		*why = "PORT must be a number from 1 to 65535";
		return -1;
	}
	snprintf(t->port, sizeof(t->port), "%ld", port);
	return 0;
}

/* --- answers ---------------------------------------------------------- */

static void
answer(struct lsess *s, size_t i, enum dstat st, int code, const char *fmt,
    ...) __attribute__((format(printf, 5, 6)));

static void
answer(struct lsess *s, size_t i, enum dstat st, int code, const char *fmt,
    ...)
{
	struct dstatus	 ds;
	char		 text[DSTATUS_TEXT];
	va_list		 ap;

	if (s->answered[i])
		return;
	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	dstatus_set(&ds, st, code, "%s", text);
	s->answered[i] = 1;
	s->m->result(s->m->ctx, i, &ds);
}

/* Recipient i from the store's reply r to cmd: 2xx sent, 4xx deferred,
 * 5xx bounced, the enhanced code and the store's text kept. */
static void
answer_reply(struct lsess *s, size_t i, const struct smtp_reply *r,
    const char *cmd)
{
	char		 flat[SMTP_REPLY_TEXT_MAX], esc[16];
	int		 cls = r->code / 100;
	enum dstat	 st = cls == 2 ? DS_SENT : cls == 5 ? DS_BOUNCE :
			    DS_DEFER;

	if (cls == 3 || cls < 2 || cls > 5)
		cls = 4;
	if (r->esc[0] != '\0' && r->esc[0] - '0' == cls)
		strlcpy(esc, r->esc, sizeof(esc));
	else
		snprintf(esc, sizeof(esc), "%d.0.0", cls);
	smtp_reply_flat(r, flat, sizeof(flat));
	if (st == DS_SENT)
		answer(s, i, st, r->code, "%s delivered via lmtp:%s (%s)", esc,
		    s->t->name, flat);
	else
		answer(s, i, st, r->code, "%s lmtp:%s said: %s (in reply to "
		    "%s)", esc, s->t->name, flat, cmd);
}

/* Every recipient in [from, to) not answered yet gets r's answer. */
static void
answer_range(struct lsess *s, size_t from, size_t to,
    const struct smtp_reply *r, const char *cmd)
{
	for (size_t i = from; i < to; i++)
		answer_reply(s, i, r, cmd);
}

/* The session failed: every recipient not answered is deferred. */
static void
answer_failed(struct lsess *s)
{
	const char *esc = s->fd == -1 ? "4.4.1" : "4.4.2";

	for (size_t i = 0; i < s->m->nrcpt; i++)
		answer(s, i, DS_DEFER, 451, "%s lmtp:%s: %s while %s", esc,
		    s->t->name, s->why ? s->why : "session failed",
		    s->stage ? s->stage : "talking to it");
}

/* --- I/O ----------------------------------------------------------- */

/* Wait for ev on the fd until deadline: 0, or -1 with s->why set. */
static int
lwait(struct lsess *s, short ev, long long deadline)
{
	struct pollfd	 pfd = { .fd = s->fd, .events = ev };

	for (;;) {
		long long left = deadline - clock_ms();
		int r;

		if (left <= 0) {
			s->why = "timeout";
			return -1;
		}
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR) {
			s->why = "poll failed";
			return -1;
		}
	}
}

static int
lwrite(struct lsess *s, const char *p, size_t len, int timeout_s)
{
	long long	 deadline = clock_ms() + timeout_s * 1000LL;

	while (len > 0) {
		ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (lwait(s, POLLOUT, deadline) == -1)
				return -1;
			continue;
		}
		if (n <= 0) {
			s->why = "lost connection";
			return -1;
		}
		p += n;
		len -= (size_t)n;
		deadline = clock_ms() + timeout_s * 1000LL;
	}
	return 0;
}

/* One whole reply within timeout_s: 0, or -1 with s->why set. */
static int
lreply(struct lsess *s, struct smtp_reply *r, int timeout_s)
{
	long long	 deadline = clock_ms() + timeout_s * 1000LL;
	char		*lf;
	size_t		 ll;
	ssize_t		 n;
	int		 rv;

	smtp_reply_init(r);
	for (;;) {
		while ((lf = memchr(s->in, '\n', s->inlen)) != NULL) {
			ll = (size_t)(lf - s->in);
			rv = smtp_reply_line(r, s->in, ll, &s->why);
			memmove(s->in, lf + 1, s->inlen - ll - 1);
			s->inlen -= ll + 1;
			if (rv != 0)
				return rv == 1 ? 0 : -1;
		}
		if (s->inlen >= SMTP_REPLY_MAX_LINE) {
			s->why = "reply line too long";
			return -1;
		}
		n = read(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (lwait(s, POLLIN, deadline) == -1)
				return -1;
			continue;
		}
		if (n <= 0) {
			s->why = "lost connection";
			return -1;
		}
		s->inlen += (size_t)n;
	}
}

/* Send one command line, CRLF added. */
static int
lcmd(struct lsess *s, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
lcmd(struct lsess *s, const char *stage, const char *fmt, ...)
{
	char	 line[1100];
	va_list	 ap;
	int	 n;

	s->stage = stage;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		s->why = "command too long";
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	return lwrite(s, line, (size_t)n + 2, LMTP_CMD_TIMEOUT);
}

/* --- connect ------------------------------------------------------- */

/* A non-blocking connect to one address within the connect timeout. */
static int
connect_one(struct lsess *s, int family, const struct sockaddr *sa,
    socklen_t salen)
{
	long long	 deadline = clock_ms() + LMTP_CONNECT_TIMEOUT * 1000LL;
	int		 err = 0;
	socklen_t	 elen = sizeof(err);

	s->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd == -1) {
		s->why = strerror(errno);
		return -1;
	}
	if (family != AF_UNIX)	/* commands are small writes: no Nagle */
		(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
	if (connect(s->fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		s->why = strerror(errno);
	else if (lwait(s, POLLOUT, deadline) == 0) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err == 0)
			return 0;
		s->why = strerror(err);
	}
	close(s->fd);
	s->fd = -1;
	return -1;
}

static int
lconnect(struct lsess *s)
{
	struct addrinfo		 hints, *res, *ai;
	struct sockaddr_un	 sun;
	int			 r;

	s->stage = "connecting";
	if (s->t->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		strlcpy(sun.sun_path, s->t->path, sizeof(sun.sun_path));
		return connect_one(s, AF_UNIX, (struct sockaddr *)&sun,
		    sizeof(sun));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(s->t->host, s->t->port, &hints, &res)) != 0) {
		s->why = gai_strerror(r);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (connect_one(s, ai->ai_family, ai->ai_addr,
		    ai->ai_addrlen) == 0)
			break;
	freeaddrinfo(res);
	return ai != NULL ? 0 : -1;
}

/* Greeting and LHLO: 0, or -1 (every recipient answered). */
static int
lhello(struct lsess *s)
{
	struct smtp_reply	 r;

	s->stage = "reading the greeting";
	if (lreply(s, &r, LMTP_CMD_TIMEOUT) == -1)
		return -1;
	if (r.code == 220) {
		if (lcmd(s, "sending LHLO", "LHLO %s", s->m->helo) == -1 ||
		    lreply(s, &r, LMTP_CMD_TIMEOUT) == -1)
			return -1;
		if (r.code / 100 == 2) {
			smtp_ehlo_parse(&r, &s->e);
			return 0;
		}
	}
	/* The store refuses us: its words, but never a bounce for it. */
	if (r.code / 100 == 5)
		r.code = 451;
	answer_range(s, 0, s->m->nrcpt, &r, "the greeting or LHLO");
	return -1;
}

/* --- one transaction ---------------------------------------------- */

/* MAIL and RCPTs for [from, to), pipelined in groups when offered;
 * acc[k] = 1 for each accepted one. Returns how many were, or -1. */
static int
lenvelope(struct lsess *s, size_t from, size_t to, unsigned char *acc)
{
	struct smtp_reply	 r;
	size_t			 group = s->e.pipelining ? LMTP_PIPE_GROUP : 1;
	size_t			 ncmd = to - from + 1, sent = 0, got = 0;
	int			 nacc = 0, mail_ok = 0;
	char			 size[32] = "";

	if (s->e.size)
		snprintf(size, sizeof(size), " SIZE=%zu", s->m->size);
	while (got < ncmd) {
		for (; sent < ncmd && sent < got + group; sent++)
			if ((sent == 0 ? lcmd(s, "sending MAIL FROM",
			    "MAIL FROM:<%s>%s", s->m->sender, size) :
			    lcmd(s, "sending RCPT TO", "RCPT TO:<%s>",
			    s->m->rcpt[from + sent - 1])) == -1)
				return -1;
		for (; got < sent; got++) {
			s->stage = got == 0 ? "reading the reply to MAIL FROM" :
			    "reading the reply to RCPT TO";
			if (lreply(s, &r, LMTP_CMD_TIMEOUT) == -1)
				return -1;
			if (got == 0 && r.code / 100 == 2)
				mail_ok = 1;
			else if (got == 0)
				answer_range(s, from, to, &r, "MAIL FROM");
			else if (mail_ok && r.code / 100 == 2) {
				acc[got - 1] = 1;
				nacc++;
			} else
				answer_reply(s, from + got - 1, &r, "RCPT TO");
		}
	}
	return nacc;
}

/* The content, dot-stuffed, and the final dot: 0 or -1. */
static int
lcontent(struct lsess *s)
{
	char		*in = xmalloc(LMTP_CHUNK);
	char		*out = xmalloc(2 * LMTP_CHUNK + 2 + 8);
	struct smtp_dot	 d;
	size_t		 pos = 0, o;
	int		 rv = -1;

	s->stage = "sending the message";
	smtp_dot_init(&d);
	do {
		ssize_t n = 0;

		if (pos < s->m->size && (n = s->m->read(s->m->ctx, pos, in,
		    s->m->size - pos < LMTP_CHUNK ? s->m->size - pos :
		    LMTP_CHUNK)) <= 0) {
			s->why = "queue file read error";
			goto done;
		}
		pos += (size_t)n;
		o = smtp_dot_encode(&d, in, (size_t)n, out);
		/* the final dot in the same write as the last piece: alone,
		 * it would wait for the peer's delayed ACK of the body */
		if (pos == s->m->size)
			o += smtp_dot_finish(&d, out + o);
		if (lwrite(s, out, o, LMTP_XFER_TIMEOUT) == -1)
			goto done;
	} while (pos < s->m->size);
	rv = 0;
done:
	free(in);
	free(out);
	return rv;
}

/* Recipients [from, to): 0 when the session can go on, -1 when not. */
static int
ltransaction(struct lsess *s, size_t from, size_t to)
{
	struct smtp_reply	 r;
	unsigned char		*acc = xcalloc(to - from, 1);
	int			 nacc, rv = -1;

	if ((nacc = lenvelope(s, from, to, acc)) == -1)
		goto out;
	if (nacc == 0) {
		rv = lcmd(s, "sending RSET", "RSET") == -1 ||
		    lreply(s, &r, LMTP_CMD_TIMEOUT) == -1 ? -1 : 0;
		goto out;
	}
	if (lcmd(s, "sending DATA", "DATA") == -1 ||
	    lreply(s, &r, LMTP_CMD_TIMEOUT) == -1)
		goto out;
	if (r.code != 354) {
		for (size_t k = 0; k < to - from; k++)
			if (acc[k])
				answer_reply(s, from + k, &r, "DATA");
		rv = lcmd(s, "sending RSET", "RSET") == -1 ||
		    lreply(s, &r, LMTP_CMD_TIMEOUT) == -1 ? -1 : 0;
		goto out;
	}
	if (lcontent(s) == -1)
		goto out;
	s->stage = "reading the replies after the message -- it may be "
	    "delivered twice";
	for (size_t k = 0; k < to - from; k++) {
		if (!acc[k])
			continue;
		if (lreply(s, &r, LMTP_FINAL_TIMEOUT) == -1)
			goto out;
		answer_reply(s, from + k, &r, "end of DATA");
	}
	rv = 0;
out:
	free(acc);
	return rv;
}

void
lmtp_deliver(const struct lmtp_target *t, const struct lmtp_msg *m)
{
	struct lsess		 s;
	struct smtp_reply	 r;
	int			 ok;

	memset(&s, 0, sizeof(s));
	s.t = t;
	s.m = m;
	s.fd = -1;
	if (m->nrcpt == 0)
		return;
	s.answered = xcalloc(m->nrcpt, 1);
	if (lconnect(&s) == 0 && lhello(&s) == 0) {
		ok = 1;
		for (size_t from = 0; ok && from < m->nrcpt;
		    from += LMTP_MAX_RCPT)
			ok = ltransaction(&s, from, from + LMTP_MAX_RCPT <
			    m->nrcpt ? from + LMTP_MAX_RCPT : m->nrcpt) == 0;
		if (ok && lcmd(&s, "sending QUIT", "QUIT") == 0)
			(void)lreply(&s, &r, 5);
	}
	answer_failed(&s);
	if (s.fd != -1)
		close(s.fd);
	free(s.answered);
}
