/*
 * smtpd TLS: the server SSL_CTX (loaded once at start from tls_cert and
 * tls_key; a listener that needs TLS refuses to start without it) and the
 * switch of a session to an OpenSSL filter bufferevent for STARTTLS or
 * tls = wrapper. Never downgrades: no SSLv3/TLS 1.0/1.1, no renegotiation.
 * The key comes as an fd master opened as root (POSTERN_TLS_KEY_FD), so
 * the key file may stay root-only; smtpd itself never runs as root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd.h"

#define KEY_MAX		(64 * 1024)	/* bytes of PEM we read from master's fd */
/* TLS 1.2: forward-secret AEAD key exchange only (TLS 1.3: OpenSSL's) */
#define CIPHERS		"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:" \
			"!aNULL:!eNULL:!PSK:!SRP"

/* Read the PEM private key from the fd master passed; -1 on error. */
static int
key_from_fd(const char *fdstr, char *err, size_t errlen)
{
	static char pem[KEY_MAX];
	char *end;
	long fd = strtol(fdstr, &end, 10);
	size_t len = 0;
	ssize_t n;
	EVP_PKEY *k = NULL;
	BIO *bio;
	int rv = -1;

	if (*end != '\0' || fd < 3 || fd > 1024) {
		snprintf(err, errlen, "bad POSTERN_TLS_KEY_FD=%s", fdstr);
		return -1;
	}
	while (len < sizeof(pem) && (n = read((int)fd, pem + len,
	    sizeof(pem) - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len == sizeof(pem)) {
		snprintf(err, errlen, "key file larger than %d bytes", KEY_MAX);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL) {
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (k == NULL || SSL_CTX_use_PrivateKey(ssl_ctx, k) != 1)
		ERR_error_string_n(ERR_get_error(), err, errlen);
	else
		rv = 0;
	EVP_PKEY_free(k);
out:
	OPENSSL_cleanse(pem, sizeof(pem));
	close((int)fd);
	return rv;
}

void
tls_init(void)
{
	char err[256];
	const char *kfd = getenv("POSTERN_TLS_KEY_FD");

	if (lc->tls == TLS_NONE)
		return;
	if (lc->tls_cert == NULL || lc->tls_key == NULL) {
		if (lc->tls == TLS_REQUIRED || lc->tls == TLS_WRAPPER)
			fatal("[%s] tls needs tls_cert and tls_key", wk.service);
		log_debug("[%s] no tls_cert/tls_key: STARTTLS not offered",
		    wk.service);
		return;
	}
	if ((ssl_ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatal("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ssl_ctx, CIPHERS) != 1)
		fatal("cannot set the TLS cipher list");
	if (SSL_CTX_use_certificate_chain_file(ssl_ctx, lc->tls_cert) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		fatal("cannot load tls_cert %s: %s", lc->tls_cert, err);
	}
	if (kfd != NULL) {
		if (key_from_fd(kfd, err, sizeof(err)) == -1)
			fatal("cannot load tls_key %s (from master): %s",
			    lc->tls_key, err);
		unsetenv("POSTERN_TLS_KEY_FD");
	} else if (SSL_CTX_use_PrivateKey_file(ssl_ctx, lc->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		fatal("cannot load tls_key %s: %s", lc->tls_key, err);
	}
	if (SSL_CTX_check_private_key(ssl_ctx) != 1)
		fatal("tls_key %s does not match tls_cert %s", lc->tls_key,
		    lc->tls_cert);
}

/* Put a TLS filter (server side) over the session's plain bufferevent. */
int
tls_start(struct session *s)
{
	struct bufferevent *b;
	SSL *ssl;

	if (ssl_ctx == NULL || (ssl = SSL_new(ssl_ctx)) == NULL)
		return -1;
	b = bufferevent_openssl_filter_new(base, s->plain, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (b == NULL) {
		SSL_free(ssl);
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(b, 1);
	s->bev = b;
	s->tls = 1;
	return 0;
}

void
tls_established(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	if (ssl == NULL)
		return;
	snprintf(s->tls_info, sizeof(s->tls_info), "%s with cipher %s",
	    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	log_info("%s: TLS connection established from %s[%s]: %s", s->id,
	    s->name, s->ip, s->tls_info);
}

void
tls_log_errors(struct session *s)
{
	unsigned long e;
	char err[256];

	if (!s->tls)
		return;
	while ((e = bufferevent_get_openssl_error(s->bev)) != 0) {
		ERR_error_string_n(e, err, sizeof(err));
		log_info("%s: TLS error from %s[%s]: %s", s->id, s->name,
		    s->ip, err);
	}
}
