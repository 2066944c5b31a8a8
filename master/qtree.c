/*
 * qtree: the queue tree and the UNIX sockets in it, as master (root)
 * makes them. Root acts only through directory fds opened without
 * following a symlink; it never chowns, chmods or binds by a path the
 * unprivileged user could have swapped.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "maildrop.h"
#include "qfile.h"

/*
 * name (a directory) under dfd, created if missing, opened without
 * following a symlink, then given owner and mode through its fd: root
 * never chowns or chmods a path (docs/internals.md). The fd, or -1.
 */
static int
dir_owned_at(int dfd, const char *name, mode_t mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* A symlink planted (when an older version let the user own the
	 * parent) is removed, never followed. */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode) && unlinkat(dfd, name, 0) == -1) {
		snprintf(err, errlen, "unlink symlink %s: %s", name,
		    strerror(errno));
		return -1;
	}
	if (mkdirat(dfd, name, mode) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", name, strerror(errno));
		return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s is not a directory (%s)", name,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid) &&
	    fchown(fd, uid, gid) == -1) {
		snprintf(err, errlen, "chown %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) == -1) {
		snprintf(err, errlen, "chmod %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * maildrop/: the user's, group postdrop, 1730: the setgid postdrop may
 * add files, no one else may list them. Without the group (root, but
 * `make install` did not run) it is 1733 (any local user may drop;
 * names are unguessable), said in the log; a non-root master has its
 * own group (a single-user instance: only that user drops).
 */
static mode_t
maildrop_mode(gid_t *gid)
{
	struct group *gr;

	if (geteuid() != 0)
		return 01730;
	if ((gr = getgrnam(MAILDROP_GROUP)) != NULL) {
		*gid = gr->gr_gid;
		return 01730;
	}
	log_warn("group %s does not exist: %s is mode 1733, any local user "
	    "may drop mail there (make install creates the group)",
	    MAILDROP_GROUP, QDIR_MAILDROP);
	return 01733;
}

/*
 * The queue tree: queue_dir and pid/ belong to root (master writes
 * there), the rest to the unprivileged user. qt gets the directory fds
 * master keeps; a tree from an older version (all user's) is fixed.
 */
int
queue_tree_create(const struct conf *c, uid_t uid, gid_t gid,
    struct qtree *qt, char *err, size_t errlen)
{
	static const struct {
		const char	*name;
		mode_t		 mode;
		int		 root;	/* root's, not the user's */
	} sub[] = {
		{ QDIR_INCOMING, 0700, 0 }, { QDIR_ACTIVE, 0700, 0 },
		{ QDIR_DEFERRED, 0700, 0 }, { QDIR_HOLD, 0700, 0 },
		{ QDIR_CORRUPT, 0700, 0 }, { QDIR_PRIVATE, 0700, 0 },
		{ QDIR_PUBLIC, 0711, 0 }, { QDIR_PID, 0755, 1 },
		{ QDIR_MAILDROP, 01730, 0 },
	};
	uid_t ruid = geteuid();
	gid_t rgid = getegid();
	gid_t mgid = gid;
	mode_t mmode = maildrop_mode(&mgid);
	int fd;

	if (c->queue_dir[0] != '/') {
		snprintf(err, errlen, "queue_dir %s is not absolute",
		    c->queue_dir);
		return -1;
	}
	qt->root = dir_owned_at(AT_FDCWD, c->queue_dir, 0755, ruid, rgid,
	    err, errlen);
	if (qt->root == -1)
		return -1;
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		int md = strcmp(sub[i].name, QDIR_MAILDROP) == 0;

		fd = dir_owned_at(qt->root, sub[i].name, md ? mmode :
		    sub[i].mode, sub[i].root ? ruid : uid, sub[i].root ? rgid :
		    md ? mgid : gid, err, errlen);
		if (fd == -1) {
			char why[600];

			(void)strlcpy(why, err, sizeof(why));
			if (snprintf(err, errlen, "%s/%s", c->queue_dir,
			    why) < 0)
				err[0] = '\0';
			return -1;
		}
		if (strcmp(sub[i].name, QDIR_PID) == 0)
			qt->pid = fd;
		else if (strcmp(sub[i].name, QDIR_PRIVATE) == 0)
			qt->private = fd;
		else if (strcmp(sub[i].name, QDIR_PUBLIC) == 0)
			qt->public = fd;
		else if (md)
			qt->maildrop = fd;
		else
			close(fd);
	}
	return 0;
}

/* Read by root, never followed: the names only, no file is opened. */
int
qtree_maildrop_waiting(const struct qtree *qt)
{
	struct dirent *de;
	DIR *d;
	int fd, found = 0;

	if ((fd = dup(qt->maildrop)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	rewinddir(d);
	while (!found && (de = readdir(d)) != NULL)
		found = maildrop_kind(de->d_name) == MD_FILE;
	closedir(d);
	return found;
}

/*
 * Switch the effective ids to the unprivileged user (to_user) and back:
 * what master creates for the workers, it creates as them.
 */
static void
become(int to_user, uid_t uid, gid_t gid)
{
	static gid_t egid;

	if (to_user) {
		egid = getegid();
		if (setegid(gid) == -1 || seteuid(uid) == -1)
			fatal("cannot switch to uid %ld: %s", (long)uid,
			    strerror(errno));
	} else if (seteuid(0) == -1 || setegid(egid) == -1)
		fatal("cannot switch back to root: %s", strerror(errno));
}

/*
 * A listening UNIX socket name in directory dfd (private/ or public/).
 * Removed and bound by the unprivileged user, with the umask giving
 * the mode: the file is born with its owner and mode, and root never
 * touches the path (a symlink swapped in cannot redirect a chown).
 */
int
queue_socket_bind(int dfd, const char *label, const char *name, mode_t mode,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	int root = geteuid() == 0;
	struct sockaddr_un sun;
	mode_t omask;
	int fd, cwd, r, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, name, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket name too long: %s", name);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    (cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "socket %s: %s", label, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (fchdir(dfd) == -1)
		fatal("fchdir %s: %s", label, strerror(errno));
	if (root)
		become(1, uid, gid);
	omask = umask(~mode & 0777);
	(void)unlink(name);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	umask(omask);
	if (root)
		become(0, uid, gid);
	if (fchdir(cwd) == -1)
		fatal("fchdir back: %s", strerror(errno));
	close(cwd);
	if (r == -1 || listen(fd, 256) == -1) {
		snprintf(err, errlen, "socket %s: %s", label,
		    strerror(r == -1 ? e : errno));
		close(fd);
		return -1;
	}
	return fd;
}

