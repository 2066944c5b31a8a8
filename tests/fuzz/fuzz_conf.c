/*
 * libFuzzer harness for the config parser (conf/conf.c): the input is
 * postern.conf, read by conf_load through a memfd (/proc/self/fd/N).
 * Shims, so one run is fast and touches nothing: conf_worker = 1 skips
 * the TLS key/PEM and remote_auth file checks; a "hostname" line is put
 * first so fqdn() never resolves; inputs naming /dev, /proc, /sys or
 * /run are skipped (file keys are opened to check them). Also the input
 * as a domain list when it names no file. Must never crash or leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

static const char	 head[] = "hostname = fuzz.example.com\n";
static int		 fd = -1;
static char		 path[64];

static int
unsafe(const uint8_t *data, size_t size)
{
	static const char *bad[] = { "/dev", "/proc", "/sys", "/run" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return 1;
	return 0;
}

static void
domains(const uint8_t *data, size_t size)
{
	struct conf_errors errs = { 0 };
	struct domain_list dl = { 0 };
	char *s;

	if (memchr(data, '/', size) != NULL || (s = malloc(size + 1)) == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (domain_list_load(s, &dl, &errs) == 0 && dl.n > 0)
		(void)domain_list_match(&dl, dl.dom[0], 1);
	(void)domain_list_match(&dl, "a.example.com", 0);
	domain_list_free(&dl);
	conf_errors_free(&errs);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_errors errs = { 0 };
	struct conf c;

	if (size > 64 * 1024 || unsafe(data, size))
		return 0;
	if (fd == -1) {
		if ((fd = memfd_create("fuzz-conf", 0)) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		conf_worker = 1;
	}
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, head, sizeof(head) - 1, 0) != sizeof(head) - 1 ||
	    (size > 0 && pwrite(fd, data, size, sizeof(head) - 1) !=
	    (ssize_t)size))
		abort();
	memset(&c, 0, sizeof(c));
	(void)conf_load(path, &c, &errs);
	(void)conf_listener(&c, "smtp");
	conf_free(&c);
	conf_errors_free(&errs);
	domains(data, size);
	return 0;
}
