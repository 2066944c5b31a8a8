/*
 * mapcmd: `postern map [-q KEY] FILE` (makemap/postmap) and `postern
 * aliases` (newaliases, sendmail -bi): compile text maps into FILE.cdb
 * through map_compile (temp file, fsync, rename) and look keys up.
 * It never writes the .cdb itself and never leaves a half-written one.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "map.h"
#include "route.h"
#include "tools/tools.h"

static int
compile(const char *file, enum map_kind kind, map_check_fn *check)
{
	struct conf_errors e;
	int r;

	memset(&e, 0, sizeof(e));
	if (check != NULL)
		r = map_compile_checked(file, check, 0, &e);
	else
		r = map_compile(file, kind, &e);
	for (size_t i = 0; i < e.n; i++)
		fprintf(stderr, "postern: %s\n", e.msg[i]);
	conf_errors_free(&e);
	return r;
}

static const char *
base_name(const char *file)
{
	const char *b = strrchr(file, '/');

	return b ? b + 1 : file;
}

static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return b != NULL && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The entry check of FILE: virtual_map's or transport_map's when the
 * config names it so (or it is called virtusertable / mailertable). */
static map_check_fn *
checker(const char *conf_file, const char *file)
{
	struct conf c;
	struct conf_errors e = { 0 };
	map_check_fn *fn = NULL;

	memset(&c, 0, sizeof(c));
	conf_worker = 1;	/* never the private files (tools_conf_load) */
	if (conf_load(conf_file, &c, &e) == 0) {
		if (same_file(file, c.virtual_map))
			fn = route_virtual_check;
		else if (same_file(file, c.transport_map))
			fn = route_transport_check;
	}
	conf_errors_free(&e);
	conf_free(&c);
	if (fn == NULL && strcmp(base_name(file), "virtusertable") == 0)
		fn = route_virtual_check;
	if (fn == NULL && strcmp(base_name(file), "mailertable") == 0)
		fn = route_transport_check;
	return fn;
}

int
map_main(const char *conf_file, int argc, char **argv)
{
	const char *key = NULL, *file = NULL;
	char cdb[4096];
	struct stat st;
	struct map m;
	char *val = NULL;
	int i, r, bad = 0;

	for (i = 0; i < argc && !bad; i++) {
		if (strcmp(argv[i], "-q") == 0 && i + 1 < argc && key == NULL)
			key = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			bad = 1;
	}
	if (bad || file == NULL) {
		fprintf(stderr, "usage: postern map [-q KEY] FILE\n");
		return 1;
	}
	if (key == NULL)
		return compile(file, strcmp(base_name(file), "aliases") == 0 ?
		    MAP_ALIASES : MAP_PLAIN, checker(conf_file, file)) == 0 ?
		    0 : 1;

	r = snprintf(cdb, sizeof(cdb), "%s.cdb", file);
	if (r < 0 || (size_t)r >= sizeof(cdb)) {
		fprintf(stderr, "postern: %s: name too long\n", file);
		return 1;
	}
	if (stat(cdb, &st) == -1) {
		fprintf(stderr, "postern: %s: %s (run: postern map %s)\n", cdb,
		    strerror(errno), file);
		return 1;
	}
	if (map_open(&m, file) == -1) {
		fprintf(stderr, "postern: %s: cannot open: %s\n", cdb,
		    strerror(errno));
		return 1;
	}
	r = map_lookup(&m, key, &val);
	map_close(&m);
	if (r == -1) {
		fprintf(stderr, "postern: %s: lookup error\n", cdb);
		return 1;
	}
	if (r == 0)
		return 1;
	printf("%s\n", val);
	free(val);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
aliases_main(const char *conf_file, int argc, char **argv)
{
	static const char *need[] = { "postmaster", "MAILER-DAEMON" };
	struct conf c;
	struct map m;
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			i++;	/* newaliases -c FILE: already in conf_file */
		else if (strcmp(argv[i], "-v") != 0) {
			fprintf(stderr, "usage: postern aliases\n");
			return 1;
		}
	}
	memset(&c, 0, sizeof(c));
	if (tools_conf_load(conf_file, &c) == -1) {
		conf_free(&c);
		return 1;
	}
	if (compile(c.alias_map, MAP_ALIASES, NULL) == -1) {
		conf_free(&c);
		return 1;
	}
	if (map_open(&m, c.alias_map) == 0) {
		for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
			char *v = NULL;
			int r = map_lookup(&m, need[i], &v);

			if (r == 0)
				fprintf(stderr, "postern: warning: %s: no alias "
				    "for %s (add \"%s: root\")\n", c.alias_map,
				    need[i], need[i]);
			else if (r == -1) {
				fprintf(stderr, "postern: %s.cdb: lookup error\n",
				    c.alias_map);
				rc = 1;
			}
			free(v);
		}
		map_close(&m);
	} else {
		fprintf(stderr, "postern: %s.cdb: cannot open: %s\n",
		    c.alias_map, strerror(errno));
		rc = 1;
	}
	conf_free(&c);
	return rc;
}
