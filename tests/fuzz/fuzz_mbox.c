/*
 * libFuzzer harness for the mbox ">From " quoter (lib/mbox.c): message
 * bytes fed in pieces (split points taken from the input) must come out
 * exactly as a one-line-at-a-time reference quoting gives; the input as
 * a sender must give a one-line "From " line. Must never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mbox.h"

static struct buf	got, want;

static ssize_t
to_buf(void *ctx, const void *p, size_t len)
{
	/* short writes too: at most 1000 bytes a call */
	if (len > 1000)
		len = 1000;
	if (buf_append(ctx, p, len) == -1)
		abort();
	return (ssize_t)len;
}

/* mboxrd: a line matching ^>*From  gets one more '>'. */
static void
reference(const uint8_t *d, size_t n)
{
	size_t i = 0, e, k;

	while (i < n) {
		const uint8_t *nl = memchr(d + i, '\n', n - i);

		e = nl ? (size_t)(nl - d) + 1 : n;
		for (k = i; k < e && d[k] == '>'; k++)
			;
		if (e - k >= 5 && memcmp(d + k, "From ", 5) == 0)
			buf_putc(&want, '>');
		buf_append(&want, d + i, e - i);
		i = e;
	}
	if (n > 0 && d[n - 1] != '\n')
		buf_putc(&want, '\n');
	buf_putc(&want, '\n');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mbox_quoter q;
	char line[600], *s;
	size_t off = 0, step;

	if (size > 64 * 1024)
		return 0;
	buf_init(&got, 4 * size + 16);
	buf_init(&want, 4 * size + 16);
	reference(data, size);
	mbox_quote_init(&q, to_buf, &got);
	/* piece lengths come from the bytes themselves */
	while (off < size) {
		step = 1 + data[off] % 13;
		if (step > size - off)
			step = size - off;
		if (mbox_quote_feed(&q, data + off, step) == -1)
			abort();
		off += step;
	}
	if (mbox_quote_finish(&q) == -1 || got.len != want.len ||
	    memcmp(got.data, want.data, got.len) != 0)
		abort();
	buf_free(&got);
	buf_free(&want);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mbox_from_line(line, sizeof(line), s, 1700000000) == 0 &&
	    (strncmp(line, "From ", 5) != 0 ||
	    strchr(line, '\n') != line + strlen(line) - 1))
		abort();
	free(s);
	return 0;
}
