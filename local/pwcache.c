/*
 * local pwcache: the passwd entries of recent recipients. getpwnam()
 * opens and reads the NSS sources (/etc/passwd) for every call, and a
 * recipient costs two (alias expansion, then the mailbox). An entry is
 * used for PW_CACHE_TTL seconds at most, and none once /etc/passwd has
 * changed (useradd, usermod, userdel rename it: a new inode and mtime),
 * so a deleted or moved user is seen at once in the files source and
 * within the TTL in any other. Unknown users are never cached.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <time.h>

#include "local.h"

#define PW_CACHE	32
#define PW_CACHE_TTL	60
#define PW_FILE		"/etc/passwd"

static struct pwent {
	time_t		 when;		/* 0: empty */
	struct passwd	 pw;
	char		 name[64];
	char		 dir[512];
	char		 shell[128];
} pwc[PW_CACHE];

/* /etc/passwd as the entries were filled from it. */
static struct stat	 pw_file;

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Keep pw in slot; nothing when a string does not fit. */
static void
pw_keep(struct pwent *e, const struct passwd *pw, time_t now)
{
	const char *shell = pw->pw_shell ? pw->pw_shell : "";

	e->when = 0;
	if (strlcpy(e->name, pw->pw_name, sizeof(e->name)) >= sizeof(e->name) ||
	    strlcpy(e->dir, pw->pw_dir, sizeof(e->dir)) >= sizeof(e->dir) ||
	    strlcpy(e->shell, shell, sizeof(e->shell)) >= sizeof(e->shell))
		return;
	memset(&e->pw, 0, sizeof(e->pw));
	e->pw.pw_name = e->name;
	e->pw.pw_passwd = (char *)"x";
	e->pw.pw_uid = pw->pw_uid;
	e->pw.pw_gid = pw->pw_gid;
	e->pw.pw_gecos = (char *)"";
	e->pw.pw_dir = e->dir;
	e->pw.pw_shell = e->shell;
	e->when = now;
}

struct passwd *
pw_lookup(const char *name)
{
	struct passwd	*pw;
	struct stat	 st;
	time_t		 now = time(NULL);
	int		 slot = 0, e;

	if (stat(PW_FILE, &st) == -1)
		memset(&st, 0, sizeof(st));
	if (!same_file(&st, &pw_file)) {
		for (int i = 0; i < PW_CACHE; i++)
			pwc[i].when = 0;
		pw_file = st;
	}
	for (int i = 0; i < PW_CACHE; i++) {
		if (pwc[i].when != 0 && now - pwc[i].when < PW_CACHE_TTL &&
		    now >= pwc[i].when && strcmp(pwc[i].name, name) == 0)
			return &pwc[i].pw;
		if (pwc[i].when < pwc[slot].when)
			slot = i;	/* the oldest entry is replaced */
	}
	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return NULL;	/* errno as getpwnam left it */
	e = errno;
	pw_keep(&pwc[slot], pw, now);
	errno = e;
	return pwc[slot].when != 0 ? &pwc[slot].pw : pw;
}
