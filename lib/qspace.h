/*
 * qspace: is there room in the queue for one more message? The one
 * free-space check (queue_minfree, SPEC section 3) smtpd makes at MAIL
 * with SIZE and before DATA, and cleanup at a local submission. Only asks
 * the file system (statvfs); never writes, never decides a reply.
 */
#ifndef POSTERN_QSPACE_H
#define POSTERN_QSPACE_H

#include <stdint.h>

/* 1 if the file system of queue_dir (or of ".", a worker's queue, when
 * that path cannot be seen) has at least max(minfree, 1.5 x size) bytes
 * free for the unprivileged user; 0 if not. When the space cannot be
 * known it answers 1: a broken statvfs must not stop all mail. */
int	 qspace_ok(const char *queue_dir, uint64_t minfree, uint64_t size);

#endif
