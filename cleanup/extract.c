/*
 * extract: sendmail -t recipient extraction (To/Cc/Bcc) and header-line
 * tests for cleanup. Hands each address to the caller, which checks and
 * keeps it; never writes the queue, never drops what the caller keeps.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "extract.h"
#include "log.h"
#include "rewrite.h"

struct sink {
	void	(*add)(void *, const char *);
	void	 *arg;
};

/* One token of the tolerant parser: trimmed, parsed, passed on. */
static void
extract_token(struct sink *s, char *a)
{
	struct addr pa;
	const char *why;
	char f[600];
	size_t n;

	while (isspace((unsigned char)*a))
		a++;
	n = strlen(a);
	while (n && isspace((unsigned char)a[n - 1]))
		a[--n] = '\0';
	if (n && addr_parse_path(a, n, 0, &pa, &why) == 0 &&
	    addr_format(&pa, f, sizeof(f)) == 0)
		s->add(s->arg, f);
}

/*
 * Pull addresses out of a To/Cc/Bcc header value: commas outside quotes,
 * angle brackets and comments separate them; "<x>" wins over the phrase.
 */
static void
extract_addrs(struct sink *s, const char *v)
{
	char tok[1024], ang[1024];
	size_t tl = 0, al = 0;
	int inq = 0, inang = 0, depth = 0, have_ang = 0;

	for (const char *p = v; ; p++) {
		char c = *p;
		if (c == '\0' || (c == ',' && !inq && !inang && depth == 0)) {
			tok[tl] = '\0';
			ang[al] = '\0';
			extract_token(s, have_ang ? ang : tok);
			tl = al = 0;
			have_ang = inang = 0;
			if (c == '\0')
				break;
			continue;
		}
		if (c == '"' && depth == 0)
			inq = !inq;
		else if (c == '(' && !inq)
			depth++;
		else if (c == ')' && !inq && depth > 0) {
			depth--;
			continue;
		} else if (c == '<' && !inq && depth == 0) {
			inang = 1;
			have_ang = 1;
			al = 0;
			continue;
		} else if (c == '>' && inang) {
			inang = 0;
			continue;
		}
		if (depth > 0)
			continue;
		if (inang) {
			if (al < sizeof(ang) - 1)
				ang[al++] = c;
		} else if (tl < sizeof(tok) - 1)
			tok[tl++] = c;
	}
}

/* rewrite_extract's callback: what the old parser would take. */
static void
extract_one(void *arg, const char *a)
{
	struct sink *s = arg;
	struct addr pa;
	const char *why;

	if (addr_parse_path(a, strlen(a), 0, &pa, &why) == 0)
		s->add(s->arg, a);
}

void
extract_header(const char *h, size_t hl,
    void (*add)(void *, const char *), void *arg)
{
	struct sink s = { add, arg };
	const char *colon = strchr(h, ':') + 1;
	size_t vl = hl - (size_t)(colon - h);
	char *v;

	if (rewrite_extract(colon, vl, extract_one, &s) == 0)
		return;
	v = xstrndup(colon, vl);
	for (char *c = v; *c; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	extract_addrs(&s, v);
	free(v);
}

int
hdr_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

int
is_header_line(const char *l, size_t n)
{
	size_t i;

	if (n && (l[0] == ' ' || l[0] == '\t'))
		return 1;	/* continuation */
	for (i = 0; i < n && l[i] != ':'; i++)
		if (l[i] <= ' ' || l[i] > '~')
			return 0;
	return i > 0 && i < n;
}
