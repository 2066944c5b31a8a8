/*
 * remote connect: the next hop parsed, its addresses (MX walk in lib/dns,
 * or a configured relay), and a connect with a timeout to each in turn
 * until a try is final. Never connects to more than MAX_ADDRS addresses.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <netdb.h>
#include <poll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "idn.h"
#include "remote.h"
#include "utf8.h"

static int
valid_host(const char *h)
{
	if (*h == '\0' || strlen(h) > 255)
		return 0;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-_:", *h))
			return 0;
	return 1;
}

static int
parse_port(const char *s, unsigned *port)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

/*
 * "[host]:port", "[host]", "host:port" or a bare domain. *relay is set for
 * the forms that name a configured relay (anything but a bare domain).
 */
static int
parse_nexthop(struct job *j, int *relay)
{
	const char *nh = j->nexthop, *p;
	size_t n;

	j->port = wk.conf.remote_port;
	*relay = 1;
	if (nh[0] == '[') {
		p = strchr(nh, ']');
		if (p == NULL)
			return -1;
		nh++;
		if (strncasecmp(nh, "IPv6:", 5) == 0)
			nh += 5;
		n = (size_t)(p - nh);
		if (n == 0 || n >= sizeof(j->host))
			return -1;
		memcpy(j->host, nh, n);
		j->host[n] = '\0';
		if (p[1] == ':') {
			if (parse_port(p + 2, &j->port) == -1)
				return -1;
		} else if (p[1] != '\0')
			return -1;
	} else if ((p = strchr(nh, ':')) != NULL) {
		n = (size_t)(p - nh);
		if (strchr(p + 1, ':') || n == 0 || n >= sizeof(j->host) ||
		    parse_port(p + 1, &j->port) == -1)
			return -1;
		memcpy(j->host, nh, n);
		j->host[n] = '\0';
	} else {
		if (strlen(nh) >= sizeof(j->host))
			return -1;
		memcpy(j->host, nh, strlen(nh) + 1);
		*relay = 0;
	}
	if (utf8_has8bit(j->host, strlen(j->host))) {	/* an IDN: RFC 5891 */
		char alabel[sizeof(j->host)];

		if (idn_domain_ascii(j->host, alabel, sizeof(alabel)) == -1)
			return -1;
		memcpy(j->host, alabel, strlen(alabel) + 1);
	}
	return valid_host(j->host) ? 0 : -1;
}

/* Non-blocking connect with a timeout; the fd stays non-blocking. */
static int
connect_to(const struct addrinfo *ai, char *err, size_t errlen)
{
	socklen_t sl;
	int fd, e = 0, one = 1;
	long long deadline = clock_ms() + CONNECT_TIMEOUT * 1000;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1) {
		fmt(err, errlen, "%s", strerror(errno));
		return -1;
	}
	/* Every write is a whole command group or a piece of the body;
	 * Nagle's algorithm would only hold a group back until the peer's
	 * delayed ACK (40 ms) of the one before. */
	if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_debug("TCP_NODELAY: %s", strerror(errno));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS || fd_wait(fd, POLLOUT, deadline) == -1) {
		e = errno;
		goto fail;
	}
	sl = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
		e = errno;
	if (e == 0)
		return fd;
fail:
	fmt(err, errlen, "%s", strerror(e));
	close(fd);
	return -1;
}

/*
 * The addresses to try: MX (lib/dns.c) for a bare domain, the host of a
 * configured relay otherwise. NULL when every recipient got its answer.
 */
static struct addrinfo *
resolve(struct job *j, int relay)
{
	struct addrinfo hints, *res = NULL;
	char port[8], t[TEXT_MAX];
	int rv;

	if (!relay) {
		switch (dns_mail_targets(wk.conf.dns_servers, j->host,
		    wk.conf.hostname, j->port, &res, t, sizeof(t))) {
		case DNS_OK:
			return res;
		case DNS_NXDOMAIN:
			final_all(j, DS_BOUNCE, 550, "5.1.2", t);
			return NULL;
		case DNS_LOOP:
			final_all(j, DS_DEFER, 451, "4.4.6", t);
			return NULL;
		default:	/* the next hop cannot be found now */
			j->a->conn_fail = 1;
			final_all(j, DS_DEFER, 451, "4.4.3", t);
			j->a->conn_fail = 0;
			return NULL;
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	fmt(port, sizeof(port), "%u", j->port);
	if ((rv = getaddrinfo(j->host, port, &hints, &res)) == 0)
		return res;
	fmt(t, sizeof(t), "Host or domain name not found. "
	    "Name service error for name=%s: %s", j->host, gai_strerror(rv));
	/* a configured relay that does not resolve is a local error: retry
	 * (a bare domain that does not exist bounced in lib/dns above) */
	final_all(j, DS_DEFER, 451, "4.4.3", t);
	return NULL;
}

/* Each address in turn (at most MAX_ADDRS) until a try is final. */
static void
try_addrs(struct job *j, struct addrinfo *res, int mx)
{
	char err[128];
	int tried = 0;

	set_last(j, DS_DEFER, 451, "4.4.3", "no address for %s", j->host);
	conn_failed(j);
	for (struct addrinfo *ai = res; ai && tried < MAX_ADDRS &&
	    j->a->nopen > 0; ai = ai->ai_next) {
		int fd;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		tried++;
		if (mx && ai->ai_canonname != NULL)	/* this MX host */
			fmt(j->host, sizeof(j->host), "%s", ai->ai_canonname);
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, j->ip,
		    sizeof(j->ip), NULL, 0, NI_NUMERICHOST) != 0)
			fmt(j->ip, sizeof(j->ip), "?");
		fmt(j->relay, sizeof(j->relay), "none");
		if ((fd = connect_to(ai, err, sizeof(err))) == -1) {
			set_last(j, DS_DEFER, 421, "4.4.1",
			    "connect to %s[%s]:%u: %s", j->host, j->ip,
			    j->port, err);
			conn_failed(j);
			log_info("%s: connect to %s[%s]:%u: %s", j->id,
			    j->host, j->ip, j->port, err);
			continue;
		}
		fmt(j->relay, sizeof(j->relay), "%s[%s]:%u", j->host,
		    j->ip, j->port);
		set_last(j, DS_DEFER, 451, "4.3.0",
		    "delivery via %s[%s] did not complete", j->host, j->ip);
		if (session(j, fd) == TRY_DONE)
			break;
	}
}

/* One message to its next hop: a cached session, else a fresh walk. */
void
deliver(struct job *j)
{
	struct addrinfo *res;
	char err[128], t[TEXT_MAX];
	int relay;

	fmt(j->relay, sizeof(j->relay), "none");
	if (parse_nexthop(j, &relay) == -1) {
		clean_copy(err, sizeof(err), j->nexthop);
		fmt(t, sizeof(t), "bad next hop \"%s\"", err);
		final_all(j, DS_DEFER, 451, "4.3.5", t);
		return;
	}
	if (cred_lookup(j, t, sizeof(t)) == -1) {
		log_error("%s: %s", j->id, t);
		final_all(j, DS_DEFER, 451, "4.3.5", t);
		return;
	}
	if (cache_deliver(j) == 0) {
		final_last(j);	/* none left, normally */
		return;
	}
	if ((res = resolve(j, relay)) == NULL)
		return;
	try_addrs(j, res, !relay);
	if (!relay)
		dns_addrinfo_free(res);
	else
		freeaddrinfo(res);
	final_last(j);
}
