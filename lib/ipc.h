/*
 * ipc: attribute-list messages over UNIX stream sockets, shared by every
 * program. A frame is
 *     u32 BE payload length (<= IPC_MAX_FRAME)
 *     payload: repeated attributes { u8 name length (1..31), name [a-z_0-9],
 *                                    u32 BE value length, value bytes }
 * Names may repeat (e.g. several "rcpt"). The parser is a pure function;
 * a peer that sends a malformed frame is dropped by the caller.
 * Protocols built on it are described in docs/internals.md.
 */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

#define IPC_MAX_FRAME	(256 * 1024)
#define IPC_MAX_ATTRS	1024
#define IPC_MAX_NAME	31

struct ipc_attr {
	char		 name[IPC_MAX_NAME + 1];
	const char	*val;	/* points into the frame; NOT NUL-terminated */
	size_t		 len;
};

struct ipc_msg {
	size_t		 nattr;
	struct ipc_attr	*attr;	/* xcalloc'd, IPC_MAX_ATTRS entries */
	struct buf	 raw;	/* the payload the attrs point into */
};

/* Building a frame: begin, add attributes, end (patches the length). */
void	 ipc_begin(struct buf *out);
int	 ipc_add(struct buf *out, const char *name, const void *val, size_t len);
int	 ipc_add_str(struct buf *out, const char *name, const char *val);
int	 ipc_add_num(struct buf *out, const char *name, long long val);
int	 ipc_end(struct buf *out);

void	 ipc_msg_init(struct ipc_msg *);
void	 ipc_msg_free(struct ipc_msg *);

/*
 * Parse one complete payload (without the 4-byte length). Copies it into
 * m->raw. Returns 0, or -1 on any violation (bad name, length overrun,
 * too many attrs).
 */
int	 ipc_parse(struct ipc_msg *m, const void *payload, size_t len);

/*
 * Given bytes received so far, return the total frame size (4 + payload)
 * if a whole frame is present, 0 if more bytes are needed, -1 if the
 * announced length is over IPC_MAX_FRAME.
 */
long	 ipc_frame_ready(const void *data, size_t len);

/* Lookups. ipc_get returns the first attr named; NULL if absent. */
const struct ipc_attr *ipc_get(const struct ipc_msg *, const char *name);
/* Copy value as a NUL-terminated string into a fresh xmalloc'd buffer;
 * NULL if absent or if it contains a NUL byte. */
char	*ipc_get_str(const struct ipc_msg *, const char *name);
/* Numeric value; returns -1 if absent/invalid, else 0 with *out set. */
int	 ipc_get_num(const struct ipc_msg *, const char *name, long long *out);
/* Does attribute name have value str exactly? */
int	 ipc_is(const struct ipc_msg *, const char *name, const char *str);

/* Blocking I/O on a socket, for the process-per-job programs.
 * timeout_ms <= 0 means no timeout. Return 0 or -1 (errno set; ETIMEDOUT,
 * EPROTO for a bad frame, ECONNRESET for EOF). */
int	 ipc_send(int fd, const struct buf *frame, int timeout_ms);
int	 ipc_recv(int fd, struct ipc_msg *m, int timeout_ms);

/*
 * A connection's input read in pieces as large as the peer has sent (one
 * poll and one read for frames that came together, where ipc_recv makes
 * two of each per frame). Frames as ipc_recv; the reader holds at most
 * one frame and what came with it.
 */
struct ipc_reader {
	int	 fd;
	char	*data;
	size_t	 size, len;
	size_t	 off;		/* the first octet not parsed */
};
void	 ipc_reader_init(struct ipc_reader *, int fd);
void	 ipc_reader_free(struct ipc_reader *);
int	 ipc_reader_recv(struct ipc_reader *, struct ipc_msg *,
	    int timeout_ms);
/* Octets read and not yet parsed: a request already there. */
size_t	 ipc_reader_pending(const struct ipc_reader *);

/* Connect to a UNIX stream socket path; -1 on failure (errno set). */
int	 ipc_connect(const char *path);

#endif
