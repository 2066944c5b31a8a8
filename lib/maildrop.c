/*
 * maildrop: names and bounds of the files in queue_dir/maildrop
 * (lib/maildrop.h), and the order pickup takes them in. Pure functions
 * but for the clock and the random bits of a new name; never opens a
 * file.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

void
maildrop_batch_init(struct maildrop_batch *b, size_t max, const char *after)
{
	memset(b, 0, sizeof(*b));
	b->max = max > 0 ? max : 1;
	b->names = xreallocarray(NULL, 2 * b->max, sizeof(*b->names));
	snprintf(b->after, sizeof(b->after), "%s", after);
}

/* Held names past max: sorted and cut back to max (amortised). */
static void
batch_cut(struct maildrop_batch *b)
{
	qsort(b->names, b->n, sizeof(*b->names), cmp_name);
	if (b->n > b->max) {
		b->n = b->max;
		b->more = 1;
	}
}

void
maildrop_batch_add(struct maildrop_batch *b, const char *name)
{
	if (strlen(name) != MAILDROP_NAME_LEN ||
	    strcmp(name, b->after) <= 0)
		return;
	if (b->more && strcmp(name, b->names[b->max - 1]) > 0)
		return;		/* after what this pass keeps already */
	memcpy(b->names[b->n++], name, MAILDROP_NAME_LEN + 1);
	if (b->n == 2 * b->max)
		batch_cut(b);
}

void
maildrop_batch_done(struct maildrop_batch *b)
{
	batch_cut(b);
}

void
maildrop_batch_free(struct maildrop_batch *b)
{
	free(b->names);
	b->names = NULL;
	b->n = 0;
}
