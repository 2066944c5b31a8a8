/*
 * libFuzzer harness for the replies taken as data (lib/reply.c): any
 * bytes as an access-map or cleanup reply line, split and formatted again
 * with another code, into a buffer of any size. A split line must format
 * back to itself. Must never crash or write out of bounds. `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[REPLY_MAX], out[REPLY_MAX];
	const char *text;
	size_t outlen;
	int code;

	if (size == 0 || size >= sizeof(line))
		return 0;
	outlen = data[0] % sizeof(out) + 1;	/* 1 .. REPLY_MAX */
	memcpy(line, data + 1, size - 1);
	line[size - 1] = '\0';
	if (reply_split(line, &code, &text) == -1)
		return 0;
	if (code < 400 || code > 599)
		abort();
	if (reply_data(out, sizeof(out), code, text) == -1)
		abort();
	/* "NNN" alone comes back as "NNN " */
	if (strncmp(out, line, strlen(line)) != 0)
		abort();
	(void)reply_data(out, outlen, 421, text);
	if (strlen(out) >= outlen)
		abort();
	return 0;
}
