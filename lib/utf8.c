/*
 * utf8: the UTF-8 validator of SMTPUTF8 addresses (RFC 3629 section 4,
 * RFC 6531 section 3.3). Pure; reads exactly len bytes and never more.
 */
#include "utf8.h"

int
utf8_has8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] > 0x7f)
			return 1;
	return 0;
}

/* The length of the sequence a lead byte starts and its smallest code
 * point (anything below is overlong); 0 for a byte no sequence starts
 * with (a continuation byte, C0, C1, F5-FF). */
static size_t
seq_len(unsigned char c, unsigned long *min)
{
	if (c < 0x80) {
		*min = 0;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		*min = 0x80;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		*min = 0x800;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		*min = 0x10000;
		return 4;
	}
	return 0;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp, min;
	size_t i = 0, n;

	while (i < len) {
		if ((n = seq_len(p[i], &min)) == 0 || n > len - i)
			return 0;
		cp = n == 1 ? p[i] : p[i] & (0x7f >> n);
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		i += n;
	}
	return 1;
}
