/*
 * libFuzzer harness for header address lists (lib/hdr_addr.c): any bytes
 * as a header value. Spans must lie in the value, in order; a list
 * rewritten with every domain replaced must parse again to as many
 * addresses, each with the new domain; keeping every domain must give
 * back the same bytes. Must never crash or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdr_addr.h"

#define NEWDOM	"x.example"

static const char *
all(void *arg, const char *v, const struct hdr_addr *a)
{
	(void)v;
	(void)a;
	return arg;
}

static void
check_spans(const char *v, size_t len, const struct hdr_addr_list *l)
{
	size_t	 last = 0;
	char	 lp[300];

	for (size_t i = 0; i < l->n; i++) {
		const struct hdr_addr *a = &l->a[i];

		if (a->local < last || a->local_len == 0 ||
		    a->local + a->local_len > len)
			abort();
		last = a->local + a->local_len;
		if (a->domain_len) {
			if (a->domain <= last ||
			    a->domain + a->domain_len > len)
				abort();
			last = a->domain + a->domain_len;
		}
		(void)hdr_addr_local(v, a, lp, sizeof(lp));
		(void)hdr_addr_domain(v, a, lp, sizeof(lp));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*v = (const char *)data, *why;
	struct hdr_addr_list	 l, l2;
	struct buf		 b;

	if (size > 20000 || hdr_addr_parse(v, size, &l, &why) == -1)
		return 0;
	check_spans(v, size, &l);
	buf_init(&b, 2 * size + 16 * l.n + 64);
	if (hdr_addr_rewrite(&b, v, size, &l, all, NULL) != 0 ||
	    b.len != size || memcmp(b.data ? b.data : "", v, size) != 0)
		abort();
	buf_reset(&b);
	if (hdr_addr_rewrite(&b, v, size, &l, all, NEWDOM) != (int)l.n)
		abort();
	if (hdr_addr_parse(b.data ? b.data : "", b.len, &l2, &why) == -1 ||
	    l2.n != l.n)
		abort();
	for (size_t i = 0; i < l2.n; i++)
		if (l2.a[i].domain_len != strlen(NEWDOM) ||
		    memcmp(b.data + l2.a[i].domain, NEWDOM, strlen(NEWDOM)))
			abort();
	hdr_addr_free(&l2);
	hdr_addr_free(&l);
	buf_free(&b);
	return 0;
}
