/*
 * qfile: queue-file format v2, v1 read (qfile.h, docs/queue-format.md).
 * The reader trusts nothing in the file: every length is checked against
 * the file size and a per-record limit; a file that fails goes to corrupt/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "qfile.h"
#include "xtext.h"

#define QF_MAGIC	"PSTQ"
#define QF_VERSION	2	/* written; 1 is read too */
#define QF_DFIX		4	/* RET/NOTIFY u8, u8[3] 0: 'D' and 'N' */
#define QF_INFO_LEN	32
#define QF_RFIX		(4 + 4 + QF_ERR_LEN)	/* status..error in an 'R' */
#define QF_MAX_CLIENT	(64 * 1024)
#define QF_WINDOW	(64 * 1024)	/* the reader's first read */
#define QF_WIN_MAX	QF_MAX_CLIENT	/* the largest record it reads */

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

void
qid_make(uint64_t now_us, uint64_t ino, char out[QID_LEN + 1])
{
	snprintf(out, QID_LEN + 1, "%08llX%05llX%03llX",
	    (unsigned long long)(now_us / 1000000) & 0xFFFFFFFFULL,
	    (unsigned long long)(now_us % 1000000),
	    (unsigned long long)ino & 0xFFF);
}

int
qid_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return s[i] == '\0';
}

/* All of len bytes at off, read (out 0) or written (out 1); EIO when a
 * read meets the end of the file. 0 or -1, errno set. */
