/*
 * addr: RFC 5321 path and mailbox parsing. Pure functions; the SMTP
 * command parser and cleanup call these on untrusted input.
 */
#ifndef POSTERN_ADDR_H
#define POSTERN_ADDR_H

#include <stddef.h>

/* Parsed "<local@domain>". local is kept as received (quoted forms are
 * unquoted into local; `quoted` says it was). domain is lower-cased
 * without a trailing dot; an IP literal keeps its brackets. */
struct addr {
	char	local[256];
	char	domain[256];
	int	quoted;
	int	null;		/* the null path <> */
};

/*
 * Parse a reverse/forward path as in MAIL FROM:/RCPT TO: (with or without
 * the angle brackets; a source route "@a,@b:" is accepted and dropped).
 * Returns 0, or -1 with a short reason in *why (static string).
 * allow_null: whether <> is acceptable (MAIL yes, RCPT no). Bytes > 127
 * must be well-formed UTF-8 (why: ADDR_BAD_UTF8).
 */
#define ADDR_BAD_UTF8	"invalid UTF-8"	/* *why for malformed UTF-8 */
int	 addr_parse_path(const char *in, size_t len, int allow_null,
	    struct addr *, const char **why);

/* Format as "local@domain" (no brackets; local re-quoted if needed). */
int	 addr_format(const struct addr *, char *out, size_t outlen);

/* Has the local part or the domain a byte > 127 (needs SMTPUTF8)? */
int	 addr_has8bit(const struct addr *);

/* Lower-case a domain in place and strip one trailing dot. */
void	 addr_domain_norm(char *);

/* Split "user+ext": base length of the local part before the first '+'. */
size_t	 addr_local_base_len(const char *local);

#endif
