/*
 * Unit tests for conf/conf.c: defaults, sections, value parsers, error
 * messages with file:line, listen parsing and domain lists.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char tmpl[64];

/* Write text to a fresh temporary file; its path is left in tmpl. */
static const char *
writetmp(const char *text)
{
	int	 fd;
	size_t	 n = strlen(text);

	snprintf(tmpl, sizeof(tmpl), "/tmp/test_conf.XXXXXX");
	fd = mkstemp(tmpl);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return tmpl;
}

static int
load(const char *text, struct conf *c, struct conf_errors *e)
{
	int	 r;

	memset(e, 0, sizeof(*e));
	r = conf_load(writetmp(text), c, e);
	return r;
}

static void
done(struct conf *c, struct conf_errors *e)
{
	unlink(tmpl);
	conf_free(c);
	conf_errors_free(e);
}

/* The single error message must equal "TMPFILE:suffix". */
static void
expect_error(const char *text, const char *suffix)
{
	struct conf		 c;
	struct conf_errors	 e;
	char			 want[256];

	assert_int_equal(load(text, &c, &e), -1);
	snprintf(want, sizeof(want), "%s:%s", tmpl, suffix);
	assert_true(e.n >= 1);
	assert_string_equal(e.msg[0], want);
	done(&c, &e);
}

