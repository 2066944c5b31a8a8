/*
 * remote.h: the SMTP delivery agent's shared types: the job (one delivery
 * request), one connection, one cached session, and the functions each
 * file of remote/ offers the others. Nothing outside remote/ includes it.
 */
#ifndef POSTERN_REMOTE_H
#define POSTERN_REMOTE_H

#include <sys/types.h>

#include <poll.h>
#include <stddef.h>

#include "agent.h"
#include "buf.h"
#include "clock.h"
#include "dns.h"
#include "ipc.h"
#include "log.h"
#include "qfile.h"
#include "smtp_reply.h"
#include "tls_client.h"
#include "worker.h"


/* Timeouts, seconds (Postfix's smtp_*_timeout defaults). */
#define CONNECT_TIMEOUT	30
#define GREET_TIMEOUT	300
#define HELO_TIMEOUT	300
#define MAIL_TIMEOUT	300
#define RCPT_TIMEOUT	300
#define DATA_TIMEOUT	120	/* the 354 to DATA */
#define XFER_TIMEOUT	180	/* each write of the message body */
#define FINAL_TIMEOUT	600	/* the reply to end of data */
#define QUIT_TIMEOUT	30
#define TLS_TIMEOUT	300	/* STARTTLS reply and handshake */
#define AUTH_TIMEOUT	300
#define RSET_TIMEOUT	30	/* before reusing a cached session */
#define IDLE_QUIT_TIMEOUT 5	/* QUIT of an expired cached session */

#define MAX_ADDRS	10	/* addresses tried per next hop */
#define PIPE_GROUP	50	/* commands per pipelined group (keeps both
				   directions' socket buffers from filling) */
#define TEXT_MAX	230	/* status text to qmgr (queue files: 240) */
#define CHUNK		65536
#define BDAT_CHUNK	(256 * 1024)	/* content octets per BDAT chunk */
#define CRED_MAX	256	/* user name or password, octets */
#define AUTH_LINE_MAX	1024	/* a remote_auth line */
#define CACHE_MAX	4	/* idle sessions kept per process */
#define CACHE_IDLE_MS	5000	/* how long one is kept */
#define CACHE_MAX_USES	100	/* transactions per connection */

/* One delivery request (conf/agent.h) and what remote learns doing it. */
struct job {
	struct agent_job *a;		/* recipients: a->rcpt[0 .. nrcpt) */
	const char	*id;
	char		 nexthop[300];
	enum conf_remote_tls tls;	/* transport_map's, else remote_tls */
	const struct qfile *q;
	unsigned char	*accepted;	/* per recipient: RCPT TO got 2xx */
	int		 eightbit;	/* content has bytes > 127 */
	int		 utf8addr;	/* an address has bytes > 127 */
	int		 hdr8bit;	/* the header section has bytes > 127 */
	int		 need_utf8;	/* only to a next hop with SMTPUTF8 */
	size_t		 nlines;	/* LFs in the content */
	int		 peer_dsn;	/* this transaction's next hop offered
					   DSN: it owns success notices */
	/* the current try */
	char		 host[256];
	char		 ip[64];
	unsigned	 port;
	char		 relay[340];	/* "host[ip]:port" or "none" */
	int		 conn_use;	/* transactions on this connection */
	struct dstatus	 last;		/* what every open recipient gets
					   when the tries end */
	int		 last_conn;	/* last is a connection-level
					   failure (conn_failed()) */
	/* AUTH credentials for this next hop (remote_auth), if any */
	int		 has_cred;
	char		 cred_user[CRED_MAX];
	char		 cred_pass[CRED_MAX];
};

