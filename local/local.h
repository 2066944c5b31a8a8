/*
 * local.h: the local delivery agent's shared types (a recipient's result,
 * its alias expansion, the job) and what each file of local/ offers the
 * others. Nothing outside local/ includes it.
 */
#ifndef POSTERN_LOCAL_H
#define POSTERN_LOCAL_H

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
#define CHILD_TIMEOUT_MS (5 * 60 * 1000)	/* one mailbox delivery */
#define MAX_DEPTH	20		/* alias recursion */
#define MAX_TARGETS	1000		/* final targets of one recipient */
#define MAX_HEADER	(1024 * 1024)	/* scanned for Delivered-To */
#define CHUNK		(64 * 1024)
#define TEXT_LEN	224		/* the mailbox child's answer */

enum tkind { T_USER, T_FWD };

struct target {
	enum tkind	 kind;
	char		*name;		/* user name, or forward address */
	char		*dt;		/* user: Delivered-To address */
};

struct expansion {
	struct target	*t;
	size_t		 n;
	struct dstatus	 err;		/* first error during expansion */
	int		 has_err;
	char		*stack[MAX_DEPTH + 2];	/* alias keys being expanded */
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
void	 deliver_user(struct job *, const char *user, const char *dt,
	    struct dstatus *);

/* lmtp.c: mailbox = lmtp:... (the store's users of a whole job) */
void	 store_init(const struct conf *);
int	 store_on(void);
/* One LMTP session for n distinct users; res[i] is user[i]'s outcome. */
void	 store_deliver(struct job *, const char *const *user, size_t n,
	    struct dstatus *res);

/* forward.c */
void	 forward(struct job *, const struct expansion *, const char *orig,
	    struct dstatus *, char *newid, size_t newidlen);

#endif
