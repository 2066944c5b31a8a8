/*
 * conf_key: the key table's row type and the parser state that conf.c
 * (table, reading, applying, defaults, copy, free) shares with
 * conf_check.c (per-key hooks, checks across keys). Internal to conf/:
 * no program includes it, and no key is spelled here.
 */
#ifndef POSTERN_CONF_KEY_H
#define POSTERN_CONF_KEY_H

#include <stdint.h>

#include "conf.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define KEY_MAX		80	/* rows the table may hold */

/* How a value is parsed and stored; the field's size is in the row. */
enum ktype {
	K_STR,		/* char *, any text */
	K_PATH,		/* char *, an absolute path */
	K_WORD,		/* char *, one of words[] */
	K_ENUM,		/* int-sized enum: the index in words[] */
	K_BOOL,		/* int: yes/no/true/false/on/off/1/0 */
	K_NUM,		/* unsigned or size_t, digits only */
	K_PORT,		/* K_NUM, "bad port" above max */
	K_SIZE,		/* k/m/g suffixes */
	K_DUR,		/* seconds; s/m/h/d/w suffixes */
	K_LISTEN,	/* struct conf_smtpd's listen[] and nlisten */
	K_NOTBUILT,	/* a SPEC key whose feature is not built: error */
};

/* Where a key may be set. */
enum kscope {
	KS_GLOBAL,	/* struct conf, before any [section] */
	KS_SMTPD,	/* struct conf_smtpd: global default or per section */
	KS_SECTION,	/* struct conf_smtpd, only inside a [section] */
};

#define KF_EMPTY	0x01	/* an empty value unsets it (NULL) */
#define KF_PRIVATE	0x02	/* root only: workers get it open from master */

struct pctx;
struct key;

/* Checks a non-empty string value; may replace it with a normalised
 * copy in *out (malloc'd). Returns -1 after reporting the problem. */
typedef int (*key_hook)(struct pctx *, const struct key *, const char *,
    int line, char **out);

struct key {
	const char		*name;
	enum ktype		 type;
	enum kscope		 scope;
	int			 flags;
	size_t			 off;	/* in struct conf or conf_smtpd */
	size_t			 size;	/* of that field */
	const char		*def;	/* parsed like a value; NULL: unset */
	uint64_t		 min, max;	/* max 0: the field's limit */
	const char *const	*words;	/* K_WORD, K_ENUM */
	const char		*note;	/* K_NOTBUILT: what is missing */
	key_hook		 hook;
};

struct ent {
	char	*key;
	char	*val;
	int	 line;
	int	 sect;
};

/* Parser state of one conf_load. Lines where each key was set (0: not
 * in the file), globally and per listener (which inherit the global). */
struct pctx {
	const char		*file;
	struct conf_errors	*errs;
	int			 nerr;
	struct ent		*ent;
	size_t			 nent;
	int			 sectline[CONF_MAX_LISTENERS];
	int			 gline[KEY_MAX];
	int			 sline[CONF_MAX_LISTENERS][KEY_MAX];
};

/* conf.c */
void	 conf_perr(struct pctx *, int line, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 conf_pwarn(struct pctx *, int line, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
char	*conf_xprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
int	 conf_parse_number(const char *, uint64_t *);
/* Leading blanks and trailing white space cut off, in place. */
char	*conf_trim(char *);

/* conf_key.c */
const struct key *conf_key_find(const char *name);	/* NULL: unknown */
size_t	 conf_key_index(const struct key *);	/* row: index in lines[] */
/* Line where the key was set in lines[] (a gline or sline row). */
int	 conf_key_line(const int *lines, const char *name);
/* Parse v into k's field of base (struct conf or conf_smtpd). 0 or -1
 * after reporting the problem at line. */
int	 conf_key_set(struct pctx *, const struct key *, void *base,
	    const char *v, int line);
/* Zero c, then parse every row's default. */
void	 conf_key_defaults(struct pctx *, struct conf *c);
/* d = a deep copy of s, named name (NULL: unnamed). */
void	 conf_smtpd_copy(struct conf_smtpd *d, const struct conf_smtpd *s,
	    const char *name);

/* conf_check.c: hooks named in the table, and the checks across keys. */
int	 conf_hook_dns(struct pctx *, const struct key *, const char *, int,
	    char **);
int	 conf_hook_dnsbl(struct pctx *, const struct key *, const char *, int,
	    char **);
int	 conf_hook_sasl_app(struct pctx *, const struct key *, const char *,
	    int, char **);
int	 conf_hook_log(struct pctx *, const struct key *, const char *, int,
	    char **);
int	 conf_hook_mailbox(struct pctx *, const struct key *, const char *,
	    int, char **);
int	 conf_hook_mailbox_command(struct pctx *, const struct key *,
	    const char *, int, char **);
int	 conf_hook_default_privs(struct pctx *, const struct key *,
	    const char *, int, char **);
int	 conf_hook_readable(struct pctx *, const struct key *, const char *,
	    int, char **);
int	 conf_hook_domain(struct pctx *, const struct key *, const char *,
	    int, char **);
int	 conf_hook_domains(struct pctx *, const struct key *, const char *,
	    int, char **);
int	 conf_hook_users(struct pctx *, const struct key *, const char *, int,
	    char **);
int	 conf_hook_mechs(struct pctx *, const struct key *, const char *, int,
	    char **);
/* listen: returns -1 after reporting; addr[] filled, *n set otherwise. */
int	 conf_listen_parse(struct pctx *, const char *, int line,
	    char *addr[CONF_MAX_ADDRS], size_t *n);
void	 conf_validate(struct pctx *, struct conf *);

#endif
