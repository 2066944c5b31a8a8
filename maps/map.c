/*
 * map: compile text maps ("key value" or aliases "name: a, b") into a
 * tinycdb file, and look keys up in it. Keys are stored lower-cased.
 * Access-map conveniences are applied at compile time: "Connect: 1.2.3"
 * is joined, a trailing dot on a key is dropped, CIDR keys are expanded
 * into the dotted (or IPv6 group) prefixes they cover.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string.h>
#include <cdb.h>

#include "log.h"
#include "idn.h"
#include "map.h"

#define MAP_MAXKEYS	65536	/* most keys one CIDR entry may expand to */

struct sbuf {
	char	*s;
	size_t	 len, cap;
};

struct compile {
	const char		*path;
	enum map_kind		 kind;
	map_check_fn		*check;		/* NULL: none */
	struct conf_errors	*errs;
	struct cdb_make		 cdbm;
	size_t			 line;
	size_t			 dupline;	/* line warned of a duplicate */
	int			 nerr;
	int			 ioerr;
};

static int
sbuf_add(struct sbuf *b, const char *p, size_t n)
{
	char	*ns;
	size_t	 ncap;

	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 128;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((ns = realloc(b->s, ncap)) == NULL)
			return -1;
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

/* Report a problem at the current entry: "file:line: [warning: ]text". */
static void
cmsg(struct compile *c, int warn, const char *fmt, ...)
{
	va_list	 ap;
	char	 text[1024];

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	conf_errors_add(c->errs, warn, "%s:%zu: %s%s", c->path, c->line,
	    warn ? "warning: " : "", text);
	if (!warn)
		c->nerr++;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = tolower((unsigned char)*s);
}

static char *
trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
put_key(struct compile *c, const char *key, const char *val)
{
	size_t	 klen = strlen(key), vlen = strlen(val);
	int	 r;

	if ((r = cdb_make_exists(&c->cdbm, key, klen)) < 0) {
		c->ioerr = 1;
		return -1;
	}
	/* once a line: a CIDR entry may repeat thousands of keys */
	if (r > 0 && c->dupline != c->line) {
		cmsg(c, 1, "duplicate key \"%s\", the last one wins", key);
		c->dupline = c->line;
	}
	if (cdb_make_put(&c->cdbm, key, klen, val, vlen,
	    CDB_PUT_REPLACE) < 0) {
		cmsg(c, 0, "cannot write: %s", strerror(errno));
		c->ioerr = 1;
		return -1;
	}
	return 0;
}

/*
 * The stored and searched form of a key: lower-cased, its domain as an
 * A-label (lib/idn.h), so "café.example" and "xn--caf-dma.example" are
 * one key whichever form the map or the mail uses. A fresh string.
 */
static char *
norm_key(const char *key)
{
	size_t	 len = strlen(key) + 256;	/* an A-label may grow */
	char	*k;

	if ((k = malloc(len)) == NULL)
		return NULL;
	if (idn_key_norm(key, k, len) == -1) {
		memcpy(k, key, strlen(key) + 1);
		lower(k);
	}
	return k;
}

static int
put(struct compile *c, const char *rawkey, const char *val)
{
	char	*key;
	int	 r;

	if ((key = norm_key(rawkey)) == NULL) {
		cmsg(c, 0, "out of memory");
		c->ioerr = 1;
		return -1;
	}
	r = put_key(c, key, val);
	free(key);
	return r;
}

/* Put "tag:rest" (or just rest when there is no tag). */
static int
put_tagged(struct compile *c, const char *tag, const char *rest,
    const char *val)
{
	char	 key[1024];
	int	 n;

	if (tag != NULL)
		n = snprintf(key, sizeof(key), "%s:%s", tag, rest);
	else
		n = snprintf(key, sizeof(key), "%s", rest);
	if (n < 0 || (size_t)n >= sizeof(key)) {
		cmsg(c, 0, "key too long");
		return -1;
	}
	return put(c, key, val);
}

/* A tag is a word of letters before the first ':' (not "ipv6"). */
static int
is_tagword(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || (n == 4 && strncasecmp(s, "ipv6", 4) == 0))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalpha((unsigned char)s[i]))
			return 0;
	return 1;
}

