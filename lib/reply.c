/*
 * reply: the catalogue of SMTP replies and their formatting. The exact
 * bytes are pinned by the integration tests: change a text here and
 * there. Never formats a text with another id's arguments.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reply.h"

struct reply_def {
	int		 code;
	const char	*text;	/* "X.Y.Z text", a printf format */
};

/* E(): a reply with an enhanced status code; the text follows it. */
#define E(code, esc, text)	{ code, esc " " text }

static const struct reply_def catalogue[R__COUNT] = {
	[R_GREETING] =		{ 220, "%s ESMTP postern" },
	[R_HELO] =		{ 250, "%s" },
	[R_OKAY] =		E(250, "2.0.0", "Ok"),
	[R_QUEUED] =		E(250, "2.0.0", "Ok: queued as %s"),
	[R_QUEUED_NOID] =	E(250, "2.0.0", "Ok: queued"),
	[R_MAIL_OK] =		E(250, "2.1.0", "Ok"),
	[R_RCPT_OK] =		E(250, "2.1.5", "Ok"),
	[R_DATA_GO] =		{ 354, "End data with <CR><LF>.<CR><LF>" },
	[R_BYE] =		E(221, "2.0.0", "Bye"),
	[R_HELP] =		E(214, "2.0.0", "See RFC 5321"),
	[R_VRFY] =		E(252, "2.0.0", "Will attempt delivery"),
	[R_VRFY_OFF] =		E(252, "2.5.2", "Cannot VRFY user, but will "
				    "accept message and attempt delivery"),
	[R_EXPN] =		E(502, "5.5.1", "EXPN not implemented"),
	[R_EXPN_OFF] =		E(502, "5.7.0", "EXPN disabled"),
	[R_BDAT_OK] =		E(250, "2.0.0", "Ok: %s octets received"),
	[R_BDAT_SYNTAX] =	E(501, "5.5.4", "Syntax: BDAT size [LAST]"),
	[R_BDAT_NO_RCPT] =	E(503, "5.5.1", "Error: need RCPT command"),
	[R_BDAT_MIXED] =	E(503, "5.5.1",
				    "Error: DATA and BDAT in one transaction"),
	[R_BDAT_FAILED] =	E(503, "5.5.1",
				    "Error: transaction failed, send RSET"),
	[R_UNKNOWN] =		E(500, "5.5.1", "Command unrecognized"),
	[R_LINE_LONG] =		E(500, "5.5.2", "Line too long"),
	[R_BARE_CMD] =		E(500, "5.5.2", "Bare CR or NUL not allowed"),
	[R_NEED_HELO] =		E(503, "5.5.1", "Error: send HELO/EHLO first"),
	[R_NEED_STARTTLS] =	E(530, "5.7.0",
				    "Must issue a STARTTLS command first"),
	[R_AUTH_REQUIRED] =	E(530, "5.7.0", "Authentication required"),
	[R_NESTED_MAIL] =	E(503, "5.5.1", "Error: nested MAIL command"),
	[R_NEED_MAIL] =		E(503, "5.5.1", "Error: need MAIL command"),
	[R_NO_RCPT] =		E(554, "5.5.1", "No valid recipients"),
	[R_TOO_MANY_RCPT] =	E(452, "4.5.3", "Too many recipients"),
	[R_BAD_ADDR] =		E(553, "5.1.3", "Bad address syntax"),
	[R_ADDR_LONG] =		E(553, "5.1.3", "Address too long"),
	[R_NEED_SMTPUTF8] =	E(553, "5.6.7", "Non-ASCII address needs "
				    "the SMTPUTF8 parameter on MAIL"),
	[R_NO_TLS] =		E(454, "4.7.0", "TLS not available"),
	[R_TLS_ACTIVE] =	E(503, "5.5.1", "Error: TLS already active"),
	[R_TLS_GO] =		E(220, "2.0.0", "Ready to start TLS"),
	[R_TOO_MANY_ERRORS] =	E(421, "4.7.0", "Too many errors"),
	[R_TIMEOUT] =		E(421, "4.4.2", "Timeout"),
	[R_SHUTDOWN] =		E(421, "4.3.2", "Service shutting down"),
	[R_BUSY] =		E(421, "4.3.2",
				    "Too many connections, try again later"),
	[R_BARE] =		E(554, "5.6.0", "Bare CR or LF not allowed"),
	[R_DATA_LONG] =		E(552, "5.6.0", "Line too long"),
	[R_HDR_SIZE] =		E(552, "5.6.0", "Headers too large"),
	[R_HOPS] =		E(554, "5.4.6", "Too many hops"),
	[R_MSG_SIZE] =		E(552, "5.3.4",
				    "Message size exceeds fixed limit"),
	[R_QUEUE] =		E(451, "4.3.0", "Queue write error"),
	[R_NO_SPACE] =		E(452, "4.3.1", "Insufficient system storage"),
	[R_SUBMIT_DENIED] =	E(554, "5.7.1",
				    "You are not authorized to submit mail"),
	[R_AUTH_CHALLENGE] =	{ 334, "%s" },
	[R_AUTH_OK] =		E(235, "2.7.0", "Authentication successful"),
	[R_AUTH_FAIL] =		E(535, "5.7.8",
				    "Authentication credentials invalid"),
	[R_AUTH_REFUSED] =	E(421, "4.7.0", "Too many failed "
				    "authentications, try again later"),
	[R_AUTH_UNAVAIL] =	E(502, "5.5.1", "AUTH not available"),
	[R_AUTH_NEED_EHLO] =	E(503, "5.5.1", "Error: send EHLO first"),
	[R_AUTH_DONE] =		E(503, "5.5.1", "Error: already authenticated"),
	[R_AUTH_IN_MAIL] =	E(503, "5.5.1",
				    "Error: MAIL transaction in progress"),
	[R_AUTH_SYNTAX] =	E(501, "5.5.4",
				    "Syntax: AUTH mechanism [initial-response]"),
	[R_AUTH_ENCRYPT] =	E(538, "5.7.11", "Encryption required for "
				    "requested authentication mechanism"),
	[R_AUTH_MECH] =		E(504, "5.5.4",
				    "Unrecognized authentication type"),
	[R_AUTH_TEMP] =		E(454, "4.7.0",
				    "Temporary authentication failure"),
	[R_AUTH_DECODE] =	E(501, "5.5.2", "Cannot decode response"),
	[R_AUTH_ABORTED] =	E(501, "5.7.0", "Authentication aborted"),
	[R_SENDER_NOT_OWNED] =	E(553, "5.7.1", "<%s>: Sender address "
				    "rejected: not owned by user %s"),
	[R_INTERNAL] =		E(451, "4.3.0", "Internal error"),
	[R_CONFIG] =		E(421, "4.3.0", "Server configuration problem"),
	[R_LOOKUP_TEMP] =	E(451, "4.3.0", "Temporary lookup failure"),
	[R_LOOKUP_TEMP_ADDR] =	E(451, "4.3.0",
				    "<%s>: Temporary lookup failure"),
	[R_CONNECT_DENIED] =	E(554, "5.7.1", "Access denied"),
	[R_ACCESS_DENIED] =	E(550, "5.7.1", "Access denied"),
	[R_TRY_LATER] =		E(451, "4.7.1", "Try again later"),
	[R_BLOCKED] =		E(554, "5.7.1", "Service unavailable; client "
				    "[%s] blocked using %s"),
	[R_BLOCKED_TEXT] =	E(554, "5.7.1", "%s"),
	[R_SENDER_DOMAIN_TEMP] = E(451, "4.1.8", "<%s>: Sender address "
				    "rejected: Domain not found"),
	[R_SENDER_DOMAIN] =	E(553, "5.1.8", "<%s>: Sender address "
				    "rejected: Domain not found"),
	[R_SENDER_DOMAIN_DNS] =	E(451, "4.1.8", "<%s>: Sender address "
				    "rejected: Domain not found (temporary DNS "
				    "failure)"),
	[R_USER_UNKNOWN] =	E(550, "5.1.1", "<%s>: User unknown"),
	[R_RELAY_DENIED] =	E(550, "5.7.1", "<%s>: Relaying denied"),
	[R_RATE] =		E(421, "4.7.0",
				    "Too many connections, slow down"),
	[R_RATE_CLIENT] =	E(421, "4.7.0", "Too many connections from "
				    "your address, slow down"),
	[R_CONC_CLIENT] =	E(421, "4.7.0", "Too many concurrent "
				    "connections from your address"),
};

