/*
 * master: the supervisor (master.c) and the CLI around it (postern.c).
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include "conf.h"

/* postern start: returns an exit status (only in the CLI process). */
int	 master_start(const char *conf_file, int foreground);
/* Resolve conf user/group when root; when not root: ourselves. */
int	 run_identity(const struct conf *, uid_t *, gid_t *, char *err, size_t);

#endif
