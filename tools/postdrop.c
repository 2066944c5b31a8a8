/*
 * postdrop: the small setgid (group postdrop) program sendmail runs when
 * postern is down; it keeps one message in queue_dir/maildrop for pickup
 * (lib/maildrop.h). It trusts nothing from its caller but the message:
 * set-id, it reads only the compiled-in config (-c only for root),
 * records getuid() itself, bounds every frame and the size, writes a
 * temp name then renames, and never follows a link. It speaks cleanup's
 * protocol on fd 0 (a socket).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "maildrop.h"
#include "proto.h"
#include "qfile.h"
#include "qspace.h"
#include "reply.h"

#define EX_OK_		0
#define EX_DATAERR_	65
#define EX_SOFTWARE_	70
#define EX_TEMPFAIL_	75
#define EX_NOPERM_	77
#define IO_TIMEOUT_MS	(10 * 60 * 1000)

/*
 * The config a set-id postdrop reads for a caller other than root: the
 * compiled-in default, never a path from the caller (another root-owned
 * config could carry other limits for the same queue). The array is
 * larger than the path so that a copy of the binary may carry another
 * one written in place after the tag (the integration tests' copies
 * do); it is read through a volatile pointer so that the compiler
 * cannot fold it.
 */
#define DEFAULT_CONF_TAG	"postdrop-config:"
static const char default_conf[PATH_MAX] = DEFAULT_CONF_TAG SYSCONFDIR
    "/postern.conf";
static const char *const volatile default_confp = default_conf;

struct drop {
	int		 dfd;			/* maildrop/ */
	int		 fd;			/* the temp file */
	char		 tmp[MAILDROP_NAME_LEN + 8];
	size_t		 size, max;	/* content octets, limit */
	int		 werr;			/* first write error */
	struct buf	 frame;
};

/* Answer sendmail (fd 0); said on stderr too when it cannot hear. */
static void
answer(int ok, int code, const char *text)
{
	struct proto_reply r = { ok, code, (char *)(uintptr_t)text, NULL };

	if (proto_reply_send(STDIN_FILENO, &r, 10000) == -1 && !ok)
		fprintf(stderr, "postdrop: %d %s\n", code, text);
}

static int
refuse(enum reply_id r, int ex)
{
	answer(0, reply_code(r), reply_text(r));
	return ex;
}

static int
refuse_text(const char *text)
{
	answer(0, 451, text);
	return EX_TEMPFAIL_;
}

/*
 * Setgid, we read only a config the admin wrote: the file and every
 * directory above it owned by root and writable by no one else (a
 * sticky directory such as /tmp is fine: its root-owned entries cannot
 * be swapped). Its real path into real; -1 with why.
 */
static int
trusted_config(const char *path, char *real, size_t reallen, char *why,
    size_t whylen)
{
	char p[PATH_MAX];
	struct stat st;
	char *slash;

	if (realpath(path, p) == NULL || strlcpy(real, p, reallen) >= reallen) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(p, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0) {
		snprintf(why, whylen, "%.300s: not a root-owned file that only "
		    "root may write", real);
		return -1;
	}
	while ((slash = strrchr(p, '/')) != NULL) {
		slash[slash == p] = '\0';
		if (lstat(p, &st) == -1 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0 || ((st.st_mode & 022) != 0 &&
		    (st.st_mode & S_ISVTX) == 0)) {
			snprintf(why, whylen, "%.300s: a directory above it is "
			    "not root's alone (%.200s)", real, p);
			return -1;
		}
		if (slash == p)
			break;
	}
	return 0;
}

/* May uid submit (authorized_submit_users, as cleanup reads it)? */
static int
submit_allowed(const struct conf *c, uid_t uid)
{
	char *list, *p, *name;
	int ok = 0;

	if (c->authorized_submit_users == NULL)
		return 1;
	p = list = xstrdup(c->authorized_submit_users);
	while (!ok && (name = strsep(&p, ", \t")) != NULL) {
		struct passwd *pw;

		if (*name != '\0' && (pw = getpwnam(name)) != NULL &&
		    pw->pw_uid == uid)
			ok = 1;
	}
	free(list);
	return ok;
}

/* Do a and b name the same file? */
static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The config, or -1 with why. Set-id, it must be trusted, and for a
 * caller other than root it is the compiled-in one: -c naming another
 * file is refused (said), never read.
 */
