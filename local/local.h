/*
 * local.h: the local delivery agent's shared types (a recipient's result,
 * its alias expansion, the job) and what each file of local/ offers the
 * others. Nothing outside local/ includes it.
 */
#ifndef POSTERN_LOCAL_H
#define POSTERN_LOCAL_H

#include <limits.h>
#include <pwd.h>

#include "addr.h"
#include "agent.h"
#include "buf.h"
#include "clock.h"
#include "ipc.h"
#include "log.h"
#include "map.h"
#include "mbox.h"
#include "qfile.h"
#include "route.h"
#include "worker.h"

#define IO_TIMEOUT_MS	(60 * 1000)	/* each frame to/from cleanup */
#define CHILD_TIMEOUT_MS (5 * 60 * 1000)	/* one command, file, reader */
#define MAILBOX_TIMEOUT_S (5 * 60)	/* one mailbox delivery (SIGALRM) */
#define MAX_DEPTH	20		/* alias recursion */
#define MAX_DEPTH_TEXT	"20"
#define MAX_TARGETS	1000		/* final targets of one recipient */
#define MAX_TARGETS_TEXT "1000"
#define MAX_LISTS	100		/* .forward and :include: files read */
#define MAX_HEADER	(1024 * 1024)	/* scanned for Delivered-To */
#define CHUNK		(64 * 1024)
#define TEXT_LEN	224		/* a mailbox error text */

/* A user's mailbox, an address elsewhere, "|command", "/file". */
enum tkind { T_USER, T_FWD, T_CMD, T_FILE };

struct target {
	enum tkind	 kind;
	char		*name;		/* user, address, command, path */
	char		*dt;		/* user: Delivered-To address */
	uid_t		 uid;		/* command, file: run as (0: */
	gid_t		 gid;		/*   default_privs) */
};

/* Who a command, a /file or a reader child runs as. */
#define IDENT_GROUPS	256
struct ident {
	uid_t	 uid;
	gid_t	 gid;
	char	 name[64];
	char	 home[PATH_MAX];
	int	 shell_ok;	/* its login shell is in /etc/shells */
	int	 ngroups;
	gid_t	 groups[IDENT_GROUPS];
};

/* One command run (command.c). */
struct cmd_run {
	const char		*cmd;
	int			 shell;		/* always through /bin/sh */
	const struct ident	*id;
	const char		*user, *home;	/* USER, LOGNAME; HOME, cwd */
	const char		*rcpt;		/* RECIPIENT (+EXTENSION...) */
	const char		*dt;		/* Delivered-To */
};

/* What reading a .forward or :include: file gave (dotforward.c). */
enum { RF_NONE, RF_IGNORED, RF_DEFER, RF_BOUNCE, RF_OK };

struct expansion {
	struct target	*t;
	size_t		 n;
	struct dstatus	 err;		/* first error during expansion */
	int		 has_err;
	int		 over;		/* MAX_TARGETS crossed */
	char		*stack[MAX_DEPTH + 2];	/* alias keys being expanded */
	const char	*qid;		/* for log lines */
	size_t		 nlists;	/* files read, up to MAX_LISTS */
	size_t		 nstack;
};

struct job {
	struct agent_job *a;
	const char	*id;
	int		 fd;		/* queue file, read-only */
	const struct qfile *q;
	struct buf	 hdr;		/* header section, for loop checks */
};

extern struct worker	 wk;
extern struct map	 aliases;
extern int		 as_root;

/* local.c */
void	 setres(struct dstatus *, enum dstat, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Is this domain ours? Asks maps/route (route_domain), the one place
 * postern decides it for smtpd, qmgr and local. */
int	 is_local_domain(const char *domain);
/* virtual_map for an alias target in a local domain: an enum route_vres
 * (maps/route.h), the rewritten address in out or the error in *e. */
int	 local_virtual(const char *addr, char *out, size_t outlen,
	    struct route_error *e);
/* Does the message's header section have "Delivered-To: addr"? */
int	 delivered_to(const struct job *, const char *addr);

/* alias.c */
void	 lower(char *);
void	 expand(struct expansion *, const char *local, const char *domain,
	    const char *dt, int depth);
void	 exp_free(struct expansion *);

/* mailbox.c */
/* As root: the ids a delivery returns to (local_init). */
void	 mailbox_init(void);
void	 deliver_user(struct job *, const char *user, const char *dt,
	    struct dstatus *);

/* lmtp.c: mailbox = lmtp:... (the store's users of a whole job) */
void	 store_init(const struct conf *);
int	 store_on(void);
/* One LMTP session for n distinct users; res[i] is user[i]'s outcome. */
void	 store_deliver(struct job *, const char *const *user, size_t n,
	    struct dstatus *res);

/* pwcache.c: getpwnam, for a while from a cache (NULL and errno as
 * getpwnam's). The entry stays valid until a later call. */
struct passwd	*pw_lookup(const char *name);

/* ident.c: root becomes default_privs unless may_be_root (reading only) */
int	 ident_user(const struct passwd *, int may_be_root, struct ident *,
	    struct dstatus *);
int	 ident_uid(uid_t, gid_t, int may_be_root, struct ident *,
	    struct dstatus *);
int	 ident_drop(const struct ident *);
/* fn(arg, wfd) in a child that has become id; its output (at most outlen
 * bytes) in out. -1 with *r set when the child failed. */
ssize_t	 ident_call(const struct ident *, int (*fn)(void *, int), void *,
	    char *out, size_t outlen, struct dstatus *r);
int	 ident_answer(const char *msg, size_t len, struct dstatus *);
/* A child's output into out: until EOF, outlen bytes, or the deadline
 * (clock_ms), when the child is killed. The bytes read. */
size_t	 child_output(pid_t, int fd, char *out, size_t outlen,
	    long long deadline);

/* command.c */
void	 command_deliver(struct job *, const struct cmd_run *,
	    struct dstatus *);
void	 mailbox_command(struct job *, const char *user, const char *dt,
	    struct dstatus *);

/* file.c */
void	 file_deliver(struct job *, const char *path, const struct ident *,
	    const char *dt, struct dstatus *);

/* dotforward.c */
int	 dotforward_read(const struct passwd *, size_t *nlists,
	    char **content, char *why, size_t whylen);
int	 include_read(const char *path, const struct ident *reader,
	    char **content, uid_t *owner, gid_t *ogid, char *why,
	    size_t whylen);

/* forward.c */
void	 forward(struct job *, const struct expansion *, const char *orig,
	    struct dstatus *, char *newid, size_t newidlen);

#endif
