/*
 * local: the local delivery agent. qmgr hands it recipients of one queue
 * file (docs/internals.md "delivery agents"); it expands aliases, forwards
 * remote targets through cleanup, and appends to mboxes with the
 * recipient's effective ids (mailbox.c). It keeps root (when started as
 * root) only to switch ids and fork children for commands, files and
 * .forward: it must never write a mailbox, run a
 * command or open a user's file with root privileges (the one exception:
 * creating a missing mailbox, O_EXCL, in a root-owned spool directory),
 * and never modify the queue file (qmgr alone records statuses).
 *
 * This file: the conf/agent hooks, a job's phases (expand, deliver,
 * report) and the loop checks; alias.c expands, mailbox.c delivers,
 * forward.c re-injects, lmtp.c hands users to an LMTP mail store.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "route.h"

struct worker	 wk;
struct map	 aliases;
static struct router router;
int		 as_root;

/* SMTP-like code for an enhanced status text. */
static int
code_for(enum dstat kind, const char *text)
{
	if (kind == DS_SENT)
		return 250;
	if (kind == DS_DEFER)
		return strncmp(text, "4.3.1", 5) == 0 ? 452 :
		    strncmp(text, "4.2.", 4) == 0 ? 450 : 451;
	return strncmp(text, "5.1.", 4) == 0 ? 550 :
	    strncmp(text, "5.2.2", 5) == 0 ? 552 : 554;
}

/* A status "X.Y.Z text" with the code its kind and text imply. */
void
setres(struct dstatus *r, enum dstat kind, const char *fmt, ...)
{
	char	 text[DSTATUS_TEXT];
	va_list	 ap;

	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	dstatus_set(r, kind, code_for(kind, text), "%s", text);
}

int
is_local_domain(const char *d)
{
	return route_domain(&router, d) == ROUTE_LOCAL;
}

int
local_virtual(const char *addr, char *out, size_t outlen,
    struct route_error *e)
{
	return route_virtual(&router, addr, out, outlen, e, NULL, 0);
}

/* --- loop detection ------------------------------------------------- */

/* Read the header section (bounded) once per job. */
static void
read_headers(struct job *j)
{
	char	 chunk[8192];
	size_t	 max = j->q->content_len < MAX_HEADER ? j->q->content_len :
		    MAX_HEADER;
	size_t	 done = 0;

	buf_init(&j->hdr, MAX_HEADER + 1);
	while (done < max) {
		size_t want = max - done < sizeof(chunk) ? max - done :
		    sizeof(chunk);
		ssize_t n = agent_read(j->a, done, chunk, want);

		if (n <= 0 || buf_append(&j->hdr, chunk, (size_t)n) == -1)
			break;
		done += (size_t)n;
		if (j->hdr.len > 0 && j->hdr.data[0] == '\n')
			break;
		if (memmem(j->hdr.data, j->hdr.len, "\n\n", 2) != NULL)
			break;
	}
}

/* One header field's value, unfolded and trimmed, "<>" removed: its
 * length in out (0 when it does not fit). */
static size_t
unfold_value(const char *v, const char *end, char *out, size_t outlen)
{
	size_t	 n = 0;

	for (; v < end; v++) {
		if (*v == '\n' || *v == '\r')
			continue;
		if (n == 0 && (*v == ' ' || *v == '\t'))
			continue;
		if (n + 1 >= outlen)
			return 0;
		out[n++] = *v;
	}
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		n--;
	if (n >= 2 && out[0] == '<' && out[n - 1] == '>') {
		memmove(out, out + 1, n - 2);
		n -= 2;
	}
	out[n] = '\0';
	return n;
}

/* Does the header section have "Delivered-To: addr" (any case, folded
 * or not)? The body is never looked at. */
int
delivered_to(const struct job *j, const char *addr)
{
	const char	*p = j->hdr.data, *end, *nl;
	char		 v[1024];
	size_t		 alen = strlen(addr), vlen;

	if (p == NULL)
		return 0;
	end = p + j->hdr.len;
	while (p < end && *p != '\n') {
		/* the field ends before a line that is not folded */
		nl = p;
		do {
			nl = memchr(nl, '\n', (size_t)(end - nl));
			nl = nl ? nl + 1 : end;
		} while (nl < end && (*nl == ' ' || *nl == '\t'));
		if ((size_t)(nl - p) > 13 &&
		    strncasecmp(p, "Delivered-To:", 13) == 0) {
			vlen = unfold_value(p + 13, nl, v, sizeof(v));
			if (vlen == alen && strncasecmp(v, addr, alen) == 0)
				return 1;
		}
		p = nl;
	}
	return 0;
}