static void
v6_groups(const struct in6_addr *a, unsigned g[8])
{
	int	 i;

	for (i = 0; i < 8; i++)
		g[i] = (a->s6_addr[2 * i] << 8) | a->s6_addr[2 * i + 1];
}

/* "ipv6:" + the first n groups in hex, unpadded. */
static void
v6_fmt(char *buf, size_t sz, const unsigned g[8], int n)
{
	size_t	 len;
	int	 i;

	strlcpy(buf, "ipv6", sz);
	for (i = 0; i < n; i++) {
		len = strlen(buf);
		snprintf(buf + len, sz - len, ":%x", g[i]);
	}
}

static int
cidr_bits(struct compile *c, const char *s, int max)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || n < 1 || n > max) {
		cmsg(c, 0, "bad CIDR prefix length \"/%s\"", s);
		return -1;
	}
	return (int)n;
}

/* 10.1.0.0/16 -> "10.1"; 10.0.0.0/12 -> "10.0" .. "10.15". */
static int
cidr4(struct compile *c, const char *tag, char *addr, const char *val)
{
	char		*slash, *p, *end, buf[64];
	uint32_t	 a = 0, base, step, count, i, x;
	int		 n, noct = 0, l, j;
	unsigned long	 o;

	slash = strchr(addr, '/');
	*slash = '\0';
	if ((n = cidr_bits(c, slash + 1, 32)) == -1)
		return -1;
	for (p = addr; noct < 4; noct++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		o = strtoul(p, &end, 10);
		if (o > 255)
			goto bad;
		a |= (uint32_t)o << (24 - 8 * noct);
		if (*end == '\0') {
			noct++;
			break;
		}
		if (*end != '.')
			goto bad;
		p = end + 1;
	}
	if (*p == '\0' || noct == 0)
		goto bad;
	base = a & (n == 32 ? 0xffffffffU : ~(0xffffffffU >> n));
	if (base != a)
		cmsg(c, 1, "host bits set in %s/%d", addr, n);
	l = (n + 7) / 8;			/* octets in each key */
	count = 1U << (8 * l - n);
	if (count > MAP_MAXKEYS) {
		cmsg(c, 0, "%s/%d expands to too many keys", addr, n);
		return -1;
	}
	step = l == 4 ? 1 : 1U << (32 - 8 * l);
	for (i = 0; i < count; i++) {
		x = base + i * step;
		buf[0] = '\0';
		for (j = 0; j < l; j++) {
			size_t len = strlen(buf);
			snprintf(buf + len, sizeof(buf) - len, "%s%u",
			    j ? "." : "", (x >> (24 - 8 * j)) & 0xff);
		}
		if (put_tagged(c, tag, buf, val) == -1)
			return -1;
	}
	return 0;
bad:
	cmsg(c, 0, "bad IPv4 address \"%s\"", addr);
	return -1;
}

