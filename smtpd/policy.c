/*
 * smtpd policy: the access map (Connect:, From:, To:), the relay decision
 * and the local-recipient check of SPEC section 4/5, plus the DNS-based
 * checks (client PTR with forward confirmation, DNSBL, resolvable sender
 * domain, started asynchronously through dns.c) and the connection rate
 * limits. Must never open a relay: local-part routing tricks (%, !, @) are
 * always refused; a DNS failure never rejects a client outright.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unbound.h>

#include "addr.h"
#include "dns.h"
#include "log.h"
#include "route.h"
#include "smtpd.h"

#define T_A		1
#define T_PTR		12
#define T_MX		15
#define T_AAAA		28
#define MAX_BL		16

/* query tags */
enum { Q_PTR, Q_FWD, Q_MAIL, Q_BL };	/* Q_BL + i for DNSBL zone i */

/* Per-session DNS state, owned here (s->pdns). */
struct pstate {
	struct session	*s;
	struct sdns_q	*q[Q_BL + MAX_BL];
	int		 npending;	/* connect-phase queries */
	int		 greeted;
	char		 ptr[256];	/* PTR name, not yet confirmed */
	int		 listed[MAX_BL];
	/* sender domain check */
	char		 mdom[256];
	int		 mstage;	/* T_MX, T_A, T_AAAA */
	int		 mdone;
	enum dns_status	 mst;
	/* anvil, the counters shared by every listener */
	int		 anvil_conn;	/* a connect was counted ... */
	unsigned	 anvil_gen;	/* ... on this anvil connection */
	char		 anvil_reject[REPLY_MAX];
};

static struct dns_bl		 bl[MAX_BL];
static int			 nbl;
static int			 have_dns;

static struct map		 access_map, alias_map;
static int			 have_access, have_alias;
static struct router		 router;	/* the relay decision */

static void
router_load(void)
{
	struct conf_errors errs = { 0 };

	if (route_init(&router, &wk.conf, &errs) == -1)
		log_warn("cannot load all of local_domains/relay_domains");
	for (size_t i = 0; i < errs.n; i++)
		log_warn("%s", errs.msg[i]);
	conf_errors_free(&errs);
}

void
policy_init(void)
{
	have_access = smtpd_map_open(&access_map, wk.conf.access_map,
	    "access map");
	have_alias = smtpd_map_open(&alias_map, wk.conf.alias_map,
	    "alias map");
	router_load();
	if ((nbl = dns_bl_parse(lc->dnsbl, bl, MAX_BL)) == -1)
		fatal("bad dnsbl list \"%s\"", lc->dnsbl);
}

#define CODE_CONNECT_TEMP	421	/* a map's TEMPFAIL at connect */

/* A catalogue reply into out: -1, the callers' "refused". */
static int
policy_reply(char *out, size_t outlen, enum reply_id id, ...)
{
	va_list ap;

	va_start(ap, id);
	(void)reply_vformat(out, outlen, id, ap);
	va_end(ap);
	return -1;
}

/* A reply line kept earlier (delay_checks, anvil) into out: -1. */
static int
copy_reply(char *out, size_t outlen, const char *r)
{
	strlcpy(out, r, outlen);
	return -1;
}

/* The access map's reply ("NNN ..." with a 4xx/5xx code) or dflt's, as
 * data; code, unless 0, takes the place of its code. */
static void
map_reply(char *out, size_t outlen, const struct access_result *res,
    enum reply_id dflt, int code)
{
	const char *text;
	int c;

	if (reply_split(res->reply, &c, &text) == -1) {
		c = reply_code(dflt);
		text = reply_text(dflt);
	}
	(void)reply_data(out, outlen, code ? code : c, text);
}

/* The DNSBL reply: the zone's text ($&{client_addr} = the IP) or ours. */
static void
bl_reply(struct session *s, int i, char *out, size_t outlen)
{
	const char *t = bl[i].text, *m;
	char text[400];
	size_t off = 0;

	if (*t == '\0') {
		(void)reply_format(out, outlen, R_BLOCKED, s->ip, bl[i].zone);
		return;
	}
	text[0] = '\0';
	while (*t && off < sizeof(text) - 1) {
		int n;

		if ((m = strstr(t, "$&{client_addr}")) == NULL)
			m = t + strlen(t);
		n = snprintf(text + off, sizeof(text) - off, "%.*s%s",
		    (int)(m - t), t, *m ? s->ip : "");
		if (n < 0 || (size_t)n >= sizeof(text) - off)
			break;
		off += (size_t)n;
		t = *m ? m + strlen("$&{client_addr}") : m;
	}
	(void)reply_format(out, outlen, R_BLOCKED_TEXT, text);
}

