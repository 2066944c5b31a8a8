/*
 * rewrite: masquerading, always_add_domain and the -f authentication
 * warning, for cleanup. Decides per address and lets lib/hdr_addr change
 * only domains, so every other byte of a header stays as the author
 * wrote it. Never rewrites recipient domains nor the null sender.
 */
#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "hdr_addr.h"
#include "log.h"
#include "rewrite.h"
#include "route.h"

#define LINE_OCTETS	998	/* a rewrite never makes a longer line */

static const struct conf	*cf;
static struct router		 rt;	/* which domains are local */
static struct domain_list	 masq;	/* masquerade_domains */
static char			**exposed;
static size_t			 nexposed;
static uid_t			*trusted;
static size_t			 ntrusted;

/* What a header is to us. */
enum hkind { H_OTHER, H_SENDER, H_RCPT };

static const char *const sender_hdrs[] = { "From", "Sender", "Reply-To",
    "Resent-From", "Resent-Sender", "Resent-Reply-To", NULL };
static const char *const rcpt_hdrs[] = { "To", "Cc", "Bcc", "Resent-To",
    "Resent-Cc", "Resent-Bcc", NULL };

/* Call fn for each name of a comma/space separated list. */
static void
each_name(const char *list, void (*fn)(const char *))
{
	char	*copy, *t, *save = NULL;

	if (list == NULL)
		return;
	copy = xstrdup(list);
	for (t = strtok_r(copy, ", \t", &save); t != NULL;
	    t = strtok_r(NULL, ", \t", &save))
		fn(t);
	free(copy);
}

static void
add_exposed(const char *name)
{
	exposed = xreallocarray(exposed, nexposed + 1, sizeof(*exposed));
	exposed[nexposed++] = xstrdup(name);
}

static void
add_trusted(const char *name)
{
	struct passwd	*pw;

	if ((pw = getpwnam(name)) == NULL) {
		log_warn("trusted_users: no user %s", name);
		return;
	}
	trusted = xreallocarray(trusted, ntrusted + 1, sizeof(*trusted));
	trusted[ntrusted++] = pw->pw_uid;
}

void
rewrite_init(const struct conf *c)
{
	struct conf_errors	 errs = { 0 };

	cf = c;
	if (route_init(&rt, c, &errs) == -1 ||
	    domain_list_load(c->masquerade_domains, &masq, &errs) == -1)
		for (size_t i = 0; i < errs.n; i++)
			log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
	each_name(c->exposed_users, add_exposed);
	/* root is always trusted, as in Sendmail's class t */
	trusted = xreallocarray(NULL, 1, sizeof(*trusted));
	trusted[ntrusted++] = 0;
	each_name(c->trusted_users ? c->trusted_users : c->user, add_trusted);
}

static int
is_exposed(const char *local)
{
	for (size_t i = 0; i < nexposed; i++)
		if (strcasecmp(exposed[i], local) == 0)
			return 1;
	return 0;
}

/*
 * The domain that replaces local@domain's when masquerading (NULL: it
 * stays): our hostname and local domains (exactly), masquerade_domains
 * (and their subdomains with masquerade_entire_domain).
 */
static const char *
masq_domain(const char *local, const char *domain)
{
	const char	*as = cf->masquerade_as;

	if (as == NULL || is_exposed(local) || *domain == '[' ||
	    strcasecmp(domain, as) == 0)
		return NULL;
	if (route_domain(&rt, domain) == ROUTE_LOCAL ||
	    domain_list_match(&masq, domain, cf->masquerade_entire_domain))
		return as;
	return NULL;
}

struct hctx {
	enum hkind	 kind;
	int		 local;
};

/* hdr_addr_fn: the new domain of one header address, or NULL. */
static const char *
header_domain(void *arg, const char *v, const struct hdr_addr *a)
{
	const struct hctx	*x = arg;
	char			 local[256], domain[256];

	if (hdr_addr_local(v, a, local, sizeof(local)) == -1)
		return NULL;
	if (a->domain_len == 0) {
		/* unqualified: this host's (always_add_domain); a sender
		 * goes out masqueraded unless exposed, as in Sendmail */
		if (!x->local)
			return NULL;
		if (x->kind == H_SENDER && cf->masquerade_as != NULL &&
		    !is_exposed(local))
			return cf->masquerade_as;
		return cf->hostname;
	}
	if (x->kind != H_SENDER || a->literal ||
	    hdr_addr_domain(v, a, domain, sizeof(domain)) == -1)
		return NULL;
	return masq_domain(local, domain);
}

static enum hkind
header_kind(const char *h, size_t hl)
{
	const char *const	*lists[] = { sender_hdrs, rcpt_hdrs };
	const enum hkind	 kinds[] = { H_SENDER, H_RCPT };

	for (size_t i = 0; i < 2; i++)
		for (const char *const *n = lists[i]; *n != NULL; n++) {
			size_t nl = strlen(*n);

			if (hl > nl && h[nl] == ':' &&
			    strncasecmp(h, *n, nl) == 0)
				return kinds[i];
		}
	return H_OTHER;
}

