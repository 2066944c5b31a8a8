/*
 * idn: internationalised domain names (RFC 5890-5891, UTS 46 mapping,
 * libidn2) as the one form postern compares and looks up: the A-label,
 * lower-case. Pure; must never pass a U-label to DNS or to a map.
 */
#ifndef POSTERN_IDN_H
#define POSTERN_IDN_H

#include <stddef.h>

/*
 * The lookup form of a domain: ASCII lower-cased as it is, one with
 * bytes > 127 converted to its A-label ("café.example" ->
 * "xn--caf-dma.example"); one trailing dot dropped. 0, or -1 when it is
 * not a valid IDN or out (outlen bytes) is too small (out is then "").
 */
int	 idn_domain_ascii(const char *in, char *out, size_t outlen);

/*
 * A map key or lookup key in the same form: "[tag:]local@domain",
 * "[tag:]domain" or a bare name, ASCII lower-cased, and the domain part
 * (after the last '@'; the whole rest when there is none) converted as
 * above when it has bytes > 127 and converts. Applied alike when a map
 * is compiled and when it is searched, so a U-label and its A-label
 * find the same entry. 0, or -1 when out is too small.
 */
int	 idn_key_norm(const char *key, char *out, size_t outlen);

#endif
