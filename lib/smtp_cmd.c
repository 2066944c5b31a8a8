/*
 * smtp_cmd: split one SMTP command line into verb, argument, path and
 * ESMTP parameters. Pure; input is untrusted, so every copy into the
 * fixed arrays of struct smtp_cmd is bounds-checked first.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "smtp_cmd.h"

#define R_UNKNOWN	"500 5.5.1 Command unrecognized"
#define R_LONG		"500 5.5.2 Line too long"
#define R_NOARGS	"501 5.5.4 Syntax error, no parameters allowed"
#define R_HELO		"501 5.5.4 Syntax: HELO hostname"
#define R_EHLO		"501 5.5.4 Syntax: EHLO hostname"
#define R_MAIL		"501 5.5.4 Syntax: MAIL FROM:<address>"
#define R_RCPT		"501 5.5.4 Syntax: RCPT TO:<address>"
#define R_BDAT		"501 5.5.4 Syntax: BDAT size [LAST]"
#define R_AUTH		"501 5.5.4 Syntax: AUTH mechanism"
#define R_PARAM		"501 5.5.4 Malformed parameter"
#define R_NPARAM	"501 5.5.4 Too many parameters"
#define R_DUP		"501 5.5.4 Duplicate parameter"
#define R_SIZE		"501 5.5.4 Syntax: SIZE=number"
#define R_BODY		"501 5.5.4 Syntax: BODY=7BIT|8BITMIME"
#define R_RET		"501 5.5.4 Syntax: RET=FULL|HDRS"
#define R_ENVID		"501 5.5.4 Syntax: ENVID=xtext (100 octets at most)"
#define R_NOTIFY	"501 5.5.4 Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY"
#define R_ORCPT		"501 5.5.4 Syntax: ORCPT=addr-type;xtext"
#define R_UNSUPP	"555 5.5.4 Unsupported option"
#define R_ADDR		"553 5.1.3 Bad address syntax"
#define R_UTF8_FROM	"553 5.1.7 Malformed UTF-8 in sender address"
#define R_UTF8_TO	"553 5.1.3 Malformed UTF-8 in recipient address"

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO", SMTP_HELO },		{ "EHLO", SMTP_EHLO },
	{ "MAIL", SMTP_MAIL },		{ "RCPT", SMTP_RCPT },
	{ "DATA", SMTP_DATA },		{ "BDAT", SMTP_BDAT },
	{ "RSET", SMTP_RSET },		{ "NOOP", SMTP_NOOP },
	{ "QUIT", SMTP_QUIT },		{ "VRFY", SMTP_VRFY },
	{ "EXPN", SMTP_EXPN },		{ "HELP", SMTP_HELP },
	{ "STARTTLS", SMTP_STARTTLS },	{ "AUTH", SMTP_AUTH },
};

static const char *mail_params[] = {
	"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH", NULL
};
static const char *rcpt_params[] = { "NOTIFY", "ORCPT", NULL };

static int
is_sp(char c)
{
	return c == ' ' || c == '\t';
}

static int
in_list(const char *s, const char **list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/*
 * Length of the path token at p: "<...>" honouring quotes and backslash
 * escapes, or a run of non-space bytes. Returns 0 if unterminated.
 */
static size_t
path_len(const char *p, size_t n)
{
	size_t	 i;
	int	 inq = 0;

	if (n == 0)
		return 0;
	if (p[0] != '<') {
		for (i = 0; i < n && !is_sp(p[i]); i++)
			;
		return i;
	}
	for (i = 1; i < n; i++) {
		if (inq && p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			inq = !inq;
		else if (!inq && p[i] == '>')
			return i + 1;
	}
	return 0;
}

static int
parse_size(const char *v, unsigned long long *out)
{
	unsigned long long	 n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return -1;
		if (n > (~0ULL - 9) / 10)
			return -1;
		n = n * 10 + (*v - '0');
	}
	*out = n;
	return 0;
}

#define PKEY_SIZE	sizeof(((struct smtp_cmd *)0)->param[0].key)
#define PVAL_SIZE	sizeof(((struct smtp_cmd *)0)->param[0].val)

