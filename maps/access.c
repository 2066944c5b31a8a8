/*
 * access: sendmail-style access DB on top of map. Values are parsed into
 * an action and an SMTP reply; lookups walk from the most specific key
 * (full address, full IP) to the least specific, tagged before untagged.
 */
#include <sys/types.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <string.h>

#include "map.h"

#define ACCESS_KEYMAX	1024

static const struct {
	const char		*word;
	enum access_action	 action;
	const char		*reply;
} keywords[] = {
	{ "OK",		ACCESS_OK,	 "" },
	{ "RELAY",	ACCESS_RELAY,	 "" },
	{ "REJECT",	ACCESS_REJECT,	 "550 5.7.1 Access denied" },
	{ "DISCARD",	ACCESS_DISCARD,	 "" },
	{ "SKIP",	ACCESS_SKIP,	 "" },
	{ "TEMPFAIL",	ACCESS_TEMPFAIL, "451 4.7.1 Try again later" },
};

/* "d.d.d" with 1-3 digit parts after the class digit; returns length. */
static size_t
enhanced_code(const char *s)
{
	const char	*p = s;
	int		 part, n;

	if (*p != '2' && *p != '4' && *p != '5')
		return 0;
	p++;
	for (part = 0; part < 2; part++) {
		if (*p++ != '.')
			return 0;
		for (n = 0; isdigit((unsigned char)*p); n++)
			p++;
		if (n < 1 || n > 3)
			return 0;
	}
	return p - s;
}

/* "550 text" (text may start with x.y.z) into reply; esc overrides. */
static int
error_reply(const char *s, size_t slen, const char *esc, size_t esclen,
    struct access_result *res)
{
	char		 code[4];
	const char	*text;
	size_t		 tlen, elen;

	while (slen > 0 && isspace((unsigned char)*s)) {
		s++;
		slen--;
	}
	while (slen > 0 && isspace((unsigned char)s[slen - 1]))
		slen--;
	if (slen < 3 || (s[0] != '4' && s[0] != '5') ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]) ||
	    (slen > 3 && s[3] != ' ' && s[3] != '-'))
		return -1;
	memcpy(code, s, 3);
	code[3] = '\0';
	text = s + 3;
	tlen = slen - 3;
	while (tlen > 0 && isspace((unsigned char)*text)) {
		text++;
		tlen--;
	}
	if (esc == NULL && (elen = enhanced_code(text)) > 0 &&
	    (elen == tlen || isspace((unsigned char)text[elen]))) {
		esc = text;
		esclen = elen;
		text += elen;
		tlen -= elen;
		while (tlen > 0 && isspace((unsigned char)*text)) {
			text++;
			tlen--;
		}
	}
	if (esc == NULL) {
		esc = code[0] == '5' ? "5.7.1" : "4.7.1";
		esclen = 5;
	}
	if (tlen == 0) {
		text = code[0] == '5' ? "Access denied" : "Try again later";
		tlen = strlen(text);
	}
	if (memchr(text, '\r', tlen) != NULL || memchr(text, '\n', tlen))
		return -1;
	snprintf(res->reply, sizeof(res->reply), "%s %.*s %.*s", code,
	    (int)esclen, esc, (int)tlen, text);
	res->action = ACCESS_ERROR;
	return 0;
}

int
access_value_parse(const char *val, struct access_result *res)
{
	const char	*s, *q;
	size_t		 len, i, elen;

	res->action = ACCESS_NONE;
	res->reply[0] = '\0';
	for (s = val; isspace((unsigned char)*s); s++)
		;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strlen(keywords[i].word) == len &&
		    strncasecmp(s, keywords[i].word, len) == 0) {
			res->action = keywords[i].action;
			strlcpy(res->reply, keywords[i].reply,
			    sizeof(res->reply));
			return 0;
		}
	}
	if (len < 6 || strncasecmp(s, "ERROR:", 6) != 0)
		return -1;
	s += 6;
	len -= 6;
	if (len > 0 && *s == '"') {
		/* ERROR:"550 text" */
		s++;
		len--;
		if ((q = memchr(s, '"', len)) != NULL)
			len = q - s;
		return error_reply(s, len, NULL, 0, res);
	}
	if ((elen = enhanced_code(s)) > 0 && elen < len && s[elen] == ':') {
		/* ERROR:5.7.1:550 text */
		q = s + elen + 1;
		if (*q == '"') {
			const char *e;

			q++;
			e = memchr(q, '"', len - (q - s));
			return error_reply(q, e ? (size_t)(e - q) :
			    len - (q - s), s, elen, res);
		}
		return error_reply(q, len - (q - s), s, elen, res);
	}
	return error_reply(s, len, NULL, 0, res);
}

