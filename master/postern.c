/*
 * postern: the one binary admins type. Dispatches on argv[0] (sendmail,
 * mailq, newaliases) and on the subcommand; start runs the master.
 * Talks to a running master only through its pid file, signals and
 * its control socket.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "map.h"
#include "master.h"
#include "proto.h"
#include "qfile.h"
#include "route.h"
#include "tools/tools.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: postern [-c FILE] COMMAND [ARGS]\n"
	    "commands:\n"
	    "  start [--foreground]   start the mail system\n"
	    "  stop                   stop it (in-flight work finishes first)\n"
	    "  restart [SERVICE]      restart everything, or one service\n"
	    "  reload                 re-read the configuration and maps\n"
	    "  condrestart            restart only if running\n"
	    "  status [--json]        is it running? (exit 0 yes, 3 no)\n"
	    "  metrics                the status as Prometheus text\n"
	    "  check                  validate the configuration and maps\n"
	    "  queue [--json|show|flush|hold|release|delete|requeue|shape]\n"
	    "  map [-q KEY] FILE      compile a text map to FILE.cdb\n"
	    "  aliases                compile the aliases file\n"
	    "  route ADDRESS...       show how each address would be routed\n"
	    "  import-mc FILE.mc [-o DIR] [--force]\n"
	    "                         translate a sendmail.mc to postern.conf\n");
}

static int
load_conf(const char *file, struct conf *c, int quiet_warnings)
{
	struct conf_errors errs = { 0 };
	int r = conf_load(file, c, &errs);

	for (size_t i = 0; i < errs.n; i++)
		if (r == -1 || !quiet_warnings)
			fprintf(stderr, "postern: %s\n", errs.msg[i]);
	conf_errors_free(&errs);
	return r;
}

/* readlink of /proc/PID/exe without a " (deleted)" (an upgrade). */
static int
exe_of(const char *proc, char *out, size_t len)
{
	ssize_t n = readlink(proc, out, len - 1);
	size_t l;

	if (n <= 0)
		return -1;
	out[n] = '\0';
	l = (size_t)n;
	if (l > 10 && strcmp(out + l - 10, " (deleted)") == 0)
		out[l - 10] = '\0';
	return 0;
}

/*
 * Is pid, named by the pid file fd, this instance's master? It must
 * hold the file's POSIX write lock (master takes it; nobody else can
 * open the root-owned file for writing) and run our program.
 */
