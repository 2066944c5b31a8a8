/*
 * proto_int: the field readers and writers proto.c and proto_admin.c
 * share. Internal to lib/: no program includes this; programs use the
 * encoders and decoders of lib/proto.h.
 */
#ifndef POSTERN_PROTO_INT_H
#define POSTERN_PROTO_INT_H

#include "proto.h"

/* err <- the formatted reason; returns -1. */
int	 pr_fail(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* A string attribute into dst[size] ("" when absent and optional). */
int	 pr_get_fixed(const struct ipc_msg *, const char *name, char *dst,
	    size_t size, int req, int clean, char *err, size_t errlen);
/* A decimal number in [min, max]; *out = dflt when absent and optional. */
int	 pr_get_num(const struct ipc_msg *, const char *name, long long min,
	    long long max, long long dflt, int req, long long *out, char *err,
	    size_t errlen);
/* A 0|1 flag; dflt when absent. */
int	 pr_get_flag(const struct ipc_msg *, const char *name, int dflt,
	    int *out, char *err, size_t errlen);
/* status=ok|error into *ok. */
int	 pr_get_status(const struct ipc_msg *, int *ok, char *err, size_t);
/* req=WORD; -1 when r has no word. */
int	 pr_put_req(struct buf *, enum proto_req);
/* End the frame: -1 if bad or it does not close. */
int	 pr_finish(struct buf *, int bad);

/* proto_dsn.c: the DSN attributes of an open request: the message's
 * (ret, envid), and recipient i's (notify, orcpt: right after its rcpt).
 * The decoder reads them after the rcpt list; it fills o->notify and
 * o->orcpt (allocated) only when some recipient has them. */
int	 dsn_open_msg_encode(struct buf *, const struct cleanup_open *);
int	 dsn_open_rcpt_encode(struct buf *, const struct cleanup_open *,
	    size_t i);
int	 dsn_open_decode(const struct ipc_msg *, struct cleanup_open *,
	    char *err, size_t errlen);
void	 dsn_open_free(struct cleanup_open *);

#endif
