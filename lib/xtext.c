/*
 * xtext: encoding and decoding of the DSN parameters of RFC 3461 (ENVID,
 * ORCPT) and the NOTIFY list. Input is untrusted: every write is checked
 * against the output's size first; never accepts what it cannot put back.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "xtext.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not xtext (RFC 3461 4) */
}

int
xtext_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '+') {
			int h, l;
			if (len - i < 3)
				return -1;
			if ((h = hexval(in[i + 1])) == -1 ||
			    (l = hexval(in[i + 2])) == -1)
				return -1;
			c = (unsigned char)(h << 4 | l);
			i += 2;
			if (c < 32 || c > 126)
				return -1;
		} else if (c < 33 || c > 126 || c == '=')
			return -1;
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
}

int
dsn_text_ok(const char *v, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 32 || v[i] > 126)
			return 0;
	return 1;
}

int
xtext_encode(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outlen)
				return -1;
			snprintf(out + o, 4, "+%02X", c);
			o += 3;
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

static const struct {
	const char	*word;
	int		 flag;
} notify_words[] = {
	{ "NEVER", DSN_NOTIFY_NEVER },
	{ "SUCCESS", DSN_NOTIFY_SUCCESS },
	{ "FAILURE", DSN_NOTIFY_FAILURE },
	{ "DELAY", DSN_NOTIFY_DELAY },
};

int
dsn_notify_parse(const char *v)
{
	int flags = 0;

	if (*v == '\0')
		return -1;
	while (*v) {
		size_t n = strcspn(v, ","), k;
		for (k = 0; k < 4; k++)
			if (strlen(notify_words[k].word) == n &&
			    strncasecmp(v, notify_words[k].word, n) == 0)
				break;
		if (k == 4 || (flags & notify_words[k].flag))
			return -1;
		flags |= notify_words[k].flag;
		v += n;
		if (*v == ',' && *++v == '\0')
			return -1;	/* trailing comma */
	}
	/* NEVER stands alone (RFC 3461 4.1) */
	if ((flags & DSN_NOTIFY_NEVER) && flags != DSN_NOTIFY_NEVER)
		return -1;
	return flags;
}

void
dsn_notify_format(int flags, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t k = 0; k < 4; k++) {
		if (!(flags & notify_words[k].flag))
			continue;
		int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "",
		    notify_words[k].word);
		if (n < 0 || (size_t)n >= outlen - o)
			return;
		o += (size_t)n;
	}
}

int
dsn_orcpt_parse(const char *v, char *out, size_t outlen)
{
	const char *semi = strchr(v, ';');
	size_t tl;

	if (strlen(v) > DSN_ORCPT_MAX || semi == NULL || semi == v)
		return -1;
	tl = (size_t)(semi - v);
	for (size_t i = 0; i < tl; i++)	/* addr-type is an atom */
		if (!isalnum((unsigned char)v[i]) && v[i] != '-')
			return -1;
	if (tl + 2 > outlen)
		return -1;
	memcpy(out, v, tl + 1);
	if (xtext_decode(semi + 1, strlen(semi + 1), out + tl + 1,
	    outlen - tl - 1) < 1)
		return -1;
	return 0;
}
