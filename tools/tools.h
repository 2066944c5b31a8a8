/*
 * tools: the classic entry points inside the postern binary. master's
 * main() dispatches on argv[0] (sendmail, mailq, newaliases) and on the
 * subcommands `queue`, `map`, `aliases` into these.
 */
#ifndef POSTERN_TOOLS_H
#define POSTERN_TOOLS_H

/* sendmail(1): full argv as given (argv[0] may be anything). Handles
 * -t -i -oi -f -F -bp -bi -bs -q and returns an exit status (sysexits). */
int	 sendmail_main(int argc, char **argv);
/* `postern queue [--json] | show ID | flush | hold|release|delete|requeue ID...|ALL`
 * argv starts after the word "queue"; conf_file from -c/$POSTERN_CONF. */
int	 queue_main(const char *conf_file, int argc, char **argv);
/* mailq(1): = postern queue */
int	 mailq_main(int argc, char **argv);

#endif