static int
master_verify(int fd, pid_t pid, char *why, size_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char proc[64], exe[PATH_MAX], self[PATH_MAX];

	if (fcntl(fd, F_GETLK, &fl) == -1 || fl.l_type != F_WRLCK) {
		snprintf(why, len, "master.pid names pid %ld, but no master "
		    "holds its lock", (long)pid);
		return -1;
	}
	if (fl.l_pid != pid) {
		snprintf(why, len, "master.pid names pid %ld, but its lock is "
		    "held by pid %ld", (long)pid, (long)fl.l_pid);
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/%ld/exe", (long)pid);
	if (exe_of(proc, exe, sizeof(exe)) == -1 ||
	    exe_of("/proc/self/exe", self, sizeof(self)) == -1) {
		snprintf(why, len, "cannot tell what pid %ld runs: %s",
		    (long)pid, strerror(errno));
		return -1;
	}
	if (strcmp(exe, self) != 0) {
		if (snprintf(why, len, "pid %ld in master.pid is not running "
		    "%s", (long)pid, self) < 0)
			why[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * pid of the running master, 0 when none holds the lock, -1 when the
 * pid file cannot be trusted (why says so): never signal that one.
 */
static pid_t
master_pid(const struct conf *c, char *why, size_t len)
{
	char path[512], buf[32];
	ssize_t n;
	int fd;
	pid_t pid = 0;

	snprintf(why, len, "master.pid names no pid");
	snprintf(path, sizeof(path), "%s/%s/master.pid", c->queue_dir, QDIR_PID);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {	/* nobody holds it */
		close(fd);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		pid = (pid_t)atol(buf);
	}
	if (pid > 0 && master_verify(fd, pid, why, len) == -1)
		pid = -1;
	close(fd);
	return pid > 0 ? pid : -1;
}

static int
cmd_status(const char *file, int json, int metrics)
{
	struct conf c;
	pid_t pid;
	char why[256];
	int r;

	if (load_conf(file, &c, 1) == -1)
		return 4;	/* LSB: status unknown */
	pid = master_pid(&c, why, sizeof(why));
	if (pid == -1)		/* running; which pid is not for sure */
		fprintf(stderr, "postern: warning: %s\n", why);
	if (metrics)
		r = metrics_print(&c, pid);
	else if (pid == 0) {
		if (json)
			printf("{\"running\":false}\n");
		else
			printf("postern is not running\n");
		r = 3;
	} else
		r = status_print(&c, pid, json);
	conf_free(&c);
	return r;
}

static int
cmd_stop(const char *file, int quiet)
{
	struct conf c;
	pid_t pid;
	char why[256];

	if (load_conf(file, &c, 1) == -1)
		return 1;
	pid = master_pid(&c, why, sizeof(why));
	if (pid == -1) {
		fprintf(stderr, "postern: not stopping: %s\n", why);
		conf_free(&c);
		return 1;
	}
	if (pid == 0) {
		if (!quiet)
			printf("postern is not running\n");
		conf_free(&c);
		return 0;
	}
	if (kill(pid, SIGTERM) == -1) {
		fprintf(stderr, "postern: kill %ld: %s\n", (long)pid,
		    strerror(errno));
		conf_free(&c);
		return 1;
	}
	for (int i = 0; i < 1200 && master_pid(&c, why, sizeof(why)) != 0; i++)
		usleep(50000);
	if (master_pid(&c, why, sizeof(why)) != 0) {
		fprintf(stderr, "postern: master (pid %ld) did not stop\n",
		    (long)pid);
		conf_free(&c);
		return 1;
	}
	if (!quiet)
		printf("postern stopped\n");
	conf_free(&c);
	return 0;
}

static int
cmd_reload(const char *file)
{
	struct conf c;
	pid_t pid;
	char why[256];

	if (load_conf(file, &c, 0) == -1) {
		fprintf(stderr, "postern: not reloading: fix the configuration\n");
		return 1;
	}
	pid = master_pid(&c, why, sizeof(why));
	conf_free(&c);
	if (pid == -1) {
		fprintf(stderr, "postern: not reloading: %s\n", why);
		return 1;
	}
	if (pid == 0) {
		fprintf(stderr, "postern: not running\n");
		return 7;	/* LSB: program is not running */
	}
	if (kill(pid, SIGHUP) == -1) {
		perror("postern: kill");
		return 1;
	}
	printf("postern: reload signal sent\n");
	return 0;
}

/* Print master's answer to a restart; the exit status. */
static int
restart_answer(const struct ipc_msg *im)
{
	struct proto_reply r;
	char why[128];

	if (proto_reply_decode(im, &r, why, sizeof(why)) == -1) {
		fprintf(stderr, "postern: bad answer from master: %s\n", why);
		return 1;
	}
	fprintf(r.ok ? stdout : stderr, "postern: %s\n",
	    r.text ? r.text : "?");
	proto_reply_free(&r);
	return r.ok ? 0 : 1;
}

static int
cmd_restart_service(const char *file, const char *name)
{
	struct conf c;
	struct ipc_msg im;
	struct master_request mr = { .req = REQ_RESTART };
	struct buf b;
	char path[512];
	int fd, rc = 1;

	if (strlcpy(mr.service, name, sizeof(mr.service)) >=
	    sizeof(mr.service)) {
		fprintf(stderr, "postern: no service named %s\n", name);
		return 1;
	}
	if (load_conf(file, &c, 1) == -1)
		return 1;
	snprintf(path, sizeof(path), "%s/%s/master", c.queue_dir, QDIR_PRIVATE);
	conf_free(&c);
	if ((fd = ipc_connect(path)) == -1) {
		fprintf(stderr, "postern: cannot reach master: %s (is postern "
		    "running?)\n", strerror(errno));
		return 7;
	}
	buf_init(&b, 4096);
	ipc_msg_init(&im);
	if (master_request_encode(&b, &mr) == 0 &&
	    ipc_send(fd, &b, 5000) == 0 && ipc_recv(fd, &im, 5000) == 0)
		rc = restart_answer(&im);
	else
		fprintf(stderr, "postern: no answer from master\n");
	ipc_msg_free(&im);
	buf_free(&b);
	close(fd);
	return rc;
}

static int
check_map(const char *path, int *problems)
{
	char cdb[600];
	struct stat ts, cs;

	if (path == NULL || stat(path, &ts) == -1)
		return 0;
	snprintf(cdb, sizeof(cdb), "%s.cdb", path);
	if (stat(cdb, &cs) == -1) {
		fprintf(stderr, "postern: warning: %s is not compiled; run "
		    "postern map %s\n", path, path);
		(*problems)++;
	} else if (cs.st_mtime < ts.st_mtime) {
		fprintf(stderr, "postern: warning: %s.cdb is older than %s; run "
		    "postern map %s\n", path, path, path);
		(*problems)++;
	}
	return 0;
}

/* The entries of a map's text source, checked as `postern map` would:
 * each bad line is an error naming file:line. 1 if there was one. */
static int
check_entries(const char *path, map_check_fn *fn)
{
	struct conf_errors e = { 0 };
	struct stat st;
	int r;

	if (path == NULL || stat(path, &st) == -1)
		return 0;
	r = map_compile_checked(path, fn, 1, &e);
	for (size_t i = 0; i < e.n; i++)
		fprintf(stderr, "postern: %s\n", e.msg[i]);
	conf_errors_free(&e);
	return r == -1;
}

static int
cmd_check(const char *file)
{
	struct conf c;
	int warn = 0, bad;
	uid_t u;
	gid_t g;
	char err[512];

	if (load_conf(file, &c, 0) == -1)
		return 1;
	if (run_identity(&c, &u, &g, err, sizeof(err)) == -1) {
		fprintf(stderr, "postern: %s: %s\n", c.file, err);
		conf_free(&c);
		return 1;
	}
	check_map(c.access_map, &warn);
	check_map(c.alias_map, &warn);
	check_map(c.virtual_map, &warn);
	check_map(c.transport_map, &warn);
	bad = check_entries(c.virtual_map, route_virtual_check) |
	    check_entries(c.transport_map, route_transport_check);
	conf_free(&c);
	return bad ? 1 : 0;
}

/* postern CMD [ARGS]: one command word after the options. */
static int
run_command(const char *file, const char *cmd, int nrest, char **rest)
{
	if (strcmp(cmd, "start") == 0) {
		int fg = nrest > 0 && strcmp(rest[0], "--foreground") == 0;
		return master_start(file, fg);
	}
	if (strcmp(cmd, "stop") == 0)
		return cmd_stop(file, 0);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(file, nrest > 0 && strcmp(rest[0], "--json") == 0,
		    0);
	if (strcmp(cmd, "metrics") == 0)
		return cmd_status(file, 0, 1);
	if (strcmp(cmd, "reload") == 0)
		return cmd_reload(file);
	if (strcmp(cmd, "restart") == 0) {
		if (nrest > 0)
			return cmd_restart_service(file, rest[0]);
		if (cmd_stop(file, 1) != 0)
			return 1;
		return master_start(file, 0);
	}
	if (strcmp(cmd, "condrestart") == 0) {
		struct conf c;
		if (load_conf(file, &c, 1) == -1)
			return 1;
		char why[256];
		pid_t pid = master_pid(&c, why, sizeof(why));
		conf_free(&c);
		if (pid == 0)
			return 0;
		if (cmd_stop(file, 1) != 0)
			return 1;
		return master_start(file, 0);
	}
	if (strcmp(cmd, "check") == 0)
		return cmd_check(file);
	if (strcmp(cmd, "queue") == 0)
		return queue_main(file, nrest, rest);
	if (strcmp(cmd, "map") == 0)
		return map_main(file, nrest, rest);
	if (strcmp(cmd, "aliases") == 0)
		return aliases_main(file, nrest, rest);
	if (strcmp(cmd, "route") == 0)
		return route_main(file, nrest, rest);
	if (strcmp(cmd, "import-mc") == 0)
		return import_mc_main(file, nrest, rest);
	fprintf(stderr, "postern: unknown command \"%s\"\n", cmd);
	usage();
	return 2;
}

int
main(int argc, char **argv)
{
	const char *prog = basename(argv[0]);
	const char *opt_c = NULL, *file;
	int i = 1;

	/* check, start and reload check the listeners' TLS files in
	 * tlscheck (the workers never do: master checked them): neither
	 * this program nor the resting master maps OpenSSL */
	conf_tls_pair = tls_pair_exec;
	if (strcmp(prog, "sendmail") == 0)
		return sendmail_main(argc, argv);
	if (strcmp(prog, "mailq") == 0)
		return mailq_main(argc, argv);
	if (strcmp(prog, "newaliases") == 0) {
		for (int k = 1; k + 1 < argc; k++)
			if (strcmp(argv[k], "-c") == 0)
				opt_c = argv[k + 1];
		return aliases_main(conf_path(opt_c), argc - 1, argv + 1);
	}
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			opt_c = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	if (i >= argc) {
		usage();
		return 2;
	}
	const char *cmd = argv[i++];
	/* -c is accepted after the command word too. */
	char **rest = argv + i;
	int nrest = argc - i;
	for (int k = 0; k + 1 < nrest; k++)
		if (strcmp(rest[k], "-c") == 0) {
			opt_c = rest[k + 1];
			memmove(rest + k, rest + k + 2,
			    (size_t)(nrest - k - 2) * sizeof(char *));
			nrest -= 2;
			k--;
		}
	file = conf_path(opt_c);

	return run_command(file, cmd, nrest, rest);
}
