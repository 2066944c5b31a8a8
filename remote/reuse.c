/*
 * remote reuse: the per-process cache of idle SMTP sessions, keyed by next
 * hop, reused after RSET. A session with an error, a 421, unread input or
 * other credentials is never reused; the password is never kept.
 */
#include <poll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "remote.h"

static struct cached	 cache[CACHE_MAX];

void
cache_init(void)
{
	for (int i = 0; i < CACHE_MAX; i++)
		cache[i].c.fd = -1;
}

/* The idle sessions' fds, to poll with the listeners: a peer that closes
 * is noticed at once. Returns how many were filled (at most max). */
int
cache_fds(struct pollfd *pfd, int max)
{
	int n = 0;

	for (int i = 0; i < CACHE_MAX && n < max; i++)
		if (cache[i].used) {
			pfd[n].fd = cache[i].c.fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
	return n;
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
void
cache_expire(void)
{
	long long now = clock_ms();

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
int
cache_wait_ms(int max_ms)
{
	long long now = clock_ms(), w = max_ms;

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
void
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
void
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
	k->tls = j->tls;
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
	k->idle_since = clock_ms();
	explicit_bzero(c->in, sizeof(c->in));
	c->fd = -1;
	c->tls = NULL;
}

/*
 * The next message for a next hop with a cached session: RSET, and on
 * 250 the transaction on it. -1 when there was no usable session (the
 * caller connects afresh: nothing was said to any recipient).
 */
int
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
		if (cache[i].used && cache[i].tls == j->tls &&
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
	if (clock_ms() - k->idle_since >= CACHE_IDLE_MS) {
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
	set_last(j, DS_DEFER, 451, "4.3.0",
	    "delivery via %s[%s] did not complete", j->host, j->ip);
	(void)transaction(j, &c, &e);
	session_end(j, &c, &e, uses + 1);
	return 0;
}

