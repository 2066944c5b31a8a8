/*
 * smtpd: shared state of the SMTP server's parts (session.c: the SMTP
 * dialogue's life, replies, the line reader; command.c: the verbs;
 * cleanup_client.c: DATA to cleanup; bdat.c: BDAT (RFC 3030) chunks to
 * cleanup; policy.c: access map, relay and recipient checks;
 * tls.c: the SSL_CTX and STARTTLS; auth.c: SMTP AUTH with Cyrus SASL and
 * the failed-AUTH counter; hostaddr.c: the host's own addresses;
 * smtpd.c: start-up, listeners, stop).
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
#include "dns.h"
#include "ipc.h"
#include "map.h"
#include "proto.h"
#include "reply.h"
#include "smtp_cmd.h"
#include "worker.h"

#define SMTP_LINE_MAX	1000		/* octets, CRLF included (RFC 5321) */

/* S_BDAT: reading a BDAT chunk (between chunks the state is S_CMD). */
enum sstate { S_CMD, S_WAIT_OPEN, S_DATA, S_BDAT, S_WAIT_END, S_AUTH };
/* Content (DATA or a BDAT chunk) is being read from the client. */
#define S_CONTENT(st)	((st) == S_DATA || (st) == S_BDAT)

/* BDAT in this transaction: none yet, chunks taken, or failed (RSET). */
enum bdat_state { BDAT_NONE, BDAT_OPEN, BDAT_FAILED };

#define CHUNK_FLUSH	(60 * 1024)	/* frame content at this (< 64 KiB) */
#define CLEANUP_HIWAT	(1024 * 1024)	/* stop reading the client above this */

struct session {
	TAILQ_ENTRY(session) entry;
	struct bufferevent *plain;	/* the socket */
	struct bufferevent *bev;	/* plain, or the TLS filter over it */
	struct event	*timer;		/* linger while closing; output wait */
	struct event	*deadline;	/* session_timeout, the DATA phase */
	char		 id[40];	/* smtp_id */
	char		 ip[64];
	char		 name[256];	/* verified PTR name, or "unknown" */
	enum sstate	 state;
	int		 closing;
	time_t		 close_deadline;
	const char	*last;		/* last command, for "lost connection after" */
	unsigned	 cnt[SMTP_AUTH + 1];
	unsigned	 fail[SMTP_AUTH + 1];	/* of cnt: got a 4xx/5xx */
	int		 cur;		/* verb being answered; -1: none */
	int		 cur_failed;	/* cur already counted in fail[] */
	unsigned	 ncmds, nerrors;
	unsigned	 njunk;		/* NOOP RSET VRFY EXPN HELP */
	int		 outwait;	/* replies above the bound: no input */
	time_t		 session_end;	/* 0: none */
	time_t		 data_begin;	/* 354 sent (S_DATA), else 0 */

	int		 helo_seen, esmtp;
	char		 helo[256];
	int		 tls;		/* TLS started (maybe still handshaking) */
	char		 tls_info[128];
	void		*sasl;		/* sasl_conn_t, made on demand */
	char		*auth_user;	/* authenticated login, sanitized */
	char		 auth_mech[24];	/* mechanism of the exchange */
	char		*auth_wait;	/* AUTH argument held while anvil
					 * is asked (wiped when freed) */
	void		*pdns;		/* policy.c's DNS state */
	int		 dns_wait;	/* commands wait for a DNS answer */
	struct smtp_cmd	*pend;		/* MAIL to run again once it is in */
	int		 connect_relay;	/* Connect: RELAY */
	int		 connect_discard;
	char		 delayed_conn[REPLY_MAX];	/* delay_checks */
	int		 lskip;		/* skipping the rest of a long line */
	int		 lskip_cr;	/* its last octet so far was CR */

	/* transaction */
	int		 mail;
	char		*sender;
	char		**rcpt;
	size_t		 nrcpt;
	int		 discard;
	int		 smtputf8;	/* MAIL said SMTPUTF8 (RFC 6531) */
	char		 delayed_from[REPLY_MAX];
	int		 dsn_ret;	/* DSN: MAIL RET=, ENVID= */
	char		*dsn_envid;
	int		*dsn_notify;	/* per rcpt: NOTIFY=, ORCPT= */
	char		**dsn_orcpt;

	/* DATA */
	int		 prev_crlf, in_header;
	size_t		 msg_size, hdr_size;
	int		 derr;
	char		 derr_text[REPLY_MAX];
	struct buf	 chunk;		/* content not yet framed */
	struct buf	 frame;
	struct bufferevent *cbev;	/* cleanup connection */
	int		 creused;	/* cbev kept from an earlier message */
	int		 throttled;

