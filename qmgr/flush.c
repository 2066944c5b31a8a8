/*
 * flush: qmgr's filtered flush. It reads the envelopes in deferred/ and
 * sets the time of the next try of those that match to now; the deferred
 * scan then takes them as any due retry. It never moves, rewrites or
 * removes a queue file, and never touches held or active messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "flush.h"
#include "log.h"

/* Is addr's domain d? (the part after the last '@', any case) */
static int
domain_is(const char *addr, const char *d)
{
	const char *at = strrchr(addr, '@');

	return at != NULL && strcasecmp(at + 1, d) == 0;
}

int
flush_match(const struct qfile *q, const struct qmgr_flush *f)
{
	switch (f->by) {
	case FLUSH_ALL:
		return 1;
	case FLUSH_ID:
		return strcmp(q->id, f->value) == 0;
	case FLUSH_SENDER_DOMAIN:
		return q->sender != NULL && domain_is(q->sender, f->value);
	case FLUSH_RCPT_DOMAIN:
		for (size_t i = 0; i < q->nrcpt; i++)
			if (q->rcpt[i].status == QR_PENDING &&
			    domain_is(q->rcpt[i].addr, f->value))
				return 1;
		return 0;
	}
	return 0;
}

/* 1 if deferred/id matches and is due now, else 0. */
static int
flush_one(struct queue *qq, const char *id, const struct qmgr_flush *f)
{
	struct qfile q;
	char err[256];
	int fd, hit = 0;

	if (f->by == FLUSH_ID && strcmp(id, f->value) != 0)
		return 0;
	if ((fd = queue_file_open(qq, QD_DEFERRED, id, O_RDONLY)) == -1)
		return 0;	/* taken meanwhile: nothing to flush */
	memset(&q, 0, sizeof(q));
	if (qfile_read(fd, &q, err, sizeof(err)) == 0) {
		memcpy(q.id, id, QID_LEN + 1);
		hit = flush_match(&q, f);
	}	/* else: the deferred scan moves it to corrupt/ */
	qfile_free(&q);
	close(fd);
	if (hit && queue_touch(qq, QD_DEFERRED, id) == -1)
		hit = 0;
	return hit;
}

int
flush_filtered(struct queue *qq, const struct qmgr_flush *f)
{
	struct queue_ids l;
	int n = 0;

	if (queue_list(qq, QD_DEFERRED, &l) == -1) {
		log_warn("flush: cannot read deferred/: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < l.n; i++)
		n += flush_one(qq, l.id[i], f);
	queue_ids_free(&l);
	return n;
}
