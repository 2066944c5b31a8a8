/*
 * sendmail -bs: an SMTP session on stdin/stdout for local programs that
 * speak SMTP to a pipe (Sendmail's and Postfix's -bs). Each message is
 * handed to cleanup over public/cleanup exactly as `sendmail -f SENDER
 * RCPT...` would, so cleanup sees the caller's uid and applies the same
 * policy; when postern is down, to postdrop, which keeps it in the
 * maildrop (250 only once it is on disk). Runs as the calling user;
 * trusts nothing it reads: lines are bounded (1000 octets), recipients
 * and message size too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "proto.h"
#include "qfile.h"
#include "reply.h"
#include "smtp_cmd.h"
#include "tools/tools.h"

#define LINE_MAX_	1000		/* RFC 5321 4.5.3.1.6, with CRLF */
#define IO_TIMEOUT_MS	(10 * 60 * 1000)

struct bs {
	const struct conf *c;
	const char	*cf;		/* the config file, for postdrop */
	FILE		*in, *out;
	char		*sender;	/* NULL: no MAIL yet */
	char	       **rcpt;
	size_t		 nrcpt;
	struct buf	 msg;		/* the message, LF line ends */
	int		 over;		/* content over max_message_size */
};

static void
say(struct bs *b, enum reply_id id, ...)
{
	char line[REPLY_MAX];
	va_list ap;

	va_start(ap, id);
	(void)reply_vformat(line, sizeof(line), id, ap);
	va_end(ap);
	fprintf(b->out, "%s\r\n", line);
	fflush(b->out);
}

static void
say_data(struct bs *b, int code, const char *text)
{
	char line[REPLY_MAX];

	(void)reply_data(line, sizeof(line), code, text);
	fprintf(b->out, "%s\r\n", line);
	fflush(b->out);
}

static void
reset(struct bs *b)
{
	free(b->sender);
	b->sender = NULL;
	for (size_t i = 0; i < b->nrcpt; i++)
		free(b->rcpt[i]);
	free(b->rcpt);
	b->rcpt = NULL;
	b->nrcpt = 0;
	buf_reset(&b->msg);
	b->over = 0;
}

/*
 * One line without its CRLF (or LF) into line; its length, -1 at EOF,
 * -2 when it was longer than LINE_MAX_ (the rest is read and dropped).
 */
static ssize_t
read_line(struct bs *b, char *line, size_t size)
{
	size_t n = 0;
	int ch, longline = 0;

	while ((ch = getc(b->in)) != EOF && ch != '\n') {
		if (n + 1 < size)
			line[n++] = (char)ch;
		else
			longline = 1;
	}
	if (ch == EOF && n == 0)
		return -1;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return longline ? -2 : (ssize_t)n;
}

/* One content byte into b->msg, unless the message is already over. */
static void
add(struct bs *b, int c, size_t max)
{
	if (b->over)
		return;
	if ((max > 0 && b->msg.len + 1 > max) || buf_putc(&b->msg, c) == -1)
		b->over = 1;
}

/*
 * DATA: lines up to ".", dot-unstuffed, CRLF as LF, into b->msg (bounded
 * by max_message_size; a line of any length is kept whole: cleanup
 * breaks those over 998 octets as it does for smtpd). 0, or -1 at EOF
 * (the session is over, nothing is queued).
 */
static int
read_data(struct bs *b)
{
	size_t max = b->c->smtpd.max_message_size, len = 0;
	int c, first = 0, cr = 0;

	while ((c = getc(b->in)) != EOF) {
		if (c == '\n') {
			if (len == 1 && first == '.')
				return 0;
			add(b, '\n', max);
			len = 0;
			cr = 0;
			continue;
		}
		if (cr)			/* a CR not before LF is content */
			add(b, '\r', max);
		if ((cr = c == '\r'))
			continue;
		if (len++ == 0 && (first = c) == '.')
			continue;	/* unstuffed (or the end, if alone) */
		add(b, c, max);
	}
	return -1;
}

/* One message to cleanup (or postdrop); its answer (or 451) to the
 * client. */
static void
queue_message(struct bs *b)
{
	char path[4096], why[128];
	struct cleanup_open o;
	struct proto_reply r;
	struct ipc_msg m;
	struct buf f;
	int fd = -1, ok = 0;
	pid_t pid = -1;

	cleanup_open_init(&o);
	o.sender = b->sender;
	o.rcpt = b->rcpt;
	o.nrcpt = b->nrcpt;
	buf_init(&f, IPC_MAX_FRAME + 4);
	ipc_msg_init(&m);
	memset(&r, 0, sizeof(r));
	if (snprintf(path, sizeof(path), "%s/%s/cleanup", b->c->queue_dir,
	    QDIR_PUBLIC) >= (int)sizeof(path) ||
	    (fd = submit_connect(path, b->cf, &pid, 0)) == -1 ||
	    cleanup_open_encode(&f, &o) == -1 ||
	    ipc_send(fd, &f, IO_TIMEOUT_MS) == -1 ||
	    ipc_recv(fd, &m, IO_TIMEOUT_MS) == -1 ||
	    proto_reply_decode(&m, &r, why, sizeof(why)) == -1)
		goto out;
	if (!r.ok)
		goto answer;
	proto_reply_free(&r);
	for (size_t off = 0; off < b->msg.len; off += 60000) {
		size_t n = b->msg.len - off < 60000 ? b->msg.len - off : 60000;

		if (cleanup_data_encode(&f, b->msg.data + off, n) == -1 ||
		    ipc_send(fd, &f, IO_TIMEOUT_MS) == -1)
			goto out;
	}
	if (proto_simple_encode(&f, REQ_END) == -1 ||
	    ipc_send(fd, &f, IO_TIMEOUT_MS) == -1 ||
	    ipc_recv(fd, &m, IO_TIMEOUT_MS) == -1 ||
	    proto_reply_decode(&m, &r, why, sizeof(why)) == -1)
		goto out;
answer:
	ok = 1;
	if (r.ok && r.queue_id != NULL)
		say(b, R_QUEUED, r.queue_id);
	else if (r.ok)
		say(b, R_QUEUED_NOID);
	else
		say_data(b, r.code >= 400 && r.code < 600 ? r.code : 451,
		    r.text != NULL ? r.text : "4.3.0 Error: queue file "
		    "write error");
	proto_reply_free(&r);
out:
	if (!ok)
		say_data(b, 451, "4.3.0 Error: cannot reach the mail "
		    "system (is postern running?)");
	submit_close(fd, pid);
	o.sender = NULL;	/* b's, freed by reset() */
	o.rcpt = NULL;
	o.nrcpt = 0;
	cleanup_open_free(&o);
	ipc_msg_free(&m);
	buf_free(&f);
}

