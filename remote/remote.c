/*
 * remote: the SMTP delivery agent. qmgr hands it one message and a list of
 * recipient indexes (private/remote, docs/internals.md "delivery agents");
 * it talks SMTP (RFC 5321) to the next hop and answers one status per
 * recipient. Runs as the unprivileged user and only ever reads the queue:
 * it must never write, move or delete a queue file (qmgr alone does that),
 * and must never trust a byte the remote server sends.
 *
 * Master runs a pool of these processes, each doing one delivery at a
 * time with blocking I/O and poll()-based timeouts. A session that ended
 * cleanly is kept open for a few seconds (a small per-process cache keyed
 * by the next hop) and reused, after an RSET, for the next message to the
 * same next hop; a bare-domain next hop is resolved by MX (lib/dns.c: best
 * preference first, A/AAAA of the domain without MX, never to ourselves).
 * STARTTLS per remote_tls (tls_client.c) and AUTH with the remote_auth
 * credentials, which are sent only over TLS (unless remote_tls = none) and
 * must never reach a log line or a status text.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"

struct worker	 wk;

/* ---- the job: request in, answers out ---- */

static int
addr_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f || *a == '<' ||
		    *a == '>')
			return 0;
	return 1;
}

/* One pass over the content: 8-bit bytes and the line count (SIZE=). */
static int
scan_content(struct job *j)
{
	char *in = xmalloc(CHUNK);
	size_t pos = 0;

	while (pos < j->q.content_len) {
		size_t want = j->q.content_len - pos;
		ssize_t n;

		if (want > CHUNK)
			want = CHUNK;
		n = pread(j->qfd, in, want, j->q.content_off + (off_t)pos);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			free(in);
			return -1;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (in[k] == '\n')
				j->nlines++;
			else if ((unsigned char)in[k] > 127)
				j->eightbit = 1;
		}
		pos += (size_t)n;
	}
	free(in);
	return 0;
}

static int
send_answers(int fd, const struct job *j)
{
	struct buf b;
	int rv = 0;

	buf_init(&b, IPC_MAX_FRAME);
	for (size_t i = 0; i < j->nr && rv == 0; i++) {
		const struct rcpt *r = &j->r[i];
		const char *st = r->st == R_SENT ? "sent" :
		    r->st == R_BOUNCE ? "bounce" : "defer";

		if (r->dup)
			continue;

		ipc_begin(&b);
		if (ipc_add_num(&b, "rcpt", r->idx) == -1 ||
		    ipc_add_str(&b, "status", st) == -1 ||
		    ipc_add_num(&b, "code", r->code) == -1 ||
		    ipc_add_str(&b, "text", r->text) == -1 ||
		    ipc_end(&b) == -1 || ipc_send(fd, &b, IPC_TIMEOUT_MS) == -1)
			rv = -1;
	}
	if (rv == 0) {
		ipc_begin(&b);
		if (ipc_add_str(&b, "req", "done") == -1 || ipc_end(&b) == -1 ||
		    ipc_send(fd, &b, IPC_TIMEOUT_MS) == -1)
			rv = -1;
	}
	buf_free(&b);
	return rv;
}

