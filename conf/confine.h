/*
 * confine: what a worker does to itself after exec so that a compromise
 * of one worker reaches as little as possible: no core dumps, no ptrace
 * by its siblings, no new privileges, and a Landlock file allow-list.
 * It must never make start-up fail because the kernel lacks a feature.
 */
#ifndef POSTERN_CONFINE_H
#define POSTERN_CONFINE_H

/* Access granted below a path by a Landlock rule. */
enum confine_access {
	CONFINE_RO,	/* read files, list directories */
	CONFINE_RW,	/* and create, write, rename, remove files */
};

struct confine_rule {
	const char		*path;
	enum confine_access	 access;
};

/*
 * Not dumpable (no core, no ptrace by the same uid), RLIMIT_CORE 0 and,
 * unless keeps_root, PR_SET_NO_NEW_PRIVS and a check that it does not
 * run as root (uid or euid 0). Fatal if any of it fails. A program that
 * keeps root (local) runs the recipients' commands, which may rely on
 * their set-id bits (Debian's procmail is setuid root), hence no
 * no_new_privs there.
 */
void	 confine_process(const char *prog, int keeps_root);

/*
 * Landlock: from now on this process may open only what lies below the
 * rules' paths (missing paths are skipped), may execute nothing and may
 * signal nothing outside itself. Returns 1 when enforced, 0 when the
 * kernel lacks Landlock (logged once), -1 on error (logged).
 */
int	 confine_landlock(const struct confine_rule *, unsigned n);

#endif
