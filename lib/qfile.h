/*
 * qfile: the queue-file format (version 2; version 1 files are read too)
 * and its reader and writer.
 * Written only by cleanup (new mail) and qmgr (bounces, status); read by
 * everyone that needs a message. The layout is documented in
 * docs/queue-format.md; a file that fails qfile_read() goes to corrupt/.
 *
 *   "PSTQ" u8 version(2; 1 is read) u8[3] zero
 *   records: u8 type, u32 BE length, data
 *     'I' (32 bytes, fixed; rewritten in place)
 *         u64 arrival_us, i64 next_try (unix s), u32 attempts, u32 flags, u64 0
 *     'S' envelope sender (may be empty: the null sender <>)
 *     'C' client/session attributes, encoded as an ipc payload
 *         (client_name, client_addr, helo, proto, auth_user, tls, uid, ...)
 *     'M' message content: header + body, LF line ends, dot-unstuffed
 *     'R' recipient: u8 status, u8[3] zero, u32 BE code,
 *         char error[QF_ERR_LEN] NUL-padded, then the address bytes
 *         (status..error is fixed-size and rewritten in place)
 *     'D' (v2, optional, after 'M', at most one) message DSN data:
 *         u8 RET (0 none, 1 FULL, 2 HDRS), u8[3] zero, then ENVID
 *         (decoded xtext, printable ASCII, <= 100 bytes)
 *     'N' (v2, optional, right after its 'R') recipient DSN data:
 *         u8 NOTIFY flags (0 not given), u8[3] zero, then ORCPT as
 *         "addr-type;decoded" (printable ASCII, <= 500 bytes) or nothing
 *     'E' end marker, length 0: its presence proves the file is complete
 */
#ifndef POSTERN_QFILE_H
#define POSTERN_QFILE_H

#include <stdint.h>
#include <sys/types.h>
#include "buf.h"

#define QID_LEN		16
#define QF_ERR_LEN	240
#define QF_MAX_RCPT	10000
#define QF_MAX_ADDR	512

/* Recipient status bytes. */
#define QR_PENDING	'P'	/* not yet delivered; may carry a last error */
#define QR_SENT		'S'	/* delivered */
#define QR_FAILED	'F'	/* permanent failure, bounce not yet sent */
#define QR_DONE_FAILED	'X'	/* permanent failure, bounce sent */
/* Delivered, and a success DSN (NOTIFY=SUCCESS) is still to be sent:
 * "delivered" (the final mailbox) or "relayed" (to a next hop without
 * DSN); the status becomes QR_SENT once the notice is queued. v2. */
#define QR_SENT_NOTIFY	'N'
#define QR_RELAYED_NOTIFY 'L'

/* Message flags in 'I'. */
#define QF_WARNED	0x01	/* delay notice sent */
#define QF_BOUNCE	0x02	/* this message is a DSN we generated */
#define QF_SMTPUTF8	0x04	/* the client said SMTPUTF8 (RFC 6531) */

/* The queue's subdirectories, relative to queue_dir. */
#define QDIR_INCOMING	"incoming"
#define QDIR_ACTIVE	"active"
#define QDIR_DEFERRED	"deferred"
#define QDIR_HOLD	"hold"
#define QDIR_CORRUPT	"corrupt"
#define QDIR_MAILDROP	"maildrop"
#define QDIR_PRIVATE	"private"
#define QDIR_PUBLIC	"public"
#define QDIR_PID	"pid"

struct qrcpt {
	char	*addr;
	char	 status;
	int	 code;			/* last SMTP-like code, 0 if none */
	char	 error[QF_ERR_LEN];	/* last error text, NUL-terminated */
	off_t	 off;			/* file offset of the status byte */
	int	 notify;		/* DSN_NOTIFY_* flags, 0 not given */
	char	*orcpt;			/* "rfc822;addr" (decoded), or NULL */
};