/* Handle one req=deliver; -1 if the qmgr connection should be dropped. */
static int
job_run(int fd, const struct ipc_msg *m)
{
	struct job j;
	char path[512], err[256], *s;
	unsigned char *seen = NULL;
	int rv;

	memset(&j, 0, sizeof(j));
	j.qfd = -1;
	fmt(j.relay, sizeof(j.relay), "none");
	/* the recipient indexes first: every one of them gets an answer */
	for (size_t i = 0; i < m->nattr; i++) {
		const struct ipc_attr *a = &m->attr[i];
		char num[24];
		char *end;
		long v;

		if (strcmp(a->name, "rcpt") != 0)
			continue;
		if (a->len == 0 || a->len >= sizeof(num))
			return -1;
		memcpy(num, a->val, a->len);
		num[a->len] = '\0';
		errno = 0;
		v = strtol(num, &end, 10);
		if (errno || *end != '\0' || v < 0 || v >= QF_MAX_RCPT ||
		    !isdigit((unsigned char)num[0]))
			return -1;
		j.r = xreallocarray(j.r, j.nr + 1, sizeof(*j.r));
		memset(&j.r[j.nr], 0, sizeof(*j.r));
		j.r[j.nr].idx = v;
		j.nr++;
	}
	j.npending = j.nr;

	s = ipc_get_str(m, "queue_id");
	if (s == NULL || !qid_valid(s)) {
		free(s);
		free(j.r);
		return -1;
	}
	memcpy(j.id, s, QID_LEN + 1);
	free(s);
	s = ipc_get_str(m, "nexthop");
	if (s == NULL || strlen(s) >= sizeof(j.nexthop)) {
		final_all(&j, R_DEFER, 451, "4.3.5", "bad or missing next hop");
		free(s);
		goto answer;
	}
	memcpy(j.nexthop, s, strlen(s) + 1);
	free(s);
	if (!ipc_is(m, "dir", "active")) {
		final_all(&j, R_DEFER, 451, "4.3.0",
		    "queue file is not in active/");
		goto answer;
	}

	fmt(err, sizeof(err), "%s/%s", QDIR_ACTIVE, j.id);
	queue_path(&wk.conf, err, path, sizeof(path));
	j.qfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (j.qfd == -1) {
		char t[TEXT_MAX];

		log_warn("%s: open %s: %s", j.id, path, strerror(errno));
		fmt(t, sizeof(t), "cannot open queue file: %s",
		    strerror(errno));
		final_all(&j, R_DEFER, 451, "4.3.0", t);
		goto answer;
	}
	if (qfile_read(j.qfd, &j.q, err, sizeof(err)) == -1) {
		char t[TEXT_MAX];

		log_warn("%s: bad queue file: %s", j.id, err);
		fmt(t, sizeof(t), "cannot read queue file: %s", err);
		qfile_free(&j.q);
		final_all(&j, R_DEFER, 451, "4.3.0", t);
		goto answer;
	}
	if (scan_content(&j) == -1) {
		log_warn("%s: read queue file: %s", j.id, strerror(errno));
		final_all(&j, R_DEFER, 451, "4.3.0",
		    "cannot read queue file content");
		goto answer;
	}
	fmt(j.relay, sizeof(j.relay), "none");
	seen = xcalloc(j.q.nrcpt ? j.q.nrcpt : 1, 1);
	for (size_t i = 0; i < j.nr; i++) {
		struct rcpt *r = &j.r[i];

		if ((size_t)r->idx >= j.q.nrcpt) {
			log_warn("%s: recipient index %ld out of range",
			    j.id, r->idx);
			rcpt_final(&j, i, R_DEFER, 451, "4.3.0",
			    "recipient index out of range", NULL);
			continue;
		}
		r->addr = j.q.rcpt[r->idx].addr;
		if (seen[r->idx]) {	/* asked twice: answer once */
			r->dup = 1;
			r->st = R_DEFER;
			j.npending--;
			continue;
		}
		seen[r->idx] = 1;
		if (!addr_ok(r->addr))
			rcpt_final(&j, i, R_BOUNCE, 553, "5.1.3",
			    "bad recipient address syntax", NULL);
		else if (addr_8bit(r->addr))
			j.utf8addr = 1;
	}
	if (!addr_ok(j.q.sender))
		final_all(&j, R_BOUNCE, 553, "5.1.7",
		    "bad sender address syntax");
	else if (addr_8bit(j.q.sender))
		j.utf8addr = 1;
	if (j.npending > 0)
		deliver(&j);

answer:
	explicit_bzero(j.cred_user, sizeof(j.cred_user));
	explicit_bzero(j.cred_pass, sizeof(j.cred_pass));
	rv = send_answers(fd, &j);
	if (rv == -1)
		log_warn("%s: cannot answer qmgr: %s", j.id, strerror(errno));
	if (j.qfd != -1)
		close(j.qfd);
	qfile_free(&j.q);
	free(seen);
	free(j.r);
	return rv;
}

/* One qmgr connection: requests until EOF or SIGTERM. */
static void
serve(int fd)
{
	struct ipc_msg m;

	ipc_msg_init(&m);
	while (!worker_stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, cache_wait_ms(1000));

		cache_expire();

		if (r == 0 || (r == -1 && errno == EINTR))
			continue;
		if (r == -1)
			break;
		if (ipc_recv(fd, &m, IPC_TIMEOUT_MS) == -1) {
			if (errno != ECONNRESET)
				log_warn("qmgr connection: %s",
				    strerror(errno));
			break;
		}
		if (!ipc_is(&m, "req", "deliver")) {
			log_warn("unknown request from qmgr; dropping it");
			break;
		}
		if (job_run(fd, &m) == -1)
			break;
	}
	ipc_msg_free(&m);
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[16 + CACHE_MAX];

	worker_init(&wk, "remote", argc, argv);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	cache_init();
	for (int i = 0; i < wk.nlisten; i++) {
		pfd[i].fd = wk.listen_fd[i];
		pfd[i].events = POLLIN;
		fcntl(wk.listen_fd[i], F_SETFL, O_NONBLOCK);
	}
	while (!worker_stop) {
		nfds_t n = (nfds_t)wk.nlisten;
		int r;

		/* idle cached sessions: a peer that closes is noticed at
		 * once, an expired one is QUIT on time */
		n += (nfds_t)cache_fds(pfd + n, CACHE_MAX);
		r = poll(pfd, n, cache_wait_ms(1000));
		cache_expire();
		if (r <= 0)
			continue;
		for (int i = 0; i < wk.nlisten; i++) {
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd == -1)
				continue;
			serve(fd);
			close(fd);
		}
	}
	cache_flush();
	return 0;
}

