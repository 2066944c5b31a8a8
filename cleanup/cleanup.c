/*
 * cleanup: turns a submission (from smtpd, local or sendmail) into a
 * durable queue file. Runs as the unprivileged user, one job at a time;
 * answers "ok" only after the file is fsync'd and renamed into incoming/.
 * Never delivers, never moves files out of incoming/.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "qfile.h"
#include "reply.h"
#include "worker.h"

#define JOB_TIMEOUT_MS	(10 * 60 * 1000)
#define MAX_RCPT	QF_MAX_RCPT

struct job {
	int		 local;		/* local submission: fix headers */
	int		 msa;		/* authenticated submission (SPEC 6) */
	int		 extract;	/* sendmail -t */
	int		 received;	/* add Received: */
	uid_t		 uid;
	char		*sender;
	char		**rcpt;
	size_t		 nrcpt;
	struct buf	 client;	/* ipc payload for the 'C' record */
	char		*client_name, *client_addr, *helo, *proto, *tls;
	char		*auth_user, *smtp_id;
	char		*full_name;	/* sendmail -F */
	size_t		 max_size, max_header;

	/* content state */
	struct buf	 hdr;		/* header section, until the blank line */
	struct buf	 line;		/* partial line across chunks */
	int		 in_body;
	size_t		 size;
	int		 err_code;	/* first error; 0 = none */
	const char	*err_text;
	struct qwriter	 w;
	int		 w_open;
};

static struct worker	 wk;
static int		 incoming_fd = -1;

static void
job_free(struct job *j)
{
	free(j->sender);
	for (size_t i = 0; i < j->nrcpt; i++)
		free(j->rcpt[i]);
	free(j->rcpt);
	buf_free(&j->client);
	free(j->client_name); free(j->client_addr); free(j->helo);
	free(j->proto); free(j->tls); free(j->auth_user); free(j->smtp_id);
	free(j->full_name);
	buf_free(&j->hdr);
	buf_free(&j->line);
	if (j->w_open)
		qfile_abort(&j->w);
	memset(j, 0, sizeof(*j));
}

static void
job_fail(struct job *j, int code, const char *text)
{
	if (j->err_code == 0) {
		j->err_code = code;
		j->err_text = text;
	}
}

/* Qualify "user" as "user@hostname"; returns a fresh string. */
static char *
qualify(const char *a)
{
	char *out;

	if (*a == '\0' || strchr(a, '@'))
		return xstrdup(a);
	if (asprintf(&out, "%s@%s", a, wk.conf.hostname) == -1)
		fatal("out of memory");
	return out;
}

static void
add_rcpt(struct job *j, const char *a)
{
	char *q;

	if (*a == '\0' || strlen(a) > QF_MAX_ADDR)
		return;
	q = j->local || j->msa ? qualify(a) : xstrdup(a);
	for (size_t i = 0; i < j->nrcpt; i++)
		if (strcasecmp(j->rcpt[i], q) == 0) {	/* duplicate */
			free(q);
			return;
		}
	if (j->nrcpt >= MAX_RCPT) {
		free(q);
		job_fail(j, 452, "4.5.3 Too many recipients");
		return;
	}
	j->rcpt = xreallocarray(j->rcpt, j->nrcpt + 1, sizeof(char *));
	j->rcpt[j->nrcpt++] = q;
}

/*
 * Pull addresses out of a To/Cc/Bcc header value: commas outside quotes,
 * angle brackets and comments separate them; "<x>" wins over the phrase.
 */
