/*
 * confine: a worker's own hardening after exec (confine.h): not dumpable,
 * no core, no new privileges, and Landlock through the raw syscalls (the
 * C library has no wrappers). Never fails start-up for a missing kernel
 * feature; never grants execute.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "confine.h"
#include "log.h"

/* Rights and fields newer than the oldest headers we build with. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL		(1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6 (the kernel takes a longer
 * struct than it knows when the unknown tail is zero). */
struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};

#define LL_FILE_RO	(LANDLOCK_ACCESS_FS_READ_FILE)
#define LL_DIR_RO	(LL_FILE_RO | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_FILE_RW	(LL_FILE_RO | LANDLOCK_ACCESS_FS_WRITE_FILE | \
			 LANDLOCK_ACCESS_FS_TRUNCATE)
#define LL_DIR_RW	(LL_DIR_RO | LL_FILE_RW | \
			 LANDLOCK_ACCESS_FS_REMOVE_FILE | \
			 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER)

void
confine_process(const char *prog, int keeps_root)
{
	struct rlimit rl = { 0, 0 };

	if (!keeps_root && (getuid() == 0 || geteuid() == 0))
		fatal("%s runs as root: it must run as the unprivileged user",
		    prog);
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit RLIMIT_CORE: %s", strerror(errno));
	/* Every worker shares one uid: without this, a compromised worker
	 * could ptrace another and read its keys and SASL state. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl PR_SET_DUMPABLE: %s", strerror(errno));
	if (!keeps_root && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
}

/* The rights this kernel's Landlock knows, by ABI version. */
static uint64_t
ll_handled(int abi)
{
	uint64_t fs = LANDLOCK_ACCESS_FS_EXECUTE |
	    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
	    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
	    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
	    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
	    LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

/* Add one rule; a path that does not exist is no error. */
static int
ll_add(int rfd, const struct confine_rule *r, uint64_t handled)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;
	int fd, saved;

	if ((fd = open(r->path, O_PATH | O_CLOEXEC)) == -1)
		return errno == ENOENT || errno == ENOTDIR ||
		    errno == EACCES || errno == ELOOP ? 0 : -1;
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	memset(&pb, 0, sizeof(pb));
	pb.parent_fd = fd;
	if (S_ISDIR(st.st_mode))
		pb.allowed_access = r->access == CONFINE_RW ? LL_DIR_RW :
		    LL_DIR_RO;
	else
		pb.allowed_access = r->access == CONFINE_RW ? LL_FILE_RW :
		    LL_FILE_RO;
	pb.allowed_access &= handled;
	if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

int
confine_landlock(const struct confine_rule *rules, unsigned n)
{
	struct ll_ruleset_attr attr;
	int abi, rfd;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		log_warn("Landlock unavailable (%s): files not confined",
		    strerror(errno));
		return 0;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = ll_handled(abi);
	if (abi >= 6)
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		    LANDLOCK_SCOPE_SIGNAL;
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    abi >= 6 ? sizeof(attr) : sizeof(uint64_t), 0);
	if (rfd == -1) {
		log_error("landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (rules[i].path == NULL || rules[i].path[0] != '/')
			continue;
		if (ll_add(rfd, &rules[i], attr.handled_access_fs) == -1) {
			log_error("landlock rule %s: %s", rules[i].path,
			    strerror(errno));
			close(rfd);
			return -1;
		}
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) == -1) {
		log_error("landlock_restrict_self: %s", strerror(errno));
		close(rfd);
		return -1;
	}
	close(rfd);
	log_debug("Landlock ABI %d: %u rule(s) in force", abi, n);
	return 1;
}
