/*
 * sendmail: the Sendmail-compatible local submission command. Reads a
 * message on stdin and hands it to cleanup over QUEUE/public/cleanup
 * (docs/internals.md, "cleanup"); cleanup records our uid (SO_PEERCRED)
 * and does all policy. This program runs as any local user: it never
 * touches queue files, never trusts its input beyond framing it in
 * bounded chunks, and says nothing on success.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "proto.h"
#include "xtext.h"
#include "qfile.h"
#include "tools/tools.h"

#define EX_OK_		0
#define EX_USAGE_	64
#define EX_DATAERR_	65
#define EX_TEMPFAIL_	75
#define EX_NOPERM_	77

#define CHUNK		(64 * 1024)
#define PREREAD_MAX	(4 * 1024 * 1024)	/* read before connecting */
#define OPEN_TIMEOUT_MS	(60 * 1000)
#define DATA_TIMEOUT_MS	(10 * 60 * 1000)

enum mode { M_DELIVER, M_LIST, M_ALIASES, M_SMTP, M_FLUSH, M_VERIFY };

struct sm {
	int		 fd;		/* to cleanup (or postdrop) */
	const char	*cf;		/* the config file, for postdrop */
	pid_t		 postdrop;	/* running when postern is down */
	int		 dot_ends;	/* no -i: a lone "." line ends input */
	struct buf	 out;		/* content not yet sent */
	struct buf	 frame;
	int		 eof;		/* stdin is all read */
	int		 pending_cr;
	int		 state;		/* S_BOL, S_MID, S_DOT */
	int		 done;
	int		 failed;	/* send failed: stop sending, read reply */
	int		 send_errno;
	int		 verbose;	/* -v: the transcript on stderr */
	size_t		 sent;		/* content bytes sent */
};
enum { S_BOL, S_MID, S_DOT };

/* -N's words, as bits: lib/xtext.h's DSN_NOTIFY_* */
#define DSN_NEVER	DSN_NOTIFY_NEVER

struct sm_opts {
	const char	*cf, *sender, *fullname;
	enum mode	 mode;
	int		 extract, dot_ends, verbose;
	int		 notify;	/* -N: DSN_* bits; 0 when not given */
	const char	*notify_arg;
	int		 ret;		/* -R: DSN_RET_*; 0 when not given */
	const char	*envid;		/* -V */
	struct qmgr_flush flush;	/* -qR, -qS, -qI */
};

static int
usage(void)
{
	fprintf(stderr, "usage: sendmail [-tv] [-i|-oi] [-f sender] [-F name] "
	    "[-N dsn] [-R full|hdrs]\n"
	    "                [-V envid] [-c config] [recipient ...]\n"
	    "       sendmail -bp | -bi | -bs | -bv address ...\n"
	    "       sendmail [-v] -q | -qRdomain | -qSdomain | -qIqueueid\n");
	return EX_USAGE_;
}

/* Send out as req=data frames of at most CHUNK bytes. */
static void
flush_chunk(struct sm *s)
{
	for (size_t off = 0; off < s->out.len && !s->failed; off += CHUNK) {
		size_t n = s->out.len - off < CHUNK ? s->out.len - off : CHUNK;

		if (cleanup_data_encode(&s->frame, s->out.data + off,
		    n) == -1) {
			s->failed = 1;
			s->send_errno = EMSGSIZE;
		} else if (ipc_send(s->fd, &s->frame, DATA_TIMEOUT_MS) == -1) {
			s->failed = 1;
			s->send_errno = errno;
		} else
			s->sent += n;
	}
	buf_reset(&s->out);
}

static void
emit(struct sm *s, char c)
{
	if (buf_putc(&s->out, c) == -1) {	/* cannot: see preread() */
		s->failed = 1;
		s->send_errno = EMSGSIZE;
		return;
	}
	if (s->out.len >= CHUNK && s->fd != -1)	/* not while preread() */
		flush_chunk(s);
}

