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
#include "qfile.h"
#include "tools/tools.h"

#define QMGR_TIMEOUT_MS	30000
#define EX_TEMPFAIL_	75

/* The queues mailq lists, in Postfix's order. */
static const char *list_dirs[] = {
	QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED, QDIR_HOLD
};
#define NLIST_DIRS	(sizeof(list_dirs) / sizeof(list_dirs[0]))

struct idlist {
	char	**id;
	size_t	  n;
};

int
tools_conf_load(const char *path, struct conf *c)
{
	struct conf_errors e;
	size_t i;

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

static int
qpath(char *out, size_t outlen, const char *qdir, const char *a, const char *b)
{
	int n;

	if (b != NULL)
		n = snprintf(out, outlen, "%s/%s/%s", qdir, a, b);
	else
		n = snprintf(out, outlen, "%s/%s", qdir, a);
	if (n < 0 || (size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
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

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
idlist_free(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->id[i]);
	free(l->id);
	l->id = NULL;
	l->n = 0;
}

/* Queue IDs in qdir/sub, sorted (IDs sort by arrival). Temp files "t.*"
 * are skipped silently, other strange names with a warning. A missing
 * directory is an empty queue when missing_ok. */
static int
scan_dir(const char *qdir, const char *sub, struct idlist *l, int missing_ok)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	l->id = NULL;
	l->n = 0;
	if (qpath(path, sizeof(path), qdir, sub, NULL) == -1 ||
	    (d = opendir(path)) == NULL) {
		if (errno == ENOENT && missing_ok)
			return 0;
		fprintf(stderr, "postern: cannot open %s/%s: %s\n", qdir, sub,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, "t.", 2) == 0)
			continue;
		if (!qid_valid(de->d_name)) {
			fprintf(stderr, "postern: warning: %s/%s: not a queue "
			    "file name, skipped\n", sub, de->d_name);
			continue;
		}
		if (l->n == cap) {
			cap = cap ? cap * 2 : 64;
			l->id = xreallocarray(l->id, cap, sizeof(*l->id));
		}
		l->id[l->n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (l->n > 1)
		qsort(l->id, l->n, sizeof(*l->id), cmp_str);
	return 0;
}

/* Open and parse qdir/sub/id. Returns the fd (caller closes) or -1:
 * errno ENOENT = gone meanwhile (say nothing), else a reason in err. */
static int
q_open(const char *qdir, const char *sub, const char *id, struct qfile *q,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	memset(q, 0, sizeof(*q));
	if (qpath(path, sizeof(path), qdir, sub, id) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
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
	case QR_SENT:		return "sent";
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

int
queue_list(const char *qdir, int json, FILE *out)
{
	unsigned long long total = 0;
	size_t count = 0;
	char err[256];

	for (size_t d = 0; d < NLIST_DIRS; d++) {
		struct idlist l;

		if (scan_dir(qdir, list_dirs[d], &l, 0) == -1)
			return -1;
		for (size_t i = 0; i < l.n; i++) {
			struct qfile q;
			int fd;

			if ((fd = q_open(qdir, list_dirs[d], l.id[i], &q, err,
			    sizeof(err))) == -1) {
				if (errno != ENOENT)
					fprintf(stderr, "postern: warning: "
					    "%s/%s: %s, skipped\n",
					    list_dirs[d], l.id[i], err);
				continue;
			}
			close(fd);
			if (json)
				print_json(out, list_dirs[d], l.id[i], &q);
			else {
				if (count == 0)
					fprintf(out, "%-17s %8s %-19s %s\n",
					    "----Queue ID-----", "--Size--",
					    "---Arrival Time----",
					    "--Sender/Recipient------");
				print_text(out, list_dirs[d], l.id[i], &q);
			}
			total += (unsigned long long)q.size;
			count++;
			qfile_free(&q);
		}
		idlist_free(&l);
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

/* `queue show ID`: envelope, then the content bytes as stored. */
static int
queue_show(const char *qdir, const char *id)
{
	static const char *dirs[] = { QDIR_INCOMING, QDIR_ACTIVE,
	    QDIR_DEFERRED, QDIR_HOLD, QDIR_CORRUPT };
	char err[256], when[64], a[QF_MAX_ADDR + 1], e[QF_ERR_LEN];
	struct qfile q;
	const char *sub = NULL;
	int fd = -1;

	if (!qid_valid(id)) {
		fprintf(stderr, "postern: %s: bad queue ID\n", id);
		return 1;
	}
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		if ((fd = q_open(qdir, dirs[d], id, &q, err, sizeof(err))) != -1) {
			sub = dirs[d];
			break;
		}
		if (errno != ENOENT) {
			fprintf(stderr, "postern: %s/%s: %s\n", dirs[d], id, err);
			return 1;
		}
	}
	if (sub == NULL) {
		fprintf(stderr, "postern: %s: not in the queue\n", id);
		return 1;
	}
	printf("*** ENVELOPE RECORDS %s/%s ***\n", sub, id);
	printf("message_size: %lld\n", (long long)q.size);
	fmt_time(when, sizeof(when), (time_t)(q.arrival_us / 1000000), 1);
	printf("arrival_time: %s\n", when);
	if (q.next_try > 0) {
		fmt_time(when, sizeof(when), (time_t)q.next_try, 1);
		printf("next_attempt: %s\n", when);
	}
	printf("attempts: %u\n", q.attempts);
	if (q.flags)
		printf("flags:%s%s\n", (q.flags & QF_WARNED) ? " delay-warned" : "",
		    (q.flags & QF_BOUNCE) ? " bounce" : "");
	clean(a, sizeof(a), q.sender);
	printf("sender: <%s>\n", a);
	if (q.client.len) {
		struct ipc_msg m;

		ipc_msg_init(&m);
		if (ipc_parse(&m, q.client.data, q.client.len) == 0) {
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
	for (size_t i = 0; i < q.nrcpt; i++) {
		clean(a, sizeof(a), q.rcpt[i].addr);
		clean(e, sizeof(e), q.rcpt[i].error);
		printf("recipient: <%s> %s", a, rcpt_status(q.rcpt[i].status));
		if (q.rcpt[i].code || e[0])
			printf(" (%d %s)", q.rcpt[i].code, e);
		putchar('\n');
	}
	printf("*** MESSAGE CONTENTS %s/%s ***\n", sub, id);
	fflush(stdout);
	{
		char b[65536];
		size_t left = q.content_len;
		off_t off = q.content_off;

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
	printf("*** END OF MESSAGE ***\n");
	close(fd);
	qfile_free(&q);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* One request to qmgr. 0 ok; -1 qmgr answered an error (text in err);
 * -2 talking failed midway; -3 qmgr not reachable at all. */
static int
qmgr_req(const char *qdir, const char *req, const char *id, char *err,
    size_t errlen)
{
	char path[PATH_MAX];
	struct ipc_msg m;
	struct buf b;
	int fd, r;

	if (qpath(path, sizeof(path), qdir, QDIR_PRIVATE, "qmgr") == -1 ||
	    (fd = ipc_connect(path)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -3;
	}
	buf_init(&b, 1024);
	ipc_begin(&b);
	ipc_add_str(&b, "req", req);
	if (id != NULL)
		ipc_add_str(&b, "id", id);
	ipc_end(&b);
	ipc_msg_init(&m);
	if (ipc_send(fd, &b, QMGR_TIMEOUT_MS) == -1 ||
	    ipc_recv(fd, &m, QMGR_TIMEOUT_MS) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		r = -2;
	} else if (ipc_is(&m, "status", "ok")) {
		r = 0;
	} else {
		char *t = ipc_get_str(&m, "text");

		clean(err, errlen, t ? t : "unknown error");
		free(t);
		r = -1;
	}
	ipc_msg_free(&m);
	buf_free(&b);
	close(fd);
	return r;
}

/* Is qmgr there? Poke it the way cleanup does after each message
 * (req=trigger, no reply awaited). 1 reachable, 0 not. */
static int
qmgr_probe(const char *qdir)
{
	char path[PATH_MAX];
	struct buf b;
	int fd;

	if (qpath(path, sizeof(path), qdir, QDIR_PRIVATE, "qmgr") == -1 ||
	    (fd = ipc_connect(path)) == -1)
		return 0;
	buf_init(&b, 256);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "trigger");
	ipc_end(&b);
	(void)ipc_send(fd, &b, 1000);
	buf_free(&b);
	close(fd);
	return 1;
}

static int
queue_flush(const char *qdir)
{
	char err[256];
	int r = qmgr_req(qdir, "flush", NULL, err, sizeof(err));

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

/* Queue admin. Source directories per operation (when qmgr is down,
 * active/ counts as incoming: nobody is delivering it). */
struct admin_op {
	const char	*name;
	const char	*done;
	const char	*from[5];
	const char	*to;		/* NULL: delete */
};
static const struct admin_op admin_ops[] = {
	{ "hold", "held", { QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED }, QDIR_HOLD },
	{ "release", "released", { QDIR_HOLD }, QDIR_DEFERRED },
	{ "delete", "deleted", { QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED,
	    QDIR_HOLD }, NULL },
	{ "requeue", "requeued", { QDIR_DEFERRED, QDIR_HOLD, QDIR_ACTIVE },
	    QDIR_INCOMING },
};

static int
dir_open(const char *qdir, const char *sub)
{
	char path[PATH_MAX];
	int fd;

	if (qpath(path, sizeof(path), qdir, sub, NULL) == -1 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "postern: cannot open %s/%s: %s\n", qdir, sub,
		    strerror(errno));
		return -1;
	}
	return fd;
}

/* qmgr is down: move or remove the file ourselves. 0 done, -1 error
 * (printed). */
static int
admin_direct(const char *qdir, const struct admin_op *op, const char *id)
{
	int tofd = -1, ok = 0, rc = -1;

	if (op->to != NULL && (tofd = dir_open(qdir, op->to)) == -1)
		return -1;
	for (size_t i = 0; i < 5 && op->from[i] != NULL; i++) {
		int fromfd = dir_open(qdir, op->from[i]);
		int r;

		if (fromfd == -1)
			goto out;
		if (op->to != NULL)
			r = renameat2(fromfd, id, tofd, id, RENAME_NOREPLACE);
		else
			r = unlinkat(fromfd, id, 0);
		if (r == -1 && errno != ENOENT) {
			fprintf(stderr, "postern: %s: cannot %s from %s: %s\n",
			    id, op->name, op->from[i], strerror(errno));
			close(fromfd);
			goto out;
		}
		if (r == 0) {
			(void)fsync(fromfd);
			ok = 1;
		}
		close(fromfd);
		if (ok)
			break;
	}
	if (!ok) {
		fprintf(stderr, "postern: %s: not found in", id);
		for (size_t i = 0; i < 5 && op->from[i] != NULL; i++)
			fprintf(stderr, "%s %s", i ? "," : "", op->from[i]);
		fputc('\n', stderr);
		goto out;
	}
	if (tofd != -1) {
		if (strcmp(op->name, "release") == 0)
			(void)utimensat(tofd, id, NULL, 0);
		(void)fsync(tofd);
	}
	printf("postern: %s: %s\n", id, op->done);
	rc = 0;
out:
	if (tofd != -1)
		close(tofd);
	return rc;
}

static int
queue_admin(const char *qdir, const struct admin_op *op, int argc, char **argv)
{
	struct idlist ids = { NULL, 0 };
	size_t cap = 0;
	char err[256];
	int direct, rc = 0;

	if (argc == 0) {
		fprintf(stderr, "usage: postern queue %s ID...|ALL\n", op->name);
		return 1;
	}
	direct = !qmgr_probe(qdir);
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "ALL") == 0) {
			for (size_t d = 0; d < 5 && op->from[d] != NULL; d++) {
				struct idlist l;

				/* qmgr may be delivering what is in active/ */
				if (!direct && strcmp(op->name, "requeue") == 0 &&
				    strcmp(op->from[d], QDIR_ACTIVE) == 0)
					continue;
				if (scan_dir(qdir, op->from[d], &l, 0) == -1) {
					idlist_free(&ids);
					return 1;
				}
				for (size_t k = 0; k < l.n; k++) {
					if (ids.n == cap) {
						cap = cap ? cap * 2 : 64;
						ids.id = xreallocarray(ids.id, cap,
						    sizeof(*ids.id));
					}
					ids.id[ids.n++] = l.id[k];
					l.id[k] = NULL;
				}
				idlist_free(&l);
			}
			continue;
		}
		if (!qid_valid(argv[i])) {
			fprintf(stderr, "postern: %s: bad queue ID\n", argv[i]);
			rc = 1;
			continue;
		}
		if (ids.n == cap) {
			cap = cap ? cap * 2 : 64;
			ids.id = xreallocarray(ids.id, cap, sizeof(*ids.id));
		}
		ids.id[ids.n++] = xstrdup(argv[i]);
	}
	for (size_t i = 0; i < ids.n; i++) {
		int r;

		if (direct) {
			if (admin_direct(qdir, op, ids.id[i]) == -1)
				rc = 1;
			continue;
		}
		r = qmgr_req(qdir, op->name, ids.id[i], err, sizeof(err));
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
	idlist_free(&ids);
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

static int
cmp_row(const void *a, const void *b)
{
	const struct shape_row *x = a, *y = b;

	if (x->n[0] != y->n[0])
		return x->n[0] < y->n[0] ? 1 : -1;
	return strcmp(x->dom, y->dom);
}

static int
queue_shape(const char *qdir, int argc, char **argv)
{
	static const char *def[] = { QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED };
	static const unsigned limit[NBUCKET - 1] = { 5, 10, 20, 40, 80, 160 };
	static const char *label[NBUCKET + 1] = { "T", "5", "10", "20", "40",
	    "80", "160", "160+" };
	struct shape_row *row = NULL, tot;
	size_t nrow = 0, cap = 0, width = 5;
	const char **qs = def;
	size_t nq = 3;
	time_t now = time(NULL);
	char err[256];

	if (argc > 0) {
		for (int i = 0; i < argc; i++) {
			int ok = 0;
			for (size_t d = 0; d < NLIST_DIRS; d++)
				ok |= strcmp(argv[i], list_dirs[d]) == 0;
			if (!ok) {
				fprintf(stderr, "postern: queue shape: unknown "
				    "queue %s (incoming, active, deferred, hold)\n",
				    argv[i]);
				return 1;
			}
		}
		qs = (const char **)argv;
		nq = (size_t)argc;
	}
	memset(&tot, 0, sizeof(tot));
	for (size_t d = 0; d < nq; d++) {
		struct idlist l;

		if (scan_dir(qdir, qs[d], &l, 0) == -1)
			return 1;
		for (size_t i = 0; i < l.n; i++) {
			struct qfile q;
			int fd;
			long long age;
			size_t b;

			if ((fd = q_open(qdir, qs[d], l.id[i], &q, err,
			    sizeof(err))) == -1) {
				if (errno != ENOENT)
					fprintf(stderr, "postern: warning: "
					    "%s/%s: %s, skipped\n", qs[d],
					    l.id[i], err);
				continue;
			}
			close(fd);
			age = ((long long)now - (long long)(q.arrival_us / 1000000)) / 60;
			for (b = 0; b < NBUCKET - 1; b++)
				if (age < (long long)limit[b])
					break;
			for (size_t k = 0; k < q.nrcpt; k++) {
				const char *at, *dom;
				char dl[QF_MAX_ADDR + 1];
				size_t r;

				if (q.rcpt[k].status != QR_PENDING)
					continue;
				at = strrchr(q.rcpt[k].addr, '@');
				dom = at ? at + 1 : q.rcpt[k].addr;
				clean(dl, sizeof(dl), dom);
				for (char *c = dl; *c; c++)
					*c = (char)tolower((unsigned char)*c);
				for (r = 0; r < nrow; r++)
					if (strcmp(row[r].dom, dl) == 0)
						break;
				if (r == nrow) {
					if (nrow == cap) {
						cap = cap ? cap * 2 : 32;
						row = xreallocarray(row, cap,
						    sizeof(*row));
					}
					memset(&row[nrow], 0, sizeof(*row));
					row[nrow].dom = xstrdup(dl);
					if (strlen(dl) > width)
						width = strlen(dl);
					nrow++;
				}
				row[r].n[0]++;
				row[r].n[b + 1]++;
				tot.n[0]++;
				tot.n[b + 1]++;
			}
			qfile_free(&q);
		}
		idlist_free(&l);
	}
	if (nrow > 1)
		qsort(row, nrow, sizeof(*row), cmp_row);
	printf("%*s", (int)width, "");
	for (size_t b = 0; b <= NBUCKET; b++)
		printf(" %5s", label[b]);
	putchar('\n');
	printf("%*s", (int)width, "TOTAL");
	for (size_t b = 0; b <= NBUCKET; b++)
		printf(" %5lu", tot.n[b]);
	putchar('\n');
	for (size_t r = 0; r < nrow; r++) {
		printf("%*s", (int)width, row[r].dom);
		for (size_t b = 0; b <= NBUCKET; b++)
			printf(" %5lu", row[r].n[b]);
		putchar('\n');
		free(row[r].dom);
	}
	free(row);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
usage(void)
{
	fprintf(stderr, "usage: postern queue [--json]\n"
	    "       postern queue show ID\n"
	    "       postern queue flush\n"
	    "       postern queue hold|release|delete|requeue ID...|ALL\n"
	    "       postern queue shape [QUEUE...]\n");
	return 1;
}

int
queue_main(const char *conf_file, int argc, char **argv)
{
	struct conf c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (tools_conf_load(conf_file, &c) == -1) {
		conf_free(&c);
		return 1;
	}
	if (argc == 0 || (argc == 1 && (strcmp(argv[0], "--json") == 0 ||
	    strcmp(argv[0], "-j") == 0 || strcmp(argv[0], "-p") == 0 ||
	    strcmp(argv[0], "list") == 0))) {
		int json = argc == 1 && argv[0][1] != 'p' && argv[0][0] == '-';

		rc = queue_list(c.queue_dir, json, stdout) == 0 ? 0 : 1;
		if (fflush(stdout) != 0)
			rc = 1;
	} else if (strcmp(argv[0], "show") == 0 && argc == 2)
		rc = queue_show(c.queue_dir, argv[1]);
	else if (strcmp(argv[0], "flush") == 0 && argc == 1)
		rc = queue_flush(c.queue_dir);
	else if (strcmp(argv[0], "shape") == 0)
		rc = queue_shape(c.queue_dir, argc - 1, argv + 1);
	else {
		rc = -1;
		for (size_t i = 0; i < sizeof(admin_ops) / sizeof(admin_ops[0]); i++)
			if (strcmp(argv[0], admin_ops[i].name) == 0)
				rc = queue_admin(c.queue_dir, &admin_ops[i],
				    argc - 1, argv + 1);
		if (rc == -1)
			rc = usage();
	}
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