/* --- one recipient -------------------------------------------------- */

static double
delay_s(const struct job *j)
{
	uint64_t	 now = clock_us();

	return now > j->q->arrival_us ? (double)(now - j->q->arrival_us) / 1e6 :
	    0.0;
}

static void
log_result(const struct job *j, const char *to, const char *orig,
    const struct dstatus *r)
{
	const char *text = r->text;

	/* Success texts read as Postfix's: "(delivered to mailbox)". */
	if (r->stat == DS_SENT && strncmp(text, "2.0.0 ", 6) == 0)
		text += 6;
	log_info("%s: to=<%s>%s%s%s, relay=local, delay=%.2f, status=%s (%s)",
	    j->id, to, orig ? ", orig_to=<" : "", orig ? orig : "",
	    orig ? ">" : "", delay_s(j), dstat_word(r->stat), text);
}

/* Merge one outcome: any temp failure defers the recipient, else the
 * first permanent one bounces it. */
static void
merge(struct dstatus *total, int *seen, const struct dstatus *r)
{
	if (!*seen || (r->stat == DS_DEFER && total->stat != DS_DEFER) ||
	    (r->stat == DS_BOUNCE && total->stat == DS_SENT))
		*total = *r;
	*seen = 1;
}

/* --- the phases of a job ---------------------------------------------- */

#define NO_BATCH	((size_t)-1)

/* One original recipient of the job, through the three phases. */
struct rcpt {
	size_t		 i;		/* index into the job's a->rcpt */
	const char	*addr;
	struct expansion x;
	size_t		*bidx;		/* per target: its place in the
					   store batch, or NO_BATCH */
	size_t		 nwait;		/* targets waiting for the batch */
	struct dstatus	 res;
	int		 seen;		/* res holds an outcome */
	int		 done;		/* res is final before delivery */
	int		 aliased;
	size_t		 ok;		/* targets delivered */
};

/* The users of the whole job whose mailbox is the LMTP store: one
 * session for all (one RCPT per distinct user). */
struct batch {
	char		**user;
	struct dstatus	 *res;
	size_t		  n;
};

/* Phase 1: the recipient's address checked, then expanded. */
static void
expand_rcpt(struct job *j, struct rcpt *rc)
{
	char		 local[256], domain[256];
	const char	*addr = rc->addr, *at;
	size_t		 ll;
	struct route	 rt;

	/* transport_map's local:USER delivers to USER (queued recipients
	 * are not rewritten: the route is decided at delivery) */
	if (route_resolve(&router, addr, &rt, NULL, NULL) == 0 &&
	    rt.transport == transport_role(TROLE_LOCAL) &&
	    strcmp(rt.addr, rt.orig) != 0)
		addr = rt.addr;
	at = strrchr(addr, '@');
	ll = at ? (size_t)(at - addr) : strlen(addr);
	if (ll == 0 || ll >= sizeof(local) ||
	    strlcpy(domain, at ? at + 1 : (wk.conf.hostname ?
	    wk.conf.hostname : "localhost"), sizeof(domain)) >=
	    sizeof(domain)) {
		setres(&rc->res, DS_BOUNCE, "5.1.3 bad recipient address");
		goto early;
	}
	memcpy(local, addr, ll);
	local[ll] = '\0';
	lower(local);
	addr_domain_norm(domain);
	if (delivered_to(j, addr)) {
		setres(&rc->res, DS_BOUNCE, "5.4.6 mail forwarding loop for %s",
		    addr);
		goto early;
	}
	rc->x.qid = j->id;
	expand(&rc->x, local, domain, addr, 0);
	rc->aliased = !(rc->x.n == 1 && rc->x.t[0].kind == T_USER &&
	    strcmp(rc->x.t[0].dt, addr) == 0);
	if (rc->x.has_err && rc->x.err.stat == DS_DEFER) {
		/* Nothing delivered yet: retry the whole expansion later. */
		rc->res = rc->x.err;
		goto early;
	}
	rc->bidx = xcalloc(rc->x.n ? rc->x.n : 1, sizeof(*rc->bidx));
	for (size_t t = 0; t < rc->x.n; t++)
		rc->bidx[t] = NO_BATCH;
	return;
early:
	rc->done = rc->seen = 1;
	log_result(j, addr, NULL, &rc->res);
}

