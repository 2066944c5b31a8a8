/*
 * tlsexec: the TLS check of the configuration, run in a child: postern
 * (check, start, and the daemon at each reload) forks and execs
 * LIBEXECDIR/tlscheck with a listener's certificate and key and reads
 * its verdict, so that neither master nor the postern binary maps
 * OpenSSL. The child runs as we do (root reads a root-only key), with
 * no fd of ours but /dev/null and the socket the verdict comes on.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "master.h"
#include "proto.h"

#define TLSCHECK_TIMEOUT_MS	10000

const char *
libexec_dir(void)
{
	const char *d = getenv("POSTERN_LIBEXEC");

	return d && *d ? d : LIBEXECDIR;
}

/* In the child: tlscheck with its verdict on sock, nothing of ours but
 * the sanitizers' options (an ASan build). */
static void __attribute__((noreturn))
tlscheck_exec(const char *path, const char *cert, const char *key, int sock)
{
	static const char *pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS",
	    "LSAN_OPTIONS" };
	char *argv[] = { "tlscheck", (char *)cert, (char *)key, NULL };
	char *env[5] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin" };
	char bufs[3][256];
	size_t n = 1;
	const char *v;
	int nul;

	for (size_t i = 0; i < 3; i++)
		if ((v = getenv(pass[i])) != NULL && snprintf(bufs[i],
		    sizeof(bufs[i]), "%s=%s", pass[i], v) < (int)sizeof(bufs[i]))
			env[n++] = bufs[i];

	if ((nul = open("/dev/null", O_RDWR)) == -1 || dup2(nul, 0) == -1 ||
	    dup2(sock, 1) == -1)
		_exit(127);
	closefrom(3);
	execve(path, argv, env);
	fprintf(stderr, "postern: cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* The child's verdict on fd into *v; 0, or -1 (err says why). */
static int
tlscheck_read(int fd, struct tls_verdict *v, char *err, size_t len)
{
	struct ipc_msg	 im;
	int		 r = -1;

	ipc_msg_init(&im);
	if (ipc_recv(fd, &im, TLSCHECK_TIMEOUT_MS) == -1)
		snprintf(err, len, "%s", errno == ECONNRESET ? "no verdict" :
		    strerror(errno));
	else
		r = tls_verdict_decode(&im, v, err, len);
	ipc_msg_free(&im);
	return r;
}

int
tls_pair_exec(const char *cert, const char *key, char *err, size_t len)
{
	struct tls_verdict v;
	char	 path[PATH_MAX], why[256], how[64] = "";
	int	 sv[2], r, st;
	pid_t	 pid;

	if (snprintf(path, sizeof(path), "%s/tlscheck", libexec_dir()) >=
	    (int)sizeof(path) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, len, "cannot check %s: %s", cert,
		    strerror(errno ? errno : ENAMETOOLONG));
		return CONF_TLS_BAD_CERT;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, len, "cannot check %s: fork: %s", cert,
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return CONF_TLS_BAD_CERT;
	}
	if (pid == 0)
		tlscheck_exec(path, cert, key, sv[1]);
	close(sv[1]);
	r = tlscheck_read(sv[0], &v, why, sizeof(why));
	close(sv[0]);
	if (r == -1)		/* it answered, or never will */
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (r == -1) {
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			describe_exit(st, how, sizeof(how));
		snprintf(err, len, "cannot check %s: %s: %s%s%s", cert, path,
		    why, how[0] != '\0' ? ", " : "", how);
		return CONF_TLS_BAD_CERT;
	}
	if (strlcpy(err, v.text, len) >= len)
		err[len - 1] = '\0';
	return v.result;
}
