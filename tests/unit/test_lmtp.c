/*
 * Unit tests for lib/lmtp.c and lib/smtp_data.c: the store's address
 * parser, the DATA encoder, and the client against a scripted LMTP
 * server (a forked process on a UNIX socket): per-recipient replies,
 * pipelining, the split at LMTP_MAX_RCPT, a cut connection, an endless
 * reply line, a store that is not there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmtp.h"
#include "smtp_data.h"

static void
test_target(void **state)
{
	struct lmtp_target	 t;
	const char		*why;

	(void)state;
	assert_int_equal(lmtp_target_parse("unix:/run/dovecot/lmtp", &t,
	    &why), 0);
	assert_true(t.is_unix);
	assert_string_equal(t.path, "/run/dovecot/lmtp");
	assert_int_equal(lmtp_target_parse("[::1]:24", &t, &why), 0);
	assert_false(t.is_unix);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.port, "24");
	assert_int_equal(lmtp_target_parse("[store.example]:2003", &t, &why),
	    0);
	assert_string_equal(t.host, "store.example");
	assert_int_equal(lmtp_target_parse("unix:rel", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[h]:0", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[h]:65536", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[h]:24x", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[h]:", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[h]:-1", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[]:24", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("[h 1]:24", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("h:24", &t, &why), -1);
	assert_int_equal(lmtp_target_parse("", &t, &why), -1);
}

static void
test_dot(void **state)
{
	struct smtp_dot	 d;
	char		 out[64];
	size_t		 o;

	(void)state;
	smtp_dot_init(&d);
	o = smtp_dot_encode(&d, ".a\nb\r", 5, out);
	o += smtp_dot_encode(&d, "\n.", 2, out + o);	/* split CRLF, dot */
	o += smtp_dot_encode(&d, "\nc", 2, out + o);
	o += smtp_dot_finish(&d, out + o);
	assert_int_equal(o, strlen("..a\r\nb\r\n..\r\nc\r\n.\r\n"));
	assert_memory_equal(out, "..a\r\nb\r\n..\r\nc\r\n.\r\n", o);
	smtp_dot_init(&d);	/* empty content: just the dot */
	o = smtp_dot_finish(&d, out);
	assert_memory_equal(out, ".\r\n", o);
	smtp_dot_init(&d);	/* a lone CR is kept */
	o = smtp_dot_encode(&d, "a\rb\r", 4, out);
	o += smtp_dot_finish(&d, out + o);
	assert_memory_equal(out, "a\rb\r\r\n.\r\n", o);
}

/* --- a scripted store ------------------------------------------------ */

enum mode { M_NORMAL, M_CUT, M_LONG, M_NOPIPE };

static char	 sockpath[108];
static int	 stats[2];	/* server -> test: transactions, max RCPTs */

/* Answer an RCPT by the user's name: bad* 550, tmp* 452, else 250. */
static const char *
rcpt_reply(const char *line)
{
	const char *u = strchr(line, '<');

	if (u && strncmp(u + 1, "bad", 3) == 0)
		return "550 5.1.1 <bad> User doesn't exist\r\n";
	if (u && strncmp(u + 1, "tmp", 3) == 0)
		return "452 4.2.2 <tmp> Try later\r\n";
	return "250 2.1.5 OK\r\n";
}

