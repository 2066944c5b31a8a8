/*
 * master: binds the listeners, creates the queue tree, spawns every
 * service and keeps it running. Root, but never reads network input:
 * it only accepts on its own control socket in private/ (user-only).
 * In the queue it writes only in root's pid/, by *at() calls; workers
 * are dropped to user/group before exec (local keeps root).
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "master.h"
#include "proto.h"
#include "qfile.h"
#include "svc.h"
#include "transport.h"

#define MAX_SERVICES	(CONF_MAX_LISTENERS + 6 + TRANSPORT_MAX)
#define MAX_FDS		CHILD_MAX_FDS
#define STOP_GRACE	30	/* seconds */
#define STARTUP_WAIT_MS	500	/* alive this long: started */
#define STATUS_MAX	65536	/* pid/status: every line fits */
#define MAX_POLL	(3 + MAX_SERVICES * (MAX_PROCS + MAX_FDS))

static struct conf	 cf;
static const char	*conf_file;
static char		 conf_abs[PATH_MAX];
static struct service	 svc[MAX_SERVICES];
static int		 nsvc;
static pid_t		 old_pids[1024];	/* previous generation, draining */
static int		 nold;
static uid_t		 run_uid;
static gid_t		 run_gid;
static int		 is_root;
static int		 sigpipe_fd[2];
static int		 ctl_fd = -1;
static time_t		 started_at;
static int		 stopping;
static pid_t		 master_pid;
static int		 starting;		/* in startup_check() */
static char		 startup_fail[768];	/* the first death then */
static pid_t		 startup_dead;		/* its pid */
static int		 stderr_pipe[2] = { -1, -1 };	/* stderr_relay() */
static int		 status_dirty;		/* processes came or went */
static struct service	*pickup;		/* pickup_check() */

static struct qtree	 qt = { -1, -1, -1, -1, -1 };

static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int e = errno;

	(void)!write(sigpipe_fd[1], &c, 1);
	errno = e;
}

static struct service *
svc_add(const char *name, const char *prog, unsigned count)
{
	struct service *s = &svc[nsvc++];

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->prog, sizeof(s->prog), "%s", prog);
	s->count = count > MAX_PROCS ? MAX_PROCS : count;
	s->drop = 1;
	for (unsigned k = 0; k < MAX_PROCS; k++)
		s->proc[k].status_fd = -1;
	return s;
}

/* A pool that starts at min processes and grows with load up to its
 * count; idle processes past max_idle retire (ondemand.c). */
static void
svc_ondemand(struct service *s, unsigned min)
{
	s->ondemand = 1;
	s->min = min;
}

/* One more UNIX socket (under queue_dir) for service s. */
static int
svc_listen_unix(struct service *s, const char *rel, mode_t mode, char *err,
    size_t errlen)
{
	int fd, dfd;
	const char *name;

	if (s->nfds >= MAX_FDS) {
		snprintf(err, errlen, "%s: too many sockets", s->name);
		return -1;
	}
	if (strncmp(rel, QDIR_PUBLIC "/", strlen(QDIR_PUBLIC "/")) == 0) {
		dfd = qt.public;
		name = rel + strlen(QDIR_PUBLIC "/");
	} else if (strncmp(rel, QDIR_PRIVATE "/",
	    strlen(QDIR_PRIVATE "/")) == 0) {
		dfd = qt.private;
		name = rel + strlen(QDIR_PRIVATE "/");
	} else {
		snprintf(err, errlen, "%s: socket %s outside private/ and "
		    "public/", s->name, rel);
		return -1;
	}
	if ((fd = queue_socket_bind(dfd, rel, name, mode, run_uid, run_gid, err,
	    errlen)) == -1)
		return -1;
	s->fds[s->nfds++] = fd;
	return 0;
}

static int
setup_listeners(char *err, size_t errlen)
{
	for (size_t i = 0; i < cf.nlisteners; i++) {
		const struct conf_smtpd *l = &cf.listener[i];
		struct service *s = svc_add(l->name, "smtpd", 1);

		for (size_t k = 0; k < l->nlisten; k++) {
			int n = bind_tcp(l->listen[k], s->fds + s->nfds,
			    MAX_FDS - s->nfds, err, errlen);
			if (n == -1)
				return -1;
			s->nfds += n;
		}
	}
	return 0;
}

