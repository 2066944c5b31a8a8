/*
 * conf: read postern.conf (SPEC section 3) in two passes: the entries
 * (with continuation lines) first, then global keys on top of the
 * defaults and each [section] on top of the global smtpd values. Keys
 * are rows of conf_key.c's table; nothing here handles a key by name.
 * Every problem is collected as "file:line: text"; none is fatal.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "conf_key.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc/postern"
#endif

#define GLOBAL		(-1)
#define DROPPED		(-2)

int conf_worker;
int (*conf_tls_pair)(const char *, const char *, char *, size_t);

/* Errors. */

void
conf_errors_vadd(struct conf_errors *errs, int warn, const char *fmt,
    va_list ap)
{
	char	*s;

	if (errs == NULL)
		return;
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("conf: out of memory");
	errs->msg = xreallocarray(errs->msg, errs->n + 1, sizeof(*errs->msg));
	errs->msg[errs->n++] = s;
	if (warn)
		errs->nwarn++;
}

void
conf_errors_add(struct conf_errors *errs, int warn, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_errors_vadd(errs, warn, fmt, ap);
	va_end(ap);
}

char *
conf_xprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r == -1)
		fatal("conf: out of memory");
	return s;
}

/* "file:line: [warning: ]text" (line 0: "file: text"). */
static void
pvmsg(struct pctx *p, int warn, int line, const char *fmt, va_list ap)
{
	char	*text;

	if (vasprintf(&text, fmt, ap) == -1)
		fatal("conf: out of memory");
	if (!warn)
		p->nerr++;
	if (line > 0)
		conf_errors_add(p->errs, warn, "%s:%d: %s%s", p->file, line,
		    warn ? "warning: " : "", text);
	else
		conf_errors_add(p->errs, warn, "%s: %s%s", p->file,
		    warn ? "warning: " : "", text);
	free(text);
}

void
conf_perr(struct pctx *p, int line, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	pvmsg(p, 0, line, fmt, ap);
	va_end(ap);
}

void
conf_pwarn(struct pctx *p, int line, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	pvmsg(p, 1, line, fmt, ap);
	va_end(ap);
}

const char *
conf_path(const char *opt_c)
{
	const char	*e;

	if (opt_c != NULL)
		return opt_c;
	if ((e = getenv("POSTERN_CONF")) != NULL && *e != '\0')
		return e;
	return SYSCONFDIR "/postern.conf";
}

/* Value parsers. */

static int
parse_digits(const char *s, const char **end, uint64_t *v)
{
	uint64_t	 n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*end = s;
	*v = n;
	return 0;
}

static int
parse_suffixed(const char *s, uint64_t *v, const char *sfx,
    const uint64_t *mul)
{
	const char	*e, *p;
	uint64_t	 n, m = 1;

	if (s == NULL || parse_digits(s, &e, &n) == -1)
		return -1;
	if (*e != '\0') {
		if (e[1] != '\0' ||
		    (p = strchr(sfx, tolower((unsigned char)*e))) == NULL)
			return -1;
		m = mul[p - sfx];
	}
	if (n > UINT64_MAX / m)
		return -1;
	*v = n * m;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t *v)
{
	static const uint64_t mul[] = { 1024, 1024 * 1024,
	    1024 * 1024 * 1024 };

	return parse_suffixed(s, v, "kmg", mul);
}

int
conf_parse_duration(const char *s, uint64_t *v)
{
	static const uint64_t mul[] = { 1, 60, 3600, 86400, 7 * 86400 };

	return parse_suffixed(s, v, "smhdw", mul);
}

int
conf_parse_bool(const char *s, int *v)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t	 i;

	if (s == NULL)
		return -1;
	for (i = 0; i < NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

int
conf_parse_number(const char *s, uint64_t *v)
{
	const char	*e;

	if (parse_digits(s, &e, v) == -1 || *e != '\0')
		return -1;
	return 0;
}

static char *
fqdn(void)
{
	char		 name[256];
	struct addrinfo	 hints, *res = NULL;
	char		*r;

	if (gethostname(name, sizeof(name)) == -1)
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') != NULL)
		return xstrdup(name);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && strchr(res->ai_canonname, '.'))
		r = xstrdup(res->ai_canonname);
	else
		r = xstrdup(name);
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* Pass one: read the file into entries. */

char *
conf_trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
valid_name(const char *s, int underscore_only)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' &&
		    (underscore_only || (*s != '-' && *s != '.')))
			return 0;
	return 1;
}

