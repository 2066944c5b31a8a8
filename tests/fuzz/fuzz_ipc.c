/*
 * libFuzzer harness for the IPC frame decoder (lib/ipc.c): any bytes as
 * a stream (ipc_frame_ready then ipc_parse on each whole frame) and as
 * one payload. A payload that parses must re-encode to the same bytes.
 * Must never crash, leak or read past the input. Built by `make fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

static struct ipc_msg	msg;
static struct buf	out;
static int		ready;

/* Look every attribute up and rebuild the frame from them. */
static void
check_msg(const struct ipc_msg *m, const uint8_t *payload, size_t len)
{
	long long num;
	char *s;

	ipc_begin(&out);
	for (size_t i = 0; i < m->nattr; i++) {
		const struct ipc_attr *a = &m->attr[i];

		if (ipc_get(m, a->name) == NULL)
			abort();
		if ((s = ipc_get_str(m, a->name)) != NULL)
			free(s);
		(void)ipc_get_num(m, a->name, &num);
		(void)ipc_is(m, a->name, "x");
		if (ipc_add(&out, a->name, a->val, a->len) == -1)
			abort();
	}
	if (ipc_end(&out) == -1 || out.len != len + 4 ||
	    memcmp(out.data + 4, payload, len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	long n;

	if (!ready) {
		ipc_msg_init(&msg);
		buf_init(&out, IPC_MAX_FRAME + 4);
		ready = 1;
	}
	/* a stream of frames, as the event loops read them */
	while ((n = ipc_frame_ready(data + off, size - off)) > 0) {
		if ((size_t)n < 4 || (size_t)n > size - off)
			abort();
		if (ipc_parse(&msg, data + off + 4, (size_t)n - 4) == 0)
			check_msg(&msg, data + off + 4, (size_t)n - 4);
		off += (size_t)n;
	}
	/* the whole input as one payload */
	if (ipc_parse(&msg, data, size) == 0)
		check_msg(&msg, data, size);
	return 0;
}
