/*
 * local: the local delivery agent. qmgr hands it recipients of one queue
 * file (docs/internals.md "delivery agents"); it expands aliases, forwards
 * remote targets through cleanup, and appends to mboxes in a forked child
 * that has become the recipient. It keeps root (when started as root)
 * only to fork those children: it must never write a mailbox, run a
 * command or open a user's file with root privileges (the one exception:
 * creating a missing mailbox, O_EXCL, in a root-owned spool directory),
 * and never modify the queue file (qmgr alone records statuses).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "map.h"
#include "mbox.h"
#include "qfile.h"
#include "worker.h"

#define IO_TIMEOUT_MS	(60 * 1000)	/* each frame to/from qmgr, cleanup */
#define CHILD_TIMEOUT_MS (5 * 60 * 1000)	/* one mailbox delivery */
#define MAX_DEPTH	20		/* alias recursion */
#define MAX_TARGETS	1000		/* final targets of one recipient */
#define MAX_HEADER	(1024 * 1024)	/* scanned for Delivered-To */
#define CHUNK		(64 * 1024)
#define TEXT_LEN	224		/* fits QF_ERR_LEN with room to spare */

enum res { RES_OK, RES_TEMP, RES_PERM };

struct result {
	enum res	 kind;
	char		 text[TEXT_LEN];	/* "X.Y.Z text" */
};

enum tkind { T_USER, T_FWD };

struct target {
	enum tkind	 kind;
	char		*name;		/* user name, or forward address */
	char		*dt;		/* user: Delivered-To address */
};

struct expansion {
	struct target	*t;
	size_t		 n;
	struct result	 err;		/* first error during expansion */
	int		 has_err;
	char		*stack[MAX_DEPTH + 2];	/* alias keys being expanded */
	size_t		 nstack;
};

struct job {
	char		 id[QID_LEN + 1];
	int		 fd;		/* queue file, read-only */
	struct qfile	 q;
	struct buf	 hdr;		/* header section, for loop checks */
};

static struct worker	 wk;
static struct map	 aliases;
static struct domain_list local_domains;
static int		 as_root;

static void
setres(struct result *r, enum res kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
setres(struct result *r, enum res kind, const char *fmt, ...)
{
	va_list	 ap;

	r->kind = kind;
	va_start(ap, fmt);
	if (vsnprintf(r->text, sizeof(r->text), fmt, ap) < 0)
		r->text[0] = '\0';
	va_end(ap);
}

/* SMTP-like code for an enhanced status text. */
static int
code_for(const struct result *r)
{
	if (r->kind == RES_OK)
		return 250;
	if (r->kind == RES_TEMP)
		return strncmp(r->text, "4.3.1", 5) == 0 ? 452 :
		    strncmp(r->text, "4.2.", 4) == 0 ? 450 : 451;
	return strncmp(r->text, "5.1.", 4) == 0 ? 550 : 554;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
is_local_domain(const char *d)
{
	return strcasecmp(d, "localhost") == 0 ||
	    (wk.conf.hostname && strcasecmp(d, wk.conf.hostname) == 0) ||
	    domain_list_match(&local_domains, d, 0);
}

/* --- loop detection ------------------------------------------------- */

/* Read the header section (bounded) once per job. */
static void
read_headers(struct job *j)
{
	char	 chunk[8192];
	size_t	 max = j->q.content_len < MAX_HEADER ? j->q.content_len :
		    MAX_HEADER;
	size_t	 done = 0;

	buf_init(&j->hdr, MAX_HEADER + 1);
	while (done < max) {
		size_t want = max - done < sizeof(chunk) ? max - done :
		    sizeof(chunk);
		ssize_t n = pread(j->fd, chunk, want,
		    j->q.content_off + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || buf_append(&j->hdr, chunk, (size_t)n) == -1)
			break;
		done += (size_t)n;
		if (j->hdr.len > 0 && j->hdr.data[0] == '\n')
			break;
		if (memmem(j->hdr.data, j->hdr.len, "\n\n", 2) != NULL)
			break;
	}
}

/* Does the header section have "Delivered-To: addr"? */
static int
delivered_to(const struct job *j, const char *addr)
{
	const char	*p = j->hdr.data, *end, *nl, *v;
	size_t		 alen = strlen(addr), vlen;

	if (p == NULL)
		return 0;
	end = p + j->hdr.len;
	while (p < end && *p != '\n') {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > 13 &&
		    strncasecmp(p, "Delivered-To:", 13) == 0) {
			v = p + 13;
			while (v < nl && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(nl - v);
			while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
				vlen--;
			if (vlen >= 2 && v[0] == '<' && v[vlen - 1] == '>') {
				v++;
				vlen -= 2;
			}
			if (vlen == alen && strncasecmp(v, addr, alen) == 0)
				return 1;
		}
		p = nl + 1;
	}
	return 0;
}

/* --- alias expansion ------------------------------------------------ */

static void
exp_error(struct expansion *x, enum res kind, const char *text)
{
	/* A temporary problem wins: nothing is delivered and all is retried. */
	if (!x->has_err || (kind == RES_TEMP && x->err.kind != RES_TEMP)) {
		setres(&x->err, kind, "%s", text);
		x->has_err = 1;
	}
}

static void
exp_add(struct expansion *x, enum tkind kind, const char *name, const char *dt)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->t[i].kind == kind && strcasecmp(x->t[i].name, name) == 0)
			return;		/* each user/address once */
	if (x->n >= MAX_TARGETS) {
		exp_error(x, RES_PERM, "5.4.6 alias expands to too many targets");
		return;
	}
	x->t = xreallocarray(x->t, x->n + 1, sizeof(*x->t));
	x->t[x->n].kind = kind;
	x->t[x->n].name = xstrdup(name);
	x->t[x->n].dt = dt ? xstrdup(dt) : NULL;
	x->n++;
}