/* One target's outcome, logged and merged into its recipient's. */
static void
target_done(struct job *j, struct rcpt *rc, const struct target *t,
    const struct dstatus *r)
{
	log_result(j, t->kind == T_USER ? t->dt : rc->addr,
	    rc->aliased && t->kind == T_USER ? rc->addr : NULL, r);
	merge(&rc->res, &rc->seen, r);
	rc->ok += r->stat == DS_SENT;
}

/* A user for the store's session: 0 when added (answered later), -1
 * with *r set when it is answered now. */
static int
batch_add(struct job *j, struct batch *b, struct rcpt *rc, size_t t,
    struct dstatus *r)
{
	const struct target	*tg = &rc->x.t[t];
	size_t			 k;

	if (delivered_to(j, tg->dt)) {
		setres(r, DS_BOUNCE, "5.4.6 mail forwarding loop for %s",
		    tg->dt);
		return -1;
	}
	for (k = 0; k < b->n; k++)
		if (strcmp(b->user[k], tg->name) == 0)
			break;
	if (k == b->n) {
		b->user = xreallocarray(b->user, b->n + 1, sizeof(*b->user));
		b->user[b->n++] = tg->name;
	}
	rc->bidx[t] = k;
	rc->nwait++;
	return 0;
}

/*
 * One target delivered now: the one place a kind of target is dispatched
 * (new kinds go here). A user whose mailbox is the LMTP store does not
 * come here: it waits for the job's session (batch_add).
 */
static void
deliver_target(struct job *j, const struct target *t, const char *rcpt,
    struct dstatus *r)
{
	struct ident	 id;
	struct cmd_run	 c;

	if (t->kind == T_USER) {
		if (delivered_to(j, t->dt))
			setres(r, DS_BOUNCE, "5.4.6 mail forwarding loop "
			    "for %s", t->dt);
		else if (wk.conf.mailbox_command != NULL)
			mailbox_command(j, t->name, t->dt, r);
		else
			deliver_user(j, t->name, t->dt, r);
		return;
	}
	/* "|command", "/file": uid 0 stands for default_privs */
	if (ident_uid(t->uid, t->gid, 0, &id, r) == -1)
		return;
	if (t->uid != 0 && !id.shell_ok) {	/* a system account's file */
		setres(r, DS_BOUNCE, "5.7.1 %s has no valid shell for "
		    "commands and files", id.name);
		return;
	}
	if (t->kind == T_FILE)
		file_deliver(j, t->name, &id, rcpt, r);
	else {
		c = (struct cmd_run){ .cmd = t->name, .shell = 1, .id = &id,
		    .user = id.name, .home = id.home, .rcpt = rcpt,
		    .dt = rcpt };
		command_deliver(j, &c, r);
	}
	if (r->stat == DS_SENT)
		setres(r, DS_SENT, "2.0.0 delivered to %s %s as %s",
		    t->kind == T_FILE ? "file" : "command", t->name, id.name);
}

/* Phase 3: the recipient's one status, reported to qmgr. */
static void
finish_rcpt(struct job *j, struct rcpt *rc)
{
	if (!rc->done) {
		if (rc->x.has_err) {
			log_result(j, rc->addr, NULL, &rc->x.err);
			merge(&rc->res, &rc->seen, &rc->x.err);
		}
		if (!rc->seen) {	/* an alias with no targets at all */
			setres(&rc->res, DS_BOUNCE,
			    "5.1.1 alias has no targets");
			log_result(j, rc->addr, NULL, &rc->res);
		} else if (rc->res.stat == DS_SENT && rc->x.n > 1)
			setres(&rc->res, DS_SENT,
			    "2.0.0 delivered to %zu targets", rc->ok);
	}
	agent_report(j->a, rc->i, &rc->res);
	exp_free(&rc->x);
	free(rc->bidx);
	rc->bidx = NULL;
}

/*
 * Phase 2, one recipient: every target now but the store's users, then
 * its forward targets in one message. If one target defers, the whole
 * recipient is retried and the targets that succeeded get the message
 * again: a possible duplicate, never a loss (SPEC section 8).
 */