int
policy_connect(struct session *s, char *out, size_t outlen)
{
	struct access_result res;
	struct pstate *ps = s->pdns;
	char r[REPLY_MAX];
	const char *vname = strcmp(s->name, "unknown") ? s->name : NULL;
	int n;

	/* anvil's per-client verdicts (policy_connect_start) */
	if (ps != NULL && ps->anvil_reject[0])
		return copy_reply(out, outlen, ps->anvil_reject);
	res.action = ACCESS_NONE;
	if (have_access) {
		n = access_check_connect(&access_map, s->ip, vname, &res);
		if (n == -1) {
			log_warn("%s: access map lookup failed for %s", s->id,
			    s->ip);
			return policy_reply(out, outlen, R_CONFIG);
		}
		if (n == 0)
			res.action = ACCESS_NONE;
	}
	switch (res.action) {
	case ACCESS_RELAY:
		s->connect_relay = 1;
		return 0;
	case ACCESS_OK:
		return 0;	/* whitelisted: no DNSBL */
	case ACCESS_DISCARD:
		s->connect_discard = 1;
		return 0;
	case ACCESS_REJECT:
	case ACCESS_ERROR:
		if (res.action == ACCESS_REJECT)
			(void)reply_format(r, sizeof(r), R_CONNECT_DENIED);
		else
			map_reply(r, sizeof(r), &res, R_CONNECT_DENIED, 0);
		break;
	case ACCESS_TEMPFAIL:
		map_reply(out, outlen, &res, R_TRY_LATER, CODE_CONNECT_TEMP);
		return -1;
	default:
		r[0] = '\0';
		for (int i = 0; ps != NULL && i < nbl; i++)
			if (ps->listed[i]) {
				bl_reply(s, i, r, sizeof(r));
				log_info("%s: client %s[%s] listed by %s", s->id,
				    s->name, s->ip, bl[i].zone);
				break;
			}
		if (r[0] == '\0')
			return 0;
		break;
	}
	if (lc->delay_checks) {
		snprintf(s->delayed_conn, sizeof(s->delayed_conn), "%s", r);
		return 0;
	}
	return copy_reply(out, outlen, r);
}

/* ---- asynchronous DNS checks ---- */

static void	dns_done(void *, int, enum dns_status, struct ub_result *);

static int
dns_ready(void)
{
	static int tried;

	if (!tried) {
		tried = 1;
		have_dns = sdns_init() == 0;
	}
	return have_dns;
}

static int
start_query(struct pstate *ps, const char *name, int type, int tag)
{
	if ((ps->q[tag] = sdns_query(name, type, tag, dns_done, ps)) == NULL)
		return -1;
	return 0;
}

static void
connect_step_done(struct pstate *ps)
{
	if (--ps->npending > 0 || ps->greeted)
		return;
	ps->greeted = 1;
	session_greet(ps->s);	/* last: it may end the session */
}

/* The client's PTR name is used only if it resolves back to the IP. */
static int
addr_matches(const char *ip, const char *data, int len)
{
	unsigned char b[16];

	if (len == 4 && inet_pton(AF_INET, ip, b) == 1)
		return memcmp(b, data, 4) == 0;
	if (len == 16 && inet_pton(AF_INET6, ip, b) == 1)
		return memcmp(b, data, 16) == 0;
	return 0;
}

static void
mail_done(struct pstate *ps, enum dns_status st)
{
	ps->mdone = 1;
	ps->mst = st;
	session_resume(ps->s);	/* last: it may end the session */
}

