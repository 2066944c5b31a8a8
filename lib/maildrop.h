/*
 * maildrop: the format of a file in queue_dir/maildrop, written by the
 * setgid postdrop for a local user while postern is down, read by
 * pickup. Any local user can put anything there: a reader trusts only
 * what it checks (names, magic, bounds, the owner against the uid).
 *
 *   MAILDROP_MAGIC ("postern-maildrop 1\n", the version in it)
 *   one ipc frame req=open (sender, rcpt..., full_name, extract, uid)
 *   ipc frames req=data chunk=... (the content, LF lines, as sendmail
 *   sends cleanup), then one frame req=end and nothing after it
 *
 * Names: MAILDROP_NAME_LEN hex digits (arrival time in microseconds,
 * then 32 random bits: sorted by arrival, unguessable); a file being
 * written is "t." followed by such a name.
 */
#ifndef POSTERN_MAILDROP_H
#define POSTERN_MAILDROP_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "proto.h"

#define MAILDROP_MAGIC		"postern-maildrop 1\n"
#define MAILDROP_MAGIC_ANY	"postern-maildrop "	/* any version */
#define MAILDROP_NAME_LEN	24
#define MAILDROP_TEMP		"t."
#define MAILDROP_GROUP		"postdrop"	/* maildrop/'s, postdrop's */
#define MAILDROP_BAD		"bad"	/* pickup's: files it cannot read */

enum maildrop_kind { MD_OTHER, MD_FILE, MD_TEMP };

/* A fresh name (temp: with the "t." prefix) into out; -1 if it does not
 * fit. */
int			 maildrop_name(char *out, size_t outlen, int temp);
/* What a directory entry is: a finished file, a temp file, or neither. */
enum maildrop_kind	 maildrop_kind(const char *name);
/*
 * One pass of pickup's scan: at most max names, the smallest (oldest)
 * that sort after the cursor `after` ("": from the start), so that a
 * pass is bounded and every file is reached over passes, whatever the
 * directory order. add() each name, then done(): names sorted, n of
 * them, more set when names after them were left for the next pass
 * (whose cursor is then names[n - 1]; "" when not).
 */
struct maildrop_batch {
	char		(*names)[MAILDROP_NAME_LEN + 1];
	size_t		 n, max;
	char		 after[MAILDROP_NAME_LEN + 1];
	int		 more;
};
void			 maildrop_batch_init(struct maildrop_batch *,
			    size_t max, const char *after);
void			 maildrop_batch_add(struct maildrop_batch *,
			    const char *name);
void			 maildrop_batch_done(struct maildrop_batch *);
void			 maildrop_batch_free(struct maildrop_batch *);

/* The open request of a maildrop file, encoded into b: only what
 * public/cleanup honours (sender, recipients, full name, -t) and uid.
 * 0, or -1 when it does not encode. */
int			 maildrop_open_encode(struct buf *b,
			    const struct cleanup_open *in, uid_t uid);

#endif
