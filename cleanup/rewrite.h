/*
 * rewrite: the address changes cleanup makes to a message: masquerading
 * (SPEC section 7), always_add_domain for local submissions, and the
 * X-Authentication-Warning of an untrusted `sendmail -f`. A header whose
 * addresses do not parse is never changed.
 */
#ifndef POSTERN_CLEANUP_REWRITE_H
#define POSTERN_CLEANUP_REWRITE_H

#include <sys/types.h>

#include "buf.h"
#include "conf.h"

/* Load the lists (local and masquerade domains, exposed and trusted
 * users) of c, kept by pointer. Before confinement (reads passwd). */
void	 rewrite_init(const struct conf *c);

/*
 * One header (name, value, folded lines, its final LF), hl bytes. If its
 * addresses change and out has room for the new header and reserve
 * bytes more, append it to out and return 1; else 0 (the caller copies
 * it). local: a local or authenticated submission, whose unqualified
 * addresses get a domain.
 */
int	 rewrite_header(const char *h, size_t hl, int local, size_t reserve,
	    struct buf *out);

/*
 * The addresses of a To/Cc/Bcc value (len bytes, folded lines in it) for
 * sendmail -t, each passed to add as "local@domain" ("local" when
 * unqualified). -1 if the value does not parse as an address list.
 */
int	 rewrite_extract(const char *v, size_t len,
	    void (*add)(void *, const char *), void *arg);

/* The envelope sender with masquerade_envelope: a fresh string, or NULL
 * when it stays as it is (never for the null sender). */
char	*rewrite_sender(const char *sender);

/*
 * A local submission by uid that set its envelope sender (canonical,
 * "" for <>) with sendmail -f: the X-Authentication-Warning header line
 * (a fresh string) when uid is not trusted and the sender is not its
 * own, else NULL.
 */
char	*rewrite_auth_warning(uid_t uid, const char *sender);

#endif
