/*
 * local ident: whose identity a command, a /file or a .forward read runs
 * under (Sendmail's rules: root becomes default_privs for anything that
 * runs or writes), and a forked child that has become it. A child must
 * never keep root after ident_drop(), and the parent never reads more of
 * a child's answer than it asked for.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local.h"

/* Is the shell one of /etc/shells (Sendmail's test before it runs a
 * user's program or writes a user's file: not for system accounts)? */
static int
valid_shell(const char *shell)
{
	const char	*s;
	int		 ok = 0;

	if (shell == NULL || *shell == '\0')
		shell = "/bin/sh";
	setusershell();
	while (!ok && (s = getusershell()) != NULL)
		ok = strcmp(s, shell) == 0;
	endusershell();
	return ok;
}

/* Fill id from pw (exactly that user: used to read its own files). */
static int
ident_fill(const struct passwd *pw, struct ident *id, struct dstatus *r)
{
	int	 n = IDENT_GROUPS;

	memset(id, 0, sizeof(*id));
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	if (strlcpy(id->name, pw->pw_name, sizeof(id->name)) >=
	    sizeof(id->name) || strlcpy(id->home, pw->pw_dir,
	    sizeof(id->home)) >= sizeof(id->home)) {
		setres(r, DS_DEFER, "4.3.0 user name or home too long");
		return -1;
	}
	if (getgrouplist(pw->pw_name, pw->pw_gid, id->groups, &n) == -1) {
		setres(r, DS_DEFER, "4.3.0 too many groups for %s",
		    pw->pw_name);
		return -1;
	}
	id->ngroups = n;
	id->shell_ok = valid_shell(pw->pw_shell);
	return 0;
}

/* The user named by default_privs; never root. */
static int
ident_default(struct ident *id, struct dstatus *r)
{
	const char	*u = wk.conf.default_privs ? wk.conf.default_privs :
			    "nobody";
	struct passwd	*pw = getpwnam(u);

	if (pw == NULL || pw->pw_uid == 0) {
		setres(r, DS_DEFER, "4.3.5 default_privs user %s unusable",
		    u);
		return -1;
	}
	return ident_fill(pw, id, r);
}

int
ident_user(const struct passwd *pw, int may_be_root, struct ident *id,
    struct dstatus *r)
{
	if (pw->pw_uid == 0 && !may_be_root)
		return ident_default(id, r);
	return ident_fill(pw, id, r);
}

int
ident_uid(uid_t uid, gid_t gid, int may_be_root, struct ident *id,
    struct dstatus *r)
{
	struct passwd	*pw;

	if (uid == 0 && !may_be_root)
		return ident_default(id, r);
	errno = 0;
	if ((pw = getpwuid(uid)) != NULL)
		return ident_fill(pw, id, r);
	if (errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF &&
	    errno != EPERM) {
		setres(r, DS_DEFER, "4.3.0 user lookup failed for uid %lu",
		    (unsigned long)uid);
		return -1;
	}
	/* An owner without a passwd entry: its ids, no groups, home "/". */
	memset(id, 0, sizeof(*id));
	id->uid = uid;
	id->gid = gid;
	snprintf(id->name, sizeof(id->name), "%lu", (unsigned long)uid);
	strlcpy(id->home, "/", sizeof(id->home));
	id->groups[0] = gid;
	id->ngroups = 1;
	return 0;
}

int
ident_drop(const struct ident *id)
{
	if (!as_root)
		return 0;	/* tests as a user: we already are "the" user */
	if (setgroups((size_t)id->ngroups, id->groups) == -1 ||
	    setgid(id->gid) == -1 || setuid(id->uid) == -1)
		return -1;
	if (getuid() != id->uid || geteuid() != id->uid ||
	    getgid() != id->gid || getegid() != id->gid)
		return -1;
	if (id->uid != 0 && setuid(0) != -1)
		return -1;
	return 0;
}

/* The child: become id, run fn, exit. */
static void __attribute__((noreturn))
call_child(const struct ident *id, int (*fn)(void *, int), void *arg,
    int wfd)
{
	static const char msg[] = "1 4.3.0 cannot switch user\n";

	signal(SIGXFSZ, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	for (int i = 0; i < wk.nlisten; i++)
		close(wk.listen_fd[i]);
	if (ident_drop(id) == -1) {
		if (write(wfd, msg, sizeof(msg) - 1) == -1)
			_exit(1);
		_exit(0);
	}
	_exit(fn(arg, wfd) == 0 ? 0 : 1);
}

size_t
child_output(pid_t pid, int fd, char *out, size_t outlen, long long deadline)
{
	size_t	 got = 0;

	while (got < outlen) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = deadline - clock_ms();
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		if ((n = read(fd, out + got, outlen - got)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

ssize_t
ident_call(const struct ident *id, int (*fn)(void *, int), void *arg,
    char *out, size_t outlen, struct dstatus *r)
{
	long long	 deadline = clock_ms() + CHILD_TIMEOUT_MS;
	size_t		 got = 0;
	pid_t		 pid;
	int		 p[2], status;

	if (pipe2(p, O_CLOEXEC) == -1) {
		setres(r, DS_DEFER, "4.3.0 pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		setres(r, DS_DEFER, "4.3.0 fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		call_child(id, fn, arg, p[1]);
	}
	close(p[1]);
	got = child_output(pid, p[0], out, outlen, deadline);
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		setres(r, DS_DEFER, "4.3.0 delivery process failed");
		return -1;
	}
	return (ssize_t)got;
}

/* "K text" as written by a child (K: the enum dstat digit) into *r. */
int
ident_answer(const char *msg, size_t len, struct dstatus *r)
{
	char	 text[DSTATUS_TEXT];

	if (len < 3 || msg[1] != ' ' || msg[0] < '0' + DS_SENT ||
	    msg[0] > '0' + DS_BOUNCE) {
		setres(r, DS_DEFER, "4.3.0 delivery process failed");
		return -1;
	}
	len -= 2;
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, msg + 2, len);
	text[len] = '\0';
	text[strcspn(text, "\n")] = '\0';
	setres(r, (enum dstat)(msg[0] - '0'), "%s", text);
	return 0;
}
