/*
 * cleanup's sweep of the temp files a crash left in incoming/.
 */
#ifndef CLEANUP_SWEEP_H
#define CLEANUP_SWEEP_H

void	 sweep_temp(int incoming_fd);

#endif