static void
extract_addrs(struct job *j, const char *v)
{
	char tok[1024], ang[1024];
	size_t tl = 0, al = 0;
	int inq = 0, inang = 0, depth = 0, have_ang = 0;

	for (const char *p = v; ; p++) {
		char c = *p;
		if (c == '\0' || (c == ',' && !inq && !inang && depth == 0)) {
			tok[tl] = '\0';
			ang[al] = '\0';
			char *a = have_ang ? ang : tok;
			while (isspace((unsigned char)*a))
				a++;
			size_t n = strlen(a);
			while (n && isspace((unsigned char)a[n - 1]))
				a[--n] = '\0';
			struct addr pa;
			const char *why;
			if (n && addr_parse_path(a, n, 0, &pa, &why) == 0) {
				char f[600];
				if (addr_format(&pa, f, sizeof(f)) == 0)
					add_rcpt(j, f);
			}
			tl = al = 0;
			have_ang = inang = 0;
			if (c == '\0')
				break;
			continue;
		}
		if (c == '"' && depth == 0)
			inq = !inq;
		else if (c == '(' && !inq)
			depth++;
		else if (c == ')' && !inq && depth > 0) {
			depth--;
			continue;
		} else if (c == '<' && !inq && depth == 0) {
			inang = 1;
			have_ang = 1;
			al = 0;
			continue;
		} else if (c == '>' && inang) {
			inang = 0;
			continue;
		}
		if (depth > 0)
			continue;
		if (inang) {
			if (al < sizeof(ang) - 1)
				ang[al++] = c;
		} else if (tl < sizeof(tok) - 1)
			tok[tl++] = c;
	}
}

static int
hdr_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static void
rfc2822_date(char *out, size_t len, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/*
 * The header section is complete (hdr holds it, LF lines, no blank line):
 * decide what to add, extract recipients, drop Bcc, write it out.
 */
static void
header_done(struct job *j)
{
	struct buf out;
	char date[64];
	int has_from = 0, has_date = 0, has_mid = 0;
	const char *p = j->hdr.data ? j->hdr.data : "";
	const char *end = p + j->hdr.len;
	time_t now = time(NULL);

	buf_init(&out, j->max_header + 4096);
	rfc2822_date(date, sizeof(date), now);
	if (j->received) {
		if (j->local) {
			buf_printf(&out, "Received: by %s (postern, from userid %lu)\n"
			    "\tid %s; %s\n", wk.conf.hostname, (unsigned long)j->uid,
			    j->w.id, date);
		} else {
			buf_printf(&out, "Received: from %s (%s [%s])\n\tby %s "
			    "(postern) with %s id %s",
			    j->helo ? j->helo : "unknown",
			    j->client_name ? j->client_name : "unknown",
			    j->client_addr ? j->client_addr : "unknown",
			    wk.conf.hostname, j->proto ? j->proto : "SMTP", j->w.id);
			if (j->tls)
				buf_printf(&out, "\n\t(using %s)", j->tls);
			if (j->auth_user && wk.conf.auth_show_user)
				buf_printf(&out, "\n\t(Authenticated sender: %s)",
				    j->auth_user);
			if (j->nrcpt == 1)
				buf_printf(&out, "\n\tfor <%s>", j->rcpt[0]);
			buf_printf(&out, "; %s\n", date);
		}
	}
	/* Walk the headers: one header = a line plus its continuations. */
	while (p < end) {
		const char *h = p, *nl;
		do {
			nl = memchr(p, '\n', (size_t)(end - p));
			p = nl ? nl + 1 : end;
		} while (p < end && (*p == ' ' || *p == '\t'));
		size_t hl = (size_t)(p - h);
		int drop = 0;

		if (hdr_is(h, hl, "From"))
			has_from = 1;
		else if (hdr_is(h, hl, "Date"))
			has_date = 1;
		else if (hdr_is(h, hl, "Message-ID"))
			has_mid = 1;
		if (j->extract && (hdr_is(h, hl, "To") || hdr_is(h, hl, "Cc") ||
		    hdr_is(h, hl, "Bcc"))) {
			char *v = xstrndup(strchr(h, ':') + 1, hl - (size_t)(strchr(h, ':') + 1 - h));
			for (char *c = v; *c; c++)
				if (*c == '\n' || *c == '\t')
					*c = ' ';
			extract_addrs(j, v);
			free(v);
		}
		if (hdr_is(h, hl, "Bcc"))
			drop = 1;
		if (!drop)
			buf_append(&out, h, hl);
		if (hl && h[hl - 1] != '\n')
			buf_putc(&out, '\n');
	}
	if (j->local || j->msa) {
		if (!has_date)
			buf_printf(&out, "Date: %s\n", date);
		if (!has_mid)
			buf_printf(&out, "Message-ID: <%s@%s>\n", j->w.id,
			    wk.conf.hostname);
		if (!has_from) {
			if (*j->sender && j->full_name && *j->full_name)
				buf_printf(&out, "From: %s <%s>\n", j->full_name,
				    j->sender);
			else if (*j->sender)
				buf_printf(&out, "From: <%s>\n", j->sender);
			else
				buf_printf(&out, "From: MAILER-DAEMON@%s\n",
				    wk.conf.hostname);
		}
	}
	buf_putc(&out, '\n');
	qfile_content_write(&j->w, out.data, out.len);
	j->size += out.len;
	buf_free(&out);
	j->in_body = 1;
}

static int
is_header_line(const char *l, size_t n)
{
	size_t i;

	if (n && (l[0] == ' ' || l[0] == '\t'))
		return 1;	/* continuation */
	for (i = 0; i < n && l[i] != ':'; i++)
		if (l[i] <= ' ' || l[i] > '~')
			return 0;
	return i > 0 && i < n;
}

/* One complete LF-terminated line of content. */
static void
content_line(struct job *j, const char *l, size_t n)
{
	if (j->err_code)
		return;
	if (!j->in_body) {
		if (n == 1) {		/* the blank line */
			header_done(j);
			return;
		}
		if (is_header_line(l, n)) {
			if (j->hdr.len + n > j->max_header) {
				job_fail(j, reply_code(R_HDR_SIZE),
				    reply_text(R_HDR_SIZE));
				return;
			}
			buf_append(&j->hdr, l, n);
			return;
		}
		/* Not a header: the body starts here, after a blank line. */
		header_done(j);
	}
	j->size += n;
	if (j->max_size && j->size > j->max_size + j->hdr.len + 8192) {
		job_fail(j, reply_code(R_MSG_SIZE),
		    reply_text(R_MSG_SIZE));
		return;
	}
	qfile_content_write(&j->w, l, n);
}

static void
content_chunk(struct job *j, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;

		if (j->line.len == 0 && nl) {
			content_line(j, p, take);
		} else if (buf_append(&j->line, p, take) == -1) {
			job_fail(j, reply_code(R_MSG_SIZE),
		    reply_text(R_MSG_SIZE));
			buf_reset(&j->line);
		} else if (nl) {
			content_line(j, j->line.data, j->line.len);
			buf_reset(&j->line);
		}
		p += take;
		n -= take;
	}
}

