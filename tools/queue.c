/*
 * queue: `postern queue` (= mailq, sendmail -bp, sendmail -q): list, show,
 * flush, hold/release/delete/requeue and shape. It reads the queue tree
 * directly (root or the postern user) and asks qmgr to change things while
 * qmgr runs; only when qmgr is down does it move or remove files itself.
 * It never writes into a queue file (qmgr owns the statuses) and trusts
 * nothing it reads: every file goes through qfile_read, text is sanitised.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "proto.h"
#include "qfile.h"
#include "queue.h"
#include "tools/tools.h"

#define QMGR_TIMEOUT_MS	30000
#define EX_TEMPFAIL_	75

/* The queues mailq lists, in Postfix's order. */
static const enum qdir list_dirs[] = {
	QD_INCOMING, QD_ACTIVE, QD_DEFERRED, QD_HOLD
};
#define NLIST_DIRS	(sizeof(list_dirs) / sizeof(list_dirs[0]))

int
tools_conf_load(const char *path, struct conf *c)
{
	struct conf_errors e;
	size_t i;

	/* Only check, start and master read the private files (tls_key,
	 * remote_auth): a user's sendmail, mailq or postern route must not
	 * need them (a 0600 key broke every non-root sendmail). */
	conf_worker = 1;
	memset(&e, 0, sizeof(e));
	if (conf_load(path, c, &e) == -1) {
		for (i = 0; i < e.n; i++)
			fprintf(stderr, "postern: %s\n", e.msg[i]);
		conf_errors_free(&e);
		return -1;
	}
	conf_errors_free(&e);
	return 0;
}

/* Copy src to dst (truncating), control characters replaced by '?':
 * addresses and error texts come from the network. */
static void
clean(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	if (dstlen == 0)
		return;
	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
}

/* The IDs of one queue, sorted, strange names warned about. -1 (said)
 * when the queue cannot be read. */
