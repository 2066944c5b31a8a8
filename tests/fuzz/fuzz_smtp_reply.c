/*
 * libFuzzer harness for the SMTP reply parser (lib/smtp_reply.c): the
 * input is what a remote server sends, parsed as a sequence of replies
 * and line by line; each reply is flattened and read as an EHLO reply.
 * Must never crash or write past struct smtp_reply.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

static void
check(const struct smtp_reply *r)
{
	struct smtp_ehlo e;
	char flat[600], tiny[5];
	size_t n;

	if (r->textlen >= sizeof(r->text) || r->text[r->textlen] != '\0' ||
	    memchr(r->esc, '\0', sizeof(r->esc)) == NULL ||
	    r->nlines > SMTP_REPLY_MAX_LINES ||
	    (r->done && (r->code < 200 || r->code > 599)))
		abort();
	n = smtp_reply_flat(r, flat, sizeof(flat));
	if (n >= sizeof(flat) || strlen(flat) != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (flat[i] < 0x20 || flat[i] > 0x7e)
			abort();
	(void)smtp_reply_flat(r, tiny, sizeof(tiny));
	(void)smtp_reply_flat(r, tiny, 1);
	smtp_ehlo_parse(r, &e);
	if (memchr(e.auth_mechs, '\0', sizeof(e.auth_mechs)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *why, *lf;
	struct smtp_reply r;
	size_t off = 0, used;
	int rv;

	/* replies one after another, as read from the socket */
	while ((rv = smtp_reply_parse(&r, p + off, size - off, &used,
	    &why)) == 1) {
		if (used == 0 || used > size - off)
			abort();
		check(&r);
		off += used;
	}
	if (rv == -1 && why == NULL)
		abort();
	/* line by line, every line end cut off */
	smtp_reply_init(&r);
	for (off = 0; off < size; off = (size_t)(lf - p) + 1) {
		lf = memchr(p + off, '\n', size - off);
		if (lf == NULL)
			lf = p + size;
		if (smtp_reply_line(&r, p + off, (size_t)(lf - p) - off,
		    &why) != 0) {
			check(&r);
			smtp_reply_init(&r);
		}
	}
	(void)smtp_esc_len(p, size);
	return 0;
}
