/*
 * cmdline: the pure parts of running a delivery command (local/command.c),
 * kept apart so unit tests can link them alone: whether a command needs a
 * shell, splitting it into words with $NAME expanded, keeping the tail of
 * its output, its last line, and its exit status as a delivery status.
 */
#ifndef POSTERN_CMDLINE_H
#define POSTERN_CMDLINE_H

#include <stddef.h>

#define CMD_NVARS	7	/* USER LOGNAME HOME SENDER RECIPIENT ... */
#define CMD_TAIL	1024	/* output kept for the DSN */
#define CMD_MAX_ARGS	64
#define CMD_ARG_LEN	4096
#define CMD_LINE_SHOWN	160	/* of the last line, in the DSN */

extern const char *const cmd_var_names[CMD_NVARS + 1];

/* Does the command need /bin/sh (anything but words and our $NAMEs)? */
int	 cmd_needs_shell(const char *);
/* Words of cmd into argv (at most CMD_MAX_ARGS, each < CMD_ARG_LEN,
 * xstrdup'd, NULL-terminated), $NAME and ${NAME} replaced by vals[i]
 * (cmd_var_names order). Returns the count, or -1 (argv freed). */
int	 cmd_split(const char *cmd, char *const vals[CMD_NVARS], char **argv);

/* The last CMD_TAIL bytes of a command's output. */
struct cmd_tail {
	char			 b[CMD_TAIL];
	size_t			 len;
	unsigned long long	 total;		/* every byte seen */
};
void	 cmd_tail_add(struct cmd_tail *, const char *, size_t);
/* Its last non-empty line, control bytes as '?', at most CMD_LINE_SHOWN. */
void	 cmd_last_line(const struct cmd_tail *, char *out, size_t outlen);

/* An exit status (sysexits): NULL for 0, else the enhanced status code;
 * *temp set for the ones that defer (EX_OSERR 71, EX_IOERR 74,
 * EX_TEMPFAIL 75, as Sendmail). */
const char *cmd_exit_dsn(int status, int *temp);

#endif