static void
exp_free(struct expansion *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->t[i].name);
		free(x->t[i].dt);
	}
	free(x->t);
	memset(x, 0, sizeof(*x));
}

static void expand(struct expansion *, const char *local, const char *domain,
    const char *dt, int depth);

/* A system user (no more alias lookups): local may carry "+ext". */
static void
add_user(struct expansion *x, const char *local, const char *domain,
    const char *dt)
{
	char		 base[256], addr[600];
	size_t		 bl = addr_local_base_len(local);
	struct passwd	*pw;

	if (bl == 0 || bl >= sizeof(base)) {
		exp_error(x, RES_PERM, "5.1.1 User unknown");
		return;
	}
	memcpy(base, local, bl);
	base[bl] = '\0';
	errno = 0;
	if ((pw = getpwnam(base)) == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM)
			exp_error(x, RES_PERM, "5.1.1 User unknown");
		else
			exp_error(x, RES_TEMP, "4.3.0 user lookup failed");
		return;
	}
	if (dt == NULL) {
		if (snprintf(addr, sizeof(addr), "%s@%s", local, domain) >=
		    (int)sizeof(addr)) {
			exp_error(x, RES_PERM, "5.1.3 address too long");
			return;
		}
		dt = addr;
	}
	exp_add(x, T_USER, pw->pw_name, dt);
}

/* One target from an alias value, seen while expanding key. */
static void
expand_target(struct expansion *x, char *t, const char *key,
    const char *domain, int depth)
{
	struct addr	 a;
	const char	*why;
	char		 fmt[600], *at;
	size_t		 n = strlen(t);

	if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
		t[n - 1] = '\0';
		t++;
		n -= 2;
	}
	if (n == 0)
		return;
	if (t[0] == '/' || t[0] == '|' || strncasecmp(t, ":include:", 9) == 0) {
		exp_error(x, RES_PERM, "5.3.0 file, command and include targets "
		    "are not supported yet");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f) {
			exp_error(x, RES_PERM, "5.1.3 bad alias target");
			return;
		}
	if (t[0] == '\\') {		/* "\user": the user, no alias lookup */
		lower(t + 1);
		add_user(x, t + 1, domain, NULL);
		return;
	}
	if ((at = strrchr(t, '@')) == NULL) {
		lower(t);
		if (strcmp(t, key) == 0)	/* "root: root" */
			add_user(x, t, domain, NULL);
		else
			expand(x, t, domain, NULL, depth + 1);
		return;
	}
	if (addr_parse_path(t, n, 0, &a, &why) == -1) {
		exp_error(x, RES_PERM, "5.1.3 bad alias target");
		return;
	}
	if (is_local_domain(a.domain)) {
		lower(a.local);
		if (strcmp(a.local, key) == 0)
			add_user(x, a.local, a.domain, NULL);
		else
			expand(x, a.local, a.domain, NULL, depth + 1);
		return;
	}
	if (addr_format(&a, fmt, sizeof(fmt)) == -1) {
		exp_error(x, RES_PERM, "5.1.3 bad alias target");
		return;
	}
	exp_add(x, T_FWD, fmt, NULL);
}