/* A key set twice in one section: the last value counts (a warning). */
static void
add_ent(struct pctx *p, const char *k, const char *v, int line, int sect)
{
	size_t	 i;

	for (i = 0; i < p->nent; i++)
		if (p->ent[i].sect == sect && strcmp(p->ent[i].key, k) == 0) {
			conf_pwarn(p, line, "%s set again (first at line %d); "
			    "this value counts", k, p->ent[i].line);
			break;
		}
	p->ent = xreallocarray(p->ent, p->nent + 1, sizeof(*p->ent));
	p->ent[p->nent].key = xstrdup(k);
	p->ent[p->nent].val = xstrdup(v);
	p->ent[p->nent].line = line;
	p->ent[p->nent].sect = sect;
	p->nent++;
}

/* "[name]": a new listener; its index, or DROPPED when it is bad. */
static int
read_section(struct pctx *p, struct conf *c, char *s, int line)
{
	char	*e, *k;
	size_t	 i;

	if ((e = strchr(s, ']')) == NULL) {
		conf_perr(p, line, "unterminated section header");
		return DROPPED;
	}
	if (*conf_trim(e + 1) != '\0') {
		conf_perr(p, line, "garbage after section header");
		return DROPPED;
	}
	*e = '\0';
	k = conf_trim(s + 1);
	if (!valid_name(k, 0)) {
		conf_perr(p, line, "bad section name \"%s\"", k);
		return DROPPED;
	}
	for (i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listener[i].name, k) == 0) {
			conf_perr(p, line, "duplicate section [%s] (first at "
			    "line %d)", k, p->sectline[i]);
			return DROPPED;
		}
	if (c->nlisteners == CONF_MAX_LISTENERS) {
		conf_perr(p, line, "too many sections (max %d)",
		    CONF_MAX_LISTENERS);
		return DROPPED;
	}
	c->listener[c->nlisteners].name = xstrdup(k);
	p->sectline[c->nlisteners] = line;
	return (int)c->nlisteners++;
}

enum { LAST_NONE, LAST_ENT, LAST_DROPPED, LAST_SECT };

/* A line starting with white space continues the last entry. */
static void
read_continuation(struct pctx *p, const char *s, int line, int last)
{
	struct ent	*en;
	char		*joined;

	if (last == LAST_ENT) {
		en = &p->ent[p->nent - 1];
		joined = conf_xprintf("%s%s%s", en->val, *en->val ? " " : "",
		    s);
		free(en->val);
		en->val = joined;
	} else if (last != LAST_DROPPED)
		conf_perr(p, line, "continuation line without a preceding key");
}

/* "key = value": returns the new LAST_ state. */
static int
read_entry(struct pctx *p, char *s, int line, int sect)
{
	char	*e, *k;

	if ((e = strchr(s, '=')) == NULL) {
		conf_perr(p, line, "expected \"key = value\"");
		return LAST_DROPPED;
	}
	*e = '\0';
	k = conf_trim(s);
	if (!valid_name(k, 1)) {
		conf_perr(p, line, "bad key \"%s\"", k);
		return LAST_DROPPED;
	}
	if (sect == DROPPED)
		return LAST_DROPPED;
	add_ent(p, k, conf_trim(e + 1), line, sect);
	return LAST_ENT;
}

static void
read_file(struct pctx *p, FILE *fp, struct conf *c)
{
	char	*buf = NULL, *s, *h;
	size_t	 cap = 0;
	int	 line = 0, sect = GLOBAL, last = LAST_NONE, cont;

	while (getline(&buf, &cap, fp) != -1) {
		line++;
		cont = (buf[0] == ' ' || buf[0] == '\t');
		/* '#' at the start or after white space starts a comment */
		for (h = buf; (h = strchr(h, '#')) != NULL; h++)
			if (h == buf || h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				break;
			}
		s = conf_trim(buf);
		if (*s == '\0')
			continue;
		if (cont)
			read_continuation(p, s, line, last);
		else if (*s == '[') {
			last = LAST_SECT;
			sect = read_section(p, c, s, line);
		} else
			last = read_entry(p, s, line, sect);
	}
	free(buf);
	if (ferror(fp))
		conf_perr(p, 0, "read error: %s", strerror(errno));
}

