/*
 * route: the one routing decision (order in route.h). Reads only the
 * configuration and the domain lists it loaded at start; must never
 * block, resolve names or open a relay: a domain is ours only by an
 * exact match, a relay domain only at a label boundary.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idn.h"
#include "route.h"
#include "utf8.h"

/* A map that is not set, or not compiled, is empty. */
static int
open_map(struct map *m, const char *path, struct conf_errors *errs)
{
	m->fd = -1;
	if (path == NULL)
		return 0;
	if (map_open(m, path) == -1) {
		conf_errors_add(errs, 0, "%s.cdb: cannot open: %s", path,
		    strerror(errno));
		m->fd = -1;
		m->cdb = NULL;
		return -1;
	}
	return 0;
}

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
	if (open_map(&rt->virt, c->virtual_map, errs) == -1)
		r = -1;
	if (open_map(&rt->trans, c->transport_map, errs) == -1)
		r = -1;
	return r;
}

void
route_free(struct router *rt)
{
	domain_list_free(&rt->local);
	domain_list_free(&rt->relay);
	map_close(&rt->virt);
	map_close(&rt->trans);
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

/* 1 if the map has key (lower-cased), 0 not, -1 lookup error. */
static int
has_key(const struct map *m, const char *key)
{
	char *v = NULL;
	int r = map_lookup(m, key, &v);

	free(v);
	return r;
}

static int	 lookup_errno;

/* Did the last getpwnam() fail to read the database, rather than find
 * no such user? (glibc: 0, ENOENT, ESRCH, EBADF or EPERM mean "none".) */
static int
user_db_failed(void)
{
	return lookup_errno != 0 && lookup_errno != ENOENT &&
	    lookup_errno != ESRCH && lookup_errno != EBADF &&
	    lookup_errno != EPERM;
}

int
route_user_known(const struct map *aliases, const char *local)
{
	char u[256];
	size_t bl = addr_local_base_len(local);
	int r;

	if (bl == 0 || bl >= sizeof(u))
		return 0;
	memcpy(u, local, bl);
	u[bl] = '\0';
	for (char *p = u; *p; p++)
		*p = tolower((unsigned char)*p);
	if (strcmp(u, "postmaster") == 0)
		return 1;
	errno = 0;
	if (getpwnam(u) != NULL)
		return 1;
	/* the user database could not be read (EACCES, EIO, ...): not
	 * "unknown", or a refused RCPT would be a permanent 550 */
	lookup_errno = errno;
	if (aliases == NULL)
		return user_db_failed() ? -1 : 0;
	if ((r = has_key(aliases, u)) != 0)
		return r;
	/* an alias for the whole "user+ext" */
	if (local[bl] == '+' && strlen(local) < sizeof(u) &&
	    (r = has_key(aliases, local)) != 0)
		return r;
	return user_db_failed() ? -1 : 0;
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

/* Step 2: virtual_map. 0 go on (r->addr may be rewritten), 1 decided
 * (an error: target), -2 the lookup failed. */
static int
virtual_step(const struct router *rt, struct route *r, route_trace_fn *fn,
    void *arg)
{
	char out[ROUTE_ADDR_MAX], key[ROUTE_ADDR_MAX];
	const char *at;

	switch (route_virtual(rt, r->addr, out, sizeof(out), &r->err, key,
	    sizeof(key))) {
	case RV_NONE:
		if (rt->virt.cdb != NULL &&
		    route_domain(rt, r->domain) == ROUTE_LOCAL)
			trace(fn, arg, "virtual_map", "no entry for <%s>",
			    r->addr);
		return 0;
	case RV_TEMP:
		trace(fn, arg, "virtual_map", "lookup failed for <%s>",
		    r->addr);
		return -2;
	case RV_ERROR:
		trace(fn, arg, "virtual_map", "%s: error %d %s", key,
		    r->err.code, r->err.text);
		return 1;
	case RV_ADDR:
		break;
	}
	trace(fn, arg, "virtual_map", "%s: <%s> -> <%s>", key, r->addr, out);
	at = strrchr(out, '@');
	if (copy(r->addr, sizeof(r->addr), out) == -1 ||
	    copy(r->domain, sizeof(r->domain), at ? at + 1 : "") == -1)
		return -1;
	if (r->domain[0] != '[')
		addr_domain_norm(r->domain);
	return 0;
}

/* Step 4: transport_map. 0 no entry, 1 routed, -1 too long, -2 the
 * lookup failed. */
static int
transport_step(const struct router *rt, struct route *r, route_trace_fn *fn,
    void *arg)
{
	static const char *const kind[] = { "relay", "smtp", "local",
	    "error" };
	struct route_target t;
	char key[300];
	const char *at;
	int n;

	if ((n = route_transport(rt, r->domain, &t, key, sizeof(key))) <= 0) {
		if (n == -1)
			trace(fn, arg, "transport_map", "lookup failed for %s",
			    r->domain);
		return n == 0 ? 0 : -2;
	}
	if (t.kind == RT_ERROR)
		trace(fn, arg, "transport_map", "%s: error %d %s", key,
		    t.err.code, t.err.text);
	else
		trace(fn, arg, "transport_map", "%s: %s:%s%s%s", key,
		    kind[t.kind], t.host, t.tls >= 0 ? " tls=" : "",
		    t.tls >= 0 ? route_tls_word(t.tls) : "");
	switch (t.kind) {
	case RT_ERROR:
		r->err = t.err;
		return 1;
	case RT_LOCAL:
		r->transport = transport_role(TROLE_LOCAL);
		r->tls = RTLS_NONE;
		if (t.host[0] != '\0') {
			if ((size_t)snprintf(r->addr, sizeof(r->addr), "%s@%s",
			    t.host, own_name(rt)) >= sizeof(r->addr))
				return -1;
			at = strrchr(r->addr, '@');
			if (copy(r->domain, sizeof(r->domain), at + 1) == -1)
				return -1;
			addr_domain_norm(r->domain);
		}
		return copy(r->nexthop, sizeof(r->nexthop), own_name(rt)) == 0 ?
		    1 : -1;
	default:
		r->transport = transport_role(TROLE_DEFAULT);
		r->tls = t.tls >= 0 ? (enum conf_remote_tls)t.tls :
		    rt->conf->remote_tls;
		r->tls_map = t.tls >= 0;
		return copy(r->nexthop, sizeof(r->nexthop), t.host) == 0 ?
		    1 : -1;
	}
}

const char *
route_tls_word(int tls)
{
	static const char *const w[] = { "none", "may", "encrypt",
	    "verify" };

	return tls >= 0 && tls < 4 ? w[tls] : "?";
}

int
route_resolve(const struct router *rt, const char *rcpt, struct route *r,
    route_trace_fn *fn, void *arg)
{
	const struct conf *c = rt->conf;
	int n;

	memset(r, 0, sizeof(*r));
	if (normalise(rt, rcpt, r) == -1)
		return -1;
	memcpy(r->orig, r->addr, sizeof(r->orig));
	trace(fn, arg, "address", "<%s>, domain %s", r->addr, r->domain);
	if (rt->virtual_step && (n = virtual_step(rt, r, fn, arg)) != 0)
		return n == 1 ? 0 : n;
	r->dest = route_domain(rt, r->domain);
	if (r->dest == ROUTE_LOCAL) {
		r->transport = transport_role(TROLE_LOCAL);
		r->tls = RTLS_NONE;
		trace(fn, arg, "local_domains", "%s is local", r->domain);
		return copy(r->nexthop, sizeof(r->nexthop), own_name(rt));
	}
	if (r->dest == ROUTE_RELAY_DOMAIN)
		trace(fn, arg, "relay_domains", "%s is a relay domain",
		    r->domain);
	if ((n = transport_step(rt, r, fn, arg)) != 0)
		return n == 1 ? 0 : n;
	r->transport = transport_role(TROLE_DEFAULT);
	r->tls = c->remote_tls;
	if (c->smarthost != NULL) {
		trace(fn, arg, "smarthost", "via %s", c->smarthost);
		return copy(r->nexthop, sizeof(r->nexthop), c->smarthost);
	}
	trace(fn, arg, "mx", "MX of %s", r->domain);
	/* one next hop for both forms of an IDN (qmgr's destinations) */
	if (utf8_has8bit(r->domain, strlen(r->domain)) &&
	    idn_domain_ascii(r->domain, r->nexthop, sizeof(r->nexthop)) == 0)
		return 0;
	return copy(r->nexthop, sizeof(r->nexthop), r->domain);
}
