/*
 * remote conn: one SMTP connection's I/O, plain or TLS, with poll()-based
 * deadlines. Reads are bounded by the reply parser's line limit; a command
 * line that may carry a secret is wiped after it is sent.
 */
#include <sys/socket.h>

#include <poll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "remote.h"

/*
 * Wait until fd is ready for ev or the deadline (clock_ms()) passes: 0, or
 * -1 with errno ETIMEDOUT or poll's error. Shared by connect, the TLS
 * handshake and the dialogue.
 */
int
fd_wait(int fd, short ev, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };

	for (;;) {
		long long left = deadline - clock_ms();
		int r;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR)
			return -1;
	}
}

/* After a send or read that failed with errno: 0 to try again (it was
 * interrupted, or the fd became ready), -1 with c->err set. */
static int
conn_retry(struct conn *c, short want, long long deadline)
{
	if (errno == EINTR)
		return 0;
	if (errno == EAGAIN) {
		if (fd_wait(c->fd, want, deadline) == 0)
			return 0;
		c->err = errno == ETIMEDOUT ? C_TIMEOUT : C_LOST;
		return -1;
	}
	c->err = C_LOST;
	return -1;
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

/* One read or TLS read into the input buffer, as conn_send. */
static ssize_t
conn_recv(struct conn *c, short *want)
{
	ssize_t n;

	if (c->tls != NULL)
		return tlsc_read(c->tls, c->in + c->inlen,
		    sizeof(c->in) - c->inlen, want);
	*want = POLLIN;
	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == -1 && errno == EWOULDBLOCK)
		errno = EAGAIN;
	return n;
}

int
conn_write(struct conn *c, const char *p, size_t len, int timeout_s)
{
	long long deadline = clock_ms() + (long long)timeout_s * 1000;

	while (len > 0) {
		short want = POLLOUT;
		ssize_t n = conn_send(c, p, len, &want);

		if (n == -1) {
			if (conn_retry(c, want, deadline) == -1)
				return -1;
			continue;
		}
		p += n;
		len -= (size_t)n;
		/* a slow but moving peer gets a fresh timeout per write */
		deadline = clock_ms() + (long long)timeout_s * 1000;
	}
	return 0;
}

/* One line of a reply from the input buffer, if a whole one is there:
 * 1 the reply is complete, 0 more to read, -1 protocol error. */
static int
conn_reply_line(struct conn *c, struct smtp_reply *r, int *more)
{
	char *lf = memchr(c->in, '\n', c->inlen);
	size_t ll;
	int rv;

	*more = lf == NULL;
	if (lf == NULL) {
		if (c->inlen < SMTP_REPLY_MAX_LINE)
			return 0;
		c->err = C_PROTO;
		c->why = "reply line too long";
		return -1;
	}
	ll = (size_t)(lf - c->in);
	rv = smtp_reply_line(r, c->in, ll, &c->why);
	memmove(c->in, lf + 1, c->inlen - ll - 1);
	c->inlen -= ll + 1;
	if (rv == -1)
		c->err = C_PROTO;
	else if (rv == 1 && r->code == 421)
		c->saw421 = 1;
	return rv;
}

/* Read one complete reply (all its lines) within timeout_s. */
int
conn_reply(struct conn *c, struct smtp_reply *r, int timeout_s)
{
	long long deadline = clock_ms() + (long long)timeout_s * 1000;

	smtp_reply_init(r);
	for (;;) {
		short want = POLLIN;
		ssize_t n;
		int more, rv = conn_reply_line(c, r, &more);

		if (rv != 0)
			return rv == 1 ? 0 : -1;
		if (!more)
			continue;
		n = conn_recv(c, &want);
		if (n == 0) {
			c->err = C_LOST;
			return -1;
		}
		if (n == -1) {
			if (conn_retry(c, want, deadline) == -1)
				return -1;
			continue;
		}
		c->inlen += (size_t)n;
	}
}

/* Send one command line (CRLF added) and read its reply. */
int
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
void
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

void
quit_within(struct conn *c, int timeout_s)
{
	struct smtp_reply r;

	(void)conn_cmd(c, &r, timeout_s, "sending QUIT", "QUIT");
}

void
quit(struct conn *c)
{
	quit_within(c, QUIT_TIMEOUT);
}

/* Close a connection: QUIT first (within timeout_s) if it is still sane. */
void
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