/*
 * Resolve a lower-cased local part: alias (recursively), else a system
 * user. dt: the Delivered-To address when this is the original recipient.
 */
static void
expand(struct expansion *x, const char *local, const char *domain,
    const char *dt, int depth)
{
	char		*val = NULL, *p, *start, base[256];
	const char	*key;
	size_t		 bl;
	int		 r, inq = 0, last;

	if (depth > MAX_DEPTH) {
		exp_error(x, RES_PERM, "5.4.6 alias loop");
		return;
	}
	key = local;
	r = map_lookup(&aliases, local, &val);
	if (r == 0 && (bl = addr_local_base_len(local)) < strlen(local) &&
	    bl > 0 && bl < sizeof(base)) {
		memcpy(base, local, bl);	/* "bob+ext": try "bob" */
		base[bl] = '\0';
		key = base;
		r = map_lookup(&aliases, base, &val);
	}
	if (r == -1) {
		exp_error(x, RES_TEMP, "4.3.0 alias lookup failed");
		return;
	}
	if (r == 0) {
		add_user(x, local, domain, dt);
		return;
	}
	for (size_t i = 0; i < x->nstack; i++)
		if (strcmp(x->stack[i], key) == 0) {
			free(val);
			exp_error(x, RES_PERM, "5.4.6 alias loop");
			return;
		}
	x->stack[x->nstack++] = xstrdup(key);
	for (start = p = val;; p++) {
		if (*p == '"')
			inq = !inq;
		if (*p != '\0' && (*p != ',' || inq))
			continue;
		last = *p == '\0';
		*p = '\0';
		while (isspace((unsigned char)*start))
			start++;
		for (size_t n = strlen(start); n > 0 &&
		    isspace((unsigned char)start[n - 1]); n--)
			start[n - 1] = '\0';
		expand_target(x, start, x->stack[x->nstack - 1], domain, depth);
		if (last)
			break;
		start = p + 1;
	}
	free(x->stack[--x->nstack]);
	free(val);
}

/* --- mailbox delivery ----------------------------------------------- */

/* conf.mailbox "mbox:PATH" with %u, %h, %% and a leading "~/". */
static int
mailbox_path(const struct passwd *pw, char *out, size_t outlen,
    int *from_home, struct result *r)
{
	const char	*tmpl = wk.conf.mailbox ? wk.conf.mailbox :
			    "mbox:/var/mail/%u";
	struct buf	 b;
	const char	*p;
	int		 ok = 0;

	*from_home = 0;
	if (strncmp(tmpl, "maildir:", 8) == 0) {
		setres(r, RES_PERM, "5.3.0 Maildir not supported yet");
		return -1;
	}
	if (strncmp(tmpl, "mbox:", 5) != 0) {
		setres(r, RES_TEMP, "4.3.5 bad mailbox setting");
		return -1;
	}
	p = tmpl + 5;
	buf_init(&b, PATH_MAX);
	if (strncmp(p, "~/", 2) == 0) {
		if (buf_puts(&b, pw->pw_dir) == -1)
			goto done;
		p++;
		*from_home = 1;
	}
	for (; *p; p++) {
		int e = 0;
		if (*p == '%' && p[1] == 'u') {
			e = buf_puts(&b, pw->pw_name);
			p++;
		} else if (*p == '%' && p[1] == 'h') {
			e = buf_puts(&b, pw->pw_dir);
			*from_home = 1;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			e = buf_putc(&b, '%');
			p++;
		} else
			e = buf_putc(&b, *p);
		if (e == -1)
			goto done;
	}
	if (b.len == 0 || b.data[0] != '/' || strlcpy(out, b.data, outlen) >=
	    outlen)
		goto done;
	ok = 1;
done:
	buf_free(&b);
	if (!ok) {
		setres(r, RES_TEMP, "4.3.5 bad mailbox path");
		return -1;
	}
	return 0;
}

