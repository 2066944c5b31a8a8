/*
 * local: the local delivery agent. qmgr hands it recipients of one queue
 * file (docs/internals.md "delivery agents"); it expands aliases, forwards
 * remote targets through cleanup, and appends to mboxes in a forked child
 * that has become the recipient. It keeps root (when started as root)
 * only to fork those children: it must never write a mailbox, run a
 * command or open a user's file with root privileges (the one exception:
 * creating a missing mailbox, O_EXCL, in a root-owned spool directory),
 * and never modify the queue file (qmgr alone records statuses).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "map.h"
#include "mbox.h"
#include "qfile.h"
#include "worker.h"
#include "local.h"

struct worker	 wk;
struct map	 aliases;
static struct domain_list local_domains;
int		 as_root;

void
setres(struct result *r, enum res kind, const char *fmt, ...)
{
	va_list	 ap;

	r->kind = kind;
	va_start(ap, fmt);
	if (vsnprintf(r->text, sizeof(r->text), fmt, ap) < 0)
		r->text[0] = '\0';
	va_end(ap);
}

/* SMTP-like code for an enhanced status text. */
static int
code_for(const struct result *r)
{
	if (r->kind == RES_OK)
		return 250;
	if (r->kind == RES_TEMP)
		return strncmp(r->text, "4.3.1", 5) == 0 ? 452 :
		    strncmp(r->text, "4.2.", 4) == 0 ? 450 : 451;
	return strncmp(r->text, "5.1.", 4) == 0 ? 550 : 554;
}

int
is_local_domain(const char *d)
{
	return strcasecmp(d, "localhost") == 0 ||
	    (wk.conf.hostname && strcasecmp(d, wk.conf.hostname) == 0) ||
	    domain_list_match(&local_domains, d, 0);
}

/* --- loop detection ------------------------------------------------- */

/* Read the header section (bounded) once per job. */
static void
read_headers(struct job *j)
{
	char	 chunk[8192];
	size_t	 max = j->q.content_len < MAX_HEADER ? j->q.content_len :
		    MAX_HEADER;
	size_t	 done = 0;

	buf_init(&j->hdr, MAX_HEADER + 1);
	while (done < max) {
		size_t want = max - done < sizeof(chunk) ? max - done :
		    sizeof(chunk);
		ssize_t n = pread(j->fd, chunk, want,
		    j->q.content_off + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || buf_append(&j->hdr, chunk, (size_t)n) == -1)
			break;
		done += (size_t)n;
		if (j->hdr.len > 0 && j->hdr.data[0] == '\n')
			break;
		if (memmem(j->hdr.data, j->hdr.len, "\n\n", 2) != NULL)
			break;
	}
}

/* Does the header section have "Delivered-To: addr"? */
int
delivered_to(const struct job *j, const char *addr)
{
	const char	*p = j->hdr.data, *end, *nl, *v;
	size_t		 alen = strlen(addr), vlen;

	if (p == NULL)
		return 0;
	end = p + j->hdr.len;
	while (p < end && *p != '\n') {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > 13 &&
		    strncasecmp(p, "Delivered-To:", 13) == 0) {
			v = p + 13;
			while (v < nl && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(nl - v);
			while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
				vlen--;
			if (vlen >= 2 && v[0] == '<' && v[vlen - 1] == '>') {
				v++;
				vlen -= 2;
			}
			if (vlen == alen && strncasecmp(v, addr, alen) == 0)
				return 1;
		}
		p = nl + 1;
	}
	return 0;
}

/* --- one recipient -------------------------------------------------- */

static double
delay_s(const struct job *j)
{
	struct timeval	 tv;
	uint64_t	 now;

	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	return now > j->q.arrival_us ? (double)(now - j->q.arrival_us) / 1e6 :
	    0.0;
}

static const char *
status_word(enum res k)
{
	return k == RES_OK ? "sent" : k == RES_TEMP ? "deferred" : "bounced";
}

static void
log_result(const struct job *j, const char *to, const char *orig,
    const struct result *r)
{
	const char *text = r->text;

	/* Success texts read as Postfix's: "(delivered to mailbox)". */
	if (r->kind == RES_OK && strncmp(text, "2.0.0 ", 6) == 0)
		text += 6;
	log_info("%s: to=<%s>%s%s%s, relay=local, delay=%.2f, status=%s (%s)",
	    j->id, to, orig ? ", orig_to=<" : "", orig ? orig : "",
	    orig ? ">" : "", delay_s(j), status_word(r->kind), text);
}