/* Copy one KEY[=VALUE] at p[*i..n) into key and val (upper-casing the
 * key); advances *i. Returns the value length, or -1 if malformed. */
static int
param_split(const char *p, size_t n, size_t *i, char *key, char *val)
{
	size_t	 klen = 0, vlen = 0;

	for (; *i < n && !is_sp(p[*i]) && p[*i] != '='; (*i)++) {
		unsigned char c = p[*i];

		if ((!isalnum(c) && !(c == '-' && klen > 0)) ||
		    klen + 1 >= PKEY_SIZE)
			return -1;
		key[klen++] = toupper(c);
	}
	key[klen] = '\0';
	if (klen == 0)
		return -1;
	if (*i < n && p[*i] == '=') {
		for ((*i)++; *i < n && !is_sp(p[*i]); (*i)++) {
			unsigned char c = p[*i];

			if (c < 0x21 || c == 0x7f || c == '=' ||
			    vlen + 1 >= PVAL_SIZE)
				return -1;
			val[vlen++] = c;
		}
		if (vlen == 0)
			return -1;
	}
	val[vlen] = '\0';
	return (int)vlen;
}

/* RET, ENVID, NOTIFY, ORCPT (RFC 3461 4): NULL, or the reply. */
static const char *
param_dsn(struct smtp_cmd *cmd, const char *key, const char *val)
{
	if (strcmp(key, "RET") == 0) {
		if (strcasecmp(val, "FULL") == 0)
			cmd->ret = DSN_RET_FULL;
		else if (strcasecmp(val, "HDRS") == 0)
			cmd->ret = DSN_RET_HDRS;
		else
			return R_RET;
	} else if (strcmp(key, "ENVID") == 0) {
		if (xtext_decode(val, strlen(val), cmd->envid,
		    sizeof(cmd->envid)) < 1)
			return R_ENVID;
	} else if (strcmp(key, "NOTIFY") == 0) {
		if ((cmd->notify = dsn_notify_parse(val)) == -1)
			return R_NOTIFY;
	} else if (strcmp(key, "ORCPT") == 0) {
		if (dsn_orcpt_parse(val, cmd->orcpt, sizeof(cmd->orcpt)) == -1)
			return R_ORCPT;
	}
	return NULL;
}

/* Is KEY=val allowed here, and what does it set? NULL or the reply. */
static const char *
param_apply(struct smtp_cmd *cmd, int mail, char *key, char *val,
    size_t vlen)
{
	for (size_t k = 0; k < cmd->nparam; k++)
		if (strcmp(cmd->param[k].key, key) == 0)
			return R_DUP;
	if (!in_list(key, mail ? mail_params : rcpt_params))
		return R_UNSUPP;
	if (mail && strcmp(key, "SIZE") == 0) {
		if (parse_size(val, &cmd->size) == -1)
			return R_SIZE;
	} else if (mail && strcmp(key, "BODY") == 0) {
		for (size_t j = 0; val[j] != '\0'; j++)
			val[j] = toupper((unsigned char)val[j]);
		if (strcmp(val, "8BITMIME") == 0)
			cmd->body_8bit = 1;
		else if (strcmp(val, "7BIT") == 0)
			cmd->body_8bit = 0;
		else
			return R_BODY;
	} else if (mail && strcmp(key, "SMTPUTF8") == 0) {
		if (vlen != 0)		/* RFC 6531 section 3.4: no value */
			return R_PARAM;
		cmd->smtputf8 = 1;
	} else if (vlen == 0)
		return R_PARAM;
	return param_dsn(cmd, key, val);
}