	/* BDAT (bdat.c) */
	enum bdat_state	 bdat;
	int		 bdat_last;	/* the chunk being read ends it */
	unsigned long long bdat_left;	/* octets of the chunk to read */
	int		 bdat_skip;	/* 0: keep the chunk; else an
					 * enum reply_id: drop it, then
					 * give that reply */
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
int	 smtpd_map_open(struct map *, const char *path, const char *what);

/* One line of client input (session_line). */
enum line_kind {
	LINE_OK,		/* p[0..len) without its line end */
	LINE_LONG,		/* over the limit: consumed or skipped */
	LINE_SKIPPED		/* the end of a skipped over-long line */
};
struct line {
	enum line_kind		 kind;
	const unsigned char	*p;	/* LINE_OK: in the input buffer */
	size_t			 len;
	size_t			 n;	/* octets with the line end */
	int			 crlf;	/* ended with CRLF */
	int			 ended;	/* its LF is consumed (by done) */
};

/* session.c */
#define OUT_HIWAT	(64 * 1024)	/* replies queued: stop reading */
#define OUT_LOWAT	(OUT_HIWAT / 2)	/* ... read again below this */
void	 session_accept(int fd, const char *ip);
void	 session_reply(struct session *, enum reply_id, ...);
/* A formatted reply (access map, cleanup, policy): one line, no CRLF. */
void	 session_reply_line(struct session *, const char *);
void	 session_out(struct session *, const void *, size_t);
void	 session_close(struct session *);
int	 session_idle(const struct session *);
int	 session_try_finish(struct session *);
void	 session_greet(struct session *);	/* after the connect checks */
void	 session_resume(struct session *);	/* after a DNS wait */
void	 session_kick(struct session *);	/* work through input */
void	 session_timeouts(struct session *);
void	 session_setup_bev(struct session *);
const char *session_proto(const struct session *);
void	 session_txn_reset(struct session *);
void	 session_log_reject(struct session *, const char *stage,
	    const char *text, const char *to);
int	 session_line(struct session *, size_t max, struct line *);
void	 session_line_done(struct session *, const struct line *);
void	 sanitize(char *);

/* command.c */
void	 command(struct session *, const char *line, size_t len);
void	 command_mail(struct session *, const struct smtp_cmd *);
void	 command_stats(const struct session *, char *out, size_t outlen);

/* cleanup_client.c */
void	 data_start(struct session *);
int	 data_step(struct session *);
void	 cleanup_close(struct session *);
/* For bdat.c: the steps DATA takes, shared. */
int	 cleanup_open(struct session *);
void	 cleanup_abort(struct session *);
int	 flush_chunk(struct session *);
void	 data_fail(struct session *, enum reply_id);
void	 data_end(struct session *);

/* bdat.c */
void	 bdat_cmd(struct session *, const struct smtp_cmd *);
int	 bdat_step(struct session *);
void	 bdat_reset(struct session *);	/* end of the transaction */

/* policy.c */
void	 policy_init(void);
/* Connect check: 0 go on, -1 reply already set in out (close after it). */
int	 policy_connect(struct session *, char *out, size_t outlen);
/* MAIL From: check: 0 ok, -1 reply in out. */
int	 policy_mail(struct session *, const char *sender, char *out, size_t);
/* RCPT: 0 ok (address to store in rcpt), -1 reply in out. */
int	 policy_rcpt(struct session *, const struct addr *, char *rcpt,
	    size_t rcptlen, char *out, size_t outlen);
/* DNS checks of a new client (PTR, DNSBL); calls session_greet when done
 * (maybe at once). policy_mail may return 1: DNS pending, it calls
 * session_resume when the answer is in. */
void	 policy_connect_start(struct session *);
void	 policy_session_end(struct session *);
/* Rate limits and per-client cap at accept: 0, or -1 with a 421 in out. */
int	 policy_accept(const char *ip, char *out, size_t outlen);

/* hostaddr.c: 1 if ip is one of this host's own addresses. */
int	 client_is_host(const char *ip);

/* dns.c: asynchronous lookups in the event loop */
struct sdns_q;
struct ub_result;
typedef void (*sdns_cb)(void *arg, int tag, enum dns_status,
	    struct ub_result *);
int	 sdns_init(void);
struct sdns_q *sdns_query(const char *name, int type, int tag, sdns_cb,
	    void *arg);
void	 sdns_cancel(struct sdns_q *);

/* auth.c */
#define AUTH_LINE_MAX	12288		/* RFC 4954 section 4 */
void	 auth_init(void);
/* AUTH is offered on this listener (auth != none and SASL is up). */
int	 auth_enabled(void);
/* EHLO: mechanisms to advertise now ("PLAIN LOGIN"), or NULL. */
const char *auth_mechs(struct session *);
void	 auth_cmd(struct session *, const char *arg);
/* A client response line while in S_AUTH (without CRLF). */
void	 auth_response(struct session *, const char *line, size_t len);
/* Forget the SASL state and the login (STARTTLS, end of session). */
void	 auth_reset(struct session *);
/* sender_login_map: may this login use this MAIL FROM?  0 yes, -1 no
 * (reply in out). */
int	 auth_sender_ok(struct session *, const char *sender, char *out,
	    size_t outlen);


/* anvil_client.c: the per-IP counters shared by every smtpd (anvil).
 * A callback gets the reply, or NULL: no answer (anvil down or slow),
 * use the local counters. Never blocks. */
typedef void (*anvil_cb)(void *arg, const struct anvil_reply *reply);
/* Connected (or connecting) to anvil now. */
int	 anvil_up(void);
/* Changes whenever the connection is lost (anvil forgot our sessions). */
unsigned anvil_generation(void);
/* Queue a request (listener may be NULL); 0, or -1 (cb is not called). */
int	 anvil_request(enum proto_req, const char *ip, const char *listener,
	    anvil_cb, void *arg);
/* A request without a reply (REQ_DISCONNECT), best effort. */
void	 anvil_notify(enum proto_req, const char *ip);
/* arg (a session) is going away: its pending callbacks are dropped. */
void	 anvil_cancel(void *arg);

/* tls.c */
/* sandbox.c: the seccomp filter, once everything is open (fatal if it
 * cannot be loaded where the kernel has seccomp). */
void	 sandbox_init(void);
void	 tls_init(void);
int	 tls_start(struct session *);
void	 tls_established(struct session *);
void	 tls_log_errors(struct session *);

#endif
