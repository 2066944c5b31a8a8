/*
 * child: a forked child of master becomes a worker. What needs root
 * (the TLS key, the program's file) is opened first, then the drop,
 * then exec by fd; the worker gets nothing of master's or the admin's:
 * no terminal, no environment, no fd it was not meant to have.
 */
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

/* In the child: die with the cause in the log (master reports it). */
static void __attribute__((noreturn))
child_fail(const struct child_spec *s, const char *what)
{
	log_error("[%s] cannot start: %s: %s", s->name, what, strerror(errno));
	_exit(72);
}

/*
 * The child's fds: 0-2 /dev/null (never the admin's terminal; 2 is
 * master's relay pipe, or stays when it is the log and no tty; see
 * stderr_relay() in master.c), the service's sockets from 3,
 * then smtpd's TLS key, then a pooled process's status pipe, then the
 * program; nothing else. Returns the program's fd; *keyfd the key's
 * and *stfd the status pipe's, or -1.
 */
static int
child_fds(const struct child_spec *s, int kfd, int pfd, int *keyfd,
    int *stfd)
{
	int sfd = s->status_fd;

	int tmp[CHILD_MAX_FDS], nul, next = 3 + s->nfds;
	int keep2 = s->stderr_fd == -1 && strcmp(s->conf->log, "stderr") == 0 &&
	    !isatty(2);

	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		child_fail(s, "/dev/null");
	if (dup2(nul, 0) == -1 || dup2(nul, 1) == -1 || (!keep2 &&
	    dup2(s->stderr_fd != -1 ? s->stderr_fd : nul, 2) == -1))
		child_fail(s, "dup2");
	for (int i = 0; i < s->nfds; i++)
		if ((tmp[i] = fcntl(s->fds[i], F_DUPFD_CLOEXEC, 64)) == -1)
			child_fail(s, "fcntl");
	if ((pfd = fcntl(pfd, F_DUPFD_CLOEXEC, 64)) == -1 ||
	    (kfd != -1 && (kfd = fcntl(kfd, F_DUPFD_CLOEXEC, 64)) == -1) ||
	    (sfd != -1 && (sfd = fcntl(sfd, F_DUPFD_CLOEXEC, 64)) == -1))
		child_fail(s, "fcntl");
	for (int i = 0; i < s->nfds; i++)
		if (dup2(tmp[i], 3 + i) == -1)
			child_fail(s, "dup2");
	*keyfd = -1;
	if (kfd != -1) {
		if (dup2(kfd, next) == -1)
			child_fail(s, "dup2");
		*keyfd = next++;
	}
	*stfd = -1;
	if (sfd != -1) {
		if (dup2(sfd, next) == -1)
			child_fail(s, "dup2");
		*stfd = next++;
	}
	if (dup3(pfd, next, O_CLOEXEC) == -1)
		child_fail(s, "dup3");
	/* The rest closes at exec: till then the log stays writable. */
	if (close_range((unsigned)next + 1, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		closefrom(next + 1);
	return next;
}

/* smtpd's TLS key, opened here as root (the file may be root-only;
 * smtpd never runs as root, docs/internals.md); -1 if none. */
static int
child_tls_key(const struct child_spec *s)
{
	const struct conf_smtpd *l;
	int fd;

	if (strcmp(s->prog, "smtpd") != 0 ||
	    (l = conf_listener(s->conf, s->name)) == NULL ||
	    l->tls == TLS_NONE || l->tls_key == NULL)
		return -1;
	if ((fd = open(l->tls_key, O_RDONLY | O_NOCTTY | O_CLOEXEC)) == -1)
		child_fail(s, l->tls_key);
	return fd;
}

/* The worker's whole environment: nothing of the admin's shell. */
static void
child_env(const struct child_spec *s, int keyfd, int stfd, char **env,
    size_t max, char bufs[][256])
{
	static const char *pass[] = { "TZ", "ASAN_OPTIONS", "UBSAN_OPTIONS",
	    "LSAN_OPTIONS" };
	size_t n = 0;
	const char *v;

	env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
	    "/sbin:/bin";
	snprintf(bufs[0], 256, "POSTERN_LISTEN_FDS=%d", s->nfds);
	env[n++] = bufs[0];
	if (keyfd != -1) {
		snprintf(bufs[1], 256, "POSTERN_TLS_KEY_FD=%d", keyfd);
		env[n++] = bufs[1];
	}
	if (stfd != -1) {
		snprintf(bufs[2], 256, "POSTERN_STATUS_FD=%d", stfd);
		env[n++] = bufs[2];
	}
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
		if ((v = getenv(pass[i])) != NULL && n + 1 < max &&
		    snprintf(bufs[3 + i], 256, "%s=%s", pass[i], v) < 256)
			env[n++] = bufs[3 + i];
	env[n] = NULL;
}

/*
 * The forked child becomes the worker: everything that needs root (TLS
 * key, the program's file, under a directory the user may not be able
 * to traverse) is opened first, then the drop, then exec by fd.
 */
void
child_exec(const struct child_spec *s)
{
	char path[512], envbuf[7][256], *env[11], *argv[6];
	struct rlimit core = { 0, 0 };
	int kfd, pfd, keyfd, stfd, n = 0;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	kfd = child_tls_key(s);
	snprintf(path, sizeof(path), "%s/%s", s->libexec, s->prog);
	if ((pfd = open(path, O_PATH | O_CLOEXEC)) == -1)
		child_fail(s, path);
	if (fchdir(s->queue_fd) == -1)
		child_fail(s, s->conf->queue_dir);
	pfd = child_fds(s, kfd, pfd, &keyfd, &stfd);
	child_env(s, keyfd, stfd, env, sizeof(env) / sizeof(env[0]), envbuf);
	if (setrlimit(RLIMIT_CORE, &core) == -1)
		child_fail(s, "setrlimit");
	if (geteuid() == 0 && s->drop) {
		if (setgroups(1, &s->gid) == -1 || setgid(s->gid) == -1 ||
		    setuid(s->uid) == -1)
			child_fail(s, "drop privileges");
		if (getuid() != s->uid || geteuid() != s->uid ||
		    getgid() != s->gid || setuid(0) != -1)
			child_fail(s, "privileges still there");
	}
	/* Not for local: it keeps root to run the recipients' commands,
	 * which may need their set-id bits (Debian's procmail). */
	if (s->drop && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		child_fail(s, "PR_SET_NO_NEW_PRIVS");
	/* If master dies (kill -9), the workers finish and go: a new master
	 * must be able to bind the ports again. Set after the uid change,
	 * which clears it; the getppid() check closes the race. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != s->master)
		_exit(0);
	argv[n++] = (char *)s->prog;
	argv[n++] = "-c";
	argv[n++] = (char *)s->conf_file;
	/* -s: the listener (smtpd), or a service that is not named after
	 * its program (submit = cleanup on public/cleanup). */
	if (strcmp(s->prog, "smtpd") == 0 || strcmp(s->name, s->prog) != 0) {
		argv[n++] = "-s";
		argv[n++] = (char *)s->name;
	}
	argv[n] = NULL;
	execveat(pfd, "", argv, env, AT_EMPTY_PATH);
	child_fail(s, path);
}