/* Stage 2: the Sendmail "." terminator (unless -i). No unstuffing. */
static void
dot_stage(struct sm *s, char c)
{
	if (s->done)
		return;
	switch (s->state) {
	case S_BOL:
		if (c == '.' && s->dot_ends) {
			s->state = S_DOT;
			return;
		}
		break;
	case S_DOT:
		if (c == '\n') {
			s->done = 1;
			return;
		}
		emit(s, '.');
		break;
	default:
		break;
	}
	emit(s, c);
	s->state = c == '\n' ? S_BOL : S_MID;
}

/* Stage 1: CRLF -> LF. */
static void
crlf_stage(struct sm *s, char c)
{
	if (s->pending_cr) {
		s->pending_cr = 0;
		if (c == '\n') {
			dot_stage(s, '\n');
			return;
		}
		dot_stage(s, '\r');
	}
	if (c == '\r')
		s->pending_cr = 1;
	else
		dot_stage(s, c);
}

/* -v: cleanup said yes (to "open" or "end"). */
static void
say_ok(const struct proto_reply *r, const char *when)
{
	const char *id = r->queue_id;

	fprintf(stderr, "sendmail: <<< ok%s%s\n", id ? " queue_id=" : "",
	    id ? id : "");
	if (strcmp(when, "end") != 0)
		return;
	if (id != NULL)
		fprintf(stderr, "sendmail: Sent (Ok: queued as %s)\n", id);
	else	/* postdrop: no queue ID until pickup takes it */
		fprintf(stderr, "sendmail: Sent (Ok: kept in the maildrop "
		    "spool until postern starts)\n");
}

/* cleanup's answer: EX_OK_, or its error printed and the exit status by
 * its class. With -v, what it said, and the queue ID at the end. */
static int
answer(const struct sm *s, const struct ipc_msg *m, const char *when)
{
	struct proto_reply r;
	char why[128];
	int rc;

	if (proto_reply_decode(m, &r, why, sizeof(why)) == -1) {
		fprintf(stderr, "sendmail: %s: bad answer: %s\n", when, why);
		return EX_TEMPFAIL_;
	}
	if (r.ok) {
		rc = EX_OK_;
		if (s->verbose)
			say_ok(&r, when);
	} else if (r.code > 0) {
		fprintf(stderr, "sendmail: %d %s\n", r.code,
		    r.text ? r.text : "");
		rc = r.code >= 500 && r.code < 600 ? EX_DATAERR_ :
		    EX_TEMPFAIL_;
		/* 5.7.x: we may not submit (authorized_submit_users) */
		if (rc == EX_DATAERR_ && r.text != NULL &&
		    strncmp(r.text, "5.7.", 4) == 0)
			rc = EX_NOPERM_;
	} else {
		fprintf(stderr, "sendmail: %s: %s\n", when,
		    r.text ? r.text : "unknown error");
		rc = EX_TEMPFAIL_;
	}
	proto_reply_free(&r);
	return rc;
}

/* -v: the open request as sent. */
static void
say_open(const struct cleanup_open *o)
{
	fprintf(stderr, "sendmail: >>> open sender=");
	if (o->sender != NULL)
		fprintf(stderr, "<%s>", o->sender);
	else
		fprintf(stderr, "(your login)");
	for (size_t i = 0; i < o->nrcpt; i++)
		fprintf(stderr, " rcpt=<%s>", o->rcpt[i]);
	if (o->extract)
		fprintf(stderr, " (and the recipients of the headers: -t)");
	fputc('\n', stderr);
}

/* Add the comma-separated addresses of one argv word to the request. */
static int
add_rcpts(struct cleanup_open *o, const char *arg)
{
	const char *p = arg;

	while (*p) {
		const char *e;
		size_t len;

		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		e = strchr(p, ',');
		len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > QF_MAX_ADDR) {
			fprintf(stderr, "sendmail: recipient address too long\n");
			return -1;
		}
		if (o->nrcpt >= DELIVER_MAX_RCPT) {
			fprintf(stderr, "sendmail: too many recipients\n");
			return -1;
		}
		o->rcpt = xreallocarray(o->rcpt, o->nrcpt + 1, sizeof(char *));
		o->rcpt[o->nrcpt++] = xstrndup(p, len);
		p += len;
	}
	return 0;
}

