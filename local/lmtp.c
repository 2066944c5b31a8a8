/*
 * local lmtp: the users of one job whose mailbox is "mailbox = lmtp:..."
 * handed to that mail store in one LMTP session (lib/lmtp), run by a
 * forked child that has dropped to user/group first: the store's replies
 * are input from a peer and are never parsed as root. The parent only
 * reads fixed-size records from a pipe and checks each one.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmtp.h"
#include "local.h"

/* The child's whole session, however many users (a safety net: the
 * client's own timeouts end a stuck store first). */
#define STORE_TIMEOUT_MS	(30 * 60 * 1000)

static struct lmtp_target store;
static int	 store_set;
static uid_t	 run_uid;
static gid_t	 run_gid;

/* What the child tells the parent about one user. */
struct store_rec {
	uint32_t	 i;
	struct dstatus	 st;
};

int
store_on(void)
{
	return store_set;
}

/* At start: the store's address (conf checked it) and, as root, the
 * account the session runs as. */
void
store_init(const struct conf *c)
{
	struct passwd	*pw;
	struct group	*gr;
	const char	*why;

	if (c->mailbox == NULL || strncmp(c->mailbox, "lmtp:", 5) != 0)
		return;
	if (lmtp_target_parse(c->mailbox + 5, &store, &why) == -1)
		fatal("mailbox %s: %s", c->mailbox, why);
	if (as_root) {
		if ((pw = getpwnam(c->user)) == NULL || pw->pw_uid == 0)
			fatal("user %s: not an unprivileged account", c->user);
		if ((gr = getgrnam(c->group)) == NULL)
			fatal("group %s does not exist", c->group);
		run_uid = pw->pw_uid;
		run_gid = gr->gr_gid;
	}
	store_set = 1;
}

struct child_ctx {
	struct job	*j;
	int		 wfd;
};

static ssize_t
child_read(void *ctx, size_t pos, void *buf, size_t len)
{
	struct child_ctx *cc = ctx;

	return agent_read(cc->j->a, pos, buf, len);
}

static void
child_result(void *ctx, size_t i, const struct dstatus *st)
{
	struct child_ctx	*cc = ctx;
	struct store_rec	 rec;

	memset(&rec, 0, sizeof(rec));
	rec.i = (uint32_t)i;
	rec.st = *st;
	if (write(cc->wfd, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
		_exit(1);
}

/* Child side: become user/group, run the session, exit. */
static void __attribute__((noreturn))
child_session(struct job *j, const char *const *user, size_t n, int wfd)
{
	struct child_ctx	 cc = { j, wfd };
	struct lmtp_msg		 m;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < wk.nlisten; i++)
		close(wk.listen_fd[i]);
	close(j->a->qmgr);	/* it answers qmgr only through the parent */
	if (as_root && (setgroups(1, &run_gid) == -1 ||
	    setgid(run_gid) == -1 || setuid(run_uid) == -1 ||
	    getuid() != run_uid || geteuid() != run_uid ||
	    getgid() != run_gid || getegid() != run_gid || setuid(0) != -1))
		_exit(2);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		_exit(2);
	memset(&m, 0, sizeof(m));
	m.helo = wk.conf.hostname ? wk.conf.hostname : "localhost";
	m.sender = j->q->sender ? j->q->sender : "";
	m.rcpt = user;
	m.nrcpt = n;
	m.size = j->q->content_len;
	m.read = child_read;
	m.result = child_result;
	m.ctx = &cc;
	lmtp_deliver(&store, &m);
	_exit(0);
}

/* One record from the child, checked: 0 taken, -1 refused. */
static int
take_rec(const struct store_rec *rec, size_t n, unsigned char *got,
    struct dstatus *res)
{
	const struct dstatus *st = &rec->st;

	if (rec->i >= n || got[rec->i] || st->stat < DS_SENT ||
	    st->stat > DS_BOUNCE || st->code < 200 || st->code > 599 ||
	    memchr(st->text, '\0', sizeof(st->text)) == NULL)
		return -1;
	res[rec->i] = *st;
	got[rec->i] = 1;
	return 0;
}

/* Parent side: every record until EOF or the deadline. */
static void
read_recs(int rfd, size_t n, unsigned char *got, struct dstatus *res,
    pid_t pid)
{
	struct store_rec	 rec;
	size_t			 have = 0;
	long long		 deadline = clock_ms() + STORE_TIMEOUT_MS;

	for (;;) {
		struct pollfd pfd = { rfd, POLLIN, 0 };
		long long left = deadline - clock_ms();
		ssize_t r;

		if (left <= 0) {
			kill(pid, SIGKILL);
			return;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) <= 0)
			continue;
		r = read(rfd, (char *)&rec + have, sizeof(rec) - have);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		if ((have += (size_t)r) < sizeof(rec))
			continue;
		have = 0;
		if (take_rec(&rec, n, got, res) == -1) {
			log_error("LMTP session process sent a bad record");
			kill(pid, SIGKILL);
			return;
		}
	}
}

void
store_deliver(struct job *j, const char *const *user, size_t n,
    struct dstatus *res)
{
	unsigned char	*got = xcalloc(n, 1);
	pid_t		 pid;
	int		 p[2], status;

	if (pipe2(p, O_CLOEXEC) == -1)
		pid = -1;
	else if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
	}
	if (pid == 0) {
		close(p[0]);
		child_session(j, user, n, p[1]);
	}
	if (pid > 0) {
		close(p[1]);
		read_recs(p[0], n, got, res, pid);
		close(p[0]);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < n; i++)
		if (!got[i])
			setres(&res[i], DS_DEFER, "4.3.0 LMTP session to %s "
			    "failed: %s", store.name, pid == -1 ?
			    strerror(errno) : "no answer");
	free(got);
}
