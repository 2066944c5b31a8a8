/*
 * local alias: a local recipient expanded through the alias map (and
 * "+ext" to its base), :include: files and ~/.forward files into system
 * users, forward addresses, commands and files, each command or file with
 * the identity it will run as (Sendmail's rules, local.8). Bounded in
 * depth and in targets; it runs nothing itself.
 */
#include <sys/types.h>

#include <ctype.h>
#include <pwd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "local.h"

void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void
exp_error(struct expansion *x, enum dstat kind, const char *text)
{
	/* A temporary problem wins: nothing is delivered and all is retried. */
	if (!x->has_err || (kind == DS_DEFER && x->err.stat != DS_DEFER)) {
		setres(&x->err, kind, "%s", text);
		x->has_err = 1;
	}
}

static void
drop_targets(struct expansion *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->t[i].name);
		free(x->t[i].dt);
	}
	free(x->t);
	x->t = NULL;
	x->n = 0;
}

static void
exp_add(struct expansion *x, enum tkind kind, const char *name, const char *dt,
    uid_t uid, gid_t gid)
{
	if (x->over)
		return;
	for (size_t i = 0; i < x->n; i++)
		if (x->t[i].kind == kind && x->t[i].uid == uid &&
		    (kind == T_CMD || kind == T_FILE ?
		    strcmp(x->t[i].name, name) :
		    strcasecmp(x->t[i].name, name)) == 0)
			return;		/* each target once */
	if (x->n >= MAX_TARGETS) {
		/* All or nothing: no arbitrary first MAX_TARGETS get it. */
		drop_targets(x);
		x->over = 1;
		x->has_err = 0;		/* this reason, not an earlier one */
		exp_error(x, DS_BOUNCE, "5.4.6 alias expands to more than "
		    MAX_TARGETS_TEXT " targets");
		return;
	}
	x->t = xreallocarray(x->t, x->n + 1, sizeof(*x->t));
	x->t[x->n].kind = kind;
	x->t[x->n].name = xstrdup(name);
	x->t[x->n].dt = dt ? xstrdup(dt) : NULL;
	x->t[x->n].uid = uid;
	x->t[x->n].gid = gid;
	x->n++;
}

void
exp_free(struct expansion *x)
{
	drop_targets(x);
	memset(x, 0, sizeof(*x));
}

/* Where a list of targets comes from. */
struct src {
	const char	*key;		/* naming it means "this user/alias" */
	const char	*domain;
	int		 depth;
	int		 fwd;		/* a .forward: key is its user */
	int		 trusted;	/* the system aliases file */
	uid_t		 uid;		/* commands and files run as (0: */
	gid_t		 gid;		/*   default_privs) */
};

static void expand_list(struct expansion *, char *, const struct src *);

/* One more .forward or :include: file to read: bounded in number, so that
 * lists naming lists cannot multiply the work. */
static const char too_many_lists[] =
    "5.4.6 too many :include: and .forward files";

static int
one_more_list(struct expansion *x)
{
	if (x->nlists >= MAX_LISTS) {
		exp_error(x, DS_BOUNCE, too_many_lists);
		return -1;
	}
	x->nlists++;
	return 0;
}

/* Is s on the stack of what is being expanded? Else push it. */
static int
push(struct expansion *x, const char *s)
{
	for (size_t i = 0; i < x->nstack; i++)
		if (strcmp(x->stack[i], s) == 0) {
			exp_error(x, DS_BOUNCE, "5.4.6 alias loop");
			return -1;
		}
	x->stack[x->nstack++] = xstrdup(s);
	return 0;
}

static void
pop(struct expansion *x)
{
	free(x->stack[--x->nstack]);
}

/*
 * ~/.forward of pw (SPEC section 9: after aliases, before the mailbox).
 * 1 when it decided the user's targets (or failed), 0 for the mailbox.
 */
static int
dotforward(struct expansion *x, const struct passwd *pw, const char *domain,
    int depth)
{
	struct src	 s;
	char		*content, why[300], mark[300];
	int		 k;

	if (!wk.conf.allow_forward_files)
		return 0;
	k = dotforward_read(pw, &x->nlists, &content, why, sizeof(why));
	if (k == RF_BOUNCE) {
		exp_error(x, DS_BOUNCE, too_many_lists);
		return 1;
	}
	if (k == RF_NONE)
		return 0;
	if (k == RF_IGNORED) {
		log_warn("%s: ~%s/.forward ignored: %s", x->qid ? x->qid : "-",
		    pw->pw_name, why);
		return 0;
	}
	if (k != RF_OK) {
		log_warn("%s: ~%s/.forward: %s", x->qid ? x->qid : "-",
		    pw->pw_name, why);
		exp_error(x, DS_DEFER, "4.3.0 cannot read the recipient's "
		    ".forward");
		return 1;
	}
	snprintf(mark, sizeof(mark), "~%s", pw->pw_name);
	if (depth + 1 > MAX_DEPTH)
		exp_error(x, DS_BOUNCE, "5.4.6 alias loop");
	else if (push(x, mark) == 0) {
		s = (struct src){ .key = pw->pw_name, .domain = domain,
		    .depth = depth + 1, .fwd = 1, .uid = pw->pw_uid,
		    .gid = pw->pw_gid };
		expand_list(x, content, &s);
		pop(x);
	}
	free(content);
	return 1;
}

