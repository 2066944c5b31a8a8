/*
 * reply: the one catalogue of the SMTP replies postern's servers give
 * (code, enhanced status code, text) and the functions that format a reply
 * line. A reply that comes as data (an access map, cleanup's answer) goes
 * through reply_data()/reply_split(), never through pointer arithmetic.
 * Formats into the caller's buffer only; never adds CRLF.
 */
#ifndef POSTERN_REPLY_H
#define POSTERN_REPLY_H

#include <stdarg.h>
#include <stddef.h>

#define REPLY_MAX	512		/* one reply line, without CRLF */

/* Beside each id: the printf arguments its text takes, if any. */
enum reply_id {
	R_GREETING,		/* hostname */
	R_HELO,			/* hostname */
	R_OKAY,
	R_QUEUED,		/* queue id */
	R_QUEUED_NOID,
	R_MAIL_OK,
	R_RCPT_OK,
	R_DATA_GO,
	R_BYE,
	R_HELP,
	R_VRFY,
	R_VRFY_OFF,
	R_EXPN,
	R_EXPN_OFF,
	R_BDAT_OK,		/* octets so far, as a decimal string */
	R_BDAT_SYNTAX,
	R_BDAT_NO_RCPT,
	R_BDAT_MIXED,
	R_BDAT_FAILED,
	R_UNKNOWN,
	R_LINE_LONG,
	R_BARE_CMD,
	R_NEED_HELO,
	R_NEED_STARTTLS,
	R_AUTH_REQUIRED,
	R_NESTED_MAIL,
	R_NEED_MAIL,
	R_NO_RCPT,
	R_TOO_MANY_RCPT,
	R_BAD_ADDR,
	R_ADDR_LONG,
	R_NEED_SMTPUTF8,	/* a non-ASCII address without SMTPUTF8 */
	R_NO_TLS,
	R_TLS_ACTIVE,
	R_TLS_GO,
	R_TOO_MANY_ERRORS,
	R_TIMEOUT,
	R_SHUTDOWN,
	R_BUSY,
	/* DATA and cleanup */
	R_BARE,
	R_DATA_LONG,
	R_HDR_SIZE,
	R_HOPS,
	R_MSG_SIZE,
	R_QUEUE,
	R_NO_SPACE,
	R_SUBMIT_DENIED,
	/* AUTH */
	R_AUTH_CHALLENGE,	/* base64 */
	R_AUTH_OK,
	R_AUTH_FAIL,
	R_AUTH_REFUSED,
	R_AUTH_UNAVAIL,
	R_AUTH_NEED_EHLO,
	R_AUTH_DONE,
	R_AUTH_IN_MAIL,
	R_AUTH_SYNTAX,
	R_AUTH_ENCRYPT,
	R_AUTH_MECH,
	R_AUTH_TEMP,
	R_AUTH_DECODE,
	R_AUTH_ABORTED,
	R_SENDER_NOT_OWNED,	/* sender, login */
	/* policy */
	R_INTERNAL,
	R_CONFIG,
	R_LOOKUP_TEMP,
	R_LOOKUP_TEMP_ADDR,	/* address */
	R_CONNECT_DENIED,
	R_ACCESS_DENIED,
	R_TRY_LATER,
	R_BLOCKED,		/* client IP, DNSBL zone */
	R_BLOCKED_TEXT,		/* the zone's text */
	R_SENDER_DOMAIN_TEMP,	/* sender */
	R_SENDER_DOMAIN,	/* sender */
	R_SENDER_DOMAIN_DNS,	/* sender */
	R_USER_UNKNOWN,		/* recipient */
	R_RELAY_DENIED,		/* recipient */
	R_RATE,
	R_RATE_CLIENT,
	R_CONC_CLIENT,
	R__COUNT
};

/* The reply code of an id (250, 451, ...). */
int		 reply_code(enum reply_id);
/* "X.Y.Z text" of an id whose text takes no arguments (cleanup's error
 * text), a pointer into the catalogue. */
const char	*reply_text(enum reply_id);
/* "NNN X.Y.Z text" into out with the text's arguments filled in. Returns
 * the length, or -1 if it was cut to fit (out is always NUL-terminated
 * when outlen > 0). */
int		 reply_format(char *out, size_t outlen, enum reply_id, ...);
int		 reply_vformat(char *out, size_t outlen, enum reply_id,
		    va_list);
/* A reply given as data: "NNN text" (text as given, e.g. "4.3.0 ..."). */
int		 reply_data(char *out, size_t outlen, int code,
		    const char *text);
/* Split a data reply "NNN text" (or "NNN") with a 4xx or 5xx code: its
 * code and the text after the space. 0, or -1 if it is not one. */
int		 reply_split(const char *line, int *code, const char **text);

#endif
