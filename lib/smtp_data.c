/*
 * smtp_data: content to the DATA wire format (LF -> CRLF, dot-stuffing,
 * CRLF.CRLF), or to BDAT's (LF -> CRLF only). Pure; shared by remote
 * (SMTP) and local (LMTP).
 */
#include <string.h>

#include "smtp_data.h"

void
smtp_dot_init(struct smtp_dot *d)
{
	d->bol = 1;
	d->cr = 0;
	d->stuff = 1;
}

size_t
smtp_dot_encode(struct smtp_dot *d, const char *in, size_t len, char *out)
{
	size_t	 o = 0;

	for (size_t k = 0; k < len; k++) {
		char ch = in[k];

		if (d->cr) {
			d->cr = 0;
			if (ch != '\n') {
				out[o++] = '\r';
				d->bol = 0;
			}
		}
		if (ch == '\r') {
			d->cr = 1;
			continue;
		}
		if (ch == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			d->bol = 1;
			continue;
		}
		if (d->bol && ch == '.' && d->stuff)
			out[o++] = '.';
		out[o++] = ch;
		d->bol = 0;
	}
	return o;
}

size_t
smtp_crlf_finish(struct smtp_dot *d, char *out)
{
	size_t	 o = 0;

	if (d->cr) {
		out[o++] = '\r';
		d->cr = 0;
		d->bol = 0;
	}
	if (!d->bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	d->bol = 1;
	return o;
}

size_t
smtp_dot_finish(struct smtp_dot *d, char *out)
{
	size_t	 o = smtp_crlf_finish(d, out);

	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
