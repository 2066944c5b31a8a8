/*
 * libFuzzer harness for route_resolve (maps/route.c): any bytes as a
 * queue file's recipient, with and without a smarthost. The route must
 * name a transport and a next hop, a local route our hostname, and the
 * invariants of route.h hold. Must never crash or overrun. `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static void
trace(void *arg, const char *step, const char *what)
{
	size_t *n = arg;

	*n += strlen(step) + strlen(what);
}

static void
one(const struct router *rt, const char *rcpt)
{
	struct route r;
	size_t n = 0;

	if (route_resolve(rt, rcpt, &r, trace, &n) == -1)
		return;
	if (r.transport == NULL || r.nexthop[0] == '\0' || n == 0)
		abort();
	if ((r.dest == ROUTE_LOCAL) !=
	    (strcmp(r.nexthop, rt->conf->hostname) == 0 &&
	    r.transport->role == TROLE_LOCAL))
		abort();
	if (route_domain(rt, r.domain) != r.dest)
		abort();
	(void)route_local_part_trick(r.addr);
	(void)route_relay_client(rt, r.domain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf c[2];
	static struct router rt[2];
	static int ready;
	struct conf_errors e = { 0 };
	char *rcpt;

	if (!ready) {
		for (int i = 0; i < 2; i++) {
			c[i].hostname = "mx.test.example";
			c[i].local_domains = "localhost, test.example";
			c[i].relay_domains = "relayed.example";
			c[i].smarthost = i ? "[127.0.0.2]:2525" : NULL;
			if (route_init(&rt[i], &c[i], &e) == -1)
				abort();
		}
		conf_errors_free(&e);
		ready = 1;
	}
	if (size > 2000 || (rcpt = malloc(size + 1)) == NULL)
		return 0;
	memcpy(rcpt, data, size);
	rcpt[size] = '\0';
	one(&rt[0], rcpt);
	one(&rt[1], rcpt);
	free(rcpt);
	return 0;
}
