/*
 * dns_parse: the resolver's pure helpers (docs/internals.md): the
 * dns_servers and DNSBL lists, reverse names, wire-format names and MX
 * order. Apart from lib/dns.c so that a program that checks a config but
 * never resolves (every worker runs conf_check) does not link libunbound.
 * Every byte of an answer is untrusted: names are length-checked and
 * limited to printable characters; it must never follow a compression
 * pointer or trust a record length it did not check.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

static int
is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

/* The start of the next list entry, at the NUL if there is none. */
static const char *
skip_sep(const char *p)
{
	while (*p && is_sep(*p))
		p++;
	return p;
}

static int
parse_port(const char *p, size_t n, unsigned *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

static int
is_ip(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int
dns_servers_parse(const char *spec, char out[][80], size_t max)
{
	const char *p = spec, *e, *c;
	char host[64];
	size_t n = 0, hl, tl;
	unsigned port;
	int haveport, r;

	if (spec == NULL)
		return 0;
	for (;;) {
		if (*(p = skip_sep(p)) == '\0')
			break;
		for (e = p; *e && !is_sep(*e); e++)
			;
		tl = (size_t)(e - p);
		haveport = 0;
		if (*p == '[') {
			c = memchr(p, ']', tl);
			if (c == NULL)
				return -1;
			hl = (size_t)(c - p - 1);
			if (hl == 0 || hl >= sizeof(host))
				return -1;
			memcpy(host, p + 1, hl);
			host[hl] = '\0';
			if (c + 1 < e) {
				if (c[1] != ':' || parse_port(c + 2,
				    (size_t)(e - c - 2), &port) == -1)
					return -1;
				haveport = 1;
			}
		} else {
			c = memchr(p, ':', tl);
			/* two colons or more: a bare IPv6 address */
			if (c != NULL && memchr(c + 1, ':', (size_t)(e - c - 1))
			    == NULL) {
				hl = (size_t)(c - p);
				if (parse_port(c + 1, (size_t)(e - c - 1), &port)
				    == -1)
					return -1;
				haveport = 1;
			} else
				hl = tl;
			if (hl == 0 || hl >= sizeof(host))
				return -1;
			memcpy(host, p, hl);
			host[hl] = '\0';
		}
		if (!is_ip(host) || n >= max)
			return -1;
		if (haveport)
			r = snprintf(out[n], 80, "%s@%u", host, port);
		else
			r = snprintf(out[n], 80, "%s", host);
		if (r < 0 || r >= 80)
			return -1;
		n++;
		p = e;
	}
	return (int)n;
}

int
dns_reverse_name(const char *ip, const char *zone, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t off = 0;
	int r;

	if (inet_pton(AF_INET, ip, b) == 1) {
		r = snprintf(out, outlen, "%u.%u.%u.%u.%s", b[3], b[2], b[1],
		    b[0], zone ? zone : "in-addr.arpa");
		return r < 0 || (size_t)r >= outlen ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, b) != 1)
		return -1;
	if (outlen < 64 + 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[off++] = hex[b[i] & 15];
		out[off++] = '.';
		out[off++] = hex[b[i] >> 4];
		out[off++] = '.';
	}
	r = snprintf(out + off, outlen - off, "%s", zone ? zone : "ip6.arpa");
	return r < 0 || (size_t)r >= outlen - off ? -1 : 0;
}

int
dns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0, l;

	if (outlen == 0)
		return -1;
	for (;;) {
		if (i >= len)
			return -1;
		l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || l > len - i)	/* also refuses pointers */
			return -1;
		if (o > 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		if (o + l >= outlen)
			return -1;
		for (size_t k = 0; k < l; k++) {
			unsigned char ch = p[i + k];

			if (ch <= ' ' || ch > '~' || ch == '.')
				return -1;
			out[o++] = (char)tolower(ch);
		}
		i += l;
	}
	if (o >= 255)
		return -1;
	out[o] = '\0';
	return (int)i;
}

int
dns_mx_rdata(const unsigned char *p, size_t len, struct dns_mx *mx)
{
	int n;

	if (len < 3)
		return -1;
	mx->pref = (unsigned)p[0] << 8 | p[1];
	n = dns_wire_name(p + 2, len - 2, mx->host, sizeof(mx->host));
	if (n < 0 || (size_t)n != len - 2)
		return -1;
	return 0;
}

void
dns_mx_sort(struct dns_mx *mx, size_t n)
{
	struct dns_mx t;

	/* insertion sort: stable, n <= DNS_MAX_MX */
	for (size_t i = 1; i < n; i++) {
		size_t j = i;

		t = mx[i];
		while (j > 0 && mx[j - 1].pref > t.pref) {
			mx[j] = mx[j - 1];
			j--;
		}
		mx[j] = t;
	}
}

size_t
dns_mx_trim_self(struct dns_mx *mx, size_t n, const char *myname,
    int *was_me)
{
	*was_me = 0;
	if (myname == NULL)
		return n;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(mx[i].host, myname) == 0) {
			unsigned mine = mx[i].pref;
			size_t k = 0;

			*was_me = 1;
			for (size_t j = 0; j < n; j++)
				if (mx[j].pref < mine)
					mx[k++] = mx[j];
			return k;
		}
	}
	return n;
}

int
dns_bl_parse(const char *spec, struct dns_bl *bl, size_t max)
{
	const char *p = spec, *s;
	size_t n = 0, l;

	if (spec == NULL)
		return 0;
	for (;;) {
		if (*(p = skip_sep(p)) == '\0')
			break;
		if (n >= max)
			return -1;
		for (s = p; *p && *p != '=' && !is_sep(*p); p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-' && *p != '_')
				return -1;
		l = (size_t)(p - s);
		if (l == 0 || l >= sizeof(bl[n].zone) || s[0] == '.')
			return -1;
		memcpy(bl[n].zone, s, l);
		bl[n].zone[l] = '\0';
		if (bl[n].zone[l - 1] == '.')
			bl[n].zone[l - 1] = '\0';
		bl[n].text[0] = '\0';
		if (*p == '=') {
			p++;
			if (*p == '"') {
				s = ++p;
				while (*p && *p != '"')
					p++;
				if (*p != '"')
					return -1;
				l = (size_t)(p - s);
				p++;
				if (*p && !is_sep(*p))
					return -1;
			} else {
				for (s = p; *p && *p != ','; p++)
					;
				l = (size_t)(p - s);
				while (l > 0 && isspace((unsigned char)s[l - 1]))
					l--;
			}
			if (l >= sizeof(bl[n].text))
				return -1;
			for (size_t i = 0; i < l; i++)
				if ((unsigned char)s[i] < ' ' ||
				    (unsigned char)s[i] > '~')
					return -1;
			memcpy(bl[n].text, s, l);
			bl[n].text[l] = '\0';
		}
		n++;
	}
	return (int)n;
}
