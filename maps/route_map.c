/*
 * route_map: virtual_map (virtusertable) and transport_map (mailertable)
 * for the routing decision: their value syntax (checked the same way by
 * `postern map`, `postern check` and at lookup) and their search orders.
 * Lookups only: never opens a file after route_init, never resolves a
 * name, and never looks a virtual_map result up again (one level).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idn.h"
#include "route.h"
#include "utf8.h"

#define ERR_DEFAULT_TEXT	"Address rejected"

/* Sendmail's error mailer host words (sysexits names). */
static const struct {
	const char	*word;
	int		 code;
	const char	*dsn, *text;
} err_words[] = {
	{ "nouser", 550, "5.1.1", "User unknown" },
	{ "nohost", 550, "5.1.2", "Host unknown" },
	{ "unavailable", 550, "5.0.0", "Service unavailable" },
	{ "tempfail", 451, "4.0.0", "Try again later" },
};

static const char *const tls_words[] = { "none", "may", "encrypt", "verify" };

static int
why_set(char *why, size_t len, const char *fmt, const char *arg)
{
	snprintf(why, len, fmt, arg);
	return -1;
}

/* "D.S.N" with D the class digit; its length, or 0. */
static size_t
dsn_len(const char *s)
{
	const char *p = s;
	int parts = 0;

	if (*p != '4' && *p != '5')
		return 0;
	p++;
	while (parts < 2) {
		size_t n = 0;

		if (*p++ != '.')
			return 0;
		while (isdigit((unsigned char)p[n]))
			n++;
		if (n < 1 || n > 3)
			return 0;
		p += n;
		parts++;
	}
	return (size_t)(p - s);
}

/* "4xx" or "5xx" followed by a space or the end. */
static int
code_parse(const char *s, int *code)
{
	if ((s[0] != '4' && s[0] != '5') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (s[3] != '\0' && s[3] != ' '))
		return -1;
	*code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return 0;
}

