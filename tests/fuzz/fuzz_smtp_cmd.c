/*
 * libFuzzer harness for the SMTP command parser (lib/smtp_cmd.c): any
 * bytes as one command line. A command that parses must have bounded,
 * NUL-terminated fields, and a MAIL/RCPT path must format and re-parse
 * to the same address. Must never crash or read past the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"

static struct smtp_cmd	cmd;

static void
check(const struct smtp_cmd *c)
{
	struct addr b;
	const char *why;
	char out[1100];

	if (c->verb == SMTP_UNKNOWN || c->nparam > SMTP_MAX_PARAMS ||
	    memchr(c->arg, '\0', sizeof(c->arg)) == NULL)
		abort();
	for (size_t i = 0; i < c->nparam; i++)
		if (c->param[i].key[0] == '\0' ||
		    memchr(c->param[i].key, '\0', sizeof(c->param[i].key)) ==
		    NULL ||
		    memchr(c->param[i].val, '\0', sizeof(c->param[i].val)) ==
		    NULL)
			abort();
	if (c->verb != SMTP_MAIL && c->verb != SMTP_RCPT)
		return;
	if (c->verb == SMTP_RCPT && c->path.null)
		abort();
	if (c->path.null || addr_format(&c->path, out, sizeof(out)) == -1)
		return;
	if (addr_parse_path(out, strlen(out), 0, &b, &why) == -1 ||
	    strcmp(b.local, c->path.local) != 0 ||
	    strcmp(b.domain, c->path.domain) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *reply = NULL;
	char *line;

	/* an exact-size copy, so ASan sees any read past the line */
	if ((line = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	if (smtp_cmd_parse(line, size, &cmd, &reply) == 0)
		check(&cmd);
	else if (reply == NULL || strlen(reply) < 4)
		abort();
	free(line);
	return 0;
}
