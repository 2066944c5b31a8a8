/*
 * addr: parse and format RFC 5321 reverse/forward paths.
 * Pure functions on untrusted input: every length is checked against the
 * fixed arrays in struct addr before anything is copied.
 */
#include <ctype.h>
#include <string.h>

#include "addr.h"
#include "utf8.h"

#define LOCAL_MAX	64
#define DOMAIN_MAX	255
#define LABEL_MAX	63

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* RFC 5322 atext, plus UTF-8 bytes for SMTPUTF8. */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if (isalnum(c))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_domchar(unsigned char c)
{
	return c >= 0x80 || isalnum(c) || c == '-';
}

/* Validate a dot-separated domain; one trailing dot is tolerated. */
static int
domain_ok(const char *d, size_t len, const char **why)
{
	size_t	 i, label = 0;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0) {
		*why = "empty domain";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = d[i];

		if (c == '.') {
			if (label == 0) {
				*why = "empty domain label";
				return -1;
			}
			label = 0;
			continue;
		}
		if (is_ctl(c)) {
			*why = "control character in domain";
			return -1;
		}
		if (!is_domchar(c)) {
			*why = "invalid character in domain";
			return -1;
		}
		if (++label > LABEL_MAX) {
			*why = "domain label too long";
			return -1;
		}
	}
	if (label == 0) {
		*why = "empty domain label";
		return -1;
	}
	return 0;
}

/* Validate "[...]": printable, no space, brackets or backslash inside. */
static int
literal_ok(const char *d, size_t len, const char **why)
{
	size_t	 i;

	if (len < 3 || d[0] != '[' || d[len - 1] != ']') {
		*why = "unbalanced brackets in domain";
		return -1;
	}
	for (i = 1; i < len - 1; i++) {
		unsigned char c = d[i];

		if (is_ctl(c) || c == ' ' || c == '[' || c == ']' ||
		    c == '\\' || c >= 0x80) {
			*why = "invalid address literal";
			return -1;
		}
	}
	return 0;
}

/* Skip a source route "@a,@b:"; returns bytes consumed or -1. */
static int
skip_route(const char *p, size_t len, size_t *used, const char **why)
{
	size_t	 i = 0, start;

	while (i < len && p[i] == '@') {
		start = ++i;
		while (i < len && p[i] != ',' && p[i] != ':')
			i++;
		if (i == len) {
			*why = "bad source route";
			return -1;
		}
		if (domain_ok(p + start, i - start, why) == -1)
			return -1;
		if (p[i++] == ':') {
			*used = i;
			return 0;
		}
	}
	*why = "bad source route";
	return -1;
}

/* Strip the "<...>" around the path in p, n. 1 if it was the null path
 * <>, 0, or -1 with *why set. */
static int
strip_angles(const char **p, size_t *n, const char **why)
{
	if (*n > 0 && (*p)[0] == '<') {
		if (*n < 2 || (*p)[*n - 1] != '>') {
			*why = "unbalanced angle brackets";
			return -1;
		}
		(*p)++;
		*n -= 2;
		if (*n == 0)
			return 1;
	} else if (*n > 0 && (*p)[*n - 1] == '>') {
		*why = "unbalanced angle brackets";
		return -1;
	}
	if (*n == 0) {
		*why = "empty address";
		return -1;
	}
	return 0;
}

/* A quoted local part "..." at p: unquoted into a->local. Returns the
 * bytes used (up to the '@' or the end), or 0 with *why set. */
static size_t
local_quoted(const char *p, size_t n, struct addr *a, const char **why)
{
	size_t	 i, l = 0;

	a->quoted = 1;
	for (i = 1; i < n && p[i] != '"'; i++) {
		unsigned char c = p[i];

		if (c == '\\') {
			if (++i == n)
				break;
			c = p[i];
		}
		if (l >= LOCAL_MAX) {
			*why = "local part too long";
			return 0;
		}
		a->local[l++] = c;
	}
	if (i >= n) {
		*why = "unterminated quoted string";
		return 0;
	}
	i++;			/* closing quote */
	if (i < n && p[i] != '@') {
		*why = "junk after quoted local part";
		return 0;
	}
	a->local[l] = '\0';
	return i;
}

/* A dot-atom local part at p, copied into a->local. Returns the bytes
 * used (up to the '@' or the end), or 0 with *why set. */
static size_t
local_atom(const char *p, size_t n, struct addr *a, const char **why)
{
	size_t	 i;

	for (i = 0; i < n && p[i] != '@'; i++) {
		unsigned char c = p[i];

		if (c == ' ' || c == '\t') {
			*why = "space in address";
			return 0;
		}
		if (c != '.' && !is_atext(c)) {
			*why = "invalid character in local part";
			return 0;
		}
		if (i >= LOCAL_MAX) {
			*why = "local part too long";
			return 0;
		}
		a->local[i] = c;
	}
	if (i == 0) {
		*why = "empty local part";
		return 0;
	}
	a->local[i] = '\0';
	return i;
}

