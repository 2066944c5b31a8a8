/*
 * proto: every message between postern's processes, as C structs with one
 * encode and one decode function each, over lib/ipc attribute frames.
 * This header is the only place an attribute name or a request word is
 * spelled; no program calls ipc_add*() or ipc_get*() with a literal name.
 * Decoders validate every field (presence, length, characters, range) and
 * return -1 with a reason; the caller drops a peer that sends a bad frame.
 * The table of messages is in docs/internals.md.
 */
#ifndef POSTERN_PROTO_H
#define POSTERN_PROTO_H

#include <stddef.h>
#include <sys/types.h>
#include "buf.h"
#include "ipc.h"

/* ---- attribute names (the only spelling) ---- */
#define ATTR_REQ		"req"
#define ATTR_STATUS		"status"
#define ATTR_CODE		"code"
#define ATTR_TEXT		"text"
#define ATTR_QUEUE_ID		"queue_id"
#define ATTR_ID			"id"
#define ATTR_SENDER		"sender"
#define ATTR_RCPT		"rcpt"
#define ATTR_CHUNK		"chunk"
#define ATTR_DIR		"dir"
#define ATTR_NEXTHOP		"nexthop"
#define ATTR_TLS_POLICY		"tls_policy"
#define ATTR_SERVICE		"service"
#define ATTR_CLIENT_NAME	"client_name"
#define ATTR_CLIENT_ADDR	"client_addr"
#define ATTR_HELO		"helo"
#define ATTR_PROTO		"proto"
#define ATTR_AUTH_USER		"auth_user"
#define ATTR_TLS		"tls"
#define ATTR_LISTENER		"listener"
#define ATTR_SMTP_ID		"smtp_id"
#define ATTR_UID		"uid"
#define ATTR_FULL_NAME		"full_name"
#define ATTR_LOCAL		"local"
#define ATTR_EXTRACT		"extract"
#define ATTR_RECEIVED		"received"
#define ATTR_MSA		"msa"
#define ATTR_SMTPUTF8		"smtputf8"
#define ATTR_MAX_SIZE		"max_size"
#define ATTR_MAX_HEADER_SIZE	"max_header_size"
#define ATTR_IP			"ip"
#define ATTR_COUNT		"count"
#define ATTR_BLOCKED		"blocked"
#define ATTR_COUNT_MINUTE	"count_minute"
#define ATTR_SESSIONS		"sessions"
#define ATTR_CONN_FAIL		"conn_fail"
#define ATTR_JSON		"json"
#define ATTR_RCPT_DOMAIN	"rcpt_domain"
#define ATTR_SENDER_DOMAIN	"sender_domain"
#define ATTR_DELIVERED		"delivered"
#define ATTR_DEFERRED		"deferred"
#define ATTR_BOUNCED		"bounced"
#define ATTR_BOUNCES		"bounces"
#define ATTR_REJECTED_RCPT	"rejected_rcpt"
#define ATTR_REJECTED_CONN	"rejected_conn"
#define ATTR_STARTED		"started"
#define ATTR_RET		"ret"		/* DSN (RFC 3461) */
#define ATTR_ENVID		"envid"
#define ATTR_NOTIFY		"notify"	/* after its rcpt */
#define ATTR_ORCPT		"orcpt"		/* after its rcpt */
#define ATTR_RELAYED		"relayed"
#define ATTR_RESULT		"result"

/* ---- request types (the value of "req") ---- */
enum proto_req {
	REQ_NONE = 0,		/* absent or unknown: a protocol error */
	/* to cleanup */
	REQ_OPEN, REQ_DATA, REQ_END, REQ_ABORT,
	/* to qmgr */
	REQ_TRIGGER, REQ_FLUSH, REQ_HOLD, REQ_RELEASE, REQ_DELETE, REQ_REQUEUE,
	/* CLI -> qmgr and anvil: the counters (proto_stats) */
	REQ_STATS,
	/* qmgr <-> delivery agents */
	REQ_DELIVER, REQ_DONE,
	/* to master */
	REQ_RESTART, REQ_MASTER_STATUS,
	/* smtpd -> anvil */
	REQ_AUTH_FAIL, REQ_AUTH_CHECK, REQ_CONNECT, REQ_DISCONNECT,
	REQ_REJECT_RCPT, REQ_REJECT_CONN,	/* counted, no answer */
	/* mailq -> showq */
	REQ_LIST,
};

