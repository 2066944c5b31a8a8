/*
 * libFuzzer harness for the BDAT argument parser (lib/smtp_bdat.c): any
 * bytes as the argument. A size that parses has at most BDAT_SIZE_DIGITS
 * digits and prints back to a string that parses to the same size and
 * LAST flag. Must never crash, overflow or read past the argument.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_bdat.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long n, m;
	int last, last2;
	char *arg, back[64];

	if ((arg = malloc(size + 1)) == NULL)
		return 0;
	memcpy(arg, data, size);
	arg[size] = '\0';
	if (smtp_bdat_parse(arg, &n, &last) == 0) {
		if (n >= 1000000000000000000ULL || (last != 0 && last != 1))
			abort();
		snprintf(back, sizeof(back), "%llu%s", n, last ? " LAST" : "");
		if (smtp_bdat_parse(back, &m, &last2) == -1 || m != n ||
		    last2 != last)
			abort();
	}
	free(arg);
	return 0;
}