static void
dns_done(void *arg, int tag, enum dns_status st, struct ub_result *res)
{
	struct pstate *ps = arg;
	struct session *s = ps->s;
	char name[256];

	ps->q[tag] = NULL;
	if (tag == Q_PTR) {
		if (st == DNS_OK && res->data[0] != NULL && res->len[0] > 0 &&
		    dns_wire_name((unsigned char *)res->data[0],
		    (size_t)res->len[0], name, sizeof(name)) > 0 &&
		    strchr(name, '.') != NULL) {
			snprintf(ps->ptr, sizeof(ps->ptr), "%s", name);
			if (start_query(ps, name, strchr(s->ip, ':') ? T_AAAA :
			    T_A, Q_FWD) == 0)
				return;	/* npending stays: the FWD step */
		} else if (st != DNS_OK && st != DNS_NXDOMAIN)
			log_debug("%s: PTR lookup for %s failed", s->id, s->ip);
		connect_step_done(ps);
		return;
	}
	if (tag == Q_FWD) {
		for (int i = 0; st == DNS_OK && res->data[i] != NULL; i++)
			if (addr_matches(s->ip, res->data[i], res->len[i])) {
				snprintf(s->name, sizeof(s->name), "%s",
				    ps->ptr);
				break;
			}
		if (strcmp(s->name, "unknown") == 0)
			log_info("%s: hostname %s does not resolve to address "
			    "%s", s->id, ps->ptr, s->ip);
		connect_step_done(ps);
		return;
	}
	if (tag >= Q_BL) {
		/* listed: an A record in 127/8; failures never reject */
		for (int i = 0; st == DNS_OK && res->data[i] != NULL; i++)
			if (res->len[i] == 4 &&
			    (unsigned char)res->data[i][0] == 127)
				ps->listed[tag - Q_BL] = 1;
		if (st == DNS_TEMPFAIL)
			log_info("%s: DNSBL %s lookup for %s failed: ignored",
			    s->id, bl[tag - Q_BL].zone, s->ip);
		connect_step_done(ps);
		return;
	}
	/* Q_MAIL: MX, else A, else AAAA */
	if (st == DNS_NODATA && ps->mstage != T_AAAA) {
		ps->mstage = ps->mstage == T_MX ? T_A : T_AAAA;
		if (start_query(ps, ps->mdom, ps->mstage, Q_MAIL) == 0)
			return;
		st = DNS_TEMPFAIL;
	}
	mail_done(ps, st == DNS_NODATA ? DNS_NXDOMAIN : st);
}

static int	client_exempt(const char *);

/* The client's connections per minute and open sessions, all listeners
 * together; the same limits as policy_accept's per-process ones. */
static void
anvil_connect_cb(void *arg, const struct anvil_reply *m)
{
	struct session *s = arg;
	struct pstate *ps = s->pdns;
	long long cm, ns;
	long long cap = lc->client_session_limit;

	if (m == NULL || m->count_minute < 0 || m->sessions < 0)
		goto done;
	cm = m->count_minute;
	ns = m->sessions;
	if (lc->client_connection_rate_limit > 0 &&
	    cm > (long long)lc->client_connection_rate_limit) {
		log_warn("client connection rate limit exceeded: reject "
		    "connect from unknown[%s] (client_connection_rate_limit="
		    "%u/min, %lld on all listeners)", s->ip,
		    lc->client_connection_rate_limit, cm);
		(void)reply_format(ps->anvil_reject, sizeof(ps->anvil_reject),
		    R_RATE_CLIENT);
	} else if (cap > 0 && ns > cap) {
		log_warn("too many connections from unknown[%s]: reject "
		    "(%lld open on all listeners, client_session_limit=%lld)",
		    s->ip, ns, cap);
		(void)reply_format(ps->anvil_reject, sizeof(ps->anvil_reject),
		    R_CONC_CLIENT);
	}
done:
	connect_step_done(ps);
}

/* Ask anvil about the new client; the answers join the connect checks. */
static void
anvil_connect_start(struct session *s, struct pstate *ps)
{
	/* the AUTH lockout is auth.c's, at AUTH: mail needs none */
	if (!anvil_up())
		return;		/* policy_accept's local tables decide */
	if (client_exempt(s->ip))
		return;
	ps->anvil_gen = anvil_generation();
	if (anvil_request(REQ_CONNECT, s->ip, NULL, anvil_connect_cb, s) == 0) {
		ps->npending++;
		ps->anvil_conn = 1;
	}
}

void
policy_connect_start(struct session *s)
{
	struct pstate *ps;
	char name[300];

	ps = xcalloc(1, sizeof(*ps));
	ps->s = s;
	s->pdns = ps;
	ps->npending = 1;	/* released below */
	anvil_connect_start(s, ps);
	if (dns_ready() && dns_reverse_name(s->ip, NULL, name, sizeof(name))
	    == 0) {
		if (start_query(ps, name, T_PTR, Q_PTR) == 0)
			ps->npending++;
		for (int i = 0; i < nbl; i++)
			if (dns_reverse_name(s->ip, bl[i].zone, name,
			    sizeof(name)) == 0 &&
			    start_query(ps, name, T_A, Q_BL + i) == 0)
				ps->npending++;
	}
	connect_step_done(ps);
}

