/*
 * libFuzzer harness for the queue-file reader (lib/qfile.c): the input
 * is written to a memfd and read with qfile_read. A file that reads must
 * keep its records inside the file, read the same with qfile_read_keep
 * (its content in memory the file's bytes), and read back the same after
 * its in-place records are rewritten. Must never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto.h"
#include "qfile.h"

static int	fd = -1;

static int
load(const uint8_t *data, size_t size)
{
	if (fd == -1 && (fd = memfd_create("fuzz-qfile", 0)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	return fd;
}

static void
check(const struct qfile *q, off_t size)
{
	struct client_info ci;
	char err[128];

	if (q->content_off < 0 || q->content_off > size ||
	    (off_t)q->content_len > size - q->content_off ||
	    q->nrcpt == 0 || q->nrcpt > QF_MAX_RCPT || q->sender == NULL ||
	    strlen(q->sender) > QF_MAX_ADDR)
		abort();
	for (size_t i = 0; i < q->nrcpt; i++) {
		const struct qrcpt *r = &q->rcpt[i];

		if (r->code < 0 || r->code > 999 || r->off <= 0 ||
		    r->off >= size || strlen(r->addr) > QF_MAX_ADDR ||
		    strlen(r->error) >= QF_ERR_LEN)
			abort();
	}
	if (client_info_decode(q->client.data, q->client.len, &ci, err,
	    sizeof(err)) == 0)
		client_info_free(&ci);
}

/* qfile_read_keep: the same file, the content kept is the file's. */
static void
keep(int f, const struct qfile *q, const uint8_t *data)
{
	struct qfile k;
	char err[256];

	if (qfile_read_keep(f, &k, err, sizeof(err)) == -1 ||
	    k.nrcpt != q->nrcpt || k.content_off != q->content_off ||
	    k.content_len != q->content_len || k.client.len != q->client.len ||
	    (k.content_mem != NULL && memcmp(k.content_mem,
	    data + k.content_off, k.content_len) != 0))
		abort();
	qfile_free(&k);
}

/* Rewrite the in-place records and read again: same values. */
static void
rewrite(int f, const struct qfile *q)
{
	struct qfile b;
	char err[256];

	for (size_t i = 0; i < q->nrcpt; i++)
		if (qfile_rcpt_update(f, &q->rcpt[i]) == -1)
			abort();
	if (qfile_info_update(f, q) == -1 ||
	    qfile_read(f, &b, err, sizeof(err)) == -1)
		abort();
	if (b.nrcpt != q->nrcpt || b.arrival_us != q->arrival_us ||
	    b.next_try != q->next_try || b.attempts != q->attempts ||
	    b.flags != q->flags || strcmp(b.sender, q->sender) != 0)
		abort();
	for (size_t i = 0; i < q->nrcpt; i++)
		if (b.rcpt[i].status != q->rcpt[i].status ||
		    b.rcpt[i].code != q->rcpt[i].code ||
		    strcmp(b.rcpt[i].addr, q->rcpt[i].addr) != 0 ||
		    strcmp(b.rcpt[i].error, q->rcpt[i].error) != 0)
			abort();
	qfile_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qfile q;
	char err[256];
	int f;

	if (size > 1024 * 1024)
		return 0;
	f = load(data, size);
	if (qfile_read(f, &q, err, sizeof(err)) == 0) {
		check(&q, (off_t)size);
		keep(f, &q, data);
		rewrite(f, &q);
	} else if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	qfile_free(&q);
	return 0;
}
