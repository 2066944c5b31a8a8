/*
 * smtp_data: a message's content as it goes on the wire after DATA
 * (SMTP and LMTP): LF or CRLF line ends become CRLF, a line starting
 * with '.' gets another, and the end is CRLF.CRLF; or, for BDAT
 * (stuff = 0), only the line ends, no dot. Pure and streaming;
 * it never reads past what it is given nor writes past 2 * len + 2.
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stddef.h>

struct smtp_dot {
	int	 bol;		/* at the beginning of a line */
	int	 cr;		/* a CR held back (CRLF is one line end) */
	int	 stuff;		/* dot-stuffing (DATA); 0 for BDAT */
};

/* Initialised for DATA (stuff = 1); set stuff = 0 after it for BDAT. */
void	 smtp_dot_init(struct smtp_dot *);
/* Encode len bytes of content into out (room for 2 * len + 2 bytes);
 * returns the bytes written. */
size_t	 smtp_dot_encode(struct smtp_dot *, const char *in, size_t len,
	    char *out);
/* The end: a missing final CRLF, then ".\r\n" (out: 8 bytes); returns
 * the bytes written. */
size_t	 smtp_dot_finish(struct smtp_dot *, char *out);
/* The end without the dot (BDAT): a held CR and a missing final CRLF
 * (out: 4 bytes); returns the bytes written. */
size_t	 smtp_crlf_finish(struct smtp_dot *, char *out);

#endif
