/*
 * libFuzzer harness for the packet decoders of lib/dns.c: the input as a
 * wire-format name and as a run of MX rdata records (u8 length, rdata),
 * which are then sorted and trimmed; and, as text, the dns_servers and
 * dnsbl lists and a reverse-lookup address. Must never crash or write
 * past a buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

static void
wire(const uint8_t *data, size_t size)
{
	struct dns_mx mx[DNS_MAX_MX];
	char name[256];
	size_t off = 0, n = 0;
	int r, was_me;

	r = dns_wire_name(data, size, name, sizeof(name));
	if (r > (int)size || (r >= 0 && strlen(name) >= 255))
		abort();
	(void)dns_wire_name(data, size, name, 3);
	while (off < size && n < DNS_MAX_MX) {
		size_t l = data[off++];

		if (l > size - off)
			l = size - off;
		if (dns_mx_rdata(data + off, l, &mx[n]) == 0) {
			if (strlen(mx[n].host) >= sizeof(mx[n].host) ||
			    mx[n].pref > 65535)
				abort();
			n++;
		}
		off += l;
	}
	dns_mx_sort(mx, n);
	for (size_t i = 1; i < n; i++)
		if (mx[i - 1].pref > mx[i].pref)
			abort();
	if (n > 0 && dns_mx_trim_self(mx, n, mx[n - 1].host, &was_me) > n)
		abort();
}

static void
text(const char *s)
{
	static struct dns_bl bl[16];
	char srv[DNS_MAX_SERVERS][80], rev[300];

	if (dns_servers_parse(s, srv, DNS_MAX_SERVERS) > DNS_MAX_SERVERS ||
	    dns_bl_parse(s, bl, 16) > 16)
		abort();
	if (dns_reverse_name(s, NULL, rev, sizeof(rev)) == 0 &&
	    strlen(rev) >= sizeof(rev))
		abort();
	(void)dns_reverse_name(s, "zen.example", rev, 20);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	wire(data, size);
	if (size > 4096 || (s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	text(s);
	free(s);
	return 0;
}
