/*
 * import_mc_finish: the postern keys that several sendmail.mc lines make
 * together (listeners from DAEMON_OPTIONS and Sendmail's defaults, AUTH,
 * the local mailer, the smart host). It only adds keys and messages
 * through import_mc.h; it never touches a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "tools/import_mc.h"

#define SUPPORTED_MECHS	" PLAIN LOGIN CRAM-MD5 DIGEST-MD5 "

const char *
imp_value(const struct mc_stmt *st)
{
	int	 i = strcmp(st->key, "DEFINE") == 0 ||
	    strcmp(st->key, "FEATURE") == 0;

	return i < st->nargs ? st->args[i] : "";
}

/* Argument i when given and not empty, else dflt. */
static const char *
arg_or(const struct mc_stmt *st, int i, const char *dflt)
{
	return i < st->nargs && st->args[i][0] != '\0' ? st->args[i] : dflt;
}

static const char *
sect_of(int port, char *buf, size_t len)
{
	if (port == 25)
		return "smtp";
	if (port == 587)
		return "submission";
	if (port == 465)
		return "submissions";
	snprintf(buf, len, "smtp%d", port);
	return buf;
}

static void
daemon_mods(struct imp *m, const char *sect, const char *mods)
{
	for (const char *c = mods; *c != '\0'; c++) {
		if (*c == 'a')
			imp_set(m, sect, "auth", "required");
		else if (*c == 'A')
			imp_set(m, sect, "auth", "none");
		else if (*c == 's')
			imp_set(m, sect, "tls", "wrapper");
		else if (*c == 'S')
			imp_set(m, sect, "tls", "none");
		else if (*c == 'E')
			imp_note(m, "M=E: postern has no ETRN command");
		else if (*c != ' ')
			imp_warn(m, "modifier %c: no postern equivalent", *c);
	}
}

static void
listen_on(struct imp *m, const struct imp_daemon *d)
{
	char		 a[96], sb[32];
	const char	*sect = sect_of(d->port, sb, sizeof(sb));

	if (d->addr[0] == '\0')
		snprintf(a, sizeof(a), "%s:%d", d->inet6 ? "[::]" : "0.0.0.0",
		    d->port);
	else if (strchr(d->addr, ':') != NULL)
		snprintf(a, sizeof(a), "[%s]:%d", d->addr, d->port);
	else
		snprintf(a, sizeof(a), "%s:%d", d->addr, d->port);
	imp_add(m, sect, "listen", a);
	if (strcmp(d->addr, "127.0.0.1") == 0 || strcmp(d->addr, "::1") == 0)
		imp_note(m, "only this host can connect, as with Sendmail "
		    "(the tutorials drop Addr= to receive mail from others)");
	daemon_mods(m, sect, d->mods);
}

/* Two daemons on one port, one of them on every address: cannot bind. */
static void
daemon_clash(struct imp *m)
{
	const struct imp_daemon	*a, *b;

	for (int i = 0; i < m->ndmn; i++)
		for (int j = 0; j < m->ndmn; j++) {
			a = &m->dmn[i];
			b = &m->dmn[j];
			if (i == j || a->port != b->port || a->addr[0] != '\0' ||
			    a->inet6 != b->inet6 || (b->addr[0] == '\0' && j < i))
				continue;
			imp_at(m, b->st, "DAEMON_OPTIONS");
			imp_warn(m, "port %d is also taken on every address by "
			    "the DAEMON_OPTIONS at line %d: the listener could "
			    "not start; keep one of them", b->port, a->st->line);
		}
}

static void
finish_daemons(struct imp *m)
{
	struct imp_daemon	 dflt = { .port = 25 };
	int			 msa = 0;

	for (int i = 0; i < m->ndmn; i++) {
		imp_at(m, m->dmn[i].st, "DAEMON_OPTIONS");
		listen_on(m, &m->dmn[i]);
		msa |= m->dmn[i].port == 587;
	}
	daemon_clash(m);
	if (!m->any_daemon) {
		imp_at(m, NULL, "Sendmail's default MTA daemon (no "
		    "DAEMON_OPTIONS): port 25 on every IPv4 address");
		listen_on(m, &dflt);
	}
	if (m->nomsa != NULL) {
		imp_at(m, m->nomsa, "FEATURE(no_default_msa)");
		imp_note(m, "no default [submission] listener");
	} else if (!msa) {
		imp_at(m, NULL, "Sendmail's default MSA (no "
		    "FEATURE(no_default_msa)): port 587, M=E");
		dflt.port = 587;
		snprintf(dflt.mods, sizeof(dflt.mods), "E");
		listen_on(m, &dflt);
	}
}