size_t
access_ip_keys(const char *ip, char keys[][64], size_t max)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	char		 buf[64], *p;
	size_t		 n = 0, len;
	int		 i;

	if (strncasecmp(ip, "ipv6:", 5) == 0)
		ip += 5;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		inet_ntop(AF_INET, &a4, buf, sizeof(buf));
		goto v4;
	}
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], buf, sizeof(buf));
		goto v4;
	}
	strlcpy(buf, "IPv6", sizeof(buf));
	for (i = 0; i < 8; i++) {
		len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, ":%x",
		    (a6.s6_addr[2 * i] << 8) | a6.s6_addr[2 * i + 1]);
	}
	while (n < max) {
		strlcpy(keys[n++], buf, 64);
		p = strrchr(buf, ':');
		if (p == buf + 4)	/* only "IPv6" would remain */
			break;
		*p = '\0';
	}
	return n;
v4:
	while (n < max) {
		strlcpy(keys[n++], buf, 64);
		if ((p = strrchr(buf, '.')) == NULL)
			break;
		*p = '\0';
	}
	return n;
}

static void
res_init(struct access_result *res)
{
	res->action = ACCESS_NONE;
	res->reply[0] = '\0';
	res->key[0] = '\0';
}

/*
 * Look "tag:name" then "name" up. Returns 1 on a hit (res filled; SKIP
 * gives action SKIP), 0 if absent, -1 on error or a bad value.
 */
static int
try_key(const struct map *m, const char *tag, const char *name,
    struct access_result *res)
{
	char	 key[ACCESS_KEYMAX], *val;
	int	 pass, r, n;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 0)
			n = snprintf(key, sizeof(key), "%s:%s", tag, name);
		else
			n = snprintf(key, sizeof(key), "%s", name);
		if (n < 0 || (size_t)n >= sizeof(key))
			continue;
		if ((r = map_lookup(m, key, &val)) == -1)
			return -1;
		if (r == 0)
			continue;
		r = access_value_parse(val, res);
		free(val);
		strlcpy(res->key, key, sizeof(res->key));
		return r == -1 ? -1 : 1;
	}
	return 0;
}

/* Hit handling shared by the checks: 1 found, 0 stop (SKIP). */
static int
hit(struct access_result *res)
{
	if (res->action == ACCESS_SKIP) {
		res->action = ACCESS_NONE;
		res->reply[0] = '\0';
		return 0;
	}
	return 1;
}

/* name, then each parent domain; -1 error, 1 found, 0 none. */
static int
try_domain(const struct map *m, const char *tag, const char *dom,
    struct access_result *res)
{
	char		 d[ACCESS_KEYMAX];
	const char	*p;
	size_t		 len;
	int		 r;

	if (strlcpy(d, dom, sizeof(d)) >= sizeof(d))
		return 0;
	len = strlen(d);
	if (len > 1 && d[len - 1] == '.')
		d[len - 1] = '\0';
	if (d[0] == '\0')
		return 0;
	if (d[0] == '[')	/* address literal: no parents */
		return try_key(m, tag, d, res);
	for (p = d; p != NULL && *p != '\0'; ) {
		if ((r = try_key(m, tag, p, res)) != 0)
			return r;
		if ((p = strchr(p, '.')) != NULL)
			p++;
	}
	return 0;
}

int
access_check_connect(const struct map *m, const char *ip,
    const char *verified_name, struct access_result *res)
{
	char	 keys[16][64];
	size_t	 n, i;
	int	 r;

	res_init(res);
	n = access_ip_keys(ip, keys, 16);
	for (i = 0; i < n; i++) {
		if ((r = try_key(m, "Connect", keys[i], res)) == -1)
			return -1;
		if (r == 1)
			return hit(res);
	}
	if (verified_name != NULL) {
		if ((r = try_domain(m, "Connect", verified_name, res)) == -1)
			return -1;
		if (r == 1)
			return hit(res);
	}
	return 0;
}

int
access_check_addr(const struct map *m, const char *tag, const char *addr,
    struct access_result *res)
{
	char	 a[ACCESS_KEYMAX], user[ACCESS_KEYMAX + 2], *at;
	size_t	 len;
	int	 r;

	res_init(res);
	/* strip <...> */
	if (*addr == '<')
		addr++;
	if (strlcpy(a, addr, sizeof(a)) >= sizeof(a))
		return 0;
	len = strlen(a);
	if (len > 0 && a[len - 1] == '>')
		a[--len] = '\0';
	if (len == 0) {
		/* the null sender */
		if ((r = try_key(m, tag, "<>", res)) == 1)
			return hit(res);
		return r;
	}
	if ((r = try_key(m, tag, a, res)) == -1)
		return -1;
	if (r == 1)
		return hit(res);
	if ((at = strrchr(a, '@')) != NULL) {
		if ((r = try_domain(m, tag, at + 1, res)) == -1)
			return -1;
		if (r == 1)
			return hit(res);
		at[1] = '\0';
		strlcpy(user, a, sizeof(user));
	} else
		snprintf(user, sizeof(user), "%s@", a);
	if ((r = try_key(m, tag, user, res)) == -1)
		return -1;
	if (r == 1)
		return hit(res);
	return 0;
}
