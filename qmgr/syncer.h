/*
 * qmgr's syncer thread: removals from active/ made durable and removed
 * messages' files closed off the scheduler loop.
 */
#ifndef QMGR_SYNCER_H
#define QMGR_SYNCER_H

/* Start the thread for the directory fd (active/); on failure the
 * calls below do the work at once, in the caller. */
void	 syncer_start(int dirfd);
/* Entries of the directory were removed: fsync it soon. */
void	 syncer_dirty(void);
/* Close fd soon (the last close of a removed file frees it). */
void	 syncer_close(int fd);
/* Before exit: everything handed over done, in the caller. */
void	 syncer_flush(void);

#endif
