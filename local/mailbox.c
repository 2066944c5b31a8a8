/*
 * local mailbox: one delivery to a user's mbox or Maildir, in this
 * process, with the user's effective ids and groups from before the
 * first open of anything to after the last close, then root's again
 * (real and saved ids stay root's). As root it only creates a missing
 * mbox (O_EXCL) or Maildir directory in a root-owned spool directory.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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
	/* The usual case, a mailbox that exists: nothing to create, and
	 * no walk from "/" (a metadata look only; the user opens it). */
	if (lstat(dir, &st) == 0 || errno != ENOENT)
		return;
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
 * The recipient's groups: getgrouplist() would load and read the NSS
 * group sources for every delivery, which cost more than the delivery
 * itself.
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

/* Sorted, as the kernel keeps them (getgroups gives them back so): a
 * list compares equal to what it set. */
static int
gid_cmp(const void *a, const void *b)
{
	gid_t	 x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

static void
gid_sort(gid_t *g, int n)
{
	if (n > 1)
		qsort(g, (size_t)n, sizeof(*g), gid_cmp);
}

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
	gid_sort(user_groups, n);
	n_user_groups = n;
	gcache[slot].uid = pw->pw_uid;
	gcache[slot].gid = pw->pw_gid;
	gcache[slot].when = now;
	gcache[slot].n = n;
	memcpy(gcache[slot].g, user_groups, (size_t)n * sizeof(gid_t));
	return 0;
}

/*
 * The effective-id switch around a delivery. Only the effective ids and
 * the groups change: the real and saved ids stay root's, so the user
 * cannot signal or trace this process, and the way back needs no
 * privilege. What the process was at start (mailbox_init) is what it
 * returns to; every switch is checked with getresuid/getresgid, and a
 * failed one ends the process (qmgr defers the recipient, master starts
 * a new local): it never goes on with ids it did not ask for.
 */
static struct {
	uid_t	 ruid, suid;
	gid_t	 rgid, egid, sgid;
	int	 ngroups;
	gid_t	 groups[MAX_USER_GROUPS];
	pid_t	 ppid;
} home_ids;

void
mailbox_init(void)
{
	uid_t	 eu;

	if (getresuid(&home_ids.ruid, &eu, &home_ids.suid) == -1 ||
	    getresgid(&home_ids.rgid, &home_ids.egid, &home_ids.sgid) == -1 ||
	    (home_ids.ngroups = getgroups(MAX_USER_GROUPS,
	    home_ids.groups)) == -1)
		fatal("cannot read own ids: %s", strerror(errno));
	gid_sort(home_ids.groups, home_ids.ngroups);
	home_ids.ppid = getppid();
}

static void __attribute__((noreturn))
ids_fatal(const char *what, const char *user)
{
	int	 e = errno;

	if (setresuid((uid_t)-1, 0, (uid_t)-1) == -1) {
		/* the log line below is all that is left to do */
	}
	log_warn("%s for user %s: %s; exiting (the recipient is deferred)",
	    what, user, e ? strerror(e) : "ids not as asked");
	_exit(1);
}

/* Are the ids as asked: real and saved the process's own, effective
 * uid and gid, the groups ng, g? */
static int
ids_are(uid_t uid, gid_t gid, int ng, const gid_t *g)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg, cur[MAX_USER_GROUPS];

	errno = 0;
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    getgroups(MAX_USER_GROUPS, cur) != ng)
		return 0;
	return ru == home_ids.ruid && su == home_ids.suid && eu == uid &&
	    rg == home_ids.rgid && sg == home_ids.sgid && eg == gid &&
	    memcmp(cur, g, (size_t)ng * sizeof(gid_t)) == 0;
}

/* Effective ids of pw, with its groups (lookup_groups). */
static void
become(const struct passwd *pw)
{
	errno = 0;
	if (setgroups((size_t)n_user_groups, user_groups) == -1 ||
	    setresgid((gid_t)-1, pw->pw_gid, (gid_t)-1) == -1 ||
	    setresuid((uid_t)-1, pw->pw_uid, (uid_t)-1) == -1 ||
	    !ids_are(pw->pw_uid, pw->pw_gid, n_user_groups, user_groups))
		ids_fatal("switch to the user's ids", pw->pw_name);
}

/* Back to the ids the process started with (uid first: it gives back
 * the privilege the other two need). */
static void
unbecome(const char *user)
{
	errno = 0;
	if (setresuid((uid_t)-1, 0, (uid_t)-1) == -1 ||
	    setresgid((gid_t)-1, home_ids.egid, (gid_t)-1) == -1 ||
	    setgroups((size_t)home_ids.ngroups, home_ids.groups) == -1 ||
	    !ids_are(0, home_ids.egid, home_ids.ngroups, home_ids.groups))
		ids_fatal("switch back to root", user);
	/* A change of effective ids clears the parent-death signal
	 * (master sets it): set it again, and stop if master is gone. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
	    getppid() != home_ids.ppid)
		worker_stop = 1;
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
		    j->q->content_mem, j->fd, j->q->content_off,
		    j->q->content_len, wk.conf.mailbox_size_limit, err, errlen);
	return mbox_deliver(d->path, j->q->sender, dt, j->q->content_mem,
	    j->fd, j->q->content_off, j->q->content_len, err, errlen);
}

/*
 * The mailbox written in this process, with the user's effective ids
 * from the first open to the last close; root only creates a missing
 * mailbox in a root-owned spool before. MAILBOX_TIMEOUT_S bounds the
 * whole delivery: past it SIGALRM ends the process (qmgr defers, master
 * starts a new local), as the deadline of a delivery child did.
 */
static int
deliver_here(struct job *j, const struct passwd *pw, const struct dest *d,
    const char *dt, char *err, size_t errlen)
{
	int	 rv;

	if (as_root)
		precreate(d, pw);
	alarm(MAILBOX_TIMEOUT_S);
	if (as_root)
		become(pw);
	rv = write_mailbox(j, pw, d, dt, err, errlen);
	if (as_root)
		unbecome(pw->pw_name);
	alarm(0);
	return rv;
}

void
deliver_user(struct job *j, const char *user, const char *dt,
    struct dstatus *r)
{
	struct passwd	*pw;
	struct dest	 d;
	char		 err[TEXT_LEN] = "";
	int		 rv;

	if ((pw = pw_lookup(user)) == NULL) {
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
	rv = deliver_here(j, pw, &d, dt, err, sizeof(err));
	if (rv == MBOX_OK)
		setres(r, DS_SENT, "2.0.0 delivered to mailbox");
	else
		setres(r, mbox_dstat(rv), "%s", err);
}
