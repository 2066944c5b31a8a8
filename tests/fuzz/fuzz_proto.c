/*
 * libFuzzer harness for the protocol module (lib/proto.c) over the frame
 * parser (lib/ipc.c): any bytes as a payload, then every decoder on the
 * result; what decodes must encode again. Must never crash, leak or read
 * out of bounds. `make fuzz`, then build/fuzz/fuzz_proto -runs=1000000.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static struct ipc_msg	 m;
static struct buf	 out;
static char		 err[128];

static void
reply_and_open(void)
{
	struct proto_reply r;
	struct cleanup_open o;
	const char *chunk;
	size_t len;

	if (proto_reply_decode(&m, &r, err, sizeof(err)) == 0) {
		if (proto_reply_encode(&out, &r) == -1)
			abort();
		proto_reply_free(&r);
	}
	if (cleanup_open_decode(&m, &o, err, sizeof(err)) == 0) {
		if (cleanup_open_encode(&out, &o) == -1)
			abort();
		cleanup_open_free(&o);
	}
	if (cleanup_data_decode(&m, &chunk, &len) == 0 &&
	    len <= IPC_MAX_FRAME - 64 &&
	    cleanup_data_encode(&out, chunk, len) == -1)
		abort();
}

static void
queue_and_delivery(void)
{
	struct qmgr_admin a;
	struct deliver_request d;
	struct deliver_status s;

	if (qmgr_admin_decode(&m, &a, err, sizeof(err)) == 0 &&
	    qmgr_admin_encode(&out, &a) == -1)
		abort();
	if (deliver_request_decode(&m, &d, err, sizeof(err)) == 0) {
		if (deliver_request_encode(&out, &d) == -1)
			abort();
		deliver_request_free(&d);
	}
	if (deliver_status_decode(&m, &s, err, sizeof(err)) == 0 &&
	    deliver_status_encode(&out, &s) == -1)
		abort();
}

static void
master_and_anvil(void)
{
	struct master_request mr;
	struct anvil_request ar;
	struct anvil_reply ap;
	struct showq_request sq;
	struct proto_stats ps;
	struct tls_verdict tv;

	if (proto_stats_decode(&m, &ps, err, sizeof(err)) == 0 &&
	    proto_stats_encode(&out, &ps) == -1)
		abort();
	if (showq_request_decode(&m, &sq, err, sizeof(err)) == 0 &&
	    showq_request_encode(&out, &sq) == -1)
		abort();
	if (master_request_decode(&m, &mr, err, sizeof(err)) == 0 &&
	    master_request_encode(&out, &mr) == -1)
		abort();
	if (anvil_request_decode(&m, &ar, err, sizeof(err)) == 0 &&
	    anvil_request_encode(&out, &ar) == -1)
		abort();
	if (anvil_reply_decode(&m, &ap, err, sizeof(err)) == 0 &&
	    anvil_reply_encode(&out, &ap) == -1)
		abort();
	if (tls_verdict_decode(&m, &tv, err, sizeof(err)) == 0 &&
	    tls_verdict_encode(&out, &tv) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client_info c;

	if (m.attr == NULL) {
		ipc_msg_init(&m);
		buf_init(&out, IPC_MAX_FRAME + 4);
	}
	if (client_info_decode(data, size, &c, err, sizeof(err)) == 0) {
		if (client_info_encode(&out, &c) == -1)
			abort();
		client_info_free(&c);
	}
	if (ipc_parse(&m, data, size) == -1)
		return 0;
	(void)proto_req_type(&m);
	reply_and_open();
	queue_and_delivery();
	master_and_anvil();
	return 0;
}