/*
 * Root only, before dropping to the user: a system spool such as
 * /var/mail (root-owned, not world-writable, so users cannot create their
 * own file there) gets the missing mailbox created fresh (O_EXCL: never
 * through a symlink) and given to the user. Paths under a home directory
 * are never touched as root.
 */
static void
precreate(const char *path, const struct passwd *pw, int from_home)
{
	char		 dir[PATH_MAX];
	const char	*slash;
	struct stat	 st;
	int		 dfd, fd;

	if (from_home || (slash = strrchr(path, '/')) == NULL ||
	    (size_t)(slash - path) >= sizeof(dir))
		return;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (dir[0] == '\0')
		return;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	if (fstat(dfd, &st) == -1 || st.st_uid != 0 ||
	    (st.st_mode & S_IWOTH) ||
	    fstatat(dfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT) {
		close(dfd);
		return;
	}
	fd = openat(dfd, slash + 1, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd != -1) {
		if (fchown(fd, pw->pw_uid, pw->pw_gid) == -1)
			log_warn("chown %s: %s", path, strerror(errno));
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

/* Child side: deliver, write "K text" to the pipe, exit. */
static void __attribute__((noreturn))
child_deliver(struct job *j, const struct passwd *pw, const char *path,
    int from_home, const char *dt, int wfd)
{
	char	 err[TEXT_LEN] = "", msg[TEXT_LEN + 8];
	int	 r, n;

	signal(SIGXFSZ, SIG_IGN);	/* a file size limit = EFBIG, not death */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	for (int i = 0; i < wk.nlisten; i++)
		close(wk.listen_fd[i]);
	if (as_root) {
		precreate(path, pw, from_home);
		if (drop_to(pw) == -1) {
			r = MBOX_TEMP;
			snprintf(err, sizeof(err), "4.3.0 cannot switch to "
			    "user %s", pw->pw_name);
			goto out;
		}
	}
	r = mbox_deliver(path, j->q.sender, dt, j->fd, j->q.content_off,
	    j->q.content_len, err, sizeof(err));
out:
	n = snprintf(msg, sizeof(msg), "%c %s", r == MBOX_OK ? 'O' :
	    r == MBOX_PERM ? 'P' : 'T', r == MBOX_OK ? "delivered" : err);
	if (n > 0 && write(wfd, msg, (size_t)n) != n)
		_exit(1);
	_exit(0);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
deliver_user(struct job *j, const char *user, const char *dt,
    struct result *r)
{
	struct passwd	*pw;
	char		 path[PATH_MAX], msg[TEXT_LEN + 8];
	size_t		 got = 0;
	long long	 deadline;
	pid_t		 pid;
	int		 p[2], from_home, status;

	if ((pw = getpwnam(user)) == NULL) {
		setres(r, RES_TEMP, "4.3.0 user lookup failed");
		return;
	}
	if (delivered_to(j, dt)) {
		setres(r, RES_PERM, "5.4.6 mail forwarding loop for %s", dt);
		return;
	}
	if (mailbox_path(pw, path, sizeof(path), &from_home, r) == -1)
		return;
	if (as_root && lookup_groups(pw) == -1) {
		setres(r, RES_TEMP, "4.3.0 group lookup failed for %s", user);
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		setres(r, RES_TEMP, "4.3.0 pipe: %s", strerror(errno));
		return;
	}
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		setres(r, RES_TEMP, "4.3.0 fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(p[0]);
		child_deliver(j, pw, path, from_home, dt, p[1]);
	}
	close(p[1]);
	deadline = now_ms() + CHILD_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		n = read(p[0], msg + got, sizeof(msg) - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(msg) - 1)
			break;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	msg[got] = '\0';
	if (got < 3 || msg[1] != ' ' || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		setres(r, RES_TEMP, "4.3.0 mailbox delivery process failed");
		return;
	}
	if (msg[0] == 'O')
		setres(r, RES_OK, "2.0.0 delivered to mailbox");
	else
		setres(r, msg[0] == 'P' ? RES_PERM : RES_TEMP, "%s", msg + 2);
}

/* --- forwarding through cleanup ------------------------------------- */

static int
cleanup_reply(int fd, struct ipc_msg *m, struct result *r, char *qid,
    size_t qidlen)
{
	char		*text, *id;
	long long	 code = 0;

	if (ipc_recv(fd, m, IO_TIMEOUT_MS) == -1) {
		setres(r, RES_TEMP, "4.3.0 cleanup: %s", strerror(errno));
		return -1;
	}
	if (ipc_is(m, "status", "ok")) {
		if (qid && (id = ipc_get_str(m, "queue_id")) != NULL) {
			strlcpy(qid, id, qidlen);
			free(id);
		}
		return 0;
	}
	ipc_get_num(m, "code", &code);
	text = ipc_get_str(m, "text");
	setres(r, code >= 500 && code < 600 ? RES_PERM : RES_TEMP, "%s",
	    text ? text : "4.3.0 cleanup error");
	free(text);
	return -1;
}

/* One new message (same sender, received=0) to every forward target. */
static void
forward(struct job *j, const struct expansion *x, const char *orig,
    struct result *r, char *newid, size_t newidlen)
{
	struct ipc_msg	 m;
	struct buf	 b;
	char		 path[512], *chunk = NULL;
	size_t		 done = 0;
	int		 fd;

	queue_path(wk.conf.queue_dir, QDIR_PRIVATE "/cleanup", path, sizeof(path));
	if ((fd = ipc_connect(path)) == -1) {
		setres(r, RES_TEMP, "4.3.0 cannot connect to cleanup: %s",
		    strerror(errno));
		return;
	}
	ipc_msg_init(&m);
	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "open");
	ipc_add_str(&b, "sender", j->q.sender ? j->q.sender : "");
	for (size_t i = 0; i < x->n; i++)
		if (x->t[i].kind == T_FWD)
			ipc_add_str(&b, "rcpt", x->t[i].name);
	ipc_add_str(&b, "received", "0");
	if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1) {
		setres(r, RES_TEMP, "4.3.0 cleanup: %s", strerror(errno));
		goto out;
	}
	if (cleanup_reply(fd, &m, r, NULL, 0) == -1)
		goto out;
	/* Delivered-To first, as Postfix does: a forwarding loop through
	 * another host comes back with it and is stopped here. */
	chunk = xmalloc(CHUNK);
	snprintf(chunk, CHUNK, "Delivered-To: %s\n", orig);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "data");
	ipc_add_str(&b, "chunk", chunk);
	if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1)
		goto ioerr;
	while (done < j->q.content_len) {
		size_t want = j->q.content_len - done < CHUNK ?
		    j->q.content_len - done : CHUNK;
		ssize_t n = pread(j->fd, chunk, want,
		    j->q.content_off + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			setres(r, RES_TEMP, "4.3.0 cannot read queue file");
			goto out;
		}
		ipc_begin(&b);
		ipc_add_str(&b, "req", "data");
		ipc_add(&b, "chunk", chunk, (size_t)n);
		if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1)
			goto ioerr;
		done += (size_t)n;
	}
	ipc_begin(&b);
	ipc_add_str(&b, "req", "end");
	if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1)
		goto ioerr;
	if (cleanup_reply(fd, &m, r, newid, newidlen) == 0)
		setres(r, RES_OK, "2.0.0 forwarded as %s", newid);
	goto out;