/* One SMTP connection. */
struct conn {
	int		 fd;
	struct tlsc	*tls;		/* after STARTTLS */
	int		 tls_verified;	/* chain and next hop's name good */
	char		 tls_why[128];	/* why not verified, when not */
	char		 in[8192];
	size_t		 inlen;
	const char	*stage;		/* "sending RCPT TO", for errors */
	enum { C_OK, C_TIMEOUT, C_LOST, C_PROTO } err;
	const char	*why;		/* C_PROTO detail */
	int		 saw421;	/* the server is closing: never reuse */
	int		 keep;		/* the last transaction left it
					   usable */
};

/*
 * An idle session kept for the next message to the same next hop, with
 * everything learnt on it (address, TLS, EHLO, AUTH). The password is
 * never kept: a session is reused only for the same remote_auth user.
 */
struct cached {
	int		 used;
	char		 nexthop[300];
	enum conf_remote_tls tls;	/* the policy it was made under */
	char		 host[256];
	char		 ip[64];
	unsigned	 port;
	int		 has_cred;
	char		 cred_user[CRED_MAX];
	struct smtp_ehlo e;
	struct conn	 c;
	int		 uses;		/* transactions done on it */
	long long	 idle_since;	/* clock_ms() */
};

enum try_result { TRY_DONE, TRY_NEXT };

extern struct worker	 wk;

/* status.c: what each recipient is told */
void	 fmt(char *out, size_t len, const char *f, ...)
	    __attribute__((format(printf, 3, 4)));
void	 clean_copy(char *out, size_t outlen, const char *s);
void	 make_text(char *out, const char *dsn, const char *prefix,
	    const char *body, const char *suffix);
void	 rcpt_final(struct job *, size_t i, enum dstat, int code,
	    const char *dsn, const char *text, const char *logtext);
void	 final_all(struct job *, enum dstat, int code, const char *dsn,
	    const char *text);
void	 final_last(struct job *);
void	 conn_failed(struct job *);
void	 set_last(struct job *, enum dstat, int code, const char *dsn,
	    const char *f, ...) __attribute__((format(printf, 5, 6)));
void	 reply_dsn(const struct smtp_reply *, char *out, size_t len);
void	 final_reply(struct job *, size_t i, const struct smtp_reply *,
	    const char *what);
void	 last_from_reply(struct job *, const struct smtp_reply *,
	    const char *f, const char *what);

/* conn.c: one connection's I/O */
int	 fd_wait(int fd, short ev, long long deadline);
int	 conn_write(struct conn *, const char *p, size_t len, int timeout_s);
int	 conn_reply(struct conn *, struct smtp_reply *, int timeout_s);
int	 conn_cmd(struct conn *, struct smtp_reply *, int timeout_s,
	    const char *stage, const char *cmd);
void	 conn_errtext(const struct job *, const struct conn *, char *out,
	    size_t len);
void	 quit_within(struct conn *, int timeout_s);
void	 quit(struct conn *);
void	 conn_close(struct conn *, int timeout_s);

/* dialogue.c: the SMTP conversation */
int	 addr_8bit(const char *);
/* The content read at a time, at most max: all of it when smaller (a
 * 4 KiB message needs no 64 KiB buffers, nor the heap grown and trimmed
 * for them each message). */
size_t	 job_piece(const struct job *, size_t max);
enum try_result session(struct job *, int fd);
void	 session_end(struct job *, struct conn *, const struct smtp_ehlo *,
	    int uses);
enum try_result greet_lost(struct job *, struct conn *);
enum try_result transaction(struct job *, struct conn *,
	    const struct smtp_ehlo *);

/* auth.c: remote_auth and AUTH */
int	 cred_lookup(struct job *, char *err, size_t errlen);
int	 authenticate(struct job *, struct conn *, const struct smtp_ehlo *,
	    enum try_result *);

/* reuse.c: the session cache */
int	 cache_deliver(struct job *);
void	 cache_expire(void);
int	 cache_wait_ms(int max_ms);
void	 cache_flush(void);
int	 cache_fds(struct pollfd *, int max);
void	 cache_init(void);

/* connect.c: next hop, addresses, connect */
void	 deliver(struct job *);

#endif
