/*
 * tls_client: the OpenSSL client side of STARTTLS for the remote agent.
 * One SSL_CTX per process (TLS 1.2+, the system CA store or tls_ca), one
 * SSL per connection over the agent's non-blocking socket; the caller
 * polls when an operation wants to read or write.
 */
#ifndef POSTERN_TLS_CLIENT_H
#define POSTERN_TLS_CLIENT_H

#include <sys/types.h>

#include <stddef.h>

struct tlsc;

/* What the handshake established, for the log. */
struct tlsc_info {
	char	 version[16];	/* "TLSv1.3" */
	char	 cipher[64];
	int	 bits;
	int	 verified;	/* chain and name checked and good */
	char	 verify_err[128];	/* why not, when not */
	char	 peer_cn[128];	/* subject CN of the peer certificate */
};

/* Create the process's context once; cafile NULL: system store. */
int	 tlsc_init(const char *cafile, char *err, size_t errlen);

/*
 * Handshake on fd (non-blocking). sni: a host name for SNI or NULL;
 * name: what the certificate must match (a host name or an IP literal),
 * checked when verify is TLSC_CHECK or TLSC_REQUIRE (the chain is always
 * checked, for the log); TLSC_REQUIRE also fails an unverified session.
 * deadline_ms is CLOCK_MONOTONIC milliseconds. Returns NULL with err set
 * on failure (timeout, handshake error, verification failure).
 */
#define TLSC_NOCHECK	0	/* info->verified is never set */
#define TLSC_REQUIRE	1	/* chain and name, or the handshake fails */
#define TLSC_CHECK	2	/* chain and name, the result in info */
struct tlsc	*tlsc_connect(int fd, const char *sni, const char *name,
		    int verify, long long deadline_ms, struct tlsc_info *,
		    char *err, size_t errlen);

/*
 * Read or write like read(2)/send(2). -1 with errno EAGAIN: call again
 * after poll() for *want (POLLIN or POLLOUT), with the same arguments
 * for a write; -1 with another errno: the connection is lost; 0 from
 * read: the peer closed.
 */
ssize_t	 tlsc_read(struct tlsc *, void *, size_t, short *want);
ssize_t	 tlsc_write(struct tlsc *, const void *, size_t, short *want);
/* Data already decrypted and waiting? */
int	 tlsc_pending(struct tlsc *);
/* Best-effort close_notify, then free (the fd stays open). */
void	 tlsc_free(struct tlsc *);

#endif