ioerr:
	setres(r, RES_TEMP, "4.3.0 cleanup: %s", strerror(errno));
out:
	free(chunk);
	buf_free(&b);
	ipc_msg_free(&m);
	close(fd);
}

/* --- one recipient -------------------------------------------------- */

static double
delay_s(const struct job *j)
{
	struct timeval	 tv;
	uint64_t	 now;

	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	return now > j->q.arrival_us ? (double)(now - j->q.arrival_us) / 1e6 :
	    0.0;
}

static const char *
status_word(enum res k)
{
	return k == RES_OK ? "sent" : k == RES_TEMP ? "deferred" : "bounced";
}

static void
log_result(const struct job *j, const char *to, const char *orig,
    const struct result *r)
{
	const char *text = r->text;

	/* Success texts read as Postfix's: "(delivered to mailbox)". */
	if (r->kind == RES_OK && strncmp(text, "2.0.0 ", 6) == 0)
		text += 6;
	log_info("%s: to=<%s>%s%s%s, relay=local, delay=%.2f, status=%s (%s)",
	    j->id, to, orig ? ", orig_to=<" : "", orig ? orig : "",
	    orig ? ">" : "", delay_s(j), status_word(r->kind), text);
}

/* Merge one outcome: any temp failure defers the recipient, else the
 * first permanent one bounces it. */
