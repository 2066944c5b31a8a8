/*
 * smtpd policy: the access map (Connect:, From:, To:), the relay decision
 * and the local-recipient check of SPEC section 4/5. Pure decisions on
 * already-parsed input, no I/O but map and passwd lookups. Must never
 * open a relay: local-part routing tricks (%, !, @) are always refused.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "smtpd.h"

static struct map		 access_map, alias_map;
static int			 have_access, have_alias;
static struct domain_list	 local_doms, relay_doms;

static void
load_list(const char *spec, struct domain_list *dl, const char *what)
{
	struct conf_errors errs = { 0 };

	memset(dl, 0, sizeof(*dl));
	if (spec == NULL || *spec == '\0')
		return;
	if (domain_list_load(spec, dl, &errs) == -1)
		log_warn("%s: cannot load all of %s", what, spec);
	for (size_t i = 0; i < errs.n; i++)
		log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
}

void
policy_init(void)
{
	if (wk.conf.access_map) {
		if (map_open(&access_map, wk.conf.access_map) == -1)
			fatal("cannot open access map %s: %s",
			    wk.conf.access_map, strerror(errno));
		have_access = 1;
	}
	if (wk.conf.alias_map) {
		if (map_open(&alias_map, wk.conf.alias_map) == -1)
			fatal("cannot open alias map %s: %s",
			    wk.conf.alias_map, strerror(errno));
		have_alias = 1;
	}
	load_list(wk.conf.local_domains, &local_doms, "local_domains");
	load_list(wk.conf.relay_domains, &relay_doms, "relay_domains");
}

static int
copy_reply(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
copy_reply(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(out, outlen, "451 4.3.0 Internal error");
	return -1;
}

/* A map reply must look like "NNN ..." with a 4xx/5xx code. */
static const char *
map_reply(const struct access_result *res, const char *dflt)
{
	const char *r = res->reply;

	if (strlen(r) >= 3 && (r[0] == '4' || r[0] == '5') &&
	    isdigit((unsigned char)r[1]) && isdigit((unsigned char)r[2]))
		return r;
	return dflt;
}

int
policy_connect(struct session *s, char *out, size_t outlen)
{
	struct access_result res;
	const char *r;
	int n;

	if (!have_access)
		return 0;
	n = access_check_connect(&access_map, s->ip, NULL, &res);
	if (n == -1) {
		log_warn("%s: access map lookup failed for %s", s->id, s->ip);
		return copy_reply(out, outlen,
		    "421 4.3.0 Server configuration problem");
	}
	if (n == 0)
		return 0;
	switch (res.action) {
	case ACCESS_RELAY:
		s->connect_relay = 1;
		return 0;
	case ACCESS_DISCARD:
		s->connect_discard = 1;
		return 0;
	case ACCESS_REJECT:
	case ACCESS_ERROR:
		r = res.action == ACCESS_REJECT ? "554 5.7.1 Access denied" :
		    map_reply(&res, "554 5.7.1 Access denied");
		if (lc->delay_checks) {
			snprintf(s->delayed_conn, sizeof(s->delayed_conn),
			    "%s", r);
			return 0;
		}
		return copy_reply(out, outlen, "%s", r);
	case ACCESS_TEMPFAIL:
		r = map_reply(&res, "451 4.7.1 Try again later");
		return copy_reply(out, outlen, "421%s", r + 3);
	default:
		return 0;
	}
}

int
policy_mail(struct session *s, const char *sender, char *out, size_t outlen)
{
	struct access_result res;
	const char *r;
	int n;

	if (lc->require_resolvable_sender)
		log_debug("%s: require_resolvable_sender: DNS check not "
		    "implemented yet, skipped for <%s>", s->id, sender);
	if (!have_access)
		return 0;
	n = access_check_addr(&access_map, "From", sender, &res);
	if (n == -1) {
		log_warn("%s: access map lookup failed for From:%s", s->id,
		    sender);
		return copy_reply(out, outlen,
		    "451 4.3.0 Temporary lookup failure");
	}
	if (n == 0)
		return 0;
	switch (res.action) {
	case ACCESS_DISCARD:
		s->discard = 1;
		return 0;
	case ACCESS_REJECT:
	case ACCESS_ERROR:
	case ACCESS_TEMPFAIL:
		r = map_reply(&res, res.action == ACCESS_TEMPFAIL ?
		    "451 4.7.1 Try again later" : "550 5.7.1 Access denied");
		if (lc->delay_checks && res.action != ACCESS_TEMPFAIL) {
			snprintf(s->delayed_from, sizeof(s->delayed_from),
			    "%s", r);
			return 0;
		}
		return copy_reply(out, outlen, "%s", r);
	default:
		return 0;
	}
}

