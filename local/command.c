/*
 * local command: one message piped into a command (mailbox_command, an
 * alias or .forward "|command") run as a given identity, in its own
 * process group, with a fixed environment, a time limit and its output
 * read in bounded chunks (only the last CMD_TAIL bytes are kept).
 * Never runs a command as root, never through a shell unless the text
 * needs one, never waits past command_time_limit.
 */
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "local.h"

struct env {
	char	*val[CMD_NVARS];	/* in cmd_var_names order */
	char	 ext[256], dom[256];
};

/* The run's state in the parent. */
struct io {
	int		 in, out;	/* our ends of stdin and stdout */
	char		*ibuf;
	size_t		 ipos, ilen;
	size_t		 done;		/* content bytes queued */
	int		 rerr;		/* the queue file could not be read */
	struct cmd_tail	 tail;
};

static void
env_fill(struct env *e, const struct cmd_run *c, const char *sender)
{
	const char	*at = strrchr(c->rcpt, '@');
	size_t		 ll = at ? (size_t)(at - c->rcpt) : strlen(c->rcpt);
	size_t		 bl;
	char		 local[256];

	e->ext[0] = e->dom[0] = '\0';
	if (ll < sizeof(local)) {
		memcpy(local, c->rcpt, ll);
		local[ll] = '\0';
		bl = addr_local_base_len(local);
		if (bl < ll)
			strlcpy(e->ext, local + bl + 1, sizeof(e->ext));
	}
	if (at)
		strlcpy(e->dom, at + 1, sizeof(e->dom));
	e->val[0] = (char *)c->user;
	e->val[1] = (char *)c->user;
	e->val[2] = (char *)c->home;
	e->val[3] = (char *)sender;
	e->val[4] = (char *)c->rcpt;
	e->val[5] = e->ext;
	e->val[6] = e->dom;
}

/* The child: own process group, the identity, cwd, fds, exec. */
static void __attribute__((noreturn))
exec_child(const struct cmd_run *c, char **argv, char **envp, int in, int out)
{
	char	 msg[300];
	sigset_t none;
	int	 n, e;

	setsid();
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (ident_drop(c->id) == -1) {
		n = snprintf(msg, sizeof(msg), "cannot switch to user %s\n",
		    c->id->name);
		if (write(out, msg, (size_t)n) == -1)
			_exit(EX_OSERR);
		_exit(EX_OSERR);
	}
	if (chdir(c->home) == -1 && chdir("/") == -1)
		_exit(EX_OSERR);
	umask(077);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(EX_OSERR);
	closefrom(3);
	execve(argv[0], argv, envp);
	e = errno;
	n = snprintf(msg, sizeof(msg), "cannot execute %s: %s\n", argv[0],
	    strerror(e));
	if (n > 0 && write(1, msg, (size_t)n) == -1)
		_exit(EX_OSERR);
	_exit(e == ENOENT || e == EACCES ? EX_UNAVAILABLE : EX_OSERR);
}

/* The "From " line, Return-Path and Delivered-To, before the content. */
static void
io_prefix(struct io *io, const struct job *j, const char *dt)
{
	const char	*s = j->q->sender && *j->q->sender ? j->q->sender :
			    "MAILER-DAEMON";
	int		 n;

	if (mbox_from_line(io->ibuf, CHUNK, s, time(NULL)) == -1)
		io->ibuf[0] = '\0';
	io->ilen = strlen(io->ibuf);
	n = snprintf(io->ibuf + io->ilen, CHUNK - io->ilen,
	    "Return-Path: <%s>\nDelivered-To: %s\n", j->q->sender ?
	    j->q->sender : "", dt);
	if (n > 0 && (size_t)n < CHUNK - io->ilen)
		io->ilen += (size_t)n;
}

static void
io_close_in(struct io *io)
{
	if (io->in != -1)
		close(io->in);
	io->in = -1;
}

