/*
 * local mailbox: one delivery to a user's mbox or Maildir, in a forked
 * child that has become the user (groups looked up by the parent) before
 * it opens anything; as root it only creates a missing mbox (O_EXCL) or
 * Maildir directory in a root-owned spool directory. The parent waits
 * with a deadline.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "local.h"
#include "maildir.h"

/* Where one user's mail goes: conf.mailbox expanded for them. */
struct dest {
	char	 path[PATH_MAX];
	int	 maildir;	/* maildir:PATH/, else mbox:PATH */
	int	 from_home;	/* the path names the home directory */
	size_t	 keep;		/* home length, if it leads */
};

/* conf.mailbox "mbox:PATH" or "maildir:PATH/" with %u, %h, %% and a
 * leading "~/". */
static int
mailbox_path(const struct passwd *pw, struct dest *d, struct dstatus *r)
{
	const char	*tmpl = wk.conf.mailbox ? wk.conf.mailbox :
			    "mbox:/var/mail/%u";
	struct buf	 b;
	const char	*p;
	int		 ok = 0;

	memset(d, 0, sizeof(*d));
	if (strncmp(tmpl, "mbox:", 5) == 0)
		p = tmpl + 5;
	else if (strncmp(tmpl, "maildir:", 8) == 0) {
		p = tmpl + 8;
		d->maildir = 1;
	} else {	/* conf refuses any other */
		setres(r, DS_DEFER, "4.3.5 bad mailbox setting");
		return -1;
	}
	buf_init(&b, PATH_MAX);
	if (strncmp(p, "~/", 2) == 0 || strncmp(p, "%h", 2) == 0) {
		if (buf_puts(&b, pw->pw_dir) == -1)
			goto done;
		p += p[0] == '~' ? 1 : 2;
		d->from_home = 1;
		d->keep = b.len;
	}
	for (; *p; p++) {
		int e = 0;
		if (*p == '%' && p[1] == 'u') {
			e = buf_puts(&b, pw->pw_name);
			p++;
		} else if (*p == '%' && p[1] == 'h') {
			e = buf_puts(&b, pw->pw_dir);
			d->from_home = 1;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			e = buf_putc(&b, '%');
			p++;
		} else
			e = buf_putc(&b, *p);
		if (e == -1)
			goto done;
	}
	if (b.len == 0 || b.data[0] != '/' || strlcpy(d->path, b.data,
	    sizeof(d->path)) >= sizeof(d->path))
		goto done;
	ok = 1;
done:
	buf_free(&b);
	if (!ok) {
		setres(r, DS_DEFER, "4.3.5 bad mailbox path");
		return -1;
	}
	return 0;
}

/*
 * dir (absolute) opened from "/" one level at a time with O_NOFOLLOW: a
 * symlink is followed only when it is root's, in a directory that is
 * root's alone (root put it there, as Debian's /var/spool/mail), never
 * one a user could have planted. The fd, or -1.
 */
