/*
 * local forward: a message re-injected through cleanup to an alias's
 * remote targets, with Delivered-To first so a loop through another host
 * is caught. Reads the queue file only; never writes the queue itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "local.h"

static int
cleanup_reply(int fd, struct ipc_msg *m, struct result *r, char *qid,
    size_t qidlen)
{
	char		*text, *id;
	long long	 code = 0;

	if (ipc_recv(fd, m, IO_TIMEOUT_MS) == -1) {
		setres(r, RES_TEMP, "4.3.0 cleanup: %s", strerror(errno));
		return -1;
	}
	if (ipc_is(m, "status", "ok")) {
		if (qid && (id = ipc_get_str(m, "queue_id")) != NULL) {
			strlcpy(qid, id, qidlen);
			free(id);
		}
		return 0;
	}
	ipc_get_num(m, "code", &code);
	text = ipc_get_str(m, "text");
	setres(r, code >= 500 && code < 600 ? RES_PERM : RES_TEMP, "%s",
	    text ? text : "4.3.0 cleanup error");
	free(text);
	return -1;
}

/* One new message (same sender, received=0) to every forward target. */
void
forward(struct job *j, const struct expansion *x, const char *orig,
    struct result *r, char *newid, size_t newidlen)
{
	struct ipc_msg	 m;
	struct buf	 b;
	char		 path[512], *chunk = NULL;
	size_t		 done = 0;
	int		 fd;

	queue_path(&wk.conf, QDIR_PRIVATE "/cleanup", path, sizeof(path));
	if ((fd = ipc_connect(path)) == -1) {
		setres(r, RES_TEMP, "4.3.0 cannot connect to cleanup: %s",
		    strerror(errno));
		return;
	}
	ipc_msg_init(&m);
	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "open");
	ipc_add_str(&b, "sender", j->q.sender ? j->q.sender : "");
	for (size_t i = 0; i < x->n; i++)
		if (x->t[i].kind == T_FWD)
			ipc_add_str(&b, "rcpt", x->t[i].name);
	ipc_add_str(&b, "received", "0");
	if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1) {
		setres(r, RES_TEMP, "4.3.0 cleanup: %s", strerror(errno));
		goto out;
	}
	if (cleanup_reply(fd, &m, r, NULL, 0) == -1)
		goto out;
	/* Delivered-To first, as Postfix does: a forwarding loop through
	 * another host comes back with it and is stopped here. */
	chunk = xmalloc(CHUNK);
	snprintf(chunk, CHUNK, "Delivered-To: %s\n", orig);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "data");
	ipc_add_str(&b, "chunk", chunk);
	if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1)
		goto ioerr;
	while (done < j->q.content_len) {
		size_t want = j->q.content_len - done < CHUNK ?
		    j->q.content_len - done : CHUNK;
		ssize_t n = pread(j->fd, chunk, want,
		    j->q.content_off + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			setres(r, RES_TEMP, "4.3.0 cannot read queue file");
			goto out;
		}
		ipc_begin(&b);
		ipc_add_str(&b, "req", "data");
		ipc_add(&b, "chunk", chunk, (size_t)n);
		if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1)
			goto ioerr;
		done += (size_t)n;
	}
	ipc_begin(&b);
	ipc_add_str(&b, "req", "end");
	if (ipc_end(&b) == -1 || ipc_send(fd, &b, IO_TIMEOUT_MS) == -1)
		goto ioerr;
	if (cleanup_reply(fd, &m, r, newid, newidlen) == 0)
		setres(r, RES_OK, "2.0.0 forwarded as %s", newid);
	goto out;
ioerr:
	setres(r, RES_TEMP, "4.3.0 cleanup: %s", strerror(errno));
out:
	free(chunk);
	buf_free(&b);
	ipc_msg_free(&m);
	close(fd);
}