/* A service per row of the transport table (conf/transport.c). */
static int
setup_transports(char *err, size_t errlen)
{
	for (size_t i = 0; i < transport_count(); i++) {
		const struct transport *t = transport_at(i);
		struct service *s = svc_add(t->name, t->program,
		    transport_processes(t, &cf));

		s->transport = t;
		s->drop = !t->keep_root;	/* local: each recipient */
		/* qmgr's first delivery finds one ready, as before */
		svc_ondemand(s, t->role == TROLE_NAMED ? 0 : 1);
		if (svc_listen_unix(s, t->socket, 0600, err, errlen) == -1)
			return -1;
	}
	return 0;
}

static int
setup_services(char *err, size_t errlen)
{
	struct service *s;

	if (setup_listeners(err, errlen) == -1)
		return -1;
	/* Local submission has its own pool: it cannot starve smtpd's. */
	s = svc_add("cleanup", "cleanup", cf.cleanup_processes);
	svc_ondemand(s, 1);	/* smtpd's first message waits for none */
	if (svc_listen_unix(s, QDIR_PRIVATE "/cleanup", 0600, err, errlen))
		return -1;
	s = svc_add("submit", "cleanup", cf.submit_processes);
	svc_ondemand(s, 0);
	if (svc_listen_unix(s, QDIR_PUBLIC "/cleanup", 0666, err, errlen))
		return -1;
	/* maildrop/ to cleanup, on demand (pickup_check); public/pickup:
	 * postdrop's poke */
	s = svc_add("pickup", "cleanup", 1);
	svc_ondemand(s, 0);
	pickup = s;
	if (svc_listen_unix(s, QDIR_PUBLIC "/pickup", 0666, err, errlen))
		return -1;
	/* mailq for any local user, in processes of its own: a slow
	 * client never holds up qmgr */
	s = svc_add("showq", "showq", 2);
	svc_ondemand(s, 0);
	if (svc_listen_unix(s, QDIR_PUBLIC "/showq", 0666, err, errlen))
		return -1;
	s = svc_add("qmgr", "qmgr", 1);
	s->single = 1;
	if (svc_listen_unix(s, QDIR_PRIVATE "/qmgr", 0600, err, errlen) == -1 ||
	    setup_transports(err, errlen) == -1)
		return -1;
	/* The per-client-IP counters all smtpds share; a reload keeps them. */
	s = svc_add("anvil", "anvil", 1);
	s->keep = 1;
	if (svc_listen_unix(s, QDIR_PRIVATE "/anvil", 0600, err, errlen) == -1)
		return -1;
	if ((ctl_fd = queue_socket_bind(qt.private, QDIR_PRIVATE "/master",
	    "master", 0600, run_uid, run_gid, err, errlen)) == -1)
		return -1;
	return 0;
}

