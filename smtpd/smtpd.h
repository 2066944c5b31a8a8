/*
 * smtpd: shared state of the SMTP server's parts (session.c: the SMTP
 * dialogue and DATA; policy.c: access map, relay and recipient checks;
 * tls.c: the SSL_CTX and STARTTLS; smtpd.c: start-up, listeners, stop).
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include <sys/queue.h>

#include <stddef.h>
#include <time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "map.h"
#include "smtp_cmd.h"
#include "worker.h"

#define SMTP_LINE_MAX	1000		/* octets, CRLF included (RFC 5321) */
#define REPLY_MAX	512

enum sstate { S_CMD, S_WAIT_OPEN, S_DATA, S_WAIT_END };

struct session {
	TAILQ_ENTRY(session) entry;
	struct bufferevent *plain;	/* the socket */
	struct bufferevent *bev;	/* plain, or the TLS filter over it */
	struct event	*timer;		/* linger while closing */
	char		 id[40];	/* smtp_id */
	char		 ip[64];
	char		 name[8];	/* reverse DNS comes later: "unknown" */
	enum sstate	 state;
	int		 closing;
	time_t		 close_deadline;
	const char	*last;		/* last command, for "lost connection after" */
	unsigned	 cnt[SMTP_AUTH + 1];
	unsigned	 ncmds, nerrors;

	int		 helo_seen, esmtp;
	char		 helo[256];
	int		 tls;		/* TLS started (maybe still handshaking) */
	char		 tls_info[128];
	int		 connect_relay;	/* Connect: RELAY */
	int		 connect_discard;
	char		 delayed_conn[REPLY_MAX];	/* delay_checks */
	int		 cskip;		/* skipping an over-long command line */

	/* transaction */
	int		 mail;
	char		*sender;
	char		**rcpt;
	size_t		 nrcpt;
	int		 discard;
	char		 delayed_from[REPLY_MAX];

	/* DATA */
	int		 prev_crlf, in_header, dskip, dskip_cr;
	size_t		 msg_size, hdr_size;
	int		 derr;
	char		 derr_text[REPLY_MAX];
	struct buf	 chunk;		/* content not yet framed */
	struct buf	 frame;
	struct bufferevent *cbev;	/* cleanup connection */
	int		 throttled;
};

/* smtpd.c */
extern struct worker		 wk;
extern const struct conf_smtpd	*lc;
extern struct event_base	*base;
extern SSL_CTX			*ssl_ctx;
extern int			 shutting;
extern size_t			 nsessions;
TAILQ_HEAD(session_list, session);
extern struct session_list	 sessions;
void	 sessions_changed(void);

/* session.c */
void	 session_accept(int fd, const char *ip);
void	 reply(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 session_close(struct session *);
int	 session_idle(const struct session *);
int	 session_try_finish(struct session *);

/* policy.c */
void	 policy_init(void);
/* Connect check: 0 go on, -1 reply already set in out (close after it). */
int	 policy_connect(struct session *, char *out, size_t outlen);
/* MAIL From: check: 0 ok, -1 reply in out. */
int	 policy_mail(struct session *, const char *sender, char *out, size_t);
/* RCPT: 0 ok (address to store in rcpt), -1 reply in out. */
int	 policy_rcpt(struct session *, const struct addr *, char *rcpt,
	    size_t rcptlen, char *out, size_t outlen);

/* tls.c */
void	 tls_init(void);
int	 tls_start(struct session *);
void	 tls_established(struct session *);
void	 tls_log_errors(struct session *);

#endif
