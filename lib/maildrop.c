/*
 * maildrop: names and bounds of the files in queue_dir/maildrop
 * (lib/maildrop.h). Pure functions but for the clock and the random
 * bits of a new name; never opens a file.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ipc.h"
#include "maildrop.h"

int
maildrop_name(char *out, size_t outlen, int temp)
{
	uint32_t r = 0;
	int n;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r ^= (uint32_t)clock_us() * 2654435761u;
	n = snprintf(out, outlen, "%s%016llX%08X", temp ? MAILDROP_TEMP : "",
	    (unsigned long long)clock_us(), (unsigned)r);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

enum maildrop_kind
maildrop_kind(const char *name)
{
	enum maildrop_kind k = MD_FILE;
	size_t tl = strlen(MAILDROP_TEMP);

	if (strncmp(name, MAILDROP_TEMP, tl) == 0) {
		k = MD_TEMP;
		name += tl;
	}
	if (strlen(name) != MAILDROP_NAME_LEN ||
	    strspn(name, "0123456789ABCDEF") != MAILDROP_NAME_LEN)
		return MD_OTHER;
	return k;
}

int
maildrop_open_encode(struct buf *b, const struct cleanup_open *in, uid_t uid)
{
	struct cleanup_open o;

	cleanup_open_init(&o);	/* borrows in's strings: not freed */
	o.sender = in->sender;
	o.rcpt = in->rcpt;
	o.nrcpt = in->nrcpt;
	o.full_name = in->full_name;
	o.extract = in->extract;
	o.ret = in->ret;		/* DSN: sendmail -R, -V, -N */
	o.envid = in->envid;
	o.notify = in->notify;
	o.orcpt = in->orcpt;
	o.uid = (long long)uid;
	return cleanup_open_encode(b, &o);
}

size_t
maildrop_size_max(size_t max_message_size)
{
	size_t m = max_message_size ? max_message_size : 1024UL * 1024 * 1024;

	/* each data frame of 64 KiB carries < 64 octets of framing */
	return sizeof(MAILDROP_MAGIC) + m + m / 512 + 4 * IPC_MAX_FRAME;
}