static const struct reply_def *
reply_def(enum reply_id id)
{
	static const struct reply_def bad = E(451, "4.3.0", "Internal error");

	if ((unsigned)id >= R__COUNT || catalogue[id].text == NULL)
		return &bad;
	return &catalogue[id];
}

int
reply_code(enum reply_id id)
{
	return reply_def(id)->code;
}

const char *
reply_text(enum reply_id id)
{
	return reply_def(id)->text;
}

int
reply_vformat(char *out, size_t outlen, enum reply_id id, va_list ap)
{
	const struct reply_def *d = reply_def(id);
	int n, m;

	n = snprintf(out, outlen, "%d ", d->code);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	m = vsnprintf(out + n, outlen - (size_t)n, d->text, ap);
	if (m < 0 || (size_t)m >= outlen - (size_t)n)
		return -1;
	return n + m;
}

int
reply_format(char *out, size_t outlen, enum reply_id id, ...)
{
	va_list ap;
	int n;

	va_start(ap, id);
	n = reply_vformat(out, outlen, id, ap);
	va_end(ap);
	return n;
}

int
reply_data(char *out, size_t outlen, int code, const char *text)
{
	int n;

	n = snprintf(out, outlen, "%d %s", code, text ? text : "");
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}

int
reply_split(const char *line, int *code, const char **text)
{
	if (line == NULL || (line[0] != '4' && line[0] != '5') ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    (line[3] != ' ' && line[3] != '\0'))
		return -1;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*text = line[3] == ' ' ? line + 4 : line + 3;
	return 0;
}