static void
reply(int fd, const char *status, int code, const char *text, const char *id)
{
	struct buf b;

	buf_init(&b, IPC_MAX_FRAME + 4);
	ipc_begin(&b);
	ipc_add_str(&b, "status", status);
	if (code) {
		ipc_add_num(&b, "code", code);
		ipc_add_str(&b, "text", text);
	}
	if (id)
		ipc_add_str(&b, "queue_id", id);
	ipc_end(&b);
	if (ipc_send(fd, &b, 10000) == -1)
		log_warn("cannot answer client: %s", strerror(errno));
	buf_free(&b);
}

static void
poke_qmgr(void)
{
	char path[512];
	struct buf b;
	int fd;

	queue_path(&wk.conf, QDIR_PRIVATE "/qmgr", path, sizeof(path));
	if ((fd = ipc_connect(path)) == -1)
		return;		/* qmgr scans incoming/ on its own too */
	buf_init(&b, 256);
	ipc_begin(&b);
	ipc_add_str(&b, "req", "trigger");
	ipc_end(&b);
	(void)ipc_send(fd, &b, 1000);
	buf_free(&b);
	close(fd);
}

static char *
opt_str(const struct ipc_msg *m, const char *name, size_t max)
{
	char *v = ipc_get_str(m, name);

	if (v && strlen(v) > max) {
		free(v);
		return NULL;
	}
	for (char *c = v; c && *c; c++)
		if ((unsigned char)*c < ' ')
			*c = '?';	/* header injection */
	return v;
}