static int
load_config(const char *opt_c, struct conf *c, char *why, size_t whylen)
{
	const char *path = conf_path(opt_c);
	const char *def = default_confp + strlen(DEFAULT_CONF_TAG);
	struct conf_errors e;
	char real[PATH_MAX];
	int r;

	if (getegid() != getgid() || geteuid() != getuid()) {
		if (getuid() != 0 && opt_c != NULL &&
		    !same_file(opt_c, def)) {
			snprintf(why, whylen, "-c %.200s: only root may name "
			    "another config than %.200s", opt_c, def);
			return -1;
		}
		if (getuid() != 0)
			path = def;
		if (trusted_config(path, real, sizeof(real), why, whylen) == -1)
			return -1;
		path = real;
	}
	conf_worker = 1;	/* never the private files (tls_key) */
	memset(&e, 0, sizeof(e));
	if ((r = conf_load(path, c, &e)) == -1)
		snprintf(why, whylen, "%s", e.n ? e.msg[0] : "bad config");
	conf_errors_free(&e);
	return r;
}

/*
 * queue_dir/maildrop, never through a symlink. Set-id, it must be the
 * directory master made for our group: a user cannot give a directory
 * of theirs the group postdrop.
 */
static int
open_maildrop(const struct conf *c, char *why, size_t whylen)
{
	struct stat st;
	int qfd, dfd;

	qfd = open(c->queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* O_PATH: the group may add files there, not list them */
	dfd = qfd == -1 ? -1 : openat(qfd, QDIR_MAILDROP,
	    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (qfd != -1)
		close(qfd);
	if (dfd == -1 || fstat(dfd, &st) == -1) {
		snprintf(why, whylen, "4.3.0 %s/%s: %s", c->queue_dir,
		    QDIR_MAILDROP, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	if (getegid() != getgid() && (st.st_gid != getegid() ||
	    (st.st_mode & S_IWOTH) != 0)) {
		snprintf(why, whylen, "4.3.5 %s/%s: not the postdrop "
		    "group's directory", c->queue_dir, QDIR_MAILDROP);
		close(dfd);
		return -1;
	}
	return dfd;
}

static void
put(struct drop *d, const void *p, size_t len)
{
	const char *s = p;

	while (len > 0 && d->werr == 0) {
		ssize_t n = write(d->fd, s, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			d->werr = n == -1 ? errno : EIO;
			return;
		}
		s += n;
		len -= (size_t)n;
	}
}

/* The temp file with the magic and the open request as we allow it:
 * only what public/cleanup honours, and our own uid. */
static int
start_file(struct drop *d, const struct cleanup_open *in)
{
	if (maildrop_name(d->tmp, sizeof(d->tmp), 1) == -1)
		return -1;
	d->fd = openat(d->dfd, d->tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (d->fd == -1)
		return -1;
	if (maildrop_open_encode(&d->frame, in, getuid()) == -1) {
		errno = EINVAL;
		return -1;
	}
	put(d, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
	put(d, d->frame.data, d->frame.len);
	return d->werr ? -1 : 0;
}

/*
 * req=end: the end frame, fsync, rename. The directory cannot be opened
 * to fsync it (we may not read it): syncfs makes the rename durable,
 * a cost paid only while postern is down.
 */
static int
commit(struct drop *d)
{
	char name[MAILDROP_NAME_LEN + 1];

	if (proto_simple_encode(&d->frame, REQ_END) == -1)
		return -1;
	put(d, d->frame.data, d->frame.len);
	if (d->werr == 0 && fsync(d->fd) == -1)
		d->werr = errno;
	if (d->werr == 0 && (maildrop_name(name, sizeof(name), 0) == -1 ||
	    renameat2(d->dfd, d->tmp, d->dfd, name, RENAME_NOREPLACE) == -1))
		d->werr = errno ? errno : EINVAL;
	if (d->werr == 0 && syncfs(d->fd) == -1)
		d->werr = errno;
	if (close(d->fd) == -1 && d->werr == 0)
		d->werr = errno;
	d->fd = -1;
	return d->werr ? -1 : 0;
}

/* Tell a running pickup (best effort: at worst its timer finds it). */
static void
poke_pickup(const char *queue_dir)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s/pickup", queue_dir,
	    QDIR_PUBLIC) >= (int)sizeof(path))
		return;
	if ((fd = ipc_connect(path)) != -1)
		close(fd);
}

/* The content frames until req=end; the exit status, answered. */
static int
content(struct drop *d, struct ipc_msg *m)
{
	const char *chunk;
	size_t len;

	for (;;) {
		if (ipc_recv(STDIN_FILENO, m, IO_TIMEOUT_MS) == -1)
			return EX_TEMPFAIL_;	/* sendmail is gone */
		switch (proto_req_type(m)) {
		case REQ_ABORT:
			return EX_TEMPFAIL_;
		case REQ_DATA:
			if (cleanup_data_decode(m, &chunk, &len) == -1)
				return refuse_text("5.5.4 Bad request");
			d->size += len;
			if (d->max > 0 && d->size > d->max)
				continue;	/* read on; said at the end */
			if (cleanup_data_encode(&d->frame, chunk, len) == 0)
				put(d, d->frame.data, d->frame.len);
			continue;
		case REQ_END:
			if (d->max > 0 && d->size > d->max)
				return refuse(R_MSG_SIZE, EX_DATAERR_);
			if (commit(d) == -1)
				return refuse(d->werr == ENOSPC ||
				    d->werr == EDQUOT ? R_NO_SPACE : R_QUEUE,
				    EX_TEMPFAIL_);
			answer(1, 0, NULL);
			return EX_OK_;
		default:
			return refuse_text("5.5.4 Bad request");
		}
	}
}

/* After the open request: checks, the temp file, ok, the content. */
static int
drop_message(const struct conf *c, const struct cleanup_open *o,
    struct ipc_msg *m)
{
	struct drop d = { .dfd = -1, .fd = -1, .max =
	    c->smtpd.max_message_size };
	char why[600];
	int rc;

	if (!submit_allowed(c, getuid()))
		return refuse(R_SUBMIT_DENIED, EX_NOPERM_);
	if (!qspace_ok(c->queue_dir, c->queue_minfree, 0))
		return refuse(R_NO_SPACE, EX_TEMPFAIL_);
	if ((d.dfd = open_maildrop(c, why, sizeof(why))) == -1)
		return refuse_text(why);
	buf_init(&d.frame, IPC_MAX_FRAME + 4);
	if (start_file(&d, o) == -1) {
		snprintf(why, sizeof(why), "4.3.0 %s/%s: %s", c->queue_dir,
		    QDIR_MAILDROP, strerror(d.werr ? d.werr : errno));
		rc = refuse_text(why);
	} else {
		answer(1, 0, NULL);
		if ((rc = content(&d, m)) == EX_OK_)
			poke_pickup(c->queue_dir);
	}
	if (d.fd != -1)
		close(d.fd);
	if (rc != EX_OK_ && d.tmp[0] != '\0')
		(void)unlinkat(d.dfd, d.tmp, 0);
	close(d.dfd);
	buf_free(&d.frame);
	return rc;
}

/* fds 0-2 open (else a file we open could become one), none other. */
static void
sane_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	closefrom(3);
}

int
main(int argc, char **argv)
{
	struct cleanup_open o;
	struct ipc_msg m;
	struct conf c;
	const char *cf = NULL;
	char why[600];
	int rc;

	sane_fds();
	umask(022);
	/* a caller's small RLIMIT_FSIZE fails the write (said), not us */
	signal(SIGXFSZ, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "-c") == 0)
		cf = argv[2];
	else if (argc != 1) {
		fprintf(stderr, "usage: postdrop [-c config] (run by "
		    "sendmail when postern is down)\n");
		return 64;
	}
	ipc_msg_init(&m);
	if (ipc_recv(STDIN_FILENO, &m, IO_TIMEOUT_MS) == -1 ||
	    cleanup_open_decode(&m, &o, why, sizeof(why)) == -1) {
		ipc_msg_free(&m);
		return refuse_text("5.5.4 Bad request");
	}
	memset(&c, 0, sizeof(c));
	if (load_config(cf, &c, why, sizeof(why)) == -1) {
		char text[700];

		snprintf(text, sizeof(text), "4.3.5 postdrop: %s", why);
		rc = refuse_text(text);
	} else
		rc = drop_message(&c, &o, &m);
	conf_free(&c);
	cleanup_open_free(&o);
	ipc_msg_free(&m);
	return rc;
}
