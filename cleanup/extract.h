/*
 * extract: the header helpers of cleanup that need no job: sendmail -t
 * recipient extraction from To/Cc/Bcc, and header-line tests. Never
 * writes the queue and never decides what a recipient is allowed to be.
 */
#ifndef POSTERN_CLEANUP_EXTRACT_H
#define POSTERN_CLEANUP_EXTRACT_H

#include <stddef.h>

/* 1 if the header line (len bytes) is named name (case-insensitive). */
int	 hdr_is(const char *line, size_t len, const char *name);

/* 1 if l (n bytes, no LF) can be a header line or a continuation. */
int	 is_header_line(const char *l, size_t n);

/*
 * sendmail -t: the recipients of one To/Cc/Bcc header (name, value,
 * folded lines; hl bytes), each passed to add as a parsed SMTP path;
 * an RFC 5322 address list (groups too), else the tolerant way.
 */
void	 extract_header(const char *h, size_t hl,
	    void (*add)(void *, const char *), void *arg);

#endif
