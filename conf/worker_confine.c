/*
 * worker_confine: each worker program's Landlock allow-list (what it may
 * still open once started), built from the config. Grants nothing under
 * queue_dir beyond the program's own queues and never grants execute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confine.h"
#include "log.h"
#include "qfile.h"
#include "worker.h"

#define MAX_RULES	64
#define POOL_SIZE	8192

/* What every confined program may read: the C library's and its
 * plug-ins' files (NSS, iconv, locales, zone info, gconv), name service
 * and resolver files. /lib and /lib64 are /usr/lib's on merged-/usr
 * systems (then they add nothing). /etc as a whole, not its files one
 * by one: a rule on a file holds its inode, and useradd, passwd,
 * resolvconf and tzdata replace passwd, group, resolv.conf, localtime
 * by rename, after which no worker could read them (every local user
 * unknown until a restart). What /etc keeps from a worker's uid, file
 * modes still keep (shadow, TLS keys). */
static const char *const sys_ro[] = {
	"/usr/lib", "/usr/lib64", "/usr/share/zoneinfo", "/lib", "/lib64",
	"/etc", "/dev/urandom", "/dev/random", "/proc/sys/crypto",
};
/* TLS: OpenSSL's config and the CA store (/usr/lib/ssl/certs links
 * there). */
static const char *const tls_ro[] = { "/etc/ssl" };
/* Cyrus SASL: its config and sasldb (the plug-ins are under /usr/lib). */
static const char *const sasl_ro[] = { "/etc/sasl2", "/etc/sasldb2" };

/* Which of the above a program reads and which queues it writes. */
static const struct profile {
	const char	*prog;
	int		 tls, sasl;
	const char	*rw[5];		/* queue subdirectories */
	const char	*ro[4];
} profiles[] = {
	{ "smtpd",	1, 1, { NULL }, { NULL } },
	{ "cleanup",	0, 0, { QDIR_INCOMING }, { NULL } },
	{ "pickup",	0, 0, { QDIR_MAILDROP }, { NULL } },	/* cleanup -s */
	{ "qmgr",	0, 0, { QDIR_INCOMING, QDIR_ACTIVE, QDIR_DEFERRED,
	    QDIR_HOLD, QDIR_CORRUPT }, { NULL } },
	{ "remote",	1, 0, { NULL }, { QDIR_ACTIVE } },
	{ "anvil",	0, 0, { NULL }, { NULL } },
	{ "showq",	0, 0, { NULL }, { QDIR_INCOMING, QDIR_ACTIVE,
	    QDIR_DEFERRED, QDIR_HOLD } },
};

struct rules {
	struct confine_rule	 r[MAX_RULES];
	unsigned		 n;
	char			 pool[POOL_SIZE];
	size_t			 used;
};

static void
add(struct rules *rs, const char *path, enum confine_access a)
{
	if (path == NULL || path[0] != '/' || rs->n >= MAX_RULES)
		return;
	rs->r[rs->n].path = path;
	rs->r[rs->n].access = a;
	rs->n++;
}

/* Keep a copy of len bytes of s in the pool; NULL when full. */
static const char *
keep(struct rules *rs, const char *s, size_t len)
{
	char *p;

	if (len >= POOL_SIZE - rs->used)
		return NULL;
	p = rs->pool + rs->used;
	memcpy(p, s, len);
	p[len] = '\0';
	rs->used += len + 1;
	return p;
}

/* The directory holding a configured file: maps are rebuilt by rename
 * there, and NAME.cdb lies beside NAME. */
static void
add_dir_of(struct rules *rs, const char *path)
{
	const char *slash;

	if (path == NULL || path[0] != '/')
		return;
	slash = strrchr(path, '/');
	add(rs, keep(rs, path, slash == path ? 1 : (size_t)(slash - path)),
	    CONFINE_RO);
}

/* The file paths in a list key ("localhost, /etc/x, ..."). */
static void
add_list_dirs(struct rules *rs, const char *list)
{
	char tok[512];
	size_t len;

	while (list != NULL && *list != '\0') {
		list += strspn(list, ", \t");
		len = strcspn(list, ", \t");
		if (len > 0 && len < sizeof(tok) && list[0] == '/') {
			memcpy(tok, list, len);
			tok[len] = '\0';
			add_dir_of(rs, tok);
		}
		list += len;
	}
}