/* req=open: returns 0 if the job may proceed. */
static int
job_open(struct job *j, const struct ipc_msg *m, int public, uid_t uid)
{
	long long v;
	static const char *keep[] = { "client_name", "client_addr", "helo",
	    "proto", "auth_user", "tls", "listener", "smtp_id" };

	j->received = !ipc_is(m, "received", "0");
	j->local = public || ipc_is(m, "local", "1");
	j->extract = ipc_is(m, "extract", "1");
	j->msa = !public && ipc_is(m, "msa", "1");
	j->uid = uid;
	j->max_size = wk.conf.smtpd.max_message_size;
	j->max_header = wk.conf.smtpd.max_header_size;
	if (ipc_get_num(m, "max_size", &v) == 0 && v > 0)
		j->max_size = (size_t)v;
	if (ipc_get_num(m, "max_header_size", &v) == 0 && v > 0)
		j->max_header = (size_t)v;
	buf_init(&j->hdr, j->max_header + 1);
	buf_init(&j->line, 1024 * 1024);
	buf_init(&j->client, 64 * 1024);

	j->sender = opt_str(m, "sender", QF_MAX_ADDR);
	if (j->sender == NULL) {
		if (!public)
			return -1;
		struct passwd *pw = getpwuid(uid);
		j->sender = xstrdup(pw ? pw->pw_name : "nobody");
	}
	if (public) {
		/* A display name only: no quotes, brackets or controls. */
		j->full_name = opt_str(m, "full_name", 128);
		for (char *c = j->full_name; c && *c; c++)
			if (strchr("\"<>()[]\\,;:@", *c))
				*c = ' ';
	}
	if ((j->local || j->msa) && *j->sender) {
		char *q = qualify(j->sender);
		free(j->sender);
		j->sender = q;
	}
	if (!public) {
		j->client_name = opt_str(m, "client_name", 255);
		j->client_addr = opt_str(m, "client_addr", 64);
		j->helo = opt_str(m, "helo", 255);
		j->proto = opt_str(m, "proto", 16);
		j->tls = opt_str(m, "tls", 128);
		j->auth_user = opt_str(m, "auth_user", 255);
		j->smtp_id = opt_str(m, "smtp_id", 32);
	}
	ipc_begin(&j->client);
	if (!public) {
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
			const struct ipc_attr *a = ipc_get(m, keep[i]);
			if (a && a->len < 512)
				ipc_add(&j->client, a->name, a->val, a->len);
		}
	} else {
		ipc_add_num(&j->client, "uid", (long long)uid);
		ipc_add_str(&j->client, "proto", "local");
	}
	ipc_end(&j->client);
	buf_consume(&j->client, 4);	/* store the payload only */

	for (size_t i = 0; i < m->nattr; i++) {
		if (strcmp(m->attr[i].name, "rcpt") != 0)
			continue;
		char *r = xstrndup(m->attr[i].val, m->attr[i].len);
		add_rcpt(j, r);
		free(r);
	}
	return 0;
}

