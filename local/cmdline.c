/*
 * cmdline: the parts of running a delivery command that need no process:
 * the shell decision, word splitting with $NAME expansion, the bounded
 * tail of the output and the sysexits mapping. Must never produce an
 * argument or keep output beyond its bounds.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "cmdline.h"

const char *const cmd_var_names[CMD_NVARS + 1] = { "USER", "LOGNAME",
    "HOME", "SENDER", "RECIPIENT", "EXTENSION", "DOMAIN", NULL };

/* Length of a known "$NAME" or "${NAME}" at p (0: none); *idx its index. */
static size_t
var_at(const char *p, int *idx)
{
	int	 br = p[1] == '{';

	for (int i = 0; i < CMD_NVARS; i++) {
		size_t n = strlen(cmd_var_names[i]);
		const char *q = p + 1 + br;

		if (strncmp(q, cmd_var_names[i], n) != 0)
			continue;
		if (br && q[n] == '}') {
			*idx = i;
			return n + 3;
		}
		if (!br && !isalnum((unsigned char)q[n]) && q[n] != '_') {
			*idx = i;
			return n + 1;
		}
	}
	return 0;
}

/*
 * Plain words and our own $NAMEs are split here, never given to a shell
 * (a value such as SENDER cannot then be read as shell syntax); anything
 * else, quotes included, means the admin wrote shell: /bin/sh -c, with the
 * values in the environment only.
 */
int
cmd_needs_shell(const char *cmd)
{
	int	 idx;

	for (const char *p = cmd; *p; p++) {
		if (*p == '$') {
			size_t n = var_at(p, &idx);
			if (n == 0)
				return 1;
			p += n - 1;
		} else if (strchr("|&;<>()`'\"\\*?[]{}~#!\n=%", *p) != NULL)
			return 1;
	}
	return 0;
}

static void
freeargv(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	argv[0] = NULL;
}

int
cmd_split(const char *cmd, char *const vals[CMD_NVARS], char **argv)
{
	int	 argc = 0, idx;
	char	 word[CMD_ARG_LEN];
	size_t	 wl;

	for (const char *p = cmd; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (wl = 0; *p && *p != ' ' && *p != '\t';) {
			size_t n = *p == '$' ? var_at(p, &idx) : 0;
			const char *s = n ? (vals[idx] ? vals[idx] : "") : p;
			size_t sl = n ? strlen(s) : 1;

			if (wl + sl >= sizeof(word) || argc >= CMD_MAX_ARGS) {
				freeargv(argv, argc);
				return -1;
			}
			memcpy(word + wl, s, sl);
			wl += sl;
			p += n ? n : 1;
		}
		word[wl] = '\0';
		argv[argc++] = xstrdup(word);
	}
	argv[argc] = NULL;
	if (argc == 0)
		return -1;
	return argc;
}

void
cmd_tail_add(struct cmd_tail *t, const char *p, size_t n)
{
	t->total += n;
	if (n >= CMD_TAIL) {
		memcpy(t->b, p + n - CMD_TAIL, CMD_TAIL);
		t->len = CMD_TAIL;
		return;
	}
	if (t->len + n > CMD_TAIL) {
		size_t drop = t->len + n - CMD_TAIL;
		memmove(t->b, t->b + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->b + t->len, p, n);
	t->len += n;
}

void
cmd_last_line(const struct cmd_tail *t, char *out, size_t outlen)
{
	size_t	 end = t->len, start, n = 0;

	while (end > 0 && isspace((unsigned char)t->b[end - 1]))
		end--;
	start = end;
	while (start > 0 && t->b[start - 1] != '\n')
		start--;
	for (size_t i = start; i < end && n + 1 < outlen &&
	    n < CMD_LINE_SHOWN; i++) {
		unsigned char ch = (unsigned char)t->b[i];
		out[n++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	if (outlen > 0)
		out[n] = '\0';
}

const char *
cmd_exit_dsn(int status, int *temp)
{
	*temp = 0;
	switch (status) {
	case EX_OK:
		return NULL;
	case EX_OSERR:
	case EX_IOERR:
	case EX_TEMPFAIL:
		*temp = 1;
		return "4.3.0";
	case EX_NOUSER:
		return "5.1.1";
	case EX_NOHOST:
		return "5.1.2";
	case EX_DATAERR:
		return "5.6.0";
	case EX_NOPERM:
		return "5.7.1";
	case EX_CONFIG:
		return "5.3.5";
	default:
		return "5.3.0";
	}
}
