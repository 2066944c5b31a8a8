/*
 * hdr_addr: RFC 5322 address lists in header values, parsed in two flat
 * passes (tokens, then the grammar over tokens) so that nesting in the
 * input never becomes recursion here. Knows nothing of mail policy: it
 * says where addresses are, and rewrites only what its caller decides.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdr_addr.h"

#define BAD	SIZE_MAX	/* a grammar step did not match */

enum tok_type { T_ATOM, T_QSTR, T_DLIT, T_SPECIAL };

struct tok {
	enum tok_type	 type;
	char		 c;		/* T_SPECIAL: which */
	size_t		 start, end;	/* in the value */
};

struct parser {
	const char		*v;
	const struct tok	*t;
	size_t			 n;
	struct hdr_addr_list	*l;
};

/* RFC 5322 atext, and any octet >= 0x80 (RFC 6532 UTF-8 in names). */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Past a comment (nested ones too, counted, not recursed); v[*i] is '('. */
static int
skip_comment(const char *v, size_t len, size_t *i)
{
	size_t	 depth = 0;

	for (; *i < len; (*i)++) {
		if (v[*i] == '\\')
			(*i)++;
		else if (v[*i] == '(')
			depth++;
		else if (v[*i] == ')' && --depth == 0) {
			(*i)++;
			return 0;
		}
	}
	return -1;
}

/* Past a quoted string or domain literal; v[*i] is its opening. */
static int
skip_quoted(const char *v, size_t len, size_t *i, char close)
{
	for ((*i)++; *i < len; (*i)++) {
		if (v[*i] == '\\')
			(*i)++;
		else if (v[*i] == close) {
			(*i)++;
			return 0;
		} else if (close == ']' && v[*i] == '[')
			return -1;
	}
	return -1;
}

/* One token at v[*i] (not white space, not a comment) into t. */
static int
lex_one(const char *v, size_t len, size_t *i, struct tok *t,
    const char **why)
{
	unsigned char	 c = (unsigned char)v[*i];

	t->start = *i;
	t->c = 0;
	if (c == '"' || c == '[') {
		t->type = c == '"' ? T_QSTR : T_DLIT;
		if (skip_quoted(v, len, i, c == '"' ? '"' : ']') == -1) {
			*why = c == '"' ? "unterminated quoted string" :
			    "bad domain literal";
			return -1;
		}
	} else if (c != '\0' && strchr("<>:;@,.", c) != NULL) {
		t->type = T_SPECIAL;
		t->c = (char)c;
		(*i)++;
	} else if (is_atext(c)) {
		t->type = T_ATOM;
		while (*i < len && is_atext((unsigned char)v[*i]))
			(*i)++;
	} else {
		*why = "unexpected character";
		return -1;
	}
	t->end = *i;
	return 0;
}

/* The value as tokens; comments and folding white space dropped. */
static int
lex(const char *v, size_t len, struct tok **tp, size_t *np,
    const char **why)
{
	struct tok	*t = xreallocarray(NULL, len + 1, sizeof(*t));
	size_t		 i = 0, n = 0;

	while (i < len) {
		if (is_fws(v[i]))
			i++;
		else if (v[i] == '(') {
			if (skip_comment(v, len, &i) == -1) {
				*why = "unterminated comment";
				free(t);
				return -1;
			}
		} else if (lex_one(v, len, &i, &t[n++], why) == -1) {
			free(t);
			return -1;
		}
	}
	*tp = t;
	*np = n;
	return 0;
}

static int
is_sp(const struct parser *p, size_t i, char c)
{
	return i < p->n && p->t[i].type == T_SPECIAL && p->t[i].c == c;
}

static int
is_word(const struct parser *p, size_t i)
{
	return i < p->n && (p->t[i].type == T_ATOM || p->t[i].type == T_QSTR);
}

static int
is_atom(const struct parser *p, size_t i)
{
	return i < p->n && p->t[i].type == T_ATOM;
}

/* Where one list element may end. */
static int
at_end(const struct parser *p, size_t i)
{
	return i == p->n || is_sp(p, i, ',') || is_sp(p, i, ';');
}

/* local-part ["@" domain]; obs-local-part (words and dots) included. */
static size_t
addr_spec(const struct parser *p, size_t i, struct hdr_addr *a)
{
	size_t	 s = i;

	if (!is_word(p, i))
		return BAD;
	for (i++; is_sp(p, i, '.') && is_word(p, i + 1); i += 2)
		;
	a->local = p->t[s].start;
	a->local_len = p->t[i - 1].end - a->local;
	a->domain = a->domain_len = 0;
	a->literal = 0;
	if (!is_sp(p, i, '@'))
		return i;
	s = ++i;
	if (i < p->n && p->t[i].type == T_DLIT)
		a->literal = 1;
	else if (!is_atom(p, i))
		return BAD;
	for (i++; !a->literal && is_sp(p, i, '.') && is_atom(p, i + 1); i += 2)
		;
	a->domain = p->t[s].start;
	a->domain_len = p->t[i - 1].end - a->domain;
	return i;
}