/* The domain after the '@' (dlen bytes at dom), checked and copied. */
static int
domain_parse(const char *dom, size_t dlen, struct addr *a, const char **why)
{
	if (dlen == 0) {
		*why = "empty domain";
		return -1;
	}
	if (dlen > DOMAIN_MAX) {
		*why = "domain too long";
		return -1;
	}
	if (dom[0] == '[') {
		if (literal_ok(dom, dlen, why) == -1)
			return -1;
	} else if (memchr(dom, ']', dlen) != NULL) {
		*why = "unbalanced brackets in domain";
		return -1;
	} else if (domain_ok(dom, dlen, why) == -1)
		return -1;
	memcpy(a->domain, dom, dlen);
	a->domain[dlen] = '\0';
	if (dom[0] != '[')
		addr_domain_norm(a->domain);
	return 0;
}

int
addr_parse_path(const char *in, size_t len, int allow_null, struct addr *a,
    const char **why)
{
	const char	*p, *dummy;
	size_t		 i, n, used;
	int		 r;

	if (why == NULL)
		why = &dummy;
	memset(a, 0, sizeof(*a));
	if (in == NULL) {
		*why = "empty address";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (in[i] == '\0' || is_ctl((unsigned char)in[i])) {
			*why = "control character in address";
			return -1;
		}
	}
	p = in;
	n = len;
	if ((r = strip_angles(&p, &n, why)) != 0) {
		if (r == 1 && !allow_null)
			*why = "null path not allowed";
		else if (r == 1)
			a->null = 1;
		return r == 1 && allow_null ? 0 : -1;
	}
	if (p[0] == '@') {
		if (skip_route(p, n, &used, why) == -1)
			return -1;
		p += used;
		n -= used;
		if (n == 0) {
			*why = "missing mailbox after source route";
			return -1;
		}
	}
	i = p[0] == '"' ? local_quoted(p, n, a, why) : local_atom(p, n, a, why);
	if (i == 0)
		return -1;
	if (i < n && domain_parse(p + i + 1, n - i - 1, a, why) == -1)
		return -1;
	/* RFC 6531 section 3.3: the 8-bit octets are UTF-8, nothing else */
	if (!utf8_valid(a->local, strlen(a->local)) ||
	    !utf8_valid(a->domain, strlen(a->domain))) {
		*why = ADDR_BAD_UTF8;
		return -1;
	}
	return 0;
}

/* Does a local part need quoting to be a valid dot-atom? */
static int
needs_quote(const char *s)
{
	size_t	 i;

	if (s[0] == '\0' || s[0] == '.')
		return 1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.' || s[i + 1] == '\0')
				return 1;
			continue;
		}
		if (!is_atext((unsigned char)s[i]))
			return 1;
	}
	return 0;
}

/* Append one byte, keeping room for the NUL. */
static int
put(char *out, size_t outlen, size_t *o, char c)
{
	if (*o + 1 >= outlen)
		return -1;
	out[(*o)++] = c;
	return 0;
}

int
addr_format(const struct addr *a, char *out, size_t outlen)
{
	size_t		 o = 0, i;
	const char	*s;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (a->null)
		return 0;
	if (needs_quote(a->local)) {
		if (put(out, outlen, &o, '"') == -1)
			goto fail;
		for (s = a->local; *s != '\0'; s++) {
			if ((*s == '"' || *s == '\\') &&
			    put(out, outlen, &o, '\\') == -1)
				goto fail;
			if (put(out, outlen, &o, *s) == -1)
				goto fail;
		}
		if (put(out, outlen, &o, '"') == -1)
			goto fail;
	} else {
		for (s = a->local; *s != '\0'; s++)
			if (put(out, outlen, &o, *s) == -1)
				goto fail;
	}
	if (a->domain[0] != '\0') {
		if (put(out, outlen, &o, '@') == -1)
			goto fail;
		for (i = 0; a->domain[i] != '\0'; i++)
			if (put(out, outlen, &o, a->domain[i]) == -1)
				goto fail;
	}
	out[o] = '\0';
	return 0;
fail:
	out[0] = '\0';
	return -1;
}

void
addr_domain_norm(char *d)
{
	size_t	 n;

	for (n = 0; d[n] != '\0'; n++)
		if ((unsigned char)d[n] < 0x80)
			d[n] = tolower((unsigned char)d[n]);
	if (n > 0 && d[n - 1] == '.')
		d[n - 1] = '\0';
}

size_t
addr_local_base_len(const char *local)
{
	return strcspn(local, "+");
}

int
addr_has8bit(const struct addr *a)
{
	return utf8_has8bit(a->local, strlen(a->local)) ||
	    utf8_has8bit(a->domain, strlen(a->domain));
}