/* The request type of a decoded frame (REQ_NONE if absent or unknown). */
enum proto_req	 proto_req_type(const struct ipc_msg *);
const char	*proto_req_word(enum proto_req);

/* ---- one delivery status: agents -> qmgr -> DSN -> logs ---- */
enum dstat { DS_SENT, DS_DEFER, DS_BOUNCE };

#define DSTATUS_TEXT	240	/* = QF_ERR_LEN: fits the queue file */

struct dstatus {
	enum dstat	 stat;
	int		 code;			/* SMTP-like reply code, 0 if none */
	char		 text[DSTATUS_TEXT];	/* "X.Y.Z text", NUL-terminated */
	/* DS_SENT: 0 delivered to the final mailbox, DSTATUS_RELAYED to a
	 * next hop without DSN, DSTATUS_PASSED to one that speaks DSN (it
	 * owns the success notice). dstatus_set makes it 0. */
	int		 relayed;
};
#define DSTATUS_RELAYED	1
#define DSTATUS_PASSED	2

/* "sent", "deferred", "bounced" (log words, Postfix's status=). */
const char	*dstat_word(enum dstat);
/* Fill a status; text is cut to fit and control characters replaced. */
void		 dstatus_set(struct dstatus *, enum dstat, int code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- generic reply: status=ok|error [code] [text] [queue_id] ---- */
struct proto_reply {
	int		 ok;
	int		 code;		/* 0 if none */
	char		*text;		/* may be NULL */
	char		*queue_id;	/* may be NULL */
};
int	 proto_reply_encode(struct buf *, const struct proto_reply *);
int	 proto_reply_decode(const struct ipc_msg *, struct proto_reply *,
	    char *err, size_t errlen);
void	 proto_reply_free(struct proto_reply *);
/* Encode and send; -1 with errno (EINVAL: the reply does not encode). */
int	 proto_reply_send(int fd, const struct proto_reply *, int timeout_ms);

/* ---- cleanup: open, data, end, abort ---- */
struct cleanup_open {
	char		*sender;	/* "" = <>; NULL when absent */
	char	       **rcpt;
	size_t		 nrcpt;
	/* session, all optional (NULL) */
	char		*client_name, *client_addr, *helo, *proto;
	char		*auth_user, *tls, *listener, *smtp_id, *full_name;
	int		 local;		/* add missing From/Date/Message-ID */
	int		 extract;	/* sendmail -t */
	int		 received;	/* add Received: (default 1) */
	int		 msa;		/* authenticated submission */
	int		 smtputf8;	/* MAIL said SMTPUTF8 (RFC 6531) */
	size_t		 max_size;	/* 0 = server default */
	size_t		 max_header_size;
	long long	 uid;		/* local submitter (pickup); -1 none */
	/* DSN (RFC 3461; lib/xtext.h), all optional: ret DSN_RET_*, envid
	 * decoded; per recipient (arrays of nrcpt, or NULL) the NOTIFY
	 * flags and ORCPT "addr-type;decoded" (NULL entries: none). */
	int		 ret;
	char		*envid;
	int		*notify;
	char	       **orcpt;
};
void	 cleanup_open_init(struct cleanup_open *);
int	 cleanup_open_encode(struct buf *, const struct cleanup_open *);
int	 cleanup_open_decode(const struct ipc_msg *, struct cleanup_open *,
	    char *err, size_t errlen);
void	 cleanup_open_free(struct cleanup_open *);
/* req=data chunk=BYTES (len <= IPC_MAX_FRAME - 64) */
int	 cleanup_data_encode(struct buf *, const void *chunk, size_t len);
/* The chunk of a decoded req=data frame; -1 if absent. */
int	 cleanup_data_decode(const struct ipc_msg *, const char **chunk,
	    size_t *len);

/* ---- requests with no arguments (end, abort, trigger, flush, done) ---- */
int	 proto_simple_encode(struct buf *, enum proto_req);

/* ---- queue admin to qmgr: hold|release|delete|requeue id=ID ---- */
struct qmgr_admin {
	enum proto_req	 req;
	char		 id[17];	/* QID_LEN + 1 */
};
int	 qmgr_admin_encode(struct buf *, const struct qmgr_admin *);
int	 qmgr_admin_decode(const struct ipc_msg *, struct qmgr_admin *,
	    char *err, size_t errlen);

/* ---- a flush to qmgr (lib/proto_flush.c): req=flush, alone (every
 * deferred message), or with one filter: rcpt_domain=D (a message with a
 * pending recipient in D), sender_domain=D, or id=ID. A domain is 1-253
 * letters, digits, "-", "_", "." or an address literal "[...]". ---- */
enum flush_by { FLUSH_ALL, FLUSH_RCPT_DOMAIN, FLUSH_SENDER_DOMAIN, FLUSH_ID };
#define FLUSH_MAX_VALUE	253
struct qmgr_flush {
	enum flush_by	 by;
	char		 value[FLUSH_MAX_VALUE + 1];	/* "" for FLUSH_ALL */
};
int	 qmgr_flush_encode(struct buf *, const struct qmgr_flush *);
int	 qmgr_flush_decode(const struct ipc_msg *, struct qmgr_flush *,
	    char *err, size_t errlen);
/* Is v a domain a flush may name? (the decoder's own check) */
int	 flush_domain_ok(const char *v);

/* ---- qmgr -> agent: the delivery request ---- */
#define DELIVER_MAX_RCPT	10000	/* = QF_MAX_RCPT */
struct deliver_request {
	char		 queue_id[17];
	char		 dir[16];	/* "active" */
	char		*nexthop;	/* may be "" */
	size_t		*rcpt;		/* recipient indexes into the queue file */
	size_t		 nrcpt;
	int		 tls;		/* 0: the agent's default (remote_tls),
					   else 1 + enum conf_remote_tls */
};
int	 deliver_request_encode(struct buf *, const struct deliver_request *);
/* Whole-request errors (bad id, dir) fail; a bad index fails too: the
 * request is qmgr's and qmgr never sends one. */
int	 deliver_request_decode(const struct ipc_msg *,
	    struct deliver_request *, char *err, size_t errlen);
void	 deliver_request_free(struct deliver_request *);

/* ---- agent -> qmgr: one per recipient, then REQ_DONE ---- */
struct deliver_status {
	size_t		 rcpt;		/* index, as in the request */
	struct dstatus	 st;
	/* 1: st comes from a connection-level failure (the next hop could
	 * not be reached, or refused or broke the session before MAIL):
	 * qmgr's per-destination window shrinks. Optional, 0 when absent. */
	int		 conn_fail;
};
int	 deliver_status_encode(struct buf *, const struct deliver_status *);
int	 deliver_status_decode(const struct ipc_msg *, struct deliver_status *,
	    char *err, size_t errlen);

/* ---- CLI -> master: restart SERVICE, status ---- */
struct master_request {
	enum proto_req	 req;
	char		 service[64];
};
int	 master_request_encode(struct buf *, const struct master_request *);
int	 master_request_decode(const struct ipc_msg *, struct master_request *,
	    char *err, size_t errlen);

/* ---- tlscheck -> postern (tlscheck's fd 1, a socket): the verdict on a
 * listener's certificate chain and key. result: 0 good, else 1 to
 * TLS_VERDICT_MAX (conf.h's CONF_TLS_*: which file is bad) ---- */
#define TLS_VERDICT_MAX	3
struct tls_verdict {
	int		 result;
	char		 text[512];	/* why, "" if nothing to say */
};
int	 tls_verdict_encode(struct buf *, const struct tls_verdict *);
int	 tls_verdict_decode(const struct ipc_msg *, struct tls_verdict *,
	    char *err, size_t errlen);

/* ---- smtpd -> anvil and back ---- */
struct anvil_request {
	enum proto_req	 req;
	char		 ip[64];	/* printable ASCII */
	char		 listener[33];	/* auth_fail only; "" if absent */
};
int	 anvil_request_encode(struct buf *, const struct anvil_request *);
/*
 * The client a counter is kept for: an IPv4 address as it is, an IPv6
 * address by its /64 ("2001:db8:1:2::/64": one site hands out a /64).
 * 0, or -1 if ip is no address (out is then a copy, cut to fit).
 * anvil_request_decode applies it to the ip of every request.
 */
int	 anvil_client_key(const char *ip, char *out, size_t outlen);
int	 anvil_request_decode(const struct ipc_msg *, struct anvil_request *,
	    char *err, size_t errlen);

struct anvil_reply {
	int		 ok;
	long long	 count, blocked, count_minute, sessions; /* -1 absent */
	char		 text[128];
};
int	 anvil_reply_encode(struct buf *, const struct anvil_reply *);
int	 anvil_reply_decode(const struct ipc_msg *, struct anvil_reply *,
	    char *err, size_t errlen);

/* ---- CLI -> qmgr or anvil: req=stats (proto_simple_encode); the answer
 * is status=ok and the counters the process keeps (the others absent).
 * smtpd -> anvil: req=reject_rcpt|reject_conn ip=IP (anvil_request). ---- */
enum pstat {
	PSTAT_RECEIVED,		/* qmgr: messages cleanup queued */
	PSTAT_DELIVERED,	/* qmgr: recipients, per status */
	PSTAT_DEFERRED,
	PSTAT_BOUNCED,
	PSTAT_BOUNCES,		/* qmgr: non-delivery notices written */
	PSTAT_REJECTED_RCPT,	/* anvil: smtpd's 5xx/4xx to RCPT */
	PSTAT_REJECTED_CONN,	/* anvil: connections refused */
	PSTAT_STARTED,		/* the process's start, Unix time */
	PSTAT_N
};
struct proto_stats {
	long long	 v[PSTAT_N];	/* -1: not kept by this process */
};
/* The attribute name of one counter. */
const char	*pstat_name(enum pstat);
int	 proto_stats_encode(struct buf *, const struct proto_stats *);
int	 proto_stats_decode(const struct ipc_msg *, struct proto_stats *,
	    char *err, size_t errlen);

/* ---- mailq -> showq (public/showq): req=list [json=1]; the answer is
 * the listing in req=data chunk= frames (as cleanup_data_encode), then
 * a proto_reply ---- */
struct showq_request {
	int		 json;		/* one JSON object per message */
};
int	 showq_request_encode(struct buf *, const struct showq_request *);
int	 showq_request_decode(const struct ipc_msg *, struct showq_request *,
	    char *err, size_t errlen);

/* ---- the 'C' record of a queue file: who sent the message ---- */
struct client_info {
	char		*client_name, *client_addr, *helo, *proto;
	char		*auth_user, *tls, *listener, *smtp_id;
	long long	 uid;		/* local submission; -1 if none */
};
int	 client_info_encode(struct buf *payload, const struct client_info *);
int	 client_info_decode(const void *payload, size_t len,
	    struct client_info *, char *err, size_t errlen);
void	 client_info_free(struct client_info *);

/*
 * A pooled worker's state, one byte on the status pipe master gives it
 * (POSTERN_STATUS_FD, master/ondemand.c): idle, waiting for a connection,
 * or busy with one it accepted. Written on each change; master trusts
 * the last byte it read.
 */
#define PROC_STATUS_IDLE	'I'
#define PROC_STATUS_BUSY	'B'

#endif
