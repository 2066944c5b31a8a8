/*
 * maildir: delivering one message into a Maildir (SPEC section 9; the
 * layout of cr.yp.to/proto/maildir.html): a unique file in tmp/, written,
 * fsynced, linked into new/, tmp/ name removed, new/ fsynced. The caller
 * (local) already runs as the recipient.
 */
#ifndef POSTERN_MAILDIR_H
#define POSTERN_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The unique name "SEC.MUSECPPIDQN.HOST" with HOST's '/' written as
 * "\057" and ':' as "\072" (the Maildir specification; ',' as "\054" too,
 * so that the ",S=SIZE" maildir_deliver appends in new/ for Dovecot
 * parses). Returns 0, or -1 when it does not fit in out.
 */
int	 maildir_name(char *out, size_t outlen, long long sec, long usec,
	    long pid, unsigned q, const char *host);

/*
 * Deliver into the Maildir DIR (an absolute path; trailing slashes are
 * ignored). The first KEEP bytes of DIR name a directory that must exist
 * (the home directory; symbolic links there are followed); every
 * component after it is opened without following a symbolic link and is
 * created (0700) when missing, and so are tmp/, new/ and cur/. KEEP 0:
 * DIR's parent must exist and only DIR itself is created. The file holds
 * Return-Path and Delivered-To, then the content: len bytes at mem when
 * not NULL, else len bytes of content_fd at off.
 * limit (bytes, 0 = none) bounds the file: beyond it MBOX_PERM "5.2.2".
 * Returns MBOX_OK, MBOX_TEMP or MBOX_PERM (mbox.h) with err set; on any
 * error no file is left in tmp/ or new/.
 */
int	 maildir_deliver(const char *dir, size_t keep, const char *sender,
	    const char *rcpt, const void *mem, int content_fd, off_t off,
	    size_t len, uint64_t limit, char *err, size_t errlen);

#endif
