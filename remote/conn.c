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

int
wait_fd(struct conn *c, short ev, long long deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = ev };

	for (;;) {
		long long left = deadline - clock_ms();
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

int
conn_write(struct conn *c, const char *p, size_t len, int timeout_s)
{
	long long deadline = clock_ms() + (long long)timeout_s * 1000;

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
		deadline = clock_ms() + (long long)timeout_s * 1000;
	}
	return 0;
}

/* Read one complete reply (all its lines) within timeout_s. */
int
conn_reply(struct conn *c, struct smtp_reply *r, int timeout_s)
{
	long long deadline = clock_ms() + (long long)timeout_s * 1000;

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
