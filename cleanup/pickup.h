/*
 * pickup: the service of the cleanup program that feeds the files in
 * queue_dir/maildrop to cleanup (cleanup/pickup.c).
 */
#ifndef POSTERN_PICKUP_H
#define POSTERN_PICKUP_H

#include "worker.h"

#define PICKUP_SERVICE	"pickup"

/* The service's loop: scan at start, when poked on public/pickup, and
 * every minute; returns the exit status when told to stop. */
int	 pickup_main(struct worker *);

#endif
