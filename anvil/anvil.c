/*
 * anvil: the per-client-IP counters every smtpd shares (failed AUTHs and
 * the AUTH lockout they lead to, connections per minute, open sessions;
 * an IPv6 client is its /64, lib/proto's anvil_client_key), kept in
 * one bounded in-memory table and served on private/anvil (lib/ipc frames,
 * docs/internals.md). A restart forgets everything. It never blocks on a
 * client, never grows without bound, never touches the network or queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "buf.h"
#include "log.h"
#include "proto.h"
#include "worker.h"

#define SLOTS		16384	/* client IPs remembered (LRU eviction) */
#define BUCKETS		32768	/* hash heads, a power of two */
#define IP_MAX		64
/* auth_failure_limit failed AUTHs within auth_failure_window lock the
 * client out of AUTH for auth_lockout_time (a limit of 0: never) */
#define FAIL_MAX	wk.conf.auth_failure_limit
#define FAIL_WINDOW	((time_t)wk.conf.auth_failure_window)
#define FAIL_BAN	((time_t)wk.conf.auth_lockout_time)
#define CONN_WINDOW	60	/* connection rate window, seconds */
#define MAX_CLIENTS	256	/* smtpd processes connected */
#define MAX_HELD	65536	/* open sessions one client may announce */
#define MAX_INPUT	(IPC_MAX_FRAME + 4)

struct rec {
	char	 ip[IP_MAX];
	int	 hnext;		/* hash chain: index + 1, 0 ends */
	int	 prev, next;	/* LRU list, -1 ends */
	unsigned serial;	/* bumped when the slot is reused */
	unsigned fails;
	time_t	 fail_first;
	time_t	 blocked_until;
	time_t	 conn_start;
	unsigned conn_count;
	unsigned sessions;
};

struct held {
	int	 idx;
	unsigned serial;
};

struct client {
	struct bufferevent *bev;
	struct held	*held;	/* one per announced open session */
	size_t		 nheld, aheld;
};

static struct worker		 wk;
static struct event_base	*base;
static struct rec		*recs;
/* index + 1, 0 empty: the table stays untouched zero pages until used */
static int			 heads[BUCKETS];
static int			 lru_head = -1, lru_tail = -1;	/* MRU, LRU */
static int			 nused;
static size_t			 nclients;
static struct ipc_msg		 msg;
static struct buf		 out;
static long long		 rejected[2];	/* [0] connections, [1] RCPTs */
static time_t			 anvil_started;

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 2166136261u;

	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h & (BUCKETS - 1);
}

static void
lru_unlink(int i)
{
	struct rec *r = &recs[i];

	if (r->prev != -1)
		recs[r->prev].next = r->next;
	else
		lru_head = r->next;
	if (r->next != -1)
		recs[r->next].prev = r->prev;
	else
		lru_tail = r->prev;
	r->prev = r->next = -1;
}

static void
lru_front(int i)
{
	struct rec *r = &recs[i];

	r->prev = -1;
	r->next = lru_head;
	if (lru_head != -1)
		recs[lru_head].prev = i;
	lru_head = i;
	if (lru_tail == -1)
		lru_tail = i;
}

static void
hash_unlink(int i)
{
	int *pp = &heads[ip_hash(recs[i].ip)];

	while (*pp != 0 && *pp != i + 1)
		pp = &recs[*pp - 1].hnext;
	if (*pp == i + 1)
		*pp = recs[i].hnext;
	recs[i].hnext = 0;
}

/* The record of ip (most recently used now), or -1; create may evict. */
static int
rec_find(const char *ip, int create)
{
	unsigned h = ip_hash(ip);
	int i, n;

	for (n = heads[h]; n != 0; n = recs[n - 1].hnext)
		if (strcmp(recs[n - 1].ip, ip) == 0)
			break;
	i = n - 1;
	if (i == -1 && !create)
		return -1;
	if (i != -1) {
		lru_unlink(i);
		lru_front(i);
		return i;
	}
	if (nused < SLOTS)
		i = nused++;
	else {
		static time_t said;

		i = lru_tail;
		if (time(NULL) - said >= 3600) {
			said = time(NULL);
			log_warn("table full (%d clients): forgetting the least "
			    "recently seen ones", SLOTS);
		}
		lru_unlink(i);
		hash_unlink(i);
	}
	unsigned serial = recs[i].serial + 1;
	memset(&recs[i], 0, sizeof(recs[i]));
	recs[i].serial = serial;
	snprintf(recs[i].ip, sizeof(recs[i].ip), "%s", ip);
	recs[i].hnext = heads[h];
	heads[h] = i + 1;
	lru_front(i);
	return i;
}

