/*
 * smtp_reply: parse SMTP server replies (RFC 5321 4.2), single- and
 * multi-line ("250-..." continuations), with the RFC 3463 enhanced status
 * code, and the EHLO keywords. Pure functions, used by the SMTP client on
 * untrusted input: a reply is at most SMTP_REPLY_MAX_LINES lines of at most
 * SMTP_REPLY_MAX_LINE octets each; anything else is a protocol error.
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_MAX_LINES	100
#define SMTP_REPLY_MAX_LINE	1000	/* octets per line, CRLF included */
#define SMTP_REPLY_TEXT_MAX	4096	/* kept text; the rest is dropped */

struct smtp_reply {
	int	 code;		/* 200..599; 0 until the first line is seen */
	char	 esc[16];	/* enhanced status code of line 1 ("5.1.1"), or "" */
	/* The text after "NNN-"/"NNN " of every line, joined with '\n'
	 * (the enhanced code, if any, is left in). NUL-terminated. */
	char	 text[SMTP_REPLY_TEXT_MAX];
	size_t	 textlen;
	int	 truncated;	/* text did not fit */
	size_t	 nlines;
	int	 done;		/* the last line ("NNN " or "NNN") was seen */
};

void	 smtp_reply_init(struct smtp_reply *);

/*
 * Feed one line, without its line end (a trailing CR is ignored).
 * Returns 1 when this line ends the reply, 0 when more lines follow, or
 * -1 with a short reason in *why (static string) for a malformed line,
 * a code that changes between lines, too many lines, too long a line,
 * or a line fed after the reply was complete.
 */
int	 smtp_reply_line(struct smtp_reply *, const char *line, size_t len,
	    const char **why);

/*
 * Parse one whole reply from the front of buf (lines ended by CRLF, or a
 * bare LF, tolerated). Returns 1 with *used set to the bytes consumed
 * when a complete reply is there, 0 when more bytes are needed (without
 * consuming anything), -1 on a protocol error (*why set). A partial line
 * longer than SMTP_REPLY_MAX_LINE is an error at once.
 */
int	 smtp_reply_parse(struct smtp_reply *, const char *buf, size_t len,
	    size_t *used, const char **why);

/*
 * The reply on one line for logs and queue files: "550 5.1.1 No such
 * user", continuation lines joined with a space, bytes outside printable
 * ASCII replaced by '?', cut to fit outlen (always NUL-terminated).
 * Returns the length written.
 */
size_t	 smtp_reply_flat(const struct smtp_reply *, char *out, size_t outlen);

/* Is s (len bytes) an RFC 3463 status code "c.sss.ddd" with c 2, 4 or 5?
 * Returns its length (5..9) if s starts with one followed by a space or
 * the end, else 0. */
size_t	 smtp_esc_len(const char *s, size_t len);

/* EHLO extensions we know (lines 2.. of a 250 EHLO reply). */
struct smtp_ehlo {
	int			 pipelining;
	int			 eightbitmime;
	int			 starttls;
	int			 enhancedstatuscodes;
	int			 smtputf8;
	int			 dsn;
	int			 chunking;
	int			 size;		/* SIZE offered */
	unsigned long long	 size_max;	/* its limit; 0 = none given */
	int			 auth;		/* AUTH offered */
	char			 auth_mechs[256]; /* "PLAIN LOGIN", upper-case */
};

/* Fill *e from a complete 2xx EHLO reply (the first line, the server's
 * greeting, is skipped). Unknown keywords are ignored. */
void	 smtp_ehlo_parse(const struct smtp_reply *, struct smtp_ehlo *e);

#endif