/* Feed stdin: the rest of the buffer, then the next content chunk. */
static void
io_write(struct io *io, const struct job *j)
{
	ssize_t	 n;

	if (io->ipos == io->ilen) {
		size_t left = j->q->content_len - io->done;
		if (left == 0) {
			io_close_in(io);
			return;
		}
		n = agent_read(j->a, io->done, io->ibuf, left < CHUNK ?
		    left : CHUNK);
		if (n <= 0) {	/* unreadable queue file: never "sent" */
			io->rerr = 1;
			io_close_in(io);
			return;
		}
		io->done += (size_t)n;
		io->ipos = 0;
		io->ilen = (size_t)n;
	}
	n = write(io->in, io->ibuf + io->ipos, io->ilen - io->ipos);
	if (n > 0)
		io->ipos += (size_t)n;
	else if (n == -1 && errno != EAGAIN && errno != EINTR)
		io_close_in(io);	/* EPIPE: it stopped reading */
}

static void
io_read(struct io *io)
{
	static char	 chunk[CHUNK];	/* a pipe's worth */
	ssize_t		 n = read(io->out, chunk, sizeof(chunk));

	if (n > 0)
		cmd_tail_add(&io->tail, chunk, (size_t)n);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(io->out);
		io->out = -1;
	}
}

/*
 * Run the exchange until the command has exited and its output is closed
 * (or a second after it exited, for a background child holding it), or
 * until the deadline. Returns 1 on timeout; *status when reaped.
 */
static int
io_loop(struct io *io, const struct job *j, pid_t pid, int *status,
    int *reaped)
{
	long long	 deadline = clock_ms() +
			    (long long)wk.conf.command_time_limit * 1000;
	long long	 grace = 0, now;
	/* readable when the child exits (else: look every 200 ms) */
	int		 pidfd = (int)syscall(SYS_pidfd_open, pid, 0), rv;

	for (;;) {
		struct pollfd	 pfd[3];
		nfds_t		 np = 0;

		if ((now = clock_ms()) >= deadline) {
			rv = 1;
			break;
		}
		if (!*reaped && waitpid(pid, status, WNOHANG) == pid) {
			*reaped = 1;
			grace = now + 1000;
			io_close_in(io);
		}
		if (*reaped && (io->out == -1 || now >= grace)) {
			rv = 0;
			break;
		}
		if (io->in != -1)
			pfd[np++] = (struct pollfd){ io->in, POLLOUT, 0 };
		if (io->out != -1)
			pfd[np++] = (struct pollfd){ io->out, POLLIN, 0 };
		if (pidfd != -1 && !*reaped)
			pfd[np++] = (struct pollfd){ pidfd, POLLIN, 0 };
		if (poll(pfd, np, (int)(deadline - now < 200 ?
		    deadline - now : 200)) <= 0)
			continue;
		for (nfds_t i = 0; i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == io->in)
				io_write(io, j);
			else if (pfd[i].fd == io->out)
				io_read(io);
		}
	}
	if (pidfd != -1)
		close(pidfd);
	return rv;
}

/* The outcome as a delivery status (sysexits, as Sendmail maps them). */
static void
status_of(const struct io *io, int timedout, int status, struct dstatus *r)
{
	char		 line[CMD_LINE_SHOWN + 1];
	const char	*dsn;
	int		 temp;

	cmd_last_line(&io->tail, line, sizeof(line));
	if (io->rerr) {		/* it got a cut message: whatever it says */
		setres(r, DS_DEFER, "4.3.0 queue file read error");
		return;
	}
	if (timedout) {
		setres(r, DS_DEFER, "4.3.0 command killed after the time "
		    "limit (%llus)", (unsigned long long)
		    wk.conf.command_time_limit);
		return;
	}
	if (WIFSIGNALED(status)) {
		setres(r, DS_DEFER, "4.3.0 command killed by signal %d%s%s",
		    WTERMSIG(status), *line ? ": " : "", line);
		return;
	}
	if ((dsn = cmd_exit_dsn(WEXITSTATUS(status), &temp)) == NULL)
		setres(r, DS_SENT, "2.0.0 delivered to command");
	else
		setres(r, temp ? DS_DEFER : DS_BOUNCE, "%s command exit "
		    "status %d%s%s", dsn, WEXITSTATUS(status), *line ? ": " :
		    "", line);
}