static int
scan_dir(struct queue *qu, enum qdir d, struct queue_ids *l)
{
	if (queue_list(qu, d, l) == -1) {
		fprintf(stderr, "postern: cannot open %s/%s: %s\n", qu->root,
		    queue_name(d), strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < l->nbad; i++)
		fprintf(stderr, "postern: warning: %s/%s: not a queue "
		    "file name, skipped\n", queue_name(d), l->bad[i]);
	return 0;
}

/* Open and parse d/id. Returns the fd (caller closes) or -1:
 * errno ENOENT = gone meanwhile (say nothing), else a reason in err. */
static int
q_open(struct queue *qu, enum qdir d, const char *id, struct qfile *q,
    char *err, size_t errlen)
{
	int fd;

	memset(q, 0, sizeof(*q));
	if ((fd = queue_file_open(qu, d, id, O_RDONLY | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (qfile_read(fd, q, err, errlen) == -1) {
		qfile_free(q);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Parse d/id for a listing: 0, or -1 when gone (silently) or unreadable
 * (a warning, skipped). */
static int
q_load(struct queue *qu, enum qdir d, const char *id, struct qfile *q)
{
	char err[256];
	int fd;

	if ((fd = q_open(qu, d, id, q, err, sizeof(err))) == -1) {
		if (errno != ENOENT)
			fprintf(stderr, "postern: warning: %s/%s: %s, "
			    "skipped\n", queue_name(d), id, err);
		return -1;
	}
	close(fd);
	return 0;
}

static void
fmt_time(char *out, size_t outlen, time_t t, int year)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(out, outlen,
	    year ? "%a %b %e %H:%M:%S %Y" : "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

/* One message, Postfix mailq layout (long queue IDs): id+flag in 17
 * columns, size in 8, arrival in 19, then the sender; each pending
 * recipient indented to the sender column, preceded by its last error
 * (right-aligned to column 78) when that differs from the previous one. */
static void
print_text(FILE *out, const char *sub, const char *id, const struct qfile *q)
{
	char idf[QID_LEN + 2], when[64], a[QF_MAX_ADDR + 1], e[QF_ERR_LEN];
	const char *last = "";
	char flag = ' ';

	if (strcmp(sub, QDIR_ACTIVE) == 0)
		flag = '*';
	else if (strcmp(sub, QDIR_HOLD) == 0)
		flag = '!';
	snprintf(idf, sizeof(idf), "%s%c", id, flag);
	fmt_time(when, sizeof(when), (time_t)(q->arrival_us / 1000000), 0);
	clean(a, sizeof(a), q->sender[0] ? q->sender : "MAILER-DAEMON");
	fprintf(out, "%-17s %8lld %19.19s %s\n", idf, (long long)q->size,
	    when, a);
	for (size_t i = 0; i < q->nrcpt; i++) {
		const struct qrcpt *r = &q->rcpt[i];

		if (r->status != QR_PENDING)
			continue;
		if (r->error[0] != '\0' && strcmp(r->error, last) != 0) {
			int pad;

			clean(e, sizeof(e), r->error);
			pad = 76 - (int)strlen(e);
			fprintf(out, "%*s(%s)\n", pad > 0 ? pad : 0, "", e);
		}
		last = r->error;
		clean(a, sizeof(a), r->addr);
		fprintf(out, "%47s%s\n", "", a);
	}
	fputc('\n', out);
}

static void
json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"':	fputs("\\\"", out); break;
		case '\\':	fputs("\\\\", out); break;
		case '\n':	fputs("\\n", out); break;
		case '\r':	fputs("\\r", out); break;
		case '\t':	fputs("\\t", out); break;
		default:
			if (c < 0x20 || c == 0x7f)
				fprintf(out, "\\u%04x", c);
			else
				fputc(c, out);
		}
	}
	fputc('"', out);
}

static const char *
rcpt_status(char s)
{
	switch (s) {
	case QR_PENDING:	return "pending";
	case QR_SENT:
	case QR_SENT_NOTIFY:
	case QR_RELAYED_NOTIFY:	return "sent";
	default:		return "failed";
	}
}

static void
print_json(FILE *out, const char *sub, const char *id, const struct qfile *q)
{
	fputs("{\"queue_name\":", out);
	json_str(out, sub);
	fputs(",\"queue_id\":", out);
	json_str(out, id);
	fprintf(out, ",\"arrival_time\":%llu,\"message_size\":%lld,\"sender\":",
	    (unsigned long long)(q->arrival_us / 1000000), (long long)q->size);
	json_str(out, q->sender);
	fputs(",\"recipients\":[", out);
	for (size_t i = 0; i < q->nrcpt; i++) {
		fputs(i ? ",{\"address\":" : "{\"address\":", out);
		json_str(out, q->rcpt[i].addr);
		fprintf(out, ",\"status\":\"%s\",\"delay_reason\":",
		    rcpt_status(q->rcpt[i].status));
		json_str(out, q->rcpt[i].error);
		fputc('}', out);
	}
	fputs("]}\n", out);
}

static void
print_one(FILE *out, enum qdir d, const char *id, const struct qfile *q,
    int json, size_t count)
{
	if (json) {
		print_json(out, queue_name(d), id, q);
		return;
	}
	if (count == 0)
		fprintf(out, "%-17s %8s %-19s %s\n", "----Queue ID-----",
		    "--Size--", "---Arrival Time----",
		    "--Sender/Recipient------");
	print_text(out, queue_name(d), id, q);
}

static int
list_queue(struct queue *qu, int json, FILE *out)
{
	unsigned long long total = 0;
	size_t count = 0;

	for (size_t d = 0; d < NLIST_DIRS; d++) {
		struct queue_ids l;

		if (scan_dir(qu, list_dirs[d], &l) == -1)
			return -1;
		for (size_t i = 0; i < l.n; i++) {
			struct qfile q;

			if (q_load(qu, list_dirs[d], l.id[i], &q) == -1)
				continue;
			print_one(out, list_dirs[d], l.id[i], &q, json, count);
			total += (unsigned long long)q.size;
			count++;
			qfile_free(&q);
		}
		queue_ids_free(&l);
	}
	if (!json) {
		if (count == 0)
			fputs("Mail queue is empty\n", out);
		else
			fprintf(out, "-- %llu Kbytes in %zu Request%s.\n",
			    total / 1024, count, count == 1 ? "" : "s");
	}
	return 0;
}

int
mailq_list(const char *queue_dir, int json, FILE *out)
{
	struct queue qu;
	int r;

	(void)queue_open(&qu, queue_dir);
	r = list_queue(&qu, json, out);
	queue_close(&qu);
	return r;
}

/* The listing: as root from the files, else through showq (or from the
 * files when showq is down and we own the queue). */
static int
queue_list_cmd(struct queue *qu, int json)
{
	int rc, serr = 0;

	if (geteuid() != 0) {
		if ((rc = showq_list(qu->root, json)) != -1)
			return rc;
		serr = errno;
	}
	rc = list_queue(qu, json, stdout) == 0 ? 0 : 1;
	if (rc != 0 && serr != 0)
		fprintf(stderr, "postern: and showq cannot be reached (is "
		    "postern running?): %s\n", strerror(serr));
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}

/* The queue holding id (corrupt/ too), its file parsed: fd, or -1 (said). */
static int
show_find(struct queue *qu, const char *id, struct qfile *q, enum qdir *where)
{
	char err[256];
	int fd;

	for (int d = 0; d < QD_MAX; d++) {
		fd = q_open(qu, (enum qdir)d, id, q, err, sizeof(err));
		if (fd != -1) {
			*where = (enum qdir)d;
			return fd;
		}
		if (errno != ENOENT) {
			fprintf(stderr, "postern: %s/%s: %s\n",
			    queue_name((enum qdir)d), id, err);
			return -1;
		}
	}
	fprintf(stderr, "postern: %s: not in the queue\n", id);
	return -1;
}

/* The 'C' record: each client attribute on a line, sanitised. */
static void
show_client(const struct qfile *q)
{
	struct ipc_msg m;

	ipc_msg_init(&m);
	if (ipc_parse(&m, q->client.data, q->client.len) == 0) {
		for (size_t i = 0; i < m.nattr; i++) {
			char v[512];
			size_t n = m.attr[i].len < sizeof(v) - 1 ?
			    m.attr[i].len : sizeof(v) - 1;

			memcpy(v, m.attr[i].val, n);
			v[n] = '\0';
			for (size_t k = 0; k < n; k++)
				if ((unsigned char)v[k] < 0x20 || v[k] == 0x7f)
					v[k] = '?';
			printf("%s: %s\n", m.attr[i].name, v);
		}
	}
	ipc_msg_free(&m);
}

static void
show_envelope(const struct qfile *q)
{
	char when[64], a[QF_MAX_ADDR + 1], e[QF_ERR_LEN];

	printf("message_size: %lld\n", (long long)q->size);
	fmt_time(when, sizeof(when), (time_t)(q->arrival_us / 1000000), 1);
	printf("arrival_time: %s\n", when);
	if (q->next_try > 0) {
		fmt_time(when, sizeof(when), (time_t)q->next_try, 1);
		printf("next_attempt: %s\n", when);
	}
	printf("attempts: %u\n", q->attempts);
	if (q->flags)
		printf("flags:%s%s\n", (q->flags & QF_WARNED) ? " delay-warned" : "",
		    (q->flags & QF_BOUNCE) ? " bounce" : "");
	clean(a, sizeof(a), q->sender);
	printf("sender: <%s>\n", a);
	if (q->client.len)
		show_client(q);
	for (size_t i = 0; i < q->nrcpt; i++) {
		clean(a, sizeof(a), q->rcpt[i].addr);
		clean(e, sizeof(e), q->rcpt[i].error);
		printf("recipient: <%s> %s", a, rcpt_status(q->rcpt[i].status));
		if (q->rcpt[i].code || e[0])
			printf(" (%d %s)", q->rcpt[i].code, e);
		putchar('\n');
	}
}

/* The content bytes as stored. */
static void
show_content(int fd, const struct qfile *q, const char *sub, const char *id)
{
	char b[65536];
	size_t left = q->content_len;
	off_t off = q->content_off;

	while (left > 0) {
		ssize_t n = pread(fd, b, left < sizeof(b) ? left : sizeof(b), off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "postern: %s/%s: read error\n", sub, id);
			break;
		}
		fwrite(b, 1, (size_t)n, stdout);
		left -= (size_t)n;
		off += n;
	}
}

/* `queue show ID`: envelope, then the content bytes as stored. */
static int
queue_show(struct queue *qu, const char *id)
{
	struct qfile q;
	enum qdir d;
	int fd;

	if (!qid_valid(id)) {
		fprintf(stderr, "postern: %s: bad queue ID\n", id);
		return 1;
	}
	if ((fd = show_find(qu, id, &q, &d)) == -1)
		return 1;
	printf("*** ENVELOPE RECORDS %s/%s ***\n", queue_name(d), id);
	show_envelope(&q);
	printf("*** MESSAGE CONTENTS %s/%s ***\n", queue_name(d), id);
	fflush(stdout);
	show_content(fd, &q, queue_name(d), id);
	printf("*** END OF MESSAGE ***\n");
	close(fd);
	qfile_free(&q);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* One request to qmgr (REQ_FLUSH with f, or admin with an ID). 0 ok; -1
 * qmgr answered an error (text in err); -2 talking failed midway; -3 qmgr
 * not reachable at all. */
static int
qmgr_req(const char *qdir, enum proto_req req, const char *id,
    const struct qmgr_flush *f, char *err, size_t errlen)
{
	struct qmgr_admin qa = { .req = req };
	struct proto_reply rep;
	char path[PATH_MAX];
	struct ipc_msg m;
	struct buf b;
	int fd, r;

	buf_init(&b, 1024);
	if (id != NULL)
		strlcpy(qa.id, id, sizeof(qa.id));
	if ((req == REQ_FLUSH ? qmgr_flush_encode(&b, f) :
	    qmgr_admin_encode(&b, &qa)) == -1)
		panic("cannot encode a %s request", proto_req_word(req));
	queue_path(qdir, QDIR_PRIVATE "/qmgr", path, sizeof(path));
	if ((fd = ipc_connect(path)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		buf_free(&b);
		return -3;
	}
	ipc_msg_init(&m);
	if (ipc_send(fd, &b, QMGR_TIMEOUT_MS) == -1 ||
	    ipc_recv(fd, &m, QMGR_TIMEOUT_MS) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		r = -2;
	} else if (proto_reply_decode(&m, &rep, err, errlen) == -1) {
		r = -2;
	} else {
		clean(err, errlen, rep.text ? rep.text : rep.ok ? "ok" :
		    "unknown error");
		r = rep.ok ? 0 : -1;
		proto_reply_free(&rep);
	}
	ipc_msg_free(&m);
	buf_free(&b);
	close(fd);
	return r;
}

/* flush [-r DOMAIN | -s DOMAIN | -i ID]: all deferred mail, or the
 * mail for one recipient domain, from one sender domain, or one message.
 * The filter, or -1 (said) if the words are not one. */
static int
flush_filter(int argc, char **argv, struct qmgr_flush *f)
{
	static const char opts[] = "rsi";
	const char *o;

	memset(f, 0, sizeof(*f));
	if (argc == 0)
		return 0;
	if (argc != 2 || argv[0][0] != '-' || argv[0][1] == '\0' ||
	    argv[0][2] != '\0' || (o = strchr(opts, argv[0][1])) == NULL) {
		fprintf(stderr, "usage: postern queue flush [-v] [-r DOMAIN | "
		    "-s DOMAIN | -i ID]\n");
		return -1;
	}
	f->by = o - opts + FLUSH_RCPT_DOMAIN;
	if (strlen(argv[1]) > FLUSH_MAX_VALUE || (f->by == FLUSH_ID ?
	    !qid_valid(argv[1]) : !flush_domain_ok(argv[1]))) {
		fprintf(stderr, "postern: flush: %s is not a %s\n", argv[1],
		    f->by == FLUSH_ID ? "queue ID" : "domain name");
		return -1;
	}
	strlcpy(f->value, argv[1], sizeof(f->value));
	return 0;
}

/* flush [-v] [filter]; -v prints qmgr's answer (how many it flushes). */
static int
queue_flush(const char *qdir, int argc, char **argv)
{
	struct qmgr_flush f;
	char err[384];
	int r, verbose = argc > 0 && strcmp(argv[0], "-v") == 0;

	if (flush_filter(argc - verbose, argv + verbose, &f) == -1)
		return 1;
	r = qmgr_req(qdir, REQ_FLUSH, NULL, &f, err, sizeof(err));
	if (r == 0 && verbose)
		printf("postern: %s\n", err);
	if (r == 0)
		return 0;
	if (r == -1) {
		fprintf(stderr, "postern: flush: %s\n", err);
		return 1;
	}
	fprintf(stderr, "postern: cannot reach qmgr: %s (is postern running?)\n",
	    err);
	return EX_TEMPFAIL_;
}

/*
 * Queue admin. Source queues per operation (when qmgr is down, active/
 * counts as incoming: nobody is delivering it). release puts a message
 * in deferred/ due now, as qmgr does when it runs.
 */
struct admin_op {
	enum proto_req	 req;
	const char	*name;
	const char	*done;
	enum qdir	 from[4];
	size_t		 nfrom;
	enum qdir	 to;		/* QD_MAX: delete */
};
static const struct admin_op admin_ops[] = {
	{ REQ_HOLD, "hold", "held", { QD_INCOMING, QD_ACTIVE, QD_DEFERRED }, 3,
	    QD_HOLD },
	{ REQ_RELEASE, "release", "released", { QD_HOLD }, 1, QD_DEFERRED },
	{ REQ_DELETE, "delete", "deleted", { QD_INCOMING, QD_ACTIVE,
	    QD_DEFERRED, QD_HOLD }, 4, QD_MAX },
	{ REQ_REQUEUE, "requeue", "requeued", { QD_DEFERRED, QD_HOLD,
	    QD_ACTIVE }, 3, QD_INCOMING },
};

/* qmgr is down: move or remove the file ourselves, durably, never
 * replacing one. 0 done, -1 error (printed). */
static int
admin_direct(struct queue *qu, const struct admin_op *op, const char *id)
{
	size_t i;
	int r;

	if (op->to != QD_MAX && qu->fd[op->to] == -1) {
		fprintf(stderr, "postern: cannot open %s/%s: %s\n", qu->root,
		    queue_name(op->to), strerror(qu->err[op->to]));
		return -1;
	}
	for (i = 0; i < op->nfrom; i++) {
		if (op->to == QD_MAX)
			r = queue_remove(qu, op->from[i], id, QUEUE_SYNC);
		else
			r = queue_move(qu, op->from[i], op->to, id,
			    QUEUE_SYNC | QUEUE_NOREPLACE);
		if (r == 0)
			break;
		if (errno != ENOENT) {
			fprintf(stderr, "postern: %s: cannot %s from %s: %s\n",
			    id, op->name, queue_name(op->from[i]),
			    strerror(errno));
			return -1;
		}
	}
	if (i == op->nfrom) {
		fprintf(stderr, "postern: %s: not found in", id);
		for (i = 0; i < op->nfrom; i++)
			fprintf(stderr, "%s %s", i ? "," : "",
			    queue_name(op->from[i]));
		fputc('\n', stderr);
		return -1;
	}
	if (op->to == QD_DEFERRED)	/* release: next try now */
		(void)queue_touch(qu, QD_DEFERRED, id);
	printf("postern: %s: %s\n", id, op->done);
	return 0;
}

/* The IDs named by argv ("ALL": every one in op's source queues). -1 when
 * a queue cannot be read; *rc = 1 for a bad ID (skipped). */
static int
admin_ids(struct queue *qu, const struct admin_op *op, int direct,
    int argc, char **argv, struct queue_ids *ids, int *rc)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "ALL") != 0) {
			if (qid_valid(argv[i]))
				queue_ids_add(ids, argv[i]);
			else {
				fprintf(stderr, "postern: %s: bad queue ID\n",
				    argv[i]);
				*rc = 1;
			}
			continue;
		}
		for (size_t d = 0; d < op->nfrom; d++) {
			struct queue_ids l;

			/* qmgr may be delivering what is in active/ */
			if (!direct && op->to == QD_INCOMING &&
			    op->from[d] == QD_ACTIVE)
				continue;
			if (scan_dir(qu, op->from[d], &l) == -1)
				return -1;
			for (size_t k = 0; k < l.n; k++)
				queue_ids_add(ids, l.id[k]);
			queue_ids_free(&l);
		}
	}
	return 0;
}

