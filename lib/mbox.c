/*
 * mbox: append one message to a Unix mailbox, all or nothing (SPEC
 * section 9). Runs in local with the recipient's effective ids (and in a
 * /file target's child). Must never follow a symlink, write into a file the
 * recipient does not own, leave a partial message behind (truncate back
 * on every error), or wait for a lock without a bound.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mbox.h"

#define CHUNK	(64 * 1024)

static const char from_[] = "From ";
static uint64_t size_limit;	/* mailbox_size_limit; 0 = none */

void
mbox_set_limit(uint64_t limit)
{
	size_limit = limit;
}

/* Replace white space and control bytes so an address cannot break the
 * "From " line or inject a header. */
static void
sanitize(char *out, size_t outlen, const char *in)
{
	size_t	 i;

	for (i = 0; in[i] != '\0' && i + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];
		out[i] = (c <= 0x20 || c == 0x7f) ? '_' : (char)c;
	}
	out[i] = '\0';
}

static int
oflush(struct mbox_quoter *q)
{
	size_t	 off = 0;

	while (off < q->olen) {
		ssize_t n = q->wfn(q->ctx, q->obuf + off, q->olen - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			q->failed = 1;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			q->failed = 1;
			return -1;
		}
		off += (size_t)n;
	}
	q->olen = 0;
	return 0;
}

static int
emit(struct mbox_quoter *q, const char *p, size_t len)
{
	if (q->failed)
		return -1;
	if (len == 0)
		return 0;
	q->last_nl = p[len - 1] == '\n';
	while (len > 0) {
		size_t room = sizeof(q->obuf) - q->olen;
		size_t n = len < room ? len : room;
		memcpy(q->obuf + q->olen, p, n);
		q->olen += n;
		p += n;
		len -= n;
		if (q->olen == sizeof(q->obuf) && oflush(q) == -1)
			return -1;
	}
	return 0;
}

static int
emit_gt(struct mbox_quoter *q, size_t n)
{
	static const char gt[64] =
	    ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";

	while (n > 0) {
		size_t k = n < sizeof(gt) ? n : sizeof(gt);
		if (emit(q, gt, k) == -1)
			return -1;
		n -= k;
	}
	return 0;
}

void
mbox_quote_init(struct mbox_quoter *q, mbox_write_fn wfn, void *ctx)
{
	memset(q, 0, sizeof(*q));
	q->wfn = wfn;
	q->ctx = ctx;
	q->bol = 1;
	q->last_nl = 1;
}

int
mbox_quote_raw(struct mbox_quoter *q, const void *p, size_t len)
{
	return emit(q, p, len);
}

int
mbox_quote_feed(struct mbox_quoter *q, const void *buf, size_t len)
{
	const char	*p = buf, *end = p + len, *nl;

	while (p < end) {
		if (q->failed)
			return -1;
		if (q->bol) {
			char c = *p;
			if (q->nfrom == 0 && c == '>') {
				q->ngt++;
				p++;
				continue;
			}
			if (c == from_[q->nfrom]) {
				p++;
				if (++q->nfrom < sizeof(from_) - 1)
					continue;
				/* ^>*From  : one more '>' in front. */
				if (emit_gt(q, q->ngt + 1) == -1 ||
				    emit(q, from_, sizeof(from_) - 1) == -1)
					return -1;
				q->ngt = q->nfrom = 0;
				q->bol = 0;
				continue;
			}
			/* Not a From line: give back what was held. */
			if (emit_gt(q, q->ngt) == -1 ||
			    emit(q, from_, q->nfrom) == -1)
				return -1;
			q->ngt = q->nfrom = 0;
			q->bol = 0;
		}
		/* Copy up to and including the next newline. */
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			if (emit(q, p, (size_t)(end - p)) == -1)
				return -1;
			p = end;
		} else {
			if (emit(q, p, (size_t)(nl - p) + 1) == -1)
				return -1;
			p = nl + 1;
			q->bol = 1;
		}
	}
	return q->failed ? -1 : 0;
}

