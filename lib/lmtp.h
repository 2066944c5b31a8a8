/*
 * lmtp: the client side of LMTP (RFC 2033), to hand mail to a local mail
 * store (Dovecot, Cyrus): the store's address, connect with a deadline,
 * LHLO, transactions of at most LMTP_MAX_RCPT recipients, one reply per
 * accepted recipient after DATA. Replies are read through lib/smtp_reply
 * (bounded lines); every recipient gets exactly one answer, and a session
 * that fails defers every recipient not yet answered. Its caller must not
 * be root: the store's replies are input from a peer.
 */
#ifndef POSTERN_LMTP_H
#define POSTERN_LMTP_H

#include <sys/types.h>

#include <stddef.h>

#include "proto.h"

#define LMTP_MAX_RCPT		1000	/* RCPTs in one transaction */
#define LMTP_PIPE_GROUP		50	/* commands per pipelined write */
#define LMTP_CONNECT_TIMEOUT	30	/* seconds */
#define LMTP_CMD_TIMEOUT	300	/* greeting, LHLO, MAIL, RCPT, DATA */
#define LMTP_XFER_TIMEOUT	180	/* each write of the content */
#define LMTP_FINAL_TIMEOUT	600	/* each reply after the final dot */
#define LMTP_PATH_MAX		107	/* sun_path without its NUL */

/* Where the store listens: "unix:/PATH" or "[HOST]:PORT". */
struct lmtp_target {
	int	 is_unix;
	char	 path[LMTP_PATH_MAX + 1];
	char	 host[256];		/* a name or an address literal */
	char	 port[6];
	char	 name[300];		/* as written, for texts and logs */
};

/*
 * spec: what follows "lmtp:" in the mailbox setting. Returns 0, or -1
 * with a reason (a static string) in *why: a relative or too long path,
 * a missing or empty [HOST], a port that is not 1..65535.
 */
int	 lmtp_target_parse(const char *spec, struct lmtp_target *,
	    const char **why);

/* One message to many recipients of the same store. */
struct lmtp_msg {
	const char	 *helo;		/* our name in LHLO */
	const char	 *sender;	/* "" for the null sender */
	const char *const *rcpt;	/* RCPT TO addresses */
	size_t		  nrcpt;
	size_t		  size;		/* content length */
	/* content from pos, as agent_read: > 0 read, 0 short, -1 error */
	ssize_t		(*read)(void *ctx, size_t pos, void *buf, size_t len);
	/* recipient i's answer: called exactly once for each */
	void		(*result)(void *ctx, size_t i, const struct dstatus *);
	void		 *ctx;
};

/* One session (several transactions when nrcpt > LMTP_MAX_RCPT). */
void	 lmtp_deliver(const struct lmtp_target *, const struct lmtp_msg *);

#endif
