/*
 * route: `postern route ADDRESS...` prints what the routing layer
 * (maps/route) decides for each address, step by step (virtual_map,
 * local_domains, transport_map, relay_domains, smarthost, MX), then the
 * transport, next hop and TLS policy qmgr would use; `sendmail -bv
 * ADDRESS...` prints the same decision in Sendmail's words. Reads the
 * config and the maps; changes nothing and talks to no daemon.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "map.h"
#include "route.h"
#include "tools.h"
#include "transport.h"

/* sysexits, as Sendmail's -bv */
#define EX_NOUSER_	67
#define EX_NOHOST_	68
#define EX_UNAVAILABLE_	69
#define EX_TEMPFAIL_	75
#define EX_CONFIG_	78

struct verdict {
	struct route	 r;
	int		 rc;		/* route_resolve's */
	int		 known;		/* local: route_user_known's */
};

struct tool {
	struct conf	 c;
	struct router	 rt;
	struct map	 aliases;
	int		 have_aliases;
};

static void
print_step(void *arg, const char *step, const char *what)
{
	(void)arg;
	printf("  %-14s %s\n", step, what);
}

/* Route addr as mail submitted now would go: virtual_map included. */
static void
decide(struct tool *t, const char *addr, struct verdict *v,
    route_trace_fn *fn)
{
	char lp[256];
	const char *at;
	size_t n;

	memset(v, 0, sizeof(*v));
	v->known = 1;
	v->rc = route_resolve(&t->rt, addr, &v->r, fn, NULL);
	if (v->rc != 0 || v->r.err.code != 0 ||
	    v->r.transport != transport_role(TROLE_LOCAL))
		return;
	at = strrchr(v->r.addr, '@');
	n = at != NULL ? (size_t)(at - v->r.addr) : 0;
	if (n >= sizeof(lp))
		n = 0;
	memcpy(lp, v->r.addr, n);
	lp[n] = '\0';
	v->known = route_user_known(t->have_aliases ? &t->aliases : NULL, lp);
}

static int
tool_open(struct tool *t, const char *conf_file)
{
	struct conf_errors errs = { 0 };
	int ret = 0;

	memset(t, 0, sizeof(*t));
	if (tools_conf_load(conf_file, &t->c) == -1) {
		conf_free(&t->c);
		return -1;
	}
	if (route_init(&t->rt, &t->c, &errs) == -1)
		ret = 1;
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "postern: %s\n", errs.msg[i]);
	conf_errors_free(&errs);
	t->rt.virtual_step = 1;
	if (t->c.alias_map != NULL && map_open(&t->aliases, t->c.alias_map)
	    == 0)
		t->have_aliases = 1;
	return ret;
}

static void
tool_close(struct tool *t)
{
	if (t->have_aliases)
		map_close(&t->aliases);
	route_free(&t->rt);
	conf_free(&t->c);
}

static int
route_one(struct tool *t, const char *addr)
{
	struct verdict v;

	printf("%s\n", addr);
	decide(t, addr, &v, print_step);
	if (v.rc == -2) {
		printf("  => no answer: a map lookup failed\n");
		return -1;
	}
	if (v.rc != 0) {
		printf("  => no route: the address or its next hop is too "
		    "long\n");
		return -1;
	}
	if (v.r.err.code != 0) {
		printf("  => error %d %s\n", v.r.err.code, v.r.err.text);
		return 0;
	}
	printf("  => transport %s, next hop %s, tls %s, address <%s>\n",
	    v.r.transport->name, v.r.nexthop, route_tls_word(v.r.tls),
	    v.r.addr);
	if (v.known == 0)
		printf("  (no such user or alias: refused at RCPT, bounced "
		    "if submitted)\n");
	return 0;
}

int
route_main(const char *conf_file, int argc, char **argv)
{
	struct tool t;
	int ret;

	if (argc < 1) {
		fprintf(stderr, "usage: postern route ADDRESS...\n");
		return 2;
	}
	if ((ret = tool_open(&t, conf_file)) == -1)
		return 1;
	for (int i = 0; i < argc; i++)
		if (route_one(&t, argv[i]) == -1)
			ret = 1;
	tool_close(&t);
	return ret;
}

/* One -bv line; its exit status (0: deliverable). */
static int
verify_one(struct tool *t, const char *addr)
{
	struct verdict v;
	const struct route_error *e = &v.r.err;

	decide(t, addr, &v, NULL);
	if (v.rc == -2 || v.known == -1) {
		printf("%s... 451 4.3.0 lookup failed; try again later\n",
		    addr);
		return EX_TEMPFAIL_;
	}
	if (v.rc != 0) {
		printf("%s... 553 5.1.3 bad address\n", addr);
		return EX_UNAVAILABLE_;
	}
	if (e->code != 0) {
		printf("%s... %d %s\n", addr, e->code, e->text);
		if (e->code / 100 == 4)
			return EX_TEMPFAIL_;
		return strncmp(e->text, "5.1.1", 5) == 0 ? EX_NOUSER_ :
		    strncmp(e->text, "5.1.2", 5) == 0 ? EX_NOHOST_ :
		    EX_UNAVAILABLE_;
	}
	if (v.known == 0) {
		printf("%s... 550 5.1.1 User unknown\n", addr);
		return EX_NOUSER_;
	}
	if (v.r.transport == transport_role(TROLE_LOCAL))
		printf("%s... deliverable: mailer %s, user %.*s\n", addr,
		    v.r.transport->name, (int)strcspn(v.r.addr, "@"),
		    v.r.addr);
	else
		printf("%s... deliverable: mailer %s, host %s, user %s, "
		    "tls %s\n", addr, v.r.transport->name, v.r.nexthop,
		    v.r.addr, route_tls_word(v.r.tls));
	return 0;
}

int
verify_main(const char *conf_file, int argc, char **argv)
{
	struct tool t;
	int ret = 0, r;

	if (argc < 1) {
		fprintf(stderr, "sendmail: -bv needs addresses\n");
		return 64;
	}
	if ((r = tool_open(&t, conf_file)) != 0) {
		if (r == 1)
			tool_close(&t);
		return EX_CONFIG_;
	}
	for (int i = 0; i < argc; i++)
		if ((r = verify_one(&t, argv[i])) != 0)
			ret = r;
	tool_close(&t);
	fflush(stdout);
	return ret;
}
