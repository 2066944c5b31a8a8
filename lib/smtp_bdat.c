/*
 * smtp_bdat: parse the argument of BDAT (RFC 3030 section 3): a chunk
 * size of at most BDAT_SIZE_DIGITS digits, then optionally LAST. Pure;
 * never reads past the argument's NUL, never overflows the size.
 */
#include <strings.h>

#include "smtp_bdat.h"

int
smtp_bdat_parse(const char *arg, unsigned long long *size, int *last)
{
	unsigned long long n = 0;
	int digits = 0;

	for (; *arg >= '0' && *arg <= '9'; arg++) {
		if (++digits > BDAT_SIZE_DIGITS)
			return -1;
		n = n * 10 + (unsigned long long)(*arg - '0');
	}
	if (digits == 0)
		return -1;
	*size = n;
	*last = 0;
	if (*arg == '\0')
		return 0;
	if (*arg != ' ' && *arg != '\t')
		return -1;
	while (*arg == ' ' || *arg == '\t')
		arg++;
	if (strcasecmp(arg, "LAST") != 0)
		return -1;
	*last = 1;
	return 0;
}
