/*
 * cleanup: turns a submission (from smtpd, local or sendmail) into a
 * durable queue file. Runs as the unprivileged user, one job at a time;
 * answers "ok" only after the file is fsync'd and renamed into incoming/.
 * Never delivers, never moves files out of incoming/.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

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
#include "clock.h"
#include "extract.h"
#include "keep.h"
#include "log.h"
#include "pickup.h"
#include "proto.h"
#include "qfile.h"
#include "qspace.h"
#include "reply.h"
#include "rewrite.h"
#include "sweep.h"
#include "route.h"
#include "worker.h"

#define JOB_TIMEOUT_MS	(10 * 60 * 1000)
#define LOCAL_TIMEOUT_MS (2 * 60 * 1000)	/* per frame, public socket */
#define MAX_RCPT	QF_MAX_RCPT
#define LINE_OCTETS	998	/* longest line out, without CRLF (5321) */

struct job {
	struct cleanup_open o;	/* the open request, socket rules in */
	int		 local;		/* local submission: fix headers */
	int		 msa;		/* authenticated submission (SPEC 6) */
	uid_t		 uid;
	char		*sender;
	char		*authwarn;	/* X-Authentication-Warning line */
	char		**rcpt;
	long		*rsrc;		/* per rcpt: index in o.rcpt, -1 none */
	size_t		 nrcpt;
	struct buf	 client;	/* ipc payload for the 'C' record */
	size_t		 max_size, max_header;
	int		 timeout_ms;	/* per frame from the client */

	/* content state */
	struct buf	 hdr;		/* header section, until the blank line */
	struct buf	 line;		/* partial line across chunks */
	int		 in_body;
	size_t		 size;
	size_t		 hops;		/* Received: lines it came with */
	char		 msgid[256];	/* Message-ID, for the log; "" none */
	int		 err_code;	/* first error; 0 = none */
	const char	*err_text;
	struct qwriter	 w;
	int		 w_open;
};

static struct worker	 wk;
static struct ipc_reader in;		/* the client connection's input */
static int		 incoming_fd = -1;
static int		 public_fd[16];	/* by listener: public/cleanup? */
static struct router	 router;	/* virtual_map */
static uid_t		*submit_uids;	/* authorized_submit_users */
static size_t		 nsubmit_uids;

