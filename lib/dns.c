/*
 * dns: resolver set-up on libunbound (forwarding to dns_servers, or the
 * system resolv.conf), the pure helpers both daemons need (reverse names,
 * wire names, MX order, DNSBL list) and the blocking MX lookup of remote.
 * Every byte of an answer is untrusted: names are length-checked and
 * limited to printable characters; it must never follow a compression
 * pointer or trust a record length it did not check.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unbound.h>

#include "dns.h"
#include "idn.h"

#define T_A	1
#define T_MX	15
#define T_AAAA	28
#define C_IN	1

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

struct ub_ctx *
dns_ctx_new(const char *servers, int threaded, char *err, size_t errlen)
{
	char fwd[DNS_MAX_SERVERS][80];
	struct ub_ctx *ctx;
	int n, r = 0;

	if ((n = dns_servers_parse(servers, fwd, DNS_MAX_SERVERS)) == -1) {
		snprintf(err, errlen, "bad dns_servers \"%s\"", servers);
		return NULL;
	}
	if ((ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "cannot create a resolver context");
		return NULL;
	}
	/* plain iterator: no DNSSEC validation is required of answers */
	r = ub_ctx_async(ctx, threaded);
	if (r == 0)
		r = ub_ctx_set_option(ctx, "module-config:", "iterator");
	if (r == 0 && n > 0) {
		/* split horizon: the servers answer even for the zones
		 * libunbound would otherwise answer itself */
		static const char *own[] = { "127.in-addr.arpa.", "localhost.",
		    "test.", "invalid.", "home.arpa.", "onion." };

		r = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
		if (r == 0)
			r = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes");
		for (int i = 0; r == 0 && i < n; i++)
			r = ub_ctx_set_fwd(ctx, fwd[i]);
		/* after the options: this finalizes the context */
		for (size_t i = 0; r == 0 && i < sizeof(own) / sizeof(own[0]);
		    i++)
			r = ub_ctx_zone_add(ctx, own[i], "transparent");
	} else if (r == 0) {
		/* no resolv.conf: recursion from the root hints */
		(void)ub_ctx_resolvconf(ctx, NULL);
	}
	if (r != 0) {
		snprintf(err, errlen, "resolver set-up: %s", ub_strerror(r));
		ub_ctx_delete(ctx);
		return NULL;
	}
	return ctx;
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

/* ---- blocking lookups (remote) ---- */

static struct ub_ctx	*sync_ctx;
static char		*sync_servers;

static struct ub_ctx *
sync_get(const char *servers, char *why, size_t whylen)
{
	const char *sv = servers ? servers : "";

	if (sync_ctx != NULL && strcmp(sync_servers, sv) == 0)
		return sync_ctx;
	if (sync_ctx != NULL) {
		ub_ctx_delete(sync_ctx);
		free(sync_servers);
		sync_ctx = NULL;
	}
	if ((sync_ctx = dns_ctx_new(servers, 0, why, whylen)) == NULL)
		return NULL;
	if ((sync_servers = strdup(sv)) == NULL) {
		ub_ctx_delete(sync_ctx);
		sync_ctx = NULL;
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	return sync_ctx;
}

static enum dns_status
query(struct ub_ctx *ctx, const char *name, int type, struct ub_result **res)
{
	int r;

	*res = NULL;
	if ((r = ub_resolve(ctx, name, type, C_IN, res)) != 0 || *res == NULL)
		return DNS_TEMPFAIL;
	if ((*res)->rcode == 3)
		return DNS_NXDOMAIN;
	if ((*res)->rcode != 0)
		return DNS_TEMPFAIL;
	return (*res)->havedata ? DNS_OK : DNS_NODATA;
}

struct ai_block {
	struct addrinfo		ai;
	struct sockaddr_storage	ss;
};

static int
add_addrs(struct ub_result *r, int type, const char *host, unsigned port,
    struct addrinfo ***tail, size_t *count)
{
	for (int i = 0; r->data[i] != NULL && *count < DNS_MAX_ADDRS; i++) {
		struct ai_block *b;
		size_t want = type == T_A ? 4 : 16;

		if (r->len[i] < 0 || (size_t)r->len[i] != want)
			continue;
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return -1;
		if ((b->ai.ai_canonname = strdup(host)) == NULL) {
			free(b);
			return -1;
		}
		b->ai.ai_socktype = SOCK_STREAM;
		b->ai.ai_protocol = IPPROTO_TCP;
		b->ai.ai_addr = (struct sockaddr *)&b->ss;
		if (type == T_A) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&b->ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons((unsigned short)port);
			memcpy(&sin->sin_addr, r->data[i], 4);
			b->ai.ai_addrlen = sizeof(*sin);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b->ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((unsigned short)port);
			memcpy(&s6->sin6_addr, r->data[i], 16);
			b->ai.ai_addrlen = sizeof(*s6);
		}
		b->ai.ai_family = b->ss.ss_family;
		**tail = &b->ai;
		*tail = &b->ai.ai_next;
		(*count)++;
	}
	return 0;
}