static int
queue_admin(struct queue *qu, const struct admin_op *op, int argc,
    char **argv)
{
	struct queue_ids ids = { 0 };
	char err[256];
	int direct, rc = 0;

	if (argc == 0) {
		fprintf(stderr, "usage: postern queue %s ID...|ALL\n", op->name);
		return 1;
	}
	/* Is qmgr there? Poke it the way cleanup does after each message. */
	direct = !queue_trigger(qu->root);
	if (admin_ids(qu, op, direct, argc, argv, &ids, &rc) == -1) {
		queue_ids_free(&ids);
		return 1;
	}
	for (size_t i = 0; i < ids.n; i++) {
		int r;

		if (direct) {
			if (admin_direct(qu, op, ids.id[i]) == -1)
				rc = 1;
			continue;
		}
		r = qmgr_req(qu->root, op->req, ids.id[i], NULL, err,
		    sizeof(err));
		if (r == 0)
			printf("postern: %s: %s\n", ids.id[i], op->done);
		else if (r == -1) {
			fprintf(stderr, "postern: %s: %s\n", ids.id[i], err);
			rc = 1;
		} else {
			fprintf(stderr, "postern: cannot reach qmgr: %s "
			    "(is postern running?)\n", err);
			rc = 1;
			break;
		}
	}
	queue_ids_free(&ids);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}