/* ipv6:2001:db8::/32 -> "ipv6:2001:db8". */
static int
cidr6(struct compile *c, const char *tag, char *addr, const char *val)
{
	struct in6_addr	 a;
	char		*slash, buf[128];
	unsigned	 g[8], keep;
	uint32_t	 count, i;
	int		 n, l, j, bits, masked = 0;

	slash = strchr(addr, '/');
	*slash = '\0';
	if ((n = cidr_bits(c, slash + 1, 128)) == -1)
		return -1;
	if (inet_pton(AF_INET6, addr, &a) != 1) {
		cmsg(c, 0, "bad IPv6 address \"%s\"", addr);
		return -1;
	}
	v6_groups(&a, g);
	for (j = 0; j < 8; j++) {
		bits = n - 16 * j;
		keep = bits >= 16 ? 0xffff : bits <= 0 ? 0 :
		    (0xffffU << (16 - bits)) & 0xffff;
		if (g[j] & ~keep)
			masked = 1;
		g[j] &= keep;
	}
	if (masked)
		cmsg(c, 1, "host bits set in %s/%d", addr, n);
	l = (n + 15) / 16;
	count = 1U << (16 * l - n);
	for (i = 0; i < count; i++) {
		unsigned save = g[l - 1];

		g[l - 1] = save + i;
		v6_fmt(buf, sizeof(buf), g, l);
		g[l - 1] = save;
		if (put_tagged(c, tag, buf, val) == -1)
			return -1;
	}
	return 0;
}

