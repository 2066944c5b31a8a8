/*
 * mbox: appending one message to a Unix mbox file (SPEC section 9):
 * "From " line, Return-Path/Delivered-To, ">From " quoting (mboxrd:
 * every line matching ^>*From  gets one more '>'), a final newline and a
 * blank line, dotlock plus fcntl lock, fsync, and truncation back to the
 * old size on any error. The caller (local) already runs as the recipient.
 */
#ifndef POSTERN_MBOX_H
#define POSTERN_MBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Results of mbox_deliver / mbox_write_message (and maildir_deliver). */
#define MBOX_OK		0
#define MBOX_TEMP	(-1)	/* defer: err holds "4.x.y text" */
#define MBOX_PERM	(-2)	/* bounce: err holds "5.x.y text" */

/*
 * mailbox_size_limit for every later mbox_write_message in this process:
 * a message that would grow the mbox beyond LIMIT bytes is refused with
 * MBOX_PERM "5.2.2 mailbox full" and the mbox is left as it was. 0 (the
 * initial value) = no limit.
 */
void	 mbox_set_limit(uint64_t limit);

/* "4.3.1 Insufficient system storage" for ENOSPC/EDQUOT/EFBIG, else
 * "4.2.0 WHAT: strerror(e)". */
void	 mbox_errtext(int e, const char *what, char *err, size_t errlen);

/* "Return-Path: <SENDER>\nDelivered-To: RCPT\n" (white space and control
 * bytes become '_'). Returns the length, or -1 when it does not fit. */
int	 mbox_envelope_lines(char *out, size_t outlen, const char *sender,
	    const char *rcpt);

/* Lock timing (seconds). */
#define MBOX_LOCK_WAIT		30	/* dotlock and fcntl lock attempts */
#define MBOX_LOCK_STALE		300	/* a dotlock older than this is removed */

/* Where the bytes go: returns bytes written (may be short) or -1, errno set. */
typedef ssize_t (*mbox_write_fn)(void *ctx, const void *, size_t);

/*
 * Streaming ">From " quoter. Feed the message content in any number of
 * pieces (a "From " split across two pieces is still caught); finish
 * flushes, adds a missing final newline and the separating blank line.
 * Output goes through wfn in pieces of at most MBOX_OBUF bytes.
 */
#define MBOX_OBUF	8192
struct mbox_quoter {
	mbox_write_fn	 wfn;
	void		*ctx;
	int		 bol;		/* at the beginning of a line */
	size_t		 ngt;		/* '>' held back at the line start */
	size_t		 nfrom;		/* chars of "From " matched after them */
	int		 last_nl;	/* last byte emitted was '\n' */
	int		 failed;
	size_t		 olen;
	char		 obuf[MBOX_OBUF];
};

void	 mbox_quote_init(struct mbox_quoter *, mbox_write_fn, void *ctx);
int	 mbox_quote_feed(struct mbox_quoter *, const void *, size_t);
int	 mbox_quote_finish(struct mbox_quoter *);
/* Emit raw bytes (the envelope lines) without quoting. */
int	 mbox_quote_raw(struct mbox_quoter *, const void *, size_t);

/* "From SENDER Wed Nov 25 12:00:00 2026\n" (local time; MAILER-DAEMON for
 * the null sender; white space and control bytes in SENDER become '_'). */
int	 mbox_from_line(char *out, size_t outlen, const char *sender, time_t when);

/*
 * Hand len bytes of content to fn(ctx, piece, n), which returns 0 or -1
 * (errno set): mem in one piece when not NULL, else content_fd at off
 * read in pieces of at most 64 KiB. Returns 0, or -1 with errno set and
 * *what = "cannot read queue file" when reading failed.
 */
int	 mbox_copy(const void *mem, int content_fd, off_t off, size_t len,
	    int (*fn)(void *, const void *, size_t), void *ctx,
	    const char **what);

/*
 * Append one complete message to the already open and locked mbox fd:
 * record the size, write From line, Return-Path, Delivered-To, the quoted
 * content (from mem when not NULL, else pread from content_fd at off,
 * len bytes), fsync; on any error ftruncate back to the recorded size.
 * wfn NULL = write(2) on fd (tests pass a failing one). Returns MBOX_OK or
 * MBOX_TEMP with err set ("4.3.1 Insufficient system storage" for
 * ENOSPC/EDQUOT/EFBIG, "4.2.0 ..." otherwise), or MBOX_PERM "5.2.2 ..."
 * beyond the mbox_set_limit limit.
 */
int	 mbox_write_message(int fd, mbox_write_fn wfn, void *wctx,
	    const char *sender, const char *rcpt, time_t when,
	    const void *mem, int content_fd, off_t off, size_t len,
	    char *err, size_t errlen);

/*
 * The whole delivery, run with the recipient's privileges: open PATH
 * (O_APPEND|O_CREAT|O_NOFOLLOW, 0600; refuse symlinks, non-regular
 * files, files not owned by the effective uid, link count > 1), dotlock
 * PATH.lock (skipped when the directory is not writable), fcntl write
 * lock, mbox_write_message (the content from mem when not NULL), unlock.
 * Returns MBOX_OK, MBOX_TEMP or MBOX_PERM with err set.
 */
int	 mbox_deliver(const char *path, const char *sender, const char *rcpt,
	    const void *mem, int content_fd, off_t off, size_t len, char *err,
	    size_t errlen);

#endif
