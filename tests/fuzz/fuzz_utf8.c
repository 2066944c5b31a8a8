/*
 * libFuzzer harness for the UTF-8 validator (lib/utf8.c) and the IDN
 * conversions (lib/idn.c): any bytes as a domain and as a map key; what
 * converts must be ASCII, bounded and stable when converted again. Must
 * never crash or read out of bounds. `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idn.h"
#include "utf8.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[600], out[300], again[300], key[900];

	if (size >= sizeof(in))
		return 0;
	(void)utf8_valid((const char *)data, size);
	memcpy(in, data, size);
	in[size] = '\0';
	if (idn_domain_ascii(in, out, sizeof(out)) == 0) {
		if (utf8_has8bit(out, strlen(out)) || strlen(out) > 255)
			abort();
		/* an A-label converts to itself (one more trailing dot
		 * would go) */
		size_t n = strlen(out);

		if ((n == 0 || out[n - 1] != '.') &&
		    (idn_domain_ascii(out, again, sizeof(again)) != 0 ||
		    strcmp(out, again) != 0))
			abort();
	}
	if (idn_key_norm(in, key, sizeof(key)) == 0 &&
	    strlen(key) >= sizeof(key))
		abort();
	(void)idn_key_norm(in, key, 8);
	return 0;
}
