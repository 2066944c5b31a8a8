/*
 * utf8: well-formed UTF-8 (RFC 3629) for SMTPUTF8 addresses. Pure; the
 * input is untrusted and never read past len. Must never accept an
 * overlong form, a surrogate, a code point past U+10FFFF or a control.
 */
#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H

#include <stddef.h>

/* Does s[0..len) hold a byte > 127? */
int	 utf8_has8bit(const char *s, size_t len);
/* Is s[0..len) well-formed UTF-8 without C0, DEL or C1 controls? */
int	 utf8_valid(const char *s, size_t len);

#endif