/* A system user (no more alias lookups): local may carry "+ext". */
static void
add_user(struct expansion *x, const char *local, const char *domain,
    const char *dt, int nofwd, int depth)
{
	char		 base[256], addr[600];
	size_t		 bl = addr_local_base_len(local);
	struct passwd	*pw;

	if (bl == 0 || bl >= sizeof(base)) {
		exp_error(x, DS_BOUNCE, "5.1.1 User unknown");
		return;
	}
	memcpy(base, local, bl);
	base[bl] = '\0';
	errno = 0;
	if ((pw = pw_lookup(base)) == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM)
			exp_error(x, DS_BOUNCE, "5.1.1 User unknown");
		else
			exp_error(x, DS_DEFER, "4.3.0 user lookup failed");
		return;
	}
	if (!nofwd && dotforward(x, pw, domain, depth))
		return;
	if (dt == NULL) {
		if (snprintf(addr, sizeof(addr), "%s@%s", local, domain) >=
		    (int)sizeof(addr)) {
			exp_error(x, DS_BOUNCE, "5.1.3 address too long");
			return;
		}
		dt = addr;
	}
	exp_add(x, T_USER, pw->pw_name, dt, 0, 0);
}

/*
 * ":include:/path": read as its owner when the system aliases file (or a
 * root-owned list) names it, else as the identity of the list naming it;
 * its commands and files run as its owner (root's: default_privs).
 */
static void
include(struct expansion *x, const char *path, const struct src *from)
{
	struct ident	 id;
	struct dstatus	 r;
	struct src	 s;
	char		*content, why[300], mark[PATH_MAX + 16];
	uid_t		 owner;
	gid_t		 ogid;
	int		 k;

	if (from->depth + 1 > MAX_DEPTH) {
		exp_error(x, DS_BOUNCE, "5.4.6 alias loop");
		return;
	}
	if (one_more_list(x) == -1)
		return;
	if (!from->trusted && from->uid != 0 &&
	    ident_uid(from->uid, from->gid, 0, &id, &r) == -1) {
		exp_error(x, r.stat, r.text);
		return;
	}
	k = include_read(path, from->trusted || from->uid == 0 ? NULL : &id,
	    &content, &owner, &ogid, why, sizeof(why));
	if (k != RF_OK) {
		log_warn("%s: :include:%s: %s", x->qid ? x->qid : "-", path,
		    why);
		exp_error(x, k == RF_BOUNCE ? DS_BOUNCE : DS_DEFER, k ==
		    RF_BOUNCE ? "5.3.0 bad :include: file" :
		    "4.3.0 cannot use an :include: file");
		return;
	}
	snprintf(mark, sizeof(mark), ":include:%s", path);
	if (push(x, mark) == 0) {
		s = (struct src){ .key = from->key, .domain = from->domain,
		    .depth = from->depth + 1, .fwd = from->fwd,
		    .uid = owner, .gid = ogid };
		expand_list(x, content, &s);
		pop(x);
	}
	free(content);
}

/* A local name (from an alias, a .forward or an include). */
static void
local_name(struct expansion *x, char *name, const char *domain,
    const struct src *s)
{
	lower(name);
	if (strcmp(name, s->key) == 0)	/* "root: root", bob's "bob" */
		add_user(x, name, domain, NULL, s->fwd, s->depth);
	else
		expand(x, name, domain, NULL, s->depth + 1);
}

/*
 * An alias target in a local domain goes through virtual_map first, as
 * a recipient does (SPEC section 9): 1 if it decided (expanded, added
 * for forwarding, or an error), 0 if there is no entry. One level: what
 * it gives is not looked up in virtual_map again.
 */