void
policy_session_end(struct session *s)
{
	struct pstate *ps = s->pdns;

	anvil_cancel(s);
	if (ps == NULL)
		return;
	/* anvil forgets the session by itself if the connection broke */
	if (ps->anvil_conn && ps->anvil_gen == anvil_generation())
		anvil_notify(REQ_DISCONNECT, s->ip);
	for (size_t i = 0; i < sizeof(ps->q) / sizeof(ps->q[0]); i++)
		sdns_cancel(ps->q[i]);
	free(ps);
	s->pdns = NULL;
}

/* 1 if the sender domain check applies to this address. */
static const char *
sender_domain(const char *sender)
{
	const char *d = strrchr(sender, '@');

	if (d == NULL || d[1] == '\0' || d[1] == '[')
		return NULL;
	return d + 1;
}

/* require_resolvable_sender: 0 ok, 1 pending, -1 reply in r. */
static int
check_sender_domain(struct session *s, const char *sender, char *r,
    size_t rlen)
{
	struct pstate *ps = s->pdns;
	const char *d = sender_domain(sender);

	if (d == NULL || ps == NULL || !dns_ready())
		return 0;
	if (!ps->mdone || strcasecmp(ps->mdom, d) != 0) {
		if (ps->q[Q_MAIL] != NULL)
			return 1;
		if (snprintf(ps->mdom, sizeof(ps->mdom), "%s", d) < 0 ||
		    strlen(d) >= sizeof(ps->mdom))
			return 0;
		ps->mdone = 0;
		ps->mstage = T_MX;
		if (start_query(ps, d, T_MX, Q_MAIL) == -1) {
			(void)reply_format(r, rlen, R_SENDER_DOMAIN_TEMP,
			    sender);
			return -1;
		}
		return 1;
	}
	switch (ps->mst) {
	case DNS_OK:
		return 0;
	case DNS_NXDOMAIN:
		(void)reply_format(r, rlen, R_SENDER_DOMAIN, sender);
		return -1;
	default:
		(void)reply_format(r, rlen, R_SENDER_DOMAIN_DNS, sender);
		return -1;
	}
}

int
policy_mail(struct session *s, const char *sender, char *out, size_t outlen)
{
	struct access_result res;
	char dr[REPLY_MAX];
	int n;

	if (!have_access)
		goto dns;
	n = access_check_addr(&access_map, "From", sender, &res);
	if (n == -1) {
		log_warn("%s: access map lookup failed for From:%s", s->id,
		    sender);
		return policy_reply(out, outlen, R_LOOKUP_TEMP);
	}
	if (n == 0)
		goto dns;
	switch (res.action) {
	case ACCESS_DISCARD:
		s->discard = 1;
		goto dns;
	case ACCESS_REJECT:
	case ACCESS_ERROR:
	case ACCESS_TEMPFAIL:
		map_reply(dr, sizeof(dr), &res, res.action == ACCESS_TEMPFAIL ?
		    R_TRY_LATER : R_ACCESS_DENIED, 0);
		if (lc->delay_checks && res.action != ACCESS_TEMPFAIL) {
			snprintf(s->delayed_from, sizeof(s->delayed_from),
			    "%s", dr);
			return 0;
		}
		return copy_reply(out, outlen, dr);
	case ACCESS_OK:
	case ACCESS_RELAY:
		return 0;	/* whitelisted: no DNS check */
	default:
		break;
	}
dns:
	if (!lc->require_resolvable_sender)
		return 0;
	if ((n = check_sender_domain(s, sender, dr, sizeof(dr))) != -1)
		return n;
	if (lc->delay_checks) {
		snprintf(s->delayed_from, sizeof(s->delayed_from), "%s", dr);
		return 0;
	}
	return copy_reply(out, outlen, dr);
}

/* 1 known, 0 unknown, -1 lookup error. */
static int
local_user_known(const char *local)
{
	return route_user_known(have_alias ? &alias_map : NULL, local);
}

