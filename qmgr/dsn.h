/*
 * dsn: RFC 3464 delivery status notifications (bounces, delay and
 * success notices) written by qmgr straight into incoming/ as new queue
 * files.
 */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H

#include "conf.h"
#include "proto.h"
#include "qfile.h"

/* Report on q's recipients (DS_BOUNCE: a non-delivery notice on those in
 * QR_FAILED; DS_DEFER: a delay notice on those still pending; DS_SENT: a
 * success notice on those in QR_SENT_NOTIFY or QR_RELAYED_NOTIFY), each
 * only if its NOTIFY asks for it, to q's sender. A bounce of a message
 * from <> goes to postmaster, a DSN about a DSN to postmaster is dropped
 * (logged), no other notice goes anywhere for <>. 0 ok (also: nothing to
 * report), -1 error. */
int	 dsn_send(const struct conf *, int incoming_dirfd, const struct qfile *q,
	    int content_fd, enum dstat);

/* Build the DSN text into out (exposed for tests). */
int	 dsn_format(const struct conf *, const struct qfile *q, int content_fd,
	    enum dstat, const char *new_id, const char *to, struct buf *out);

#endif
