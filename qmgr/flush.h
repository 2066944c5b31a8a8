/*
 * flush: a flush of some deferred mail only (sendmail -qR/-qS/-qI,
 * postern queue flush -r/-s/-i): qmgr makes the matching messages due.
 */
#ifndef POSTERN_QMGR_FLUSH_H
#define POSTERN_QMGR_FLUSH_H

#include "proto.h"
#include "qfile.h"
#include "queue.h"

/* Does the message match the filter? (recipients: pending ones only) */
int	 flush_match(const struct qfile *, const struct qmgr_flush *);
/* Make every message of deferred/ that matches due now; how many, or -1
 * if deferred/ cannot be read. */
int	 flush_filtered(struct queue *, const struct qmgr_flush *);

#endif
