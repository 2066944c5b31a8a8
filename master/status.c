/*
 * status: `postern status [--json]` and `postern metrics` (Prometheus
 * text). Reads master's pid/status, counts the queue files and asks
 * qmgr and anvil for their counters (req=stats). Read-only: it must
 * never change the queue, signal a process or listen on the network.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "ipc.h"
#include "master.h"
#include "proto.h"
#include "qfile.h"

#define SVC_MAX		64	/* services read from pid/status */
#define PROC_MAX	64	/* processes per service */
#define STATUS_LINES	8192	/* lines read from pid/status */
#define STATS_WAIT_MS	2000	/* qmgr and anvil answer within this */
#define NQUEUE		5

struct svc_info {
	char		 name[33];
	int		 alive;
	long long	 restarts;
	int		 nproc;
	long		 pid[PROC_MAX];
	long long	 started[PROC_MAX];
};

struct status {
	long long	 started;	/* master's start, 0 if unknown */
	int		 nsvc;
	struct svc_info	 svc[SVC_MAX];
	int		 queue[NQUEUE];	/* -1: cannot be read */
	struct proto_stats st;		/* -1: no answer */
};

static const char *const queues[NQUEUE] = { QDIR_INCOMING, QDIR_ACTIVE,
    QDIR_DEFERRED, QDIR_HOLD, QDIR_CORRUPT };

static int
count_dir(const struct conf *c, const char *rel)
{
	char path[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", c->queue_dir, rel);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (qid_valid(de->d_name))
			n++;
	closedir(d);
	return n;
}

static struct svc_info *
svc_get(struct status *s, const char *name)
{
	for (int i = 0; i < s->nsvc; i++)
		if (strcmp(s->svc[i].name, name) == 0)
			return &s->svc[i];
	if (s->nsvc == SVC_MAX)
		return NULL;
	snprintf(s->svc[s->nsvc].name, sizeof(s->svc[0].name), "%s", name);
	return &s->svc[s->nsvc++];
}

/* One line of pid/status (docs/internals.md); others are skipped. */
static void
status_line(struct status *s, const char *line)
{
	char name[33];
	struct svc_info *v;
	long long a, b;
	int n;

	if (sscanf(line, "started=%lld", &a) == 1) {
		s->started = a;
		return;
	}
	if (sscanf(line, "service %32s %d", name, &n) == 2 &&
	    (v = svc_get(s, name)) != NULL)
		v->alive = n;
	else if (sscanf(line, "restarts %32s %lld", name, &a) == 2 &&
	    (v = svc_get(s, name)) != NULL)
		v->restarts = a;
	else if (sscanf(line, "proc %32s %lld %lld", name, &a, &b) == 3 &&
	    (v = svc_get(s, name)) != NULL && v->nproc < PROC_MAX) {
		v->pid[v->nproc] = (long)a;
		v->started[v->nproc++] = b;
	}
}

static void
status_read(const struct conf *c, struct status *s)
{
	char path[512], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/status", c->queue_dir, QDIR_PID);
	if ((f = fopen(path, "r")) == NULL)
		return;
	for (int i = 0; i < STATUS_LINES && fgets(line, sizeof(line), f); i++)
		status_line(s, line);
	fclose(f);
}

/* req=stats to private/NAME; the counters it keeps into st. */
static void
stats_ask(const struct conf *c, const char *name, struct proto_stats *st)
{
	struct proto_stats got;
	char path[512], err[128];
	struct ipc_msg m;
	struct buf b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", c->queue_dir, QDIR_PRIVATE,
	    name);
	if ((fd = ipc_connect(path)) == -1)
		return;
	buf_init(&b, 1024);
	ipc_msg_init(&m);
	if (proto_simple_encode(&b, REQ_STATS) == 0 &&
	    ipc_send(fd, &b, STATS_WAIT_MS) == 0 &&
	    ipc_recv(fd, &m, STATS_WAIT_MS) == 0 &&
	    proto_stats_decode(&m, &got, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < PSTAT_STARTED; i++)
			if (got.v[i] >= 0)
				st->v[i] = got.v[i];
	}
	ipc_msg_free(&m);
	buf_free(&b);
	close(fd);
}

