/*
 * dns: the resolver shared by smtpd (asynchronous, in its event loop) and
 * remote (blocking MX lookups), on libunbound. Pure helpers (server list,
 * reverse names, wire-format names, MX ordering, DNSBL list) are exposed
 * for the unit tests and the fuzzers.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stddef.h>

struct ub_ctx;
struct addrinfo;

/* Outcome of a lookup. */
enum dns_status {
	DNS_OK,			/* records found */
	DNS_NODATA,		/* the name exists, no record of that type */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_TEMPFAIL,		/* SERVFAIL, timeout, resolver error */
	DNS_LOOP,		/* MX: the best MX is ourselves */
};

#define DNS_MAX_SERVERS	8
#define DNS_MAX_MX	16
#define DNS_MAX_ADDRS	16

/* "host[:port], [v6]:port, v6" -> unbound forward-addr "host@port".
 * Returns the number of servers, -1 on a bad entry. */
int	 dns_servers_parse(const char *spec, char out[][80], size_t max);

/* A fresh resolver: forwarding to servers (dns_servers) if set, else the
 * system's resolv.conf. No DNSSEC requirement. NULL with err set. */
struct ub_ctx *dns_ctx_new(const char *servers, int threaded, char *err,
	    size_t errlen);

/* "1.2.3.4" + "zone" -> "4.3.2.1.zone"; IPv6 in nibbles. zone NULL:
 * in-addr.arpa / ip6.arpa. 0, or -1 if ip is not an address. */
int	 dns_reverse_name(const char *ip, const char *zone, char *out,
	    size_t outlen);

/* Decode an uncompressed wire-format name at p[0..len) into "a.b.c"
 * (no trailing dot, lower-cased). Returns the bytes used, -1 if bad. */
int	 dns_wire_name(const unsigned char *p, size_t len, char *out,
	    size_t outlen);

struct dns_mx {
	unsigned	 pref;
	char		 host[256];
};
/* One MX rdata (preference + name). 0 or -1. */
int	 dns_mx_rdata(const unsigned char *p, size_t len, struct dns_mx *);
/* Sort by preference, stable (equal preferences keep their order). */
void	 dns_mx_sort(struct dns_mx *, size_t n);
/* Drop ourselves and every MX not better than us (RFC 5321 5.1).
 * Returns the new count; *was_me is set if we were in the list. */
size_t	 dns_mx_trim_self(struct dns_mx *, size_t n, const char *myname,
	    int *was_me);

/* DNSBL list "zone[=\"text\"], zone2 ...": parse into zones/texts
 * (text "" = default). Commas inside quotes are kept. Count, or -1. */
struct dns_bl {
	char	 zone[256];
	char	 text[256];
};
int	 dns_bl_parse(const char *spec, struct dns_bl *, size_t max);

/* Blocking: the addresses to try for mail to domain, best MX first,
 * A/AAAA of the domain itself if it has no MX; ai_canonname carries the
 * host name. Free with dns_addrinfo_free. why gets a message on error. */
enum dns_status dns_mail_targets(const char *servers, const char *domain,
	    const char *myname, unsigned port, struct addrinfo **res,
	    char *why, size_t whylen);
void	 dns_addrinfo_free(struct addrinfo *);

#endif
