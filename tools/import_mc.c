/*
 * import_mc: `postern import-mc FILE.mc [-o DIR] [--force]` translates a
 * sendmail.mc into postern.conf (stdout, or DIR/postern.conf with the
 * map files copied beside it and compiled). Every line is mapped, noted
 * or warned about. It never overwrites a file without --force and never
 * leaves a half-written postern.conf (temp file, fsync, link/rename).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "map.h"
#include "tools/import_mc.h"
#include "tools/tools.h"

#define MAP_MAX_BYTES	(64 * 1024 * 1024)
#define OUT_MAX_BYTES	(8 * 1024 * 1024)

static const char *const mapfile[M_NMAPS] = { "access", "virtusertable",
    "mailertable", "aliases", "local-host-names", "relay-domains" };
static const char *const mapkey[M_NMAPS] = { "access_map", "virtual_map",
    "transport_map", "alias_map", "local_domains", "relay_domains" };
static const char *const mapwhat[M_NMAPS] = { "FEATURE(access_db)",
    "FEATURE(virtusertable)", "FEATURE(mailertable)", "ALIAS_FILE",
    "FEATURE(use_cw_file)", "relay-domains" };

struct warning {
	int	 line;
	size_t	 seq;
	char	*msg;
};

static struct warning	*warns;
static size_t		 nwarns;

void
imp_at(struct imp *m, const struct mc_stmt *st, const char *what)
{
	m->cur = st;
	snprintf(m->what, sizeof(m->what), "%s", what);
}

/* "FILE:LINE: WHAT" of the current statement. */
static void
where(const struct imp *m, char *out, size_t len)
{
	if (m->cur != NULL)
		snprintf(out, len, "%s:%d%s%s", m->mc, m->cur->line,
		    m->what[0] != '\0' ? ": " : "", m->what);
	else
		snprintf(out, len, "%s", m->what);
}

static struct imp_ent *
new_ent(struct imp *m, const char *sect, const char *key)
{
	struct imp_ent	*e;

	m->ent = xreallocarray(m->ent, m->nent + 1, sizeof(*m->ent));
	e = &m->ent[m->nent++];
	memset(e, 0, sizeof(*e));
	e->sect = sect != NULL ? xstrdup(sect) : NULL;
	e->key = key != NULL ? xstrdup(key) : NULL;
	e->cmt = xstrdup("");
	return e;
}

static void
add_cmt(struct imp *m, struct imp_ent *e, const char *extra)
{
	char	 w[512], *n, *old = e->cmt;

	where(m, w, sizeof(w));
	if (asprintf(&n, "# %s%s\n", w, extra) == -1)
		abort();
	if (strstr(e->cmt, n) != NULL) {	/* one line, two values */
		free(n);
		return;
	}
	if (asprintf(&e->cmt, "%s%s", old, n) == -1)
		abort();
	free(old);
	free(n);
}

static struct imp_ent *
find_ent(struct imp *m, const char *sect, const char *key)
{
	for (size_t i = 0; i < m->nent; i++) {
		struct imp_ent *e = &m->ent[i];

		if (e->key != NULL && strcmp(e->key, key) == 0 &&
		    ((sect == NULL && e->sect == NULL) || (sect != NULL &&
		    e->sect != NULL && strcmp(sect, e->sect) == 0)))
			return e;
	}
	return NULL;
}

/* A value postern.conf would read otherwise: a comment, or nothing. */
static int
bad_value(struct imp *m, const char *key, const char *val)
{
	if (*val != '#' && strstr(val, " #") == NULL &&
	    strstr(val, "\t#") == NULL && *val != '\0')
		return 0;
	imp_warn(m, "%s: \"%s\" cannot be written in postern.conf (a # "
	    "after a blank starts a comment): not mapped", key, val);
	return 1;
}

void
imp_set(struct imp *m, const char *sect, const char *key, const char *val)
{
	struct imp_ent	*e = find_ent(m, sect, key);

	if (bad_value(m, key, val))
		return;
	if (e == NULL)
		e = new_ent(m, sect, key);
	free(e->val);
	e->val = xstrdup(val);
	add_cmt(m, e, "");
}

