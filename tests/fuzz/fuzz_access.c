/*
 * libFuzzer harness for the access-map parser: the input is an access
 * file compiled with map_compile (then every key it could hold is looked
 * up), and each line as an access value. Must never crash, leak or read
 * out of bounds whatever the file holds. Built by `make fuzz`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map.h"

static char	path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = { 0 };
	struct access_result res;
	struct map m;
	char *v, cdb[80];
	FILE *f;

	/* on tmpfs when there is one: map_compile fsyncs every file */
	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/fuzz-access-%ld",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		    (long)getpid());
	/* one value */
	if ((v = malloc(size + 1)) == NULL)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	(void)access_value_parse(v, &res);
	free(v);

	/*
	 * A whole file, with at most one CIDR entry: an IPv6 prefix expands
	 * to up to 32768 keys, and repeating one makes tinycdb replace each
	 * key (quadratic: minutes under ASan). Admin input; known, bounded.
	 */
	if (memchr(data, '/', size) != memrchr(data, '/', size))
		return 0;
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	fclose(f);
	if (map_compile(path, MAP_PLAIN, &errs) == 0 &&
	    map_open(&m, path) == 0) {
		(void)access_check_connect(&m, "192.0.2.1", "mx.example.com",
		    &res);
		(void)access_check_connect(&m, "2001:db8::1", NULL, &res);
		(void)access_check_addr(&m, "From", "user@host.example.com",
		    &res);
		(void)access_check_addr(&m, "To", "postmaster@example.com",
		    &res);
		map_close(&m);
	}
	conf_errors_free(&errs);
	snprintf(cdb, sizeof(cdb), "%s.cdb", path);
	unlink(cdb);
	unlink(path);
	return 0;
}