/* Merge one outcome: any temp failure defers the recipient, else the
 * first permanent one bounces it. */
static void
merge(struct result *total, int *seen, const struct result *r)
{
	if (!*seen || (r->kind == RES_TEMP && total->kind != RES_TEMP) ||
	    (r->kind == RES_PERM && total->kind == RES_OK))
		*total = *r;
	*seen = 1;
}

static void
deliver_rcpt(struct job *j, size_t idx, struct result *res)
{
	struct expansion x;
	struct result	 r;
	char		 local[256], domain[256], newid[QID_LEN + 1] = "";
	const char	*addr = j->q.rcpt[idx].addr, *at;
	size_t		 ll, nfwd = 0, ok = 0;
	int		 seen = 0, aliased;

	memset(&x, 0, sizeof(x));
	at = strrchr(addr, '@');
	ll = at ? (size_t)(at - addr) : strlen(addr);
	if (ll == 0 || ll >= sizeof(local) ||
	    strlcpy(domain, at ? at + 1 : (wk.conf.hostname ?
	    wk.conf.hostname : "localhost"), sizeof(domain)) >= sizeof(domain)) {
		setres(res, RES_PERM, "5.1.3 bad recipient address");
		log_result(j, addr, NULL, res);
		return;
	}
	memcpy(local, addr, ll);
	local[ll] = '\0';
	lower(local);
	addr_domain_norm(domain);
	if (delivered_to(j, addr)) {
		setres(res, RES_PERM, "5.4.6 mail forwarding loop for %s", addr);
		log_result(j, addr, NULL, res);
		return;
	}
	expand(&x, local, domain, addr, 0);
	aliased = !(x.n == 1 && x.t[0].kind == T_USER &&
	    strcmp(x.t[0].dt, addr) == 0);
	if (x.has_err && x.err.kind == RES_TEMP) {
		/* Nothing delivered yet: retry the whole expansion later. */
		*res = x.err;
		log_result(j, addr, NULL, res);
		goto out;
	}
	/*
	 * Deliver every good target, then report one status for the
	 * original recipient. If one target defers, the whole recipient is
	 * retried and the targets that succeeded get the message again: a
	 * possible duplicate, never a loss (SPEC section 8).
	 */
	for (size_t i = 0; i < x.n; i++) {
		if (x.t[i].kind != T_USER) {
			nfwd++;
			continue;
		}
		deliver_user(j, x.t[i].name, x.t[i].dt, &r);
		log_result(j, x.t[i].dt, aliased ? addr : NULL, &r);
		merge(res, &seen, &r);
		ok += r.kind == RES_OK;
	}
	if (nfwd > 0) {
		forward(j, &x, addr, &r, newid, sizeof(newid));
		for (size_t i = 0; i < x.n; i++)
			if (x.t[i].kind == T_FWD)
				log_result(j, x.t[i].name, addr, &r);
		merge(res, &seen, &r);
		ok += r.kind == RES_OK ? nfwd : 0;
	}
	if (x.has_err) {
		log_result(j, addr, NULL, &x.err);
		merge(res, &seen, &x.err);
	}
	if (!seen) {	/* an alias with no targets at all */
		setres(res, RES_PERM, "5.1.1 alias has no targets");
		log_result(j, addr, NULL, res);
	} else if (res->kind == RES_OK && x.n > 1)
		setres(res, RES_OK, "2.0.0 delivered to %zu targets", ok);
out:
	exp_free(&x);
}

/* --- protocol ------------------------------------------------------- */

static int
reply_rcpt(int fd, const struct ipc_attr *idx, const struct result *r)
{
	struct buf	 b;
	int		 ret;

	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_begin(&b);
	ipc_add(&b, "rcpt", idx->val, idx->len);
	ipc_add_str(&b, "status", r->kind == RES_OK ? "sent" :
	    r->kind == RES_TEMP ? "defer" : "bounce");
	ipc_add_num(&b, "code", code_for(r));
	ipc_add_str(&b, "text", r->text);
	ret = ipc_end(&b) == -1 ? -1 : ipc_send(fd, &b, IO_TIMEOUT_MS);
	buf_free(&b);
	return ret;
}

