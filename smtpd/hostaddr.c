/*
 * smtpd hostaddr: is a client the host itself? The host's own addresses
 * are 127.0.0.1, ::1 and every address of its interfaces (getifaddrs,
 * read again once a minute); other 127/8 addresses are clients like any.
 * Exempts the host from client_session_limit and the AUTH lockout. Never
 * blocks for long and never grows: at most HOSTADDR_MAX addresses.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "smtpd.h"

#define HOSTADDR_MAX	256
#define HOSTADDR_TTL	60	/* s between getifaddrs calls */

static char	 addrs[HOSTADDR_MAX][INET6_ADDRSTRLEN];
static size_t	 naddrs;
static time_t	 read_at;

static void
hostaddr_read(void)
{
	struct ifaddrs *ifa, *i;
	const void *a;

	naddrs = 0;
	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs failed: only 127.0.0.1 and ::1 are this "
		    "host's own addresses for now");
		return;
	}
	for (i = ifa; i != NULL && naddrs < HOSTADDR_MAX; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6)
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(i->ifa_addr->sa_family, a, addrs[naddrs],
		    sizeof(addrs[0])) != NULL)
			naddrs++;
	}
	freeifaddrs(ifa);
}

int
client_is_host(const char *ip)
{
	time_t now = time(NULL);

	if (strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0)
		return 1;
	if (read_at == 0 || now - read_at >= HOSTADDR_TTL ||
	    now < read_at) {
		read_at = now;
		hostaddr_read();
	}
	for (size_t k = 0; k < naddrs; k++)
		if (strcmp(addrs[k], ip) == 0)
			return 1;
	return 0;
}