static void
serve(int fd, int public)
{
	struct ipc_msg m;
	struct job j;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	struct timespec ts;
	char id[QID_LEN + 1];
	uid_t uid = (uid_t)-1;

	memset(&j, 0, sizeof(j));
	if (public) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1) {
			log_warn("SO_PEERCRED: %s", strerror(errno));
			return;
		}
		uid = cr.uid;
	}
	ipc_msg_init(&m);
	if (ipc_recv(fd, &m, JOB_TIMEOUT_MS) == -1 || !ipc_is(&m, "req", "open")) {
		log_warn("bad or missing open request");
		goto out;
	}
	if (job_open(&j, &m, public, uid) == -1) {
		reply(fd, "error", 554, "5.5.4 Bad request", NULL);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if (qfile_create(&j.w, incoming_fd, (uint64_t)ts.tv_sec * 1000000 +
	    (uint64_t)ts.tv_nsec / 1000, 0, j.sender, &j.client) == -1) {
		log_error("cannot create queue file: %s", strerror(errno));
		reply(fd, "error", reply_code(R_QUEUE), reply_text(R_QUEUE),
		    NULL);
		goto out;
	}
	j.w_open = 1;
	reply(fd, "ok", 0, NULL, NULL);

	for (;;) {
		if (ipc_recv(fd, &m, JOB_TIMEOUT_MS) == -1) {
			log_warn("%s: client went away: %s", j.w.id, strerror(errno));
			goto out;
		}
		if (ipc_is(&m, "req", "abort"))
			goto out;
		if (ipc_is(&m, "req", "end"))
			break;
		if (!ipc_is(&m, "req", "data")) {
			log_warn("%s: protocol error from client", j.w.id);
			goto out;
		}
		for (size_t i = 0; i < m.nattr; i++)
			if (strcmp(m.attr[i].name, "chunk") == 0)
				content_chunk(&j, m.attr[i].val, m.attr[i].len);
	}
	if (j.line.len) {		/* no final newline */
		buf_putc(&j.line, '\n');
		content_line(&j, j.line.data, j.line.len);
	}
	if (!j.in_body && !j.err_code)
		header_done(&j);
	if (j.nrcpt == 0 && !j.err_code)
		job_fail(&j, 554, j.extract ? "5.5.1 No recipients found in headers" :
		    "5.5.1 No recipients");
	if (j.err_code) {
		reply(fd, "error", j.err_code, j.err_text, NULL);
		log_info("%s: reject: %d %s", j.w.id, j.err_code, j.err_text);
		goto out;
	}
	if (qfile_content_end(&j.w) == -1)
		goto write_error;
	for (size_t i = 0; i < j.nrcpt; i++)
		qfile_add_rcpt(&j.w, j.rcpt[i]);
	if (qfile_commit(&j.w, id) == -1) {
		j.w_open = 0;
		goto write_error;
	}
	j.w_open = 0;
	if (public)
		log_info("%s: uid=%lu from=<%s>", id, (unsigned long)uid, j.sender);
	else
		log_info("%s: client=%s[%s]%s%s", id,
		    j.client_name ? j.client_name : "unknown",
		    j.client_addr ? j.client_addr : "unknown",
		    j.auth_user ? ", sasl_username=" : "",
		    j.auth_user ? j.auth_user : "");
	log_info("%s: message-id=<%s@%s>, size=%zu, nrcpt=%zu", id, id,
	    wk.conf.hostname, j.size, j.nrcpt);
	reply(fd, "ok", 0, NULL, id);
	poke_qmgr();
	goto out;

write_error:
	log_error("%s: queue write error: %s", j.w.id, strerror(errno));
	reply(fd, "error", reply_code(R_QUEUE), reply_text(R_QUEUE),
	    NULL);
out:
	job_free(&j);
	ipc_msg_free(&m);
}

/* Remove temp files a crashed cleanup left behind (older than an hour). */
static void
sweep_temp(void)
{
	char path[512];
	int dfd = dup(incoming_fd);
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "t.", 2) != 0)
			continue;
		if (fstatat(incoming_fd, de->d_name, &st, 0) == 0 &&
		    now - st.st_mtime > 3600) {
			snprintf(path, sizeof(path), "%s", de->d_name);
			unlinkat(incoming_fd, path, 0);
		}
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	char path[512];

	worker_init(&wk, "cleanup", argc, argv);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	queue_path(&wk.conf, QDIR_INCOMING, path, sizeof(path));
	incoming_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (incoming_fd == -1)
		fatal("open %s: %s", path, strerror(errno));
	sweep_temp();
	while (!worker_stop) {
		int which, fd = worker_accept(&wk, 1000, &which);
		if (fd == -1)
			continue;
		/* fd 3 is private/cleanup; any later one is public. */
		serve(fd, which > 0);
		close(fd);
	}
	return 0;
}
