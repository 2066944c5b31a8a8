/*
 * dns: resolver set-up on libunbound (forwarding to dns_servers, or the
 * system resolv.conf) and the blocking MX lookup of remote; the pure
 * helpers are in lib/dns_parse.c. Every byte of an answer is untrusted.
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