/* The open request into s->frame; an exit status if it cannot be made. */
static int
open_frame(struct sm *s, const struct sm_opts *so, int nrcpt, char **rcpt)
{
	const char *sender = so->sender, *fullname = so->fullname;
	int extract = so->extract;
	struct cleanup_open o;
	int rc = EX_OK_;

	cleanup_open_init(&o);
	o.extract = extract;
	if (sender != NULL) {
		size_t sl = strlen(sender);

		/* -f '<addr>' and -f '<>' are accepted too */
		if (sl >= 2 && sender[0] == '<' && sender[sl - 1] == '>') {
			sender++;
			sl -= 2;
		}
		if (sl > QF_MAX_ADDR) {
			fprintf(stderr, "sendmail: sender address too long\n");
			return EX_USAGE_;
		}
		o.sender = xstrndup(sender, sl);
	}
	if (fullname != NULL && strlen(fullname) <= 128)	/* else: none */
		o.full_name = xstrdup(fullname);
	for (int i = 0; i < nrcpt && rc == EX_OK_; i++)
		if (add_rcpts(&o, rcpt[i]) == -1)
			rc = EX_USAGE_;
	if (rc == EX_OK_ && o.nrcpt == 0 && !extract) {
		fprintf(stderr, "sendmail: no recipients given\n");
		rc = EX_USAGE_;
	}
	o.ret = so->ret;	/* DSN: -R, -V, -N for every recipient */
	o.envid = so->envid ? xstrdup(so->envid) : NULL;
	if (so->notify && o.nrcpt) {
		o.notify = xcalloc(o.nrcpt, sizeof(int));
		for (size_t k = 0; k < o.nrcpt; k++)
			o.notify[k] = so->notify;
	}
	if (rc == EX_OK_ && cleanup_open_encode(&s->frame, &o) == -1) {
		fprintf(stderr, "sendmail: too many recipients\n");
		rc = EX_USAGE_;
	}
	if (rc == EX_OK_ && s->verbose)
		say_open(&o);
	cleanup_open_free(&o);
	return rc;
}

/* One read of stdin into rb: its length, 0 at EOF, -1 (said) on error. */
static ssize_t
read_in(char *rb)
{
	ssize_t got;

	while ((got = read(STDIN_FILENO, rb, CHUNK)) == -1 && errno == EINTR)
		;
	if (got == -1)
		fprintf(stderr, "sendmail: read error on standard input: %s\n",
		    strerror(errno));
	return got;
}

/*
 * Read stdin ahead through the stages into s->out, up to PREREAD_MAX,
 * before we connect: a slow producer (a cron job's output) then never
 * holds a cleanup process, which gives a local client only minutes per
 * frame; only a bigger message streams while it is read. 0, or -1 on a
 * read error.
 */
static int
preread(struct sm *s)
{
	char *rb = xmalloc(CHUNK);
	ssize_t got = 1;

	/* a byte in makes at most two out ("." of a held dot line) */
	while (!s->done && s->out.len + 2 * CHUNK <= PREREAD_MAX &&
	    (got = read_in(rb)) > 0)
		for (ssize_t i = 0; i < got && !s->done; i++)
			crlf_stage(s, rb[i]);
	free(rb);
	s->eof = got == 0;
	return got == -1 ? -1 : 0;
}

/* The rest of stdin (after preread()) through the CRLF and dot stages
 * into data frames; -1 on a read error. */
static int
copy_input(struct sm *s)
{
	char *rb = xmalloc(CHUNK);

	flush_chunk(s);
	while (!s->eof && !s->done && !s->failed) {
		ssize_t got = read_in(rb);

		if (got == -1) {
			free(rb);
			return -1;
		}
		if (got == 0)
			break;
		for (ssize_t i = 0; i < got && !s->done; i++)
			crlf_stage(s, rb[i]);
	}
	free(rb);
	if (!s->done) {			/* EOF */
		if (s->pending_cr)
			dot_stage(s, '\r');
		s->pending_cr = 0;
		/* a "." alone on the last, unterminated line ends input too */
	}
	flush_chunk(s);
	return 0;
}

