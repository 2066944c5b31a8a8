/*
 * mc_lex: reads a sendmail.mc into statements (a macro call and its
 * arguments, a Cw line, or an unreadable line) the way an admin meant it,
 * typos of the Spanish tutorials included, and says what it had to read
 * leniently. It never runs m4 and never expands anything.
 */
#ifndef POSTERN_MC_LEX_H
#define POSTERN_MC_LEX_H

#include <stddef.h>

#define MC_MAXARGS	8
#define MC_MAXSTMT	4096	/* bytes of one statement, lines joined */
#define MC_MAXFILE	(1024 * 1024)

/* What had to be read leniently (bits of mc_stmt.lenient). */
#define MC_L_DN1	0x01	/* `dn1' taken as `dnl' */
#define MC_L_QUOTES	0x02	/* typographic or unbalanced quotes */
#define MC_L_NAME	0x04	/* spaces inside the macro name */
#define MC_L_PAREN	0x08	/* space before `(' (m4 would not call it) */
#define MC_L_JOINED	0x10	/* the call spans lines: joined */
#define MC_L_AFTERDNL	0x20	/* a call after `dnl' on the same line */
#define MC_L_NOISE	0x40	/* stray characters around the call */

enum mc_kind {
	MC_CALL,	/* NAME(args) or a bare NAME */
	MC_CW,		/* Cw / Fw line: args are the words */
	MC_BAD,		/* unreadable: why says so */
	MC_DN1,		/* `dn1 TEXT': read as a comment */
};

struct mc_stmt {
	enum mc_kind	 kind;
	int		 line;		/* first line */
	char		 name[64];	/* as read, inner spaces removed */
	char		 key[64];	/* name squashed: no _ or space, upper */
	int		 nargs;		/* -1: no parentheses */
	char		*args[MC_MAXARGS];	/* unquoted, trimmed */
	unsigned	 lenient;
	char		*text;		/* the statement as read, one line */
	const char	*why;		/* MC_BAD */
};

struct mc_file {
	struct mc_stmt	*st;
	size_t		 n;
};

/* Statements of text (len bytes). 0, or -1 when out of memory. */
int	 mc_lex(const char *text, size_t len, struct mc_file *);
void	 mc_free(struct mc_file *);
/* "ab_c d" -> "ABCD" into out (at most outlen - 1 bytes). */
void	 mc_squash(const char *in, char *out, size_t outlen);
/* Describe lenient bits for a warning: "typographic quotes, ..." */
void	 mc_lenient_text(unsigned bits, char *out, size_t len);

#endif