/* No line of the n bytes at p is longer than LINE_OCTETS. */
static int
lines_fit(const char *p, size_t n)
{
	const char	*e = p + n, *nl;

	for (; p < e; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(e - p))) == NULL)
			nl = e;
		if (nl - p > LINE_OCTETS)
			return 0;
	}
	return 1;
}

int
rewrite_header(const char *h, size_t hl, int local, size_t reserve,
    struct buf *out)
{
	struct hctx		 x = { header_kind(h, hl), local };
	struct hdr_addr_list	 l;
	struct buf		 b;
	const char		*why, *colon;
	size_t			 name;
	int			 n;

	if (x.kind == H_OTHER || (!local && (x.kind == H_RCPT ||
	    cf->masquerade_as == NULL)))
		return 0;
	colon = memchr(h, ':', hl);
	name = (size_t)(colon - h) + 1;
	if (hdr_addr_parse(h + name, hl - name, &l, &why) == -1) {
		log_debug("%.*s header left as it is: %s", (int)name - 1, h,
		    why);
		return 0;
	}
	buf_init(&b, hl + 1024 + 256 * l.n);
	buf_append(&b, h, name);
	n = hdr_addr_rewrite(&b, h + name, hl - name, &l, header_domain, &x);
	hdr_addr_free(&l);
	if (n > 0 && !lines_fit(b.data, b.len)) {
		log_debug("%.*s header left as it is: a line would be too "
		    "long", (int)name - 1, h);
		n = 0;
	} else if (n > 0 && (out->len + b.len + reserve > out->cap)) {
		log_debug("%.*s header left as it is: no room for the "
		    "headers to grow", (int)name - 1, h);
		n = 0;
	}
	if (n > 0)
		buf_append(out, b.data, b.len);
	buf_free(&b);
	return n > 0;
}

int
rewrite_extract(const char *v, size_t len,
    void (*add)(void *, const char *), void *arg)
{
	struct hdr_addr_list	 l;
	struct addr		 pa;
	const char		*why;
	char			 out[600];

	if (hdr_addr_parse(v, len, &l, &why) == -1)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		memset(&pa, 0, sizeof(pa));
		if (hdr_addr_local(v, &l.a[i], pa.local, sizeof(pa.local)) ==
		    -1 || hdr_addr_domain(v, &l.a[i], pa.domain,
		    sizeof(pa.domain)) == -1 || pa.local[0] == '\0' ||
		    addr_format(&pa, out, sizeof(out)) == -1)
			continue;
		add(arg, out);
	}
	hdr_addr_free(&l);
	return 0;
}

/* local@domain of a canonical address, or -1. */
static int
split(const char *a, struct addr *pa)
{
	const char	*why;

	return addr_parse_path(a, strlen(a), 0, pa, &why);
}

char *
rewrite_sender(const char *sender)
{
	struct addr	 pa;
	const char	*d;
	char		 out[1024];

	if (!cf->masquerade_envelope || *sender == '\0' ||
	    split(sender, &pa) == -1 ||
	    (d = masq_domain(pa.local, pa.domain)) == NULL)
		return NULL;
	if (strlen(d) >= sizeof(pa.domain))
		return NULL;
	strlcpy(pa.domain, d, sizeof(pa.domain));
	if (addr_format(&pa, out, sizeof(out)) == -1)
		return NULL;
	return xstrdup(out);
}

/* Is this address the login's own (local part and a domain of ours)? */
static int
own_address(const char *login, const char *sender)
{
	struct addr	 pa;

	if (*sender == '\0' || split(sender, &pa) == -1 ||
	    strcasecmp(pa.local, login) != 0)
		return 0;
	return route_domain(&rt, pa.domain) == ROUTE_LOCAL ||
	    (cf->masquerade_as && strcasecmp(pa.domain, cf->masquerade_as)
	    == 0);
}

char *
rewrite_auth_warning(uid_t uid, const char *sender)
{
	struct passwd	*pw;
	char		 login[64], *h;

	for (size_t i = 0; i < ntrusted; i++)
		if (trusted[i] == uid)
			return NULL;
	if ((pw = getpwuid(uid)) != NULL && strlen(pw->pw_name) < 64)
		strlcpy(login, pw->pw_name, sizeof(login));
	else
		snprintf(login, sizeof(login), "uid%lu", (unsigned long)uid);
	if (own_address(login, sender))
		return NULL;
	if (asprintf(&h, "X-Authentication-Warning: %s: %s set sender to "
	    "%s using -f\n", cf->hostname, login, *sender ? sender : "<>")
	    == -1)
		fatal("out of memory");
	return h;
}