/* `queue shape`: pending recipients by domain and age, like qshape. */
#define NBUCKET	7
struct shape_row {
	char		*dom;
	unsigned long	 n[NBUCKET + 1];	/* [0] = total */
};

struct shape {
	struct shape_row	*row, tot;
	size_t			 nrow, cap, width;
};

static int
cmp_row(const void *a, const void *b)
{
	const struct shape_row *x = a, *y = b;

	if (x->n[0] != y->n[0])
		return x->n[0] < y->n[0] ? 1 : -1;
	return strcmp(x->dom, y->dom);
}

/* The row of a domain (lower-cased, sanitised), added when new. */
static struct shape_row *
shape_row(struct shape *sh, const char *addr)
{
	const char *at = strrchr(addr, '@');
	char dl[QF_MAX_ADDR + 1];
	size_t r;

	clean(dl, sizeof(dl), at ? at + 1 : addr);
	for (char *c = dl; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (r = 0; r < sh->nrow; r++)
		if (strcmp(sh->row[r].dom, dl) == 0)
			return &sh->row[r];
	if (sh->nrow == sh->cap) {
		sh->cap = sh->cap ? sh->cap * 2 : 32;
		sh->row = xreallocarray(sh->row, sh->cap, sizeof(*sh->row));
	}
	memset(&sh->row[sh->nrow], 0, sizeof(*sh->row));
	sh->row[sh->nrow].dom = xstrdup(dl);
	if (strlen(dl) > sh->width)
		sh->width = strlen(dl);
	return &sh->row[sh->nrow++];
}

/* Count q's pending recipients in its age bucket. */
static void
shape_add(struct shape *sh, const struct qfile *q, time_t now)
{
	static const unsigned limit[NBUCKET - 1] = { 5, 10, 20, 40, 80, 160 };
	long long age;
	size_t b;

	age = ((long long)now - (long long)(q->arrival_us / 1000000)) / 60;
	for (b = 0; b < NBUCKET - 1; b++)
		if (age < (long long)limit[b])
			break;
	for (size_t k = 0; k < q->nrcpt; k++) {
		struct shape_row *row;

		if (q->rcpt[k].status != QR_PENDING)
			continue;
		row = shape_row(sh, q->rcpt[k].addr);
		row->n[0]++;
		row->n[b + 1]++;
		sh->tot.n[0]++;
		sh->tot.n[b + 1]++;
	}
}

static void
shape_line(int width, const char *name, const unsigned long *n)
{
	printf("%*s", width, name);
	for (size_t b = 0; b <= NBUCKET; b++)
		printf(" %5lu", n[b]);
	putchar('\n');
}

static void
shape_print(struct shape *sh)
{
	static const char *label[NBUCKET + 1] = { "T", "5", "10", "20", "40",
	    "80", "160", "160+" };

	if (sh->nrow > 1)
		qsort(sh->row, sh->nrow, sizeof(*sh->row), cmp_row);
	printf("%*s", (int)sh->width, "");
	for (size_t b = 0; b <= NBUCKET; b++)
		printf(" %5s", label[b]);
	putchar('\n');
	shape_line((int)sh->width, "TOTAL", sh->tot.n);
	for (size_t r = 0; r < sh->nrow; r++) {
		shape_line((int)sh->width, sh->row[r].dom, sh->row[r].n);
		free(sh->row[r].dom);
	}
	free(sh->row);
}

/* The queues named on the command line (default: incoming, active,
 * deferred). -1 (said) for an unknown name. */
static int
shape_queues(int argc, char **argv, enum qdir *qs, size_t *nq)
{
	static const enum qdir def[] = { QD_INCOMING, QD_ACTIVE, QD_DEFERRED };

	if (argc == 0) {
		memcpy(qs, def, sizeof(def));
		*nq = 3;
		return 0;
	}
	for (*nq = 0; *nq < (size_t)argc; (*nq)++) {
		size_t d;

		for (d = 0; d < NLIST_DIRS; d++)
			if (strcmp(argv[*nq], queue_name(list_dirs[d])) == 0)
				break;
		if (d == NLIST_DIRS) {
			fprintf(stderr, "postern: queue shape: unknown "
			    "queue %s (incoming, active, deferred, hold)\n",
			    argv[*nq]);
			return -1;
		}
		qs[*nq] = list_dirs[d];
	}
	return 0;
}

static int
queue_shape(struct queue *qu, int argc, char **argv)
{
	struct shape sh = { .width = 5 };
	time_t now = time(NULL);
	enum qdir *qs;
	size_t nq;

	qs = xreallocarray(NULL, (size_t)argc + 3, sizeof(*qs));
	if (shape_queues(argc, argv, qs, &nq) == -1) {
		free(qs);
		return 1;
	}
	for (size_t d = 0; d < nq; d++) {
		struct queue_ids l;

		if (scan_dir(qu, qs[d], &l) == -1) {
			free(qs);
			return 1;
		}
		for (size_t i = 0; i < l.n; i++) {
			struct qfile q;

			if (q_load(qu, qs[d], l.id[i], &q) == -1)
				continue;
			shape_add(&sh, &q, now);
			qfile_free(&q);
		}
		queue_ids_free(&l);
	}
	free(qs);
	shape_print(&sh);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: postern queue [--json]\n"
	    "       postern queue show ID\n"
	    "       postern queue flush [-v] [-r DOMAIN | -s DOMAIN | -i ID]\n"
	    "       postern queue hold|release|delete|requeue ID...|ALL\n"
	    "       postern queue shape [QUEUE...]\n");
	return 1;
}