/* Is w an element of the ", "-separated list? */
static int
in_list(const char *list, const char *w)
{
	size_t	 n = strlen(w);

	for (const char *p = list; (p = strstr(p, w)) != NULL; p++)
		if ((p == list || p[-1] == ' ') && (p[n] == ',' ||
		    p[n] == '\0'))
			return 1;
	return 0;
}

void
imp_add(struct imp *m, const char *sect, const char *key, const char *val)
{
	struct imp_ent	*e = find_ent(m, sect, key);
	char		*n;

	if (e == NULL || bad_value(m, key, val)) {
		if (e == NULL)
			imp_set(m, sect, key, val);
		return;
	}
	add_cmt(m, e, "");
	if (in_list(e->val, val))
		return;
	if (asprintf(&n, "%s, %s", e->val, val) == -1)
		abort();
	free(e->val);
	e->val = n;
}

static void
comment(struct imp *m, const char *kind, const char *fmt, va_list ap)
{
	char	 text[1024], extra[1100];

	vsnprintf(text, sizeof(text), fmt, ap);
	snprintf(extra, sizeof(extra), ": %s%s", kind, text);
	add_cmt(m, new_ent(m, NULL, NULL), extra);
}

void
imp_note(struct imp *m, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	comment(m, "", fmt, ap);
	va_end(ap);
}