static void
deliver_rcpt(struct job *j, struct rcpt *rc, struct batch *b)
{
	struct dstatus	 r;
	char		 newid[QID_LEN + 1] = "";
	size_t		 nfwd = 0;

	for (size_t t = 0; t < rc->x.n; t++) {
		const struct target *tg = &rc->x.t[t];

		if (tg->kind == T_FWD) {
			nfwd++;
			continue;
		}
		if (tg->kind == T_USER && store_on()) {
			if (batch_add(j, b, rc, t, &r) == 0)
				continue;	/* answered after the session */
		} else
			deliver_target(j, tg, rc->addr, &r);
		target_done(j, rc, tg, &r);
	}
	if (nfwd > 0) {
		forward(j, &rc->x, rc->addr, &r, newid, sizeof(newid));
		for (size_t t = 0; t < rc->x.n; t++)
			if (rc->x.t[t].kind == T_FWD)
				log_result(j, rc->x.t[t].name, rc->addr, &r);
		merge(&rc->res, &rc->seen, &r);
		rc->ok += r.stat == DS_SENT ? nfwd : 0;
	}
}

/* Phase 2b and 3 for the store's users: one session, then every
 * recipient that waited for it. */
static void
deliver_batch(struct job *j, struct rcpt *rc, size_t n, struct batch *b)
{
	b->res = xcalloc(b->n, sizeof(*b->res));
	store_deliver(j, (const char *const *)b->user, b->n, b->res);
	for (size_t i = 0; i < n && !j->a->lost; i++) {
		if (rc[i].nwait == 0)
			continue;
		for (size_t t = 0; t < rc[i].x.n; t++)
			if (rc[i].bidx[t] != NO_BATCH)
				target_done(j, &rc[i], &rc[i].x.t[t],
				    &b->res[rc[i].bidx[t]]);
		finish_rcpt(j, &rc[i]);
	}
	free(b->res);
}

/* --- the agent hooks ---------------------------------------------- */

/*
 * The deliver hook, in phases: (1) expand every recipient; (2) deliver
 * each one's targets, reporting at once a recipient that waits for no
 * batch (mbox: as soon as it is done), while the store's users are
 * collected; (3) one LMTP session for them, then their recipients.
 */
static void
local_deliver(struct agent_job *a)
{
	struct job	 j;
	struct rcpt	*rc;
	struct batch	 b;

	memset(&j, 0, sizeof(j));
	memset(&b, 0, sizeof(b));
	j.a = a;
	j.id = a->id;
	j.fd = a->fd;
	j.q = &a->q;
	read_headers(&j);
	rc = xcalloc(a->nrcpt ? a->nrcpt : 1, sizeof(*rc));
	for (size_t i = 0; i < a->nrcpt; i++) {
		rc[i].i = i;
		rc[i].addr = j.q->rcpt[a->rcpt[i].idx].addr;
		expand_rcpt(&j, &rc[i]);
	}
	for (size_t i = 0; i < a->nrcpt && !a->lost; i++) {
		if (!rc[i].done)
			deliver_rcpt(&j, &rc[i], &b);
		if (rc[i].nwait == 0)
			finish_rcpt(&j, &rc[i]);
	}
	if (b.n > 0 && !a->lost)
		deliver_batch(&j, rc, a->nrcpt, &b);
	for (size_t i = 0; i < a->nrcpt; i++) {
		exp_free(&rc[i].x);
		free(rc[i].bidx);
	}
	free(rc);
	free(b.user);
	buf_free(&j.hdr);
}

static void
local_init(struct worker *w)
{
	struct conf_errors	 errs = { 0 };

	tzset();	/* once: no /etc/localtime at each delivery */
	as_root = geteuid() == 0;
	if (as_root)
		mailbox_init();
	/* a file size limit makes a write fail (EFBIG, deferred), never
	 * kills the process (command children reset every signal) */
	signal(SIGXFSZ, SIG_IGN);
	/* every mbox write of this process: mailboxes and /file targets */
	mbox_set_limit(w->conf.mailbox_size_limit);
	aliases.fd = -1;
	if (route_init(&router, &w->conf, &errs) == -1)
		for (size_t i = 0; i < errs.n; i++)
			log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
	if (w->conf.alias_map && map_open(&aliases, w->conf.alias_map) == -1)
		fatal("cannot open alias map %s: %s", w->conf.alias_map,
		    strerror(errno));
	store_init(&w->conf);
	signal(SIGCHLD, SIG_DFL);
}

static void
local_fini(void)
{
	map_close(&aliases);
	route_free(&router);
}

static const struct agent_ops local_ops = {
	.name = "local",
	.init = local_init,
	.deliver = local_deliver,
	.fini = local_fini,
};

int
main(int argc, char **argv)
{
	return agent_main(&wk, &local_ops, argc, argv);
}
