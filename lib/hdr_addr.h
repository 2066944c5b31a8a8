/*
 * hdr_addr: RFC 5322 address lists in header values (From:, To:, ...):
 * display names, comments, groups, quoted local parts, folded lines and
 * the obsolete forms. Yields where each addr-spec's parts are so that a
 * caller can change a domain and keep every other byte. Pure functions on
 * untrusted text; iterative, never recursive on the input's depth.
 */
#ifndef POSTERN_HDR_ADDR_H
#define POSTERN_HDR_ADDR_H

#include <stddef.h>

#include "buf.h"

/* One addr-spec, as offsets into the parsed value. */
struct hdr_addr {
	size_t	 local, local_len;	/* local part as written */
	size_t	 domain, domain_len;	/* after '@'; 0 len: unqualified */
	int	 literal;		/* the domain is [a domain literal] */
};

struct hdr_addr_list {
	struct hdr_addr	*a;
	size_t		 n;
};

/*
 * Parse a header value (the text after "Name:", folded lines in it) as
 * an address list. An addr-spec without "@domain" is accepted (mail from
 * this host). Returns 0 with every address in *l (the caller frees it
 * with hdr_addr_free), or -1 with a short reason in *why and an empty
 * list.
 */
int	 hdr_addr_parse(const char *v, size_t len, struct hdr_addr_list *l,
	    const char **why);
void	 hdr_addr_free(struct hdr_addr_list *);

/*
 * The local part of a as a plain string (quotes, escapes, comments and
 * folding white space taken out) into out. -1 if it does not fit.
 */
int	 hdr_addr_local(const char *v, const struct hdr_addr *a, char *out,
	    size_t outlen);
/* The same for the domain ("" when unqualified). */
int	 hdr_addr_domain(const char *v, const struct hdr_addr *a, char *out,
	    size_t outlen);

/*
 * Decide an address's new domain: NULL keeps it, else the domain that
 * replaces it (or, for an unqualified address, is added after "@").
 */
typedef const char *hdr_addr_fn(void *arg, const char *v,
	    const struct hdr_addr *a);

/*
 * Copy v (len bytes) to out with each address of l rewritten as fn
 * decides; every other byte is kept. Returns how many addresses changed,
 * or -1 if out is full.
 */
int	 hdr_addr_rewrite(struct buf *out, const char *v, size_t len,
	    const struct hdr_addr_list *l, hdr_addr_fn *fn, void *arg);

#endif
