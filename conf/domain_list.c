/*
 * domain_list: the local_domains and relay_domains values (SPEC section
 * 3): domains and/or absolute paths of files with one domain a line.
 * Entries are lower-case without a trailing dot, an IDN as its A-label
 * (a U-label domain is converted before it is compared). A missing file
 * is an empty list; a bad one is reported, never fatal.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "conf.h"
#include "conf_key.h"
#include "idn.h"
#include "utf8.h"

static void
dl_add(struct domain_list *dl, const char *d)
{
	char	*s, alabel[256];
	size_t	 n, i;

	/* an IDN in either form is kept as its A-label (lib/idn.h) */
	if (idn_domain_ascii(d, alabel, sizeof(alabel)) == 0)
		d = alabel;
	s = xstrdup(d);
	n = strlen(s);
	while (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	if (n == 0) {
		free(s);
		return;
	}
	for (i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	for (i = 0; i < dl->n; i++)
		if (strcmp(dl->dom[i], s) == 0) {
			free(s);
			return;
		}
	dl->dom = xreallocarray(dl->dom, dl->n + 1, sizeof(*dl->dom));
	dl->dom[dl->n++] = s;
}

/* One domain a line, # comments; the seeds' stray "RELAY" word after a
 * domain is ignored with a warning. */
static int
dl_file(const char *path, struct domain_list *dl, struct conf_errors *errs)
{
	FILE	*fp;
	char	*buf = NULL, *h, *d, *rest, *save = NULL;
	size_t	 cap = 0;
	int	 line = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		conf_errors_add(errs, 0, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	while (getline(&buf, &cap, fp) != -1) {
		line++;
		if ((h = strchr(buf, '#')) != NULL)
			*h = '\0';
		if ((d = strtok_r(buf, " \t\r\n,", &save)) == NULL)
			continue;
		if ((rest = strtok_r(NULL, "", &save)) != NULL)
			rest = conf_trim(rest);
		if (rest != NULL && *rest != '\0')
			conf_errors_add(errs, 1, "%s:%d: warning: ignoring "
			    "\"%s\" after %s", path, line, rest, d);
		dl_add(dl, d);
	}
	free(buf);
	fclose(fp);
	return 0;
}

int
domain_list_load(const char *spec, struct domain_list *dl,
    struct conf_errors *errs)
{
	char	*copy, *t, *save = NULL;
	int	 r = 0;

	memset(dl, 0, sizeof(*dl));
	if (spec == NULL)
		return 0;
	copy = xstrdup(spec);
	for (t = strtok_r(copy, ", \t\n", &save); t != NULL;
	    t = strtok_r(NULL, ", \t\n", &save)) {
		if (*t != '/')
			dl_add(dl, t);
		else if (dl_file(t, dl, errs) == -1)
			r = -1;
	}
	free(copy);
	return r;
}

int
domain_list_match(const struct domain_list *dl, const char *domain,
    int subdomains)
{
	size_t	 i, n, en;
	char	 alabel[256];

	if (dl == NULL || domain == NULL)
		return 0;
	if (utf8_has8bit(domain, strlen(domain)) &&
	    idn_domain_ascii(domain, alabel, sizeof(alabel)) == 0)
		domain = alabel;
	n = strlen(domain);
	while (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	for (i = 0; i < dl->n; i++) {
		en = strlen(dl->dom[i]);
		if (en == n && strncasecmp(domain, dl->dom[i], n) == 0)
			return 1;
		if (subdomains && n > en + 1 && domain[n - en - 1] == '.' &&
		    strncasecmp(domain + n - en, dl->dom[i], en) == 0)
			return 1;
	}
	return 0;
}

void
domain_list_free(struct domain_list *dl)
{
	if (dl == NULL)
		return;
	xfreev(dl->dom, dl->n);
	memset(dl, 0, sizeof(*dl));
}
