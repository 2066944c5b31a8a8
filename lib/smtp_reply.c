/*
 * smtp_reply: parser for SMTP server replies and EHLO keywords.
 * Pure (no I/O, no allocation): everything it reads comes from a remote
 * server and is untrusted, so every line, count and number is bounded here.
 * It must never write past the fixed buffers of struct smtp_reply.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "smtp_reply.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	r->code = 0;
	r->esc[0] = '\0';
	r->text[0] = '\0';
	r->textlen = 0;
	r->truncated = 0;
	r->nlines = 0;
	r->done = 0;
}

/* Count 1..3 digits at s; return how many, 0 if none or more than 3. */
static size_t
digits13(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && isdigit((unsigned char)s[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

size_t
smtp_esc_len(const char *s, size_t len)
{
	size_t off, n;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	off = 2;
	if ((n = digits13(s + off, len - off)) == 0)
		return 0;
	off += n;
	if (off >= len || s[off] != '.')
		return 0;
	off++;
	if ((n = digits13(s + off, len - off)) == 0)
		return 0;
	off += n;
	if (off < len && s[off] != ' ')
		return 0;
	return off;
}

static void
text_append(struct smtp_reply *r, const char *s, size_t n)
{
	size_t room = sizeof(r->text) - 1 - r->textlen;

	if (n > room) {
		n = room;
		r->truncated = 1;
	}
	memcpy(r->text + r->textlen, s, n);
	r->textlen += n;
	r->text[r->textlen] = '\0';
}

int
smtp_reply_line(struct smtp_reply *r, const char *line, size_t len,
    const char **why)
{
	const char *text = "";
	size_t tlen = 0, el;
	int code, last;

	if (r->done) {
		*why = "reply already complete";
		return -1;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len + 2 > SMTP_REPLY_MAX_LINE) {
		*why = "reply line too long";
		return -1;
	}
	if (r->nlines >= SMTP_REPLY_MAX_LINES) {
		*why = "too many reply lines";
		return -1;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '5' ||
	    !isdigit((unsigned char)line[2])) {
		*why = "malformed reply";
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3 || line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else {
		*why = "malformed reply";
		return -1;
	}
	if (r->nlines > 0 && code != r->code) {
		*why = "reply code changed between lines";
		return -1;
	}
	if (len > 4) {
		text = line + 4;
		tlen = len - 4;
	}
	if (r->nlines == 0) {
		r->code = code;
		el = smtp_esc_len(text, tlen);
		if (el > 0 && el < sizeof(r->esc) && text[0] == line[0]) {
			memcpy(r->esc, text, el);
			r->esc[el] = '\0';
		}
	} else
		text_append(r, "\n", 1);
	text_append(r, text, tlen);
	r->nlines++;
	r->done = last;
	return last;
}

int
smtp_reply_parse(struct smtp_reply *r, const char *buf, size_t len,
    size_t *used, const char **why)
{
	size_t pos = 0;

	smtp_reply_init(r);
	*used = 0;
	while (pos < len) {
		size_t avail = len - pos, win, ll;
		const char *lf;
		int rv;

		win = avail < SMTP_REPLY_MAX_LINE ? avail : SMTP_REPLY_MAX_LINE;
		lf = memchr(buf + pos, '\n', win);
		if (lf == NULL) {
			if (avail >= SMTP_REPLY_MAX_LINE) {
				*why = "reply line too long";
				return -1;
			}
			return 0;
		}
		ll = (size_t)(lf - (buf + pos));
		rv = smtp_reply_line(r, buf + pos, ll, why);
		if (rv == -1)
			return -1;
		pos += ll + 1;
		if (rv == 1) {
			*used = pos;
			return 1;
		}
	}
	return 0;
}

size_t
smtp_reply_flat(const struct smtp_reply *r, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return 0;
	if (outlen > 4) {
		out[o++] = (char)('0' + r->code / 100 % 10);
		out[o++] = (char)('0' + r->code / 10 % 10);
		out[o++] = (char)('0' + r->code % 10);
	}
	if (r->textlen > 0 && o + 1 < outlen)
		out[o++] = ' ';
	for (size_t i = 0; i < r->textlen && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if (c == '\n')
			c = ' ';
		else if (c < 0x20 || c > 0x7e)
			c = '?';
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o;
}

/* Parse a decimal number with overflow check; -1 if bad. */
static int
parse_ull(const char *s, size_t len, unsigned long long *out)
{
	unsigned long long v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		if (v > (~0ULL - 9) / 10)
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
kw_is(const char *kw, size_t kl, const char *name)
{
	return strlen(name) == kl && strncasecmp(kw, name, kl) == 0;
}

static void
ehlo_auth(struct smtp_ehlo *e, const char *p, size_t n)
{
	size_t o = 0;

	e->auth = 1;
	while (n > 0 && *p == ' ') {
		p++;
		n--;
	}
	for (size_t i = 0; i < n && o + 1 < sizeof(e->auth_mechs); i++)
		e->auth_mechs[o++] = (char)toupper((unsigned char)p[i]);
	e->auth_mechs[o] = '\0';
}

/* The keywords that only say "offered". */
static const struct {
	const char	*kw;
	size_t		 off;
} ehlo_flags[] = {
	{ "PIPELINING", offsetof(struct smtp_ehlo, pipelining) },
	{ "8BITMIME", offsetof(struct smtp_ehlo, eightbitmime) },
	{ "STARTTLS", offsetof(struct smtp_ehlo, starttls) },
	{ "ENHANCEDSTATUSCODES",
	    offsetof(struct smtp_ehlo, enhancedstatuscodes) },
	{ "SMTPUTF8", offsetof(struct smtp_ehlo, smtputf8) },
	{ "DSN", offsetof(struct smtp_ehlo, dsn) },
	{ "CHUNKING", offsetof(struct smtp_ehlo, chunking) },
};

static void
ehlo_line(struct smtp_ehlo *e, const char *l, size_t n)
{
	size_t kl = 0;
	const char *arg;
	size_t alen;

	while (kl < n && l[kl] != ' ' && l[kl] != '=')
		kl++;
	arg = l + kl;
	alen = n - kl;
	if (alen > 0) {		/* skip the separator */
		arg++;
		alen--;
	}
	while (alen > 0 && *arg == ' ') {
		arg++;
		alen--;
	}
	while (alen > 0 && arg[alen - 1] == ' ')
		alen--;
	for (size_t i = 0; i < sizeof(ehlo_flags) / sizeof(ehlo_flags[0]); i++)
		if (kw_is(l, kl, ehlo_flags[i].kw)) {
			*(int *)((char *)e + ehlo_flags[i].off) = 1;
			return;
		}
	if (kw_is(l, kl, "SIZE")) {
		unsigned long long v;

		e->size = 1;
		if (alen > 0 && parse_ull(arg, alen, &v) == 0)
			e->size_max = v;
	} else if (kw_is(l, kl, "AUTH"))
		ehlo_auth(e, arg, alen);
}

void
smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e)
{
	const char *p = r->text, *end = r->text + r->textlen, *nl;

	memset(e, 0, sizeof(*e));
	if (r->code / 100 != 2)
		return;
	/* line 1 is "domain greeting" */
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		return;
	p = nl + 1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			if (r->truncated)	/* a cut line: don't guess */
				break;
			nl = end;
		}
		ehlo_line(e, p, (size_t)(nl - p));
		p = nl + 1;
	}
}
