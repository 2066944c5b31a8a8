/*
 * route: `postern route ADDRESS...` prints what the routing layer
 * (maps/route) decides for each address, step by step, then the
 * transport, next hop and TLS policy qmgr would use. Reads the config and
 * the domain lists; changes nothing and talks to no daemon.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "route.h"
#include "tools.h"
#include "transport.h"

static const char *const tls_word[] = { "none", "may", "encrypt", "verify" };

static void
print_step(void *arg, const char *step, const char *what)
{
	(void)arg;
	printf("  %-14s %s\n", step, what);
}

static int
route_one(const struct router *rt, const char *addr)
{
	struct route r;

	printf("%s\n", addr);
	if (route_resolve(rt, addr, &r, print_step, NULL) == -1) {
		printf("  => no route: the address or its next hop is too "
		    "long\n");
		return -1;
	}
	printf("  => transport %s, next hop %s, tls %s, address <%s>\n",
	    r.transport->name, r.nexthop,
	    (unsigned)r.tls < 4 ? tls_word[r.tls] : "?", r.addr);
	return 0;
}

int
route_main(const char *conf_file, int argc, char **argv)
{
	struct conf c;
	struct conf_errors errs = { 0 };
	struct router rt;
	int ret = 0;

	if (argc < 1) {
		fprintf(stderr, "usage: postern route ADDRESS...\n");
		return 2;
	}
	if (tools_conf_load(conf_file, &c) == -1)
		return 1;
	if (route_init(&rt, &c, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "postern: %s\n", errs.msg[i]);
		ret = 1;
	}
	conf_errors_free(&errs);
	for (int i = 0; i < argc; i++)
		if (route_one(&rt, argv[i]) == -1)
			ret = 1;
	route_free(&rt);
	conf_free(&c);
	return ret;
}