static void
serve(int ls, enum mode mode)
{
	char	 line[4096], acc[2000][64], big[2100];
	int	 c = accept(ls, NULL, NULL), nacc = 0, ntx = 0, maxr = 0;
	FILE	*in = fdopen(c, "r"), *out = fdopen(dup(c), "w");

	fputs("220 fake LMTP\r\n", out);
	fflush(out);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strncmp(line, "LHLO", 4) == 0 && mode == M_LONG) {
			memset(big, 'x', sizeof(big) - 1);
			big[sizeof(big) - 1] = '\0';
			fprintf(out, "250-%s\r\n", big);
		} else if (strncmp(line, "LHLO", 4) == 0)
			fputs(mode == M_NOPIPE ? "250-fake\r\n250 SIZE\r\n" :
			    "250-fake\r\n250-PIPELINING\r\n250 SIZE\r\n", out);
		else if (strncmp(line, "MAIL", 4) == 0) {
			nacc = 0;
			ntx++;
			fputs(strstr(line, "SIZE=") ? "250 2.1.0 OK\r\n" :
			    "555 no SIZE\r\n", out);
		} else if (strncmp(line, "RCPT", 4) == 0) {
			const char *r = rcpt_reply(line);

			fputs(r, out);
			if (r[0] == '2' && nacc < 2000)
				snprintf(acc[nacc++], 64, "%s", strchr(line,
				    '<') + 1);
			maxr = nacc > maxr ? nacc : maxr;
		} else if (strncmp(line, "DATA", 4) == 0) {
			fputs("354 go\r\n", out);
			fflush(out);
			while (fgets(line, sizeof(line), in) != NULL &&
			    strcmp(line, ".\r\n") != 0)
				;
			if (mode == M_CUT)
				break;
			for (int i = 0; i < nacc; i++)
				fputs(strncmp(acc[i], "late", 4) == 0 ?
				    "452 4.2.2 <late> Mailbox is full\r\n" :
				    "250 2.0.0 <x> Saved\r\n", out);
		} else if (strncmp(line, "QUIT", 4) == 0) {
			fputs("221 bye\r\n", out);
			fflush(out);
			break;
		} else
			fputs("250 OK\r\n", out);
		fflush(out);
	}
	dprintf(stats[1], "%d %d\n", ntx, maxr);
	_exit(0);
}