static void
merge(struct result *total, int *seen, const struct result *r)
{
	if (!*seen || (r->kind == RES_TEMP && total->kind != RES_TEMP) ||
	    (r->kind == RES_PERM && total->kind == RES_OK))
		*total = *r;
	*seen = 1;
}

static void
deliver_rcpt(struct job *j, size_t idx, struct result *res)
{
	struct expansion x;
	struct result	 r;
	char		 local[256], domain[256], newid[QID_LEN + 1] = "";
	const char	*addr = j->q.rcpt[idx].addr, *at;
	size_t		 ll, nfwd = 0, ok = 0;
	int		 seen = 0, aliased;

	memset(&x, 0, sizeof(x));
	at = strrchr(addr, '@');
	ll = at ? (size_t)(at - addr) : strlen(addr);
	if (ll == 0 || ll >= sizeof(local) ||
	    strlcpy(domain, at ? at + 1 : (wk.conf.hostname ?
	    wk.conf.hostname : "localhost"), sizeof(domain)) >= sizeof(domain)) {
		setres(res, RES_PERM, "5.1.3 bad recipient address");
		log_result(j, addr, NULL, res);
		return;
	}
	memcpy(local, addr, ll);
	local[ll] = '\0';
	lower(local);
	addr_domain_norm(domain);
	if (delivered_to(j, addr)) {
		setres(res, RES_PERM, "5.4.6 mail forwarding loop for %s", addr);
		log_result(j, addr, NULL, res);
		return;
	}
	expand(&x, local, domain, addr, 0);
	aliased = !(x.n == 1 && x.t[0].kind == T_USER &&
	    strcmp(x.t[0].dt, addr) == 0);
	if (x.has_err && x.err.kind == RES_TEMP) {
		/* Nothing delivered yet: retry the whole expansion later. */
		*res = x.err;
		log_result(j, addr, NULL, res);
		goto out;
	}
	/*
	 * Deliver every good target, then report one status for the
	 * original recipient. If one target defers, the whole recipient is
	 * retried and the targets that succeeded get the message again: a
	 * possible duplicate, never a loss (SPEC section 8).
	 */
	for (size_t i = 0; i < x.n; i++) {
		if (x.t[i].kind != T_USER) {
			nfwd++;
			continue;
		}
		deliver_user(j, x.t[i].name, x.t[i].dt, &r);
		log_result(j, x.t[i].dt, aliased ? addr : NULL, &r);
		merge(res, &seen, &r);
		ok += r.kind == RES_OK;
	}
	if (nfwd > 0) {
		forward(j, &x, addr, &r, newid, sizeof(newid));
		for (size_t i = 0; i < x.n; i++)
			if (x.t[i].kind == T_FWD)
				log_result(j, x.t[i].name, addr, &r);
		merge(res, &seen, &r);
		ok += r.kind == RES_OK ? nfwd : 0;
	}
	if (x.has_err) {
		log_result(j, addr, NULL, &x.err);
		merge(res, &seen, &x.err);
	}
	if (!seen) {	/* an alias with no targets at all */
		setres(res, RES_PERM, "5.1.1 alias has no targets");
		log_result(j, addr, NULL, res);
	} else if (res->kind == RES_OK && x.n > 1)
		setres(res, RES_OK, "2.0.0 delivered to %zu targets", ok);
out:
	exp_free(&x);
}

/* --- protocol ------------------------------------------------------- */

static int
reply_rcpt(int fd, const struct ipc_attr *idx, const struct result *r)
{
	struct buf	 b;
	int		 ret;

	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_begin(&b);
	ipc_add(&b, "rcpt", idx->val, idx->len);
	ipc_add_str(&b, "status", r->kind == RES_OK ? "sent" :
	    r->kind == RES_TEMP ? "defer" : "bounce");
	ipc_add_num(&b, "code", code_for(r));
	ipc_add_str(&b, "text", r->text);
	ret = ipc_end(&b) == -1 ? -1 : ipc_send(fd, &b, IO_TIMEOUT_MS);
	buf_free(&b);
	return ret;
}