/* The subcommand in argv[0] on an opened queue; -1: not one. */
static int
queue_cmd(struct queue *qu, int argc, char **argv)
{
	if (argc == 0 || (argc == 1 && (strcmp(argv[0], "--json") == 0 ||
	    strcmp(argv[0], "-j") == 0 || strcmp(argv[0], "-p") == 0 ||
	    strcmp(argv[0], "list") == 0))) {
		int json = argc == 1 && argv[0][1] != 'p' && argv[0][0] == '-';

		return queue_list_cmd(qu, json);
	}
	if (strcmp(argv[0], "show") == 0 && argc == 2)
		return queue_show(qu, argv[1]);
	if (strcmp(argv[0], "flush") == 0)
		return queue_flush(qu->root, argc - 1, argv + 1);
	if (strcmp(argv[0], "shape") == 0)
		return queue_shape(qu, argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(admin_ops) / sizeof(admin_ops[0]); i++)
		if (strcmp(argv[0], admin_ops[i].name) == 0)
			return queue_admin(qu, &admin_ops[i], argc - 1,
			    argv + 1);
	return -1;
}

int
queue_main(const char *conf_file, int argc, char **argv)
{
	struct queue qu;
	struct conf c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (tools_conf_load(conf_file, &c) == -1) {
		conf_free(&c);
		return 1;
	}
	(void)queue_open(&qu, c.queue_dir);	/* errors: per queue, on use */
	if ((rc = queue_cmd(&qu, argc, argv)) == -1)
		rc = usage();
	queue_close(&qu);
	conf_free(&c);
	return rc;
}

/* mailq [-c FILE] [-v] [--json]: the same listing. */
int
mailq_main(int argc, char **argv)
{
	const char *cf = NULL;
	char *rest[2];
	int nrest = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			cf = argv[++i];
		else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2] != '\0')
			cf = argv[i] + 2;
		else if (strcmp(argv[i], "-v") == 0)
			continue;
		else if ((strcmp(argv[i], "--json") == 0 ||
		    strcmp(argv[i], "-j") == 0) && nrest == 0)
			rest[nrest++] = argv[i];
		else {
			fprintf(stderr, "usage: mailq [-c config] [--json]\n");
			return 1;
		}
	}
	rest[nrest] = NULL;
	return queue_main(conf_path(cf), nrest, rest);
}