static void
test_defaults(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	const struct conf_smtpd	*l;

	assert_int_equal(load("# nothing\n\n", &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_non_null(c.hostname);
	assert_string_equal(c.queue_dir, "/var/spool/postern");
	assert_string_equal(c.config_dir, "/etc/postern");
	assert_string_equal(c.local_domains, "/etc/postern/local-host-names");
	assert_string_equal(c.relay_domains, "/etc/postern/relay-domains");
	assert_string_equal(c.access_map, "/etc/postern/access");
	assert_string_equal(c.alias_map, "/etc/postern/aliases");
	assert_null(c.smarthost);
	assert_string_equal(c.mailbox, "mbox:/var/mail/%u");
	assert_int_equal(c.queue_lifetime, 5 * 86400);
	assert_int_equal(c.delay_warning, 4 * 3600);
	assert_int_equal(c.min_backoff, 300);
	assert_int_equal(c.max_backoff, 3600);
	assert_int_equal(c.remote_port, 25);
	assert_int_equal(c.remote_concurrency, 20);
	assert_string_equal(c.user, "postern");
	assert_string_equal(c.group, "postern");
	assert_string_equal(c.log, "syslog");
	assert_string_equal(c.log_level, "info");
	assert_int_equal(c.cleanup_processes, 16);
	assert_int_equal(c.local_processes, 8);
	assert_int_equal(c.remote_processes, 20);
	assert_int_equal(c.nlisteners, 1);
	l = conf_listener(&c, "smtp");
	assert_non_null(l);
	assert_int_equal(l->nlisten, 1);
	assert_string_equal(l->listen[0], "0.0.0.0:25");
	assert_int_equal(l->max_recipients, 100);
	assert_int_equal(l->max_header_size, 102400);
	assert_int_equal(l->max_message_size, 10485760);
	assert_int_equal(l->max_sessions, 100);
	assert_int_equal(l->vrfy, 0);
	assert_int_equal(l->expn, 0);
	assert_int_equal(l->tls, TLS_MAY);
	assert_int_equal(l->auth, AUTH_NONE);
	assert_int_equal(l->require_resolvable_sender, 1);
	assert_int_equal(l->delay_checks, 0);
	assert_int_equal(l->command_timeout, 300);
	assert_int_equal(l->data_timeout, 600);
	assert_int_equal(l->max_errors, 20);
	assert_int_equal(l->junk_command_limit, 100);
	assert_int_equal(l->session_timeout, 3600);
	assert_int_equal(l->min_data_rate, 500);
	assert_int_equal(l->client_session_limit, 50);
	assert_int_equal(c.auth_failure_limit, 5);
	assert_int_equal(c.auth_failure_window, 600);
	assert_int_equal(c.auth_lockout_time, 600);
	assert_int_equal(c.auth_lockout_exempt_local, 1);
	assert_string_equal(c.file, tmpl);
	done(&c, &e);
}

static void
test_globals(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;

	assert_int_equal(load(
	    "hostname = mail.example.com\n"
	    "config_dir = /srv/etc\n"
	    "queue_dir=/srv/q\n"
	    "smarthost = [relay.example.net]:2525\n"
	    "mailbox = mbox:~/mbox\n"
	    "queue_lifetime = 2d\n"
	    "min_backoff = 10s\n"
	    "max_backoff = 2h\n"
	    "remote_port = 2525\n"
	    "log = stderr\n"
	    "log_level = debug\n"
	    "remote_processes = 3\n"
	    "relay_domains = example.org\n",
	    &c, &e), 0);
	assert_string_equal(c.hostname, "mail.example.com");
	assert_string_equal(c.queue_dir, "/srv/q");
	assert_string_equal(c.smarthost, "[relay.example.net]:2525");
	assert_string_equal(c.mailbox, "mbox:~/mbox");
	assert_int_equal(c.queue_lifetime, 2 * 86400);
	assert_int_equal(c.min_backoff, 10);
	assert_int_equal(c.max_backoff, 7200);
	assert_int_equal(c.remote_port, 2525);
	assert_string_equal(c.log, "stderr");
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(c.remote_processes, 3);
	/* derived from the final config_dir */
	assert_string_equal(c.local_domains, "/srv/etc/local-host-names");
	assert_string_equal(c.alias_map, "/srv/etc/aliases");
	assert_string_equal(c.relay_domains, "example.org");
	done(&c, &e);
}

static void
test_sections(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	const struct conf_smtpd	*s, *sub;

	assert_int_equal(load(
	    "max_recipients = 50\n"
	    "[smtp]\n"
	    "listen = 0.0.0.0:25, [::]:25\n"
	    "[submission]\n"
	    "listen = 127.0.0.1:587 [::1]:587\n"
	    "auth = required\n"
	    "max_recipients = 500\n"
	    "vrfy = yes\n",
	    &c, &e), 0);
	assert_int_equal(c.nlisteners, 2);
	s = conf_listener(&c, "smtp");
	sub = conf_listener(&c, "submission");
	assert_non_null(s);
	assert_non_null(sub);
	assert_null(conf_listener(&c, "submissions"));
	assert_int_equal(s->nlisten, 2);
	assert_string_equal(s->listen[0], "0.0.0.0:25");
	assert_string_equal(s->listen[1], "[::]:25");
	assert_int_equal(s->max_recipients, 50);
	assert_int_equal(s->auth, AUTH_NONE);
	assert_int_equal(sub->nlisten, 2);
	assert_string_equal(sub->listen[1], "[::1]:587");
	assert_int_equal(sub->auth, AUTH_REQUIRED);
	assert_int_equal(sub->max_recipients, 500);
	assert_int_equal(sub->vrfy, 1);
	assert_int_equal(c.smtpd.max_recipients, 50);
	done(&c, &e);
}

/* A global smtpd key after a section still sets the default. */
static void
test_global_after_section(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	const struct conf_smtpd	*s;

	/* keys after a section header belong to it; smtpd defaults apply */
	assert_int_equal(load(
	    "max_errors = 7\n"
	    "[smtp]\n"
	    "listen = 0.0.0.0:25\n"
	    "data_timeout = 2m\n",
	    &c, &e), 0);
	s = conf_listener(&c, "smtp");
	assert_int_equal(s->max_errors, 7);
	assert_int_equal(s->data_timeout, 120);
	assert_int_equal(c.smtpd.data_timeout, 600);
	done(&c, &e);
	/* the limits: per listener; the AUTH lockout: global, 0 is off */
	assert_int_equal(load(
	    "client_session_limit = 2\nauth_failure_limit = 0\n"
	    "auth_lockout_exempt_local = no\nauth_failure_window = 1h\n"
	    "[smtp]\nlisten = 0.0.0.0:25\nclient_session_limit = 0\n"
	    "session_timeout = 0\njunk_command_limit = 7\n", &c, &e), 0);
	s = conf_listener(&c, "smtp");
	assert_int_equal(s->client_session_limit, 0);
	assert_int_equal(c.smtpd.client_session_limit, 2);
	assert_int_equal(s->session_timeout, 0);
	assert_int_equal(s->junk_command_limit, 7);
	assert_int_equal(c.auth_failure_limit, 0);
	assert_int_equal(c.auth_failure_window, 3600);
	assert_int_equal(c.auth_lockout_exempt_local, 0);
	done(&c, &e);
}

static void
test_continuation_and_comments(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	const struct conf_smtpd	*s;

	assert_int_equal(load(
	    "# a comment\n"
	    "   # indented comment\n"
	    "\n"
	    "hostname = mx.example.com   # trailing comment\n"
	    "local_domains = a.example,\n"
	    "  b.example\n"
	    "[smtp]\n"
	    "listen = 127.0.0.1:2525,\n"
	    "\t[::1]:2525\n"
	    "    10.0.0.1:25\n",
	    &c, &e), 0);
	assert_string_equal(c.hostname, "mx.example.com");
	assert_string_equal(c.local_domains, "a.example, b.example");
	s = conf_listener(&c, "smtp");
	assert_int_equal(s->nlisten, 3);
	assert_string_equal(s->listen[0], "127.0.0.1:2525");
	assert_string_equal(s->listen[1], "[::1]:2525");
	assert_string_equal(s->listen[2], "10.0.0.1:25");
	done(&c, &e);
}

static void
test_parse_size(void **state)
{
	uint64_t	 v;

	assert_int_equal(conf_parse_size("100", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(conf_parse_size("512k", &v), 0);
	assert_int_equal(v, 512 * 1024);
	assert_int_equal(conf_parse_size("10m", &v), 0);
	assert_int_equal(v, 10485760);
	assert_int_equal(conf_parse_size("10M", &v), 0);
	assert_int_equal(v, 10485760);
	assert_int_equal(conf_parse_size("2g", &v), 0);
	assert_int_equal(v, 2ULL * 1024 * 1024 * 1024);
	assert_int_equal(conf_parse_size("10q", &v), -1);
	assert_int_equal(conf_parse_size("", &v), -1);
	assert_int_equal(conf_parse_size("m", &v), -1);
	assert_int_equal(conf_parse_size("-1", &v), -1);
	assert_int_equal(conf_parse_size("10mb", &v), -1);
	assert_int_equal(conf_parse_size("99999999999999999999", &v), -1);
	assert_int_equal(conf_parse_size("18014398509481984k", &v), -1);
}

static void
test_parse_duration(void **state)
{
	uint64_t	 v;

	assert_int_equal(conf_parse_duration("10", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(conf_parse_duration("10s", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(conf_parse_duration("30m", &v), 0);
	assert_int_equal(v, 1800);
	assert_int_equal(conf_parse_duration("4h", &v), 0);
	assert_int_equal(v, 14400);
	assert_int_equal(conf_parse_duration("5d", &v), 0);
	assert_int_equal(v, 432000);
	assert_int_equal(conf_parse_duration("1W", &v), 0);
	assert_int_equal(v, 604800);
	assert_int_equal(conf_parse_duration("5x", &v), -1);
	assert_int_equal(conf_parse_duration("h", &v), -1);
	assert_int_equal(conf_parse_duration(" 5", &v), -1);
}

static void
test_parse_bool(void **state)
{
	int	 b;

	assert_int_equal(conf_parse_bool("yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("On", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("true", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("1", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("no", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("off", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("FALSE", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("0", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("maybe", &b), -1);
	assert_int_equal(conf_parse_bool("", &b), -1);
}

static void
test_unknown_key(void **state)
{
	expect_error("hostname = a.example\n\n# c\nfoo = bar\n",
	    "4: unknown key \"foo\"");
	expect_error("[smtp]\nlisten = 0.0.0.0:25\nbar = 1\n",
	    "3: unknown key \"bar\"");
}

static void
test_bad_values(void **state)
{
	expect_error("max_message_size = 10q\n",
	    "1: bad size \"10q\" for max_message_size");
	expect_error("vrfy = maybe\n",
	    "1: bad value \"maybe\" for vrfy (yes or no)");
	expect_error("\ntls = sometimes\n",
	    "2: tls must be none, may, required or wrapper");
	expect_error("log_level = loud\n",
	    "1: log_level must be error, warning, info or debug");
	expect_error("auth = maybe\n",
	    "1: auth must be none, optional or required");
	expect_error("queue_lifetime = 5y\n",
	    "1: bad duration \"5y\" for queue_lifetime");
	expect_error("max_sessions = 0\n",
	    "1: max_sessions must be greater than 0");
	expect_error("remote_processes = abc\n",
	    "1: bad number \"abc\" for remote_processes");
	expect_error("remote_port = 70000\n",
	    "1: bad port \"70000\" for remote_port");
	expect_error("min_backoff = 2h\nmax_backoff = 1h\n",
	    "2: min_backoff is greater than max_backoff");
	expect_error("queue_dir = relative\n",
	    "1: queue_dir must be an absolute path");
}

static void
test_syntax_errors(void **state)
{
	expect_error("hostname\n", "1: expected \"key = value\"");
	expect_error("[smtp\n", "1: unterminated section header");
	expect_error("[smtp]\nlisten = 0.0.0.0:25\n[smtp]\n",
	    "3: duplicate section [smtp] (first at line 1)");
	expect_error("  continued\n",
	    "1: continuation line without a preceding key");
	expect_error("listen = 0.0.0.0:25\n",
	    "1: listen is only allowed in a [section]");
	expect_error("[smtp]\nlisten = 0.0.0.0:25\nhostname = x\n",
	    "3: hostname is not allowed in a [section]");
	expect_error("[smtp]\nvrfy = yes\n",
	    "1: [smtp] has no listen address");
}

static void
test_listen_parsing(void **state)
{
	expect_error("[smtp]\nlisten = 0.0.0.0\n",
	    "2: bad listen address \"0.0.0.0\" (host:port or [v6]:port)");
	expect_error("[smtp]\nlisten = 0.0.0.0:0\n",
	    "2: bad listen address \"0.0.0.0:0\" (host:port or [v6]:port)");
	expect_error("[smtp]\nlisten = 0.0.0.0:65536\n",
	    "2: bad listen address \"0.0.0.0:65536\" "
	    "(host:port or [v6]:port)");
	expect_error("[smtp]\nlisten = ::1:25\n",
	    "2: bad listen address \"::1:25\" (host:port or [v6]:port)");
	expect_error("[smtp]\nlisten = [::1:25\n",
	    "2: bad listen address \"[::1:25\" (host:port or [v6]:port)");
	expect_error("[smtp]\nlisten = a:1 a:2 a:3 a:4 a:5 a:6 a:7 a:8 a:9\n",
	    "2: too many listen addresses (max 8)");
	expect_error("[smtp]\nlisten = localhost:smtp\n",
	    "2: bad listen address \"localhost:smtp\" "
	    "(host:port or [v6]:port)");
}

static void
test_tls_checks(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	char			 cert[64], text[512];
	int			 fd;
	const struct conf_smtpd	*l;

	expect_error("[s]\nlisten = 0.0.0.0:465\ntls = wrapper\n",
	    "3: [s] tls = wrapper needs tls_cert and tls_key");
	expect_error("tls_cert = /nonexistent/cert.pem\n",
	    "1: tls_cert: cannot read /nonexistent/cert.pem: "
	    "No such file or directory");

	snprintf(cert, sizeof(cert), "/tmp/test_conf_cert.XXXXXX");
	fd = mkstemp(cert);
	assert_true(fd != -1);
	close(fd);
	snprintf(text, sizeof(text), "tls_cert = %s\n", cert);
	expect_error(text, "1: [smtp] tls_cert without tls_key");

	/* an empty file is not a certificate chain */
	snprintf(text, sizeof(text), "tls_cert = %s\ntls_key = %s\n", cert,
	    cert);
	assert_int_equal(load(text, &c, &e), -1);
	assert_non_null(strstr(e.msg[0], ":1: bad certificate chain in "));
	done(&c, &e);
	unlink(cert);

	/* a real pair, and a key that does not match it */
	assert_int_equal(system("cd /tmp && openssl req -x509 -newkey rsa:2048 "
	    "-nodes -days 1 -subj /CN=t -keyout test_conf_k.pem "
	    "-out test_conf_c.pem >/dev/null 2>&1 && openssl genrsa "
	    "-out test_conf_k2.pem 2048 >/dev/null 2>&1"), 0);
	snprintf(text, sizeof(text),
	    "tls_cert = /tmp/test_conf_c.pem\ntls_key = /tmp/test_conf_k.pem\n"
	    "[submissions]\n"
	    "listen = 0.0.0.0:465\ntls = wrapper\nauth = required\n");
	assert_int_equal(load(text, &c, &e), 0);
	l = conf_listener(&c, "submissions");
	assert_non_null(l);
	assert_int_equal(l->tls, TLS_WRAPPER);
	assert_string_equal(l->tls_cert, "/tmp/test_conf_c.pem");
	assert_string_equal(l->tls_key, "/tmp/test_conf_k.pem");
	done(&c, &e);
	expect_error("tls_cert = /tmp/test_conf_c.pem\n"
	    "tls_key = /tmp/test_conf_k2.pem\n",
	    "2: [smtp] tls_key /tmp/test_conf_k2.pem does not match tls_cert "
	    "/tmp/test_conf_c.pem");
	/* a worker does not open the key again: master passes it open */
	conf_worker = 1;
	assert_int_equal(load("tls_cert = /tmp/test_conf_c.pem\n"
	    "tls_key = /nonexistent/key.pem\n", &c, &e), 0);
	done(&c, &e);
	conf_worker = 0;
	unlink("/tmp/test_conf_c.pem");
	unlink("/tmp/test_conf_k.pem");
	unlink("/tmp/test_conf_k2.pem");
}

/* SPEC keys whose feature is not built are errors, not ignored. */
static void
test_not_built_keys(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;

	expect_error("\nmasquerade_as = example..com\n",
	    "2: bad masquerade_as \"example..com\" (a domain name)");
	expect_error("mailbox = maildir:Maildir/\n",
	    "1: mailbox: maildir path must start with / or ~/");
	expect_error("\nmailbox_size_limit = 5q\n",
	    "2: bad size \"5q\" for mailbox_size_limit");
	expect_error("mailbox = lmtp:unix:run/lmtp\n",
	    "1: mailbox: bad LMTP store \"unix:run/lmtp\": unix: needs an "
	    "absolute socket path");
	expect_error("\nmailbox = lmtp:[127.0.0.1]:0\n",
	    "2: mailbox: bad LMTP store \"[127.0.0.1]:0\": PORT must be a "
	    "number from 1 to 65535");
	expect_error("mailbox = lmtp:[127.0.0.1]:65536\n",
	    "1: mailbox: bad LMTP store \"[127.0.0.1]:65536\": PORT must be "
	    "a number from 1 to 65535");
	expect_error("mailbox = lmtp:127.0.0.1:24\n",
	    "1: mailbox: bad LMTP store \"127.0.0.1:24\": must be "
	    "unix:/PATH or [HOST]:PORT");
	expect_error("mailbox = lmtp:[]:24\n",
	    "1: mailbox: bad LMTP store \"[]:24\": must be unix:/PATH or "
	    "[HOST]:PORT");
#define LONGP "unix:/run/dovecot/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	expect_error("mailbox = lmtp:" LONGP "\n", "1: mailbox: bad LMTP store "
	    "\"" LONGP "\": socket path longer than 107 bytes");
#undef LONGP
	expect_error("mailbox = /var/mail/%u\n", "1: mailbox must be mbox:PATH, "
	    "maildir:PATH/, lmtp:unix:/PATH or lmtp:[HOST]:PORT");
	assert_int_equal(load("mailbox = lmtp:unix:/run/dovecot/lmtp\n", &c,
	    &e), 0);
	assert_string_equal(c.mailbox, "lmtp:unix:/run/dovecot/lmtp");
	done(&c, &e);
	assert_int_equal(load("mailbox = lmtp:[::1]:24\n", &c, &e), 0);
	done(&c, &e);
	assert_int_equal(load("mailbox = lmtp:[store.example]:2003\n", &c, &e),
	    0);
	done(&c, &e);
	assert_int_equal(load("default_privs = nobody\ntransport_map = x\n"
	    "mailbox_command = /bin/true\nexposed_users = a/b\n", &c, &e),
	    -1);
	assert_int_equal(e.n, 2);
	done(&c, &e);
}

/* The local delivery keys of commands, files and .forward. */
static void
test_command_keys(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;

	assert_int_equal(load("mailbox_command = /usr/bin/procmail -d $USER\n"
	    "allow_forward_files = no\ncommand_time_limit = 30s\n", &c, &e),
	    0);
	assert_string_equal(c.mailbox_command, "/usr/bin/procmail -d $USER");
	assert_int_equal(c.allow_forward_files, 0);
	assert_int_equal(c.command_time_limit, 30);
	assert_string_equal(c.default_privs, "nobody");
	done(&c, &e);
	assert_int_equal(load("", &c, &e), 0);
	assert_null(c.mailbox_command);
	assert_int_equal(c.allow_forward_files, 1);
	assert_int_equal(c.command_time_limit, 1000);
	done(&c, &e);
	expect_error("default_privs = root\n",
	    "1: default_privs: must not be root (root)");
	expect_error("\ndefault_privs = no-such-user-here\n",
	    "2: default_privs: no such user: no-such-user-here");
	expect_error("command_time_limit = 0\n",
	    "1: command_time_limit must be greater than 0");
	/* the keys that were implemented next to them still work */
	assert_int_equal(load(
	    "dns_servers = 127.0.0.1:5353\n"
	    "dnsbl = zen.example.org\n"
	    "queue_minfree = 1m\n"
	    "authorized_submit_users = root, nobody\n"
	    "submit_processes = 2\n"
	    "[smtp]\n"
	    "listen = 0.0.0.0:25\n"
	    "auth_mechanisms = PLAIN LOGIN\n",
	    &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(c.mailbox_size_limit, 50 * 1024 * 1024);
	done(&c, &e);
	assert_int_equal(load("mailbox = maildir:~/Maildir/\n"
	    "mailbox_size_limit = 0\n", &c, &e), 0);
	assert_string_equal(c.mailbox, "maildir:~/Maildir/");
	assert_int_equal(c.mailbox_size_limit, 0);
	done(&c, &e);
}

/* The same key twice in one section: the last counts, with a warning. */
/* Masquerading and local-sender keys (cleanup/rewrite.c reads them). */
static void
test_masquerade_keys(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;

	(void)state;
	assert_int_equal(load("user = nobody\n", &c, &e), 0);
	assert_null(c.masquerade_as);
	assert_string_equal(c.exposed_users, "root");
	assert_null(c.trusted_users);
	assert_int_equal(c.masquerade_envelope, 0);
	done(&c, &e);
	assert_int_equal(load("masquerade_as = Dominio.COM.uy.\n"
	    "masquerade_domains = a.example /etc/x\nexposed_users =\n"
	    "masquerade_entire_domain = yes\ntrusted_users = root, smmsp\n",
	    &c, &e), 0);
	assert_string_equal(c.masquerade_as, "dominio.com.uy");
	assert_string_equal(c.masquerade_domains, "a.example /etc/x");
	assert_null(c.exposed_users);
	assert_int_equal(c.masquerade_entire_domain, 1);
	assert_string_equal(c.trusted_users, "root, smmsp");
	assert_int_equal(e.nwarn, 0);
	done(&c, &e);
	/* without masquerade_as they do nothing: a warning each */
	assert_int_equal(load("masquerade_envelope = yes\n"
	    "masquerade_domains = a.example\n", &c, &e), 0);
	assert_int_equal(e.nwarn, 2);
	done(&c, &e);
}

static void
test_duplicate_key(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	const struct conf_smtpd	*l;
	char			 want[256];

	assert_int_equal(load("max_errors = 3\nmax_errors = 4\n[smtp]\n"
	    "listen = 0.0.0.0:25\nmax_errors = 5\n", &c, &e), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.nwarn, 1);
	snprintf(want, sizeof(want), "%s:2: warning: max_errors set again "
	    "(first at line 1); this value counts", tmpl);
	assert_string_equal(e.msg[0], want);
	assert_int_equal(c.smtpd.max_errors, 4);
	l = conf_listener(&c, "smtp");
	assert_int_equal(l->max_errors, 5);
	done(&c, &e);
}

static void
test_submission_keys(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;
	const struct conf_smtpd	*l;
	char			 secret[] = "/tmp/test_conf_secret.XXXXXX";
	char			 text[1024];
	int			 fd;

	/* defaults */
	assert_int_equal(load("", &c, &e), 0);
	assert_string_equal(c.sasl_app, "postern");
	assert_null(c.sasl_config_dir);
	assert_int_equal(c.auth_show_user, 0);
	assert_null(c.sender_login_map);
	assert_int_equal(c.remote_tls, RTLS_MAY);
	assert_null(c.remote_auth);
	assert_string_equal(c.smtpd.auth_mechanisms,
	    "PLAIN LOGIN CRAM-MD5 DIGEST-MD5");
	assert_int_equal(c.smtpd.auth_plaintext_requires_tls, 1);
	assert_int_equal(c.listener[0].auth, AUTH_NONE);
	done(&c, &e);

	fd = mkstemp(secret);
	assert_true(fd != -1);
	close(fd);
	assert_int_equal(chmod(secret, 0600), 0);
	snprintf(text, sizeof(text),
	    "sasl_app = smtpd-test_1\n"
	    "sasl_config_dir = /tmp\n"
	    "auth_show_user = yes\n"
	    "sender_login_map = /etc/postern/sender_login\n"
	    "remote_tls = verify\n"
	    "remote_auth = %s\n"
	    "[smtp]\n"
	    "listen = 0.0.0.0:25\n"
	    "[submission]\n"
	    "listen = 0.0.0.0:587\n"
	    "auth = required\n"
	    "auth_mechanisms = plain, cram-md5\n"
	    "auth_plaintext_requires_tls = no\n", secret);
	assert_int_equal(load(text, &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(c.sasl_app, "smtpd-test_1");
	assert_string_equal(c.sasl_config_dir, "/tmp");
	assert_int_equal(c.auth_show_user, 1);
	assert_string_equal(c.sender_login_map, "/etc/postern/sender_login");
	assert_int_equal(c.remote_tls, RTLS_VERIFY);
	assert_string_equal(c.remote_auth, secret);
	/* sasl_app set: listeners without an auth key get "optional" */
	l = conf_listener(&c, "smtp");
	assert_int_equal(l->auth, AUTH_OPTIONAL);
	assert_int_equal(l->auth_plaintext_requires_tls, 1);
	l = conf_listener(&c, "submission");
	assert_int_equal(l->auth, AUTH_REQUIRED);
	assert_string_equal(l->auth_mechanisms, "PLAIN CRAM-MD5");
	assert_int_equal(l->auth_plaintext_requires_tls, 0);
	done(&c, &e);

	/* remote_auth readable by others: refused */
	assert_int_equal(chmod(secret, 0644), 0);
	snprintf(text, sizeof(text), "remote_auth = %s\n", secret);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s", "");
	assert_int_equal(load(text, &c, &e), -1);
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msg[0], ":1: remote_auth: "));
	assert_non_null(strstr(e.msg[0], "chmod 600"));
	done(&c, &e);
	unlink(secret);

	expect_error("remote_auth = /nonexistent/pw\n",
	    "1: remote_auth: cannot read /nonexistent/pw: No such file or "
	    "directory");
	expect_error("remote_auth = relative\n",
	    "1: remote_auth must be an absolute path");
	expect_error("remote_tls = sometimes\n",
	    "1: remote_tls must be none, may, encrypt or verify");
	expect_error("sasl_app = ../etc/passwd\n",
	    "1: bad sasl_app \"../etc/passwd\" (letters, digits, - and _)");
	expect_error("auth_show_user = maybe\n",
	    "1: bad value \"maybe\" for auth_show_user (yes or no)");
	expect_error("sasl_config_dir = etc/sasl2\n",
	    "1: sasl_config_dir must be an absolute path");
	expect_error("auth_mechanisms = PLAIN L*GIN\n",
	    "1: bad SASL mechanism name \"L*GIN\"");
	expect_error("[smtp]\nlisten = 0.0.0.0:25\nauth_mechanisms = ,\n",
	    "3: empty value for auth_mechanisms");
	expect_error("auth_plaintext_requires_tls = sure\n",
	    "1: bad value \"sure\" for auth_plaintext_requires_tls (yes or "
	    "no)");
	expect_error("[smtp]\nlisten = 0.0.0.0:25\nsasl_app = x\n",
	    "3: sasl_app is not allowed in a [section]");
	expect_error("tls_ca = relative.pem\n",
	    "1: tls_ca must be an absolute path");
}

static void
test_missing_file(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(conf_load("/nonexistent/postern.conf", &c, &e), -1);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.nwarn, 0);
	assert_string_equal(e.msg[0], "/nonexistent/postern.conf: cannot "
	    "open: No such file or directory");
	conf_free(&c);
	conf_errors_free(&e);
}

static void
test_multiple_errors(void **state)
{
	struct conf		 c;
	struct conf_errors	 e;

	assert_int_equal(load("foo = 1\nvrfy = x\nbar = 2\n", &c, &e), -1);
	assert_int_equal(e.n, 3);
	assert_non_null(strstr(e.msg[0], ":1: unknown key"));
	assert_non_null(strstr(e.msg[1], ":2: bad value"));
	assert_non_null(strstr(e.msg[2], ":3: unknown key"));
	done(&c, &e);
}

static void
test_conf_path(void **state)
{
	unsetenv("POSTERN_CONF");
	assert_string_equal(conf_path("/x.conf"), "/x.conf");
	assert_string_equal(conf_path(NULL), SYSCONFDIR "/postern.conf");
	setenv("POSTERN_CONF", "", 1);
	assert_string_equal(conf_path(NULL), SYSCONFDIR "/postern.conf");
	setenv("POSTERN_CONF", "/env.conf", 1);
	assert_string_equal(conf_path(NULL), "/env.conf");
	assert_string_equal(conf_path("/x.conf"), "/x.conf");
	unsetenv("POSTERN_CONF");
}

static void
test_domain_list_inline(void **state)
{
	struct domain_list	 dl;
	struct conf_errors	 e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(domain_list_load("Example.COM., b.example  c.example",
	    &dl, &e), 0);
	assert_int_equal(dl.n, 3);
	assert_string_equal(dl.dom[0], "example.com");
	assert_int_equal(domain_list_match(&dl, "EXAMPLE.com", 0), 1);
	assert_int_equal(domain_list_match(&dl, "example.com.", 0), 1);
	assert_int_equal(domain_list_match(&dl, "x.example.com", 0), 0);
	assert_int_equal(domain_list_match(&dl, "x.example.com", 1), 1);
	assert_int_equal(domain_list_match(&dl, "a.b.Example.com", 1), 1);
	assert_int_equal(domain_list_match(&dl, "examplex.com", 1), 0);
	assert_int_equal(domain_list_match(&dl, "xexample.com", 1), 0);
	assert_int_equal(domain_list_match(&dl, "com", 1), 0);
	assert_int_equal(domain_list_match(&dl, "", 1), 0);
	assert_int_equal(e.n, 0);
	domain_list_free(&dl);
	conf_errors_free(&e);
}

static void
test_domain_list_file(void **state)
{
	struct domain_list	 dl;
	struct conf_errors	 e;
	char			 spec[256], want[256];
	const char		*f;

	memset(&e, 0, sizeof(e));
	f = writetmp("# relay-domains\n"
	    "\n"
	    "relay.example\tRELAY\n"
	    "Other.Example.   # comment\n");
	snprintf(spec, sizeof(spec), "%s, extra.example "
	    "/nonexistent/relay-domains", f);
	assert_int_equal(domain_list_load(spec, &dl, &e), 0);
	assert_int_equal(dl.n, 3);
	assert_int_equal(domain_list_match(&dl, "relay.example", 0), 1);
	assert_int_equal(domain_list_match(&dl, "other.example", 0), 1);
	assert_int_equal(domain_list_match(&dl, "extra.example", 0), 1);
	assert_int_equal(domain_list_match(&dl, "relay", 0), 0);
	assert_int_equal(domain_list_match(&dl, "RELAY", 0), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.nwarn, 1);
	snprintf(want, sizeof(want),
	    "%s:3: warning: ignoring \"RELAY\" after relay.example", f);
	assert_string_equal(e.msg[0], want);
	unlink(tmpl);
	domain_list_free(&dl);
	conf_errors_free(&e);

	/* a missing file is an empty list, not an error */
	assert_int_equal(domain_list_load("/nonexistent/x", &dl, &e), 0);
	assert_int_equal(dl.n, 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(domain_list_match(&dl, "a.example", 1), 0);
	domain_list_free(&dl);
	conf_errors_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_globals),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_global_after_section),
		cmocka_unit_test(test_continuation_and_comments),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_listen_parsing),
		cmocka_unit_test(test_tls_checks),
		cmocka_unit_test(test_not_built_keys),
		cmocka_unit_test(test_masquerade_keys),
		cmocka_unit_test(test_command_keys),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_submission_keys),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_multiple_errors),
		cmocka_unit_test(test_conf_path),
		cmocka_unit_test(test_domain_list_inline),
		cmocka_unit_test(test_domain_list_file),
	};

	conf_tls_pair = conf_tls_pair_check;	/* as postern sets it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
