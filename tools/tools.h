/*
 * tools: the classic entry points inside the postern binary. master's
 * main() dispatches on argv[0] (sendmail, mailq, newaliases) and on the
 * subcommands `queue`, `map`, `aliases` into these.
 */
#ifndef POSTERN_TOOLS_H
#define POSTERN_TOOLS_H

#include <sys/types.h>

#include <stdio.h>

struct conf;

/* sendmail(1): full argv as given (argv[0] may be anything). Handles
 * -t -i -oi -f -F -bp -bi -bs -q and returns an exit status (sysexits). */
int	 sendmail_main(int argc, char **argv);
/* sendmail -bs: an SMTP session on stdin/stdout, each message handed to
 * cleanup as a local submission (tools/sendmail_bs.c), or to postdrop
 * when postern is down (cf: the config file it is told); exit status. */
int	 sendmail_bs(const struct conf *, const char *cf);
/* A connection to cleanup at path (QUEUE/public/cleanup), or, when
 * postern is not running there, to a postdrop started for config cf,
 * its pid into *pid (-1: none); -1 with errno. submit_close() closes
 * it and waits for that postdrop. */
int	 submit_connect(const char *path, const char *cf, pid_t *pid,
	    int verbose);
void	 submit_close(int fd, pid_t pid);
/* `postern queue [--json] | show ID | flush | hold|release|delete|requeue ID...|ALL`
 * argv starts after the word "queue"; conf_file from -c/$POSTERN_CONF. */
int	 queue_main(const char *conf_file, int argc, char **argv);
/* mailq(1): = postern queue */
int	 mailq_main(int argc, char **argv);
/* `postern map [-q KEY] FILE`: argv starts after the word "map". */
int	 map_main(const char *conf_file, int argc, char **argv);
/* `postern aliases` / newaliases / sendmail -bi: compile alias_map. */
int	 aliases_main(const char *conf_file, int argc, char **argv);

/* `postern route ADDRESS...`: what maps/route decides for each address,
 * step by step (tools/route.c). */
int	 route_main(const char *conf_file, int argc, char **argv);
/* `sendmail -bv ADDRESS...`: the same decision, one line per address in
 * Sendmail's words; 0 if all are deliverable, else a sysexits code. */
int	 verify_main(const char *conf_file, int argc, char **argv);

/* `postern import-mc FILE.mc [-o DIR] [--force]`: translate a sendmail.mc
 * into postern.conf (tools/import_mc.c). */
int	 import_mc_main(const char *conf_file, int argc, char **argv);

/* The mailq listing of queue_dir (incoming, active, deferred, hold) to
 * out: Postfix mailq text, or one JSON object per line when json is set.
 * Unreadable files are skipped with a warning on stderr. 0, or -1 when
 * the queue cannot be read at all. (tools/queue.c; unit-tested.) */
int	 mailq_list(const char *queue_dir, int json, FILE *out);
/* The listing from showq over QUEUE_DIR/public/showq (mailq for users
 * who cannot read the queue): the exit status, or -1 (errno) when showq
 * cannot be reached. (tools/showq_client.c) */
int	 showq_list(const char *queue_dir, int json);
/* Load the config for a tool; on error print every problem to stderr as
 * "postern: FILE:LINE: text" and return -1. */
int	 tools_conf_load(const char *path, struct conf *c);

#endif