static int
plain_entry(struct compile *c, char *ent)
{
	char	*key, *val, *p, *tag = NULL, *rest, *colon;
	char	 joined[1024], buf[128], why[256];
	size_t	 klen;
	struct in6_addr a6;
	unsigned g[8];

	key = p = ent;
	while (*p != '\0' && !isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	val = trim(p);
	klen = strlen(key);
	/* "Connect: 192.168.1.5 RELAY": join the tag and the next word. */
	if (klen > 1 && key[klen - 1] == ':' && is_tagword(key, klen - 1) &&
	    *val != '\0') {
		p = val;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
		if ((size_t)snprintf(joined, sizeof(joined), "%s%s", key,
		    val) >= sizeof(joined)) {
			cmsg(c, 0, "key too long");
			return -1;
		}
		cmsg(c, 1, "space after \"%s\": read as \"%s\"", key, joined);
		key = joined;
		val = trim(p);
	}
	if (*val == '\0') {
		cmsg(c, 0, "missing value");
		return -1;
	}
	if (c->check != NULL && c->check(key, val, why, sizeof(why)) == -1) {
		cmsg(c, 0, "%s", why);
		return -1;
	}
	lower(key);
	rest = key;
	if ((colon = strchr(key, ':')) != NULL &&
	    is_tagword(key, colon - key)) {
		*colon = '\0';
		tag = key;
		rest = colon + 1;
	}
	klen = strlen(rest);
	if (klen > 1 && rest[klen - 1] == '.')
		rest[--klen] = '\0';
	if (klen == 0) {
		cmsg(c, 0, "empty key");
		return -1;
	}
	if (strncmp(rest, "ipv6:", 5) == 0) {
		if (strchr(rest, '/') != NULL)
			return cidr6(c, tag, rest + 5, val);
		if (inet_pton(AF_INET6, rest + 5, &a6) == 1) {
			v6_groups(&a6, g);
			v6_fmt(buf, sizeof(buf), g, 8);
			return put_tagged(c, tag, buf, val);
		}
		return put_tagged(c, tag, rest, val);
	}
	if (isdigit((unsigned char)rest[0]) && strchr(rest, '/') != NULL)
		return cidr4(c, tag, rest, val);
	return put_tagged(c, tag, rest, val);
}

/* "name: t1, t2" -> key "name", value "t1, t2". Quotes protect commas. */
static int
alias_entry(struct compile *c, char *ent)
{
	struct sbuf	 v = { NULL, 0, 0 };
	char		*colon, *name, *p, *start, *t;
	int		 inq = 0, r;

	if ((colon = strchr(ent, ':')) == NULL) {
		cmsg(c, 0, "missing ':' after the alias name");
		return -1;
	}
	*colon = '\0';
	name = trim(ent);
	if (*name == '\0') {
		cmsg(c, 0, "missing alias name");
		return -1;
	}
	lower(name);
	for (start = p = colon + 1;; p++) {
		if (*p == '"')
			inq = !inq;
		if (*p != '\0' && (*p != ',' || inq))
			continue;
		r = *p == '\0';
		*p = '\0';
		t = trim(start);
		if (*t != '\0' && ((v.len && sbuf_add(&v, ", ", 2) == -1) ||
		    sbuf_add(&v, t, strlen(t)) == -1)) {
			free(v.s);
			cmsg(c, 0, "out of memory");
			return -1;
		}
		if (r)
			break;
		start = p + 1;
	}
	if (v.len == 0) {
		cmsg(c, 0, "missing value");
		return -1;
	}
	r = put(c, name, v.s);
	free(v.s);
	return r;
}

static void
flush_entry(struct compile *c, struct sbuf *ent, size_t line)
{
	size_t	 save = c->line;

	if (ent->len == 0)
		return;
	c->line = line;
	if (c->kind == MAP_ALIASES)
		alias_entry(c, ent->s);
	else
		plain_entry(c, ent->s);
	c->line = save;
	ent->len = 0;
	ent->s[0] = '\0';
}

/* Every entry of the source file (continuation lines joined) into the
 * cdb; a read or write failure sets c->ioerr. */
static void
read_entries(struct compile *c, FILE *fp)
{
	struct sbuf	 ent = { NULL, 0, 0 };
	char		*line = NULL, *p;
	size_t		 lcap = 0, entline = 0, len;
	ssize_t		 n;

	while ((n = getline(&line, &lcap, fp)) != -1) {
		c->line++;
		len = (size_t)n;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (p != line) {
			/* continuation of the previous entry */
			if (ent.len == 0) {
				cmsg(c, 0, "continuation line with no entry");
				continue;
			}
			if (sbuf_add(&ent, " ", 1) == -1 ||
			    sbuf_add(&ent, p, strlen(p)) == -1)
				c->ioerr = 1;
			continue;
		}
		flush_entry(c, &ent, entline);
		entline = c->line;
		if (sbuf_add(&ent, line, len) == -1)
			c->ioerr = 1;
		if (c->ioerr)
			break;
	}
	if (ferror(fp)) {
		conf_errors_add(c->errs, 0, "%s: read error: %s", c->path,
		    strerror(errno));
		c->ioerr = 1;
	}
	if (!c->ioerr)
		flush_entry(c, &ent, entline);
	free(line);
	free(ent.s);
}

/* Make the written cdb durable and put it in place; closes *fd. */
static int
install(struct compile *c, int *fd, const char *tmp, const char *dst)
{
	if (fsync(*fd) == -1) {
		conf_errors_add(c->errs, 0, "%s: fsync: %s",
		    tmp, strerror(errno));
		return -1;
	}
	if (close(*fd) == -1) {
		*fd = -1;
		conf_errors_add(c->errs, 0, "%s: close: %s",
		    tmp, strerror(errno));
		return -1;
	}
	*fd = -1;
	if (rename(tmp, dst) == -1) {
		conf_errors_add(c->errs, 0, "%s: rename: %s",
		    dst, strerror(errno));
		return -1;
	}
	return 0;
}

static int
compile(const char *path, enum map_kind kind, map_check_fn *check,
    int check_only, struct conf_errors *errs)
{
	struct compile	 c;
	FILE		*fp;
	char		*dst = NULL, *tmp = NULL;
	int		 fd = -1, ret = -1;

	memset(&c, 0, sizeof(c));
	c.path = path;
	c.kind = kind;
	c.check = check;
	c.errs = errs;
	if ((fp = fopen(path, "r")) == NULL) {
		conf_errors_add(errs, 0, "%s: cannot open: %s",
		    path, strerror(errno));
		return -1;
	}
	if (asprintf(&dst, "%s.cdb", path) == -1 ||
	    asprintf(&tmp, "%s.cdb.tmp%ld", path, (long)getpid()) == -1) {
		dst = tmp = NULL;
		conf_errors_add(errs, 0, "%s: out of memory", path);
		goto done;
	}
	/* a check writes its cdb to memory: the same duplicate warnings */
	if (check_only)
		fd = memfd_create("postern-map", MFD_CLOEXEC);
	else
		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		conf_errors_add(errs, 0, "%s: cannot create: %s", tmp,
		    strerror(errno));
		goto done;
	}
	if (cdb_make_start(&c.cdbm, fd) == -1) {
		conf_errors_add(errs, 0, "%s: %s", tmp, strerror(errno));
		goto done;
	}
	read_entries(&c, fp);
	if (cdb_make_finish(&c.cdbm) == -1) {
		conf_errors_add(errs, 0, "%s: cannot write: %s",
		    tmp, strerror(errno));
		c.ioerr = 1;
	}
	if (!c.ioerr && !c.nerr && (check_only ||
	    install(&c, &fd, tmp, dst) == 0))
		ret = 0;
done:
	if (fd != -1)
		close(fd);
	if (ret == -1 && tmp != NULL && !check_only)
		unlink(tmp);
	fclose(fp);
	free(dst);
	free(tmp);
	return ret;
}