static void
spawn(struct service *s, int slot)
{
	int st[2] = { -1, -1 };
	pid_t pid;

	/* A pooled process tells us idle or busy on a pipe of its own. */
	if (s->ondemand && pipe2(st, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_error("pipe for %s: %s", s->name, strerror(errno));
		return;
	}
	if ((pid = fork()) == -1) {
		log_error("fork for %s: %s", s->name, strerror(errno));
		if (st[0] != -1) {
			close(st[0]);
			close(st[1]);
		}
		return;
	}
	if (pid == 0) {
		struct child_spec cs = {
			.name = s->name, .prog = s->prog,
			.libexec = libexec_dir(), .fds = s->fds,
			.nfds = s->nfds, .drop = is_root && s->drop,
			.uid = run_uid, .gid = run_gid, .queue_fd = qt.root,
			.master = master_pid, .conf = &cf,
			.stderr_fd = stderr_pipe[1], .status_fd = st[1],
			.conf_file = conf_file,
		};
		child_exec(&cs);
	}
	if (st[1] != -1)
		close(st[1]);
	od_forget(&s->proc[slot]);
	s->proc[slot].status_fd = st[0];
	s->proc[slot].idle_since = time(NULL);
	s->proc[slot].pid = pid;
	s->proc[slot].started = time(NULL);
	status_dirty = 1;
	log_debug("started %s (pid %ld)", s->name, (long)pid);
}

static int
svc_alive(const struct service *s)
{
	int n = 0;

	for (unsigned i = 0; i < MAX_PROCS; i++)
		if (s->proc[i].pid > 0)
			n++;
	return n;
}

static int
old_alive_prog(const char *prog)
{
	/* A single-instance service waits for its old generation. */
	(void)prog;
	return nold > 0;
}

static void
fill(void)
{
	time_t now = time(NULL);

	if (stopping)
		return;
	for (int i = 0; i < nsvc; i++) {
		struct service *s = &svc[i];
		if (s->hold_until > now)
			continue;
		if (s->single && (svc_alive(s) > 0 || old_alive_prog(s->prog)))
			continue;
		if (s->ondemand) {
			struct pool_view v = od_view(s);
			unsigned n = pool_spawn(&v);

			for (unsigned k = 0; k < MAX_PROCS && n > 0; k++)
				if (s->proc[k].pid <= 0) {
					spawn(s, (int)k);
					n--;
				}
			s->pending = POOL_NONE;
			continue;
		}
		for (unsigned k = 0; k < s->count; k++)
			if (s->proc[k].pid <= 0)
				spawn(s, (int)k);
	}
}

/*
 * pickup runs on demand: one starts when maildrop/ holds a file (postdrop
 * kept it while postern was down) and none runs, at start and at each
 * tick; postdrop's poke on public/pickup starts one too (ondemand.c).
 * Once started it serves as before and retires after max_idle.
 */
static void
pickup_check(void)
{
	if (pickup != NULL && svc_alive(pickup) == 0 &&
	    pickup->pending == POOL_NONE && qtree_maildrop_waiting(&qt))
		pickup->pending = POOL_WAITING;
}

/* One whole line onto text[*len..size); dropped when it does not fit. */
static void
status_line(char *text, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
status_line(char *text, size_t size, size_t *len, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line) && *len + (size_t)n < size) {
		memcpy(text + *len, line, (size_t)n);
		*len += (size_t)n;
	}
}

/* The lines of pid/status (docs/internals.md) into text; its length. */
static size_t
status_text(char *text, size_t size)
{
	size_t len = 0;

	status_line(text, size, &len, "started=%lld\nmaster %ld\n",
	    (long long)started_at, (long)master_pid);
	for (int i = 0; i < nsvc; i++) {
		const struct service *s = &svc[i];
		status_line(text, size, &len, "service %s %d\nrestarts %s "
		    "%lu\n", s->name, svc_alive(s), s->name, s->restarts);
		for (unsigned k = 0; k < MAX_PROCS; k++)
			if (s->proc[k].pid > 0)
				status_line(text, size, &len, "proc %s %ld "
				    "%lld\n", s->name, (long)s->proc[k].pid,
				    (long long)s->proc[k].started);
	}
	return len;
}

/* pid/status, written whole then renamed: only in pid/, root's. */
static void
write_status(void)
{
	static char text[STATUS_MAX];
	size_t len = status_text(text, sizeof(text));
	int fd;

	(void)unlinkat(qt.pid, "status.tmp", 0);
	fd = openat(qt.pid, "status.tmp", O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		(void)unlinkat(qt.pid, "status.tmp", 0);
		return;
	}
	close(fd);
	(void)renameat(qt.pid, "status.tmp", qt.pid, "status");
}

static void
reap(void)
{
	pid_t pid;
	int status;
	char how[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int found = 0;
		for (int i = 0; i < nold; i++)
			if (old_pids[i] == pid) {
				old_pids[i] = old_pids[--nold];
				found = 1;
				break;
			}
		for (int i = 0; i < nsvc && !found; i++) {
			struct service *s = &svc[i];
			for (unsigned k = 0; k < MAX_PROCS; k++) {
				if (s->proc[k].pid != pid)
					continue;
				found = 1;
				s->proc[k].pid = 0;
				status_dirty = 1;
				if (stopping || s->proc[k].retiring) {
					if (s->proc[k].retiring)
						log_debug("%s (pid %ld) "
						    "retired", s->name,
						    (long)pid);
					od_forget(&s->proc[k]);
					break;
				}
				od_forget(&s->proc[k]);
				describe_exit(status, how, sizeof(how));
				if (starting && startup_fail[0] == '\0') {
					snprintf(startup_fail,
					    sizeof(startup_fail), "service %s "
					    "died during start-up: %s",
					    s->name, how);
					startup_dead = pid;
				}
				s->restarts++;
				log_warn("service %s (pid %ld) died: %s; restarting",
				    s->name, (long)pid, how);
				if (time(NULL) - s->proc[k].started < 2) {
					unsigned d = 1u << (s->fails < 6 ? s->fails : 6);
					if (d > 60)
						d = 60;
					s->fails++;
					s->hold_until = time(NULL) + d;
					log_warn("service %s is dying right after start "
					    "(%u times); waiting %u s", s->name,
					    s->fails, d);
				} else
					s->fails = 0;
				break;
			}
		}
	}
}

