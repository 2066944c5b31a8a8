/*
 * smtpd dns: asynchronous lookups inside smtpd's libevent loop. libunbound
 * resolves in its own thread and signals through ub_fd(); we read answers
 * with ub_process() and hand them to the caller after it returns, with a
 * per-query timeout. Must never block the loop, and never call back a
 * query that was cancelled (its session may be gone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "dns.h"
#include "log.h"
#include "idn.h"
#include "smtpd.h"
#include "utf8.h"

#define SDNS_TIMEOUT	10	/* seconds per query */

struct sdns_q {
	TAILQ_ENTRY(sdns_q) entry;
	int		 id;		/* libunbound async id */
	int		 tag;
	int		 state;		/* 0 waiting, 1 answered, 2 cancelled */
	enum dns_status	 st;
	struct ub_result *res;
	struct event	*timer;
	sdns_cb		 cb;
	void		*arg;
};
TAILQ_HEAD(sdns_list, sdns_q);

static struct ub_ctx	*ctx;
static struct event	*ub_ev;
static struct sdns_list	 done = TAILQ_HEAD_INITIALIZER(done);

static void
q_free(struct sdns_q *q)
{
	if (q->res)
		ub_resolve_free(q->res);
	event_free(q->timer);
	free(q);
}

/* Hand answered queries to their owners, outside ub_process. */
static void
deliver_done(void)
{
	struct sdns_q *q;

	while ((q = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, q, entry);
		if (q->state == 1)
			q->cb(q->arg, q->tag, q->st, q->res);
		q_free(q);
	}
}

static void
ub_cb(void *arg, int err, struct ub_result *res)
{
	struct sdns_q *q = arg;

	evtimer_del(q->timer);
	q->res = res;
	if (err != 0 || res == NULL)
		q->st = DNS_TEMPFAIL;
	else if (res->rcode == 3)
		q->st = DNS_NXDOMAIN;
	else if (res->rcode != 0)
		q->st = DNS_TEMPFAIL;
	else
		q->st = res->havedata ? DNS_OK : DNS_NODATA;
	if (q->state == 0)
		q->state = 1;
	TAILQ_INSERT_TAIL(&done, q, entry);
}

static void
ub_readable(evutil_socket_t fd, short ev, void *arg)
{
	int r;

	(void)fd; (void)ev; (void)arg;
	if ((r = ub_process(ctx)) != 0)
		log_warn("resolver: %s", ub_strerror(r));
	deliver_done();
}

static void
q_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct sdns_q *q = arg;

	(void)fd; (void)ev;
	(void)ub_cancel(ctx, q->id);
	q->st = DNS_TEMPFAIL;
	q->state = 1;
	TAILQ_INSERT_TAIL(&done, q, entry);
	deliver_done();
}

int
sdns_init(void)
{
	char err[256];

	if ((ctx = dns_ctx_new(wk.conf.dns_servers, 1, err, sizeof(err)))
	    == NULL) {
		log_error("%s: DNS lookups disabled", err);
		return -1;
	}
	ub_ev = event_new(base, ub_fd(ctx), EV_READ | EV_PERSIST, ub_readable,
	    NULL);
	if (ub_ev == NULL || event_add(ub_ev, NULL) == -1) {
		log_error("cannot watch the resolver: DNS lookups disabled");
		ub_ctx_delete(ctx);
		ctx = NULL;
		return -1;
	}
	return 0;
}

struct sdns_q *
sdns_query(const char *name, int type, int tag, sdns_cb cb, void *arg)
{
	struct timeval tv = { SDNS_TIMEOUT, 0 };
	struct sdns_q *q;
	char alabel[256];
	int r;

	if (ctx == NULL)
		return NULL;
	if (utf8_has8bit(name, strlen(name))) {	/* a U-label: RFC 5891 */
		if (idn_domain_ascii(name, alabel, sizeof(alabel)) == -1)
			return NULL;
		name = alabel;
	}
	q = xcalloc(1, sizeof(*q));
	q->tag = tag;
	q->cb = cb;
	q->arg = arg;
	if ((q->timer = evtimer_new(base, q_timeout, q)) == NULL) {
		free(q);
		return NULL;
	}
	if ((r = ub_resolve_async(ctx, name, type, 1, q, ub_cb, &q->id))
	    != 0) {
		log_warn("resolver: %s: %s", name, ub_strerror(r));
		event_free(q->timer);
		free(q);
		return NULL;
	}
	evtimer_add(q->timer, &tv);
	return q;
}

void
sdns_cancel(struct sdns_q *q)
{
	if (q == NULL)
		return;
	if (q->state == 0 && q->res == NULL) {
		/* still at libunbound: it will not call us back */
		(void)ub_cancel(ctx, q->id);
		q_free(q);
		return;
	}
	q->state = 2;	/* on the done list: freed there, not delivered */
}