int
mbox_quote_finish(struct mbox_quoter *q)
{
	if (q->bol && (q->ngt || q->nfrom)) {
		if (emit_gt(q, q->ngt) == -1 || emit(q, from_, q->nfrom) == -1)
			return -1;
		q->ngt = q->nfrom = 0;
	}
	if (!q->last_nl && emit(q, "\n", 1) == -1)
		return -1;
	if (emit(q, "\n", 1) == -1)
		return -1;
	return oflush(q);
}

int
mbox_from_line(char *out, size_t outlen, const char *sender, time_t when)
{
	char		 s[512], date[64];
	struct tm	 tm;
	int		 n;

	if (sender == NULL || *sender == '\0')
		sender = "MAILER-DAEMON";
	sanitize(s, sizeof(s), sender);
	if (localtime_r(&when, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		return -1;
	n = snprintf(out, outlen, "From %s %s\n", s, date);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return 0;
}

static ssize_t
fd_write(void *ctx, const void *p, size_t len)
{
	return write(*(int *)ctx, p, len);
}

void
mbox_errtext(int e, const char *what, char *err, size_t errlen)
{
	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		snprintf(err, errlen, "4.3.1 Insufficient system storage");
	else
		snprintf(err, errlen, "4.2.0 %s: %s", what, strerror(e));
}

int
mbox_envelope_lines(char *out, size_t outlen, const char *sender,
    const char *rcpt)
{
	char	 s[512], r[512];
	int	 n;

	sanitize(s, sizeof(s), sender ? sender : "");
	sanitize(r, sizeof(r), rcpt ? rcpt : "");
	n = snprintf(out, outlen, "Return-Path: <%s>\nDelivered-To: %s\n",
	    s, r);
	return n < 0 || (size_t)n >= outlen ? -1 : n;
}

/* The "From " line, Return-Path and Delivered-To. 0, or -1 (errno). */
static int
write_envelope(struct mbox_quoter *q, const char *sender, const char *rcpt,
    time_t when)
{
	char	 line[1200];
	int	 n;

	if (mbox_from_line(line, sizeof(line), sender, when) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (mbox_quote_raw(q, line, strlen(line)) == -1)
		return -1;
	if ((n = mbox_envelope_lines(line, sizeof(line), sender,
	    rcpt)) == -1) {
		errno = EINVAL;
		return -1;
	}
	return mbox_quote_raw(q, line, (size_t)n);
}

/* The writer under the size limit: refuses the write that would cross
 * it (nothing of it is written), so the caller truncates back. */
struct limited {
	mbox_write_fn	 wfn;
	void		*ctx;
	uint64_t	 room;
	int		 over;
};

static ssize_t
limited_write(void *ctx, const void *p, size_t len)
{
	struct limited	*l = ctx;
	ssize_t		 n;

	if (len > l->room) {
		l->over = 1;
		errno = EFBIG;
		return -1;
	}
	if ((n = l->wfn(l->ctx, p, len)) > 0)
		l->room -= (uint64_t)n;
	return n;
}

int
mbox_copy(const void *mem, int content_fd, off_t off, size_t len,
    int (*fn)(void *, const void *, size_t), void *ctx, const char **what)
{
	char	*chunk;
	size_t	 done = 0;
	int	 ret = 0, e;

	if (mem != NULL)
		return len > 0 ? fn(ctx, mem, len) : 0;
	if ((chunk = malloc(CHUNK)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	while (done < len) {
		size_t want = len - done < CHUNK ? len - done : CHUNK;
		ssize_t got = pread(content_fd, chunk, want,
		    off + (off_t)done);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			*what = "cannot read queue file";
			ret = -1;
			break;
		}
		if (fn(ctx, chunk, (size_t)got) == -1) {
			ret = -1;
			break;
		}
		done += (size_t)got;
	}
	e = errno;
	free(chunk);
	errno = e;
	return ret;
}

static int
quote_piece(void *q, const void *p, size_t len)
{
	return mbox_quote_feed(q, p, len);
}

/* The content, quoted: from mem, or len bytes at off of content_fd.
 * 0, or -1 (errno; *what says so when the queue file failed). */
static int
feed_content(struct mbox_quoter *q, const void *mem, int content_fd,
    off_t off, size_t len, const char **what)
{
	return mbox_copy(mem, content_fd, off, len, quote_piece, q, what);
}

int
mbox_write_message(int fd, mbox_write_fn wfn, void *wctx, const char *sender,
    const char *rcpt, time_t when, const void *mem, int content_fd, off_t off,
    size_t len, char *err, size_t errlen)
{
	struct mbox_quoter	*q;
	struct limited		 lim;
	struct stat		 st;
	off_t			 size0;
	int			 e;
	const char		*what = "mailbox write error";

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "4.2.0 cannot stat mailbox: %s",
		    strerror(errno));
		return MBOX_TEMP;
	}
	size0 = st.st_size;
	/* The quoted message is never shorter than its content. */
	if (size_limit > 0 && ((uint64_t)size0 >= size_limit ||
	    len > size_limit - (uint64_t)size0))
		goto full;
	lim.wfn = wfn ? wfn : fd_write;
	lim.ctx = wfn ? wctx : &fd;
	lim.room = size_limit > 0 ? size_limit - (uint64_t)size0 : UINT64_MAX;
	lim.over = 0;
	if ((q = malloc(sizeof(*q))) == NULL) {
		snprintf(err, errlen, "4.3.0 out of memory");
		return MBOX_TEMP;
	}
	mbox_quote_init(q, limited_write, &lim);
	if (write_envelope(q, sender, rcpt, when) == -1 ||
	    feed_content(q, mem, content_fd, off, len, &what) == -1 ||
	    mbox_quote_finish(q) == -1)
		goto fail;
	what = "mailbox fsync error";
	if (fsync(fd) == -1)
		goto fail;
	free(q);
	return MBOX_OK;
fail:
	e = errno;
	mbox_errtext(e, what, err, errlen);
	/* All or nothing: cut off whatever part of the message got in. */
	if (ftruncate(fd, size0) == -1 || fsync(fd) == -1) {
		/* Nothing more we can do; the error is already a defer. */
	}
	free(q);
	if (!lim.over)
		return MBOX_TEMP;
full:
	snprintf(err, errlen, "5.2.2 mailbox full (mailbox_size_limit "
	    "%llu bytes)", (unsigned long long)size_limit);
	return MBOX_PERM;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Wait for a lock held by another delivery: a delivery holds it for a
 * few milliseconds, so start short and back off (jittered, so two
 * waiters do not retry in step), up to 100 ms between tries.
 */
static void
lock_backoff(long *ms)
{
	nap_ms(*ms / 2 + (long)arc4random_uniform((uint32_t)(*ms / 2 + 1)));
	if (*ms < 100)
		*ms *= 2;
}

/*
 * A dotlock names its creator's pid. When that process no longer exists
 * (a delivery killed with -9), the lock is stale at once; waiting for
 * MBOX_LOCK_STALE would hold the mailbox for minutes. Only ESRCH counts:
 * EPERM means some other user's live process.
 */
static int
lock_owner_dead(const char *lockpath)
{
	char	 buf[32];
	ssize_t	 n;
	long	 pid;
	char	*end;
	int	 fd;

	if ((fd = open(lockpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || (*end != '\n' && *end != '\0') ||
	    pid <= 1 || pid > 4194304)
		return 0;
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/*
 * Make lockpath exist with our pid in it, never empty (a kill in between
 * would leave a lock no one could tell stale for MBOX_LOCK_STALE): the
 * pid goes into a temp file beside it, which is then linked to lockpath
 * (link fails with EEXIST when the lock exists; a reply lost on NFS is
 * caught by the temp's link count). 1 made, 0 held by someone, -1 the
 * directory is not ours to write, -2 failure (errno).
 */
static int
dotlock_make(const char *lockpath)
{
	char		 tmp[4096 + 8], pid[32];
	struct stat	 st;
	int		 fd, n, r, e;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", lockpath) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -2;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return errno == EACCES || errno == EPERM || errno == EROFS ?
		    -1 : -2;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (write(fd, pid, (size_t)n) != n) {
		e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		errno = e;
		return -2;
	}
	close(fd);
	r = link(tmp, lockpath) == 0 ? 1 : errno == EEXIST ? 0 : -2;
	e = errno;
	if (r == -2 && lstat(tmp, &st) == 0 && st.st_nlink == 2)
		r = 1;
	unlink(tmp);
	errno = e;
	return r;
}

/* Create PATH.lock. 1 = locked, 0 = skipped (directory not writable),
 * -1 = failure with err set. */
static int
dotlock(const char *lockpath, char *err, size_t errlen)
{
	struct stat	 st;
	time_t		 deadline = time(NULL) + MBOX_LOCK_WAIT;
	long		 wait = 2;

	for (;;) {
		switch (dotlock_make(lockpath)) {
		case 1:
			return 1;
		case -1:
			return 0;
		case -2:
			snprintf(err, errlen, "4.2.0 cannot create %s: %s",
			    lockpath, strerror(errno));
			return -1;
		}
		if (lstat(lockpath, &st) == 0 &&
		    (time(NULL) - st.st_mtime > MBOX_LOCK_STALE ||
		    lock_owner_dead(lockpath))) {
			if (unlink(lockpath) == 0)
				continue;
		}
		if (time(NULL) >= deadline) {
			snprintf(err, errlen, "4.2.0 mailbox is locked (%s)",
			    lockpath);
			return -1;
		}
		lock_backoff(&wait);
	}
}

static int
fcntl_lock(int fd, char *err, size_t errlen)
{
	struct flock	 fl;
	time_t		 deadline = time(NULL) + MBOX_LOCK_WAIT;
	long		 wait = 2;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			snprintf(err, errlen, "4.2.0 cannot lock mailbox: %s",
			    strerror(errno));
			return -1;
		}
		if (time(NULL) >= deadline) {
			snprintf(err, errlen, "4.2.0 mailbox is locked");
			return -1;
		}
		lock_backoff(&wait);
	}
}

int
mbox_deliver(const char *path, const char *sender, const char *rcpt,
    const void *mem, int content_fd, off_t off, size_t len, char *err,
    size_t errlen)
{
	struct stat	 st, lst;
	struct flock	 fl;
	char		 lockpath[4096];
	int		 fd, n, locked = 0, ret;

	n = snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof(lockpath)) {
		snprintf(err, errlen, "5.3.5 mailbox path too long");
		return MBOX_PERM;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == ELOOP)
			snprintf(err, errlen, "4.2.0 mailbox is unsafe "
			    "(symbolic link)");
		else
			mbox_errtext(errno, "cannot open mailbox", err, errlen);
		return MBOX_TEMP;
	}
	if (fstat(fd, &st) == -1 || lstat(path, &lst) == -1) {
		mbox_errtext(errno, "cannot stat mailbox", err, errlen);
		close(fd);
		return MBOX_TEMP;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1 || st.st_dev != lst.st_dev ||
	    st.st_ino != lst.st_ino) {
		snprintf(err, errlen, "4.2.0 mailbox is unsafe");
		close(fd);
		return MBOX_TEMP;
	}
	/* Back to blocking writes now that we know it is a regular file. */
	fcntl(fd, F_SETFL, O_APPEND);
	if ((locked = dotlock(lockpath, err, errlen)) == -1) {
		close(fd);
		return MBOX_TEMP;
	}
	if (fcntl_lock(fd, err, errlen) == -1) {
		ret = MBOX_TEMP;
		goto out;
	}
	ret = mbox_write_message(fd, NULL, NULL, sender, rcpt, time(NULL),
	    mem, content_fd, off, len, err, errlen);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fcntl(fd, F_SETLK, &fl);
out:
	close(fd);
	if (locked == 1)
		unlink(lockpath);
	return ret;
}
