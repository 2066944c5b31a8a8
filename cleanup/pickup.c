/*
 * pickup: feeds the files postdrop left in queue_dir/maildrop (postern
 * was down) to cleanup, each as a local submission by the file's owner.
 * Any local user can put anything there: each file is checked (name,
 * type, owner against its recorded uid, size, format) and one that
 * fails is removed with a log line. A file is removed only after
 * cleanup said ok (at worst a duplicate, never a loss).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "maildrop.h"
#include "pickup.h"
#include "proto.h"
#include "qfile.h"

#define SCAN_INTERVAL_MS	(60 * 1000)
#define SCAN_MIN_GAP_MS		1000	/* pokes: one scan a second */
#define SCAN_MAX		1000	/* files per pass (more: resumed) */
#define TEMP_MAX_AGE		(24 * 3600) /* a killed postdrop's */
#define CLEANUP_TIMEOUT_MS	(60 * 1000)
#define BOUNCE_CONTENT_MAX	(64 * 1024)	/* of the message returned */

enum outcome { PK_QUEUED, PK_RETRY, PK_REFUSED, PK_ASIDE };

struct pick {
	const char	*name;
	int		 fd;		/* the maildrop file */
	int		 cfd;		/* to cleanup */
	struct ipc_msg	 m;
	struct buf	 frame;
	char		 why[300];
	char		 id[QID_LEN + 1];
	int		 by_cleanup;	/* refused by cleanup (5xx) */
};

static struct worker	*wk;
static int		 drop_fd = -1;
static int		 bad_fd = -1;		/* maildrop/bad */
static char		 scan_after[MAILDROP_NAME_LEN + 1]; /* the cursor */
static char		 cleanup_path[1024];

static enum outcome
refused(struct pick *p, const char *fmt, const char *arg)
{
	snprintf(p->why, sizeof(p->why), fmt, arg);
	return PK_REFUSED;
}

/* cleanup's answer: queued (id kept), retry later (4xx, no answer) or
 * refused for good (5xx). */
static enum outcome
cleanup_answer(struct pick *p)
{
	struct proto_reply r;
	enum outcome o;
	char err[128];

	if (ipc_recv(p->cfd, &p->m, CLEANUP_TIMEOUT_MS) == -1 ||
	    proto_reply_decode(&p->m, &r, err, sizeof(err)) == -1) {
		snprintf(p->why, sizeof(p->why), "no answer from cleanup");
		return PK_RETRY;
	}
	if (r.ok) {
		snprintf(p->id, sizeof(p->id), "%s", r.queue_id ?
		    r.queue_id : "");
		o = PK_QUEUED;
	} else {
		snprintf(p->why, sizeof(p->why), "cleanup said %d %s",
		    r.code, r.text ? r.text : "");
		o = r.code >= 500 ? PK_REFUSED : PK_RETRY;
		p->by_cleanup = o == PK_REFUSED;
	}
	proto_reply_free(&r);
	return o;
}

static int
send_frame(struct pick *p)
{
	return ipc_send(p->cfd, &p->frame, CLEANUP_TIMEOUT_MS);
}

/* The content frames of the file to cleanup, then end: the outcome. */
static enum outcome
feed_content(struct pick *p)
{
	const char *chunk;
	size_t len;
	char c;

	for (;;) {
		if (ipc_recv(p->fd, &p->m, 0) == -1)
			return refused(p, "%s", "truncated or malformed");
		switch (proto_req_type(&p->m)) {
		case REQ_DATA:
			if (cleanup_data_decode(&p->m, &chunk, &len) == -1 ||
			    cleanup_data_encode(&p->frame, chunk, len) == -1)
				return refused(p, "%s", "bad data frame");
			if (send_frame(p) == -1)
				return cleanup_answer(p);
			continue;
		case REQ_END:
			if (read(p->fd, &c, 1) != 0)
				return refused(p, "%s", "data after the end");
			if (proto_simple_encode(&p->frame, REQ_END) == -1 ||
			    send_frame(p) == -1)
				return PK_RETRY;
			return cleanup_answer(p);
		default:
			return refused(p, "%s", "unexpected frame");
		}
	}
}

/* The open request as public/cleanup would take it, with the owner's
 * uid; then the content. */
