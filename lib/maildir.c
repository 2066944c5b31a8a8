/*
 * maildir: one message into a Maildir, all or nothing (SPEC section 9).
 * Runs in local with the recipient's effective ids.
 * Must never follow a symbolic link below the directory the caller names
 * as existing, never overwrite a file, and never leave a partial message
 * in new/ (nor a stale one in tmp/) on any error.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "mbox.h"

#define NAME_TRIES	8
#define DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

int
maildir_name(char *out, size_t outlen, long long sec, long usec, long pid,
    unsigned q, const char *host)
{
	size_t	 o;
	int	 n;

	n = snprintf(out, outlen, "%lld.M%06ldP%ldQ%u.", sec, usec, pid, q);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	o = (size_t)n;
	for (; *host != '\0'; host++) {
		/* '/' and ':' as the spec says; ',' so that ",S=" parses */
		if (*host == '/' || *host == ':' || *host == ',')
			n = snprintf(out + o, outlen - o, "\\%03o",
			    (unsigned char)*host);
		else
			n = snprintf(out + o, outlen - o, "%c", *host);
		if (n < 0 || (size_t)n >= outlen - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}

/* Open (creating when missing, 0700) the directory NAME under dfd,
 * never through a symbolic link; DIR names the Maildir in errors. */
static int
subdir(int dfd, const char *name, const char *dir, char *err,
    size_t errlen)
{
	char	 what[PATH_MAX + 32];
	int	 fd;

	if ((fd = openat(dfd, name, DIR_FLAGS)) == -1 && errno == ENOENT &&
	    (mkdirat(dfd, name, 0700) == 0 || errno == EEXIST))
		fd = openat(dfd, name, DIR_FLAGS);
	if (fd != -1)
		return fd;
	if (errno == ELOOP || errno == ENOTDIR)
		snprintf(err, errlen, "4.2.0 maildir %s is unsafe (%s is a "
		    "symbolic link or not a directory)", dir, name);
	else {
		snprintf(what, sizeof(what), "cannot create %s in %s", name,
		    dir);
		mbox_errtext(errno, what, err, errlen);
	}
	return -1;
}

/* The Maildir itself: the first keep bytes followed, the rest not. */
static int
open_maildir(const char *dir, size_t keep, char *err, size_t errlen)
{
	char	 base[PATH_MAX], rest[PATH_MAX], *c, *save = NULL;
	size_t	 n = strlen(dir);
	int	 fd, next;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n >= sizeof(base) || dir[0] != '/' || keep > n) {
		snprintf(err, errlen, "4.3.5 bad maildir path");
		return -1;
	}
	memcpy(base, dir, n);
	base[n] = '\0';
	if (keep == 0)	/* the parent must exist */
		keep = (size_t)(strrchr(base, '/') - base);
	strlcpy(rest, base + keep, sizeof(rest));
	base[keep > 0 ? keep : 1] = '\0';
	if ((fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "4.2.0 cannot open %s: %s", base,
		    strerror(errno));
		return -1;
	}
	for (c = strtok_r(rest, "/", &save); c != NULL && fd != -1;
	    c = strtok_r(NULL, "/", &save)) {
		next = subdir(fd, c, dir, err, errlen);
		close(fd);
		fd = next;
	}
	return fd;
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
write_piece(void *fd, const void *p, size_t len)
{
	return write_all(*(int *)fd, p, len);
}

/* The header lines, then the content; 0 or -1 with errno and *what. */
static int
write_file(int fd, const char *hdr, size_t hlen, const void *mem,
    int content_fd, off_t off, size_t len, const char **what)
{
	if (write_all(fd, hdr, hlen) == -1)
		return -1;
	return mbox_copy(mem, content_fd, off, len, write_piece, &fd, what);
}

/* A new file in tmp/, O_EXCL: its name in name. */
static int
create_tmp(int tmpfd, char *name, size_t namelen)
{
	static unsigned	 q;
	struct timespec	 ts;
	char		 host[256];
	int		 fd = -1;

	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (int i = 0; i < NAME_TRIES && fd == -1; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		if (maildir_name(name, namelen, (long long)ts.tv_sec,
		    ts.tv_nsec / 1000, (long)getpid(), ++q, host) == -1) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd == -1 && errno != EEXIST)
			return -1;
	}
	return fd;
}