/* "<" [obs-route] addr-spec ">"; i is at the "<". */
static size_t
angle_addr(const struct parser *p, size_t i, struct hdr_addr *a)
{
	i++;
	if (is_sp(p, i, '@') || is_sp(p, i, ',')) {	/* "@a,@b:" */
		while (i < p->n && !is_sp(p, i, ':') && !is_sp(p, i, '>') &&
		    p->t[i].type != T_QSTR)
			i++;
		if (!is_sp(p, i, ':'))
			return BAD;
		i++;
	}
	if ((i = addr_spec(p, i, a)) == BAD || !is_sp(p, i, '>'))
		return BAD;
	return i + 1;
}

/* addr-spec, or [display-name] angle-addr. The display name may carry
 * dots (obs-phrase) and, as many clients write it, a bare "@". */
static size_t
mailbox(const struct parser *p, size_t i, struct hdr_addr *a)
{
	size_t	 k = addr_spec(p, i, a);

	if (k != BAD && at_end(p, k))
		return k;
	for (k = i; is_word(p, k) || is_sp(p, k, '.') || is_sp(p, k, '@'); k++)
		;
	if (!is_sp(p, k, '<'))
		return BAD;
	return angle_addr(p, k, a);
}

static void
push(struct hdr_addr_list *l, const struct hdr_addr *a)
{
	l->a = xreallocarray(l->a, l->n + 1, sizeof(*l->a));
	l->a[l->n++] = *a;
}

/* display-name ":" [mailbox *("," mailbox)] ";". A group the value ends
 * without its ";" is taken as closed (seen in the wild). */
static size_t
group(const struct parser *p, size_t i)
{
	struct hdr_addr	 a;
	size_t		 k = i;

	while (is_word(p, k) || is_sp(p, k, '.'))
		k++;
	if (k == i || !is_word(p, i) || !is_sp(p, k, ':'))
		return BAD;
	for (k++;;) {
		while (is_sp(p, k, ','))
			k++;
		if (k == p->n)
			return k;
		if (is_sp(p, k, ';'))
			return k + 1;
		if ((k = mailbox(p, k, &a)) == BAD)
			return BAD;
		push(p->l, &a);
		if (!is_sp(p, k, ',') && !is_sp(p, k, ';') && k != p->n)
			return BAD;
	}
}

/* address-list, empty elements allowed (obs-addr-list). */
static int
address_list(const struct parser *p)
{
	struct hdr_addr	 a;
	size_t		 i = 0, k, saved;

	for (;;) {
		while (is_sp(p, i, ','))
			i++;
		if (i == p->n)
			return 0;
		saved = p->l->n;
		if ((k = group(p, i)) == BAD) {
			p->l->n = saved;
			if ((k = mailbox(p, i, &a)) == BAD)
				return -1;
			push(p->l, &a);
		}
		if (k == p->n)
			return 0;
		if (!is_sp(p, k, ','))
			return -1;
		i = k;
	}
}

int
hdr_addr_parse(const char *v, size_t len, struct hdr_addr_list *l,
    const char **why)
{
	struct parser	 p = { v, NULL, 0, l };
	struct tok	*t;
	int		 r;

	memset(l, 0, sizeof(*l));
	if (lex(v, len, &t, &p.n, why) == -1)
		return -1;
	p.t = t;
	if ((r = address_list(&p)) == -1) {
		*why = "not an address list";
		hdr_addr_free(l);
	}
	free(t);
	return r;
}

void
hdr_addr_free(struct hdr_addr_list *l)
{
	free(l->a);
	memset(l, 0, sizeof(*l));
}

/* The span's text without quotes, escapes, comments and white space. */
static int
span_plain(const char *v, size_t start, size_t len, char *out,
    size_t outlen)
{
	const char	*s = v + start, *e = s + len;
	size_t		 o = 0, i;
	int		 inq = 0;

	for (; s < e; s++) {
		if (!inq && *s == '(') {
			i = (size_t)(s - v);
			if (skip_comment(v, start + len, &i) == -1)
				return -1;
			s = v + i - 1;
			continue;
		}
		if (*s == '"') {
			inq = !inq;
			continue;
		}
		if (!inq && is_fws(*s))
			continue;
		if (*s == '\\' && s + 1 < e)
			s++;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = *s;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int
hdr_addr_local(const char *v, const struct hdr_addr *a, char *out,
    size_t outlen)
{
	return span_plain(v, a->local, a->local_len, out, outlen);
}

int
hdr_addr_domain(const char *v, const struct hdr_addr *a, char *out,
    size_t outlen)
{
	return span_plain(v, a->domain, a->domain_len, out, outlen);
}

int
hdr_addr_rewrite(struct buf *out, const char *v, size_t len,
    const struct hdr_addr_list *l, hdr_addr_fn *fn, void *arg)
{
	size_t	 pos = 0, at;
	int	 changed = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct hdr_addr	*a = &l->a[i];
		const char		*d = fn(arg, v, a);

		if (d == NULL)
			continue;
		at = a->domain_len ? a->domain : a->local + a->local_len;
		if (buf_append(out, v + pos, at - pos) == -1 ||
		    (a->domain_len == 0 && buf_putc(out, '@') == -1) ||
		    buf_puts(out, d) == -1)
			return -1;
		pos = a->domain_len ? a->domain + a->domain_len : at;
		changed++;
	}
	if (buf_append(out, v + pos, len - pos) == -1)
		return -1;
	return changed;
}