/* The local part of addr into out ("" if it does not fit). */
static void
local_part(const char *addr, char *out, size_t outlen)
{
	const char *at = strrchr(addr, '@');
	size_t n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	if (n >= outlen)
		n = 0;
	memcpy(out, addr, n);
	out[n] = '\0';
}

/* A recipient in a local domain: virtual_map (an error: target gets its
 * own reply), then the user or alias it names must exist. */
static int
local_rcpt(const char *rcpt, const char *local, char *out, size_t outlen)
{
	struct route_error e;
	char to[ROUTE_ADDR_MAX], lp[256];
	const char *at;
	int n;

	switch (route_virtual(&router, rcpt, to, sizeof(to), &e, NULL, 0)) {
	case RV_ERROR:
		(void)reply_data(out, outlen, e.code, e.text);
		return -1;
	case RV_TEMP:
		return policy_reply(out, outlen, R_LOOKUP_TEMP_ADDR, rcpt);
	case RV_ADDR:
		/* a remote target is the admin's word; a local one must be
		 * a user or an alias */
		at = strrchr(to, '@');
		if (at == NULL || route_domain(&router, at + 1) != ROUTE_LOCAL)
			return 0;
		local_part(to, lp, sizeof(lp));
		local = lp;
		break;
	case RV_NONE:
		break;
	}
	n = local_user_known(local);
	if (n == -1)
		return policy_reply(out, outlen, R_LOOKUP_TEMP_ADDR, rcpt);
	if (n == 0)
		return policy_reply(out, outlen, R_USER_UNKNOWN, rcpt);
	return 0;
}

/* A recipient we may relay: transport_map may refuse it (error:) or
 * route it to a local user (local:user), who must exist. */
static int
relay_rcpt(const char *rcpt, char *out, size_t outlen)
{
	struct route r;
	char lp[256];
	int n;

	if ((n = route_resolve(&router, rcpt, &r, NULL, NULL)) == -2)
		return policy_reply(out, outlen, R_LOOKUP_TEMP_ADDR, rcpt);
	if (n != 0)
		return policy_reply(out, outlen, R_BAD_ADDR);
	if (r.err.code != 0) {
		(void)reply_data(out, outlen, r.err.code, r.err.text);
		return -1;
	}
	if (r.transport != transport_role(TROLE_LOCAL))
		return 0;
	local_part(r.addr, lp, sizeof(lp));
	if ((n = local_user_known(lp)) == 1)
		return 0;
	return policy_reply(out, outlen, n == 0 ? R_USER_UNKNOWN :
	    R_LOOKUP_TEMP_ADDR, rcpt);
}

int
policy_rcpt(struct session *s, const struct addr *path, char *rcpt,
    size_t rcptlen, char *out, size_t outlen)
{
	struct access_result res;
	struct addr a = *path;
	enum route_dest dest;
	int to_relay = 0, to_ok = 0, n;

	if (a.domain[0] == '\0') {
		if (strlen(wk.conf.hostname) >= sizeof(a.domain))
			return policy_reply(out, outlen, R_INTERNAL);
		snprintf(a.domain, sizeof(a.domain), "%s", wk.conf.hostname);
		addr_domain_norm(a.domain);
	}
	if (addr_format(&a, rcpt, rcptlen) == -1)
		return policy_reply(out, outlen, R_BAD_ADDR);
	dest = route_domain(&router, a.domain);
	if (route_local_part_trick(a.local))
		return policy_reply(out, outlen, dest == ROUTE_LOCAL ?
		    R_USER_UNKNOWN : R_RELAY_DENIED, rcpt);

	if (have_access) {
		n = access_check_addr(&access_map, "To", rcpt, &res);
		if (n == -1) {
			log_warn("%s: access map lookup failed for To:%s",
			    s->id, rcpt);
			return policy_reply(out, outlen, R_LOOKUP_TEMP_ADDR,
			    rcpt);
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
				map_reply(out, outlen, &res, R_ACCESS_DENIED, 0);
				return -1;
			case ACCESS_TEMPFAIL:
				map_reply(out, outlen, &res, R_TRY_LATER, 0);
				return -1;
			default:
				break;
			}
		}
	}
	/* delay_checks: connect and MAIL rejections are given here, unless
	 * the recipient is whitelisted (spam friend). */
	if (!to_ok && !to_relay) {
		if (s->delayed_conn[0])
			return copy_reply(out, outlen, s->delayed_conn);
		if (s->delayed_from[0])
			return copy_reply(out, outlen, s->delayed_from);
	}
	if (dest == ROUTE_LOCAL)
		return local_rcpt(rcpt, a.local, out, outlen);
	if (to_relay || s->connect_relay || dest == ROUTE_RELAY_DOMAIN ||
	    (strcmp(s->name, "unknown") != 0 &&	/* verified name */
	    route_relay_client(&router, s->name)))
		return relay_rcpt(rcpt, out, outlen);
	return policy_reply(out, outlen, R_RELAY_DENIED, rcpt);
}

