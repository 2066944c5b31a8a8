/*
 * route: where a recipient goes. One function turns an address into
 * {rewritten address, transport, next hop, TLS policy}; smtpd's relay
 * decision, qmgr and local all ask this module whether a domain is ours.
 * Pure lookups on loaded lists: never touches the network or the queue.
 */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H

#include "addr.h"
#include "conf.h"
#include "transport.h"

#define ROUTE_ADDR_MAX		1024
#define ROUTE_NEXTHOP_MAX	300	/* what remote accepts */

/* The lists route_resolve needs, loaded once by route_init. */
struct router {
	const struct conf	*conf;		/* kept, not copied */
	struct domain_list	 local;		/* local_domains */
	struct domain_list	 relay;		/* relay_domains */
};

/* What a domain is to us. */
enum route_dest {
	ROUTE_LOCAL,		/* hostname, localhost or local_domains */
	ROUTE_RELAY_DOMAIN,	/* relay_domains or a subdomain of one */
	ROUTE_ELSEWHERE,	/* any other domain; IP literals too */
};

struct route {
	char			 addr[ROUTE_ADDR_MAX];	/* rewritten */
	char			 domain[256];	/* lower case, no end dot */
	enum route_dest		 dest;
	const struct transport	*transport;
	char			 nexthop[ROUTE_NEXTHOP_MAX];
	enum conf_remote_tls	 tls;		/* RTLS_NONE when local */
};

/*
 * Called once per decision with the step's name ("local_domains") and
 * what it found; for `postern route ADDRESS` (not built yet).
 */
typedef void	 route_trace_fn(void *arg, const char *step, const char *what);

/* Load local_domains and relay_domains of c (kept by pointer). -1 if a
 * list could not be read in full; the problems are added to errs and
 * what could be read is used. */
int		 route_init(struct router *, const struct conf *,
		    struct conf_errors *errs);
void		 route_free(struct router *);

/*
 * The route of one recipient, decided in this order (the first that
 * applies wins; [Step 3] marks a place kept for what is not built yet):
 *  1. normalise: parse the path (lib/addr: source route dropped, domain
 *     lower-cased without a trailing dot); no domain (or one that is
 *     empty once normalised) means our hostname.
 *     An address the parser refuses (sendmail's command line is not
 *     parsed) is kept as it is, its domain the text after the last '@'.
 *  2. [Step 3] masquerading, then virtual_map: may rewrite the address.
 *  3. local: hostname, "localhost", local_domains (exact match)
 *     -> transport "local", next hop our hostname.
 *  4. [Step 3] transport_map: may name the transport and next hop.
 *  5. relay_domains (subdomains too): noted in dest; routed as 6/7.
 *  6. smarthost set -> the default transport, next hop the smarthost
 *     exactly as configured ("[host]:port", "host").
 *  7. else MX -> the default transport, next hop the domain.
 * The TLS policy of the default transport is remote_tls.
 * Returns 0, or -1 if the address or next hop does not fit in struct
 * route (never for a queue file's recipient).
 */
int		 route_resolve(const struct router *, const char *rcpt,
		    struct route *, route_trace_fn *, void *trace_arg);

/* Steps 3 and 5 alone, for a domain as parsed (any case, trailing
 * dot or not). "" is not ours: the caller qualifies first. */
enum route_dest	 route_domain(const struct router *, const char *domain);

/* smtpd: may a client with this verified host name relay? (relay_domains
 * lists client domains too, as Sendmail's relay-domains.) */
int		 route_relay_client(const struct router *, const char *name);

/* A local part with routing characters ('%', '!', '@': the percent
 * hack, bang paths, a source route) is never delivered nor relayed. */
int		 route_local_part_trick(const char *local);

#endif