static void
reply_send(struct client *c, const struct anvil_reply *r)
{
	if (anvil_reply_encode(&out, r) == -1 ||
	    bufferevent_write(c->bev, out.data, out.len) == -1)
		log_warn("cannot queue a reply");
}

static void
reply_error(struct client *c, const char *text)
{
	struct anvil_reply r = { 0, -1, -1, -1, -1, "" };

	(void)strlcpy(r.text, text, sizeof(r.text));
	reply_send(c, &r);
}

/* status=ok with the counters given (-1: not in this reply). */
static void
reply_ok(struct client *c, long long count, long long blocked,
    long long count_minute, long long sessions)
{
	struct anvil_reply r = { 1, count, blocked, count_minute, sessions,
	    "" };

	reply_send(c, &r);
}

static int
blocked(const struct rec *r, time_t now)
{
	return r->blocked_until > now;
}

static void
do_auth_fail(struct client *c, const char *ip, const char *listener,
    time_t now)
{
	int i = rec_find(ip, 1);
	struct rec *r = &recs[i];
	unsigned n;

	if (r->fails == 0 || now - r->fail_first > FAIL_WINDOW) {
		r->fails = 0;
		r->fail_first = now;
	}
	n = ++r->fails;
	if (FAIL_MAX > 0 && n >= FAIL_MAX && !blocked(r, now)) {
		r->blocked_until = now + FAIL_BAN;
		r->fails = 0;
		log_warn("blocking %s for %llds: %u failed AUTHs within %llds "
		    "(last on listener %s)", ip, (long long)FAIL_BAN, n,
		    (long long)FAIL_WINDOW, listener);
	} else
		log_debug("failed AUTH from %s on %s (%u within %llds)", ip,
		    listener, n, (long long)FAIL_WINDOW);
	reply_ok(c, n, blocked(r, now), -1, -1);
}

static void
do_auth_check(struct client *c, const char *ip, time_t now)
{
	int i = rec_find(ip, 0);

	reply_ok(c, -1, i != -1 && blocked(&recs[i], now), -1, -1);
}

static void
do_connect(struct client *c, const char *ip, time_t now)
{
	int i = rec_find(ip, 1);
	struct rec *r = &recs[i];

	if (r->conn_count == 0 || now - r->conn_start >= CONN_WINDOW) {
		r->conn_start = now;
		r->conn_count = 0;
	}
	r->conn_count++;
	/* The session is tied to this smtpd: if it goes, so does the count. */
	if (c->nheld < MAX_HELD) {
		if (c->nheld == c->aheld) {
			size_t n = c->aheld ? c->aheld * 2 : 64;

			c->held = xreallocarray(c->held, n, sizeof(*c->held));
			c->aheld = n;
		}
		c->held[c->nheld].idx = i;
		c->held[c->nheld].serial = r->serial;
		c->nheld++;
		r->sessions++;
	}
	reply_ok(c, -1, -1, r->conn_count, r->sessions);
}

static void
held_release(struct held *h)
{
	struct rec *r = &recs[h->idx];

	if (r->serial == h->serial && r->sessions > 0)
		r->sessions--;
}

/* One-way: no reply. */
static void
do_disconnect(struct client *c, const char *ip)
{
	int i = rec_find(ip, 0);

	if (i == -1)
		return;
	for (size_t k = 0; k < c->nheld; k++)
		if (c->held[k].idx == i &&
		    c->held[k].serial == recs[i].serial) {
			held_release(&c->held[k]);
			c->held[k] = c->held[--c->nheld];
			return;
		}
}

static void
client_free(struct client *c)
{
	for (size_t k = 0; k < c->nheld; k++)
		held_release(&c->held[k]);
	free(c->held);
	bufferevent_free(c->bev);
	free(c);
	nclients--;
}