void
imp_warn(struct imp *m, const char *fmt, ...)
{
	va_list	 ap;
	char	 text[1024], w[512];

	va_start(ap, fmt);
	comment(m, "warning: ", fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	where(m, w, sizeof(w));
	warns = xreallocarray(warns, nwarns + 1, sizeof(*warns));
	warns[nwarns].line = m->cur != NULL ? m->cur->line : 0;
	warns[nwarns].seq = nwarns;
	if (asprintf(&warns[nwarns].msg, "%s: %s", w, text) == -1)
		abort();
	nwarns++;
	m->nwarn++;
}

static int
regular(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
same_file(const char *a, const char *b)
{
	struct stat	 sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Both regular files with the same bytes (a copy made before). */
static int
same_content(const char *a, const char *b)
{
	FILE	*fa = fopen(a, "r"), *fb = fopen(b, "r");
	int	 ca = 0, cb = 0, same = fa != NULL && fb != NULL;

	while (same && (ca = getc(fa)) == (cb = getc(fb)) && ca != EOF)
		;
	same = same && ca == cb;
	if (fa != NULL)
		fclose(fa);
	if (fb != NULL)
		fclose(fb);
	return same;
}

static int
needed(const struct imp *m, int i)
{
	return m->map[i] != NULL || i == M_ALIASES || i == M_RELAY;
}

/* The file for map i: beside the .mc first, then where the .mc says. */
static const char *
map_src(const struct imp *m, int i, char *out, size_t len)
{
	char	 named[PATH_MAX], tmp[PATH_MAX];

	if (m->mappath[i][0] != '\0')
		snprintf(named, sizeof(named), "%s", m->mappath[i]);
	else
		snprintf(named, sizeof(named), "/etc/mail/%s", mapfile[i]);
	snprintf(tmp, sizeof(tmp), "%s", named);
	if (snprintf(out, len, "%s/%s", m->mcdir, basename(tmp)) < (int)len &&
	    regular(out))
		return out;
	snprintf(out, len, "%s", named);
	if (regular(out))
		return out;
	if (i == M_ALIASES && m->mappath[i][0] == '\0' &&
	    regular("/etc/aliases")) {
		snprintf(out, len, "/etc/aliases");	/* Debian, Red Hat */
		return out;
	}
	return NULL;
}

/* Copy src to dst through a temp file (fsync, rename). */
static int
copy_file(const char *src, const char *dst)
{
	char	 tmp[PATH_MAX + 64], buf[65536];
	int	 in = -1, out = -1, r = -1;
	ssize_t	 n = 0;
	size_t	 total = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", dst) >=
	    (int)sizeof(tmp) || (in = open(src, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (out = mkstemp(tmp)) == -1)
		goto done;
	while ((n = read(in, buf, sizeof(buf))) > 0 &&
	    (total += (size_t)n) <= MAP_MAX_BYTES)
		if (write(out, buf, (size_t)n) != n)
			goto done;
	if (n != 0 || fchmod(out, 0644) == -1 || fsync(out) == -1)
		goto done;
	r = rename(tmp, dst);
done:
	if (r == -1)
		fprintf(stderr, "postern: import-mc: cannot copy %s to %s: %s\n",
		    src, dst, total > MAP_MAX_BYTES ? "more than 64 MiB" :
		    strerror(errno));
	if (in != -1)
		close(in);
	if (out != -1) {
		close(out);
		if (r == -1)
			unlink(tmp);
	}
	return r;
}

static void
compile(struct imp *m, int i, const char *path)
{
	struct conf_errors	 e = { 0 };

	if (i == M_LHN || i == M_RELAY)
		return;
	if (map_compile(path, i == M_ALIASES ? MAP_ALIASES : MAP_PLAIN,
	    &e) == -1)
		imp_warn(m, "%s could not be compiled: fix it, then run "
		    "postern map %s", path, path);
	for (size_t k = 0; k < e.n; k++)
		imp_warn(m, "%s", e.msg[k]);
	conf_errors_free(&e);
}

/* A map file beside the .mc that no FEATURE names: Sendmail ignored it. */
static void
unused(struct imp *m, int i)
{
	char	 p[PATH_MAX + 32];

	if (snprintf(p, sizeof(p), "%s/%s", m->mcdir, mapfile[i]) >=
	    (int)sizeof(p) || !regular(p))
		return;
	imp_at(m, NULL, mapfile[i]);
	imp_warn(m, "%s is beside %s but no %s names it: Sendmail did not "
	    "read it, nor will postern (set %s = %s to use it)", p, m->mc,
	    mapwhat[i], mapkey[i], p);
}

/* The map files: copied into outdir (and compiled), or pointed at. */
static int
finish_maps(struct imp *m)
{
	char		 sb[PATH_MAX], dst[PATH_MAX + 32];
	const char	*src, *val;

	for (int i = 0; i < M_NMAPS; i++) {
		imp_at(m, m->map[i], m->map[i] != NULL ? mapwhat[i] :
		    i == M_ALIASES ? "Sendmail's aliases file" :
		    "Sendmail's relay-domains file");
		src = map_src(m, i, sb, sizeof(sb));
		snprintf(dst, sizeof(dst), "%s/%s", m->outdir, mapfile[i]);
		val = m->outdir[0] != '\0' ? dst : src != NULL ? src : sb;
		if (m->map[i] == NULL && i != M_ALIASES && i != M_RELAY) {
			unused(m, i);
			continue;
		}
		if (src == NULL && m->map[i] == NULL) {
			imp_note(m, "none here: postern's default %s applies",
			    mapkey[i]);
			continue;	/* Sendmail's are optional */
		}
		if (src == NULL)
			imp_warn(m, "no %s file found (beside %s or at %s): "
			    "the map is empty until you create %s", mapfile[i],
			    m->mc, sb, val);
		else if (m->outdir[0] != '\0' && !same_file(src, dst) &&
		    !same_content(src, dst) && copy_file(src, dst) == -1)
			return -1;
		else if (m->outdir[0] != '\0' && !same_file(src, dst))
			imp_note(m, "copied from %s", src);
		if (i == M_LHN)
			imp_add(m, NULL, mapkey[i], val);
		else
			imp_set(m, NULL, mapkey[i], val);
		if (src != NULL && m->outdir[0] != '\0')
			compile(m, i, dst);
		else if (src != NULL && i != M_LHN && i != M_RELAY)
			imp_note(m, "compile it with: postern map %s", val);
	}
	return 0;
}

/* FEATURE(use_ct_file): the names of Sendmail's trusted-users file. */
static void
finish_ct(struct imp *m)
{
	char	 path[PATH_MAX], line[256], *w, *save;
	FILE	*fp;
	int	 n = 0;

	imp_at(m, m->ctfile, "FEATURE(use_ct_file)");
	if (snprintf(path, sizeof(path), "%s/trusted-users", m->mcdir) >=
	    (int)sizeof(path) || !regular(path))
		snprintf(path, sizeof(path), "/etc/mail/trusted-users");
	if (!regular(path) || (fp = fopen(path, "r")) == NULL) {
		imp_note(m, "no trusted-users file (beside the .mc or in "
		    "/etc/mail): nobody to add to trusted_users");
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL && n < 1000) {
		int c, whole = strchr(line, '\n') != NULL;

		while (!whole && (c = getc(fp)) != EOF && c != '\n')
			;	/* a line too long for a user name: skipped */
		save = NULL;
		if ((w = strtok_r(line, " \t\r\n", &save)) == NULL ||
		    *w == '#' || !whole)
			continue;
		if (n++ == 0 && find_ent(m, NULL, "trusted_users") == NULL &&
		    strcmp(w, "root") != 0)
			imp_add(m, NULL, "trusted_users", "root");
		imp_add(m, NULL, "trusted_users", w);
	}
	fclose(fp);
	imp_note(m, "%d name%s read from %s", n, n == 1 ? "" : "s", path);
}

/* Sendmail's Cyrus SASL settings: where the seeds and the distributions
 * keep them. */
static const char *
sasl_src(const struct imp *m, char *out, size_t len)
{
	static const char *const dirs[] = { NULL, "/etc/sasl2",
	    "/usr/lib/sasl2", "/usr/lib64/sasl2", "/etc/sasl" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (snprintf(out, len, "%s/Sendmail.conf", dirs[i] != NULL ?
		    dirs[i] : m->mcdir) < (int)len && regular(out))
			return out;
	return NULL;
}

/*
 * AUTH checks passwords as APP.conf says: Sendmail's is Sendmail.conf,
 * postern's postern.conf. Without it postern would use sasldb where
 * Sendmail used saslauthd, and every login would fail after the move.
 */
static int
finish_sasl(struct imp *m)
{
	char	 src[PATH_MAX], dir[PATH_MAX + 8], dst[PATH_MAX + 32];

	if (find_ent(m, NULL, "auth_mechanisms") == NULL)
		return 0;
	imp_at(m, m->mechs != NULL ? m->mechs : m->trust, m->mechs != NULL ?
	    "confAUTH_MECHANISMS" : "TRUST_AUTH_MECH");
	if (sasl_src(m, src, sizeof(src)) == NULL) {
		imp_warn(m, "no Sendmail.conf (Cyrus SASL settings) found: put "
		    "its lines (e.g. pwcheck_method: saslauthd) in "
		    "/etc/sasl2/postern.conf, which postern's AUTH reads");
		return 0;
	}
	if (m->outdir[0] == '\0') {
		imp_warn(m, "copy %s to /etc/sasl2/postern.conf: postern's "
		    "AUTH reads that file", src);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/sasl2", m->outdir);
	snprintf(dst, sizeof(dst), "%s/postern.conf", dir);
	if ((mkdir(dir, 0755) == -1 && errno != EEXIST) ||
	    (!same_content(src, dst) && copy_file(src, dst) == -1)) {
		fprintf(stderr, "postern: import-mc: %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	imp_set(m, NULL, "sasl_config_dir", dir);
	imp_note(m, "Cyrus SASL settings copied from %s", src);
	return 0;
}

/* Refuse, before anything is written, to replace a file without force. */
static int
precheck(const struct imp *m)
{
	char	 p[PATH_MAX + 32], sb[PATH_MAX];

	snprintf(p, sizeof(p), "%s/postern.conf", m->outdir);
	if (!m->force && access(p, F_OK) == 0) {
		fprintf(stderr, "postern: import-mc: %s exists; use --force "
		    "to replace it\n", p);
		return -1;
	}
	for (int i = 0; i < M_NMAPS && !m->force; i++) {
		const char *src;

		snprintf(p, sizeof(p), "%s/%s", m->outdir, mapfile[i]);
		if (!needed(m, i) || access(p, F_OK) != 0 ||
		    (src = map_src(m, i, sb, sizeof(sb))) == NULL ||
		    same_file(src, p) || same_content(src, p))
			continue;
		fprintf(stderr, "postern: import-mc: %s exists; use --force "
		    "to replace it with %s\n", p, src);
		return -1;
	}
	snprintf(p, sizeof(p), "%s/sasl2/postern.conf", m->outdir);
	if (!m->force && access(p, F_OK) == 0 &&
	    sasl_src(m, sb, sizeof(sb)) != NULL && !same_content(sb, p)) {
		fprintf(stderr, "postern: import-mc: %s exists; use --force "
		    "to replace it with %s\n", p, sb);
		return -1;
	}
	return 0;
}

static int
put_ents(const struct imp *m, struct buf *b, const char *sect)
{
	int	 r = 0;

	for (size_t i = 0; i < m->nent; i++) {
		const struct imp_ent *e = &m->ent[i];

		if ((sect == NULL) != (e->sect == NULL) || (sect != NULL &&
		    strcmp(sect, e->sect) != 0))
			continue;
		r |= buf_puts(b, e->cmt);
		if (e->key != NULL)
			r |= buf_printf(b, "%s = %s\n\n", e->key, e->val);
	}
	return r;
}

static int
format(const struct imp *m, struct buf *b)
{
	int	 r;

	r = buf_printf(b, "# postern.conf made by `postern import-mc' from %s.\n"
	    "# Each key names the sendmail.mc line it comes from; what "
	    "postern\n# cannot map is marked \"warning:\" (and was printed "
	    "on stderr).\n\n", m->mc);
	if (m->outdir[0] != '\0')
		r |= buf_printf(b, "config_dir = %s\n\n", m->outdir);
	r |= put_ents(m, b, NULL);
	for (size_t i = 0; i < m->nent; i++) {
		const char *s = m->ent[i].sect;
		size_t j;

		if (s == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (m->ent[j].sect != NULL &&
			    strcmp(m->ent[j].sect, s) == 0)
				break;
		if (j < i)
			continue;	/* printed with its first key */
		r |= buf_printf(b, "[%s]\n", s);
		r |= put_ents(m, b, s);
	}
	return r;
}

/* outdir/postern.conf, complete or not at all. */
static int
write_conf(const struct imp *m, const struct buf *b)
{
	char	 tmp[PATH_MAX + 32], dst[PATH_MAX + 32];
	int	 fd, r = -1;

	snprintf(dst, sizeof(dst), "%s/postern.conf", m->outdir);
	snprintf(tmp, sizeof(tmp), "%s/.postern.conf.XXXXXX", m->outdir);
	if ((fd = mkstemp(tmp)) == -1)
		goto fail;
	if (write(fd, b->data, b->len) == (ssize_t)b->len &&
	    fchmod(fd, 0644) == 0 && fsync(fd) == 0)
		r = m->force ? rename(tmp, dst) : link(tmp, dst);
	close(fd);
	if (r == -1 || !m->force)
		unlink(tmp);
	if (r == 0)
		return 0;
fail:
	fprintf(stderr, "postern: import-mc: cannot write %s: %s\n", dst,
	    strerror(errno));
	return -1;
}

static int
cmp_warn(const void *a, const void *b)
{
	const struct warning *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *
read_mc(const char *path, size_t *len)
{
	struct stat	 st;
	char		*text = NULL;
	ssize_t		 n = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		fprintf(stderr, "postern: import-mc: %s: %s\n", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MC_MAXFILE) {
		fprintf(stderr, "postern: import-mc: %s: not a regular file "
		    "of at most 1 MiB\n", path);
		close(fd);
		return NULL;
	}
	text = xmalloc((size_t)st.st_size + 1);
	*len = 0;
	while (*len < (size_t)st.st_size &&
	    (n = read(fd, text + *len, (size_t)st.st_size - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (n == -1) {
		fprintf(stderr, "postern: import-mc: %s: %s\n", path,
		    strerror(errno));
		free(text);
		return NULL;
	}
	text[*len] = '\0';
	return text;
}

static int
usage_mc(void)
{
	fprintf(stderr, "usage: postern import-mc FILE.mc [-o DIR] "
	    "[--force]\n");
	return 1;
}

static int
args(struct imp *m, int argc, char **argv, const char **outdir)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !*outdir)
			*outdir = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			m->force = 1;
		else if (argv[i][0] != '-' && m->mc == NULL)
			m->mc = argv[i];
		else
			return -1;
	}
	return m->mc != NULL ? 0 : -1;
}

/* The .mc's directory and the output directory, absolute. */
static int
dirs(struct imp *m, const char *outdir)
{
	char	 rp[PATH_MAX];

	if (realpath(m->mc, rp) == NULL) {
		fprintf(stderr, "postern: import-mc: %s: %s\n", m->mc,
		    strerror(errno));
		return -1;
	}
	snprintf(m->mcdir, sizeof(m->mcdir), "%s", dirname(rp));
	if (outdir == NULL)
		return 0;
	if (mkdir(outdir, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "postern: import-mc: cannot create %s: %s\n",
		    outdir, strerror(errno));
		return -1;
	}
	if (realpath(outdir, m->outdir) == NULL) {
		fprintf(stderr, "postern: import-mc: %s: %s\n", outdir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
imp_free(struct imp *m)
{
	for (size_t i = 0; i < m->nent; i++) {
		free(m->ent[i].sect);
		free(m->ent[i].key);
		free(m->ent[i].val);
		free(m->ent[i].cmt);
	}
	free(m->ent);
	mc_free(&m->f);
	for (size_t i = 0; i < nwarns; i++)
		free(warns[i].msg);
	free(warns);
	warns = NULL;
	nwarns = 0;
}

int
import_mc_main(const char *conf_file, int argc, char **argv)
{
	struct imp	 m;
	struct buf	 b;
	const char	*outdir = NULL;
	char		*text;
	size_t		 len;
	int		 rc = 1;

	memset(&m, 0, sizeof(m));
	if (args(&m, argc, argv, &outdir) == -1)
		return usage_mc();
	if ((text = read_mc(m.mc, &len)) == NULL)
		return 1;
	mc_lex(text, len, &m.f);
	free(text);
	buf_init(&b, OUT_MAX_BYTES);
	if (dirs(&m, outdir) == -1)
		goto done;
	imp_rules(&m);
	if (!m.msp)
		imp_finish(&m);
	if (m.ctfile != NULL)
		finish_ct(&m);	/* a submit.mc's too: sendmail -f uses it */
	if ((outdir != NULL && precheck(&m) == -1) ||
	    (!m.msp && (finish_maps(&m) == -1 || finish_sasl(&m) == -1)))
		goto done;
	qsort(warns, nwarns, sizeof(*warns), cmp_warn);
	for (size_t i = 0; i < nwarns; i++)
		fprintf(stderr, "postern: warning: %s\n", warns[i].msg);
	if (format(&m, &b) == -1)
		fprintf(stderr, "postern: import-mc: the output would pass %d "
		    "bytes: not written\n", OUT_MAX_BYTES);
	else if (outdir == NULL)
		rc = fwrite(b.data, 1, b.len, stdout) == b.len &&
		    fflush(stdout) == 0 ? 0 : 1;
	else
		rc = write_conf(&m, &b) == 0 ? 0 : 1;
	if (rc == 0 && outdir != NULL)
		fprintf(stderr, "postern: import-mc: wrote %s/postern.conf "
		    "(%d warnings); check it with: postern -c %s/postern.conf "
		    "check\n", m.outdir, m.nwarn, m.outdir);
done:
	buf_free(&b);
	imp_free(&m);
	return rc;
}
