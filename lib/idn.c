/*
 * idn: U-label to A-label conversion for lookups (DNS, maps, domain
 * lists) with libidn2. Pure, no state; every output is bounded by the
 * caller's buffer and never left half-written.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "idn.h"
#include "utf8.h"

#define IDN_MAX	255

int
idn_domain_ascii(const char *in, char *out, size_t outlen)
{
	char	 tmp[IDN_MAX + 2], *res = NULL;
	size_t	 n = strlen(in);

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n > IDN_MAX)
		return -1;
	memcpy(tmp, in, n);
	tmp[n] = '\0';
	if (utf8_has8bit(tmp, n)) {
		if (!utf8_valid(tmp, n) || idn2_to_ascii_8z(tmp, &res,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
			return -1;
		n = strlen(res);
		if (n >= outlen || n > IDN_MAX) {
			idn2_free(res);
			return -1;
		}
		memcpy(tmp, res, n + 1);
		idn2_free(res);
	} else if (n >= outlen)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)tmp[i]);
	return 0;
}

/* Length of a leading "tag:" (letters, then ':'), else 0. */
static size_t
tag_len(const char *k)
{
	size_t i = 0;

	while (isalpha((unsigned char)k[i]))
		i++;
	return i > 0 && k[i] == ':' ? i + 1 : 0;
}

int
idn_key_norm(const char *key, char *out, size_t outlen)
{
	char		 dom[IDN_MAX + 1];
	const char	*at, *d;
	size_t		 n = strlen(key), pre;

	if (n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)key[i]);
	at = strrchr(key, '@');
	d = at != NULL ? at + 1 : key + tag_len(key);
	if (!utf8_has8bit(d, strlen(d)) ||
	    idn_domain_ascii(d, dom, sizeof(dom)) == -1)
		return 0;
	pre = (size_t)(d - key);
	if (pre + strlen(dom) >= outlen)
		return -1;
	memcpy(out + pre, dom, strlen(dom) + 1);
	return 0;
}
