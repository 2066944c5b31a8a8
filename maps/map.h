/*
 * map: lookup tables. Text maps ("key value" lines, or "key: value" for
 * aliases) are compiled to KEY.cdb with tinycdb by map_compile (temp file,
 * fsync, rename). Daemons open the .cdb; lookups are case-insensitive on
 * the key (keys are stored lower-cased).
 */
#ifndef POSTERN_MAP_H
#define POSTERN_MAP_H

#include <stddef.h>
#include "conf.h"

enum map_kind { MAP_PLAIN, MAP_ALIASES };

struct map {
	char	*path;		/* the text file; the cdb is path + ".cdb" */
	int	 fd;		/* open .cdb, -1 if none */
	void	*cdb;		/* struct cdb * */
};

/* Compile text map to path.cdb atomically. Problems (with file:line) go
 * to errs; returns 0 on success (warnings allowed), -1 on error. */
int	 map_compile(const char *path, enum map_kind, struct conf_errors *errs);
/* A check of one plain entry (key as written, value): 0, or -1 with the
 * reason in why (reported as "file:line: why"). */
typedef int	 map_check_fn(const char *key, const char *val, char *why,
		    size_t whylen);
/* map_compile with every entry checked by check; with check_only set
 * nothing is written (postern check): the same diagnostics. */
int	 map_compile_checked(const char *path, map_check_fn *check,
	    int check_only, struct conf_errors *errs);
/* Open path.cdb (a missing file is not an error: an empty map). Logs a
 * warning if the .cdb is older than the text. */
int	 map_open(struct map *, const char *path);
void	 map_close(struct map *);
/* Look key up (lower-cased here). Returns 1 and a fresh string in *val,
 * 0 if absent, -1 on error. */
int	 map_lookup(const struct map *, const char *key, char **val);

/* Access DB (SPEC section 4). */
enum access_action {
	ACCESS_NONE,		/* no entry */
	ACCESS_OK, ACCESS_RELAY, ACCESS_REJECT, ACCESS_DISCARD, ACCESS_SKIP,
	ACCESS_TEMPFAIL, ACCESS_ERROR
};
struct access_result {
	enum access_action action;
	char	reply[512];	/* full SMTP reply for REJECT/ERROR/TEMPFAIL,
				   e.g. "550 5.7.1 Access denied" */
	char	key[300];	/* which key matched, for the log */
};
/* Parse an access value ("RELAY", "ERROR:5.7.1:550 text", ...). 0/-1. */
int	 access_value_parse(const char *val, struct access_result *);
/* Connect: lookups for an IPv4/IPv6 address string, most specific first
 * (a.b.c.d, a.b.c, a.b, a; IPv6:...; CIDR entries are handled at
 * compile time). Untagged keys apply too. */
int	 access_check_connect(const struct map *, const char *ip,
	    const char *verified_name, struct access_result *);
/* From:/To: lookups for an address: user@host.dom, host.dom and its
 * parents, user@. tag is "From" or "To". */
int	 access_check_addr(const struct map *, const char *tag,
	    const char *addr, struct access_result *);
/* The list of keys tried for an IP, most specific first (unit tests). */
size_t	 access_ip_keys(const char *ip, char keys[][64], size_t max);

#endif