static int
pio_full(int fd, void *p, size_t len, off_t off, int out)
{
	size_t done = 0;

	while (done < len) {
		char *at = (char *)p + done;
		off_t o = off + (off_t)done;
		ssize_t n = out ? pwrite(fd, at, len - done, o) :
		    pread(fd, at, len - done, o);
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int
pread_full(int fd, void *p, size_t len, off_t off)
{
	return pio_full(fd, p, len, off, 0);
}

static int
pwrite_full(int fd, const void *p, size_t len, off_t off)
{
	return pio_full(fd, (void *)p, len, off, 1);	/* only read from */
}

static int
bad(char *err, size_t errlen, const char *what, off_t off)
{
	snprintf(err, errlen, "%s at offset %lld", what, (long long)off);
	return -1;
}

/*
 * What the record loop of qfile_read has seen so far, and its window: the
 * file's bytes from woff, read QF_WINDOW at a time (one read for a file
 * that small), refilled from the first byte a record needs when that
 * record is not all in it. The content between 'M' and the records after
 * it is never read here.
 */
struct qread {
	int		 fd;
	struct qfile	*q;
	char		*err;
	size_t		 errlen;
	off_t		 size;		/* fstat's, at the start */
	unsigned char	*win;
	size_t		 wcap;
	size_t		 wlen;
	off_t		 woff;
	int		 seen_s, seen_m, seen_e, seen_d;
	int		 last_r;	/* the record before was an 'R' */
	size_t		 rcap;
};

/* len bytes of the file at off: a pointer into the window, refilled from
 * off when they are not all in it; NULL (errno) on a read error or a
 * file shorter than that. Every caller has bounded len by the record's
 * limit, so the window never grows past QF_WIN_MAX. */
static const unsigned char *
qr_at(struct qread *r, off_t off, size_t len)
{
	size_t want;

	if (off >= r->woff && (size_t)(off - r->woff) <= r->wlen &&
	    len <= r->wlen - (size_t)(off - r->woff))
		return r->win + (off - r->woff);
	if (off < 0 || off > r->size || (off_t)len > r->size - off) {
		errno = EIO;
		return NULL;
	}
	if (len > QF_WIN_MAX) {
		errno = EFBIG;
		return NULL;
	}
	want = len > QF_WINDOW ? len : QF_WINDOW;
	if ((off_t)want > r->size - off)
		want = (size_t)(r->size - off);
	if (want > r->wcap) {
		free(r->win);
		r->win = xmalloc(want);
		r->wcap = want;
	}
	r->wlen = 0;
	if (pread_full(r->fd, r->win, want, off) == -1)
		return NULL;
	r->woff = off;
	r->wlen = want;
	return r->win;
}

/* qr_at copied into p: 0 or -1. */
static int
qr_copy(struct qread *r, void *p, size_t len, off_t off)
{
	const unsigned char *s = qr_at(r, off, len);

	if (s == NULL)
		return -1;
	memcpy(p, s, len);
	return 0;
}

/* The header and the 'I' record, which must come first. */
static int
read_head(struct qread *r, off_t size)
{
	const unsigned char *hdr, *rh, *info;
	struct qfile *q = r->q;
	off_t off = 8;

	if (size < 8 || (hdr = qr_at(r, 0, 8)) == NULL)
		return bad(r->err, r->errlen, "short file", 0);
	if (memcmp(hdr, QF_MAGIC, 4) != 0)
		return bad(r->err, r->errlen, "bad magic", 0);
	if (hdr[4] != 1 && hdr[4] != QF_VERSION)
		return bad(r->err, r->errlen, "unknown version", 4);
	q->version = hdr[4];
	if (size - off < 5 + QF_INFO_LEN ||
	    (rh = qr_at(r, off, 5 + QF_INFO_LEN)) == NULL || rh[0] != 'I' ||
	    get32(rh + 1) != QF_INFO_LEN)
		return bad(r->err, r->errlen, "missing info record", off);
	info = rh + 5;
	q->info_off = off + 5;
	q->arrival_us = get64(info);
	q->next_try = (int64_t)get64(info + 8);
	q->attempts = get32(info + 16);
	q->flags = get32(info + 20);
	return 0;
}

static int
rec_sender(struct qread *r, off_t off, uint32_t len)
{
	struct qfile *q = r->q;

	if (r->seen_s || len > QF_MAX_ADDR)
		return bad(r->err, r->errlen, "bad sender record", off);
	q->sender = xmalloc(len + 1);
	if (qr_copy(r, q->sender, len, off + 5) == -1)
		return bad(r->err, r->errlen, "read error", off);
	q->sender[len] = '\0';
	if (strlen(q->sender) != len)
		return bad(r->err, r->errlen, "NUL in sender", off);
	r->seen_s = 1;
	return 0;
}

static int
rec_client(struct qread *r, off_t off, uint32_t len)
{
	const unsigned char *p;

	if (len > QF_MAX_CLIENT)
		return bad(r->err, r->errlen, "client record too long", off);
	if ((p = qr_at(r, off + 5, len)) == NULL)
		return bad(r->err, r->errlen, "read error", off);
	buf_reset(&r->q->client);
	buf_append(&r->q->client, p, len);
	return 0;
}

static int
rec_rcpt(struct qread *rd, off_t off, uint32_t len)
{
	const unsigned char *rfix;
	struct qfile *q = rd->q;
	struct qrcpt *r;
	size_t alen;

	if (!rd->seen_m || len <= QF_RFIX ||
	    len - QF_RFIX > QF_MAX_ADDR || q->nrcpt >= QF_MAX_RCPT)
		return bad(rd->err, rd->errlen, "bad recipient record", off);
	if (q->nrcpt == rd->rcap) {
		rd->rcap = rd->rcap ? rd->rcap * 2 : 8;
		q->rcpt = xreallocarray(q->rcpt, rd->rcap, sizeof(*r));
	}
	r = &q->rcpt[q->nrcpt];
	memset(r, 0, sizeof(*r));
	alen = len - QF_RFIX;
	if ((rfix = qr_at(rd, off + 5, len)) == NULL)
		return bad(rd->err, rd->errlen, "read error", off);
	r->addr = xmalloc(alen + 1);
	q->nrcpt++;
	memcpy(r->addr, rfix + QF_RFIX, alen);
	r->addr[alen] = '\0';
	r->status = (char)rfix[0];
	r->code = (int)get32(rfix + 4);
	memcpy(r->error, rfix + 8, QF_ERR_LEN);
	r->error[QF_ERR_LEN - 1] = '\0';
	r->off = off + 5;
	if (strlen(r->addr) != alen || get32(rfix + 4) > 999 ||
	    (r->status != QR_PENDING && r->status != QR_SENT &&
	    r->status != QR_FAILED && r->status != QR_DONE_FAILED &&
	    (q->version < 2 || (r->status != QR_SENT_NOTIFY &&
	    r->status != QR_RELAYED_NOTIFY))))
		return bad(rd->err, rd->errlen, "bad recipient data", off);
	return 0;
}

/* The printable text of a 'D' or 'N' record (after its fixed part):
 * NULL when empty; -1 when it is not printable ASCII or too long. */
static int
rec_text(struct qread *r, off_t off, uint32_t len, size_t max, char **out)
{
	size_t n = len - QF_DFIX;

	*out = NULL;
	if (n > max)
		return -1;
	if (n == 0)
		return 0;
	*out = xmalloc(n + 1);
	if (qr_copy(r, *out, n, off + 5 + QF_DFIX) == -1)
		return -1;
	(*out)[n] = '\0';
	return dsn_text_ok(*out, n, max) ? 0 : -1;
}

/* 'D': RET and ENVID of the message (v2). */
static int
rec_dsn(struct qread *r, off_t off, uint32_t len)
{
	const unsigned char *fix;

	if (r->q->version < 2 || !r->seen_m || r->seen_d ||
	    r->q->nrcpt > 0 || len < QF_DFIX ||
	    (fix = qr_at(r, off + 5, QF_DFIX)) == NULL ||
	    fix[0] > DSN_RET_HDRS)
		return bad(r->err, r->errlen, "bad DSN record", off);
	r->q->ret = fix[0];
	if (rec_text(r, off, len, DSN_ENVID_MAX, &r->q->envid) == -1)
		return bad(r->err, r->errlen, "bad DSN record", off);
	r->seen_d = 1;
	return 0;
}

/* 'N': NOTIFY and ORCPT of the recipient just read (v2). */
static int
rec_rcpt_dsn(struct qread *r, off_t off, uint32_t len)
{
	const unsigned char *fix;
	struct qrcpt *rc;

	if (r->q->version < 2 || !r->last_r || len < QF_DFIX ||
	    (fix = qr_at(r, off + 5, QF_DFIX)) == NULL ||
	    (fix[0] & ~DSN_NOTIFY_ALL) != 0)
		return bad(r->err, r->errlen, "bad recipient DSN record", off);
	rc = &r->q->rcpt[r->q->nrcpt - 1];
	rc->notify = fix[0];
	if (rec_text(r, off, len, DSN_ORCPT_MAX, &rc->orcpt) == -1)
		return bad(r->err, r->errlen, "bad recipient DSN record", off);
	return 0;
}

/* One record of type t and len data bytes at off. */
static int
read_record(struct qread *r, int t, off_t off, uint32_t len)
{
	switch (t) {
	case 'S':
		return rec_sender(r, off, len);
	case 'C':
		return rec_client(r, off, len);
	case 'M':
		if (!r->seen_s || r->seen_m)
			return bad(r->err, r->errlen, "misplaced content", off);
		r->q->content_off = off + 5;
		r->q->content_len = len;
		r->seen_m = 1;
		return 0;
	case 'R':
		return rec_rcpt(r, off, len);
	case 'D':
		return rec_dsn(r, off, len);
	case 'N':
		return rec_rcpt_dsn(r, off, len);
	case 'E':
		if (len != 0 || r->q->nrcpt == 0)
			return bad(r->err, r->errlen, "bad end record", off);
		r->seen_e = 1;
		return 0;
	default:
		return bad(r->err, r->errlen, "unknown record type", off);
	}
}

/* The records after the header, through 'E'. */
static int
read_records(struct qread *r)
{
	const unsigned char *rh;
	uint32_t len;
	off_t off;
	int t;

	for (off = 8 + 5 + QF_INFO_LEN; off < r->size; off += 5 + (off_t)len) {
		if (r->seen_e)
			return bad(r->err, r->errlen, "data after end record",
			    off);
		if (r->size - off < 5 || (rh = qr_at(r, off, 5)) == NULL)
			return bad(r->err, r->errlen,
			    "truncated record header", off);
		len = get32(rh + 1);
		if ((off_t)len > r->size - off - 5)
			return bad(r->err, r->errlen, "record overruns file",
			    off);
		t = rh[0];	/* read_record may refill the window */
		if (read_record(r, t, off, len) == -1)
			return -1;
		r->last_r = t == 'R';
	}
	if (!r->seen_e)
		return bad(r->err, r->errlen,
		    "incomplete file (no end record)", off);
	return 0;
}

/* The window is kept in q when it holds the whole content. */
static int
qfile_read_win(int fd, struct qfile *q, int keep, char *err, size_t errlen)
{
	struct qread r = { .fd = fd, .q = q, .err = err, .errlen = errlen };
	struct stat st;
	int rv = -1;

	memset(q, 0, sizeof(*q));
	buf_init(&q->client, QF_MAX_CLIENT);
	if (fstat(fd, &st) == -1)
		return bad(err, errlen, "cannot stat", 0);
	q->size = r.size = st.st_size;
	if (read_head(&r, st.st_size) == 0 && read_records(&r) == 0)
		rv = 0;
	if (rv == 0 && keep && q->content_off >= r.woff &&
	    (size_t)(q->content_off - r.woff) <= r.wlen &&
	    q->content_len <= r.wlen - (size_t)(q->content_off - r.woff)) {
		q->kept = r.win;
		q->content_mem = (const char *)r.win +
		    (q->content_off - r.woff);
	} else
		free(r.win);
	return rv;
}

int
qfile_read(int fd, struct qfile *q, char *err, size_t errlen)
{
	return qfile_read_win(fd, q, 0, err, errlen);
}

int
qfile_read_keep(int fd, struct qfile *q, char *err, size_t errlen)
{
	return qfile_read_win(fd, q, 1, err, errlen);
}

ssize_t
qfile_content_pread(int fd, const struct qfile *q, size_t pos, void *buf,
    size_t len)
{
	ssize_t n;

	if (pos >= q->content_len)
		return 0;
	if (len > q->content_len - pos)
		len = q->content_len - pos;
	if (q->content_mem != NULL) {
		memcpy(buf, q->content_mem + pos, len);
		return (ssize_t)len;
	}
	do
		n = pread(fd, buf, len, q->content_off + (off_t)pos);
	while (n == -1 && errno == EINTR);
	return n;
}

void
qfile_free(struct qfile *q)
{
	for (size_t i = 0; i < q->nrcpt; i++) {
		free(q->rcpt[i].addr);
		free(q->rcpt[i].orcpt);
	}
	free(q->rcpt);
	free(q->sender);
	free(q->envid);
	free(q->kept);
	buf_free(&q->client);
	memset(q, 0, sizeof(*q));
}

int
qfile_rcpt_update(int fd, const struct qrcpt *r)
{
	unsigned char rfix[QF_RFIX];

	memset(rfix, 0, sizeof(rfix));
	rfix[0] = (unsigned char)r->status;
	put32(rfix + 4, (uint32_t)r->code);
	memcpy(rfix + 8, r->error, strnlen(r->error, QF_ERR_LEN - 1));
	return pwrite_full(fd, rfix, sizeof(rfix), r->off);
}

int
qfile_info_update(int fd, const struct qfile *q)
{
	unsigned char info[QF_INFO_LEN];

	memset(info, 0, sizeof(info));
	put64(info, q->arrival_us);
	put64(info + 8, (uint64_t)q->next_try);
	put32(info + 16, q->attempts);
	put32(info + 20, q->flags);
	return pwrite_full(fd, info, sizeof(info), q->info_off);
}

/* Writer. Output goes through w->out and is flushed in 64 KiB pieces. */

/* The first failure: keep its errno for the caller's answer. */
static int
w_fail(struct qwriter *w)
{
	if (w->err == 0)
		w->err = errno != 0 ? errno : EIO;
	w->failed = 1;
	return -1;
}

/* The writer is the file's only writer: it appends at w->written (no
 * lseek to find the end). */
static int
w_flush(struct qwriter *w)
{
	if (w->failed)
		return -1;
	if (w->out.len == 0)
		return 0;
	if (pwrite_full(w->fd, w->out.data, w->out.len, w->written) == -1)
		return w_fail(w);
	w->written += (off_t)w->out.len;
	buf_reset(&w->out);
	return 0;
}

static int
w_put(struct qwriter *w, const void *p, size_t n)
{
	if (w->failed)
		return -1;
	if (w->out.len + n > 65536 && w_flush(w) == -1)
		return -1;
	if (n > 65536) {
		if (pwrite_full(w->fd, p, n, w->written) == -1)
			return w_fail(w);
		w->written += (off_t)n;
		return 0;
	}
	if (buf_append(&w->out, p, n) == -1) {
		errno = ENOMEM;
		return w_fail(w);
	}
	return 0;
}

static int
w_record(struct qwriter *w, char type, const void *p, size_t n)
{
	unsigned char rh[5];

	rh[0] = (unsigned char)type;
	put32(rh + 1, (uint32_t)n);
	if (w_put(w, rh, 5) == -1)
		return -1;
	return n ? w_put(w, p, n) : 0;
}

int
qfile_create(struct qwriter *w, int dirfd, uint64_t arrival_us,
    uint32_t flags, const char *sender, const struct buf *client)
{
	unsigned char hdr[8] = { 'P', 'S', 'T', 'Q', QF_VERSION, 0, 0, 0 };
	unsigned char info[QF_INFO_LEN];
	static unsigned seq;

	memset(w, 0, sizeof(*w));
	w->dirfd = dirfd;
	buf_init(&w->out, 2 * 65536 + 16);
	for (int tries = 0; tries < 5; tries++) {
		snprintf(w->tmpname, sizeof(w->tmpname), "t.%ld.%u.%llu",
		    (long)getpid(), seq++, (unsigned long long)arrival_us);
		w->fd = openat(dirfd, w->tmpname,
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->fd != -1 || errno != EEXIST)
			break;
	}
	if (w->fd == -1)
		return w_fail(w);
	{
		struct stat st;
		if (fstat(w->fd, &st) == -1) {
			qfile_abort(w);
			return -1;
		}
		w->ino = st.st_ino;
		qid_make(arrival_us, (uint64_t)st.st_ino, w->id);
	}
	if (strlen(sender) > QF_MAX_ADDR) {
		w->failed = 1;
		errno = EINVAL;
		return -1;
	}
	memset(info, 0, sizeof(info));
	put64(info, arrival_us);
	put32(info + 20, flags);
	w_put(w, hdr, 8);
	w_record(w, 'I', info, sizeof(info));
	w_record(w, 'S', sender, strlen(sender));
	if (client && client->len)
		w_record(w, 'C', client->data, client->len);
	/* Content length is patched by qfile_content_end. */
	if (w_record(w, 'M', NULL, 0) == -1)
		return -1;
	w->content_len_off = w->written + (off_t)w->out.len - 4;
	return 0;
}

int
qfile_content_write(struct qwriter *w, const void *p, size_t n)
{
	if (w->content_len + n > UINT32_MAX - 1) {
		w->failed = 1;
		errno = EFBIG;
		return -1;
	}
	w->content_len += n;
	return w_put(w, p, n);
}

int
qfile_content_end(struct qwriter *w)
{
	unsigned char len[4];

	if (w->failed)
		return -1;
	put32(len, (uint32_t)w->content_len);
	if (w->content_len_off >= w->written) {
		/* still buffered (a message under 64 KiB): patched there,
		 * and the whole file goes out in one write at the commit */
		memcpy(w->out.data + (w->content_len_off - w->written), len,
		    4);
		return 0;
	}
	if (w_flush(w) == -1 ||
	    pwrite_full(w->fd, len, 4, w->content_len_off) == -1)
		return w_fail(w);
	return 0;
}

int
qfile_add_rcpt(struct qwriter *w, const char *addr)
{
	unsigned char rec[QF_RFIX + QF_MAX_ADDR];
	size_t alen = strlen(addr);

	if (alen == 0 || alen > QF_MAX_ADDR || w->nrcpt >= QF_MAX_RCPT) {
		w->failed = 1;
		errno = EINVAL;
		return -1;
	}
	memset(rec, 0, QF_RFIX);
	rec[0] = QR_PENDING;
	memcpy(rec + QF_RFIX, addr, alen);
	w->nrcpt++;
	return w_record(w, 'R', rec, QF_RFIX + alen);
}

/* A 'D' or 'N' record: one byte, three zeros, then text (may be NULL). */
static int
w_dsn_record(struct qwriter *w, char type, int v, const char *text,
    size_t max)
{
	unsigned char rec[QF_DFIX + DSN_ORCPT_MAX];
	size_t n = text ? strlen(text) : 0;

	if (n > max) {
		w->failed = 1;
		errno = EINVAL;
		return -1;
	}
	memset(rec, 0, QF_DFIX);
	rec[0] = (unsigned char)v;
	if (n)
		memcpy(rec + QF_DFIX, text, n);
	return w_record(w, type, rec, QF_DFIX + n);
}

int
qfile_add_dsn(struct qwriter *w, int ret, const char *envid)
{
	if (ret == 0 && (envid == NULL || *envid == '\0'))
		return 0;
	if (ret < 0 || ret > DSN_RET_HDRS || w->nrcpt > 0) {
		w->failed = 1;
		errno = EINVAL;
		return -1;
	}
	return w_dsn_record(w, 'D', ret, envid, DSN_ENVID_MAX);
}

int
qfile_add_rcpt_dsn(struct qwriter *w, const char *addr, int notify,
    const char *orcpt)
{
	if (qfile_add_rcpt(w, addr) == -1)
		return -1;
	if (notify == 0 && (orcpt == NULL || *orcpt == '\0'))
		return 0;
	if ((notify & ~DSN_NOTIFY_ALL) != 0) {
		w->failed = 1;
		errno = EINVAL;
		return -1;
	}
	return w_dsn_record(w, 'N', notify, orcpt, DSN_ORCPT_MAX);
}

int
qfile_commit(struct qwriter *w, char id[QID_LEN + 1])
{
	struct timespec ts;

	if (w->nrcpt == 0) {
		errno = EINVAL;
		(void)w_fail(w);
	}
	if (w_record(w, 'E', NULL, 0) == -1 || w_flush(w) == -1 ||
	    fsync(w->fd) == -1) {
		(void)w_fail(w);
		qfile_abort(w);
		return -1;
	}
	for (int tries = 0; ; tries++) {
		if (renameat2(w->dirfd, w->tmpname, w->dirfd, w->id,
		    RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || tries >= 100) {
			(void)w_fail(w);
			qfile_abort(w);
			return -1;
		}
		/* Same microsecond and inode bits as a queued file: rare. */
		clock_gettime(CLOCK_REALTIME, &ts);
		qid_make((uint64_t)ts.tv_sec * 1000000 +
		    (uint64_t)ts.tv_nsec / 1000 + (uint64_t)tries,
		    (uint64_t)w->ino, w->id);
	}
	memcpy(id, w->id, QID_LEN + 1);
	close(w->fd);
	w->fd = -1;
	buf_free(&w->out);
	if (fsync(w->dirfd) == -1) {
		(void)w_fail(w);
		/* The file is named but may not survive a crash: undo. */
		unlinkat(w->dirfd, id, 0);
		return -1;
	}
	return 0;
}

void
qfile_abort(struct qwriter *w)
{
	if (w->fd != -1) {
		close(w->fd);
		unlinkat(w->dirfd, w->tmpname, 0);
		w->fd = -1;
	}
	w->failed = 1;
	buf_free(&w->out);
}
