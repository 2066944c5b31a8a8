/*
 * showq_client: mailq's side of public/showq, for a user who may not
 * read the queue. Copies showq's listing to stdout, bounded in time per
 * frame and in total size; never reads a queue file itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "proto.h"
#include "qfile.h"
#include "tools/tools.h"

#define SHOWQ_TIMEOUT_MS	(60 * 1000)		/* per frame */
#define SHOWQ_MAX	(512ULL * 1024 * 1024)	/* listing octets */

/* showq's frames to stdout until its reply: the exit status. */
static int
showq_copy(int fd, struct ipc_msg *m)
{
	unsigned long long total = 0;
	struct proto_reply r;
	const char *chunk;
	char why[128];
	size_t len;
	int rc;

	for (;;) {
		if (ipc_recv(fd, m, SHOWQ_TIMEOUT_MS) == -1) {
			fprintf(stderr, "postern: lost connection to showq: "
			    "%s\n", strerror(errno));
			return 1;
		}
		if (proto_req_type(m) != REQ_DATA ||
		    cleanup_data_decode(m, &chunk, &len) == -1)
			break;
		if ((total += len) > SHOWQ_MAX) {
			fprintf(stderr, "postern: listing cut at %llu MiB\n",
			    SHOWQ_MAX >> 20);
			return 1;
		}
		if (fwrite(chunk, 1, len, stdout) != len)
			return 1;
	}
	if (proto_reply_decode(m, &r, why, sizeof(why)) == -1) {
		fprintf(stderr, "postern: bad answer from showq: %s\n", why);
		return 1;
	}
	if (!r.ok)
		fprintf(stderr, "postern: %s\n", r.text ? r.text : "showq "
		    "failed");
	rc = r.ok ? 0 : 1;
	proto_reply_free(&r);
	return rc;
}

/*
 * The listing from showq (public/showq), for a user who may not read
 * the queue (mailq as anyone, as Postfix and Sendmail allow): the exit
 * status, or -1 (errno) when showq cannot be reached.
 */
int
showq_list(const char *qdir, int json)
{
	struct showq_request req = { json };
	struct ipc_msg m;
	char path[4096];
	struct buf b;
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/%s/showq", qdir, QDIR_PUBLIC) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = ipc_connect(path)) == -1)
		return -1;
	buf_init(&b, 256);
	ipc_msg_init(&m);
	if (showq_request_encode(&b, &req) == -1 ||
	    ipc_send(fd, &b, SHOWQ_TIMEOUT_MS) == -1) {
		fprintf(stderr, "postern: showq: %s\n", strerror(errno));
		rc = 1;
	} else
		rc = showq_copy(fd, &m);
	if (fflush(stdout) != 0)
		rc = 1;
	close(fd);
	ipc_msg_free(&m);
	buf_free(&b);
	return rc;
}