static enum outcome
feed(struct pick *p, const struct cleanup_open *in, uid_t owner)
{
	enum outcome r;

	if (maildrop_open_encode(&p->frame, in, owner) == -1)
		return refused(p, "%s", "open request too large");
	if ((p->cfd = ipc_connect(cleanup_path)) == -1) {
		snprintf(p->why, sizeof(p->why), "cannot reach cleanup: %s",
		    strerror(errno));
		return PK_RETRY;
	}
	if (send_frame(p) == -1)
		return cleanup_answer(p);
	if ((r = cleanup_answer(p)) != PK_QUEUED)
		return r;
	if ((r = feed_content(p)) == PK_REFUSED &&
	    proto_simple_encode(&p->frame, REQ_ABORT) == 0)
		(void)send_frame(p);
	return r;
}

/* The bounce's header and preamble: why, and for whom it was. */
static void
bounce_head(struct pick *p, const struct cleanup_open *in, const char *to,
    struct buf *b)
{
	char date[64];

	date_rfc5322(date, sizeof(date), time(NULL));
	buf_printf(b, "From: MAILER-DAEMON@%s (Mail Delivery System)\n"
	    "To: <%s>\nSubject: Undelivered Mail Returned to Sender\n"
	    "Date: %s\nMessage-ID: <%s.maildrop@%s>\n"
	    "Auto-Submitted: auto-replied\n\n"
	    "This message was kept while the mail system was down and was "
	    "refused\nwhen it was picked up (maildrop/%s):\n\n    %s\n\n"
	    "Its recipients:\n", wk->conf.hostname, to, date, p->name,
	    wk->conf.hostname, p->name, p->why);
	for (size_t i = 0; i < in->nrcpt && i < 20; i++)
		buf_printf(b, "    <%s>\n", in->rcpt[i]);
	if (in->nrcpt == 0 && in->extract)
		buf_puts(b, "    (to be taken from the headers: none found)\n");
	buf_puts(b, "\n----- The message (its first 64 KiB at most) -----\n\n");
}

/* The bounce's content: the preamble, then the file's content again
 * (checked already), cut at BOUNCE_CONTENT_MAX. -1 if it fails. */
static int
bounce_content(struct pick *p, struct buf *head)
{
	const char *chunk;
	size_t len, sent = 0;

	if (cleanup_data_encode(&p->frame, head->data, head->len) == -1 ||
	    send_frame(p) == -1 || lseek(p->fd, strlen(MAILDROP_MAGIC),
	    SEEK_SET) == -1 || ipc_recv(p->fd, &p->m, 0) == -1)
		return -1;
	while (sent < BOUNCE_CONTENT_MAX && ipc_recv(p->fd, &p->m, 0) == 0 &&
	    proto_req_type(&p->m) == REQ_DATA &&
	    cleanup_data_decode(&p->m, &chunk, &len) == 0) {
		if (len > BOUNCE_CONTENT_MAX - sent)
			len = BOUNCE_CONTENT_MAX - sent;
		if (cleanup_data_encode(&p->frame, chunk, len) == -1 ||
		    send_frame(p) == -1)
			return -1;
		sent += len;
	}
	return proto_simple_encode(&p->frame, REQ_END) == -1 ||
	    send_frame(p) == -1 ? -1 : 0;
}

/*
 * cleanup refused a well-formed file for good (5xx: -t without
 * recipients, a sender no longer authorized): the file's owner gets it
 * back (never the sender it names: not a way to mail others)
 * from MAILER-DAEMON with the reason, so mail kept while postern was
 * down is never lost silently. PK_QUEUED when the bounce is queued or
 * cannot be (null sender, refused too: logged), PK_RETRY to try later.
 */
static enum outcome
bounce(struct pick *p, const struct cleanup_open *in, uid_t owner)
{
	struct cleanup_open o;
	struct passwd *pw = getpwuid(owner);
	char *to, *why = xstrdup(p->why), addr[QF_MAX_ADDR + 1];
	enum outcome r = PK_RETRY;
	struct buf head;

	/* Always to the file's owner, never to the sender it names: a
	 * refused drop must not become MAILER-DAEMON mail to anyone. */
	to = pw ? pw->pw_name : "postmaster";
	if (*to != '\0' && strchr(to, '@') == NULL &&
	    snprintf(addr, sizeof(addr), "%s@%s", to, wk->conf.hostname) <
	    (int)sizeof(addr))
		to = addr;
	cleanup_open_init(&o);	/* from the system: no user's uid trace */
	o.sender = "";
	o.rcpt = &to;
	o.nrcpt = 1;
	o.received = 0;
	buf_init(&head, 16 * 1024);
	if (p->cfd != -1)
		close(p->cfd);
	p->cfd = -1;
	if (*to != '\0' && cleanup_open_encode(&p->frame, &o) == 0 &&
	    (p->cfd = ipc_connect(cleanup_path)) != -1 &&
	    send_frame(p) == 0 && (r = cleanup_answer(p)) == PK_QUEUED) {
		snprintf(p->why, sizeof(p->why), "%s", why);
		bounce_head(p, in, to, &head);
		r = bounce_content(p, &head) == 0 ? cleanup_answer(p) :
		    PK_RETRY;
	}
	if (*to == '\0' || r == PK_REFUSED)
		log_warn("maildrop/%s: cannot return it to <%s>: %s", p->name,
		    to, *to == '\0' ? "null sender" : p->why);
	else if (r == PK_QUEUED)
		log_info("%s: sender non-delivery notification for "
		    "maildrop/%s", p->id, p->name);
	snprintf(p->why, sizeof(p->why), "%s", why);
	free(why);
	buf_free(&head);
	return r == PK_RETRY ? PK_RETRY : PK_QUEUED;
}

