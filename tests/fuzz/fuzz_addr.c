/*
 * libFuzzer harness for the address parser (lib/addr.c) and the SMTP
 * command parser that feeds it (lib/smtp_cmd.c): any bytes as a path and
 * as a command line; a parsed address must format and re-parse to the
 * same address. Must never crash or read out of bounds. `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "smtp_cmd.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a, b;
	struct smtp_cmd *c;
	const char *why;
	char out[1100];

	if (size > 2000)
		return 0;
	for (int null = 0; null < 2; null++) {
		if (addr_parse_path((const char *)data, size, null, &a, &why)
		    != 0)
			continue;
		if (addr_format(&a, out, sizeof(out)) == 0 && !a.null) {
			size_t l = strlen(out);

			/* what we write must read back as the same address */
			if (addr_parse_path(out, l, 0, &b, &why) == 0 &&
			    (strcmp(a.local, b.local) != 0 ||
			    strcmp(a.domain, b.domain) != 0))
				abort();
		}
		(void)addr_local_base_len(a.local);
	}
	if (size <= 1000 && memchr(data, '\r', size) == NULL &&
	    memchr(data, '\n', size) == NULL &&
	    (c = malloc(sizeof(*c))) != NULL) {
		(void)smtp_cmd_parse((const char *)data, size, c, &why);
		free(c);
	}
	return 0;
}
