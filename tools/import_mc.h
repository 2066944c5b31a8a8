/*
 * import_mc: what tools/import_mc.c (driver, output, map files) and
 * tools/import_mc_rules.c (one rule per Sendmail macro) share. Nothing
 * here writes a file: only the driver does, and only at the end.
 */
#ifndef POSTERN_IMPORT_MC_H
#define POSTERN_IMPORT_MC_H

#include <limits.h>

#include "tools/mc_lex.h"

/* The value of a define (its second argument) or a macro (its first). */
const char *imp_value(const struct mc_stmt *);

/* The map files a sendmail.mc names (and Sendmail's default paths). */
enum imp_map { M_ACCESS, M_VIRT, M_MAILER, M_ALIASES, M_LHN, M_RELAY,
	M_NMAPS };

struct imp_ent {
	char	*sect;		/* [section], NULL: global */
	char	*key;		/* NULL: a comment only */
	char	*val;
	char	*cmt;		/* comment lines, each ending in \n */
};

struct imp_daemon {
	const struct mc_stmt *st;
	int	 port;
	char	 addr[64];	/* "" = all IPv4 addresses */
	char	 mods[16];
	int	 inet6;
};

struct imp {
	const char		*mc;		/* the .mc path as given */
	char			 mcdir[PATH_MAX];
	char			 outdir[PATH_MAX];	/* "": stdout */
	int			 force;
	struct mc_file		 f;
	const struct mc_stmt	*cur;		/* being translated */
	char			 what[96];	/* its name in messages */
	struct imp_ent		*ent;
	size_t			 nent;
	int			 nwarn;
	/* gathered while reading, written by imp_finish() */
	struct imp_daemon	 dmn[8];
	int			 ndmn, any_daemon;
	int			 msp;		/* a submit.mc */
	const struct mc_stmt	*nomsa, *mechs, *trust, *procmail,
				*procpath, *lmpath, *lmargs, *cyrus,
				*smarthost, *relayhost, *ctfile;
	const struct mc_stmt	*map[M_NMAPS];
	char			 mappath[M_NMAPS][PATH_MAX];
};

/* The rules: translate every statement (tools/import_mc_rules.c). */
void	 imp_rules(struct imp *);
/* The keys gathered from several lines (listeners, AUTH, mailbox). */
void	 imp_finish(struct imp *);

/* Set key in [sect] (NULL: global) from the current statement; the
 * last value counts. */
void	 imp_set(struct imp *, const char *sect, const char *key,
	    const char *val);
/* Append val to a comma-separated list key. */
void	 imp_add(struct imp *, const char *sect, const char *key,
	    const char *val);
/* A comment in the output: mapped to postern's fixed behaviour. */
void	 imp_note(struct imp *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Not mapped: a warning on stderr with the line, and a comment. */
void	 imp_warn(struct imp *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Make st the current statement, named what in messages. */
void	 imp_at(struct imp *, const struct mc_stmt *st, const char *what);

#endif
