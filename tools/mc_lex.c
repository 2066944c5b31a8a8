/*
 * mc_lex: the sendmail.mc reader of `postern import-mc`. Splits the text
 * into macro calls with their arguments, reading the tutorials' typos
 * (smart quotes, `dn1', spaces in names, calls split over lines) as the
 * admin meant them and flagging each leniency. Never expands m4, never
 * reads past MC_MAXSTMT bytes of one statement.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tools/mc_lex.h"

#define JOIN_MAX	4	/* lines one call may span */

enum { P_DONE, P_MORE, P_BAD };

/* Bytes of the quote-like character at p (0: none). ~ and ° only open. */
static size_t
qlen(const char *s, int opening)
{
	const unsigned char *p = (const unsigned char *)s;

	if (p[0] == '`' || p[0] == '\'' || p[0] == '"')
		return 1;
	if (opening && p[0] == '~')
		return 1;
	if (p[0] == 0xc2 && (p[1] == 0xb4 || (opening && p[1] == 0xb0)))
		return 2;		/* ´ ° */
	if (p[0] == 0xe2 && p[1] == 0x80 &&
	    (p[2] == 0x98 || p[2] == 0x99 || p[2] == 0x9c || p[2] == 0x9d))
		return 3;		/* ‘ ’ “ ” */
	return 0;
}

static int
is_noise(const char *s, size_t *n)
{
	if (*s == '|') {
		*n = 1;
		return 1;
	}
	return (*n = qlen(s, 1)) > 0;
}

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* "dnl" or "dn1" as a word at s: 1 dnl, 2 dn1, 0 neither. */
static int
is_dnl(const char *s)
{
	if (strncmp(s, "dnl", 3) != 0 && strncmp(s, "dn1", 3) != 0)
		return 0;
	if (isalnum((unsigned char)s[3]) || s[3] == '_')
		return 0;
	return s[2] == 'l' ? 1 : 2;
}

/* Does s start a call: NAME, maybe with spaces, then `('? */
static int
starts_call(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return 0;
	while (isalnum((unsigned char)*s) || *s == '_' || *s == ' ')
		s++;
	return *s == '(';
}

void
mc_squash(const char *in, char *out, size_t outlen)
{
	size_t	 n = 0;

	for (; *in != '\0' && n + 1 < outlen; in++)
		if (*in != '_' && !isspace((unsigned char)*in))
			out[n++] = (char)toupper((unsigned char)*in);
	out[n] = '\0';
}

/* Trim white space and quote-like characters off both ends. */
static char *
trim_arg(const char *s, size_t len)
{
	size_t	 q;
	int	 changed = 1;
	char	*out, *r, *w;

	while (changed) {
		changed = 0;
		while (len > 0 && isspace((unsigned char)*s)) {
			s++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
		if (len > 0 && (q = qlen(s, 1)) > 0 && q <= len) {
			s += q;
			len -= q;
			changed = 1;
		}
		for (q = 1; q <= 3 && q <= len; q++)
			if (qlen(s + len - q, 0) == q) {
				len -= q;
				changed = 1;
				break;
			}
	}
	out = xstrndup(s, len);
	for (r = w = out; *r != '\0'; r++)
		if (!isspace((unsigned char)*r) || (w > out &&
		    !isspace((unsigned char)w[-1])))
			*w++ = isspace((unsigned char)*r) ? ' ' : *r;
	*w = '\0';
	return out;
}

/* Is the quote-like char at p (q bytes) the end of a quoted argument? */
static int
closes(const char *p, size_t q)
{
	const char	*n = skip_ws(p + q);

	return *n == ',' || *n == ')';
}

/* Rest of line after a `)' is empty or a dnl: a `)' that ends the call. */
static int
ends_line(const char *p)
{
	p = skip_ws(p + 1);
	return *p == '\0' || is_dnl(p) != 0;
}

static void
add_arg(struct mc_stmt *st, const char *s, size_t len, int *bad)
{
	if (st->nargs == MC_MAXARGS) {
		*bad = 1;
		return;
	}
	st->args[st->nargs++] = trim_arg(s, len);
}

/*
 * The arguments from just after `(' in s. *end: offset after `)'.
 * Quotes: m4's ` and ', or any typographic quote that opens an argument
 * and closes it before `,' or `)'.
 */
static int
parse_args(const char *s, struct mc_stmt *st, size_t *end)
{
	const char	*p = s, *a = s;
	int		 depth = 1, inq = 0, nest = 0, bad = 0, atstart = 1;
	size_t		 q;

	while (*p != '\0') {
		if (atstart && (*p == ' ' || *p == '\t')) {
			p++;
			continue;
		}
		if (atstart && (q = qlen(p, 1)) > 0) {
			if (*p != '`')
				st->lenient |= MC_L_QUOTES;
			inq = 1;
			atstart = 0;
			p += q;
			continue;
		}
		atstart = 0;
		if (inq) {
			if (*p == '`') {
				nest++;
				p++;
				continue;
			}
			if ((q = qlen(p, 0)) > 0) {
				if (*p == '\'' && nest > 0)
					nest--;
				else if (closes(p, q)) {
					if (*p != '\'')
						st->lenient |= MC_L_QUOTES;
					inq = 0;
				}
				p += q;
				continue;
			}
			if (*p == ')' && ends_line(p)) {
				st->lenient |= MC_L_QUOTES;	/* unclosed */
				inq = 0;
				continue;
			}
			p++;
			continue;
		}
		if ((q = qlen(p, 0)) > 0) {		/* stray quote */
			st->lenient |= MC_L_QUOTES;
			p += q;
			continue;
		}
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0) {
			add_arg(st, a, (size_t)(p - a), &bad);
			*end = (size_t)(p + 1 - s);
			return bad ? P_BAD : P_DONE;
		} else if (*p == ',' && depth == 1) {
			add_arg(st, a, (size_t)(p - a), &bad);
			a = p + 1;
			atstart = 1;
		}
		p++;
	}
	return P_MORE;
}

