/*
 * sandbox: smtpd's seccomp filter (libseccomp), loaded once at start-up
 * when every file, key and listener is open. An allow-list of what the
 * event loop, OpenSSL, libunbound and Cyrus SASL need; anything else ends
 * smtpd with a logged reason. It must never allow exec, fork or ptrace.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sched.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include <seccomp.h>

#include "log.h"
#include "smtpd.h"

/* Syscalls allowed whatever their arguments. */
static const int allow[] = {
	/* memory, threads, time, identity */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(futex),
	SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getppid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
	SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getrandom),
	SCMP_SYS(uname), SCMP_SYS(getrusage), SCMP_SYS(getrlimit),
	SCMP_SYS(sysinfo), SCMP_SYS(restart_syscall), SCMP_SYS(exit),
	SCMP_SYS(exit_group), SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sigaltstack),
	/* files (which ones: Landlock, worker_confine.c) */
	SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(close), SCMP_SYS(read),
	SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(lseek),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(stat),
	SCMP_SYS(lstat), SCMP_SYS(statx), SCMP_SYS(fstatfs), SCMP_SYS(statfs),
	SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
	SCMP_SYS(fcntl), SCMP_SYS(flock), SCMP_SYS(getdents64),
	SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getcwd),
	SCMP_SYS(dup), SCMP_SYS(dup3),
	SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	/* events */
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_pwait2), SCMP_SYS(poll),
	SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
	SCMP_SYS(pipe), SCMP_SYS(pipe2), SCMP_SYS(eventfd2),
	SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
	/* network: clients, anvil, cleanup, saslauthd, DNS */
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(accept),
	SCMP_SYS(accept4), SCMP_SYS(bind), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg), SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
	SCMP_SYS(shutdown), SCMP_SYS(socketpair),
};

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	long long a0 = -1, a1 = -1;

	(void)sig; (void)ctx;
#if defined(__x86_64__)
	a0 = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RDI];
	a1 = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RSI];
#endif
	/* Not async-signal-safe in general, but the process ends here and
	 * a reason in the log is worth the risk. */
	log_error("seccomp: system call %d (%lld, %lld, ...) not allowed; "
	    "exiting", si->si_syscall, a0, a1);
#if defined(SANDBOX_LEARN) && defined(__x86_64__)
	/* make CFLAGS=-DSANDBOX_LEARN: log every refused call and go on
	 * (ENOSYS), to find what a new library version needs. */
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
	return;
#endif
	_exit(70);
}

/* Syscalls allowed (or answered with an errno) for one argument value:
 * (argument & mask) == value. */
static const struct {
	int		 nr;
	unsigned	 arg;
	scmp_datum_t	 mask, value;
	int		 err;		/* 0: allow */
} narrow[] = {
	/* threads (libunbound), never a new process */
	{ SCMP_SYS(clone), 0, CLONE_THREAD, CLONE_THREAD, 0 },
	/* reading limits, never setting them */
	{ SCMP_SYS(prlimit64), 2, ~(scmp_datum_t)0, 0, 0 },
	/* thread names; the capability bounding set (libsystemd in the
	 * NSS module behind getpwnam() reads it) */
	{ SCMP_SYS(prctl), 0, 0xffffffff, PR_SET_NAME, 0 },
	{ SCMP_SYS(prctl), 0, 0xffffffff, PR_GET_NAME, 0 },
	{ SCMP_SYS(prctl), 0, 0xffffffff, PR_CAPBSET_READ, 0 },
	/* ioctl: bytes waiting, non-blocking, isatty(); never TIOCSTI */
	{ SCMP_SYS(ioctl), 1, 0xffffffff, FIONREAD, 0 },
	{ SCMP_SYS(ioctl), 1, 0xffffffff, FIONBIO, 0 },
	{ SCMP_SYS(ioctl), 1, 0xffffffff, TCGETS, ENOTTY },
};

static int
rules(scmp_filter_ctx ctx)
{
	/* Signals to itself only (abort(), raise()). */
	scmp_datum_t me = (scmp_datum_t)getpid();
	const int self[] = { SCMP_SYS(kill), SCMP_SYS(tgkill) };
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(allow) / sizeof(allow[0]);
	    i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0);
	for (size_t i = 0; r == 0 && i < sizeof(narrow) / sizeof(narrow[0]);
	    i++) {
		struct scmp_arg_cmp c = { narrow[i].arg, SCMP_CMP_MASKED_EQ,
		    narrow[i].mask, narrow[i].value };

		r = seccomp_rule_add_array(ctx, narrow[i].err ?
		    SCMP_ACT_ERRNO((uint32_t)narrow[i].err) : SCMP_ACT_ALLOW,
		    narrow[i].nr, 1, &c);
	}
	for (size_t i = 0; r == 0 && i < 2; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, self[i], 1,
		    SCMP_A0(SCMP_CMP_EQ, me));
	/* glibc falls back from clone3, whose flags a filter cannot see,
	 * to clone. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    SCMP_SYS(clone3), 0);
	return r;
}

void
sandbox_init(void)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		fatal("sigaction SIGSYS: %s", strerror(errno));
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL)
		fatal("seccomp_init failed");
	if ((r = rules(ctx)) != 0)
		fatal("seccomp rules: %s", strerror(-r));
	/* No thread yet: one filter for the whole process. */
	if ((r = seccomp_load(ctx)) != 0) {
		if (r == -EINVAL || r == -ENOSYS)
			log_warn("seccomp unavailable (%s): system calls not "
			    "filtered", strerror(-r));
		else
			fatal("seccomp_load: %s", strerror(-r));
	}
	seccomp_release(ctx);
}