void
dns_addrinfo_free(struct addrinfo *ai)
{
	struct addrinfo *next;

	for (; ai != NULL; ai = next) {
		next = ai->ai_next;
		free(ai->ai_canonname);
		free(ai);	/* the ai_block: ai is its first member */
	}
}

/* The MX list of domain, best first, ourselves and worse trimmed; the
 * domain itself when it has none. Anything but DNS_OK sets why. */
static enum dns_status
mx_hosts(struct ub_ctx *ctx, const char *domain, const char *myname,
    struct dns_mx mx[DNS_MAX_MX], size_t *nmxp, char *why, size_t whylen)
{
	struct ub_result *r;
	enum dns_status st;
	size_t nmx = 0;
	int was_me;

	st = query(ctx, domain, T_MX, &r);
	if (st == DNS_OK) {
		for (int i = 0; r->data[i] != NULL && nmx < DNS_MAX_MX; i++)
			if (r->len[i] > 0 && dns_mx_rdata((unsigned char *)
			    r->data[i], (size_t)r->len[i], &mx[nmx]) == 0)
				nmx++;
	}
	if (r)
		ub_resolve_free(r);
	if (st == DNS_NXDOMAIN || st == DNS_TEMPFAIL) {
		snprintf(why, whylen, "Host or domain name not found. Name "
		    "service error for name=%s type=MX: Host not found%s",
		    domain, st == DNS_TEMPFAIL ? ", try again" : "");
		return st;
	}
	if (st == DNS_OK && nmx == 0) {
		snprintf(why, whylen, "malformed MX records for %s", domain);
		return DNS_TEMPFAIL;
	}
	if (nmx == 1 && mx[0].host[0] == '\0') {
		snprintf(why, whylen, "Domain %s does not accept mail "
		    "(null MX)", domain);
		return DNS_NXDOMAIN;
	}
	*nmxp = 1;
	if (nmx == 0) {		/* no MX: the domain itself, RFC 5321 5.1 */
		mx[0].pref = 0;
		if (snprintf(mx[0].host, sizeof(mx[0].host), "%s", domain) < 0)
			return DNS_TEMPFAIL;
		return DNS_OK;
	}
	dns_mx_sort(mx, nmx);
	*nmxp = nmx = dns_mx_trim_self(mx, nmx, myname, &was_me);
	if (was_me && nmx == 0) {
		snprintf(why, whylen, "mail for %s loops back to myself "
		    "(best MX is %s)", domain, myname);
		return DNS_LOOP;
	}
	return DNS_OK;
}

enum dns_status
dns_mail_targets(const char *servers, const char *domain, const char *myname,
    unsigned port, struct addrinfo **res, char *why, size_t whylen)
{
	struct dns_mx mx[DNS_MAX_MX];
	struct ub_result *r;
	struct ub_ctx *ctx;
	struct addrinfo **tail = res;
	enum dns_status st;
	size_t nmx = 0, count = 0;
	int tempfail = 0;
	char alabel[256];

	*res = NULL;
	if (idn_domain_ascii(domain, alabel, sizeof(alabel)) == -1) {
		snprintf(why, whylen, "invalid internationalised domain name "
		    "%s", domain);
		return DNS_NXDOMAIN;
	}
	domain = alabel;	/* RFC 5891: DNS sees the A-label only */
	if ((ctx = sync_get(servers, why, whylen)) == NULL)
		return DNS_TEMPFAIL;
	if ((st = mx_hosts(ctx, domain, myname, mx, &nmx, why, whylen)) !=
	    DNS_OK)
		return st;
	for (size_t i = 0; i < nmx && count < DNS_MAX_ADDRS; i++) {
		static const int types[2] = { T_A, T_AAAA };

		for (int t = 0; t < 2; t++) {
			st = query(ctx, mx[i].host, types[t], &r);
			if (st == DNS_TEMPFAIL)
				tempfail = 1;
			if (st == DNS_OK && add_addrs(r, types[t], mx[i].host,
			    port, &tail, &count) == -1) {
				ub_resolve_free(r);
				dns_addrinfo_free(*res);
				*res = NULL;
				snprintf(why, whylen, "out of memory");
				return DNS_TEMPFAIL;
			}
			if (r)
				ub_resolve_free(r);
		}
	}
	if (*res != NULL)
		return DNS_OK;
	snprintf(why, whylen, "Host or domain name not found. Name service "
	    "error for name=%s type=A: Host not found%s", mx[0].host,
	    tempfail ? ", try again" : "");
	return tempfail ? DNS_TEMPFAIL : DNS_NXDOMAIN;
}