/* ---- connection limits ----
 * Each listener has its own smtpd process: this process's tables see
 * every connection of the listener and enforce the limits at accept.
 * The per-client ones are also checked across all listeners through
 * anvil (anvil_connect_start); these tables stay the fallback. Clients
 * with Connect: OK or RELAY are exempt from the per-client limits.
 */
#define CLIENT_SLOTS	1024
#define CLIENT_PROBE	16
#define CLIENT_WINDOW	60	/* seconds, client_connection_rate_limit */

struct client_rate {
	char	 ip[64];
	time_t	 start;
	unsigned count;
};
static struct client_rate	 crate[CLIENT_SLOTS];
static time_t			 lsec;
static unsigned			 lcount;

static unsigned
ip_hash(const char *ip)
{
	unsigned h = 2166136261u;

	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h;
}

/* Count one connection of ip; its count in the current window. */
static unsigned
client_count(const char *ip, time_t now)
{
	unsigned h = ip_hash(ip);	/* ip: anvil_client_key's */
	struct client_rate *c, *victim = NULL;

	for (unsigned i = 0; i < CLIENT_PROBE; i++) {
		c = &crate[(h + i) % CLIENT_SLOTS];
		if (c->ip[0] != '\0' && strcmp(c->ip, ip) == 0) {
			if (now - c->start >= CLIENT_WINDOW) {
				c->start = now;
				c->count = 0;
			}
			return ++c->count;
		}
		if (c->ip[0] == '\0' || now - c->start >= CLIENT_WINDOW) {
			victim = c;
			break;
		}
		if (victim == NULL || c->start < victim->start)
			victim = c;
	}
	snprintf(victim->ip, sizeof(victim->ip), "%s", ip);
	victim->start = now;
	victim->count = 1;
	return 1;
}

/* Exempt from the per-client limits: the host itself, Connect: OK/RELAY. */
static int
client_exempt(const char *ip)
{
	struct access_result res;

	if (client_is_host(ip))
		return 1;
	return have_access &&
	    access_check_connect(&access_map, ip, NULL, &res) == 1 &&
	    (res.action == ACCESS_OK || res.action == ACCESS_RELAY);
}

int
policy_accept(const char *ip, char *out, size_t outlen)
{
	time_t now = time(NULL);
	struct session *t;
	char key[64], tkey[64];
	size_t same = 0;

	if (lc->connection_rate_limit > 0) {
		if (now != lsec) {
			lsec = now;
			lcount = 0;
		}
		if (++lcount > lc->connection_rate_limit) {
			log_warn("connection rate limit exceeded: reject connect "
			    "from unknown[%s] (connection_rate_limit=%u/s)", ip,
			    lc->connection_rate_limit);
			return policy_reply(out, outlen, R_RATE);
		}
	}
	if (client_exempt(ip))
		return 0;
	(void)anvil_client_key(ip, key, sizeof(key));	/* v6: its /64 */
	if (lc->client_connection_rate_limit > 0 &&
	    client_count(key, now) > lc->client_connection_rate_limit) {
		log_warn("client connection rate limit exceeded: reject "
		    "connect from unknown[%s] (client_connection_rate_limit="
		    "%u/min)", ip, lc->client_connection_rate_limit);
		return policy_reply(out, outlen, R_RATE_CLIENT);
	}
	if (lc->client_session_limit == 0)
		return 0;
	TAILQ_FOREACH(t, &sessions, entry) {
		(void)anvil_client_key(t->ip, tkey, sizeof(tkey));
		if (strcmp(tkey, key) == 0)
			same++;
	}
	if (same >= lc->client_session_limit) {
		log_warn("too many connections from unknown[%s]: reject "
		    "(%zu open, client_session_limit=%u)", ip, same,
		    lc->client_session_limit);
		return policy_reply(out, outlen, R_CONC_CLIENT);
	}
	return 0;
}
