/*
 * conf: postern.conf parser, defaults and validation (SPEC section 3).
 * Pure parsing: no daemon state. Errors are collected as "file:line: text"
 * so `postern check` can print every problem, and start can refuse.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_LISTENERS	8
#define CONF_MAX_ADDRS		8

enum conf_tls { TLS_NONE, TLS_MAY, TLS_REQUIRED, TLS_WRAPPER };
enum conf_auth { AUTH_NONE, AUTH_OPTIONAL, AUTH_REQUIRED };
/* remote_tls: STARTTLS to the next hop (SPEC section 10). */
enum conf_remote_tls { RTLS_NONE, RTLS_MAY, RTLS_ENCRYPT, RTLS_VERIFY };
/* remote_auth_tls: the least a session must be for AUTH credentials. */
enum conf_auth_tls { ATLS_NONE, ATLS_ENCRYPT, ATLS_VERIFY };

/* Keys that a [section] may override: the smtpd policy of one listener. */
struct conf_smtpd {
	char		*name;			/* section: "smtp" */
	char		*listen[CONF_MAX_ADDRS];	/* "h:25", "[::1]:25" */
	size_t		 nlisten;
	size_t		 max_recipients;
	size_t		 max_header_size;
	size_t		 max_message_size;
	size_t		 max_sessions;
	int		 vrfy, expn;
	enum conf_tls	 tls;
	char		*tls_cert, *tls_key, *tls_ca;
	enum conf_auth	 auth;
	char		*auth_mechanisms;	/* "PLAIN LOGIN" */
	int		 auth_plaintext_requires_tls;
	int		 require_resolvable_sender;
	int		 delay_checks;
	char		*dnsbl;			/* "zone[=\"text\"], ..." */
	unsigned	 connection_rate_limit;	/* per second, 0 = off */
	unsigned	 client_connection_rate_limit;	/* per IP per minute */
	unsigned	 command_timeout;	/* seconds */
	unsigned	 data_timeout;
	unsigned	 max_errors;
	unsigned	 junk_command_limit;	/* NOOP RSET VRFY EXPN HELP */
	unsigned	 session_timeout;	/* whole session, 0 = none */
	size_t		 min_data_rate;		/* octets/s extending DATA */
	unsigned	 client_session_limit;	/* per client (v6: /64) */
};

struct conf {
	char		*file;			/* path it was read from */
	char		*hostname;
	char		*queue_dir;
	char		*config_dir;
	char		*local_domains;		/* list or file path(s) */
	char		*relay_domains;
	char		*access_map;
	char		*alias_map;
	char		*virtual_map;		/* NULL: none (virtusertable) */
	char		*transport_map;		/* NULL: none (mailertable) */
	char		*smarthost;		/* NULL: MX delivery */
	char		*mailbox;		/* "mbox:/var/mail/%u" */
	uint64_t	 mailbox_size_limit;	/* bytes; 0 = none */
	char		*mailbox_command;	/* NULL: the mailbox */
	int		 allow_forward_files;	/* read ~/.forward */
	char		*default_privs;		/* user for alias |cmd, /file */
	uint64_t	 command_time_limit;	/* seconds per command */
	uint64_t	 queue_lifetime;	/* seconds */
	size_t		 max_hops;		/* Received: lines a message may carry */
	uint64_t	 delay_warning;
	uint64_t	 min_backoff, max_backoff;
	unsigned	 remote_port;
	char		*dns_servers;		/* "host[:port], ..." or NULL */
	unsigned	 remote_concurrency;
	unsigned	 remote_initial_concurrency;
	char		*user, *group;
	char		*log;			/* "syslog", "stderr", path */
	char		*log_level;
	/* submission (SPEC sections 3 and 6) */
	char		*sasl_app;		/* Cyrus app name: APP.conf */
	char		*sasl_config_dir;	/* NULL: Cyrus' (/etc/sasl2) */
	int		 auth_show_user;	/* auth user in Received: */
	char		*sender_login_map;	/* NULL: no MAIL FROM check */
	enum conf_remote_tls remote_tls;
	char		*remote_auth;		/* "host user:password" file */
	enum conf_auth_tls remote_auth_tls;
	/* the AUTH lockout: limit failures in window lock out for time */
	unsigned	 auth_failure_limit;	/* 0 = no lockout */
	uint64_t	 auth_failure_window, auth_lockout_time;	/* s */
	int		 auth_lockout_exempt_local;
	/* process pool sizes (not in SPEC yet; documented in postern.conf.5) */
	unsigned	 cleanup_processes, local_processes, remote_processes;
	unsigned	 submit_processes;	/* cleanup for public/cleanup */
	uint64_t	 max_idle;	/* s: an idle pooled process exits */
	/* local submission and the queue's disk (SPEC section 3) */
	uint64_t	 queue_minfree;		/* bytes; 0: only 1.5 x SIZE */
	char		*authorized_submit_users; /* NULL: everyone */
	/* rewriting in cleanup (SPEC sections 3 and 7) */
	char		*masquerade_as;		/* NULL: no masquerading */
	char		*masquerade_domains;	/* more than local_domains */
	int		 masquerade_envelope;	/* the envelope sender too */
	int		 masquerade_entire_domain; /* their subdomains too */
	char		*exposed_users;		/* never masqueraded */
	char		*trusted_users;		/* sendmail -f; NULL: user */
	/* The global smtpd defaults; each listener starts as a copy. */
	struct conf_smtpd smtpd;
	struct conf_smtpd listener[CONF_MAX_LISTENERS];
	size_t		 nlisteners;
};

