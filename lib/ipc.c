/*
 * ipc: attribute-list frames over UNIX stream sockets. The parser is the
 * only code that reads a peer's bytes; it bounds every length and rejects
 * bad names, so callers see validated attributes only.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ipc.h"

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
ipc_begin(struct buf *out)
{
	static const char zero[4];

	if (out->cap < IPC_MAX_FRAME + 4)
		out->cap = IPC_MAX_FRAME + 4;
	buf_reset(out);
	buf_append(out, zero, 4);
}

static int
name_ok(const char *name, size_t n)
{
	if (n == 0 || n > IPC_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_'))
			return 0;
	}
	return 1;
}

int
ipc_add(struct buf *out, const char *name, const void *val, size_t len)
{
	unsigned char hdr[4];
	size_t n = strlen(name);
	unsigned char nl = (unsigned char)n;

	if (!name_ok(name, n) || len > IPC_MAX_FRAME ||
	    out->len - 4 + 1 + n + 4 + len > IPC_MAX_FRAME) {
		errno = EMSGSIZE;
		return -1;
	}
	put32(hdr, (uint32_t)len);
	if (buf_append(out, &nl, 1) == -1 || buf_append(out, name, n) == -1 ||
	    buf_append(out, hdr, 4) == -1 || buf_append(out, val, len) == -1)
		return -1;
	return 0;
}

int
ipc_add_str(struct buf *out, const char *name, const char *val)
{
	return ipc_add(out, name, val, strlen(val));
}

int
ipc_add_num(struct buf *out, const char *name, long long val)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%lld", val);

	return ipc_add(out, name, tmp, (size_t)n);
}

int
ipc_end(struct buf *out)
{
	if (out->len < 4)
		return -1;
	put32((unsigned char *)out->data, (uint32_t)(out->len - 4));
	return 0;
}

void
ipc_msg_init(struct ipc_msg *m)
{
	m->nattr = 0;
	m->attr = calloc(IPC_MAX_ATTRS, sizeof(*m->attr));
	if (m->attr == NULL)
		abort();
	buf_init(&m->raw, IPC_MAX_FRAME);
}

void
ipc_msg_free(struct ipc_msg *m)
{
	free(m->attr);
	m->attr = NULL;
	buf_free(&m->raw);
}

int
ipc_parse(struct ipc_msg *m, const void *payload, size_t len)
{
	const unsigned char *p;
	size_t off = 0;

	m->nattr = 0;
	buf_reset(&m->raw);
	if (len > IPC_MAX_FRAME || buf_append(&m->raw, payload, len) == -1)
		return -1;
	p = (const unsigned char *)m->raw.data;
	while (off < len) {
		size_t nl = p[off++];
		uint32_t vl;
		struct ipc_attr *a;

		if (m->nattr >= IPC_MAX_ATTRS || nl > len - off ||
		    !name_ok((const char *)p + off, nl))
			return -1;
		a = &m->attr[m->nattr];
		memcpy(a->name, p + off, nl);
		a->name[nl] = '\0';
		off += nl;
		if (len - off < 4)
			return -1;
		vl = get32(p + off);
		off += 4;
		if (vl > len - off)
			return -1;
		a->val = (const char *)p + off;
		a->len = vl;
		off += vl;
		m->nattr++;
	}
	return 0;
}

long
ipc_frame_ready(const void *data, size_t len)
{
	uint32_t n;

	if (len < 4)
		return 0;
	n = get32(data);
	if (n > IPC_MAX_FRAME)
		return -1;
	if (len - 4 < n)
		return 0;
	return (long)n + 4;
}

const struct ipc_attr *
ipc_get(const struct ipc_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nattr; i++)
		if (strcmp(m->attr[i].name, name) == 0)
			return &m->attr[i];
	return NULL;
}

char *
ipc_get_str(const struct ipc_msg *m, const char *name)
{
	const struct ipc_attr *a = ipc_get(m, name);

	if (a == NULL || memchr(a->val, '\0', a->len) != NULL)
		return NULL;
	return xstrndup(a->val, a->len);
}

int
ipc_get_num(const struct ipc_msg *m, const char *name, long long *out)
{
	const struct ipc_attr *a = ipc_get(m, name);
	char tmp[32], *end;

	if (a == NULL || a->len == 0 || a->len >= sizeof(tmp))
		return -1;
	memcpy(tmp, a->val, a->len);
	tmp[a->len] = '\0';
	errno = 0;
	*out = strtoll(tmp, &end, 10);
	if (errno || *end != '\0')
		return -1;
	return 0;
}

int
ipc_is(const struct ipc_msg *m, const char *name, const char *str)
{
	const struct ipc_attr *a = ipc_get(m, name);

	return a && a->len == strlen(str) && memcmp(a->val, str, a->len) == 0;
}

/* Wait for fd to be ready; 0 ok, -1 with errno = ETIMEDOUT. */
static int
io_wait(int fd, short ev, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };
	int r;

	if (deadline == 0)
		return 0;
	for (;;) {
		long long left = deadline - clock_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* Send (out 1) or receive (out 0) all of len bytes before deadline.
 * EOF while receiving is ECONNRESET. 0 or -1, errno set. */
static int
io_full(int fd, void *p, size_t len, long long deadline, int out)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		if (io_wait(fd, out ? POLLOUT : POLLIN, deadline) == -1)
			return -1;
		n = out ? send(fd, (char *)p + off, len - off, MSG_NOSIGNAL) :
		    read(fd, (char *)p + off, len - off);
		if (n == 0 && !out) {
			errno = ECONNRESET;
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

int
ipc_send(int fd, const struct buf *frame, int timeout_ms)
{
	long long deadline = timeout_ms > 0 ? clock_ms() + timeout_ms : 0;

	return io_full(fd, frame->data, frame->len, deadline, 1);
}

int
ipc_recv(int fd, struct ipc_msg *m, int timeout_ms)
{
	long long deadline = timeout_ms > 0 ? clock_ms() + timeout_ms : 0;
	unsigned char hdr[4];
	uint32_t n;
	char *tmp;
	int r;

	if (io_full(fd, hdr, 4, deadline, 0) == -1)
		return -1;
	n = get32(hdr);
	if (n > IPC_MAX_FRAME) {
		errno = EPROTO;
		return -1;
	}
	tmp = xmalloc(n ? n : 1);
	if (io_full(fd, tmp, n, deadline, 0) == -1) {
		free(tmp);
		return -1;
	}
	r = ipc_parse(m, tmp, n);
	free(tmp);
	if (r == -1)
		errno = EPROTO;
	return r;
}

void
ipc_reader_init(struct ipc_reader *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
}

void
ipc_reader_free(struct ipc_reader *r)
{
	free(r->data);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

size_t
ipc_reader_pending(const struct ipc_reader *r)
{
	return r->len - r->off;
}

/* Read what the peer has sent (at least one octet) into r. */
static int
reader_fill(struct ipc_reader *r, long long deadline)
{
	ssize_t n;

	if (r->off > 0) {		/* keep the partial frame only */
		memmove(r->data, r->data + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->size - r->len < 4096) {
		r->size = r->size ? r->size * 2 : 65536;
		if (r->size > IPC_MAX_FRAME + 4 + 65536)
			r->size = IPC_MAX_FRAME + 4 + 65536;
		r->data = xreallocarray(r->data, r->size, 1);
	}
	for (;;) {
		if (io_wait(r->fd, POLLIN, deadline) == -1)
			return -1;
		n = read(r->fd, r->data + r->len, r->size - r->len);
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n > 0)
			break;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
	r->len += (size_t)n;
	return 0;
}

int
ipc_reader_recv(struct ipc_reader *r, struct ipc_msg *m, int timeout_ms)
{
	long long deadline = timeout_ms > 0 ? clock_ms() + timeout_ms : 0;
	long total;
	int rv;

	for (;;) {
		total = r->len - r->off < 4 ? 0 :
		    ipc_frame_ready(r->data + r->off, r->len - r->off);
		if (total != 0)
			break;
		if (reader_fill(r, deadline) == -1)
			return -1;
	}
	if (total == -1) {
		errno = EPROTO;
		return -1;
	}
	rv = ipc_parse(m, r->data + r->off + 4, (size_t)total - 4);
	r->off += (size_t)total;
	if (r->off == r->len)
		r->off = r->len = 0;
	if (rv == -1)
		errno = EPROTO;
	return rv;
}

int
ipc_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