static void
clear_args(struct mc_stmt *st)
{
	for (int i = 0; i < st->nargs; i++)
		free(st->args[i]);
	st->nargs = 0;
}

/*
 * One call at s (leading noise already skipped). *end: bytes used.
 * P_MORE: the call goes on past the end of s.
 */
static int
parse_call(const char *s, struct mc_stmt *st, size_t *end)
{
	const char	*p = s, *e;
	size_t		 n = 0, used;
	int		 r;

	while (isalnum((unsigned char)*p) || *p == '_' || *p == ' ' ||
	    *p == '\t')
		p++;
	for (e = p; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	for (const char *c = s; c < e && n + 1 < sizeof(st->name); c++) {
		if (*c == ' ' || *c == '\t')
			st->lenient |= MC_L_NAME;
		else
			st->name[n++] = *c;
	}
	st->name[n] = '\0';
	mc_squash(st->name, st->key, sizeof(st->key));
	if (n == 0 || (*p != '(' && (st->lenient & MC_L_NAME))) {
		st->why = "cannot read this line as a macro call";
		return P_BAD;
	}
	if (*p != '(' && *p != '\0') {
		st->why = "cannot read this line as a macro call";
		return P_BAD;
	}
	if (*p != '(') {
		st->nargs = -1;
		*end = (size_t)(e - s);
		return P_DONE;
	}
	if (e != p)
		st->lenient |= MC_L_PAREN;
	st->nargs = 0;
	r = parse_args(p + 1, st, &used);
	if (r == P_DONE)
		*end = (size_t)(p + 1 - s) + used;
	else
		clear_args(st);
	if (r == P_BAD)
		st->why = "too many arguments";
	return r;
}

static struct mc_stmt *
push(struct mc_file *f, int line, enum mc_kind kind, unsigned lenient)
{
	struct mc_stmt	*st;

	f->st = xreallocarray(f->st, f->n + 1, sizeof(*f->st));
	st = &f->st[f->n++];
	memset(st, 0, sizeof(*st));
	st->line = line;
	st->kind = kind;
	st->lenient = lenient;
	return st;
}

/* The next line of a call that goes on: not blank, not a new statement. */
static size_t
next_part(char **l, size_t n, size_t j)
{
	const char	*s;

	for (j++; j < n; j++) {
		s = skip_ws(l[j]);
		if (*s == '\0')
			continue;
		if (*s == '#' || is_dnl(s) || starts_call(s))
			return n;
		return j;
	}
	return n;
}

/* Append line k to buf (a hyphen at the end joins without a space). */
static int
join(char *buf, const char *line)
{
	size_t	 len = strlen(buf), add = strlen(line = skip_ws(line));
	int	 sep = len > 0 && buf[len - 1] != '-';

	if (len + (size_t)sep + add + 1 > MC_MAXSTMT)
		return -1;
	if (sep)
		buf[len++] = ' ';
	memcpy(buf + len, line, add + 1);
	return 0;
}

/* The rest after a call: another call, a dnl, or noise. */
static const char *
after_call(const char *rest, struct mc_stmt *st, unsigned *next)
{
	size_t	 q;
	int	 d;

	rest = skip_ws(rest);
	*next = 0;
	if ((d = is_dnl(rest)) != 0) {
		if (d == 2)
			st->lenient |= MC_L_DN1;
		rest = skip_ws(rest + 3);
		*next = MC_L_AFTERDNL;
		return starts_call(rest) ? rest : NULL;
	}
	if (starts_call(rest))
		return rest;
	while (*rest != '\0') {
		if (is_noise(rest, &q))
			rest += q;
		else if (*rest == ' ' || *rest == '\t')
			rest++;
		else
			break;
		st->lenient |= MC_L_NOISE;
	}
	if (*rest != '\0')
		st->lenient |= MC_L_NOISE;
	return NULL;
}

/* The calls of line i (from s); returns the next line to read. */
static size_t
lex_calls(char **l, size_t n, size_t i, const char *s, unsigned lenient,
    struct mc_file *f)
{
	char		 buf[MC_MAXSTMT];
	const char	*p = s;
	struct mc_stmt	*st;
	size_t		 j = i, k, used;
	int		 r, parts = 1;

	if (strlen(s) >= sizeof(buf)) {
		push(f, (int)i + 1, MC_BAD, lenient)->why = "line too long";
		return i + 1;
	}
	memcpy(buf, s, strlen(s) + 1);
	p = buf;
	for (;;) {
		st = push(f, (int)i + 1, MC_CALL, lenient);
		while ((r = parse_call(p, st, &used)) == P_MORE &&
		    parts < JOIN_MAX && (k = next_part(l, n, j)) < n &&
		    join(buf, l[k]) == 0) {
			j = k;
			parts++;
			st->lenient |= MC_L_JOINED;
		}
		if (r != P_DONE) {
			st->kind = MC_BAD;
			if (r == P_MORE)
				st->why = "the call does not end (unbalanced "
				    "quote or parenthesis)";
			return i + 1;
		}
		st->text = xstrndup(p, used);
		if ((p = after_call(p + used, st, &lenient)) == NULL)
			return j + 1;
	}
}

static size_t
lex_line(char **l, size_t n, size_t i, struct mc_file *f)
{
	const char	*s = skip_ws(l[i]);
	struct mc_stmt	*st;
	unsigned	 noise = 0;
	size_t		 q;
	char		*save = NULL, *w, *copy;

	while (is_noise(s, &q)) {
		s = skip_ws(s + q);
		noise = MC_L_NOISE;
	}
	if (*s == '\0' || *s == '#')
		return i + 1;
	if (is_dnl(s)) {
		if (is_dnl(s) == 2 && *skip_ws(s + 3) != '\0') {
			st = push(f, (int)i + 1, MC_DN1, MC_L_DN1);
			st->text = xstrdup(skip_ws(s + 3));
		}
		return i + 1;
	}
	/* Cw/Fw class lines (Cwname may run the first word in) */
	if ((s[0] == 'C' || s[0] == 'F') && s[1] == 'w' && !starts_call(s)) {
		st = push(f, (int)i + 1, MC_CW, noise);
		memcpy(st->name, s, 2);
		st->text = xstrdup(s);
		copy = xstrdup(s + 2);
		for (w = strtok_r(copy, " \t", &save); w != NULL &&
		    st->nargs < MC_MAXARGS; w = strtok_r(NULL, " \t", &save))
			st->args[st->nargs++] = xstrdup(w);
		free(copy);
		return i + 1;
	}
	return lex_calls(l, n, i, s, noise, f);
}

int
mc_lex(const char *text, size_t len, struct mc_file *f)
{
	char	**l = NULL, *e;
	size_t	  n = 0, i, ll, *lens = NULL;

	memset(f, 0, sizeof(*f));
	while (len > 0) {
		e = memchr(text, '\n', len);
		ll = e != NULL ? (size_t)(e - text) : len;
		l = xreallocarray(l, n + 1, sizeof(*l));
		lens = xreallocarray(lens, n + 1, sizeof(*lens));
		lens[n] = ll;
		l[n] = xmalloc(ll + 1);
		memcpy(l[n], text, ll);
		l[n][ll] = '\0';
		if (ll > 0 && l[n][ll - 1] == '\r')
			l[n][--lens[n]] = '\0';
		n++;
		text += ll + (e != NULL);
		len -= ll + (e != NULL);
	}
	for (i = 0; i < n; ) {
		if (strlen(l[i]) < lens[i]) {
			push(f, (int)i + 1, MC_BAD, 0)->why = "a NUL byte: "
			    "not a text line";
			i++;
			continue;
		}
		i = lex_line(l, n, i, f);
	}
	free(lens);
	xfreev(l, n);
	return 0;
}

void
mc_free(struct mc_file *f)
{
	for (size_t i = 0; i < f->n; i++) {
		clear_args(&f->st[i]);
		free(f->st[i].text);
	}
	free(f->st);
	memset(f, 0, sizeof(*f));
}

void
mc_lenient_text(unsigned bits, char *out, size_t len)
{
	static const struct { unsigned bit; const char *text; } t[] = {
		{ MC_L_DN1, "`dn1' taken as `dnl'" },
		{ MC_L_QUOTES, "typographic or unbalanced quotes" },
		{ MC_L_NAME, "spaces inside the macro name" },
		{ MC_L_PAREN, "a space before `(' (m4 would not call it)" },
		{ MC_L_JOINED, "the call spans lines: joined" },
		{ MC_L_AFTERDNL, "a call after `dnl' on the same line (m4 "
		    "would ignore it)" },
		{ MC_L_NOISE, "stray characters around the call ignored" },
	};

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (bits & t[i].bit) {
			if (out[0] != '\0')
				strlcat(out, "; ", len);
			strlcat(out, t[i].text, len);
		}
}
