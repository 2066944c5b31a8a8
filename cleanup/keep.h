/*
 * A client connection that stays open between messages (smtpd keeps one
 * per SMTP session): waiting for its next request without holding up a
 * client that waits for a cleanup process.
 */
#ifndef CLEANUP_KEEP_H
#define CLEANUP_KEEP_H

#include "worker.h"

int	 keep_wait(const struct worker *, int fd, int timeout_ms);

#endif