/* Move the current processes of s (or all services) to the old list
 * and ask them to finish; fill() starts new ones. */
static void
retire(struct service *only, int sig)
{
	for (int i = 0; i < nsvc; i++) {
		struct service *s = &svc[i];
		if (only && s != only)
			continue;
		if (!only && sig == SIGUSR1 && s->keep)
			continue;	/* reload: anvil keeps its counters */
		for (unsigned k = 0; k < MAX_PROCS; k++) {
			if (s->proc[k].pid <= 0)
				continue;
			kill(s->proc[k].pid, sig);
			if (nold < (int)(sizeof(old_pids) / sizeof(old_pids[0])))
				old_pids[nold++] = s->proc[k].pid;
			s->proc[k].pid = 0;
			od_forget(&s->proc[k]);
			status_dirty = 1;
		}
		s->fails = 0;
		s->hold_until = 0;
	}
}

static void
reload(void)
{
	struct conf nc;
	struct conf_errors errs = { 0 };

	memset(&nc, 0, sizeof(nc));
	if (conf_load(conf_file, &nc, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("%s", errs.msg[i]);
		log_error("reload refused: the configuration has errors; "
		    "still running with the old one");
		conf_errors_free(&errs);
		conf_free(&nc);
		return;
	}
	conf_errors_free(&errs);
	/* Process counts may change; sockets stay as they are. */
	for (int i = 0; i < nsvc; i++) {
		struct service *s = &svc[i];
		unsigned n = s->count;
		if (s->transport != NULL)
			n = transport_processes(s->transport, &nc);
		else if (strcmp(s->name, "cleanup") == 0)
			n = nc.cleanup_processes;
		else if (strcmp(s->name, "submit") == 0)
			n = nc.submit_processes;
		s->count = n > MAX_PROCS ? MAX_PROCS : n;
	}
	conf_free(&cf);
	cf = nc;
	log_info("reload: configuration %s re-read; restarting workers",
	    conf_file);
	retire(NULL, SIGUSR1);
}

/* restart SERVICE: every generation of it (or every smtpd) gets SIGUSR1. */
static int
restart_service(const char *name, char *text, size_t len)
{
	int n = 0;

	for (int i = 0; i < nsvc; i++) {
		int is_smtpd = strcmp(svc[i].prog, "smtpd") == 0;
		if (strcmp(svc[i].name, name) == 0 ||
		    (is_smtpd && strcmp(name, "smtpd") == 0)) {
			retire(&svc[i], SIGUSR1);
			n++;
		}
	}
	if (n == 0) {
		snprintf(text, len, "no service named %s", name);
		return -1;
	}
	log_info("restart of %s requested", name);
	snprintf(text, len, "%s restarted", name);
	return 0;
}

/* One request on private/master (docs/internals.md). */
static void
control(void)
{
	struct ipc_msg im;
	struct master_request mr;
	struct proto_reply r = { 0, 0, NULL, NULL };
	char text[DSTATUS_TEXT] = "unknown request";
	int fd = accept4(ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	struct ucred cr;
	socklen_t crlen = sizeof(cr);

	if (fd == -1)
		return;
	/* Only the admin (master's own uid: root when master is root) may
	 * restart services; the socket is in the user's private/, so a
	 * compromised worker could otherwise connect. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1 ||
	    cr.uid != geteuid()) {
		log_warn("private/master: request from uid %ld refused",
		    crlen == sizeof(cr) ? (long)cr.uid : -1L);
		close(fd);
		return;
	}
	ipc_msg_init(&im);
	if (ipc_recv(fd, &im, 2000) == -1 || ipc_get(&im, ATTR_REQ) == NULL)
		goto out;
	if (master_request_decode(&im, &mr, text, sizeof(text)) == -1)
		;	/* text says why */
	else if (mr.req == REQ_RESTART)
		r.ok = restart_service(mr.service, text, sizeof(text)) == 0;
	else	/* REQ_MASTER_STATUS: not served yet, pid/status has it */
		snprintf(text, sizeof(text), "unknown request");
	r.text = text;
	(void)proto_reply_send(fd, &r, 2000);
out:
	ipc_msg_free(&im);
	close(fd);
}

static void
stop_all(void)
{
	time_t deadline = time(NULL) + STOP_GRACE;

	stopping = 1;
	log_info("stopping: waiting up to %d s for workers to finish",
	    STOP_GRACE);
	/* No new connections: the listeners close with master's copies and
	 * the workers stop accepting on SIGTERM. */
	for (int i = 0; i < nsvc; i++)
		if (strcmp(svc[i].prog, "smtpd") == 0)
			for (int k = 0; k < svc[i].nfds; k++)
				close(svc[i].fds[k]);
	for (int i = 0; i < nold; i++)	/* draining since a reload */
		kill(old_pids[i], SIGTERM);
	retire(NULL, SIGTERM);
	while (nold > 0 && time(NULL) < deadline) {
		usleep(50000);
		reap();
	}
	if (nold > 0) {
		log_warn("%d worker(s) still running after %d s: killing",
		    nold, STOP_GRACE);
		for (int i = 0; i < nold; i++)
			kill(old_pids[i], SIGKILL);
		while (nold > 0) {
			usleep(20000);
			reap();
		}
	}
}

/* pid/master.pid, opened in root's pid/ without following a link,
 * flock'ed: a second master stops here. */
static int
lock_pidfile(int *fdp, char *err, size_t errlen)
{
	char pid[32];
	struct stat st;
	int fd;

	/* A symlink or a hard link (planted when an older version gave
	 * pid/ to the user), or a file root does not own, goes: only a
	 * regular file of root's with one name can be a running master's,
	 * and root must not write through a link to another file. */
	if (fstatat(qt.pid, "master.pid", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (is_root && st.st_uid != 0)))
		(void)unlinkat(qt.pid, "master.pid", 0);
	fd = openat(qt.pid, "master.pid", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd == -1) {
		snprintf(err, errlen, "open %s/%s/master.pid: %s", cf.queue_dir,
		    QDIR_PID, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "postern is already running (pid %s)", pid);
		close(fd);
		return -1;
	}
	if (fchmod(fd, 0644) == -1 || (is_root && fchown(fd, 0, 0) == -1)) {
		snprintf(err, errlen, "master.pid: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

/* Every program a service runs is there and executable (checked as
 * root, who opens it before each drop): start fails here, with why. */
static int
programs_check(char *err, size_t errlen)
{
	char path[512];

	for (int i = 0; i < nsvc; i++) {
		snprintf(path, sizeof(path), "%s/%s", libexec_dir(),
		    svc[i].prog);
		if (access(path, X_OK) == -1) {
			snprintf(err, errlen, "service %s: cannot run %s: %s",
			    svc[i].name, path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Configuration, identity, queue tree, pid lock and sockets; each
 * problem is printed for the admin. 0 or -1. */
static int
master_prepare(const char *file, int *lockfd)
{
	struct conf_errors errs = { 0 };
	char err[600];

	/* Workers run in queue_dir: they get the file's absolute name. */
	if (realpath(file, conf_abs) != NULL)
		file = conf_abs;
	conf_file = file;
	if (conf_load(file, &cf, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "postern: %s\n", errs.msg[i]);
		fprintf(stderr, "postern: not starting: fix the configuration\n");
		return -1;
	}
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "postern: %s\n", errs.msg[i]);
	conf_errors_free(&errs);
	is_root = geteuid() == 0;
	if (run_identity(&cf, &run_uid, &run_gid, err, sizeof(err)) == -1 ||
	    queue_tree_create(&cf, run_uid, run_gid, &qt, err,
	    sizeof(err)) == -1 ||
	    lock_pidfile(lockfd, err, sizeof(err)) == -1 ||
	    setup_services(err, sizeof(err)) == -1 ||
	    programs_check(err, sizeof(err)) == -1) {
		fprintf(stderr, "postern: %s\n", err);
		return -1;
	}
	return 0;
}

/*
 * Go to the background. Returns -1 in the daemon, which tells the CLI
 * it is up by writing to *ready_w; else the exit status of the CLI
 * process (0 once the daemon is up).
 */
static int
detach(int *ready_w)
{
	int ready[2], nul;
	pid_t pid;
	char why[512];
	size_t len = 0;
	ssize_t n;

	if (pipe2(ready, O_CLOEXEC) == -1) {
		perror("postern: pipe");
		return 1;
	}
	if ((pid = fork()) == -1) {
		perror("postern: fork");
		return 1;
	}
	if (pid > 0) {
		close(ready[1]);
		while ((n = read(ready[0], why + len,
		    sizeof(why) - 1 - len)) > 0)
			len += (size_t)n;
		why[len] = '\0';
		if (len > 0 && why[0] == 'r')
			return 0;
		if (len > 1)
			fprintf(stderr, "postern: not started: %s\n", why + 1);
		else
			fprintf(stderr, "postern: master failed to start; see "
			    "the log (%s)\n", cf.log);
		return 1;
	}
	close(ready[0]);
	*ready_w = ready[1];
	setsid();
	if ((nul = open("/dev/null", O_RDWR)) != -1) {
		dup2(nul, 0);
		dup2(nul, 1);
		if (strcmp(cf.log, "stderr") != 0)
			dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	return -1;
}

static int
master_log_open(void)
{
	enum log_level lvl = LOG_LVL_INFO;

	if (log_level_parse(cf.log_level, &lvl) == -1)
		lvl = LOG_LVL_INFO;
	if (log_open("master", cf.log, lvl) == -1) {
		fprintf(stderr, "postern: cannot open log %s: %s\n", cf.log,
		    strerror(errno));
		return -1;
	}
	if (is_root && strcmp(cf.log, "syslog") != 0 &&
	    strcmp(cf.log, "stderr") != 0) {
		/* The workers append too; given to them by fd, never by
		 * path (a symlink is not followed). */
		int fd = open(cf.log, O_WRONLY | O_APPEND | O_NOFOLLOW |
		    O_NOCTTY | O_CLOEXEC);
		struct stat st;

		if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    fchown(fd, run_uid, run_gid) == -1)
			log_warn("cannot give %s to user %s: %s", cf.log,
			    cf.user, fd == -1 ? strerror(errno) :
			    "not a regular file");
		if (fd != -1)
			close(fd);
	}
	return 0;
}

static void
signals_init(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * log = stderr on a terminal: the workers' stderr is a pipe whose lines
 * master copies to its own, so that no worker holds the terminal.
 */
static void
stderr_relay_init(void)
{
	if (strcmp(cf.log, "stderr") != 0 || !isatty(2))
		return;
	if (pipe2(stderr_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		stderr_pipe[0] = stderr_pipe[1] = -1;
		log_warn("pipe: %s; the workers' log is lost", strerror(errno));
	}
}

static void
stderr_relay(void)
{
	char b[4096];
	ssize_t n;

	while ((n = read(stderr_pipe[0], b, sizeof(b))) > 0)
		(void)!write(2, b, (size_t)n);
}

/* Supervise until SIGTERM/SIGINT. */
static void
master_loop(void)
{
	static struct pollfd pfd[MAX_POLL];
	static struct od_ref ref[MAX_POLL];
	time_t tick = 0;

	for (;;) {
		unsigned char sig;
		int stop = 0, hup = 0, n;

		pfd[0] = (struct pollfd){ .fd = sigpipe_fd[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = ctl_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = stderr_pipe[0],
		    .events = POLLIN };
		n = od_pollset(svc, nsvc, pfd + 3, ref, MAX_POLL - 3);
		if (poll(pfd, (nfds_t)n + 3, 1000) > 0) {
			od_events(pfd + 3, ref, n);
			if (pfd[1].revents & POLLIN)
				control();
			if (pfd[2].revents & POLLIN)
				stderr_relay();
			while (read(sigpipe_fd[0], &sig, 1) == 1) {
				if (sig == SIGTERM || sig == SIGINT)
					stop = 1;
				else if (sig == SIGHUP)
					hup = 1;
			}
		}
		reap();
		if (stop)
			return;
		if (hup) {
			notify_state("RELOADING=1");
			reload();
			notify_state("READY=1");
		}
		if (time(NULL) != tick) {	/* once a second */
			tick = time(NULL);
			od_tick(svc, nsvc, tick, (time_t)cf.max_idle);
			pickup_check();
			status_dirty = 1;
		}
		fill();
		if (status_dirty) {	/* as the processes change */
			write_status();
			status_dirty = 0;
		}
	}
}

/*
 * The last error the dead worker pid logged (its cause), appended to
 * startup_fail; only from a log file (not syslog or stderr).
 */
static void
startup_cause(void)
{
	char tail[8192], tag[32], *p, *hit = NULL, *end;
	struct stat st;
	ssize_t n;
	int fd;

	if (cf.log[0] != '/' || startup_dead <= 0 ||
	    (fd = open(cf.log, O_RDONLY | O_NOFOLLOW | O_NOCTTY |
	    O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (n = pread(fd, tail, sizeof(tail) - 1, st.st_size >
	    (off_t)sizeof(tail) - 1 ? st.st_size - (off_t)sizeof(tail) + 1 :
	    0)) <= 0) {
		close(fd);
		return;
	}
	close(fd);
	tail[n] = '\0';
	snprintf(tag, sizeof(tag), "[%ld]: error: ", (long)startup_dead);
	for (p = tail; (p = strstr(p, tag)) != NULL; p++)
		hit = p + strlen(tag);
	if (hit == NULL)
		return;
	if ((end = strchr(hit, '\n')) != NULL)
		*end = '\0';
	(void)strlcat(startup_fail, ": ", sizeof(startup_fail));
	(void)strlcat(startup_fail, hit, sizeof(startup_fail));
}

/*
 * Start-up health: a service that dies in its first moments (cannot
 * exec, bad config) fails `postern start` with the cause, which goes
 * to the waiting CLI on ready_w (or stderr in the foreground).
 */
static int
startup_check(int ready_w, int lockfd)
{
	struct pollfd pfd = { .fd = sigpipe_fd[0], .events = POLLIN };
	struct timespec t0, t;
	long ms = 0;
	char msg[sizeof(startup_fail) + 1];

	starting = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms < STARTUP_WAIT_MS && startup_fail[0] == '\0') {
		(void)poll(&pfd, 1, (int)(STARTUP_WAIT_MS - ms));
		reap();
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
	}
	starting = 0;
	if (startup_fail[0] == '\0') {
		if (ready_w != -1) {
			(void)!write(ready_w, "r", 1);
			close(ready_w);
		}
		return 0;
	}
	startup_cause();
	log_error("not starting: %s", startup_fail);
	snprintf(msg, sizeof(msg), "!%s", startup_fail);
	if (ready_w != -1)
		(void)!write(ready_w, msg, strlen(msg));
	else
		fprintf(stderr, "postern: not starting: %s\n", startup_fail);
	stop_all();
	(void)unlinkat(qt.pid, "status", 0);
	if (ftruncate(lockfd, 0) == -1)
		log_warn("cannot clear the pid file");
	return -1;
}

int
master_start(const char *file, int foreground)
{
	int lockfd, ready_w = -1, st;

	notify_init();
	if (master_prepare(file, &lockfd) == -1)
		return 1;
	if (!foreground && (st = detach(&ready_w)) != -1)
		return st;
	if (master_log_open() == -1)
		return 1;
	write_pid(lockfd);
	master_pid = getpid();
	started_at = time(NULL);
	signals_init();
	stderr_relay_init();
	log_info("daemon started -- version 0.1, configuration %s", conf_file);
	pickup_check();
	fill();
	write_status();
	if (startup_check(ready_w, lockfd) == -1)
		return 1;
	notify_state("READY=1");
	master_loop();
	notify_state("STOPPING=1");
	stop_all();
	(void)unlinkat(qt.pid, "status", 0);
	if (ftruncate(lockfd, 0) == -1)
		log_warn("cannot clear the pid file");
	log_info("terminating on signal");
	return 0;
}
