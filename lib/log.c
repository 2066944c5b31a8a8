/*
 * log: one line per event, "postern/PROG[pid]: text", to syslog, stderr
 * or an append-only file; a file gets syslog's layout ("Mon DD HH:MM:SS
 * host postern/PROG[pid]: text") so that log tools (pflogsumm) read it as
 * they read /var/log/mail.log. Callers never pass secrets in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char		 log_prog[64] = "postern";
static char		 log_host[64] = "localhost";	/* short, as syslog */
static int		 log_fd = 2;
static int		 log_syslog;
static int		 log_file;	/* log_fd is a file (may be fd 2) */
static enum log_level	 log_max = LOG_LVL_INFO;

int
log_level_parse(const char *s, enum log_level *lvl)
{
	static const char *names[] = { "error", "warning", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*lvl = (enum log_level)i;
			return 0;
		}
	return -1;
}

int
log_open(const char *prog, const char *dest, enum log_level lvl)
{
	snprintf(log_prog, sizeof(log_prog), "postern/%s", prog);
	log_max = lvl;
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	log_syslog = 0;
	log_file = 0;
	if (dest == NULL || strcmp(dest, "stderr") == 0)
		return 0;
	if (strcmp(dest, "syslog") == 0) {
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
		log_syslog = 1;
		return 0;
	}
	int fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	log_fd = fd;
	log_file = 1;
	if (gethostname(log_host, sizeof(log_host)) == -1)
		strlcpy(log_host, "localhost", sizeof(log_host));
	log_host[sizeof(log_host) - 1] = '\0';
	log_host[strcspn(log_host, ". \t\n")] = '\0';
	if (log_host[0] == '\0')
		strlcpy(log_host, "localhost", sizeof(log_host));
	return 0;
}

void
log_rename(const char *prog)
{
	snprintf(log_prog, sizeof(log_prog), "postern/%s", prog);
	if (log_syslog)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* echo: also to stderr when the log goes to a file (fatal start-up
 * errors must reach the admin's terminal). */
static void
log_emit(enum log_level lvl, int echo, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *tag[] = { "error: ", "warning: ", "", "debug: " };
	char msg[2048], line[2300], ts[32];
	int saved = errno;

	if (lvl > log_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One line per event, whatever the caller passed. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_syslog) {
		syslog(prio[lvl], "%s%s", tag[lvl], msg);
	} else {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
		int n = !log_file ?
		    snprintf(line, sizeof(line), "%s %s[%ld]: %s%s\n", ts,
		    log_prog, (long)getpid(), tag[lvl], msg) :
		    snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s\n", ts,
		    log_host, log_prog, (long)getpid(), tag[lvl], msg);
		if (n > 0) {
			if ((size_t)n >= sizeof(line))
				n = sizeof(line) - 1;
			(void)!write(log_fd, line, (size_t)n);
		}
		if (echo && log_file && log_fd != 2)
			fprintf(stderr, "%s: %s\n", log_prog, msg);
	}
	errno = saved;
}

/* Each entry point: log, then what follows (nothing, exit or abort). */
#define LOG_FN(name, lvl, echo, then) \
void name(const char *fmt, ...) \
{ va_list ap; va_start(ap, fmt); log_emit(lvl, echo, fmt, ap); va_end(ap); \
	then; }

LOG_FN(log_error, LOG_LVL_ERROR, 0, (void)0)
LOG_FN(log_warn, LOG_LVL_WARNING, 0, (void)0)
LOG_FN(log_info, LOG_LVL_INFO, 0, (void)0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0, (void)0)
/* Start-up failures: log, echo to the terminal, exit(1). */
LOG_FN(fatal, LOG_LVL_ERROR, 1, exit(1))
/* A bug: log and abort(); master restarts the worker. */
LOG_FN(panic, LOG_LVL_ERROR, 0, abort())