/* Cyrus SASL reads sasldb per AUTH: the directory of the sasldb_path
 * that APP.conf names (APP.conf itself is read at start-up). */
static void
add_sasldb(struct rules *rs, const struct conf *c)
{
	const char *dirs[] = { c->sasl_config_dir, "/etc/sasl2",
	    "/usr/lib/sasl2" };
	char path[1024], line[1024], *v, *e;
	FILE *fp;

	if (c->sasl_app == NULL)
		return;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (dirs[i] == NULL || snprintf(path, sizeof(path),
		    "%s/%s.conf", dirs[i], c->sasl_app) >= (int)sizeof(path))
			continue;
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL) {
			if (strncmp(line, "sasldb_path:", 12) != 0)
				continue;
			v = line + 12 + strspn(line + 12, " \t");
			e = v + strcspn(v, " \t\r\n");
			*e = '\0';
			add_dir_of(rs, v);
		}
		fclose(fp);
		return;		/* Cyrus reads the first APP.conf found */
	}
}

static void
add_conf(struct rules *rs, const struct worker *w)
{
	const struct conf *c = &w->conf;
	const struct conf_smtpd *l = conf_listener(c, w->service);

	if (l == NULL)
		l = &c->smtpd;
	add_dir_of(rs, w->conf_file);
	add(rs, c->config_dir, CONFINE_RO);
	add_dir_of(rs, c->access_map);
	add_dir_of(rs, c->alias_map);
	add_dir_of(rs, c->virtual_map);
	add_dir_of(rs, c->transport_map);
	add_dir_of(rs, c->sender_login_map);
	add_dir_of(rs, c->remote_auth);
	add(rs, c->sasl_config_dir, CONFINE_RO);
	add(rs, l->tls_cert, CONFINE_RO);
	add(rs, l->tls_ca, CONFINE_RO);
	add(rs, c->smtpd.tls_ca, CONFINE_RO);
	add_list_dirs(rs, c->local_domains);
	add_list_dirs(rs, c->relay_domains);
	add_list_dirs(rs, c->masquerade_domains);
}

int
worker_confine(struct worker *w)
{
	const struct profile *p = NULL;
	const char *prog = w->prog;
	struct rules *rs;
	char path[1024];
	int r;

	/* cleanup's pickup service reads maildrop/, never incoming/ */
	if (strcmp(prog, "cleanup") == 0 && strcmp(w->service, "pickup") == 0)
		prog = w->service;
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].prog, prog) == 0)
			p = &profiles[i];
	if (p == NULL)
		return 0;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < sizeof(sys_ro) / sizeof(sys_ro[0]); i++)
		add(rs, sys_ro[i], CONFINE_RO);
	for (size_t i = 0; p->tls && i < sizeof(tls_ro) / sizeof(tls_ro[0]);
	    i++)
		add(rs, tls_ro[i], CONFINE_RO);
	for (size_t i = 0; p->sasl && i < sizeof(sasl_ro) /
	    sizeof(sasl_ro[0]); i++)
		add(rs, sasl_ro[i], CONFINE_RO);
	add(rs, "/dev/null", CONFINE_RW);
	add_conf(rs, w);
	if (p->sasl)
		add_sasldb(rs, &w->conf);
	for (size_t i = 0; i < 5 && p->rw[i] != NULL; i++) {
		queue_path(w->conf.queue_dir, p->rw[i], path, sizeof(path));
		add(rs, keep(rs, path, strlen(path)), CONFINE_RW);
	}
	for (size_t i = 0; i < 4 && p->ro[i] != NULL; i++) {
		queue_path(w->conf.queue_dir, p->ro[i], path, sizeof(path));
		add(rs, keep(rs, path, strlen(path)), CONFINE_RO);
	}
	if (rs->n >= MAX_RULES)
		log_warn("more than %d Landlock rules: some left out",
		    MAX_RULES);
	r = confine_landlock(rs->r, rs->n);
	free(rs);
	if (r == -1)
		fatal("cannot confine %s with Landlock", w->prog);
	return r;
}