static int
in_list(const char *list, const char *w)
{
	char	 pat[64];

	snprintf(pat, sizeof(pat), " %s ", w);
	return strcasestr(list, pat) != NULL;
}

static void
finish_auth(struct imp *m)
{
	char	 offered[512], trust[512], out[256] = "", unsup[256] = "",
		 untrusted[256] = "", *w, *save = NULL;

	if (m->mechs == NULL && m->trust == NULL)
		return;
	snprintf(offered, sizeof(offered), "%s", m->mechs != NULL ?
	    imp_value(m->mechs) : "GSSAPI KERBEROS_V4 DIGEST-MD5 CRAM-MD5");
	snprintf(trust, sizeof(trust), " %s ", m->trust != NULL ?
	    imp_value(m->trust) : "");
	for (w = strtok_r(offered, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save)) {
		char *dst = !in_list(SUPPORTED_MECHS, w) ? unsup :
		    m->trust != NULL && !in_list(trust, w) ? untrusted : out;

		if (dst[0] != '\0')
			strlcat(dst, " ", 256);
		strlcat(dst, w, 256);
	}
	imp_at(m, m->mechs != NULL ? m->mechs : m->trust,
	    m->mechs != NULL ? "confAUTH_MECHANISMS" : "TRUST_AUTH_MECH");
	if (unsup[0] != '\0')
		imp_warn(m, "%s: postern's SASL does not offer them: dropped",
		    unsup);
	if (untrusted[0] != '\0')
		imp_warn(m, "%s: not in TRUST_AUTH_MECH: dropped (postern lets "
		    "every authenticated client relay)", untrusted);
	if (out[0] == '\0') {
		imp_warn(m, "no mechanism left: AUTH stays off");
		return;
	}
	imp_set(m, NULL, "auth_mechanisms", out);
	imp_set(m, NULL, "auth", "optional");
	if (m->mechs != NULL && m->trust != NULL) {
		imp_at(m, m->trust, "TRUST_AUTH_MECH");
		imp_note(m, "every authenticated client may relay; "
		    "auth_mechanisms keeps only trusted mechanisms");
	}
}

/* Sendmail's $u, $h... in mailer arguments -> mailbox_command's. */
static void
mailer_cmd(struct imp *m, const char *path, const char *args, char *out,
    size_t len)
{
	static const char *const mac[][2] = { { "$u", "$USER" },
	    { "$h", "$EXTENSION" }, { "$f", "$SENDER" }, { "$g", "$SENDER" } };
	char	*copy = xstrdup(args), *w, *save = NULL;
	size_t	 i;
	int	 first = 1;

	snprintf(out, len, "%s", path);
	for (w = strtok_r(copy, " \t", &save); w != NULL;
	    w = strtok_r(NULL, " \t", &save), first = 0) {
		if (first)
			continue;	/* argv[0] */
		strlcat(out, " ", len);
		for (i = 0; i < sizeof(mac) / sizeof(mac[0]); i++)
			if (strcmp(w, mac[i][0]) == 0)
				break;
		if (i < sizeof(mac) / sizeof(mac[0]))
			strlcat(out, mac[i][1], len);
		else {
			if (strchr(w, '$') != NULL)
				imp_warn(m, "%s: no postern equivalent of this "
				    "Sendmail macro: left as is", w);
			strlcat(out, w, len);
		}
	}
	free(copy);
}