/* NAME=value strings for execve: ours only, nothing inherited. */
static void
make_envp(const struct env *e, char **envp, size_t n)
{
	size_t	 k = 0;

	for (int i = 0; i < CMD_NVARS && k + 3 < n; i++) {
		const char *v = e->val[i] ? e->val[i] : "";
		size_t len = strlen(cmd_var_names[i]) + strlen(v) + 2;

		envp[k] = xmalloc(len);
		snprintf(envp[k++], len, "%s=%s", cmd_var_names[i], v);
	}
	envp[k++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	envp[k++] = xstrdup("SHELL=/bin/sh");
	envp[k] = NULL;
}

static void
freev(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
}

/* Start the child; -1 with *r set. */
static pid_t
spawn(const struct cmd_run *c, char **argv, char **envp, struct io *io,
    struct dstatus *r)
{
	int	 pin[2], pout[2];
	pid_t	 pid;

	if (pipe2(pin, O_CLOEXEC) == -1) {
		setres(r, DS_DEFER, "4.3.0 pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(pout, O_CLOEXEC) == -1) {
		setres(r, DS_DEFER, "4.3.0 pipe: %s", strerror(errno));
		close(pin[0]);
		close(pin[1]);
		return -1;
	}
	if ((pid = fork()) == 0) {
		close(pin[1]);
		close(pout[0]);
		exec_child(c, argv, envp, pin[0], pout[1]);
	}
	close(pin[0]);
	close(pout[1]);
	if (pid == -1) {
		close(pin[1]);
		close(pout[0]);
		setres(r, DS_DEFER, "4.3.0 fork: %s", strerror(errno));
		return -1;
	}
	io->in = pin[1];
	io->out = pout[0];
	fcntl(io->in, F_SETFL, O_NONBLOCK);
	fcntl(io->out, F_SETFL, O_NONBLOCK);
	return pid;
}

void
command_deliver(struct job *j, const struct cmd_run *c, struct dstatus *r)
{
	struct env	 e;
	struct io	 io;
	char		*argv[CMD_MAX_ARGS + 4], *envp[16];
	pid_t		 pid;
	int		 status = 0, reaped = 0, timedout;

	env_fill(&e, c, j->q->sender ? j->q->sender : "");
	argv[0] = NULL;
	if (c->shell || cmd_needs_shell(c->cmd)) {
		argv[0] = xstrdup("/bin/sh");
		argv[1] = xstrdup("-c");
		argv[2] = xstrdup(c->cmd);
		argv[3] = NULL;
	} else if (cmd_split(c->cmd, e.val, argv) == -1 ||
	    argv[0][0] != '/') {
		/* the admin's to fix (too many or too long words): wait */
		freev(argv);
		setres(r, DS_DEFER, "4.3.5 bad command (a full path and at "
		    "most %d words)", CMD_MAX_ARGS);
		return;
	}
	make_envp(&e, envp, sizeof(envp) / sizeof(envp[0]));
	memset(&io, 0, sizeof(io));
	io.ibuf = xmalloc(CHUNK);
	io_prefix(&io, j, c->dt);
	if ((pid = spawn(c, argv, envp, &io, r)) != -1) {
		timedout = io_loop(&io, j, pid, &status, &reaped);
		if (timedout && kill(-pid, SIGKILL) == -1)
			kill(pid, SIGKILL);	/* before its setsid() */
		if (!reaped)
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				;
		status_of(&io, timedout, status, r);
		if (io.tail.total > CMD_TAIL)
			log_info("%s: output of command as %s cut: %llu bytes, "
			    "the last %d kept", j->id, c->id->name,
			    io.tail.total, CMD_TAIL);
		io_close_in(&io);
		if (io.out != -1)
			close(io.out);
	}
	free(io.ibuf);
	freev(argv);
	freev(envp);
}

/* mailbox_command for a user: as the user, root's as default_privs. */
void
mailbox_command(struct job *j, const char *user, const char *dt,
    struct dstatus *r)
{
	struct passwd	*pw;
	struct ident	 id;
	struct cmd_run	 c;

	if ((pw = getpwnam(user)) == NULL) {
		setres(r, DS_DEFER, "4.3.0 user lookup failed");
		return;
	}
	memset(&c, 0, sizeof(c));
	c.user = xstrdup(pw->pw_name);
	c.home = xstrdup(pw->pw_dir);
	if (ident_user(pw, 0, &id, r) == 0) {
		c.cmd = wk.conf.mailbox_command;
		c.id = &id;
		c.rcpt = dt;
		c.dt = dt;
		command_deliver(j, &c, r);
	}
	free((char *)c.user);
	free((char *)c.home);
}