struct qfile {
	char		 id[QID_LEN + 1];
	uint64_t	 arrival_us;
	int64_t		 next_try;
	uint32_t	 attempts;
	uint32_t	 flags;
	int		 version;	/* of the file: 1 or 2 */
	int		 ret;		/* DSN_RET_*, 0 not given */
	char		*envid;		/* ENVID (decoded), or NULL */
	off_t		 info_off;	/* offset of the 'I' data */
	char		*sender;
	struct buf	 client;	/* raw ipc payload: client_info_decode() */
	struct qrcpt	*rcpt;
	size_t		 nrcpt;
	off_t		 content_off;
	size_t		 content_len;
	off_t		 size;		/* whole file */
	/* qfile_read_keep: the content in memory when the reader's reads
	 * held all of it (a file up to 64 KiB), else NULL; in kept */
	const char	*content_mem;
	void		*kept;
};

/* Make a queue ID: 16 upper-case hex digits, sortable by time:
 * 8 digits seconds, 5 digits microseconds, 3 digits from the inode. */
void	 qid_make(uint64_t now_us, uint64_t ino, char out[QID_LEN + 1]);
int	 qid_valid(const char *);

/* Read and validate a whole queue file (not the content bytes).
 * Returns 0, or -1 with a reason in err. */
int	 qfile_read(int fd, struct qfile *, char *err, size_t errlen);
/* The same, keeping the bytes read when they hold the whole content
 * (q->content_mem): for a delivery agent, which reads it next. A file of
 * up to 64 KiB is then one read, records and content. */
int	 qfile_read_keep(int fd, struct qfile *, char *err, size_t errlen);
/* Up to len bytes of the content from pos, from content_mem or else one
 * pread of fd (retried when interrupted): > 0 bytes, 0 past the end or a
 * short file, -1 with errno set. */
ssize_t	 qfile_content_pread(int fd, const struct qfile *, size_t pos,
	    void *buf, size_t len);
void	 qfile_free(struct qfile *);
/* In-place updates (no fsync: the caller decides). */
int	 qfile_rcpt_update(int fd, const struct qrcpt *);
int	 qfile_info_update(int fd, const struct qfile *);

struct qwriter {
	int		 dirfd;		/* incoming/ */
	int		 fd;
	char		 tmpname[64];
	off_t		 content_len_off;
	off_t		 written;	/* bytes flushed to fd */
	ino_t		 ino;
	char		 id[QID_LEN + 1];	/* chosen at create; final after commit */
	size_t		 content_len;
	size_t		 nrcpt;
	struct buf	 out;		/* write-behind buffer */
	int		 failed;
	int		 err;		/* errno of the first write failure */
};

/* Writer, in this order: create, content_write*, content_end, add_rcpt*,
 * commit. w->id is the queue ID from create on (Received: uses it). Any
 * failure leaves w->failed set and the errno of the first one in w->err
 * (ENOSPC: the disk is full); commit then fails and the temp file is
 * removed. commit: 'E', fsync(file), rename tmp -> ID with
 * RENAME_NOREPLACE, fsync(dir). Only after commit returns 0 may anyone
 * say 250. */
int	 qfile_create(struct qwriter *, int incoming_dirfd, uint64_t arrival_us,
	    uint32_t flags, const char *sender, const struct buf *client_attrs);
int	 qfile_content_write(struct qwriter *, const void *, size_t);
int	 qfile_content_end(struct qwriter *);
int	 qfile_add_rcpt(struct qwriter *, const char *addr);
/* After content_end, before any recipient: RET and ENVID (NULL: none);
 * writes nothing when both are absent. */
int	 qfile_add_dsn(struct qwriter *, int ret, const char *envid);
/* A recipient with its NOTIFY flags and ORCPT (NULL: none). */
int	 qfile_add_rcpt_dsn(struct qwriter *, const char *addr, int notify,
	    const char *orcpt);
int	 qfile_commit(struct qwriter *, char id[QID_LEN + 1]);
void	 qfile_abort(struct qwriter *);

#endif