/* Pass two: apply entries; [sections] on top of the global values. */

static void
apply_global(struct pctx *p, struct conf *c, const struct ent *e)
{
	const struct key	*k;

	if ((k = conf_key_find(e->key)) == NULL)
		conf_perr(p, e->line, "unknown key \"%s\"", e->key);
	else if (k->scope == KS_SECTION)
		conf_perr(p, e->line, "%s is only allowed in a [section]",
		    k->name);
	else if (conf_key_set(p, k, k->scope == KS_GLOBAL ? (void *)c :
	    (void *)&c->smtpd, e->val, e->line) == 0)
		p->gline[conf_key_index(k)] = e->line;
}

static void
apply_section(struct pctx *p, struct conf *c, size_t j)
{
	struct conf_smtpd	*l = &c->listener[j];
	const struct key	*k;
	const struct ent	*e;
	char			*name;

	name = l->name;
	conf_smtpd_copy(l, &c->smtpd, NULL);
	l->name = name;
	memcpy(p->sline[j], p->gline, sizeof(p->gline));
	for (e = p->ent; e < p->ent + p->nent; e++) {
		if (e->sect != (int)j)
			continue;
		if ((k = conf_key_find(e->key)) == NULL)
			conf_perr(p, e->line, "unknown key \"%s\"", e->key);
		else if (k->scope == KS_GLOBAL && k->type != K_NOTBUILT)
			conf_perr(p, e->line, "%s is not allowed in a "
			    "[section]", e->key);
		else if (conf_key_set(p, k, l, e->val, e->line) == 0)
			p->sline[j][conf_key_index(k)] = e->line;
	}
}

static void
apply_entries(struct pctx *p, struct conf *c)
{
	size_t	 i;

	for (i = 0; i < p->nent; i++)
		if (p->ent[i].sect == GLOBAL)
			apply_global(p, c, &p->ent[i]);
	for (i = 0; i < c->nlisteners; i++)
		apply_section(p, c, i);
}

static void
derive(char **dst, const char *dir, const char *file)
{
	if (*dst == NULL)
		*dst = conf_xprintf("%s/%s", dir, file);
}

int
conf_load(const char *path, struct conf *c, struct conf_errors *errs)
{
	struct pctx	*p;
	FILE		*fp;
	size_t		 i;
	int		 r;

	p = xcalloc(1, sizeof(*p));
	p->file = path;
	p->errs = errs;
	conf_key_defaults(p, c);
	c->file = xstrdup(path);
	if ((fp = fopen(path, "r")) == NULL)
		conf_perr(p, 0, "cannot open: %s", strerror(errno));
	else {
		read_file(p, fp, c);
		fclose(fp);
		apply_entries(p, c);
	}
	if (c->nlisteners == 0) {
		conf_smtpd_copy(&c->listener[0], &c->smtpd, "smtp");
		c->listener[0].listen[0] = xstrdup("0.0.0.0:25");
		c->listener[0].nlisten = 1;
		memcpy(p->sline[0], p->gline, sizeof(p->gline));
		c->nlisteners = 1;
	}
	conf_validate(p, c);
	if (c->hostname == NULL)
		c->hostname = fqdn();
	derive(&c->local_domains, c->config_dir, "local-host-names");
	derive(&c->relay_domains, c->config_dir, "relay-domains");
	derive(&c->access_map, c->config_dir, "access");
	derive(&c->alias_map, c->config_dir, "aliases");
	for (i = 0; i < p->nent; i++) {
		free(p->ent[i].key);
		free(p->ent[i].val);
	}
	free(p->ent);
	r = p->nerr ? -1 : 0;
	free(p);
	return r;
}

void
conf_errors_free(struct conf_errors *e)
{
	if (e == NULL)
		return;
	xfreev(e->msg, e->n);
	memset(e, 0, sizeof(*e));
}

const struct conf_smtpd *
conf_listener(const struct conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listener[i].name != NULL &&
		    strcmp(c->listener[i].name, name) == 0)
			return &c->listener[i];
	return NULL;
}
