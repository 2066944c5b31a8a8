/*
 * local dotforward: reading a user's ~/.forward and an :include: file, in
 * a child that has become the reader, with Sendmail's safe-file checks
 * (owner, no group or world write, no symbolic link, a safe directory).
 * Never reads as root a file that a user names, never reads more than
 * LISTFILE_MAX bytes.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local.h"

#define LISTFILE_MAX	(64 * 1024)

struct read_arg {
	const char	*path;
	const char	*dir;		/* must be safe too (NULL: no check) */
	uid_t		 owner;		/* allowed owner besides root */
	int		 exact;		/* the owner must be exactly owner */
};

/* A status line "K reason\n" (K one of RF_*) to the parent. */
static int
say(int wfd, int kind, const char *fmt, const char *path, int e)
{
	char	 msg[512], why[300];
	int	 n;

	snprintf(why, sizeof(why), fmt, path, e ? strerror(e) : "");
	n = snprintf(msg, sizeof(msg), "%d %s\n", kind, why);
	return n > 0 && write(wfd, msg, (size_t)n) == n ? 0 : -1;
}

static int
unsafe_owner(const struct read_arg *a, const struct stat *st)
{
	if (a->exact)
		return st->st_uid != a->owner;
	return st->st_uid != a->owner && st->st_uid != 0;
}

/* Send the content: "RF_OK \n" then the bytes. */
static int
send_content(const struct read_arg *a, int fd, int wfd)
{
	char	*b = xmalloc(LISTFILE_MAX + 1);
	size_t	 got = 0;
	ssize_t	 n;
	int	 rv;

	while (got <= LISTFILE_MAX && (n = read(fd, b + got,
	    LISTFILE_MAX + 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(b);
			return say(wfd, RF_DEFER, "cannot read %s: %s",
			    a->path, errno);
		}
		got += (size_t)n;
	}
	if (got > LISTFILE_MAX)
		rv = say(wfd, RF_DEFER, "%s is larger than 64 KiB%s", a->path,
		    0);
	else
		rv = (write(wfd, "4 \n", 3) == 3 && (got == 0 ||
		    write(wfd, b, got) == (ssize_t)got)) ? 0 : -1;
	free(b);
	return rv;
}

/* In the child, as the reader: the checks, then the content. */
static int
read_child(void *arg, int wfd)
{
	struct read_arg	*a = arg;
	struct stat	 st, lst;
	int		 fd, rv;

	if (a->dir != NULL) {
		if (stat(a->dir, &st) == -1)
			return say(wfd, RF_NONE, "%s: %s", a->dir, errno);
		if (!S_ISDIR(st.st_mode) || unsafe_owner(a, &st) ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)))
			return say(wfd, RF_IGNORED, "%s is writable by "
			    "others or not its owner's%s", a->dir, 0);
	}
	if (lstat(a->path, &lst) == -1)
		return say(wfd, errno == ENOENT || errno == ENOTDIR ?
		    RF_NONE : RF_DEFER, "cannot read %s: %s", a->path, errno);
	if (S_ISLNK(lst.st_mode) || !S_ISREG(lst.st_mode))
		return say(wfd, RF_IGNORED, "%s is not a regular file%s",
		    a->path, 0);
	if (unsafe_owner(a, &lst))
		return say(wfd, RF_IGNORED, "%s has the wrong owner%s",
		    a->path, 0);
	if (lst.st_mode & (S_IWGRP | S_IWOTH))
		return say(wfd, RF_IGNORED, "%s is group or world "
		    "writable%s", a->path, 0);
	if ((fd = open(a->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return say(wfd, RF_DEFER, "cannot read %s: %s", a->path,
		    errno);
	if (fstat(fd, &st) == -1 || st.st_dev != lst.st_dev ||
	    st.st_ino != lst.st_ino) {
		close(fd);
		return say(wfd, RF_DEFER, "%s changed while read%s", a->path,
		    0);
	}
	rv = send_content(a, fd, wfd);
	close(fd);
	return rv;
}

/*
 * Read path as id. Returns RF_*; RF_OK with *content (NUL-terminated, to
 * free), otherwise why says what was wrong.
 */
static int
read_as(const struct ident *id, struct read_arg *a, char **content,
    char *why, size_t whylen)
{
	struct dstatus	 r;
	char		*b = xmalloc(LISTFILE_MAX + 600), *nl;
	ssize_t		 n;
	int		 kind;

	*content = NULL;
	n = ident_call(id, read_child, a, b, LISTFILE_MAX + 599, &r);
	if (n == -1 || n < 3 || b[0] < '0' + RF_NONE || b[0] > '0' + RF_OK ||
	    b[1] != ' ' || (nl = memchr(b, '\n', (size_t)n)) == NULL) {
		strlcpy(why, n == -1 ? r.text : "reader failed", whylen);
		free(b);
		return RF_DEFER;
	}
	kind = b[0] - '0';
	*nl = '\0';
	strlcpy(why, b + 2, whylen);
	if (kind == RF_OK) {
		size_t off = (size_t)(nl + 1 - b);
		memmove(b, nl + 1, (size_t)n - off);
		b[(size_t)n - off] = '\0';
		*content = b;
	} else
		free(b);
	return kind;
}

int
dotforward_read(const struct passwd *pw, size_t *nlists, char **content,
    char *why, size_t whylen)
{
	struct ident	 id;
	struct dstatus	 r;
	struct read_arg	 a;
	struct stat	 st;
	char		 path[PATH_MAX];

	*content = NULL;
	if (snprintf(path, sizeof(path), "%s/.forward", pw->pw_dir) >=
	    (int)sizeof(path) || pw->pw_dir[0] != '/')
		return RF_NONE;
	/* Most users have none: no child for them (metadata only; the
	 * file itself is only ever opened as the user). */
	if (lstat(path, &st) == -1 && (errno == ENOENT || errno == ENOTDIR))
		return RF_NONE;
	if (*nlists >= MAX_LISTS)
		return RF_BOUNCE;
	(*nlists)++;
	if (ident_user(pw, 1, &id, &r) == -1) {
		strlcpy(why, r.text, whylen);
		return RF_DEFER;
	}
	a.path = path;
	a.dir = pw->pw_dir;
	a.owner = pw->pw_uid;
	a.exact = 0;
	return read_as(&id, &a, content, why, whylen);
}

int
include_read(const char *path, const struct ident *reader, char **content,
    uid_t *owner, gid_t *ogid, char *why, size_t whylen)
{
	struct ident	 id;
	struct dstatus	 r;
	struct stat	 st;
	struct read_arg	 a;

	*content = NULL;
	if (path[0] != '/') {
		snprintf(why, whylen, ":include:%s is not a full path", path);
		return RF_BOUNCE;
	}
	/* Metadata only: whose file it is decides who reads it. */
	if (lstat(path, &st) == -1) {
		snprintf(why, whylen, "cannot read :include:%s: %s", path,
		    strerror(errno));
		return RF_DEFER;
	}
	*owner = st.st_uid;
	*ogid = st.st_gid;
	if (reader == NULL) {
		if (ident_uid(st.st_uid, st.st_gid, 1, &id, &r) == -1) {
			strlcpy(why, r.text, whylen);
			return RF_DEFER;
		}
		reader = &id;
	}
	a.path = path;
	a.dir = NULL;
	a.owner = st.st_uid;
	a.exact = 1;
	return read_as(reader, &a, content, why, whylen);
}
