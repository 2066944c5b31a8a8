/*
 * smtp_cmd: parse one SMTP command line (without CRLF) into a struct.
 * Pure; used by smtpd on untrusted input. The caller has already checked
 * the 1000-octet line limit and rejected bare CR/LF in the line.
 */
#ifndef POSTERN_SMTP_CMD_H
#define POSTERN_SMTP_CMD_H

#include <stddef.h>
#include "addr.h"
#include "xtext.h"

enum smtp_verb {
	SMTP_UNKNOWN, SMTP_HELO, SMTP_EHLO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA,
	SMTP_BDAT, SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_EXPN,
	SMTP_HELP, SMTP_STARTTLS, SMTP_AUTH
};

#define SMTP_MAX_PARAMS 8

struct smtp_cmd {
	enum smtp_verb	verb;
	char		arg[1001];	/* the rest of the line after the verb, trimmed */
	struct addr	path;		/* MAIL/RCPT: the parsed path */
	/* MAIL/RCPT ESMTP parameters, keyword upper-cased */
	struct { char key[32]; char val[DSN_ORCPT_MAX + 1]; }
			param[SMTP_MAX_PARAMS];
	size_t		nparam;
	unsigned long long size;	/* MAIL SIZE=, 0 if absent */
	int		body_8bit;	/* MAIL BODY=8BITMIME */
	int		smtputf8;	/* MAIL SMTPUTF8 */
	/* DSN (RFC 3461), checked and decoded; 0 / "" when absent */
	int		ret;		/* MAIL RET=: DSN_RET_* */
	char		envid[DSN_ENVID_MAX + 1];	/* MAIL ENVID= */
	int		notify;		/* RCPT NOTIFY=: DSN_NOTIFY_* */
	char		orcpt[DSN_ORCPT_MAX + 1];	/* "type;decoded" */
};

/*
 * Returns 0 with *cmd filled, or -1 with a full SMTP reply in *reply
 * (static string, e.g. "501 5.5.4 Syntax: MAIL FROM:<address>",
 * "500 5.5.1 Command unrecognized", "555 5.5.4 Unsupported option").
 */
int	 smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
	    const char **reply);

#endif
