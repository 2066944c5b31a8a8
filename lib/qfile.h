/*
 * qfile: the queue-file format (version 1) and its reader and writer.
 * Written only by cleanup (new mail) and qmgr (bounces, status); read by
 * everyone that needs a message. The layout is documented in
 * docs/queue-format.md; a file that fails qfile_read() goes to corrupt/.
 *
 *   "PSTQ" u8 version(1) u8[3] zero
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

/* Message flags in 'I'. */
#define QF_WARNED	0x01	/* delay notice sent */
#define QF_BOUNCE	0x02	/* this message is a DSN we generated */

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
};

struct qfile {
	char		 id[QID_LEN + 1];
	uint64_t	 arrival_us;
	int64_t		 next_try;
	uint32_t	 attempts;
	uint32_t	 flags;
	off_t		 info_off;	/* offset of the 'I' data */
	char		*sender;
	struct buf	 client;	/* raw ipc payload: client_info_decode() */
	struct qrcpt	*rcpt;
	size_t		 nrcpt;
	off_t		 content_off;
	size_t		 content_len;
	off_t		 size;		/* whole file */
};

/* Make a queue ID: 16 upper-case hex digits, sortable by time:
 * 8 digits seconds, 5 digits microseconds, 3 digits from the inode. */
void	 qid_make(uint64_t now_us, uint64_t ino, char out[QID_LEN + 1]);
int	 qid_valid(const char *);

/* Read and validate a whole queue file (not the content bytes).
 * Returns 0, or -1 with a reason in err. */
int	 qfile_read(int fd, struct qfile *, char *err, size_t errlen);
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
int	 qfile_commit(struct qwriter *, char id[QID_LEN + 1]);
void	 qfile_abort(struct qwriter *);

#endif