static int
text_ok(const char *t)
{
	for (; *t != '\0'; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			return 0;
	return 1;
}

/* The code, DSN and text of an error: value into e. */
static int
error_fill(struct route_error *e, int code, const char *dsn, size_t dlen,
    const char *text, char *why, size_t whylen)
{
	while (*text == ' ' || *text == '\t')
		text++;
	if (*text == '\0')
		text = ERR_DEFAULT_TEXT;
	if (!text_ok(text))
		return why_set(why, whylen, "%s",
		    "error: control character in the text");
	if (dlen + 1 + strlen(text) >= sizeof(e->text))
		return why_set(why, whylen, "%s", "error: text too long");
	e->code = code;
	snprintf(e->text, sizeof(e->text), "%.*s %s", (int)dlen, dsn, text);
	return 0;
}

int
route_error_parse(const char *val, struct route_error *e, char *why,
    size_t whylen)
{
	const char *p;
	size_t n;
	int code;

	memset(e, 0, sizeof(*e));
	if (strncasecmp(val, "error:", 6) != 0)
		return why_set(why, whylen, "%s", "not an error: target");
	p = val + 6;
	if ((n = dsn_len(p)) > 0 && p[n] == ':') {
		if (code_parse(p + n + 1, &code) == -1 || code / 100 !=
		    p[0] - '0')
			return why_set(why, whylen, "bad error: syntax \"%s\" "
			    "(error:D.S.N:CODE text, CODE 4xx or 5xx of the "
			    "same class as D.S.N)", val);
		return error_fill(e, code, p, n, p + n + 4, why, whylen);
	}
	if (code_parse(p, &code) == 0)
		return error_fill(e, code, code / 100 == 4 ? "4.0.0" : "5.0.0",
		    5, p + 3, why, whylen);
	for (size_t i = 0; i < sizeof(err_words) / sizeof(err_words[0]); i++) {
		n = strlen(err_words[i].word);
		if (strncasecmp(p, err_words[i].word, n) != 0 ||
		    (p[n] != '\0' && p[n] != ' ' && p[n] != '\t'))
			continue;
		p += strspn(p + n, " \t") + n;
		return error_fill(e, err_words[i].code, err_words[i].dsn, 5,
		    *p != '\0' ? p : err_words[i].text, why, whylen);
	}
	return why_set(why, whylen, "bad error: syntax \"%s\" (error:D.S.N:"
	    "CODE text, error:CODE text, or error:nouser|nohost|unavailable|"
	    "tempfail text)", val);
}

static int
host_char(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

/* "[host]", "[host]:port", "host", "host:port" (remote's next hop). */
static int
nexthop_check(const char *h, char *why, size_t whylen)
{
	const char *p = h, *port = NULL;

	if (*p == '[') {
		const char *e = strchr(p, ']');

		if (e == NULL || e == p + 1)
			return why_set(why, whylen, "bad host \"%s\"", h);
		for (p++; p < e; p++)
			if (!host_char((unsigned char)*p) && *p != ':')
				return why_set(why, whylen, "bad host \"%s\"",
				    h);
		if (e[1] == ':')
			port = e + 2;
		else if (e[1] != '\0')
			return why_set(why, whylen, "bad host \"%s\"", h);
	} else {
		for (; *p != '\0' && *p != ':'; p++)
			if (!host_char((unsigned char)*p))
				return why_set(why, whylen, "bad host \"%s\"",
				    h);
		if (p == h)
			return why_set(why, whylen, "%s", "no host");
		if (*p == ':')
			port = p + 1;
	}
	if (port != NULL) {
		char *end;
		long v = strtol(port, &end, 10);

		if (!isdigit((unsigned char)*port) || *end != '\0' || v < 1 ||
		    v > 65535)
			return why_set(why, whylen, "bad port in \"%s\" "
			    "(1-65535)", h);
	}
	return 0;
}

/* The words after the target: "tls=WORD". */
static int
target_options(char *opts, struct route_target *t, char *why, size_t whylen)
{
	char *w, *save = NULL;

	for (w = strtok_r(opts, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		size_t i, n = sizeof(tls_words) / sizeof(tls_words[0]);

		if (strncasecmp(w, "tls=", 4) != 0)
			return why_set(why, whylen, "unknown option \"%s\" "
			    "(tls=none|may|encrypt|verify)", w);
		for (i = 0; i < n; i++)
			if (strcasecmp(w + 4, tls_words[i]) == 0)
				break;
		if (i == n)
			return why_set(why, whylen, "bad %s "
			    "(tls=none|may|encrypt|verify)", w);
		if (t->kind != RT_RELAY && t->kind != RT_SMTP)
			return why_set(why, whylen, "%s applies to relay: and "
			    "smtp: targets only", w);
		t->tls = (int)i;
	}
	return 0;
}

int
route_target_parse(const char *val, struct route_target *t, char *why,
    size_t whylen)
{
	char buf[ROUTE_NEXTHOP_MAX + 64], *colon, *rest, *opts;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->tls = -1;
	if (strncasecmp(val, "error:", 6) == 0) {
		t->kind = RT_ERROR;
		return route_error_parse(val, &t->err, why, whylen);
	}
	if (strchr(val, '%') != NULL)
		return why_set(why, whylen, "\"%s\": %% is not supported in "
		    "transport_map", val);
	if (strlcpy(buf, val, sizeof(buf)) >= sizeof(buf))
		return why_set(why, whylen, "%s", "target too long");
	n = strcspn(buf, " \t");
	opts = buf + n;
	if (*opts != '\0')
		*opts++ = '\0';
	if ((colon = strchr(buf, ':')) == NULL)
		return why_set(why, whylen, "\"%s\": no mailer (relay:, smtp:, "
		    "local: or error:)", buf);
	*colon = '\0';
	rest = colon + 1;
	if (strcasecmp(buf, "relay") == 0)
		t->kind = RT_RELAY;
	else if (strcasecmp(buf, "smtp") == 0 || strcasecmp(buf, "esmtp") == 0)
		t->kind = RT_SMTP;
	else if (strcasecmp(buf, "local") == 0)
		t->kind = RT_LOCAL;
	else
		return why_set(why, whylen, "unknown mailer \"%s\" (relay, "
		    "smtp, esmtp, local, error)", buf);
	if (t->kind == RT_LOCAL) {
		if (strpbrk(rest, "@:[]\"\\") != NULL)
			return why_set(why, whylen, "bad local user \"%s\"",
			    rest);
	} else if (*rest == '\0')
		return why_set(why, whylen, "%s: needs a host", buf);
	else if (nexthop_check(rest, why, whylen) == -1)
		return -1;
	if (strlcpy(t->host, rest, sizeof(t->host)) >= sizeof(t->host))
		return why_set(why, whylen, "%s", "host too long");
	return target_options(opts, t, why, whylen);
}

/* A virtual_map target: one address, a local name, or error:. */
int
route_virtual_check(const char *key, const char *val, char *why,
    size_t whylen)
{
	struct route_error e;
	struct addr a;
	char buf[ROUTE_ADDR_MAX], *o = buf;
	const char *at = strrchr(key, '@'), *p, *w;

	if (at == NULL || at[1] == '\0')
		return why_set(why, whylen, "key \"%s\": user@domain or "
		    "@domain", key);
	if (strncasecmp(val, "error:", 6) == 0)
		return route_error_parse(val, &e, why, whylen);
	if (val[strcspn(val, " \t,")] != '\0')
		return why_set(why, whylen, "\"%s\": one target per entry (an "
		    "alias may list several)", val);
	for (p = val; *p != '\0' && o < buf + sizeof(buf) - 2; p++) {
		if (*p == '%' && p[1] != '1')
			return why_set(why, whylen, "\"%s\": only %%1 (the local "
			    "part) may follow %%", val);
		if (*p == '%') {
			*o++ = 'x';
			p++;
		} else
			*o++ = *p;
	}
	*o = '\0';
	if (strchr(buf, '@') == NULL) {
		for (w = buf; *w != '\0'; w++)
			if (strchr("<>()[]\\\";:", *w) != NULL)
				return why_set(why, whylen, "bad target \"%s\"",
				    val);
		return 0;
	}
	if (addr_parse_path(buf, strlen(buf), 0, &a, NULL) == -1 ||
	    a.domain[0] == '\0')
		return why_set(why, whylen, "bad target address \"%s\"", val);
	return 0;
}

int
route_transport_check(const char *key, const char *val, char *why,
    size_t whylen)
{
	struct route_target t;
	const char *p = key;
	char alabel[256];

	if (strcmp(key, ".") != 0 && *key != '[') {
		if (*p == '.')
			p++;
		if (*p == '\0' || *p == '.')
			return why_set(why, whylen, "bad domain key \"%s\"",
			    key);
		/* an IDN key: its A-label is what is stored (map.c) */
		if (utf8_has8bit(p, strlen(p)) &&
		    idn_domain_ascii(p, alabel, sizeof(alabel)) == 0)
			p = alabel;
		for (; *p != '\0'; p++)
			if (!host_char((unsigned char)*p))
				return why_set(why, whylen, "bad domain key "
				    "\"%s\"", key);
	}
	return route_target_parse(val, &t, why, whylen);
}

/* Look key up: 1 and the value, 0 none, -1 failed. */
static int
lookup(const struct map *m, const char *fmt, const char *a, const char *b,
    char **val, char *key, size_t keylen)
{
	char k[ROUTE_ADDR_MAX + 8];
	int r;

	if ((size_t)snprintf(k, sizeof(k), fmt, a, b) >= sizeof(k))
		return 0;
	if ((r = map_lookup(m, k, val)) == 1 && key != NULL) {
		for (char *p = k; *p != '\0'; p++)
			*p = tolower((unsigned char)*p);
		strlcpy(key, k, keylen);	/* as the map stores it */
	}
	return r;
}

/* The target t of a virtual_map entry for local part base, as an
 * address in out. */
static enum route_vres
virtual_target(const struct router *rt, const char *t, const char *base,
    char *out, size_t outlen)
{
	char buf[ROUTE_ADDR_MAX];
	struct addr a;
	size_t o = 0;

	for (; *t != '\0' && o + 1 < sizeof(buf); t++) {
		if (t[0] == '%' && t[1] == '1') {
			o += strlcpy(buf + o, base, sizeof(buf) - o);
			t++;
		} else
			buf[o++] = *t;
	}
	if (o + 1 >= sizeof(buf))
		return RV_TEMP;
	buf[o] = '\0';
	if (strchr(buf, '@') == NULL && (size_t)snprintf(buf + o,
	    sizeof(buf) - o, "@%s", rt->conf->hostname ? rt->conf->hostname :
	    "localhost") >= sizeof(buf) - o)
		return RV_TEMP;
	if (addr_parse_path(buf, strlen(buf), 0, &a, NULL) == -1 ||
	    addr_format(&a, out, outlen) == -1)
		return RV_TEMP;
	return RV_ADDR;
}

enum route_vres
route_virtual(const struct router *rt, const char *addr, char *out,
    size_t outlen, struct route_error *err, char *key, size_t keylen)
{
	char local[ROUTE_ADDR_MAX], base[ROUTE_ADDR_MAX], why[128];
	const char *at = strrchr(addr, '@');
	char *val = NULL;
	enum route_vres res;
	size_t bl;
	int r;

	memset(err, 0, sizeof(*err));
	if (rt->virt.cdb == NULL || at == NULL || at == addr ||
	    (size_t)(at - addr) >= sizeof(local) ||
	    route_domain(rt, at + 1) != ROUTE_LOCAL)
		return RV_NONE;
	memcpy(local, addr, (size_t)(at - addr));
	local[at - addr] = '\0';
	bl = addr_local_base_len(local);
	memcpy(base, local, bl);
	base[bl] = '\0';
	r = lookup(&rt->virt, "%s@%s", local, at + 1, &val, key, keylen);
	if (r == 0 && bl > 0 && bl < strlen(local))
		r = lookup(&rt->virt, "%s@%s", base, at + 1, &val, key,
		    keylen);
	if (r == 0)
		r = lookup(&rt->virt, "%s@%s", "", at + 1, &val, key, keylen);
	if (r <= 0)
		return r == 0 ? RV_NONE : RV_TEMP;
	if (strncasecmp(val, "error:", 6) == 0)
		res = route_error_parse(val, err, why, sizeof(why)) == 0 ?
		    RV_ERROR : RV_TEMP;
	else
		res = virtual_target(rt, val, bl > 0 ? base : local, out,
		    outlen);
	free(val);
	return res;
}

/* transport_map for domain: the domain, ".parent" suffixes, then ".".
 * 1 and *t, 0 none, -1 lookup failed or a bad entry. */
int
route_transport(const struct router *rt, const char *domain,
    struct route_target *t, char *key, size_t keylen)
{
	const char *d = domain;
	char *val = NULL, why[128];
	int r;

	if (rt->trans.cdb == NULL)
		return 0;
	r = lookup(&rt->trans, "%s%s", domain, "", &val, key, keylen);
	while (r == 0 && *d != '[' && (d = strchr(d + 1, '.')) != NULL &&
	    d[1] != '\0')
		r = lookup(&rt->trans, "%s%s", d, "", &val, key, keylen);
	if (r == 0)
		r = lookup(&rt->trans, "%s%s", ".", "", &val, key, keylen);
	if (r <= 0)
		return r;
	r = route_target_parse(val, t, why, sizeof(why)) == 0 ? 1 : -1;
	free(val);
	return r;
}
