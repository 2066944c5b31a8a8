/*
 * local alias: a local recipient expanded through the alias map (and
 * "+ext" to its base) into system users and forward addresses. Bounded
 * in depth and in targets; file, command and :include: targets are
 * refused, never run.
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
exp_add(struct expansion *x, enum tkind kind, const char *name, const char *dt)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->t[i].kind == kind && strcasecmp(x->t[i].name, name) == 0)
			return;		/* each user/address once */
	if (x->n >= MAX_TARGETS) {
		exp_error(x, DS_BOUNCE,
		    "5.4.6 alias expands to too many targets");
		return;
	}
	x->t = xreallocarray(x->t, x->n + 1, sizeof(*x->t));
	x->t[x->n].kind = kind;
	x->t[x->n].name = xstrdup(name);
	x->t[x->n].dt = dt ? xstrdup(dt) : NULL;
	x->n++;
}

void
exp_free(struct expansion *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->t[i].name);
		free(x->t[i].dt);
	}
	free(x->t);
	memset(x, 0, sizeof(*x));
}

/* A system user (no more alias lookups): local may carry "+ext". */
static void
add_user(struct expansion *x, const char *local, const char *domain,
    const char *dt)
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
	if ((pw = getpwnam(base)) == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM)
			exp_error(x, DS_BOUNCE, "5.1.1 User unknown");
		else
			exp_error(x, DS_DEFER, "4.3.0 user lookup failed");
		return;
	}
	if (dt == NULL) {
		if (snprintf(addr, sizeof(addr), "%s@%s", local, domain) >=
		    (int)sizeof(addr)) {
			exp_error(x, DS_BOUNCE, "5.1.3 address too long");
			return;
		}
		dt = addr;
	}
	exp_add(x, T_USER, pw->pw_name, dt);
}

/*
 * An alias target in a local domain goes through virtual_map first, as
 * a recipient does (SPEC section 9): 1 if it decided (expanded, added
 * for forwarding, or an error), 0 if there is no entry.
 */
static int
virtual_target(struct expansion *x, const char *addr, const char *key,
    int depth)
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
		exp_add(x, T_FWD, out, NULL);
		return 1;
	}
	lower(a.local);
	if (strcmp(a.local, key) == 0)	/* "root: root@virtual" */
		add_user(x, a.local, a.domain, NULL);
	else
		expand(x, a.local, a.domain, NULL, depth + 1);	/* one level */
	return 1;
}

/* One target from an alias value, seen while expanding key. */
static void
expand_target(struct expansion *x, char *t, const char *key,
    const char *domain, int depth)
{
	struct addr	 a;
	const char	*why;
	char		 fmt[600], *at;
	size_t		 n = strlen(t);

	if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
		t[n - 1] = '\0';
		t++;
		n -= 2;
	}
	if (n == 0)
		return;
	if (t[0] == '/' || t[0] == '|' || strncasecmp(t, ":include:", 9) == 0) {
		exp_error(x, DS_BOUNCE, "5.3.0 file, command and include "
		    "targets are not supported yet");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f) {
			exp_error(x, DS_BOUNCE, "5.1.3 bad alias target");
			return;
		}
	if (t[0] == '\\') {		/* "\user": the user, no alias lookup */
		lower(t + 1);
		add_user(x, t + 1, domain, NULL);
		return;
	}
	if ((at = strrchr(t, '@')) == NULL) {
		lower(t);
		if (strcmp(t, key) == 0)	/* "root: root" */
			add_user(x, t, domain, NULL);
		else
			expand(x, t, domain, NULL, depth + 1);
		return;
	}
	if (addr_parse_path(t, n, 0, &a, &why) == -1 ||
	    addr_format(&a, fmt, sizeof(fmt)) == -1) {
		exp_error(x, DS_BOUNCE, "5.1.3 bad alias target");
		return;
	}
	if (is_local_domain(a.domain) && virtual_target(x, fmt, key, depth))
		return;
	if (is_local_domain(a.domain)) {
		lower(a.local);
		if (strcmp(a.local, key) == 0)
			add_user(x, a.local, a.domain, NULL);
		else
			expand(x, a.local, a.domain, NULL, depth + 1);
		return;
	}
	exp_add(x, T_FWD, fmt, NULL);
}

/*
 * Resolve a lower-cased local part: alias (recursively), else a system
 * user. dt: the Delivered-To address when this is the original recipient.
 */
void
expand(struct expansion *x, const char *local, const char *domain,
    const char *dt, int depth)
{
	char		*val = NULL, *p, *start, base[256];
	const char	*key;
	size_t		 bl;
	int		 r, inq = 0, last;

	if (depth > MAX_DEPTH) {
		exp_error(x, DS_BOUNCE, "5.4.6 alias loop");
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
		add_user(x, local, domain, dt);
		return;
	}
	for (size_t i = 0; i < x->nstack; i++)
		if (strcmp(x->stack[i], key) == 0) {
			free(val);
			exp_error(x, DS_BOUNCE, "5.4.6 alias loop");
			return;
		}
	x->stack[x->nstack++] = xstrdup(key);
	for (start = p = val;; p++) {
		if (*p == '"')
			inq = !inq;
		if (*p != '\0' && (*p != ',' || inq))
			continue;
		last = *p == '\0';
		*p = '\0';
		while (isspace((unsigned char)*start))
			start++;
		for (size_t n = strlen(start); n > 0 &&
		    isspace((unsigned char)start[n - 1]); n--)
			start[n - 1] = '\0';
		expand_target(x, start, x->stack[x->nstack - 1], domain, depth);
		if (last)
			break;
		start = p + 1;
	}
	free(x->stack[--x->nstack]);
	free(val);
}