/* tmp/NAME -> new/NEWNAME, without ever replacing a file; then new/ is
 * made durable. 0, or -1 with errno and nothing left in new/. */
static int
move_new(int tmpfd, const char *name, int newfd, const char *newname)
{
	int	 e;

	if (linkat(tmpfd, name, newfd, newname, 0) == 0) {
		unlinkat(tmpfd, name, 0);
	} else if (errno == EPERM || errno == EXDEV || errno == ENOSYS ||
	    errno == EOPNOTSUPP) {
		/* no hard links here (vfat, some network file systems) */
		if (renameat2(tmpfd, name, newfd, newname,
		    RENAME_NOREPLACE) == -1)
			return -1;
	} else
		return -1;
	if (fsync(newfd) == -1) {
		e = errno;
		unlinkat(newfd, newname, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* The message into tmp/ and then new/, with the envelope lines hdr. */
static int
deliver_in(int tmpfd, int newfd, const char *hdr, size_t hlen,
    const void *mem, int content_fd, off_t off, size_t len, char *err,
    size_t errlen)
{
	char		 name[NAME_MAX + 1], newname[NAME_MAX + 1];
	const char	*what = "cannot create file in maildir tmp";
	int		 fd, e;

	if ((fd = create_tmp(tmpfd, name, sizeof(name))) == -1) {
		mbox_errtext(errno, what, err, errlen);
		return MBOX_TEMP;
	}
	what = "maildir write error";
	if (write_file(fd, hdr, hlen, mem, content_fd, off, len, &what) == -1 ||
	    (what = "maildir fsync error", fsync(fd) == -1))
		goto fail;
	what = "maildir close error";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	/* The same name in new/, with its size as Dovecot reads it. */
	if (snprintf(newname, sizeof(newname), "%s,S=%llu", name,
	    (unsigned long long)(hlen + len)) >= (int)sizeof(newname)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	what = "cannot move message to maildir new";
	if (move_new(tmpfd, name, newfd, newname) == -1)
		goto fail;
	return MBOX_OK;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	unlinkat(tmpfd, name, 0);
	mbox_errtext(e, what, err, errlen);
	return MBOX_TEMP;
}

int
maildir_deliver(const char *dir, size_t keep, const char *sender,
    const char *rcpt, const void *mem, int content_fd, off_t off, size_t len,
    uint64_t limit, char *err, size_t errlen)
{
	char	 hdr[1200];
	int	 hlen, md, tmpfd = -1, newfd = -1, curfd = -1;
	int	 ret = MBOX_TEMP;

	if ((hlen = mbox_envelope_lines(hdr, sizeof(hdr), sender,
	    rcpt)) == -1) {
		snprintf(err, errlen, "5.3.5 envelope too long for maildir");
		return MBOX_PERM;
	}
	/* Postfix's rule: the limit bounds the one file being written. */
	if (limit > 0 && ((uint64_t)hlen > limit ||
	    len > limit - (uint64_t)hlen)) {
		snprintf(err, errlen, "5.2.2 mailbox full (message larger "
		    "than mailbox_size_limit %llu bytes)",
		    (unsigned long long)limit);
		return MBOX_PERM;
	}
	if ((md = open_maildir(dir, keep, err, errlen)) == -1)
		return MBOX_TEMP;
	if ((tmpfd = subdir(md, "tmp", dir, err, errlen)) != -1 &&
	    (newfd = subdir(md, "new", dir, err, errlen)) != -1 &&
	    (curfd = subdir(md, "cur", dir, err, errlen)) != -1)
		ret = deliver_in(tmpfd, newfd, hdr, (size_t)hlen, mem,
		    content_fd, off, len, err, errlen);
	if (curfd != -1)
		close(curfd);
	if (newfd != -1)
		close(newfd);
	if (tmpfd != -1)
		close(tmpfd);
	close(md);
	return ret;
}
