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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "proto.h"
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
};
enum { S_BOL, S_MID, S_DOT };

static int
usage(void)
{
	fprintf(stderr, "usage: sendmail [-t] [-i|-oi] [-f sender] [-F name] "
	    "[-c config] [recipient ...]\n"
	    "       sendmail -bp | -bi | -q | -bv address ...\n");
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
		}
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

/* cleanup's answer: EX_OK_, or its error printed and the exit status by
 * its class. */
static int
answer(const struct ipc_msg *m, const char *when)
{
	struct proto_reply r;
	char why[128];
	int rc;

	if (proto_reply_decode(m, &r, why, sizeof(why)) == -1) {
		fprintf(stderr, "sendmail: %s: bad answer: %s\n", when, why);
		return EX_TEMPFAIL_;
	}
	if (r.ok)
		rc = EX_OK_;
	else if (r.code > 0) {
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
open_frame(struct sm *s, const char *sender, const char *fullname,
    int extract, int nrcpt, char **rcpt)
{
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
	if (rc == EX_OK_ && cleanup_open_encode(&s->frame, &o) == -1) {
		fprintf(stderr, "sendmail: too many recipients\n");
		rc = EX_USAGE_;
	}
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
 * stdin. Our end of the socket, or -1 (said).
 */
static int
postdrop_start(struct sm *s)
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
	if ((s->postdrop = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (s->postdrop == 0) {
		if (dup2(sv[1], STDIN_FILENO) != -1)
			execl(path, "postdrop", "-c", s->cf, (char *)NULL);
		fprintf(stderr, "sendmail: postern is not running and %s "
		    "cannot be run: %s\n", path, strerror(errno));
		_exit(EX_TEMPFAIL_);
	}
	close(sv[1]);
	return sv[0];
}

/* Connect, open, send the content, end; the exit status. */
static int
transfer(struct sm *s, const char *path, struct ipc_msg *m)
{
	int rc;

	if (preread(s) == -1)
		return EX_TEMPFAIL_;
	if ((s->fd = ipc_connect(path)) == -1 && (errno == ENOENT ||
	    errno == ECONNREFUSED))
		s->fd = postdrop_start(s);
	if (s->fd == -1) {
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
	if ((rc = answer(m, "open")) != EX_OK_)
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
	return answer(m, "end");
}

static int
submit(const struct conf *c, const char *cf, const char *sender,
    const char *fullname, int extract, int dot_ends, int nrcpt, char **rcpt)
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
	s.cf = cf;
	s.dot_ends = dot_ends;
	s.state = S_BOL;
	buf_init(&s.out, PREREAD_MAX + 16);
	buf_init(&s.frame, IPC_MAX_FRAME + 4);
	ipc_msg_init(&m);
	rc = open_frame(&s, sender, fullname, extract, nrcpt, rcpt);
	if (rc == EX_OK_)
		rc = transfer(&s, path, &m);
	if (s.fd != -1)
		close(s.fd);
	if (s.postdrop > 0)
		while (waitpid(s.postdrop, NULL, 0) == -1 && errno == EINTR)
			;
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
 * A Sendmail flag whose feature postern has not built is an error, never
 * accepted and ignored: a script that asks for it learns at once.
 */
static int
not_built(int opt, const char *v)
{
	fprintf(stderr, "sendmail: -%c%s is not supported by postern\n", opt,
	    v ? v : "");
	return EX_USAGE_;
}

/* -q alone, or -qTIME (Sendmail's queue-run interval): flush once now;
 * qmgr retries by itself. -qR/-qS/-qI (one domain, sender or id): not
 * built. */
static int
flush_ok(const char *rest)
{
	if (*rest == '\0' || strspn(rest, "0123456789smhdw") == strlen(rest))
		return 1;
	(void)not_built('q', rest);
	return 0;
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

struct sm_opts {
	const char	*cf, *sender, *fullname;
	enum mode	 mode;
	int		 extract, dot_ends;
};

/*
 * The flags, Sendmail's way (letters may be grouped, -ti; one that takes
 * an argument ends the group). The index of the first recipient, or
 * minus the exit status on a usage error.
 */
static int
parse_opts(int argc, char **argv, struct sm_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *p, *v;

		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		/* letters may be grouped (-ti); one with an argument ends
		 * the group */
		for (p = a + 1; *p != '\0'; p++) {
			switch (*p) {
			case 't':
				o->extract = 1;
				continue;
			case 'i':
				o->dot_ends = 0;
				continue;
			case 'm':	/* me too: always */
			case 'U':	/* initial submission: always */
				continue;
			case 'I':
				o->mode = M_ALIASES;
				continue;
			}
			if (*p == 'q') {
				if (!flush_ok(p + 1))
					return -EX_USAGE_;
				o->mode = M_FLUSH;
				break;
			}
			if (strchr("vnNRVLOXhd", *p) != NULL)
				return -not_built(*p, NULL);
			if (strchr("bcfrFoBC", *p) == NULL) {
				fprintf(stderr, "sendmail: unknown option -%c\n",
				    *p);
				return -usage();
			}
			if ((v = optarg_of(argc, argv, &i, p)) == NULL) {
				fprintf(stderr, "sendmail: option -%c needs an "
				    "argument\n", *p);
				return -usage();
			}
			switch (*p) {
			case 'b':
				if (strcmp(v, "m") == 0)
					o->mode = M_DELIVER;
				else if (strcmp(v, "p") == 0)
					o->mode = M_LIST;
				else if (strcmp(v, "i") == 0)
					o->mode = M_ALIASES;
				else if (strcmp(v, "s") == 0)
					o->mode = M_SMTP;
				else if (strcmp(v, "v") == 0)
					o->mode = M_VERIFY;
				else {
					fprintf(stderr, "sendmail: -b%s is not "
					    "supported\n", v);
					return -EX_USAGE_;
				}
				break;
			case 'c':
			case 'C':
				o->cf = v;
				break;
			case 'f':
			case 'r':
				o->sender = v;
				break;
			case 'F':
				o->fullname = v;
				break;
			case 'o':
				if (strcmp(v, "i") == 0)
					o->dot_ends = 0;
				else if (!o_option_ok(v))
					return -not_built('o', v);
				break;
			case 'B':
				if (strcasecmp(v, "7BIT") != 0 &&
				    strcasecmp(v, "8BITMIME") != 0)
					return -not_built('B', v);
				break;	/* 8-bit content is carried as it is */
			}
			break;
		}
	}
	return i;
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
	if (o.mode == M_SMTP) {
		if (i < argc)
			return usage();
		memset(&c, 0, sizeof(c));
		if (tools_conf_load(conf_path(o.cf), &c) == -1)
			rc = EX_TEMPFAIL_;
		else {
			signal(SIGPIPE, SIG_IGN);
			rc = sendmail_bs(&c);
		}
		conf_free(&c);
		return rc;
	}
	if (o.mode == M_LIST) {
		if (i < argc)
			return usage();
		return queue_main(conf_path(o.cf), 0, NULL) == 0 ? EX_OK_ : 1;
	}
	if (o.mode == M_ALIASES)
		return aliases_main(conf_path(o.cf), 0, NULL);
	if (o.mode == M_VERIFY) {
		if (o.extract) {
			fprintf(stderr, "sendmail: -bv -t is not supported "
			    "(give the addresses)\n");
			return EX_USAGE_;
		}
		return verify_main(conf_path(o.cf), argc - i, argv + i);
	}
	if (o.mode == M_FLUSH) {
		char *fl[] = { "flush", NULL };

		return queue_main(conf_path(o.cf), 1, fl);
	}
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
	rc = submit(&c, conf_path(o.cf), o.sender, o.fullname, o.extract,
	    o.dot_ends, argc - i, argv + i);
	conf_free(&c);
	return rc;
}