/*
 * postern is down: run postdrop (setgid postdrop), which keeps the
 * message in maildrop/ for pickup and speaks cleanup's protocol on its
 * stdin. Our end of the socket, or -1 (said); its pid into *pid.
 */
static int
postdrop_start(const char *cf, pid_t *pid)
{
	const char *dir = getenv("POSTERN_LIBEXEC");
	char path[4096];
	int sv[2];

	if (dir == NULL || *dir == '\0')
		dir = LIBEXECDIR;
	if (snprintf(path, sizeof(path), "%s/postdrop", dir) >=
	    (int)sizeof(path) || socketpair(AF_UNIX, SOCK_STREAM |
	    SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((*pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (*pid == 0) {
		if (dup2(sv[1], STDIN_FILENO) != -1)
			execl(path, "postdrop", "-c", cf, (char *)NULL);
		fprintf(stderr, "sendmail: postern is not running and %s "
		    "cannot be run: %s\n", path, strerror(errno));
		_exit(EX_TEMPFAIL_);
	}
	close(sv[1]);
	return sv[0];
}

int
submit_connect(const char *path, const char *cf, pid_t *pid, int verbose)
{
	int fd;

	*pid = -1;
	if ((fd = ipc_connect(path)) == -1 && (errno == ENOENT ||
	    errno == ECONNREFUSED)) {
		if (verbose)
			fprintf(stderr, "sendmail: postern is not running: "
			    "handing the message to postdrop\n");
		fd = postdrop_start(cf, pid);
	}
	return fd;
}

void
submit_close(int fd, pid_t pid)
{
	if (fd != -1)
		close(fd);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
}

/* Connect, open, send the content, end; the exit status. */
static int
transfer(struct sm *s, const char *path, struct ipc_msg *m)
{
	int rc;

	if (preread(s) == -1)
		return EX_TEMPFAIL_;
	if ((s->fd = submit_connect(path, s->cf, &s->postdrop,
	    s->verbose)) == -1) {
		fprintf(stderr, "sendmail: cannot connect to postern (is it "
		    "running?): %s: %s\n", path, strerror(errno));
		return EX_TEMPFAIL_;
	}
	if (ipc_send(s->fd, &s->frame, OPEN_TIMEOUT_MS) == -1 ||
	    ipc_recv(s->fd, m, OPEN_TIMEOUT_MS) == -1) {
		fprintf(stderr, "sendmail: lost connection to postern: %s\n",
		    strerror(errno));
		return EX_TEMPFAIL_;
	}
	if ((rc = answer(s, m, "open")) != EX_OK_)
		return rc;
	if (copy_input(s) == -1) {
		if (proto_simple_encode(&s->frame, REQ_ABORT) == 0)
			(void)ipc_send(s->fd, &s->frame, 1000);
		return EX_TEMPFAIL_;
	}
	if (proto_simple_encode(&s->frame, REQ_END) == -1)
		return EX_TEMPFAIL_;
	if (!s->failed && ipc_send(s->fd, &s->frame, DATA_TIMEOUT_MS) == -1) {
		s->failed = 1;
		s->send_errno = errno;
	}
	/* Even when sending failed, cleanup may have said why. */
	if (ipc_recv(s->fd, m, DATA_TIMEOUT_MS) == -1) {
		fprintf(stderr, "sendmail: lost connection to postern: %s\n",
		    strerror(s->failed ? s->send_errno : errno));
		return EX_TEMPFAIL_;
	}
	if (s->verbose)
		fprintf(stderr, "sendmail: >>> end (%zu bytes of content)\n",
		    s->sent);
	return answer(s, m, "end");
}

static int
submit(const struct conf *c, const struct sm_opts *o, int nrcpt, char **rcpt)
{
	char path[4096];
	struct ipc_msg m;
	struct sm s;
	int rc, r;

	r = snprintf(path, sizeof(path), "%s/%s/cleanup", c->queue_dir,
	    QDIR_PUBLIC);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		fprintf(stderr, "sendmail: queue_dir path too long\n");
		return EX_TEMPFAIL_;
	}
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.cf = conf_path(o->cf);
	s.dot_ends = o->dot_ends;
	s.verbose = o->verbose;
	s.state = S_BOL;
	buf_init(&s.out, PREREAD_MAX + 16);
	buf_init(&s.frame, IPC_MAX_FRAME + 4);
	ipc_msg_init(&m);
	rc = open_frame(&s, o, nrcpt, rcpt);
	if (rc == EX_OK_)
		rc = transfer(&s, path, &m);
	submit_close(s.fd, s.postdrop);
	ipc_msg_free(&m);
	buf_free(&s.out);
	buf_free(&s.frame);
	return rc;
}

/* The argument of option letter at argv[*i] position p: attached, or the
 * next word. NULL if missing. */
static const char *
optarg_of(int argc, char **argv, int *i, const char *p)
{
	if (p[1] != '\0')
		return p + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/*
 * A Sendmail flag whose feature postern has not built is an error: a
 * script that asks for it learns at once.
 */
static int
not_built(int opt, const char *v)
{
	fprintf(stderr, "sendmail: -%c%s is not supported by postern\n", opt,
	    v ? v : "");
	return EX_USAGE_;
}

/* A DSN flag (RFC 3461) with a value it cannot take. */
static int
dsn_bad(int opt, const char *v, const char *what)
{
	fprintf(stderr, "sendmail: -%c %s: %s\n", opt, v, what);
	return EX_USAGE_;
}


/*
 * -q alone, or -qTIME (Sendmail's queue-run interval): flush once now;
 * qmgr retries by itself. -qRDOMAIN, -qSDOMAIN, -qIID: flush only the
 * deferred mail for one recipient domain, from one sender domain, or one
 * message (the value attached or the next word). 0, or -1 (said).
 */
static int
q_option(int argc, char **argv, int *i, const char *p, struct sm_opts *o)
{
	static const char by[] = "RSI";
	const char *rest = p + 1, *w, *v;

	o->mode = M_FLUSH;
	memset(&o->flush, 0, sizeof(o->flush));
	if (strspn(rest, "0123456789smhdw") == strlen(rest))
		return 0;
	if ((w = strchr(by, *rest)) == NULL) {
		(void)not_built('q', rest);
		return -1;
	}
	if ((v = optarg_of(argc, argv, i, rest)) == NULL || *v == '\0') {
		fprintf(stderr, "sendmail: -q%c needs a %s\n", *rest,
		    *rest == 'I' ? "queue ID" : "domain");
		return -1;
	}
	o->flush.by = FLUSH_RCPT_DOMAIN + (w - by);
	if (o->flush.by != FLUSH_ID && *v == '@')	/* -qR@example.org */
		v++;
	if (strlen(v) > FLUSH_MAX_VALUE || (o->flush.by == FLUSH_ID ?
	    !qid_valid(v) : !flush_domain_ok(v))) {
		fprintf(stderr, "sendmail: -q%c %s: not a %s\n", *rest, v,
		    o->flush.by == FLUSH_ID ? "queue ID (16 hex digits)" :
		    "domain name");
		return -1;
	}
	strlcpy(o->flush.value, v, sizeof(o->flush.value));
	return 0;
}

/* -N never | LIST of success, failure, delay (Postfix's words). The bits,
 * or -1 (said). */
static int
notify_parse(const char *v)
{
	static const char *const w[] = { "never", "success", "failure",
	    "delay" };
	int bits = 0;

	for (const char *p = v; *p != '\0';) {
		size_t n = strcspn(p, ","), k;

		for (k = 0; k < 4; k++)
			if (n == strlen(w[k]) && strncasecmp(p, w[k], n) == 0)
				break;
		if (k == 4) {
			fprintf(stderr, "sendmail: -N %s: give never, or a list "
			    "of success, failure, delay\n", v);
			return -1;
		}
		bits |= 1 << k;
		p += n + (p[n] == ',');
	}
	if (bits == 0 || ((bits & DSN_NEVER) && bits != DSN_NEVER)) {
		fprintf(stderr, "sendmail: -N %s: never goes alone\n", v);
		return -1;
	}
	return bits;
}

/* -o options that postern honours: -oe[mpqw] (errors after queueing
 * come back as bounces, a refusal before it is printed) and -od[biq]
 * (mail is always queued first). -oi is handled by the caller. */
static int
o_option_ok(const char *v)
{
	return (v[0] == 'e' && v[1] != '\0' && strchr("mpqw", v[1]) != NULL &&
	    v[2] == '\0') ||
	    (v[0] == 'd' && v[1] != '\0' && strchr("biq", v[1]) != NULL &&
	    v[2] == '\0');
}

/* -bX: the mode. 0, or the exit status (said). */
static int
b_option(const char *v, struct sm_opts *o)
{
	static const struct {
		const char	*word;
		enum mode	 mode;
	} b[] = { { "m", M_DELIVER }, { "p", M_LIST }, { "i", M_ALIASES },
	    { "s", M_SMTP }, { "v", M_VERIFY } };

	for (size_t k = 0; k < sizeof(b) / sizeof(b[0]); k++)
		if (strcmp(v, b[k].word) == 0) {
			o->mode = b[k].mode;
			return 0;
		}
	fprintf(stderr, "sendmail: -b%s is not supported\n", v);
	return EX_USAGE_;
}

/* One flag that takes an argument, v. 0, or the exit status (said). */
static int
arg_option(int opt, const char *v, struct sm_opts *o)
{
	switch (opt) {
	case 'b':
		return b_option(v, o);
	case 'c':
	case 'C':
		o->cf = v;
		return 0;
	case 'f':
	case 'r':
		o->sender = v;
		return 0;
	case 'F':
		o->fullname = v;
		return 0;
	case 'o':
		if (strcmp(v, "i") == 0)
			o->dot_ends = 0;
		else if (!o_option_ok(v))
			return not_built('o', v);
		return 0;
	case 'B':	/* 8-bit content is carried as it is */
		return strcasecmp(v, "7BIT") == 0 ||
		    strcasecmp(v, "8BITMIME") == 0 ? 0 : not_built('B', v);
	case 'N':
		o->notify_arg = v;
		return (o->notify = notify_parse(v)) == -1 ? EX_USAGE_ : 0;
	case 'R':	/* what a bounce returns (RFC 3461 RET) */
		o->ret = strcasecmp(v, "full") == 0 ? DSN_RET_FULL :
		    strcasecmp(v, "hdrs") == 0 ? DSN_RET_HDRS : 0;
		return o->ret ? 0 : dsn_bad('R', v, "give full or hdrs");
	case 'V':	/* the envelope ID (RFC 3461 ENVID), as it is */
		o->envid = v;
		return dsn_text_ok(v, strlen(v), DSN_ENVID_MAX) ? 0 :
		    dsn_bad('V', v, "an envelope ID is 1 to 100 printable "
		    "ASCII characters");
	}
	return not_built(opt, v);
}

/* Letter *p of the word at argv[*i]: 1 if it ends the word, 0 if the
 * next letter follows, or minus the exit status (said). */
static int
one_flag(int argc, char **argv, int *i, const char *p, struct sm_opts *o)
{
	const char *v;
	int rc;

	switch (*p) {
	case 't':
		o->extract = 1;
		return 0;
	case 'i':
		o->dot_ends = 0;
		return 0;
	case 'm':	/* me too: always */
	case 'U':	/* initial submission: always */
		return 0;
	case 'v':
		o->verbose = 1;
		return 0;
	case 'I':
		o->mode = M_ALIASES;
		return 0;
	case 'q':
		return q_option(argc, argv, i, p, o) == -1 ? -EX_USAGE_ : 1;
	}
	if (strchr("nLOXhd", *p) != NULL)
		return -not_built(*p, NULL);
	if (strchr("bcfrFoBCNRV", *p) == NULL) {
		fprintf(stderr, "sendmail: unknown option -%c\n", *p);
		return -usage();
	}
	if ((v = optarg_of(argc, argv, i, p)) == NULL) {
		fprintf(stderr, "sendmail: option -%c needs an argument\n",
		    *p);
		return -usage();
	}
	return (rc = arg_option(*p, v, o)) != 0 ? -rc : 1;
}

/*
 * The flags, Sendmail's way (letters may be grouped, -ti; one that takes
 * an argument ends the group). The index of the first recipient, or
 * minus the exit status on a usage error.
 */
static int
parse_opts(int argc, char **argv, struct sm_opts *o)
{
	int i, r = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		for (const char *p = a + 1; *p != '\0' && r == 0; p++)
			r = one_flag(argc, argv, &i, p, o);
		if (r < 0)
			return r;
		r = 0;
	}
	return i;
}

/* -v, -N, -R, -V belong to a submission (-v to a flush too). */
static int
mode_flags_ok(const struct sm_opts *o)
{
	if (o->mode == M_DELIVER || (o->mode == M_FLUSH && o->notify == 0))
		return 1;
	if (o->verbose || o->notify != 0) {
		fprintf(stderr, "sendmail: -%c is only for a submission%s\n",
		    o->notify ? 'N' : 'v', o->notify ? "" : " or a -q flush");
		return 0;
	}
	return 1;
}

/* -q, -qR, -qS, -qI: through postern queue flush (-v: qmgr's answer). */
static int
flush_main(const struct sm_opts *o)
{
	static const char *const by[] = { "", "-r", "-s", "-i" };
	char *fl[5];
	int n = 0;

	fl[n++] = "flush";
	if (o->verbose)
		fl[n++] = "-v";
	if (o->flush.by != FLUSH_ALL) {
		fl[n++] = (char *)(uintptr_t)by[o->flush.by];
		fl[n++] = (char *)(uintptr_t)o->flush.value;
	}
	fl[n] = NULL;
	return queue_main(conf_path(o->cf), n, fl);
}

static int
other_mode(struct sm_opts *o, int argc, char **argv, int i)
{
	struct conf c;
	int rc;

	switch (o->mode) {
	case M_SMTP:
		if (i < argc)
			return usage();
		memset(&c, 0, sizeof(c));
		if (tools_conf_load(conf_path(o->cf), &c) == -1)
			rc = EX_TEMPFAIL_;
		else {
			signal(SIGPIPE, SIG_IGN);
			rc = sendmail_bs(&c, conf_path(o->cf));
		}
		conf_free(&c);
		return rc;
	case M_LIST:
		if (i < argc)
			return usage();
		return queue_main(conf_path(o->cf), 0, NULL) == 0 ? EX_OK_ : 1;
	case M_ALIASES:
		return aliases_main(conf_path(o->cf), 0, NULL);
	case M_VERIFY:
		if (o->extract) {
			fprintf(stderr, "sendmail: -bv -t is not supported "
			    "(give the addresses)\n");
			return EX_USAGE_;
		}
		return verify_main(conf_path(o->cf), argc - i, argv + i);
	case M_FLUSH:
		return flush_main(o);
	default:
		return -1;
	}
}

int
sendmail_main(int argc, char **argv)
{
	struct sm_opts o = { .mode = M_DELIVER, .dot_ends = 1 };
	int i, rc;
	struct conf c;

	/* fds 0-2 must be open, or the socket could become "stdin" */
	for (;;) {
		int fd = open("/dev/null", O_RDWR);

		if (fd == -1)
			break;
		if (fd > 2) {
			close(fd);
			break;
		}
	}
	if ((i = parse_opts(argc, argv, &o)) < 0)
		return -i;
	if (!mode_flags_ok(&o))
		return EX_USAGE_;
	if (o.mode != M_DELIVER)
		return other_mode(&o, argc, argv, i);
	if (i >= argc && !o.extract) {
		fprintf(stderr, "sendmail: no recipients given (use -t to "
		    "take them from the headers)\n");
		return usage();
	}

	memset(&c, 0, sizeof(c));
	if (tools_conf_load(conf_path(o.cf), &c) == -1) {
		conf_free(&c);
		return EX_TEMPFAIL_;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = submit(&c, &o, argc - i, argv + i);
	conf_free(&c);
	return rc;
}