static void
job_free(struct job *j)
{
	free(j->sender);
	free(j->authwarn);
	for (size_t i = 0; i < j->nrcpt; i++)
		free(j->rcpt[i]);
	free(j->rcpt);
	free(j->rsrc);
	buf_free(&j->client);
	cleanup_open_free(&j->o);
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

/*
 * An address as the queue keeps it: parsed as an SMTP path and formatted
 * again, so that no control character, space or bracket that could end
 * an SMTP command or a header line reaches the queue (the public socket
 * is any local user's). A fresh string, or NULL if it does not parse.
 */
static char *
canon_addr(const char *a, int allow_null)
{
	struct addr pa;
	const char *why;
	char out[QF_MAX_ADDR + 1];

	if (addr_parse_path(a, strlen(a), allow_null, &pa, &why) == -1 ||
	    addr_format(&pa, out, sizeof(out)) == -1)
		return NULL;
	return xstrdup(out);
}

/*
 * virtual_map (maps/route.c) for a recipient being added: the address
 * the queue file keeps (a, or a fresh rewritten one; a is freed then),
 * or NULL and the job refused: an error: target refuses the whole
 * submission with its reply (smtpd refused it at RCPT already).
 */
static char *
rcpt_virtual(struct job *j, char *a)
{
	static char errtext[ROUTE_ERR_TEXT];
	struct route_error e;
	char out[QF_MAX_ADDR + 1];

	switch (route_virtual(&router, a, out, sizeof(out), &e, NULL, 0)) {
	case RV_NONE:
		return a;
	case RV_ADDR:
		log_info("%s: to=<%s>, orig_to=<%s>: virtual_map",
		    j->w_open ? j->w.id : "NOQUEUE", out, a);
		free(a);
		return xstrdup(out);
	case RV_ERROR:
		log_info("%s: to=<%s>: virtual_map: %d %s", j->w_open ?
		    j->w.id : "NOQUEUE", a, e.code, e.text);
		if (j->err_code == 0) {
			strlcpy(errtext, e.text, sizeof(errtext));
			job_fail(j, e.code, errtext);
		}
		break;
	case RV_TEMP:
		job_fail(j, 451, "4.3.0 virtual_map lookup failed");
		break;
	}
	free(a);
	return NULL;
}

/* A recipient for the queue file; src: its index in the open request
 * (for its DSN data), -1 for one sendmail -t found. */
static void
add_rcpt(struct job *j, const char *a, long src)
{
	char *q, *c;

	if (*a == '\0' || strlen(a) > QF_MAX_ADDR)
		return;
	q = j->local || j->msa ? qualify(a) : xstrdup(a);
	c = canon_addr(q, 0);
	free(q);
	if (c == NULL) {
		job_fail(j, 553, "5.1.3 Bad recipient address syntax");
		return;
	}
	if ((q = rcpt_virtual(j, c)) == NULL)
		return;
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
	j->rsrc = xreallocarray(j->rsrc, j->nrcpt + 1, sizeof(long));
	j->rsrc[j->nrcpt] = src;
	j->rcpt[j->nrcpt++] = q;
}

/* extract_header's callback: a recipient of sendmail -t. */
static void
extract_add(void *arg, const char *a)
{
	add_rcpt(arg, a, -1);
}

/* The Received: header this job's message gets. */
static void
received_header(struct job *j, struct buf *out, const char *date)
{
	const struct cleanup_open *o = &j->o;

	if (j->local) {
		buf_printf(out, "Received: by %s (postern, from userid %lu)\n"
		    "\tid %s; %s\n", wk.conf.hostname, (unsigned long)j->uid,
		    j->w.id, date);
		return;
	}
	buf_printf(out, "Received: from %s (%s [%s])\n\tby %s "
	    "(postern) with %s id %s",
	    o->helo ? o->helo : "unknown",
	    o->client_name ? o->client_name : "unknown",
	    o->client_addr ? o->client_addr : "unknown",
	    wk.conf.hostname, o->proto ? o->proto : "SMTP", j->w.id);
	if (o->tls)
		buf_printf(out, "\n\t(using %s)", o->tls);
	if (o->auth_user && wk.conf.auth_show_user)
		buf_printf(out, "\n\t(Authenticated sender: %s)",
		    o->auth_user);
	if (j->nrcpt == 1)
		buf_printf(out, "\n\tfor <%s>", j->rcpt[0]);
	buf_printf(out, "; %s\n", date);
}

/* The headers copy_headers() saw, as bits. */
enum { SEEN_FROM = 1, SEEN_DATE = 2, SEEN_MID = 4 };

/* Headers a local or MSA submission must have: Date, Message-ID, From. */
static void
missing_headers(struct job *j, struct buf *out, const char *date, int seen)
{
	const char *fn = j->o.full_name;
	struct buf from;

	if (!(seen & SEEN_DATE))
		buf_printf(out, "Date: %s\n", date);
	if (!(seen & SEEN_MID)) {
		buf_printf(out, "Message-ID: <%s@%s>\n", j->w.id,
		    wk.conf.hostname);
		snprintf(j->msgid, sizeof(j->msgid), "<%s@%s>", j->w.id,
		    wk.conf.hostname);
	}
	if (seen & SEEN_FROM)
		return;
	buf_init(&from, 2048);
	if (*j->sender && fn && *fn)
		buf_printf(&from, "From: %s <%s>\n", fn, j->sender);
	else if (*j->sender)
		buf_printf(&from, "From: <%s>\n", j->sender);
	else
		buf_printf(&from, "From: MAILER-DAEMON@%s\n", wk.conf.hostname);
	if (!rewrite_header(from.data, from.len, 1, 1, out)) /* masquerade */
		buf_append(out, from.data, from.len);
	buf_free(&from);
}

/* The Message-ID header's value (unfolded, trimmed, controls and
 * spaces as '?' or dropped, cut to fit) into j->msgid, for the log. */
static void
keep_msgid(struct job *j, const char *h, size_t hl)
{
	const char *v = memchr(h, ':', hl);
	size_t n = 0;

	if (v == NULL || j->msgid[0] != '\0')
		return;
	for (v++; v < h + hl && n + 1 < sizeof(j->msgid); v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\n' || c == '\r' || c == '\t' || c == ' ')
			continue;
		j->msgid[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	j->msgid[n] = '\0';
}

/* Copy the header section to out (one header = a line plus its
 * continuations), extracting recipients and dropping Bcc. Returns the
 * SEEN_* bits. */
static int
copy_headers(struct job *j, struct buf *out)
{
	const char *p = j->hdr.data ? j->hdr.data : "";
	const char *end = p + j->hdr.len;
	int seen = 0;

	while (p < end) {
		const char *h = p, *nl;
		do {
			nl = memchr(p, '\n', (size_t)(end - p));
			p = nl ? nl + 1 : end;
		} while (p < end && (*p == ' ' || *p == '\t'));
		size_t hl = (size_t)(p - h);

		if (hdr_is(h, hl, "From"))
			seen |= SEEN_FROM;
		else if (hdr_is(h, hl, "Date"))
			seen |= SEEN_DATE;
		else if (hdr_is(h, hl, "Received"))
			j->hops++;
		else if (hdr_is(h, hl, "Message-ID")) {
			seen |= SEEN_MID;
			keep_msgid(j, h, hl);
		}
		if (j->o.extract && (hdr_is(h, hl, "To") ||
		    hdr_is(h, hl, "Cc") || hdr_is(h, hl, "Bcc")))
			extract_header(h, hl, extract_add, j);
		/* room kept for the rest and what missing_headers adds */
		if (!hdr_is(h, hl, "Bcc") && !rewrite_header(h, hl,
		    j->local || j->msa, (size_t)(end - p) + 4096, out))
			buf_append(out, h, hl);
		if (hl && h[hl - 1] != '\n')
			buf_putc(out, '\n');
	}
	return seen;
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
	int seen;

	buf_init(&out, 2 * j->max_header + 8192);	/* rewriting may grow */
	date_rfc5322(date, sizeof(date), time(NULL));
	if (j->o.received)
		received_header(j, &out, date);
	if (j->authwarn)
		buf_puts(&out, j->authwarn);
	seen = copy_headers(j, &out);
	if (j->hops + (j->o.received != 0) > wk.conf.max_hops) {
		/* a mail loop: refused before its 250, never queued */
		job_fail(j, reply_code(R_HOPS), reply_text(R_HOPS));
		buf_free(&out);
		j->in_body = 1;
		return;
	}
	if (j->local || j->msa)
		missing_headers(j, &out, date, seen);
	buf_putc(&out, '\n');
	qfile_content_write(&j->w, out.data, out.len);
	j->size += out.len;
	buf_free(&out);
	j->in_body = 1;
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

/*
 * One logical line without its terminator, out in pieces of at most
 * LINE_OCTETS octets so that what we relay we would accept ourselves: a
 * long header is folded (each later piece starts with a space), a long
 * body line just gets line breaks.
 */
static void
content_segment(struct job *j, const char *l, size_t len)
{
	char piece[LINE_OCTETS + 1];
	int fold = 0, hdr = 0;

	if (len > LINE_OCTETS && !j->in_body)
		hdr = is_header_line(l, len);
	do {
		size_t k = 0, take;

		if (fold)
			piece[k++] = ' ';
		take = len < LINE_OCTETS - k ? len : LINE_OCTETS - k;
		memcpy(piece + k, l, take);
		k += take;
		piece[k++] = '\n';
		content_line(j, piece, k);
		l += take;
		len -= take;
		fold = hdr;
	} while (len > 0);
}

/*
 * One LF-terminated line as it came. No bare CR reaches a queue file
 * (remote would pass it on, and "\r.\r" ends DATA at some receivers):
 * CRLF becomes LF; every other CR is a line break (LF) in the body and
 * a space in the header section.
 */
static void
content_in(struct job *j, const char *l, size_t n)
{
	const char *stop = l + n - 1, *cr;	/* l[n - 1] is the LF */

	if (stop > l && stop[-1] == '\r')
		stop--;
	if (!j->in_body && memchr(l, '\r', (size_t)(stop - l)) != NULL) {
		/* In the header section a bare CR is a space: a line break
		 * there would end the headers early (a Bcc: after it would
		 * be shown to every recipient). */
		size_t len = (size_t)(stop - l);
		char *c = xmalloc(len + 1);

		for (size_t i = 0; i < len; i++)
			c[i] = l[i] == '\r' ? ' ' : l[i];
		content_segment(j, c, len);
		free(c);
		return;
	}
	while ((cr = memchr(l, '\r', (size_t)(stop - l))) != NULL) {
		content_segment(j, l, (size_t)(cr - l));
		l = cr + 1;
	}
	content_segment(j, l, (size_t)(stop - l));
}

static void
content_chunk(struct job *j, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;

		if (j->line.len == 0 && nl) {
			content_in(j, p, take);
		} else if (buf_append(&j->line, p, take) == -1) {
			job_fail(j, reply_code(R_MSG_SIZE),
		    reply_text(R_MSG_SIZE));
			buf_reset(&j->line);
		} else if (nl) {
			content_in(j, j->line.data, j->line.len);
			buf_reset(&j->line);
		}
		p += take;
		n -= take;
	}
}

static void
reply(int fd, int ok, int code, const char *text, const char *id)
{
	struct proto_reply r = { ok, code, (char *)(uintptr_t)text,
	    (char *)(uintptr_t)id };

	if (proto_reply_send(fd, &r, 10000) == -1)
		log_warn("cannot answer client (%d %s): %s", code,
		    text ? text : "", strerror(errno));
}

/*
 * Apply the socket's rules to a decoded open request: on public/cleanup
 * local and the Received: trace are forced, msa, the size limits and the
 * client_* attributes are ignored and only the display name is kept (no
 * quotes, brackets or controls); on
 * private/cleanup the display name is ignored.
 */
static void
open_rules(struct cleanup_open *o, int public)
{
	char **session[] = { &o->client_name, &o->client_addr, &o->helo,
	    &o->proto, &o->auth_user, &o->tls, &o->listener, &o->smtp_id };

	if (!public) {
		free(o->full_name);
		o->full_name = NULL;
		return;
	}
	o->local = 1;
	o->msa = 0;
	o->received = 1;	/* a local user's mail is always traceable */
	o->max_size = 0;	/* the server's limits apply, always */
	o->max_header_size = 0;
	for (size_t i = 0; i < sizeof(session) / sizeof(session[0]); i++) {
		free(*session[i]);
		*session[i] = NULL;
	}
	for (char *c = o->full_name; c && *c; c++)
		if (strchr("\"<>()[]\\,;:@", *c))
			*c = ' ';
}

/* The 'C' record: the session from smtpd/local, or the local uid. */
static void
client_record(struct job *j, int public)
{
	const struct cleanup_open *o = &j->o;
	struct client_info ci = { o->client_name, o->client_addr, o->helo,
	    o->proto, o->auth_user, o->tls, o->listener, o->smtp_id, -1 };

	if (public)
		ci = (struct client_info){ .proto = "local",
		    .uid = (long long)j->uid };
	buf_init(&j->client, 64 * 1024);
	if (client_info_encode(&j->client, &ci) == -1)
		buf_reset(&j->client);
}

/* req=open: returns 0 if the job may proceed. */
static int
job_open(struct job *j, int public, uid_t uid)
{
	struct cleanup_open *o = &j->o;
	char *c;
	int fflag;

	open_rules(o, public);
	j->local = o->local;
	j->msa = o->msa;
	j->uid = uid;
	j->max_size = o->max_size ? o->max_size :
	    wk.conf.smtpd.max_message_size;
	j->max_header = o->max_header_size ? o->max_header_size :
	    wk.conf.smtpd.max_header_size;
	buf_init(&j->hdr, j->max_header + 1);
	buf_init(&j->line, 1024 * 1024);

	j->sender = o->sender;
	o->sender = NULL;
	fflag = public && j->sender != NULL;	/* sendmail -f */
	if (j->sender == NULL) {
		if (!public)
			return -1;
		struct passwd *pw = getpwuid(uid);
		j->sender = xstrdup(pw ? pw->pw_name : "nobody");
	}
	if ((j->local || j->msa) && *j->sender) {
		char *q = qualify(j->sender);
		free(j->sender);
		j->sender = q;
	}
	if (*j->sender) {
		c = canon_addr(j->sender, 0);
		free(j->sender);
		if ((j->sender = c) == NULL)
			return -1;
	}
	if (fflag)
		j->authwarn = rewrite_auth_warning(uid, j->sender);
	if ((c = rewrite_sender(j->sender)) != NULL) {
		free(j->sender);
		j->sender = c;
	}
	client_record(j, public);
	for (size_t i = 0; i < o->nrcpt; i++)
		add_rcpt(j, o->rcpt[i], (long)i);
	return 0;
}

/* May this local uid submit (authorized_submit_users)? */
static int
submit_allowed(uid_t uid)
{
	if (wk.conf.authorized_submit_users == NULL)
		return 1;
	for (size_t i = 0; i < nsubmit_uids; i++)
		if (submit_uids[i] == uid)
			return 1;
	return 0;
}

/* The reply for a failed queue write: a full disk is 452 4.3.1. */
static enum reply_id
write_reply(int err)
{
	return err == ENOSPC || err == EDQUOT ? R_NO_SPACE : R_QUEUE;
}

/* A local submission refused before any file is made: 0 if it may go. */
static int
local_refuse(int fd, uid_t uid)
{
	enum reply_id r;

	if (!submit_allowed(uid))
		r = R_SUBMIT_DENIED;
	else if (!qspace_ok(wk.conf.queue_dir, wk.conf.queue_minfree, 0))
		r = R_NO_SPACE;
	else
		return 0;
	log_info("NOQUEUE: reject: uid=%lu: %d %s", (unsigned long)uid,
	    reply_code(r), reply_text(r));
	reply(fd, 0, reply_code(r), reply_text(r), NULL);
	return -1;
}

/*
 * Read and check the open request, create the queue file, say ok. On
 * the private socket a uid is pickup's: a local submission from the
 * owner of a maildrop file, under the public socket's rules.
 */
static int
job_start(int fd, struct ipc_msg *m, struct job *j, int *publicp,
    uid_t *uidp)
{
	char why[128];

	if (ipc_reader_recv(&in, m, j->timeout_ms) == -1 ||
	    proto_req_type(m) != REQ_OPEN) {
		log_warn("bad or missing open request");
		return -1;
	}
	if (cleanup_open_decode(m, &j->o, why, sizeof(why)) == -1) {
		log_warn("bad open request: %s", why);
		reply(fd, 0, 554, "5.5.4 Bad request", NULL);
		return -1;
	}
	if (!*publicp && j->o.uid >= 0) {
		*publicp = 1;
		*uidp = (uid_t)j->o.uid;
	}
	if (*publicp && local_refuse(fd, *uidp) == -1)
		return -1;
	if (job_open(j, *publicp, *uidp) == -1) {
		reply(fd, 0, 554, "5.5.4 Bad request", NULL);
		return -1;
	}
	if (qfile_create(&j->w, incoming_fd, clock_us(),
	    j->o.smtputf8 ? QF_SMTPUTF8 : 0, j->sender, &j->client) == -1) {
		enum reply_id r = write_reply(j->w.err);

		log_error("cannot create queue file: %s", strerror(j->w.err));
		reply(fd, 0, reply_code(r), reply_text(r), NULL);
		return -1;
	}
	j->w_open = 1;
	reply(fd, 1, 0, NULL, NULL);
	return 0;
}

/* Data frames until req=end (0); -1 on abort or a broken client. */
static int
job_content(int fd, struct ipc_msg *m, struct job *j)
{
	const char *chunk;
	size_t len;

	for (;;) {
		if (ipc_reader_recv(&in, m, j->timeout_ms) == -1) {
			log_warn("%s: client went away: %s", j->w.id,
			    strerror(errno));
			return -1;
		}
		switch (proto_req_type(m)) {
		case REQ_ABORT:
			return -1;
		case REQ_END:
			return 0;
		case REQ_DATA:
			if (cleanup_data_decode(m, &chunk, &len) == 0)
				content_chunk(j, chunk, len);
			break;
		default:
			log_warn("%s: protocol error from client", j->w.id);
			return -1;
		}
	}
}

/* The end of the content: check, commit, answer, poke qmgr. */
/* Remove the temp file of a message that will not be queued. */
static void
job_drop(struct job *j)
{
	if (j->w_open) {
		qfile_abort(&j->w);
		j->w_open = 0;
	}
}

static void
job_finish(int fd, struct job *j, int public)
{
	char id[QID_LEN + 1];
	const struct cleanup_open *o = &j->o;

	if (j->line.len) {		/* no final newline */
		buf_putc(&j->line, '\n');
		content_in(j, j->line.data, j->line.len);
	}
	if (!j->in_body && !j->err_code)
		header_done(j);
	if (j->nrcpt == 0 && !j->err_code)
		job_fail(j, 554, o->extract ?
		    "5.5.1 No recipients found in headers" :
		    "5.5.1 No recipients");
	if (j->err_code) {
		job_drop(j);	/* nothing half-written once the client hears */
		reply(fd, 0, j->err_code, j->err_text, NULL);
		log_info("%s: reject: %d %s", j->w.id, j->err_code,
		    j->err_text);
		return;
	}
	if (qfile_content_end(&j->w) == -1 ||
	    qfile_add_dsn(&j->w, o->ret, o->envid) == -1)
		goto write_error;
	for (size_t i = 0; i < j->nrcpt; i++) {
		long k = j->rsrc[i];	/* DSN data as the client gave it */
		qfile_add_rcpt_dsn(&j->w, j->rcpt[i], k >= 0 && o->notify ?
		    o->notify[k] : 0, k >= 0 && o->orcpt ? o->orcpt[k] : NULL);
	}
	j->w_open = 0;
	if (qfile_commit(&j->w, id) == -1)
		goto write_error;
	/* smtpd logs "client=" for what it queued (as Postfix's smtpd) */
	if (public)
		log_info("%s: uid=%lu from=<%s>", id, (unsigned long)j->uid,
		    j->sender);
	/* Postfix's line: the message's own Message-ID, as found or added */
	log_info("%s: message-id=%s", id, j->msgid);
	reply(fd, 1, 0, NULL, id);
	(void)queue_trigger(wk.conf.queue_dir);	/* best effort */
	return;

write_error:
	log_error("%s: queue write error: %s", j->w.id, strerror(j->w.err));
	job_drop(j);
	reply(fd, 0, reply_code(write_reply(j->w.err)),
	    reply_text(write_reply(j->w.err)), NULL);
}

/* One client connection: messages until it ends or keep_wait() gives it
 * up. Each message starts from the connection's own public and uid. */
static void
serve(int fd, int public)
{
	struct ipc_msg m;
	struct job j;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	uid_t uid = (uid_t)-1, juid;
	int jpublic, ok, timeout = public ? LOCAL_TIMEOUT_MS : JOB_TIMEOUT_MS;

	if (public) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen)
		    == -1) {
			log_warn("SO_PEERCRED: %s", strerror(errno));
			return;
		}
		uid = cr.uid;
	}
	ipc_msg_init(&m);
	ipc_reader_init(&in, fd);
	do {
		memset(&j, 0, sizeof(j));
		j.timeout_ms = timeout;
		cleanup_open_init(&j.o);
		jpublic = public;
		juid = uid;
		ok = job_start(fd, &m, &j, &jpublic, &juid) == 0 &&
		    job_content(fd, &m, &j) == 0;
		if (ok)
			job_finish(fd, &j, jpublic);
		job_free(&j);
	} while (ok && (ipc_reader_pending(&in) > 0 ||
	    keep_wait(&wk, fd, timeout) == 1));
	ipc_reader_free(&in);
	ipc_msg_free(&m);
}

