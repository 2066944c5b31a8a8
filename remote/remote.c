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
 * credentials, which are sent only over a session remote_auth_tls allows
 * (verified TLS unless the admin asks for less) and must never reach a log
 * line or a status text.
 *
 * This file: the conf/agent hooks. connect.c walks the addresses, dialogue.c
 * talks SMTP over conn.c, auth.c does AUTH, reuse.c caches sessions and
 * status.c words each recipient's answer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remote.h"

struct worker	 wk;

static int
addr_ok(const char *a)
{
	for (; *a; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f || *a == '<' ||
		    *a == '>')
			return 0;
	return 1;
}

size_t
job_piece(const struct job *j, size_t max)
{
	if (j->q->content_len == 0)
		return 1;
	return j->q->content_len < max ? j->q->content_len : max;
}

/* One pass over the content: 8-bit bytes (in the header section too)
 * and the line count (SIZE=). */
static int
scan_content(struct job *j)
{
	size_t piece = job_piece(j, CHUNK), pos = 0;
	char *in = xmalloc(piece);
	int hdr = 1, bol = 1;

	while (pos < j->q->content_len) {
		ssize_t n = agent_read(j->a, pos, in, piece);

		if (n <= 0) {
			free(in);
			return -1;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (in[k] == '\n') {
				j->nlines++;
				hdr = hdr && !bol;	/* the blank line */
				bol = 1;
				continue;
			}
			bol = 0;
			if ((unsigned char)in[k] > 127) {
				j->eightbit = 1;
				j->hdr8bit |= hdr;
			}
		}
		pos += (size_t)n;
	}
	free(in);
	return 0;
}

/* Recipient and sender addresses: bad syntax bounces, 8-bit needs
 * SMTPUTF8. */
static void
check_addrs(struct job *j)
{
	for (size_t i = 0; i < j->a->nrcpt; i++) {
		const char *addr = j->a->rcpt[i].addr;

		if (!addr_ok(addr))
			rcpt_final(j, i, DS_BOUNCE, 553, "5.1.3",
			    "bad recipient address syntax", NULL);
		else if (addr_8bit(addr))
			j->utf8addr = 1;
	}
	if (!addr_ok(j->q->sender))
		final_all(j, DS_BOUNCE, 553, "5.1.7",
		    "bad sender address syntax");
	else if (addr_8bit(j->q->sender))
		j->utf8addr = 1;
	/* A non-ASCII envelope address cannot go without SMTPUTF8; 8-bit
	 * headers need it when the client said they are UTF-8 (RFC 6532). */
	j->need_utf8 = j->utf8addr ||
	    ((j->q->flags & QF_SMTPUTF8) && j->hdr8bit);
}

/* The deliver hook: one message to its next hop. */
static void
remote_deliver(struct agent_job *a)
{
	struct job j;

	memset(&j, 0, sizeof(j));
	j.a = a;
	j.id = a->id;
	j.q = &a->q;
	j.accepted = xcalloc(a->nrcpt ? a->nrcpt : 1, 1);
	fmt(j.relay, sizeof(j.relay), "none");
	if (a->nexthop[0] == '\0' ||
	    strlen(a->nexthop) >= sizeof(j.nexthop))
		final_all(&j, DS_DEFER, 451, "4.3.5",
		    "bad or missing next hop");
	else if (scan_content(&j) == -1) {
		log_warn("%s: read queue file: %s", j.id, strerror(errno));
		final_all(&j, DS_DEFER, 451, "4.3.0",
		    "cannot read queue file content");
	} else {
		memcpy(j.nexthop, a->nexthop, strlen(a->nexthop) + 1);
		j.tls = a->tls > 0 ? (enum conf_remote_tls)(a->tls - 1) :
		    wk.conf.remote_tls;
		check_addrs(&j);
		if (a->nopen > 0)
			deliver(&j);
	}
	explicit_bzero(j.cred_user, sizeof(j.cred_user));
	explicit_bzero(j.cred_pass, sizeof(j.cred_pass));
	free(j.accepted);
}

static void
remote_init(struct worker *w)
{
	cache_init();
}

static const struct agent_ops remote_ops = {
	.name = "remote",
	.init = remote_init,
	.deliver = remote_deliver,
	.idle_fds = cache_fds,
	.idle_wait_ms = cache_wait_ms,
	.idle = cache_expire,
	.fini = cache_flush,
};

int
main(int argc, char **argv)
{
	return agent_main(&wk, &remote_ops, argc, argv);
}
