/*
 * log: Postfix-like one-line events, "postern/PROG[pid]: text", to syslog,
 * stderr or a file, filtered by level. Never log AUTH payloads or passwords.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* dest: "syslog", "stderr" or an absolute file path (opened O_APPEND). */
int	 log_open(const char *prog, const char *dest, enum log_level);
/* The name in every line from now on ("pickup", a service of the
 * cleanup program), the destination kept. */
void	 log_rename(const char *prog);
int	 log_level_parse(const char *, enum log_level *);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Log at error level and exit(1): for impossible states and start-up failures. */
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Log (level error) and abort(): a bug. Master restarts the worker. */
void	 panic(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
