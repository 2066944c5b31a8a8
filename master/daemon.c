/*
 * daemon: master's stateless plumbing: the identity workers run as, the
 * TCP listeners it binds, how a child's death reads, the pid file's
 * contents. Nothing here keeps state or reads network input.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"

int
run_identity(const struct conf *c, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0) {
		*uid = geteuid();
		*gid = getegid();
		return 0;
	}
	if ((pw = getpwnam(c->user)) == NULL) {
		snprintf(err, errlen, "user \"%s\" does not exist (set user = "
		    "in %s)", c->user, c->file ? c->file : "postern.conf");
		return -1;
	}
	if ((gr = getgrnam(c->group)) == NULL) {
		snprintf(err, errlen, "group \"%s\" does not exist", c->group);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user must not be root");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = gr->gr_gid;
	return 0;
}

/* "host:port", "[v6]:port", "*:port". */
int
bind_tcp(const char *spec, int *out, int max, char *err, size_t errlen)
{
	char host[256], *port;
	struct addrinfo hints, *res, *ai;
	int n = 0, r;
	const char *h;

	snprintf(host, sizeof(host), "%s", spec);
	if ((port = strrchr(host, ':')) == NULL) {
		snprintf(err, errlen, "listen %s: no port", spec);
		return -1;
	}
	*port++ = '\0';
	h = host;
	if (host[0] == '[') {
		size_t l = strlen(host);
		if (l < 2 || host[l - 1] != ']') {
			snprintf(err, errlen, "listen %s: bad address", spec);
			return -1;
		}
		host[l - 1] = '\0';
		h = host + 1;
	}
	if (strcmp(h, "*") == 0 || *h == '\0')
		h = "0.0.0.0";
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(h, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen %s: %s", spec, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		int one = 1;
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, 512) == -1) {
			snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
			close(fd);
			freeaddrinfo(res);
			return -1;
		}
		out[n++] = fd;
		break;		/* one socket per listen entry */
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "listen %s: no usable address", spec);
		return -1;
	}
	return n;
}

void
describe_exit(int status, char *out, size_t len)
{
	if (WIFEXITED(status))
		snprintf(out, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, len, "signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(out, len, "status %d", status);
}

/*
 * The daemon's pid into master.pid, and a POSIX write lock on it: that
 * lock's holder (F_GETLK) is how the CLI knows the pid is really our
 * master's. Only master opens this file, so no close drops the lock.
 */
void
write_pid(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	if (fcntl(fd, F_SETLK, &fl) == -1)
		log_warn("cannot lock the pid file: %s", strerror(errno));
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write the pid file: %s", strerror(errno));
}