static int
domain_is_local(const char *d)
{
	return strcasecmp(d, wk.conf.hostname) == 0 ||
	    strcmp(d, "localhost") == 0 ||
	    domain_list_match(&local_doms, d, 0);
}

/* Routing characters in a local part never reach a mailbox nor relay. */
static int
local_part_trick(const char *local)
{
	return local[0] == '@' || strpbrk(local, "%!@") != NULL;
}

/* 1 known, 0 unknown, -1 lookup error. */
static int
local_user_known(const char *local)
{
	char u[256], *v;
	size_t bl = addr_local_base_len(local);
	int r;

	if (bl == 0 || bl >= sizeof(u))
		return 0;
	memcpy(u, local, bl);
	u[bl] = '\0';
	for (char *p = u; *p; p++)
		*p = tolower((unsigned char)*p);
	if (strcmp(u, "postmaster") == 0)
		return 1;
	if (getpwnam(u) != NULL)
		return 1;
	if (!have_alias)
		return 0;
	if ((r = map_lookup(&alias_map, u, &v)) == 1) {
		free(v);
		return 1;
	}
	if (r == -1)
		return -1;
	/* an alias for the whole "user+ext" */
	if (local[bl] == '+' && strlen(local) < sizeof(u)) {
		snprintf(u, sizeof(u), "%s", local);
		if ((r = map_lookup(&alias_map, u, &v)) == 1) {
			free(v);
			return 1;
		}
	}
	return r == -1 ? -1 : 0;
}

int
policy_rcpt(struct session *s, const struct addr *path, char *rcpt,
    size_t rcptlen, char *out, size_t outlen)
{
	struct access_result res;
	struct addr a = *path;
	int local, to_relay = 0, to_ok = 0, n;

	if (a.domain[0] == '\0') {
		if (strlen(wk.conf.hostname) >= sizeof(a.domain))
			return copy_reply(out, outlen,
			    "451 4.3.0 Internal error");
		snprintf(a.domain, sizeof(a.domain), "%s", wk.conf.hostname);
		addr_domain_norm(a.domain);
	}
	if (addr_format(&a, rcpt, rcptlen) == -1)
		return copy_reply(out, outlen, "553 5.1.3 Bad address syntax");
	local = domain_is_local(a.domain);
	if (local_part_trick(a.local))
		return local ?
		    copy_reply(out, outlen, "550 5.1.1 <%s>: User unknown", rcpt) :
		    copy_reply(out, outlen, "550 5.7.1 <%s>: Relaying denied",
		    rcpt);

	if (have_access) {
		n = access_check_addr(&access_map, "To", rcpt, &res);
		if (n == -1) {
			log_warn("%s: access map lookup failed for To:%s",
			    s->id, rcpt);
			return copy_reply(out, outlen,
			    "451 4.3.0 <%s>: Temporary lookup failure", rcpt);
		}
		if (n == 1) {
			switch (res.action) {
			case ACCESS_RELAY:
				to_relay = 1;
				break;
			case ACCESS_OK:
				to_ok = 1;
				break;
			case ACCESS_DISCARD:
				s->discard = 1;
				break;
			case ACCESS_REJECT:
			case ACCESS_ERROR:
				return copy_reply(out, outlen, "%s",
				    map_reply(&res, "550 5.7.1 Access denied"));
			case ACCESS_TEMPFAIL:
				return copy_reply(out, outlen, "%s",
				    map_reply(&res, "451 4.7.1 Try again later"));
			default:
				break;
			}
		}
	}
	/* delay_checks: connect and MAIL rejections are given here, unless
	 * the recipient is whitelisted (spam friend). */
	if (!to_ok && !to_relay) {
		if (s->delayed_conn[0])
			return copy_reply(out, outlen, "%s", s->delayed_conn);
		if (s->delayed_from[0])
			return copy_reply(out, outlen, "%s", s->delayed_from);
	}
	if (local) {
		n = local_user_known(a.local);
		if (n == -1)
			return copy_reply(out, outlen,
			    "451 4.3.0 <%s>: Temporary lookup failure", rcpt);
		if (n == 0)
			return copy_reply(out, outlen,
			    "550 5.1.1 <%s>: User unknown", rcpt);
		return 0;
	}
	if (to_relay || s->connect_relay ||
	    domain_list_match(&relay_doms, a.domain, 1))
		return 0;
	return copy_reply(out, outlen, "550 5.7.1 <%s>: Relaying denied", rcpt);
}