/* req=stats (the CLI): the rejections smtpd reported since anvil
 * started. */
static void
stats_send(struct client *c)
{
	struct proto_stats st;

	for (size_t i = 0; i < PSTAT_N; i++)
		st.v[i] = -1;
	st.v[PSTAT_REJECTED_CONN] = rejected[0];
	st.v[PSTAT_REJECTED_RCPT] = rejected[1];
	st.v[PSTAT_STARTED] = (long long)anvil_started;
	if (proto_stats_encode(&out, &st) == -1 ||
	    bufferevent_write(c->bev, out.data, out.len) == -1)
		log_warn("cannot queue a reply");
}

/* Handle one request; -1 drops the client. */
static int
handle(struct client *c)
{
	struct anvil_request r;
	time_t now = time(NULL);
	char why[128];

	if (ipc_get(&msg, ATTR_REQ) == NULL)
		return -1;
	if (proto_req_type(&msg) == REQ_STATS) {
		stats_send(c);
		return 0;
	}
	if (anvil_request_decode(&msg, &r, why, sizeof(why)) == -1) {
		if (proto_req_type(&msg) != REQ_DISCONNECT)
			reply_error(c, why);
		return 0;
	}
	switch (r.req) {
	case REQ_AUTH_FAIL:
		do_auth_fail(c, r.ip, r.listener[0] ? r.listener : "?", now);
		break;
	case REQ_AUTH_CHECK:
		do_auth_check(c, r.ip, now);
		break;
	case REQ_CONNECT:
		do_connect(c, r.ip, now);
		break;
	case REQ_REJECT_RCPT:
	case REQ_REJECT_CONN:	/* counted only: smtpd waits for nothing */
		rejected[r.req == REQ_REJECT_RCPT]++;
		break;
	default:
		do_disconnect(c, r.ip);
		break;
	}
	return 0;
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t len = evbuffer_get_length(in);
		unsigned char *p;
		long n;

		if (len < 4)
			return;
		p = evbuffer_pullup(in, -1);
		if ((n = ipc_frame_ready(p, len)) == -1)
			goto bad;
		if (n == 0)
			return;
		if (ipc_parse(&msg, p + 4, (size_t)n - 4) == -1)
			goto bad;
		evbuffer_drain(in, (size_t)n);
		if (handle(c) == -1)
			goto bad;
	}
bad:
	log_warn("malformed request from a client: dropped");
	client_free(c);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct client *c;

	(void)l; (void)sa; (void)salen; (void)arg;
	if (nclients >= MAX_CLIENTS) {
		log_warn("too many clients (%d): connection refused",
		    MAX_CLIENTS);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	nclients++;
	bufferevent_setwatermark(c->bev, EV_READ, 0, MAX_INPUT);
	bufferevent_setcb(c->bev, client_read, NULL, client_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd; (void)ev; (void)arg;
	if (worker_stop)
		event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	struct timeval one = { 1, 0 };
	struct evconnlistener *lst;
	struct event *tick;
	int fd;

	worker_init(&wk, "anvil", argc, argv);
	anvil_started = time(NULL);
	if (wk.nlisten < 1)
		fatal("no listening socket (start me from postern start)");
	recs = xcalloc(SLOTS, sizeof(*recs));
	ipc_msg_init(&msg);
	buf_init(&out, 4096);
	worker_confine(&wk);
	if ((base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	fd = wk.listen_fd[0];
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		fatal("fcntl fd %d: %s", fd, strerror(errno));
	lst = evconnlistener_new(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE,
	    0, fd);
	if (lst == NULL)
		fatal("evconnlistener_new failed");
	if ((tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL)) == NULL ||
	    event_add(tick, &one) == -1)
		fatal("cannot add timer");
	log_info("started: %d client slots (IPv6 by /64), %u failed AUTHs "
	    "in %llds block AUTH for %llds (counters are in memory only)",
	    SLOTS, FAIL_MAX, (long long)FAIL_WINDOW, (long long)FAIL_BAN);

	event_base_dispatch(base);

	log_info("stopping: %d client IP(s) known, %zu smtpd connection(s)",
	    nused, nclients);
	evconnlistener_free(lst);
	event_free(tick);
	ipc_msg_free(&msg);
	buf_free(&out);
	return 0;
}
