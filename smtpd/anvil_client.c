/*
 * smtpd anvil client: one persistent connection from this smtpd to the
 * anvil service (private/anvil), used from the event loop only: requests
 * are queued, replies come back in order to a callback. Must never block
 * and never make a decision itself: when anvil is down, slow or restarted
 * callers get "no answer" and fall back to their per-process tables.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "proto.h"
#include "qfile.h"
#include "smtpd.h"

#define PEND_MAX	4096	/* requests in flight */
#define REPLY_WAIT_MS	1000	/* anvil must answer within this */
#define RETRY_MS	500	/* reconnect / check interval */
#define HUNG_WAIT_MS	5000	/* after a timeout, stay away this long */

struct pend {
	anvil_cb	 cb;
	void		*arg;
	long long	 sent;	/* ms, monotonic */
};

static struct bufferevent	*abev;
static unsigned			 agen;		/* connection generation */
static struct event		*atimer;
static struct pend		 pq[PEND_MAX];
static size_t			 phead, pn;
static struct ipc_msg		 amsg;
static struct buf		 aout;
static int			 warned;	/* outage logged */
static long long		 retry_at;	/* ms: no reconnect before */

/* Connection lost: every pending caller gets "no answer". */
static void
anvil_drop(const char *why)
{
	struct pend p;

	if (abev == NULL)
		return;
	if (!warned)
		log_warn("anvil: %s; using this process's counters until it "
		    "is back", why);
	warned = 1;
	bufferevent_free(abev);
	abev = NULL;
	agen++;
	while (pn > 0) {
		p = pq[phead];
		phead = (phead + 1) % PEND_MAX;
		pn--;
		if (p.cb)
			p.cb(p.arg, NULL);
	}
}

static void
anvil_read(struct bufferevent *b, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(b);
	unsigned gen = agen;
	struct anvil_reply r;
	struct pend p;
	char why[128];

	(void)arg;
	while (abev == b && gen == agen) {
		size_t len = evbuffer_get_length(in);
		unsigned char *d;
		long n;

		if (len < 4)
			return;
		d = evbuffer_pullup(in, -1);
		if ((n = ipc_frame_ready(d, len)) == -1 ||
		    (n > 0 && ipc_parse(&amsg, d + 4, (size_t)n - 4) == -1)) {
			anvil_drop("malformed reply");
			return;
		}
		if (n == 0)
			return;
		if (anvil_reply_decode(&amsg, &r, why, sizeof(why)) == -1) {
			log_warn("anvil: bad reply: %s", why);
			anvil_drop("malformed reply");
			return;
		}
		evbuffer_drain(in, (size_t)n);
		if (pn == 0) {
			anvil_drop("reply without a request");
			return;
		}
		p = pq[phead];
		phead = (phead + 1) % PEND_MAX;
		pn--;
		if (p.cb)
			p.cb(p.arg, &r);	/* may end sessions */
	}
}

static void
anvil_event(struct bufferevent *b, short what, void *arg)
{
	(void)b; (void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		if (warned)
			log_info("anvil: connected again");
		warned = 0;
		return;
	}
	anvil_drop((what & BEV_EVENT_EOF) ? "connection closed" :
	    "connection error");
}

static void
anvil_connect(void)
{
	struct sockaddr_un sun;
	char path[512];

	queue_path(&wk.conf, QDIR_PRIVATE "/anvil", path, sizeof(path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	abev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (abev == NULL)
		return;
	bufferevent_setcb(abev, anvil_read, NULL, anvil_event, NULL);
	bufferevent_setwatermark(abev, EV_READ, 0, IPC_MAX_FRAME + 4);
	bufferevent_enable(abev, EV_READ | EV_WRITE);
	/* Requests queue in the output buffer while it connects. */
	if (bufferevent_socket_connect(abev, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1)
		anvil_drop("cannot connect");
}

/* Reconnect when down; give up on a request anvil sits on. */
static void
anvil_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd; (void)ev; (void)arg;
	if (abev == NULL && !shutting && clock_ms() >= retry_at)
		anvil_connect();
	else if (abev != NULL && pn > 0 &&
	    clock_ms() - pq[phead].sent > REPLY_WAIT_MS) {
		/* hung, not dead: don't make every client wait again soon */
		retry_at = clock_ms() + HUNG_WAIT_MS;
		anvil_drop("no reply within 1 s");
	}
}

/* Set up on first use, from the event loop. */
static void
anvil_init(void)
{
	struct timeval tv = { 0, RETRY_MS * 1000 };

	if (atimer != NULL)
		return;
	ipc_msg_init(&amsg);
	buf_init(&aout, 4096);
	if ((atimer = event_new(base, -1, EV_PERSIST, anvil_tick, NULL)) ==
	    NULL || event_add(atimer, &tv) == -1)
		fatal("anvil: cannot add timer");
	anvil_connect();
}

int
anvil_up(void)
{
	anvil_init();
	return abev != NULL;
}

unsigned
anvil_generation(void)
{
	return agen;
}

static int
anvil_frame(enum proto_req req, const char *ip, const char *listener)
{
	struct anvil_request r = { .req = req };

	if (strlcpy(r.ip, ip, sizeof(r.ip)) >= sizeof(r.ip))
		return -1;
	if (listener != NULL)	/* anvil keeps 32 bytes of it */
		(void)strlcpy(r.listener, listener, sizeof(r.listener));
	if (anvil_request_encode(&aout, &r) == -1)
		return -1;
	return bufferevent_write(abev, aout.data, aout.len);
}

int
anvil_request(enum proto_req req, const char *ip, const char *listener,
    anvil_cb cb, void *arg)
{
	struct pend *p;

	if (!anvil_up() || pn >= PEND_MAX)
		return -1;
	if (anvil_frame(req, ip, listener) == -1)
		return -1;
	p = &pq[(phead + pn) % PEND_MAX];
	p->cb = cb;
	p->arg = arg;
	p->sent = clock_ms();
	pn++;
	return 0;
}

void
anvil_notify(enum proto_req req, const char *ip)
{
	if (anvil_up())
		(void)anvil_frame(req, ip, NULL);
}

void
anvil_cancel(void *arg)
{
	for (size_t i = 0; i < pn; i++) {
		struct pend *p = &pq[(phead + i) % PEND_MAX];

		if (p->arg == arg)
			p->cb = NULL;
	}
}
