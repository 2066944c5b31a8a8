/*
 * tls_client: OpenSSL client side of STARTTLS for remote (remote_tls).
 * TLS 1.2 or later only, no renegotiation, no compression; SNI when the
 * next hop has a name; the peer's chain is checked against tls_ca or the
 * system CA store and its name with X509_VERIFY_PARAM_set1_host (or _ip).
 * It must never report a connection as verified unless both checks passed,
 * and never block: every wait is the caller's poll() with a deadline.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "remote.h"

/* TLS 1.2: forward-secret AEAD key exchange only (TLS 1.3: OpenSSL's) */
#define CIPHERS		"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:" \
			"!aNULL:!eNULL:!PSK:!SRP"

struct tlsc {
	SSL	*ssl;
	int	 fd;
};

static SSL_CTX	*ctx;

static void
ssl_errstr(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) :
		    "unexpected end of connection");
	ERR_clear_error();
	if (snprintf(err, errlen, "%s: %s", what, buf) < 0 && errlen > 0)
		err[0] = '\0';
}

int
tlsc_init(const char *cafile, char *err, size_t errlen)
{
	if (ctx != NULL)
		return 0;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ssl_errstr(err, errlen, "cannot create a TLS context");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, CIPHERS) != 1) {
		ssl_errstr(err, errlen, "cipher list");
		goto fail;
	}
	/* the chain is always checked (for the log); whether a failure
	 * matters is decided after the handshake, by remote_tls */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (cafile != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
			ssl_errstr(err, errlen, cafile);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_errstr(err, errlen, "system CA store");
		goto fail;
	}
	return 0;
fail:
	SSL_CTX_free(ctx);
	ctx = NULL;
	return -1;
}

static int
is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void
fill_info(SSL *ssl, struct tlsc_info *info, int verify, const char *name)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	memset(info, 0, sizeof(*info));
	snprintf(info->version, sizeof(info->version), "%s",
	    SSL_get_version(ssl));
	if (c != NULL) {
		snprintf(info->cipher, sizeof(info->cipher), "%s",
		    SSL_CIPHER_get_name(c));
		info->bits = SSL_CIPHER_get_bits(c, NULL);
	}
	if (cert != NULL) {
		X509_NAME *sub = X509_get_subject_name(cert);

		if (sub == NULL || X509_NAME_get_text_by_NID(sub,
		    NID_commonName, info->peer_cn,
		    sizeof(info->peer_cn)) < 0)
			info->peer_cn[0] = '\0';
		for (char *p = info->peer_cn; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	if (cert == NULL)
		snprintf(info->verify_err, sizeof(info->verify_err),
		    "no peer certificate");
	else if (vr == X509_V_ERR_HOSTNAME_MISMATCH ||
	    vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(info->verify_err, sizeof(info->verify_err),
		    "certificate name does not match %s", name);
	else if (vr != X509_V_OK)
		snprintf(info->verify_err, sizeof(info->verify_err), "%s",
		    X509_verify_cert_error_string(vr));
	else if (!verify)	/* the name was not part of the check */
		snprintf(info->verify_err, sizeof(info->verify_err),
		    "name not checked");
	else
		info->verified = 1;
}

/* SSL_connect until done, waiting for the socket up to the deadline. */
static int
handshake(struct tlsc *t, long long deadline_ms, char *err, size_t errlen)
{
	for (;;) {
		int r, e;

		errno = 0;
		r = SSL_connect(t->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(t->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			ssl_errstr(err, errlen, "handshake failed");
			return -1;
		}
		if (fd_wait(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    deadline_ms) == -1) {
			if (errno == ETIMEDOUT)
				snprintf(err, errlen, "handshake timed out");
			else
				snprintf(err, errlen, "poll: %s",
				    strerror(errno));
			return -1;
		}
	}
}

struct tlsc *
tlsc_connect(int fd, const char *sni, const char *name, int verify,
    long long deadline_ms, struct tlsc_info *info, char *err, size_t errlen)
{
	struct tlsc *t;
	X509_VERIFY_PARAM *vp;
	int r;

	ERR_clear_error();
	if (ctx == NULL) {
		snprintf(err, errlen, "TLS not initialised");
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->fd = fd;
	if ((t->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(t->ssl, fd) != 1) {
		ssl_errstr(err, errlen, "cannot set up TLS");
		goto fail;
	}
	if (sni != NULL && *sni != '\0' && !is_ip(sni) &&
	    SSL_set_tlsext_host_name(t->ssl, sni) != 1) {
		ssl_errstr(err, errlen, "SNI");
		goto fail;
	}
	if (verify) {
		vp = SSL_get0_param(t->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_ip(name))
			r = X509_VERIFY_PARAM_set1_ip_asc(vp, name);
		else
			r = X509_VERIFY_PARAM_set1_host(vp, name, 0);
		if (r != 1) {
			ssl_errstr(err, errlen,
			    "cannot set the name to verify");
			goto fail;
		}
	}
	if (handshake(t, deadline_ms, err, errlen) == -1)
		goto fail;
	fill_info(t->ssl, info, verify, name);
	if (verify == TLSC_REQUIRE && !info->verified) {
		snprintf(err, errlen, "server certificate not trusted: %s",
		    info->verify_err);
		tlsc_free(t);
		return NULL;
	}
	return t;
fail:
	if (t->ssl != NULL)
		SSL_free(t->ssl);
	free(t);
	return NULL;
}

/* The result of SSL_read_ex/SSL_write_ex (r, n bytes) as read(2) gives
 * it, with EAGAIN and *want when the socket must be waited for. */
static ssize_t
io_result(struct tlsc *t, int r, size_t n, short *want)
{
	if (r == 1)
		return (ssize_t)n;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		if (errno == 0 || errno == EAGAIN || errno == EINTR)
			errno = ECONNRESET;
		return -1;
	}
}

ssize_t
tlsc_read(struct tlsc *t, void *buf, size_t len, short *want)
{
	size_t n = 0;
	int r;

	errno = 0;
	r = SSL_read_ex(t->ssl, buf, len, &n);
	return io_result(t, r, n, want);
}

ssize_t
tlsc_write(struct tlsc *t, const void *buf, size_t len, short *want)
{
	size_t n = 0;
	int r;

	errno = 0;
	r = SSL_write_ex(t->ssl, buf, len, &n);
	return io_result(t, r, n, want);
}

int
tlsc_pending(struct tlsc *t)
{
	return SSL_pending(t->ssl) > 0;
}

void
tlsc_free(struct tlsc *t)
{
	if (t == NULL)
		return;
	/* one close_notify, no waiting for the peer's */
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}