/* Check the file and its open request; feed it. */
static enum outcome
check_and_feed(struct pick *p, const struct stat *st)
{
	char magic[sizeof(MAILDROP_MAGIC)];
	size_t ml = strlen(MAILDROP_MAGIC);
	struct cleanup_open o;
	enum outcome r;
	char err[128], uid[64];

	/* No size check here: a file postdrop kept under a larger
	 * max_message_size is cleanup's to refuse (552, returned to its
	 * owner), never removed unsaid; the frames are bounded. */
	if (!S_ISREG(st->st_mode) || st->st_nlink != 1)
		return refused(p, "%s", "not a plain file");
	memset(magic, 0, sizeof(magic));
	if (read(p->fd, magic, ml) != (ssize_t)ml ||
	    memcmp(magic, MAILDROP_MAGIC, ml) != 0) {
		if (strncmp(magic, MAILDROP_MAGIC_ANY,
		    strlen(MAILDROP_MAGIC_ANY)) == 0) {
			snprintf(p->why, sizeof(p->why), "unknown version");
			return PK_ASIDE;	/* a newer postdrop's: set aside */
		}
		return refused(p, "%s", "not a maildrop file");
	}
	if (ipc_recv(p->fd, &p->m, 0) == -1 ||
	    cleanup_open_decode(&p->m, &o, err, sizeof(err)) == -1)
		return refused(p, "bad open request: %s", err);
	if (o.uid != (long long)st->st_uid) {
		snprintf(uid, sizeof(uid), "%lld", o.uid);
		r = refused(p, "recorded uid %s is not the owner's", uid);
	} else if ((r = feed(p, &o, st->st_uid)) == PK_REFUSED &&
	    p->by_cleanup && bounce(p, &o, st->st_uid) == PK_RETRY)
		r = PK_RETRY;	/* removed only once the sender is told */
	cleanup_open_free(&o);
	return r;
}

/*
 * A file of a format version we do not know (a newer postdrop's, left
 * by a downgrade) is moved to maildrop/bad once, said once; it is not
 * read again every pass. Moving it back after an upgrade feeds it.
 */
static void
set_aside(const char *name, uid_t owner)
{
	if (bad_fd != -1 && renameat2(drop_fd, name, bad_fd, name,
	    RENAME_NOREPLACE) == 0)
		log_warn("maildrop/%s (owner uid %ld): unknown format version; "
		    "moved to maildrop/%s/", name, (long)owner, MAILDROP_BAD);
	else
		log_error("maildrop/%s (owner uid %ld): unknown format version;"
		    " cannot move it to maildrop/%s/: %s", name, (long)owner,
		    MAILDROP_BAD, bad_fd == -1 ? "no such directory" :
		    strerror(errno));
}

/* One maildrop file, start to end: fed and removed, refused and
 * removed, set aside, or kept for the next scan. */
