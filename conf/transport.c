/*
 * transport: the table of delivery transports. A new transport is one
 * row here plus its program directory (the Makefile reads the
 * `.program = "NAME"` lines to build and install it); its pool size is
 * fixed (.processes) until it has a config key. Static data only.
 */
#include <string.h>

#include "qfile.h"
#include "transport.h"

static const struct transport table[] = {
	{
		/* Keeps root: each delivery becomes the recipient. A
		 * mailbox takes its lock in turn, so more than 2 at once
		 * only wait (as Postfix's local_destination_concurrency_
		 * limit = 2). */
		.name = "local",
		.program = "local",
		.socket = QDIR_PRIVATE "/local",
		.role = TROLE_LOCAL,
		.pool_key = "local_processes",
		.pool_off = offsetof(struct conf, local_processes),
		.dest = TDEST_RCPT,
		.dest_limit = 2,
		.keep_root = 1,
	},
	{
		.name = "remote",
		.program = "remote",
		.socket = QDIR_PRIVATE "/remote",
		.role = TROLE_DEFAULT,
		.pool_key = "remote_processes",
		.pool_off = offsetof(struct conf, remote_processes),
		.dest = TDEST_NEXTHOP,
		.dest_key = "remote_concurrency",
		.dest_off = offsetof(struct conf, remote_concurrency),
		.dest_init_key = "remote_initial_concurrency",
		.dest_init_off = offsetof(struct conf,
		    remote_initial_concurrency),
	},
};

_Static_assert(sizeof(table) / sizeof(table[0]) <= TRANSPORT_MAX,
    "raise TRANSPORT_MAX");
/* conf_uint() reads the keys the rows name as unsigned. */
#define IS_UINT(f)	(sizeof(((struct conf *)0)->f) == sizeof(unsigned))
_Static_assert(IS_UINT(local_processes) && IS_UINT(remote_processes) &&
    IS_UINT(remote_concurrency) && IS_UINT(remote_initial_concurrency),
    "transport keys must be unsigned");

size_t
transport_count(void)
{
	return sizeof(table) / sizeof(table[0]);
}

const struct transport *
transport_at(size_t i)
{
	return i < transport_count() ? &table[i] : NULL;
}

size_t
transport_index(const struct transport *t)
{
	return (size_t)(t - table);
}

const struct transport *
transport_find(const char *name)
{
	for (size_t i = 0; i < transport_count(); i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

const struct transport *
transport_role(enum transport_role role)
{
	for (size_t i = 0; i < transport_count(); i++)
		if (table[i].role == role)
			return &table[i];
	return NULL;
}

static unsigned
conf_uint(const struct conf *c, size_t off)
{
	unsigned v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

unsigned
transport_processes(const struct transport *t, const struct conf *c)
{
	return t->pool_key != NULL ? conf_uint(c, t->pool_off) : t->processes;
}

unsigned
transport_dest_limit(const struct transport *t, const struct conf *c)
{
	return t->dest_key != NULL ? conf_uint(c, t->dest_off) : t->dest_limit;
}

unsigned
transport_dest_initial(const struct transport *t, const struct conf *c)
{
	return t->dest_init_key != NULL ? conf_uint(c, t->dest_init_off) : 0;
}
