/*
 * conf_tls: the one configuration check that needs OpenSSL (a listener's
 * certificate chain and key parse and match). Linked only into the
 * programs that set conf_tls_pair (postern): a worker never checks them,
 * and without this file it maps no libcrypto (its relocations are most
 * of an idle process's private memory). It never keeps the key.
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"

static void
tls_err(char *err, size_t len, const char *what, const char *file)
{
	char		 e[256];
	unsigned long	 n = ERR_get_error();

	if (n != 0)
		ERR_error_string_n(n, e, sizeof(e));
	else
		snprintf(e, sizeof(e), "unknown error");
	ERR_clear_error();
	snprintf(err, len, "%s %s: %s", what, file, e);
}

int
conf_tls_pair_check(const char *cert, const char *key, char *err,
    size_t len)
{
	SSL_CTX	*ctx;
	int	 r = CONF_TLS_OK;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, len, "cannot create a TLS context");
		return CONF_TLS_BAD_CERT;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_err(err, len, "bad certificate chain in", cert);
		r = CONF_TLS_BAD_CERT;
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key,
	    SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			r = CONF_TLS_MISMATCH;
		else {
			tls_err(err, len, "bad private key in", key);
			r = CONF_TLS_BAD_KEY;
		}
	} else if (SSL_CTX_check_private_key(ctx) != 1)
		r = CONF_TLS_MISMATCH;
	if (r == CONF_TLS_MISMATCH)
		ERR_clear_error();
	SSL_CTX_free(ctx);
	return r;
}
