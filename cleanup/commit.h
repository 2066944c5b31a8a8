/*
 * cleanup's incoming/ directory: the group commit shared by the cleanup
 * processes, and the sweep of temp files a crash left behind.
 */
#ifndef CLEANUP_COMMIT_H
#define CLEANUP_COMMIT_H

void	 commit_init(int incoming_fd);
int	 commit_dir(int dirfd);
void	 commit_sweep(int incoming_fd);

#endif
