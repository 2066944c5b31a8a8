/*
 * smtpd: start-up and the event loop of the SMTP server of one listener
 * (`smtpd -c CONF -s NAME`, listening sockets from master as fds 3..).
 * Accepts connections, enforces max_sessions; on SIGTERM stops accepting,
 * tells idle sessions 421 and exits once the rest are done (at most 60 s);
 * on SIGUSR1 (reload) serves every open session to its end.
 * Runs unprivileged; it never binds, never touches the queue files.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "smtpd.h"

#define STOP_GRACE	60	/* seconds to let sessions finish on SIGTERM */

struct worker		 wk;
const struct conf_smtpd	*lc;
struct event_base	*base;
SSL_CTX			*ssl_ctx;
int			 shutting;
size_t			 nsessions;
struct session_list	 sessions = TAILQ_HEAD_INITIALIZER(sessions);

static struct evconnlistener	*lst[16];
static int			 nlst;
static struct event		*tick;
static time_t			 stop_deadline;
static time_t			 accept_paused_until;

static void
sockaddr_ip(const struct sockaddr *sa, char *out, size_t outlen)
{
	const struct sockaddr_in6 *s6;

	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, outlen) == NULL)
			snprintf(out, outlen, "unknown");
		return;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			if (inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out,
			    outlen) == NULL)
				snprintf(out, outlen, "unknown");
			return;
		}
		if (inet_ntop(AF_INET6, &s6->sin6_addr, out, outlen) == NULL)
			snprintf(out, outlen, "unknown");
		return;
	}
	snprintf(out, outlen, "unknown");
}

/* Refuse a new connection with reply r (not on a TLS wrapper: it would
 * be garbage before the handshake), then close it. */
static void
accept_refuse(int fd, const char *r)
{
	char line[REPLY_MAX + 2];

	if (r != NULL && lc->tls != TLS_WRAPPER &&
	    (size_t)snprintf(line, sizeof(line), "%s\r\n", r) < sizeof(line))
		(void)send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	char ip[64], rl[REPLY_MAX];

	(void)l; (void)salen; (void)arg;
	sockaddr_ip(sa, ip, sizeof(ip));
	if (shutting) {
		accept_refuse(fd, NULL);
		return;
	}
	if (lc->max_sessions > 0 && nsessions >= lc->max_sessions) {
		log_warn("too many connections: reject connect from unknown[%s]"
		    " (max_sessions=%zu)", ip, lc->max_sessions);
		(void)reply_format(rl, sizeof(rl), R_BUSY);
		anvil_notify(REQ_REJECT_CONN, ip);
		accept_refuse(fd, rl);
		return;
	}
	if (policy_accept(ip, rl, sizeof(rl)) == -1) {	/* rate limits */
		anvil_notify(REQ_REJECT_CONN, ip);
		accept_refuse(fd, rl);
		return;
	}
	/* the AUTH lockout refuses AUTH only (smtpd/auth.c), not this */
	session_accept(fd, ip);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	(void)arg;
	log_warn("accept: %s", evutil_socket_error_to_string(e));
	/* EMFILE and the like: back off for a second. */
	evconnlistener_disable(l);
	accept_paused_until = time(NULL) + 1;
}

/* Open the map at path, if one is configured: 1, or 0 if none. A map
 * that cannot be opened is fatal (the "what" names it in the log). */
int
smtpd_map_open(struct map *m, const char *path, const char *what)
{
	if (path == NULL)
		return 0;
	if (map_open(m, path) == -1)
		fatal("cannot open %s %s: %s", what, path, strerror(errno));
	return 1;
}

static int		 session_ended;	/* since the last tick */

/* Called whenever a session ends. */
void
sessions_changed(void)
{
	session_ended = 1;
	if (shutting && nsessions == 0)
		event_base_loopbreak(base);
}

static void
begin_shutdown(void)
{
	struct session *s, *t;

	shutting = 1;
	stop_deadline = time(NULL) + STOP_GRACE;
	/* Close our copies of the listening sockets (master keeps its own,
	 * so nothing is refused): a new master can bind them at once. */
	for (int i = 0; i < nlst; i++)
		evconnlistener_free(lst[i]);
	nlst = 0;
	log_info("stopping%s: %zu session(s) open",
	    worker_graceful ? " gracefully" : "", nsessions);
	/* SIGUSR1 (reload): every session is served to its end (its own
	 * timeouts bound it) while the new generation accepts. */
	if (worker_graceful) {
		sessions_changed();
		return;
	}
	/* SIGTERM: sessions waiting for a command are told now. */
	TAILQ_FOREACH_SAFE(s, &sessions, entry, t) {
		if (session_idle(s)) {
			session_reply(s, R_SHUTDOWN);
			session_close(s);
			(void)session_try_finish(s);
		}
	}
	sessions_changed();
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd; (void)ev; (void)arg;
	if (worker_stop && !shutting)
		begin_shutdown();
	if (shutting) {
		if (nsessions == 0 || (!worker_graceful &&
		    time(NULL) >= stop_deadline)) {
			if (nsessions)
				log_warn("stopping with %zu session(s) still open",
				    nsessions);
			event_base_loopbreak(base);
		}
		return;
	}
	worker_rest(nsessions > 0 || session_ended);
	session_ended = 0;
	if (accept_paused_until && time(NULL) >= accept_paused_until) {
		accept_paused_until = 0;
		for (int i = 0; i < nlst; i++)
			evconnlistener_enable(lst[i]);
	}
}

int
main(int argc, char **argv)
{
	struct timeval one = { 1, 0 };
	struct session *s;

	worker_init(&wk, "smtpd", argc, argv);
	if (wk.nlisten == 0)
		fatal("no listening sockets (start me from postern start)");
	lc = conf_listener(&wk.conf, wk.service);
	if (lc == NULL)
		lc = &wk.conf.smtpd;
	tls_init();
	auth_init();
	policy_init();
	worker_confine(&wk);

	if ((base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	for (int i = 0; i < wk.nlisten && i < 16; i++) {
		int fd = wk.listen_fd[i];

		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
			fatal("fcntl fd %d: %s", fd, strerror(errno));
		lst[nlst] = evconnlistener_new(base, accept_cb, NULL,
		    LEV_OPT_CLOSE_ON_FREE, 0, fd);
		if (lst[nlst] == NULL)
			fatal("evconnlistener_new on fd %d failed", fd);
		evconnlistener_set_error_cb(lst[nlst], accept_error_cb);
		nlst++;
	}
	if ((tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL)) == NULL ||
	    event_add(tick, &one) == -1)
		fatal("cannot add timer");
	log_info("listener %s: %d socket(s), tls=%s, max_sessions=%zu",
	    wk.service, nlst, ssl_ctx ? "yes" : "no", lc->max_sessions);
	sandbox_init();

	event_base_dispatch(base);

	while ((s = TAILQ_FIRST(&sessions)) != NULL) {
		s->closing = 1;
		s->close_deadline = 0;
		(void)session_try_finish(s);
	}
	for (int i = 0; i < nlst; i++)
		evconnlistener_free(lst[i]);
	event_free(tick);
	event_base_free(base);
	if (ssl_ctx)
		SSL_CTX_free(ssl_ctx);
	return 0;
}
