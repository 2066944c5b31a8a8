/*
 * xtext: the encoding of DSN parameters (RFC 3461 section 4: ENVID and
 * ORCPT values), and the checks of the other DSN parameters (NOTIFY,
 * RET). Pure functions on untrusted input; every output is bounded by
 * the caller's buffer and nothing is written past it.
 */
#ifndef POSTERN_XTEXT_H
#define POSTERN_XTEXT_H

#include <stddef.h>

#define DSN_ENVID_MAX	100	/* octets, decoded (RFC 3461 4.4) */
#define DSN_ORCPT_MAX	500	/* octets of the parameter (RFC 3461 4.2) */

/* NOTIFY flags; 0 = NOTIFY not given (the default: FAILURE, DELAY). */
#define DSN_NOTIFY_NEVER	0x01
#define DSN_NOTIFY_SUCCESS	0x02
#define DSN_NOTIFY_FAILURE	0x04
#define DSN_NOTIFY_DELAY	0x08
#define DSN_NOTIFY_ALL		0x0f

/* RET: 0 not given, else what the sender wants returned in a bounce. */
#define DSN_RET_FULL	1
#define DSN_RET_HDRS	2

/*
 * Decode the xtext in[0..len) into out (outlen bytes, NUL-terminated):
 * "+XX" with two upper-case hex digits, other octets 33-126 but "+" and
 * "=" as they are. The decoded octets must be printable ASCII (32-126):
 * they go into header fields. Returns the decoded length, or -1 if the
 * input is not xtext or does not fit.
 */
int	 xtext_decode(const char *in, size_t len, char *out, size_t outlen);

/* 1 if v[0..len) is 1 to max octets of printable ASCII (32-126): what a
 * decoded ENVID or ORCPT may be (they go into header fields). */
int	 dsn_text_ok(const char *v, size_t len, size_t max);

/* Encode s as xtext into out (outlen bytes, NUL-terminated); -1 if it
 * does not fit. */
int	 xtext_encode(const char *s, char *out, size_t outlen);

/* NOTIFY=v: "NEVER", or a comma list of SUCCESS, FAILURE, DELAY (case
 * does not matter, none twice). The flags, or -1. */
int	 dsn_notify_parse(const char *v);

/* "SUCCESS,FAILURE" for the flags (NEVER for DSN_NOTIFY_NEVER). */
void	 dsn_notify_format(int flags, char *out, size_t outlen);

/*
 * ORCPT=v: "addr-type;xtext" (RFC 3461 4.2), at most DSN_ORCPT_MAX
 * octets; out gets "addr-type;decoded" (the type as given). 0 or -1.
 */
int	 dsn_orcpt_parse(const char *v, char *out, size_t outlen);

#endif
