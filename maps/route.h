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
#include "map.h"
#include "transport.h"

#define ROUTE_ADDR_MAX		1024
#define ROUTE_NEXTHOP_MAX	300	/* what remote accepts */
#define ROUTE_ERR_TEXT		200	/* "5.1.1 text" of an error: target */

/* The lists and maps route_resolve needs, loaded once by route_init. */
struct router {
	const struct conf	*conf;		/* kept, not copied */
	struct domain_list	 local;		/* local_domains */
	struct domain_list	 relay;		/* relay_domains */
	struct map		 virt;		/* virtual_map (cdb NULL: none) */
	struct map		 trans;		/* transport_map */
	/* route_resolve applies virtual_map (step 2) only when set: cleanup
	 * rewrites recipients before they are queued, so qmgr and local,
	 * which route queued addresses, must not apply it again. */
	int			 virtual_step;
};

/* An error: target (virtusertable, mailertable): the reply it gives. */
struct route_error {
	int	 code;			/* 0: none; else 4xx or 5xx */
	char	 text[ROUTE_ERR_TEXT];	/* "D.S.N text" */
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
	int			 tls_map;	/* tls set by transport_map */
	struct route_error	 err;	/* code != 0: refuse/bounce, no
					   transport */
	char			 orig[ROUTE_ADDR_MAX];	/* before virtual */
};

/*
 * Called once per decision with the step's name ("local_domains") and
 * what it found; for `postern route ADDRESS` and `sendmail -bv`.
 */
typedef void	 route_trace_fn(void *arg, const char *step, const char *what);

/* Load local_domains and relay_domains of c (kept by pointer) and open
 * virtual_map and transport_map. -1 if a list could not be read in full
 * or a map not opened; the problems are added to errs and what could be
 * read is used. */
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
 *  2. virtual_map (only with virtual_step; route_virtual below): may
 *     rewrite the address once, or give an error: (r->err).
 *     (Masquerading applies to senders only: cleanup's.)
 *  3. local: hostname, "localhost", local_domains (exact match)
 *     -> transport "local", next hop our hostname.
 *  4. transport_map (route_transport below): the domain, then ".sub"
 *     parents, then "." -> remote with that next hop (relay:, smtp:),
 *     local (local:, local:user rewrites the address to user@hostname),
 *     or an error (r->err set, r->transport NULL).
 *  5. relay_domains (subdomains too): noted in dest; routed as 6/7.
 *  6. smarthost set -> the default transport, next hop the smarthost
 *     exactly as configured ("[host]:port", "host").
 *  7. else MX -> the default transport, next hop the domain.
 * The TLS policy of the default transport is remote_tls.
 * Returns 0, or -1 if the address or next hop does not fit in struct
 * route (never for a queue file's recipient), -2 if a map lookup failed
 * (try again later).
 */
int		 route_resolve(const struct router *, const char *rcpt,
		    struct route *, route_trace_fn *, void *trace_arg);

/* "none", "may", "encrypt", "verify" for an enum conf_remote_tls. */
const char	*route_tls_word(int);

/* What virtual_map does to one address. */
enum route_vres {
	RV_NONE,		/* no entry, or the domain is not local */
	RV_ADDR,		/* rewritten into out */
	RV_ERROR,		/* an error: target, in *err */
	RV_TEMP,		/* the lookup failed: try again later */
};
/*
 * virtual_map for addr ("local@domain", as lib/addr formats it), applied
 * only when the domain is local (hostname, localhost, local_domains):
 * keys local@domain, then local-without-+detail@domain, then @domain;
 * %1 in the target is the local part without its +detail; a target
 * without '@' is a local user or alias (qualified with our hostname).
 * One level: the result is not looked up again. key (if not NULL) gets
 * the key that matched.
 */
enum route_vres	 route_virtual(const struct router *, const char *addr,
		    char *out, size_t outlen, struct route_error *err,
		    char *key, size_t keylen);

/* One transport_map target, parsed ("relay:[h]:25 tls=verify"). */
enum route_tkind { RT_RELAY, RT_SMTP, RT_LOCAL, RT_ERROR };
struct route_target {
	enum route_tkind	 kind;
	char			 host[ROUTE_NEXTHOP_MAX];	/* or user */
	int			 tls;		/* -1: remote_tls */
	struct route_error	 err;
};

/* transport_map for a domain: the domain, then ".parent" suffixes (most
 * specific first), then ".". 1 and *t, 0 none, -1 lookup failed. */
int	 route_transport(const struct router *, const char *domain,
	    struct route_target *, char *key, size_t keylen);

/* Value parsers, shared by the lookups, `postern map` and `postern
 * check` (map_check_fn). 0, or -1 with the reason in why. */
int	 route_error_parse(const char *val, struct route_error *,
	    char *why, size_t whylen);
int	 route_target_parse(const char *val, struct route_target *,
	    char *why, size_t whylen);
int	 route_virtual_check(const char *key, const char *val, char *why,
	    size_t whylen);
int	 route_transport_check(const char *key, const char *val, char *why,
	    size_t whylen);

/* Steps 3 and 5 alone, for a domain as parsed (any case, trailing
 * dot or not). "" is not ours: the caller qualifies first. */
enum route_dest	 route_domain(const struct router *, const char *domain);

/* smtpd: may a client with this verified host name relay? (relay_domains
 * lists client domains too, as Sendmail's relay-domains.) */
int		 route_relay_client(const struct router *, const char *name);

/* Is local (a local part, "+detail" allowed) a user we deliver to:
 * postmaster, a system user (getpwnam), or an alias in aliases (may be
 * NULL)? 1 yes, 0 no, -1 the alias lookup failed or the user database
 * could not be read (a 4xx, never "User unknown"). */
int		 route_user_known(const struct map *aliases, const char *local);

/* A local part with routing characters ('%', '!', '@': the percent
 * hack, bang paths, a source route) is never delivered nor relayed. */
int		 route_local_part_trick(const char *local);

#endif