static struct status *
status_collect(const struct conf *c, int running)
{
	struct status *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < PSTAT_N; i++)
		s->st.v[i] = -1;
	for (size_t i = 0; i < NQUEUE; i++)
		s->queue[i] = count_dir(c, queues[i]);
	if (!running)
		return s;
	status_read(c, s);
	stats_ask(c, "qmgr", &s->st);
	stats_ask(c, "anvil", &s->st);
	return s;
}

/* The oldest start of a service's processes; 0 when it has none. */
static long long
svc_oldest(const struct svc_info *v)
{
	long long t = 0;

	for (int k = 0; k < v->nproc; k++)
		if (t == 0 || v->started[k] < t)
			t = v->started[k];
	return t;
}

/* A name as a JSON string or a Prometheus label value: both escape
 * '\\' and '"'; anything else outside printable ASCII becomes '?'. */
static void
put_quoted(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			putchar('\\');
		putchar((unsigned char)*s < ' ' || (unsigned char)*s > '~' ?
		    '?' : *s);
	}
	putchar('"');
}

static void
json_num(long long v)
{
	if (v < 0)
		printf("null");
	else
		printf("%lld", v);
}

static void
print_json_services(const struct status *s, long long now)
{
	printf(",\"services\":{");
	for (int i = 0; i < s->nsvc; i++) {
		printf("%s", i ? "," : "");
		put_quoted(s->svc[i].name);
		printf(":%d", s->svc[i].alive);
	}
	printf("},\"processes\":{");
	for (int i = 0; i < s->nsvc; i++) {
		const struct svc_info *v = &s->svc[i];
		long long old = svc_oldest(v);

		printf("%s", i ? "," : "");
		put_quoted(v->name);
		printf(":{\"alive\":%d,\"restarts\":%lld,\"uptime\":",
		    v->alive, v->restarts);
		json_num(old ? now - old : -1);
		printf(",\"pids\":[");
		for (int k = 0; k < v->nproc; k++)
			printf("%s%ld", k ? "," : "", v->pid[k]);
		printf("],\"started\":[");
		for (int k = 0; k < v->nproc; k++)
			printf("%s%lld", k ? "," : "", v->started[k]);
		printf("]}");
	}
	printf("}");
}

static void
print_json(const struct status *s, pid_t pid)
{
	long long now = (long long)time(NULL);

	printf("{\"running\":true,\"pid\":");
	json_num(pid > 0 ? (long long)pid : -1);
	printf(",\"uptime\":%lld", s->started ? now - s->started : 0);
	print_json_services(s, now);
	printf(",\"queue\":{");
	for (size_t i = 0; i < NQUEUE; i++)
		printf("%s\"%s\":%d", i ? "," : "", queues[i], s->queue[i]);
	printf("},\"counters\":{");
	for (size_t i = 0; i < PSTAT_STARTED; i++) {
		printf("%s\"%s\":", i ? "," : "", pstat_name(i));
		json_num(s->st.v[i]);
	}
	printf("}}\n");
}

static void
print_text(const struct status *s, pid_t pid)
{
	long long up = s->started ? (long long)time(NULL) - s->started : 0;

	if (pid > 0)
		printf("postern is running (pid %ld)", (long)pid);
	else
		printf("postern is running (pid not verified)");
	printf(", up %lldd %02lld:%02lld:%02lld\n", up / 86400,
	    up / 3600 % 24, up / 60 % 60, up % 60);
	for (int i = 0; i < s->nsvc; i++)
		printf("  %-12s %d process%s, %lld restart%s\n",
		    s->svc[i].name, s->svc[i].alive,
		    s->svc[i].alive == 1 ? "" : "es", s->svc[i].restarts,
		    s->svc[i].restarts == 1 ? "" : "s");
	printf("  queue:");
	for (size_t i = 0; i < NQUEUE; i++)
		printf(" %s %d%s", queues[i], s->queue[i],
		    i < NQUEUE - 1 ? "," : "\n");
	printf("  counters:");
	for (size_t i = 0; i < PSTAT_STARTED; i++) {
		printf(" %s ", pstat_name(i));
		if (s->st.v[i] < 0)
			printf("?");
		else
			printf("%lld", s->st.v[i]);
		printf("%s", i < PSTAT_STARTED - 1 ? "," : "\n");
	}
}