static int
parse_index(const struct ipc_attr *a, size_t *out)
{
	size_t	 v = 0;

	if (a->len == 0 || a->len > 9)
		return -1;
	for (size_t i = 0; i < a->len; i++) {
		if (a->val[i] < '0' || a->val[i] > '9')
			return -1;
		v = v * 10 + (size_t)(a->val[i] - '0');
	}
	*out = v;
	return 0;
}

static void
serve(int cfd)
{
	struct ipc_msg	 m;
	struct job	 j;
	struct result	 r;
	struct buf	 b;
	char		 path[512], rel[64], err[256] = "", *qid = NULL;
	int		 readable = 0;

	memset(&j, 0, sizeof(j));
	j.fd = -1;
	ipc_msg_init(&m);
	if (ipc_recv(cfd, &m, IO_TIMEOUT_MS) == -1) {
		log_warn("reading request: %s", strerror(errno));
		goto out;
	}
	if (!ipc_is(&m, "req", "deliver")) {
		log_warn("unexpected request; closing");
		goto out;
	}
	qid = ipc_get_str(&m, "queue_id");
	if (qid == NULL || !qid_valid(qid)) {
		snprintf(err, sizeof(err), "bad queue id");
	} else if (!ipc_is(&m, "dir", "active")) {
		snprintf(err, sizeof(err), "not in active queue");
	} else {
		strlcpy(j.id, qid, sizeof(j.id));
		snprintf(rel, sizeof(rel), "%s/%s", QDIR_ACTIVE, qid);
		queue_path(&wk.conf, rel, path, sizeof(path));
		if ((j.fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1)
			snprintf(err, sizeof(err), "%s", strerror(errno));
		else if (qfile_read(j.fd, &j.q, err, sizeof(err)) == 0)
			readable = 1;
		else
			qfile_free(&j.q);
	}
	if (readable)
		read_headers(&j);
	else
		log_warn("%s: cannot read queue file: %s", qid ? qid : "?",
		    err);
	for (size_t i = 0; i < m.nattr; i++) {
		const struct ipc_attr *a = &m.attr[i];
		size_t idx;

		if (strcmp(a->name, "rcpt") != 0)
			continue;
		memset(&r, 0, sizeof(r));
		if (!readable)
			setres(&r, RES_TEMP, "4.3.0 cannot read queue file: %s",
			    err);
		else if (parse_index(a, &idx) == -1 || idx >= j.q.nrcpt) {
			log_warn("%s: bad recipient index %.*s", j.id,
			    (int)(a->len > 16 ? 16 : a->len), a->val);
			setres(&r, RES_TEMP, "4.3.0 bad recipient index");
		} else
			deliver_rcpt(&j, idx, &r);
		if (reply_rcpt(cfd, a, &r) == -1) {
			log_warn("%s: lost qmgr: %s", j.id, strerror(errno));
			goto out;
		}
	}
	buf_init(&b, 64);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "done");
	if (ipc_end(&b) == -1 || ipc_send(cfd, &b, IO_TIMEOUT_MS) == -1)
		log_warn("%s: lost qmgr: %s", j.id, strerror(errno));
	buf_free(&b);
out:
	if (readable)
		qfile_free(&j.q);
	buf_free(&j.hdr);
	if (j.fd != -1)
		close(j.fd);
	free(qid);
	ipc_msg_free(&m);
}

int
main(int argc, char **argv)
{
	struct conf_errors	 errs = { 0 };

	worker_init(&wk, "local", argc, argv);
	tzset();	/* children inherit the zone; no /etc/localtime per delivery */
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	as_root = geteuid() == 0;
	aliases.fd = -1;
	if (domain_list_load(wk.conf.local_domains, &local_domains,
	    &errs) == -1)
		for (size_t i = 0; i < errs.n; i++)
			log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
	if (wk.conf.alias_map && map_open(&aliases, wk.conf.alias_map) == -1)
		fatal("cannot open alias map %s: %s", wk.conf.alias_map,
		    strerror(errno));
	signal(SIGCHLD, SIG_DFL);
	while (!worker_stop) {
		int fd = worker_accept(&wk, 1000, NULL);
		if (fd == -1)
			continue;
		serve(fd);
		close(fd);
	}
	map_close(&aliases);
	domain_list_free(&local_domains);
	return 0;
}

