/*
 * local file: an alias or .forward "/file" target, appended in mbox format
 * (lib/mbox: dotlock, fcntl lock, truncation on error) by a child that has
 * become the target's identity. Never as root, never through a symbolic
 * link, never into a file that identity does not own; a new file is
 * created 0600 by that identity.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "local.h"

struct file_arg {
	struct job	*j;
	const char	*path;
	const char	*dt;
};

/* Problems that will not go away by themselves bounce (5.7.1). */
static int
file_check(const char *path, char *err, size_t errlen)
{
	struct stat	 st;
	char		 dir[PATH_MAX];
	const char	*slash = strrchr(path, '/');

	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			snprintf(err, errlen, "5.7.1 %s is a symbolic link",
			    path);
		else if (!S_ISREG(st.st_mode))
			snprintf(err, errlen, "5.7.1 %s is not a regular file",
			    path);
		else if (st.st_uid != geteuid())
			snprintf(err, errlen, "5.7.1 %s is not owned by uid "
			    "%lu", path, (unsigned long)geteuid());
		else
			return 0;
		return -1;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s cannot use %s: %s", errno == EACCES ?
		    "5.7.1" : "4.2.0", path, strerror(errno));
		return -1;
	}
	if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
		return 0;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (faccessat(AT_FDCWD, dir[0] ? dir : "/", W_OK | X_OK,
	    AT_EACCESS) == -1) {
		snprintf(err, errlen, "%s cannot create %s: %s",
		    errno == EACCES || errno == ENOENT || errno == ENOTDIR ?
		    "5.7.1" : "4.2.0", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* In the child, as the identity: "K text". */
static int
file_child(void *arg, int wfd)
{
	struct file_arg	*a = arg;
	char		 err[TEXT_LEN] = "", msg[TEXT_LEN + 8];
	int		 n, kind;

	if (file_check(a->path, err, sizeof(err)) == -1)
		kind = err[0] == '5' ? DS_BOUNCE : DS_DEFER;
	else {
		n = mbox_deliver(a->path, a->j->q->sender, a->dt,
		    a->j->q->content_mem, a->j->fd,
		    a->j->q->content_off, a->j->q->content_len, err,
		    sizeof(err));
		kind = n == MBOX_OK ? DS_SENT : n == MBOX_PERM ? DS_BOUNCE :
		    DS_DEFER;
		if (n == MBOX_OK)
			strlcpy(err, "2.0.0 delivered to file", sizeof(err));
	}
	n = snprintf(msg, sizeof(msg), "%d %s\n", kind, err);
	return n > 0 && write(wfd, msg, (size_t)n) == n ? 0 : -1;
}

void
file_deliver(struct job *j, const char *path, const struct ident *id,
    const char *dt, struct dstatus *r)
{
	struct file_arg	 a = { j, path, dt };
	char		 msg[TEXT_LEN + 8];
	ssize_t		 n;

	if (path[0] != '/') {
		setres(r, DS_BOUNCE, "5.3.5 file target must be a full path");
		return;
	}
	if ((n = ident_call(id, file_child, &a, msg, sizeof(msg), r)) == -1)
		return;
	ident_answer(msg, (size_t)n, r);
}