static void
finish_procmail(struct imp *m)
{
	const char	*path = arg_or(m->procmail, 1, NULL);
	char		 cmd[1024];

	if (path == NULL && m->procpath != NULL)
		path = imp_value(m->procpath);
	if (path == NULL || *path == '\0')
		path = "/usr/bin/procmail";
	imp_at(m, m->procmail, "FEATURE(local_procmail)");
	mailer_cmd(m, path, arg_or(m->procmail, 2, "procmail -Y -a $h -d $u"),
	    cmd, sizeof(cmd));
	imp_set(m, NULL, "mailbox_command", cmd);
	if (m->procpath != NULL) {
		imp_at(m, m->procpath, "PROCMAIL_MAILER_PATH");
		imp_note(m, "used in mailbox_command");
	}
}

static void
finish_mailbox(struct imp *m)
{
	char	 cmd[1024];

	if (m->cyrus != NULL) {
		imp_at(m, m->cyrus, "confLOCAL_MAILER");
		imp_set(m, NULL, "mailbox", "lmtp:unix:/var/lib/imap/socket/"
		    "lmtp");
		imp_warn(m, "check the path of Cyrus's LMTP socket "
		    "(lmtpsocket in /etc/imapd.conf)");
		if (m->procmail != NULL) {
			imp_at(m, m->procmail, "FEATURE(local_procmail)");
			imp_warn(m, "not used: confLOCAL_MAILER at line %d "
			    "delivers local mail, as in Sendmail",
			    m->cyrus->line);
		}
	} else if (m->procmail != NULL)
		finish_procmail(m);
	else if (m->lmpath != NULL) {
		imp_at(m, m->lmpath, "LOCAL_MAILER_PATH");
		mailer_cmd(m, imp_value(m->lmpath), m->lmargs != NULL ?
		    imp_value(m->lmargs) : "mail -d $u", cmd, sizeof(cmd));
		imp_set(m, NULL, "mailbox_command", cmd);
		imp_warn(m, "postern runs it as the recipient, not as root: "
		    "check that %s delivers so", imp_value(m->lmpath));
	}
	if (m->procpath != NULL && (m->procmail == NULL || m->cyrus != NULL)) {
		imp_at(m, m->procpath, "PROCMAIL_MAILER_PATH");
		imp_note(m, "not used: only FEATURE(local_procmail) delivering "
		    "local mail uses it");
	}
	if (m->lmargs != NULL && (m->lmpath == NULL || m->procmail != NULL ||
	    m->cyrus != NULL)) {
		imp_at(m, m->lmargs, "LOCAL_MAILER_ARGS");
		imp_warn(m, "not used: no LOCAL_MAILER_PATH delivers local "
		    "mail");
	}
	if (m->lmpath != NULL && (m->procmail != NULL || m->cyrus != NULL)) {
		imp_at(m, m->lmpath, "LOCAL_MAILER_PATH");
		imp_warn(m, "not used: another local mailer is set");
	}
}

static void
finish_relay(struct imp *m)
{
	static const char *const pfx[] = { "smtp:", "esmtp:", "smtp8:",
	    "dsmtp:", "relay:" };
	const char	*v;

	if (m->smarthost != NULL) {
		imp_at(m, m->smarthost, "SMART_HOST");
		v = imp_value(m->smarthost);
		for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++)
			if (strncmp(v, pfx[i], strlen(pfx[i])) == 0)
				v += strlen(pfx[i]);
		if (strncmp(v, "uucp", 4) == 0 || *v == '\0' ||
		    strchr(v, ' ') != NULL)
			imp_warn(m, "\"%s\" is not a host postern can relay "
			    "to: not mapped", imp_value(m->smarthost));
		else
			imp_set(m, NULL, "smarthost", v);
	}
	if (m->relayhost == NULL)
		return;
	imp_at(m, m->relayhost, "RELAY_HOST");
	if (m->smarthost != NULL && strcmp(imp_value(m->relayhost),
	    imp_value(m->smarthost)) == 0)
		imp_note(m, "the same host as SMART_HOST (line %d)",
		    m->smarthost->line);
	else
		imp_warn(m, "not read by Sendmail 8: if it names your outgoing "
		    "relay, define SMART_HOST (postern: smarthost)");
}

void
imp_finish(struct imp *m)
{
	finish_daemons(m);
	finish_auth(m);
	finish_mailbox(m);
	finish_relay(m);
}
