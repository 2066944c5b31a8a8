/*
 * route: the one routing decision (order in route.h). Reads only the
 * configuration and the domain lists it loaded at start; must never
 * block, resolve names or open a relay: a domain is ours only by an
 * exact match, a relay domain only at a label boundary.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "route.h"

int
route_init(struct router *rt, const struct conf *c, struct conf_errors *errs)
{
	int r = 0;

	memset(rt, 0, sizeof(*rt));
	rt->conf = c;
	if (domain_list_load(c->local_domains, &rt->local, errs) == -1)
		r = -1;
	if (domain_list_load(c->relay_domains, &rt->relay, errs) == -1)
		r = -1;
	return r;
}

void
route_free(struct router *rt)
{
	domain_list_free(&rt->local);
	domain_list_free(&rt->relay);
}

static const char *
own_name(const struct router *rt)
{
	return rt->conf->hostname != NULL ? rt->conf->hostname : "localhost";
}

/* a == b, ignoring case and one trailing dot of a. */
static int
same_domain(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n > 0 && a[n - 1] == '.')
		n--;
	return n > 0 && strlen(b) == n && strncasecmp(a, b, n) == 0;
}

enum route_dest
route_domain(const struct router *rt, const char *domain)
{
	if (same_domain(domain, own_name(rt)) ||
	    same_domain(domain, "localhost") ||
	    domain_list_match(&rt->local, domain, 0))
		return ROUTE_LOCAL;
	if (domain_list_match(&rt->relay, domain, 1))
		return ROUTE_RELAY_DOMAIN;
	return ROUTE_ELSEWHERE;
}

int
route_relay_client(const struct router *rt, const char *name)
{
	return domain_list_match(&rt->relay, name, 1);
}

int
route_local_part_trick(const char *local)
{
	return local[0] == '@' || strpbrk(local, "%!@") != NULL;
}

static void	 trace(route_trace_fn *, void *, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));

static void
trace(route_trace_fn *fn, void *arg, const char *step, const char *fmt, ...)
{
	char what[ROUTE_ADDR_MAX + 64];
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fn(arg, step, what);
}

static int
copy(char *dst, size_t len, const char *src)
{
	return strlcpy(dst, src, len) < len ? 0 : -1;
}

/* Step 1: the rewritten address and its domain. */
static int
normalise(const struct router *rt, const char *rcpt, struct route *r)
{
	struct addr a;
	const char *at;

	if (addr_parse_path(rcpt, strlen(rcpt), 0, &a, NULL) == 0) {
		if (a.domain[0] == '\0' && copy(a.domain, sizeof(a.domain),
		    own_name(rt)) == 0)
			addr_domain_norm(a.domain);
		if (addr_format(&a, r->addr, sizeof(r->addr)) == -1)
			return -1;
		return copy(r->domain, sizeof(r->domain), a.domain);
	}
	if (copy(r->addr, sizeof(r->addr), rcpt) == -1)
		return -1;
	at = strrchr(rcpt, '@');
	if (copy(r->domain, sizeof(r->domain), at != NULL ? at + 1 : "") == -1)
		return -1;
	if (r->domain[0] != '[')
		addr_domain_norm(r->domain);
	if (r->domain[0] == '\0' && copy(r->domain, sizeof(r->domain),
	    own_name(rt)) == 0)
		addr_domain_norm(r->domain);
	return 0;
}

int
route_resolve(const struct router *rt, const char *rcpt, struct route *r,
    route_trace_fn *fn, void *arg)
{
	const struct conf *c = rt->conf;

	memset(r, 0, sizeof(*r));
	if (normalise(rt, rcpt, r) == -1)
		return -1;
	trace(fn, arg, "address", "<%s>, domain %s", r->addr, r->domain);
	/* [Step 3] masquerading and virtual_map rewrite r->addr here. */
	r->dest = route_domain(rt, r->domain);
	if (r->dest == ROUTE_LOCAL) {
		r->transport = transport_role(TROLE_LOCAL);
		r->tls = RTLS_NONE;
		trace(fn, arg, "local_domains", "%s is local", r->domain);
		return copy(r->nexthop, sizeof(r->nexthop), own_name(rt));
	}
	/* [Step 3] transport_map picks r->transport and r->nexthop here. */
	if (r->dest == ROUTE_RELAY_DOMAIN)
		trace(fn, arg, "relay_domains", "%s is a relay domain",
		    r->domain);
	r->transport = transport_role(TROLE_DEFAULT);
	r->tls = c->remote_tls;
	if (c->smarthost != NULL) {
		trace(fn, arg, "smarthost", "via %s", c->smarthost);
		return copy(r->nexthop, sizeof(r->nexthop), c->smarthost);
	}
	trace(fn, arg, "mx", "MX of %s", r->domain);
	return copy(r->nexthop, sizeof(r->nexthop), r->domain);
}