static int
parse_index(const struct ipc_attr *a, size_t *out)
{
	size_t	 v = 0;

	if (a->len == 0 || a->len > 9)
		return -1;
	for (size_t i = 0; i < a->len; i++) {
		if (a->val[i] < '0' || a->val[i] > '9')
			return -1;
		v = v * 10 + (size_t)(a->val[i] - '0');
	}
	*out = v;
	return 0;
}

static void
serve(int cfd)
{
	struct ipc_msg	 m;
	struct job	 j;
	struct result	 r;
	struct buf	 b;
	char		 path[512], rel[64], err[256] = "", *qid = NULL;
	int		 readable = 0;

	memset(&j, 0, sizeof(j));
	j.fd = -1;
	ipc_msg_init(&m);
	if (ipc_recv(cfd, &m, IO_TIMEOUT_MS) == -1) {
		log_warn("reading request: %s", strerror(errno));
		goto out;
	}
	if (!ipc_is(&m, "req", "deliver")) {
		log_warn("unexpected request; closing");
		goto out;
	}
	qid = ipc_get_str(&m, "queue_id");
	if (qid == NULL || !qid_valid(qid)) {
		snprintf(err, sizeof(err), "bad queue id");
	} else if (!ipc_is(&m, "dir", "active")) {
		snprintf(err, sizeof(err), "not in active queue");
	} else {
		strlcpy(j.id, qid, sizeof(j.id));
		snprintf(rel, sizeof(rel), "%s/%s", QDIR_ACTIVE, qid);
		queue_path(wk.conf.queue_dir, rel, path, sizeof(path));
		if ((j.fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1)
			snprintf(err, sizeof(err), "%s", strerror(errno));
		else if (qfile_read(j.fd, &j.q, err, sizeof(err)) == 0)
			readable = 1;
		else
			qfile_free(&j.q);
	}
	if (readable)
		read_headers(&j);
	else
		log_warn("%s: cannot read queue file: %s", qid ? qid : "?",
		    err);
	for (size_t i = 0; i < m.nattr; i++) {
		const struct ipc_attr *a = &m.attr[i];
		size_t idx;

		if (strcmp(a->name, "rcpt") != 0)
			continue;
		memset(&r, 0, sizeof(r));
		if (!readable)
			setres(&r, RES_TEMP, "4.3.0 cannot read queue file: %s",
			    err);
		else if (parse_index(a, &idx) == -1 || idx >= j.q.nrcpt) {
			log_warn("%s: bad recipient index %.*s", j.id,
			    (int)(a->len > 16 ? 16 : a->len), a->val);
			setres(&r, RES_TEMP, "4.3.0 bad recipient index");
		} else
			deliver_rcpt(&j, idx, &r);
		if (reply_rcpt(cfd, a, &r) == -1) {
			log_warn("%s: lost qmgr: %s", j.id, strerror(errno));
			goto out;
		}
	}
	buf_init(&b, 64);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "done");
	if (ipc_end(&b) == -1 || ipc_send(cfd, &b, IO_TIMEOUT_MS) == -1)
		log_warn("%s: lost qmgr: %s", j.id, strerror(errno));
	buf_free(&b);
out:
	if (readable)
		qfile_free(&j.q);
	buf_free(&j.hdr);
	if (j.fd != -1)
		close(j.fd);
	free(qid);
	ipc_msg_free(&m);
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs = { 0 };

	worker_init(&wk, "local", argc, argv);
	tzset();	/* children inherit the zone; no /etc/localtime per delivery */
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	as_root = geteuid() == 0;
	aliases.fd = -1;
	if (domain_list_load(wk.conf.local_domains, &local_domains,
	    &errs) == -1)
		for (size_t i = 0; i < errs.n; i++)
			log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
	if (wk.conf.alias_map && map_open(&aliases, wk.conf.alias_map) == -1)
		fatal("cannot open alias map %s: %s", wk.conf.alias_map,
		    strerror(errno));
	signal(SIGCHLD, SIG_DFL);
	while (!worker_stop) {
		int fd = worker_accept(&wk, 1000, NULL);
		if (fd == -1)
			continue;
		serve(fd);
		close(fd);
	}
	map_close(&aliases);
	domain_list_free(&local_domains);
	return 0;
}