static void
cmd_ehlo(struct bs *b, const struct smtp_cmd *c)
{
	const char *h = b->c->hostname ? b->c->hostname : "localhost";

	reset(b);
	if (c->verb == SMTP_HELO) {
		say(b, R_HELO, h);
		return;
	}
	fprintf(b->out, "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n"
	    "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n", h,
	    b->c->smtpd.max_message_size);
	fflush(b->out);
}

static void
cmd_path(struct bs *b, const struct smtp_cmd *c)
{
	char a[QF_MAX_ADDR + 1];

	if (addr_format(&c->path, a, sizeof(a)) == -1) {
		say(b, R_ADDR_LONG);
		return;
	}
	if (c->verb == SMTP_MAIL) {
		if (b->sender != NULL) {
			say(b, R_NESTED_MAIL);
			return;
		}
		if (c->size > 0 && b->c->smtpd.max_message_size > 0 &&
		    c->size > b->c->smtpd.max_message_size) {
			say(b, R_MSG_SIZE);
			return;
		}
		b->sender = xstrdup(a);
		say(b, R_MAIL_OK);
		return;
	}
	if (b->sender == NULL)
		say(b, R_NEED_MAIL);
	else if (a[0] == '\0')
		say(b, R_BAD_ADDR);
	else if (b->nrcpt >= b->c->smtpd.max_recipients)
		say(b, R_TOO_MANY_RCPT);
	else {
		b->rcpt = xreallocarray(b->rcpt, b->nrcpt + 1,
		    sizeof(*b->rcpt));
		b->rcpt[b->nrcpt++] = xstrdup(a);
		say(b, R_RCPT_OK);
	}
}

/* DATA; -1 when stdin ended inside it. */
static int
cmd_data(struct bs *b)
{
	if (b->sender == NULL) {
		say(b, R_NEED_MAIL);
		return 0;
	}
	if (b->nrcpt == 0) {
		say(b, R_NO_RCPT);
		return 0;
	}
	say(b, R_DATA_GO);
	if (read_data(b) == -1)
		return -1;
	if (b->over)
		say(b, R_MSG_SIZE);
	else
		queue_message(b);
	reset(b);
	return 0;
}

/* One command; 1 after QUIT, -1 at EOF inside DATA, else 0. */
static int
command(struct bs *b, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *err;

	if (smtp_cmd_parse(line, len, &c, &err) == -1) {
		fprintf(b->out, "%s\r\n", err);
		fflush(b->out);
		return 0;
	}
	switch (c.verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
		cmd_ehlo(b, &c);
		break;
	case SMTP_MAIL:
	case SMTP_RCPT:
		cmd_path(b, &c);
		break;
	case SMTP_DATA:
		return cmd_data(b);
	case SMTP_RSET:
		reset(b);
		say(b, R_OKAY);
		break;
	case SMTP_NOOP:
		say(b, R_OKAY);
		break;
	case SMTP_QUIT:
		say(b, R_BYE);
		return 1;
	case SMTP_VRFY:
		say(b, R_VRFY_OFF);
		break;
	case SMTP_EXPN:
		say(b, R_EXPN_OFF);
		break;
	case SMTP_HELP:
		say(b, R_HELP);
		break;
	case SMTP_STARTTLS:
		say(b, R_NO_TLS);
		break;
	default:	/* AUTH, BDAT: not on a pipe from a local user */
		say(b, R_UNKNOWN);
		break;
	}
	return 0;
}

int
sendmail_bs(const struct conf *c, const char *cf)
{
	struct bs b;
	char line[LINE_MAX_ + 2];
	ssize_t n;
	int r = 0;

	memset(&b, 0, sizeof(b));
	b.c = c;
	b.cf = cf;
	b.in = stdin;
	b.out = stdout;
	buf_init(&b.msg, c->smtpd.max_message_size > 0 ?
	    c->smtpd.max_message_size + 1 : (size_t)1 << 30);
	say(&b, R_GREETING, c->hostname ? c->hostname : "localhost");
	while (r == 0 && (n = read_line(&b, line, sizeof(line))) != -1) {
		if (n == -2)
			say(&b, R_LINE_LONG);
		else
			r = command(&b, line, (size_t)n);
	}
	reset(&b);
	buf_free(&b.msg);
	return 0;
}
