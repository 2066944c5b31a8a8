/*
 * transport: the table of delivery transports, one row each. master
 * starts a service per row, qmgr schedules per row, the Makefile builds
 * and installs each row's program. Static data only: never opens,
 * forks or reads anything.
 */
#ifndef POSTERN_TRANSPORT_H
#define POSTERN_TRANSPORT_H

#include <stddef.h>

#include "conf.h"

#define TRANSPORT_MAX	8	/* rows the table may grow to */

/* Which recipients route_resolve sends to a transport by default. */
enum transport_role {
	TROLE_LOCAL,		/* the local domains */
	TROLE_DEFAULT,		/* every other domain */
	TROLE_NAMED,		/* only where chosen by name (transport_map) */
};

/* What one "destination" is, for the per-destination limit. */
enum transport_dest {
	TDEST_RCPT,		/* a job's first recipient (a mailbox) */
	TDEST_NEXTHOP,		/* the job's next hop */
};

struct transport {
	const char		*name;		/* service name, log word */
	const char		*program;	/* file under LIBEXECDIR */
	const char		*socket;	/* under queue_dir */
	enum transport_role	 role;
	unsigned		 processes;	/* fixed; 0: pool_key's value */
	const char		*pool_key;	/* NULL: processes */
	size_t			 pool_off;	/* its offset in struct conf */
	enum transport_dest	 dest;
	unsigned		 dest_limit;	/* fixed; 0: dest_key's value */
	const char		*dest_key;	/* NULL: dest_limit */
	size_t			 dest_off;
	/* where a destination's window starts (slow start); NULL: at the
	 * limit */
	const char		*dest_init_key;
	size_t			 dest_init_off;
	int			 keep_root;	/* master does not drop it */
};

size_t			 transport_count(void);
/* Row i (0 <= i < transport_count()), in the table's order. */
const struct transport	*transport_at(size_t);
/* The row's position in the table. */
size_t			 transport_index(const struct transport *);
/* By name; NULL if there is no such transport. */
const struct transport	*transport_find(const char *name);
/* The first row with that role; NULL if none. */
const struct transport	*transport_role(enum transport_role);
/* How many processes master runs, and qmgr's limit of jobs at once. */
unsigned		 transport_processes(const struct transport *,
			    const struct conf *);
/* Jobs at once to one destination; 0: no limit. */
unsigned		 transport_dest_limit(const struct transport *,
			    const struct conf *);
/* Jobs at once to a destination qmgr starts on; 0: the limit. */
unsigned		 transport_dest_initial(const struct transport *,
			    const struct conf *);

#endif