/* Which listening sockets are public/cleanup: all but those of the
 * service "cleanup" (master binds by a relative name, so the bound path
 * does not tell which directory; a public/ path is public anyway). */
static void
find_public(void)
{
	const char *suffix = QDIR_PUBLIC "/cleanup";
	size_t sl = strlen(suffix);
	int trusted = strcmp(wk.service, "cleanup") == 0;

	for (int i = 0; i < wk.nlisten && i < 16; i++) {
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		size_t pl;

		memset(&sa, 0, sizeof(sa));
		if (getsockname(wk.listen_fd[i], (struct sockaddr *)&sa,
		    &len) == -1 || sa.sun_family != AF_UNIX)
			fatal("listening socket %d: not a unix socket", i);
		pl = strnlen(sa.sun_path, sizeof(sa.sun_path));
		/* fail closed: only the smtpd-facing service "cleanup" has
		 * trusted (private) sockets */
		public_fd[i] = !trusted || (pl >= sl &&
		    strcmp(sa.sun_path + pl - sl, suffix) == 0);
	}
}

/* authorized_submit_users as uids (names that do not exist are noted). */
static void
load_submit_users(void)
{
	char *list, *p, *name;

	if (wk.conf.authorized_submit_users == NULL)
		return;
	list = xstrdup(wk.conf.authorized_submit_users);
	p = list;
	while ((name = strsep(&p, ", \t")) != NULL) {
		struct passwd *pw;

		if (*name == '\0')
			continue;
		if ((pw = getpwnam(name)) == NULL) {
			log_warn("authorized_submit_users: no user %s", name);
			continue;
		}
		submit_uids = xreallocarray(submit_uids, nsubmit_uids + 1,
		    sizeof(*submit_uids));
		submit_uids[nsubmit_uids++] = pw->pw_uid;
	}
	free(list);
}

/* virtual_map, opened before the worker confines itself. */
static void
router_load(void)
{
	struct conf_errors errs = { 0 };

	if (route_init(&router, &wk.conf, &errs) == -1)
		for (size_t i = 0; i < errs.n; i++)
			log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
}

int
main(int argc, char **argv)
{
	char path[512];

	worker_init(&wk, "cleanup", argc, argv);
	if (strcmp(wk.service, PICKUP_SERVICE) == 0)
		return pickup_main(&wk);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	queue_path(wk.conf.queue_dir, QDIR_INCOMING, path, sizeof(path));
	incoming_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (incoming_fd == -1)
		fatal("open %s: %s", path, strerror(errno));
	sweep_temp(incoming_fd);
	find_public();
	load_submit_users();
	rewrite_init(&wk.conf);
	router_load();
	worker_confine(&wk);
	while (!worker_stop) {
		int which, fd = worker_accept(&wk, 1000, &which);
		if (fd == -1)
			continue;
		serve(fd, which >= 0 && which < 16 ? public_fd[which] : 1);
		close(fd);
	}
	return 0;
}
