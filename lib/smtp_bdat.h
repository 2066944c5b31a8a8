/*
 * smtp_bdat: the argument of an RFC 3030 BDAT command, "size [LAST]".
 * Pure; used by smtpd on untrusted input: the size is digits only and
 * bounded, so it never overflows.
 */
#ifndef POSTERN_SMTP_BDAT_H
#define POSTERN_SMTP_BDAT_H

#define BDAT_SIZE_DIGITS	18	/* a size has at most this many */

/* 0 with *size and *last (1 for LAST) set, or -1: not "size [LAST]". */
int	 smtp_bdat_parse(const char *arg, unsigned long long *size, int *last);

#endif