static void
pickup_file(const char *name)
{
	struct pick p = { .name = name, .fd = -1, .cfd = -1 };
	struct stat st = { .st_uid = (uid_t)-1 };
	enum outcome r;

	p.fd = openat(drop_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (p.fd == -1 && errno == ENOENT)
		return;
	ipc_msg_init(&p.m);
	buf_init(&p.frame, IPC_MAX_FRAME + 4);
	if (p.fd == -1 || fstat(p.fd, &st) == -1)
		r = refused(&p, "cannot open: %s", strerror(errno));
	else
		r = check_and_feed(&p, &st);
	if (r == PK_ASIDE)
		set_aside(name, st.st_uid);
	else if (r == PK_QUEUED)
		log_info("%s: uid=%lu from maildrop/%s", p.id,
		    (unsigned long)st.st_uid, name);
	else if (r == PK_RETRY)
		log_warn("maildrop/%s: kept for later: %s", name, p.why);
	else
		log_warn("maildrop/%s: refused (owner uid %ld, %lld octets): "
		    "%s; removed", name, (long)(int)st.st_uid,
		    (long long)st.st_size, p.why);
	if ((r == PK_QUEUED || r == PK_REFUSED) &&
	    unlinkat(drop_fd, name, 0) == -1 && errno != ENOENT)
		log_error("maildrop/%s: cannot remove: %s", name,
		    strerror(errno));
	if (p.cfd != -1)
		close(p.cfd);
	if (p.fd != -1)
		close(p.fd);
	ipc_msg_free(&p.m);
	buf_free(&p.frame);
}

/* What is not a maildrop file (or is a temp file a killed postdrop left
 * a day ago) is removed, said in the log. */
static void
sweep_entry(const char *name, enum maildrop_kind k)
{
	struct stat st;

	if (fstatat(drop_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return;
	if (k == MD_TEMP && time(NULL) - st.st_mtime < TEMP_MAX_AGE)
		return;
	if (unlinkat(drop_fd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0)
	    == -1)
		log_warn("maildrop/%s: %s, cannot remove: %s", name,
		    k == MD_TEMP ? "stale" : "not a maildrop file",
		    strerror(errno));
	else
		log_warn("maildrop/%s (owner uid %ld): %s; removed", name,
		    (long)st.st_uid, k == MD_TEMP ? "stale temp file" :
		    "not a maildrop file");
}

/*
 * One pass: at most SCAN_MAX files, the oldest after the cursor, so
 * that files kept for later never hide the others; what is not a
 * maildrop file is swept. 1 when files were left for another pass.
 */
static int
scan(void)
{
	struct maildrop_batch b;
	int dfd = dup(drop_fd);
	struct dirent *de;
	DIR *d;

	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		log_error("maildrop: %s", strerror(errno));
		if (dfd != -1)
			close(dfd);
		return 0;
	}
	maildrop_batch_init(&b, SCAN_MAX, scan_after);
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		enum maildrop_kind k = maildrop_kind(de->d_name);

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (strcmp(de->d_name, MAILDROP_BAD) == 0 && bad_fd != -1))
			continue;
		if (k == MD_FILE)
			maildrop_batch_add(&b, de->d_name);
		else
			sweep_entry(de->d_name, k);
	}
	closedir(d);
	maildrop_batch_done(&b);
	for (size_t i = 0; i < b.n && !worker_stop; i++)
		pickup_file(b.names[i]);
	snprintf(scan_after, sizeof(scan_after), "%s", b.more && b.n > 0 ?
	    b.names[b.n - 1] : "");
	maildrop_batch_free(&b);
	return b.more;
}

/* maildrop/bad, made if missing (ours: 0700), never through a link. */
static int
open_bad(void)
{
	struct stat st;
	int fd;

	if (mkdirat(drop_fd, MAILDROP_BAD, 0700) == -1 && errno != EEXIST)
		log_error("maildrop/%s: %s", MAILDROP_BAD, strerror(errno));
	fd = openat(drop_fd, MAILDROP_BAD, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1 && (fstat(fd, &st) == -1 || st.st_uid != geteuid())) {
		log_error("maildrop/%s: not pickup's directory", MAILDROP_BAD);
		close(fd);
		fd = -1;
	}
	return fd;
}

int
pickup_main(struct worker *w)
{
	long long last = 0;
	int poked = 1, fd, which;
	char path[1024];

	wk = w;
	log_rename(PICKUP_SERVICE);
	queue_path(w->conf.queue_dir, QDIR_MAILDROP, path, sizeof(path));
	drop_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (drop_fd == -1)
		fatal("open %s: %s", path, strerror(errno));
	queue_path(w->conf.queue_dir, QDIR_PRIVATE "/cleanup", cleanup_path,
	    sizeof(cleanup_path));
	bad_fd = open_bad();
	worker_confine(w);
	while (!worker_stop) {
		long long now = clock_ms();

		if ((poked && now - last >= SCAN_MIN_GAP_MS) ||
		    now - last >= SCAN_INTERVAL_MS) {
			poked = scan();	/* files left: again soon */
			last = clock_ms();
		}
		if ((fd = worker_accept(w, 1000, &which)) != -1) {
			close(fd);	/* a poke from postdrop */
			poked = 1;
		}
	}
	if (bad_fd != -1)
		close(bad_fd);
	close(drop_fd);
	return 0;
}