static pid_t
start_store(enum mode mode)
{
	struct sockaddr_un	 sun;
	int			 ls = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t			 pid;

	snprintf(sockpath, sizeof(sockpath), "/tmp/test_lmtp.%d",
	    (int)getpid());
	unlink(sockpath);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, sockpath, sizeof(sun.sun_path));
	assert_int_equal(bind(ls, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(pipe(stats), 0);
	if ((pid = fork()) == 0) {
		alarm(30);
		serve(ls, mode);
	}
	close(ls);
	close(stats[1]);
	return pid;
}

static void
end_store(pid_t pid, int *ntx, int *maxr)
{
	char	 buf[64] = "";
	ssize_t	 n;
	int	 st;

	n = read(stats[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	*ntx = *maxr = -1;
	sscanf(buf, "%d %d", ntx, maxr);
	close(stats[0]);
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	unlink(sockpath);
}

/* --- the client's side --------------------------------------------- */

static const char	 content[] = "Subject: t\n\n.dot\nbody\n";
static struct dstatus	*res;
static int		*calls;

static ssize_t
rd(void *ctx, size_t pos, void *buf, size_t len)
{
	size_t	 n = sizeof(content) - 1 - pos;

	(void)ctx;
	n = n < len ? n : len;
	memcpy(buf, content + pos, n);
	return (ssize_t)n;
}

static void
result(void *ctx, size_t i, const struct dstatus *st)
{
	(void)ctx;
	res[i] = *st;
	calls[i]++;
}

/* Deliver to n users named by namef(i) through the store at sockpath. */
static void
run(size_t n, const char *(*namef)(size_t))
{
	struct lmtp_target	 t;
	struct lmtp_msg		 m;
	const char		*why, **rcpt = calloc(n, sizeof(*rcpt));
	char			 spec[128];

	snprintf(spec, sizeof(spec), "unix:%s", sockpath);
	assert_int_equal(lmtp_target_parse(spec, &t, &why), 0);
	res = calloc(n, sizeof(*res));
	calls = calloc(n, sizeof(*calls));
	for (size_t i = 0; i < n; i++)
		rcpt[i] = namef(i);
	memset(&m, 0, sizeof(m));
	m.helo = "me.example";
	m.sender = "s@example.org";
	m.rcpt = rcpt;
	m.nrcpt = n;
	m.size = sizeof(content) - 1;
	m.read = rd;
	m.result = result;
	lmtp_deliver(&t, &m);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(calls[i], 1);	/* once, never twice */
	free(rcpt);
}

static void
done_run(void)
{
	free(res);
	free(calls);
}

static const char *
mixed(size_t i)
{
	static const char *names[] = { "good1", "bad1", "tmp1", "late1",
	    "good2" };

	return names[i];
}

static void
test_per_recipient(void **state)
{
	int	 ntx, maxr;

	(void)state;
	for (int pipelined = 0; pipelined < 2; pipelined++) {
		pid_t pid = start_store(pipelined ? M_NORMAL : M_NOPIPE);

		run(5, mixed);
		end_store(pid, &ntx, &maxr);
		assert_int_equal(ntx, 1);
		assert_int_equal(res[0].stat, DS_SENT);
		assert_int_equal(res[1].stat, DS_BOUNCE);
		assert_int_equal(res[1].code, 550);
		assert_non_null(strstr(res[1].text, "5.1.1 "));
		assert_non_null(strstr(res[1].text, "User doesn't exist"));
		assert_non_null(strstr(res[1].text, "(in reply to RCPT TO)"));
		assert_int_equal(res[2].stat, DS_DEFER);
		assert_int_equal(strncmp(res[2].text, "4.2.2 ", 6), 0);
		assert_int_equal(res[3].stat, DS_DEFER);
		assert_non_null(strstr(res[3].text, "Mailbox is full"));
		assert_non_null(strstr(res[3].text, "end of DATA"));
		assert_int_equal(res[4].stat, DS_SENT);
		done_run();
	}
}

static const char *
many(size_t i)
{
	static char	 name[32];

	snprintf(name, sizeof(name), "u%zu", i);
	return name;
}

static void
test_split(void **state)
{
	pid_t	 pid = start_store(M_NORMAL);
	size_t	 n = LMTP_MAX_RCPT + 5;
	int	 ntx, maxr;

	(void)state;
	run(n, many);
	end_store(pid, &ntx, &maxr);
	assert_int_equal(ntx, 2);
	assert_int_equal(maxr, LMTP_MAX_RCPT);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(res[i].stat, DS_SENT);
	done_run();
}

static void
test_cut(void **state)
{
	pid_t	 pid = start_store(M_CUT);
	int	 ntx, maxr;

	(void)state;
	run(5, mixed);
	end_store(pid, &ntx, &maxr);
	/* accepted, unanswered: deferred; its RCPT reply stays */
	assert_int_equal(res[0].stat, DS_DEFER);
	assert_non_null(strstr(res[0].text, "lost connection"));
	assert_int_equal(res[1].stat, DS_BOUNCE);
	assert_int_equal(res[2].stat, DS_DEFER);
	assert_int_equal(res[4].stat, DS_DEFER);
	done_run();
}

static void
test_long_line(void **state)
{
	pid_t	 pid = start_store(M_LONG);
	int	 ntx, maxr;

	(void)state;
	run(2, many);
	end_store(pid, &ntx, &maxr);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(res[i].stat, DS_DEFER);
		assert_non_null(strstr(res[i].text, "too long"));
	}
	done_run();
}

static void
test_no_store(void **state)
{
	(void)state;
	snprintf(sockpath, sizeof(sockpath), "/nonexistent/lmtp");
	run(2, many);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(res[i].stat, DS_DEFER);
		assert_int_equal(strncmp(res[i].text, "4.4.1 ", 6), 0);
		assert_non_null(strstr(res[i].text, "while connecting"));
	}
	done_run();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_dot),
		cmocka_unit_test(test_per_recipient),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_no_store),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
