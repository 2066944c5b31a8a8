/*
 * tlscheck: `tlscheck CERT KEY`, run by postern (check, start, reload)
 * to check a listener's certificate chain and key (conf/conf_tls.c), so
 * that the long-lived master never maps OpenSSL (its relocations are
 * most of a resting process's private memory). The verdict is one
 * tls_verdict (lib/proto.h) on fd 1, which must be a socket. It never
 * keeps, prints or passes on the key.
 */
#include <stdio.h>

#include "buf.h"
#include "conf.h"
#include "ipc.h"
#include "proto.h"

#define SEND_TIMEOUT_MS	5000

int
main(int argc, char **argv)
{
	struct tls_verdict	 v;
	struct buf		 b;
	int			 r = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: tlscheck CERT KEY (the verdict goes to "
		    "fd 1, a socket)\n");
		return 2;
	}
	v.text[0] = '\0';
	v.result = conf_tls_pair_check(argv[1], argv[2], v.text,
	    sizeof(v.text));
	buf_init(&b, 4096);
	if (tls_verdict_encode(&b, &v) == 0)
		r = ipc_send(1, &b, SEND_TIMEOUT_MS);
	buf_free(&b);
	if (r == -1) {
		perror("tlscheck: cannot send the verdict on fd 1");
		return 1;
	}
	return 0;
}