static int
open_spool_dir(const char *dir)
{
	char		 buf[PATH_MAX], *p, *name;
	struct stat	 st, lst;
	int		 fd, nfd;

	if (strlcpy(buf, dir, sizeof(buf)) >= sizeof(buf) || buf[0] != '/' ||
	    (fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	p = buf + 1;
	while ((name = strsep(&p, "/")) != NULL) {
		if (*name == '\0')
			continue;
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1 && fstatat(fd, name, &lst,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode) &&
		    lst.st_uid == 0 && fstat(fd, &st) == 0 && st.st_uid == 0 &&
		    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
			nfd = openat(fd, name, O_RDONLY | O_DIRECTORY |
			    O_CLOEXEC);
		close(fd);
		if ((fd = nfd) == -1)
			return -1;
	}
	return fd;
}

/*
 * Root only, before dropping to the user: a system spool such as
 * /var/mail (root-owned, not world-writable, so users cannot create their
 * own file there) gets the missing mailbox created fresh (an mbox O_EXCL,
 * a Maildir by mkdir: never through a symlink, nor a directory above it
 * that a user could have replaced by one) and given to the user.
 * Paths under a home directory are never touched as root.
 */
static void
precreate(const struct dest *d, const struct passwd *pw)
{
	char		 dir[PATH_MAX], *last;
	size_t		 n = strlen(d->path);
	struct stat	 st;
	int		 dfd, fd = -1;

	while (n > 1 && d->path[n - 1] == '/')	/* maildir:PATH/ */
		n--;
	if (d->from_home || n >= sizeof(dir))
		return;
	memcpy(dir, d->path, n);
	dir[n] = '\0';
	if ((last = strrchr(dir, '/')) == NULL || last == dir)
		return;
	*last++ = '\0';
	if ((dfd = open_spool_dir(dir)) == -1)
		return;
	if (fstat(dfd, &st) == -1 || st.st_uid != 0 ||
	    (st.st_mode & S_IWOTH) ||
	    fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT) {
		close(dfd);
		return;
	}
	if (!d->maildir)
		fd = openat(dfd, last, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	else if (mkdirat(dfd, last, 0700) == 0)
		fd = openat(dfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd != -1) {
		if (fchown(fd, pw->pw_uid, pw->pw_gid) == -1)
			log_warn("chown %s: %s", d->path, strerror(errno));
		close(fd);
	}
	close(dfd);
}

/*
 * The recipient's groups, looked up in the (long-lived) parent before
 * fork: initgroups() in each child would load the NSS modules afresh for
 * every delivery, which cost more than the delivery itself.
 */
#define MAX_USER_GROUPS	256
static gid_t	 user_groups[MAX_USER_GROUPS];
static int	 n_user_groups;

/* A small cache: NSS group enumeration is the slow part of a delivery.
 * Membership changes are seen within GROUP_CACHE_TTL seconds. */
#define GROUP_CACHE	32
#define GROUP_CACHE_TTL	60
static struct {
	uid_t	 uid;
	gid_t	 gid;
	time_t	 when;
	int	 n;
	gid_t	 g[MAX_USER_GROUPS];
} gcache[GROUP_CACHE];

static int
lookup_groups(const struct passwd *pw)
{
	time_t now = time(NULL);
	int n = MAX_USER_GROUPS, slot = 0;

	for (int i = 0; i < GROUP_CACHE; i++) {
		if (gcache[i].when && gcache[i].uid == pw->pw_uid &&
		    gcache[i].gid == pw->pw_gid &&
		    now - gcache[i].when < GROUP_CACHE_TTL) {
			n_user_groups = gcache[i].n;
			memcpy(user_groups, gcache[i].g,
			    (size_t)gcache[i].n * sizeof(gid_t));
			return 0;
		}
		if (gcache[i].when < gcache[slot].when)
			slot = i;	/* the oldest entry is replaced */
	}
	if (getgrouplist(pw->pw_name, pw->pw_gid, user_groups, &n) == -1)
		return -1;	/* more than we keep: refuse, never truncate */
	n_user_groups = n;
	gcache[slot].uid = pw->pw_uid;
	gcache[slot].gid = pw->pw_gid;
	gcache[slot].when = now;
	gcache[slot].n = n;
	memcpy(gcache[slot].g, user_groups, (size_t)n * sizeof(gid_t));
	return 0;
}

static int
drop_to(const struct passwd *pw)
{
	if (setgroups((size_t)n_user_groups, user_groups) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
		return -1;
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid || getegid() != pw->pw_gid)
		return -1;
	if (pw->pw_uid != 0 && setuid(0) != -1)
		return -1;
	return 0;
}

/* The one place an mbox result becomes a delivery status kind. */
static enum dstat
mbox_dstat(int mbox_result)
{
	switch (mbox_result) {
	case MBOX_OK:
		return DS_SENT;
	case MBOX_PERM:
		return DS_BOUNCE;
	default:
		return DS_DEFER;
	}
}

/* As the user: the mbox or the Maildir. A home directory the path
 * names must exist (it is never created). */
static int
write_mailbox(struct job *j, const struct passwd *pw, const struct dest *d,
    const char *dt, char *err, size_t errlen)
{
	struct stat	 st;

	if (d->from_home && stat(pw->pw_dir, &st) == -1) {
		snprintf(err, errlen, "4.3.0 home directory %s of %s: %s",
		    pw->pw_dir, pw->pw_name, strerror(errno));
		return MBOX_TEMP;
	}
	if (d->from_home && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "4.3.0 home directory %s of %s is not "
		    "a directory", pw->pw_dir, pw->pw_name);
		return MBOX_TEMP;
	}
	if (d->maildir)
		return maildir_deliver(d->path, d->keep, j->q->sender, dt,
		    j->fd, j->q->content_off, j->q->content_len,
		    wk.conf.mailbox_size_limit, err, errlen);
	return mbox_deliver(d->path, j->q->sender, dt, j->fd,
	    j->q->content_off, j->q->content_len, err, errlen);
}

/* Child side: deliver, write "K text" (K: the enum dstat digit) to the
 * pipe, exit. */
static void __attribute__((noreturn))
child_deliver(struct job *j, const struct passwd *pw, const struct dest *d,
    const char *dt, int wfd)
{
	char	 err[TEXT_LEN] = "", msg[TEXT_LEN + 8];
	int	 r, n;

	signal(SIGXFSZ, SIG_IGN);	/* a size limit = EFBIG, not death */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	for (int i = 0; i < wk.nlisten; i++)
		close(wk.listen_fd[i]);
	if (as_root) {
		precreate(d, pw);
		if (drop_to(pw) == -1) {
			r = MBOX_TEMP;
			snprintf(err, sizeof(err), "4.3.0 cannot switch to "
			    "user %s", pw->pw_name);
			goto out;
		}
	}
	r = write_mailbox(j, pw, d, dt, err, sizeof(err));
out:
	n = snprintf(msg, sizeof(msg), "%d %s", (int)mbox_dstat(r),
	    r == MBOX_OK ? "delivered" : err);
	if (n > 0 && write(wfd, msg, (size_t)n) != n)
		_exit(1);
	_exit(0);
}

void
deliver_user(struct job *j, const char *user, const char *dt,
    struct dstatus *r)
{
	struct passwd	*pw;
	struct dest	 d;
	char		 msg[TEXT_LEN + 8];
	size_t		 got = 0;
	pid_t		 pid;
	int		 p[2], status;

	if ((pw = getpwnam(user)) == NULL) {
		setres(r, DS_DEFER, "4.3.0 user lookup failed");
		return;
	}
	if (delivered_to(j, dt)) {
		setres(r, DS_BOUNCE, "5.4.6 mail forwarding loop for %s", dt);
		return;
	}
	if (mailbox_path(pw, &d, r) == -1)
		return;
	if (as_root && lookup_groups(pw) == -1) {
		setres(r, DS_DEFER, "4.3.0 group lookup failed for %s", user);
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		setres(r, DS_DEFER, "4.3.0 pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		setres(r, DS_DEFER, "4.3.0 fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(p[0]);
		child_deliver(j, pw, &d, dt, p[1]);
	}
	close(p[1]);
	got = child_output(pid, p[0], msg, sizeof(msg) - 1,
	    clock_ms() + CHILD_TIMEOUT_MS);
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	msg[got] = '\0';
	if (got < 3 || msg[1] != ' ' || msg[0] < '0' + DS_SENT ||
	    msg[0] > '0' + DS_BOUNCE || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		setres(r, DS_DEFER, "4.3.0 mailbox delivery process failed");
		return;
	}
	if (msg[0] - '0' == DS_SENT)
		setres(r, DS_SENT, "2.0.0 delivered to mailbox");
	else
		setres(r, (enum dstat)(msg[0] - '0'), "%s", msg + 2);
}