int
status_print(const struct conf *c, pid_t pid, int json)
{
	struct status *s = status_collect(c, 1);

	if (s == NULL) {
		fprintf(stderr, "postern: out of memory\n");
		return 4;
	}
	if (json)
		print_json(s, pid);
	else
		print_text(s, pid);
	free(s);
	return 0;
}

/* ---- Prometheus text exposition format ---- */

static void
metric_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; label may be NULL. A negative value is not printed. */
static void
metric(const char *name, const char *label, const char *lvalue,
    long long v)
{
	if (v < 0)
		return;
	printf("%s", name);
	if (label != NULL) {
		printf("{%s=", label);
		put_quoted(lvalue);
		printf("}");
	}
	printf(" %lld\n", v);
}

/* The counters' metric names, in enum pstat order. */
static const char *const counter_metric[PSTAT_STARTED][2] = {
	{ "postern_messages_received_total",
	    "Messages cleanup queued, counted by qmgr since it started." },
	{ "postern_recipients_delivered_total",
	    "Recipient deliveries that succeeded." },
	{ "postern_recipients_deferred_total",
	    "Recipient delivery attempts that were deferred." },
	{ "postern_recipients_bounced_total",
	    "Recipients that failed for good." },
	{ "postern_bounces_total", "Non-delivery notices qmgr wrote." },
	{ "postern_smtpd_rejected_rcpt_total",
	    "RCPT commands smtpd refused, counted by anvil." },
	{ "postern_smtpd_rejected_connections_total",
	    "Connections smtpd refused, counted by anvil." },
};

static void
metrics_services(const struct status *s, long long now)
{
	metric_head("postern_service_processes", "gauge",
	    "Live processes of each service.");
	for (int i = 0; i < s->nsvc; i++)
		metric("postern_service_processes", "service",
		    s->svc[i].name, s->svc[i].alive);
	metric_head("postern_service_restarts_total", "counter",
	    "Deaths of a service's processes that master restarted.");
	for (int i = 0; i < s->nsvc; i++)
		metric("postern_service_restarts_total", "service",
		    s->svc[i].name, s->svc[i].restarts);
	metric_head("postern_service_uptime_seconds", "gauge",
	    "Age of the oldest live process of each service.");
	for (int i = 0; i < s->nsvc; i++) {
		long long old = svc_oldest(&s->svc[i]);
		metric("postern_service_uptime_seconds", "service",
		    s->svc[i].name, old ? now - old : -1);
	}
}

int
metrics_print(const struct conf *c, pid_t pid)
{
	struct status *s = status_collect(c, pid != 0);
	long long now = (long long)time(NULL);

	if (s == NULL) {
		fprintf(stderr, "postern: out of memory\n");
		return 4;
	}
	metric_head("postern_up", "gauge",
	    "1 if the postern master is running, else 0.");
	metric("postern_up", NULL, NULL, pid != 0);
	if (pid != 0) {
		metric_head("postern_uptime_seconds", "gauge",
		    "Seconds since the master started.");
		metric("postern_uptime_seconds", NULL, NULL,
		    s->started ? now - s->started : -1);
		metrics_services(s, now);
	}
	metric_head("postern_queue_messages", "gauge",
	    "Queue files in each queue directory.");
	for (size_t i = 0; i < NQUEUE; i++)
		metric("postern_queue_messages", "queue", queues[i],
		    s->queue[i]);
	for (size_t i = 0; i < PSTAT_STARTED; i++) {
		if (s->st.v[i] < 0)
			continue;
		metric_head(counter_metric[i][0], "counter",
		    counter_metric[i][1]);
		metric(counter_metric[i][0], NULL, NULL, s->st.v[i]);
	}
	free(s);
	return fflush(stdout) == 0 ? 0 : 1;
}