struct conf_errors {
	char	**msg;		/* "file:line: text" */
	size_t	 n;
	size_t	 nwarn;		/* how many are warnings ("...: warning: ") */
};

/* Set by a worker before conf_load: master (root) already checked the
 * private files (tls_key) and hands them over as open fds, so a worker
 * does not try to open them again as the unprivileged user. */
extern int conf_worker;
/*
 * A listener's TLS certificate chain and key, checked by conf_load when
 * not conf_worker: conf_tls_pair_check (conf/conf_tls.c, OpenSSL) where
 * a program sets conf_tls_pair to it (postern), else not checked (the
 * workers: master checked them). CONF_TLS_*; err says why.
 */
enum { CONF_TLS_OK, CONF_TLS_BAD_CERT, CONF_TLS_BAD_KEY, CONF_TLS_MISMATCH };
int	 conf_tls_pair_check(const char *cert, const char *key, char *err,
	    size_t len);
extern int (*conf_tls_pair)(const char *, const char *, char *, size_t);

/* Path of the config file: -c value, else $POSTERN_CONF, else default. */
const char *conf_path(const char *opt_c);
/* Parse file into *c (defaults first). Returns 0 if no errors (warnings
 * allowed), -1 otherwise; every problem is appended to *errs. */
int	 conf_load(const char *path, struct conf *c, struct conf_errors *errs);
void	 conf_free(struct conf *);
void	 conf_errors_free(struct conf_errors *);
/* Append one message ("file:line: text", or "...: warning: text"). */
void	 conf_errors_add(struct conf_errors *, int warn, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 conf_errors_vadd(struct conf_errors *, int warn, const char *,
	    va_list);
/* Find a listener by section name; NULL if none. */
const struct conf_smtpd *conf_listener(const struct conf *, const char *name);

/* Value parsers, exposed for the unit tests. 0 ok, -1 bad. */
int	 conf_parse_size(const char *, uint64_t *);	/* 10m, 512k, 100 */
int	 conf_parse_duration(const char *, uint64_t *);	/* 5d, 4h, 30m, 10 */
int	 conf_parse_bool(const char *, int *);	/* yes/no/on/off/true/1... */

/* Domain lists: local_domains / relay_domains values are comma/space
 * separated domains and/or absolute file paths (one domain per line,
 * # comments; the seeds' stray "RELAY" word after a domain is ignored
 * with a warning). */
struct domain_list {
	char	**dom;		/* lower-case, no trailing dot */
	size_t	 n;
};
int	 domain_list_load(const char *spec, struct domain_list *,
	    struct conf_errors *);
/* Exact match or, for an entry, any subdomain?  Sendmail's relay-domains
 * matches subdomains; local-host-names matches exactly. */
int	 domain_list_match(const struct domain_list *, const char *domain,
	    int subdomains);
void	 domain_list_free(struct domain_list *);

#endif