/* Parse " KEY[=VALUE] ..." into cmd->param; mail selects the allowed set. */
static int
parse_params(const char *p, size_t n, int mail, struct smtp_cmd *cmd,
    const char **reply)
{
	size_t		 i = 0;
	char		*key, *val;
	const char	*bad;
	int		 vlen;

	while (i < n) {
		while (i < n && is_sp(p[i]))
			i++;
		if (i == n)
			break;
		if (cmd->nparam == SMTP_MAX_PARAMS) {
			*reply = R_NPARAM;
			return -1;
		}
		key = cmd->param[cmd->nparam].key;
		val = cmd->param[cmd->nparam].val;
		if ((vlen = param_split(p, n, &i, key, val)) == -1) {
			*reply = R_PARAM;
			return -1;
		}
		if ((bad = param_apply(cmd, mail, key, val, (size_t)vlen)) !=
		    NULL) {
			*reply = bad;
			return -1;
		}
		cmd->nparam++;
	}
	return 0;
}

/* MAIL FROM:<path> [params] / RCPT TO:<path> [params] */
static int
parse_path_cmd(struct smtp_cmd *cmd, int mail, const char **reply)
{
	const char	*kw = mail ? "FROM:" : "TO:";
	const char	*bad = mail ? R_MAIL : R_RCPT;
	const char	*p = cmd->arg, *why;
	size_t		 n = strlen(cmd->arg), kl = strlen(kw), pl;

	if (n < kl || strncasecmp(p, kw, kl) != 0) {
		*reply = bad;
		return -1;
	}
	p += kl;
	n -= kl;
	while (n > 0 && is_sp(*p)) {
		p++;
		n--;
	}
	if ((pl = path_len(p, n)) == 0) {
		*reply = bad;
		return -1;
	}
	if (pl < n && !is_sp(p[pl])) {
		*reply = bad;
		return -1;
	}
	if (addr_parse_path(p, pl, mail, &cmd->path, &why) == -1) {
		if (strcmp(why, ADDR_BAD_UTF8) == 0)	/* RFC 3463 */
			*reply = mail ? R_UTF8_FROM : R_UTF8_TO;
		else
			*reply = R_ADDR;
		return -1;
	}
	return parse_params(p + pl, n - pl, mail, cmd, reply);
}

/* The argument each verb wants: none, one, or a path with parameters. */
static int
verb_args(struct smtp_cmd *cmd, const char **reply)
{
	switch (cmd->verb) {
	case SMTP_HELO:
	case SMTP_EHLO:
		if (cmd->arg[0] == '\0') {
			*reply = cmd->verb == SMTP_HELO ? R_HELO : R_EHLO;
			return -1;
		}
		break;
	case SMTP_MAIL:
		return parse_path_cmd(cmd, 1, reply);
	case SMTP_RCPT:
		return parse_path_cmd(cmd, 0, reply);
	case SMTP_DATA:
	case SMTP_RSET:
	case SMTP_QUIT:
	case SMTP_STARTTLS:
		if (cmd->arg[0] != '\0') {
			*reply = R_NOARGS;
			return -1;
		}
		break;
	case SMTP_BDAT:
		if (cmd->arg[0] == '\0') {
			*reply = R_BDAT;
			return -1;
		}
		break;
	case SMTP_AUTH:
		if (cmd->arg[0] == '\0') {
			*reply = R_AUTH;
			return -1;
		}
		break;
	default:	/* NOOP, HELP, VRFY, EXPN: optional argument */
		break;
	}
	return 0;
}

int
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
    const char **reply)
{
	size_t	 vlen, i, s, e;
	const char *dummy;

	if (reply == NULL)
		reply = &dummy;
	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = SMTP_UNKNOWN;
	if (line == NULL) {
		*reply = R_UNKNOWN;
		return -1;
	}
	if (len >= sizeof(cmd->arg)) {
		*reply = R_LONG;
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		*reply = R_UNKNOWN;
		return -1;
	}

	for (vlen = 0; vlen < len && !is_sp(line[vlen]); vlen++)
		;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(line, verbs[i].name, vlen) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0])) {
		*reply = R_UNKNOWN;
		return -1;
	}
	cmd->verb = verbs[i].verb;

	for (s = vlen; s < len && is_sp(line[s]); s++)
		;
	for (e = len; e > s && is_sp(line[e - 1]); e--)
		;
	memcpy(cmd->arg, line + s, e - s);
	cmd->arg[e - s] = '\0';

	return verb_args(cmd, reply);
}