int
map_compile(const char *path, enum map_kind kind, struct conf_errors *errs)
{
	return compile(path, kind, NULL, 0, errs);
}

int
map_compile_checked(const char *path, map_check_fn *check, int check_only,
    struct conf_errors *errs)
{
	return compile(path, MAP_PLAIN, check, check_only, errs);
}

int
map_open(struct map *m, const char *path)
{
	struct stat	 st, cst;
	struct cdb	*cdb;
	char		*cpath;
	int		 fd, saved;

	m->path = NULL;
	m->fd = -1;
	m->cdb = NULL;
	if ((m->path = strdup(path)) == NULL)
		return -1;
	if (asprintf(&cpath, "%s.cdb", path) == -1)
		goto fail;
	if ((fd = open(cpath, O_RDONLY | O_CLOEXEC)) == -1) {
		saved = errno;
		free(cpath);
		if (saved == ENOENT)
			return 0;
		errno = saved;
		goto fail;
	}
	if (fstat(fd, &cst) == 0 && stat(path, &st) == 0 &&
	    (st.st_mtim.tv_sec > cst.st_mtim.tv_sec ||
	    (st.st_mtim.tv_sec == cst.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec > cst.st_mtim.tv_nsec)))
		log_warn("%s is older than %s; run postern map %s", cpath,
		    path, path);
	free(cpath);
	if ((cdb = calloc(1, sizeof(*cdb))) == NULL) {
		close(fd);
		goto fail;
	}
	if (cdb_init(cdb, fd) == -1) {
		saved = errno;
		free(cdb);
		close(fd);
		errno = saved;
		goto fail;
	}
	m->fd = fd;
	m->cdb = cdb;
	return 0;
fail:
	free(m->path);
	m->path = NULL;
	return -1;
}

void
map_close(struct map *m)
{
	if (m->cdb != NULL) {
		cdb_free(m->cdb);
		free(m->cdb);
	}
	if (m->fd != -1)
		close(m->fd);
	free(m->path);
	m->path = NULL;
	m->cdb = NULL;
	m->fd = -1;
}

int
map_lookup(const struct map *m, const char *key, char **val)
{
	struct cdb	*cdb = m->cdb;
	char		*k, *v;
	unsigned	 len;
	int		 r;

	*val = NULL;
	if (cdb == NULL)
		return 0;
	if ((k = norm_key(key)) == NULL)
		return -1;
	r = cdb_find(cdb, k, strlen(k));
	free(k);
	if (r <= 0)
		return r < 0 ? -1 : 0;
	len = cdb_datalen(cdb);
	if ((v = malloc(len + 1)) == NULL)
		return -1;
	if (cdb_read(cdb, v, len, cdb_datapos(cdb)) != 0) {
		free(v);
		return -1;
	}
	v[len] = '\0';
	*val = v;
	return 1;
}