static int
virtual_target(struct expansion *x, const char *addr, const struct src *s)
{
	struct route_error e;
	struct addr a;
	char out[600];

	switch (local_virtual(addr, out, sizeof(out), &e)) {
	case RV_NONE:
		return 0;
	case RV_ERROR:
		exp_error(x, e.code / 100 == 4 ? DS_DEFER : DS_BOUNCE, e.text);
		return 1;
	case RV_TEMP:
		exp_error(x, DS_DEFER, "4.3.0 virtual_map lookup failed");
		return 1;
	}
	if (addr_parse_path(out, strlen(out), 0, &a, NULL) == -1) {
		exp_error(x, DS_BOUNCE, "5.1.3 bad virtual_map target");
		return 1;
	}
	if (!is_local_domain(a.domain)) {
		exp_add(x, T_FWD, out, NULL, 0, 0);
		return 1;
	}
	local_name(x, a.local, a.domain, s);
	return 1;
}

/* One target of a list. */
static void
expand_target(struct expansion *x, char *t, const struct src *s)
{
	struct addr	 a;
	const char	*why;
	char		 fmt[600];
	size_t		 n = strlen(t);

	if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
		t[n - 1] = '\0';
		t++;
		n -= 2;
	}
	if (n == 0)
		return;
	if (t[0] == '|' || t[0] == '/') {
		if (t[0] == '|' && t[1] == '\0')
			exp_error(x, DS_BOUNCE, "5.3.5 empty command target");
		else
			exp_add(x, t[0] == '|' ? T_CMD : T_FILE, t + (t[0] ==
			    '|'), NULL, s->uid, s->gid);
		return;
	}
	if (strncasecmp(t, ":include:", 9) == 0) {
		include(x, t + 9 + strspn(t + 9, " \t"), s);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f) {
			exp_error(x, DS_BOUNCE, "5.1.3 bad alias target");
			return;
		}
	if (t[0] == '\\') {	/* "\user": mailbox, no alias, no .forward */
		lower(t + 1);
		add_user(x, t + 1, s->domain, NULL, 1, s->depth);
		return;
	}
	if (strrchr(t, '@') == NULL) {
		local_name(x, t, s->domain, s);
		return;
	}
	if (addr_parse_path(t, n, 0, &a, &why) == -1 ||
	    addr_format(&a, fmt, sizeof(fmt)) == -1) {
		exp_error(x, DS_BOUNCE, "5.1.3 bad alias target");
		return;
	}
	if (is_local_domain(a.domain)) {
		if (!virtual_target(x, fmt, s))
			local_name(x, a.local, a.domain, s);
		return;
	}
	exp_add(x, T_FWD, fmt, NULL, 0, 0);
}

/* A list: targets separated by commas or newlines ("..." may hold
 * either); a line starting with '#' is a comment. */
static void
expand_list(struct expansion *x, char *val, const struct src *s)
{
	char	*p, *start;
	int	 inq = 0, last, bol = 1;

	for (start = p = val;; p++) {
		if (bol && *p == '#') {		/* skip to the end of line */
			p += strcspn(p, "\n");
			start = p;
		}
		bol = *p == '\n';
		if (*p == '"')
			inq = !inq;
		if (*p != '\0' && *p != '\n' && (*p != ',' || inq))
			continue;
		last = *p == '\0';
		*p = '\0';
		inq = 0;
		while (isspace((unsigned char)*start))
			start++;
		for (size_t n = strlen(start); n > 0 &&
		    isspace((unsigned char)start[n - 1]); n--)
			start[n - 1] = '\0';
		expand_target(x, start, s);
		if (last)
			break;
		start = p + 1;
	}
}

/*
 * Resolve a lower-cased local part: alias (recursively), else a system
 * user. dt: the Delivered-To address when this is the original recipient.
 */
void
expand(struct expansion *x, const char *local, const char *domain,
    const char *dt, int depth)
{
	char		*val = NULL, base[256];
	const char	*key;
	size_t		 bl;
	int		 r;
	struct src	 s;

	if (depth > MAX_DEPTH) {
		exp_error(x, DS_BOUNCE, "5.4.6 alias loop (aliases nested "
		    "more than " MAX_DEPTH_TEXT " deep)");
		return;
	}
	key = local;
	r = map_lookup(&aliases, local, &val);
	if (r == 0 && (bl = addr_local_base_len(local)) < strlen(local) &&
	    bl > 0 && bl < sizeof(base)) {
		memcpy(base, local, bl);	/* "bob+ext": try "bob" */
		base[bl] = '\0';
		key = base;
		r = map_lookup(&aliases, base, &val);
	}
	if (r == -1) {
		exp_error(x, DS_DEFER, "4.3.0 alias lookup failed");
		return;
	}
	if (r == 0) {
		add_user(x, local, domain, dt, 0, depth);
		return;
	}
	if (push(x, key) == 0) {
		s = (struct src){ .key = x->stack[x->nstack - 1],
		    .domain = domain, .depth = depth, .trusted = 1 };
		expand_list(x, val, &s);
		pop(x);
	}
	free(val);
}
