/* ingest.c: multica-bench-ingest, one timed run of one ingestion design against a fresh,
 * migrated database whose topic already holds the events.
 *
 *   multica-bench-ingest --mode ours|naive|copy --db URL --consumer-db URL --rows N
 *                        [--consumers K] [--brokers B] [--group G] [--bin DIR] [--logs DIR]
 *                        [--copy-file PATH] [--pg-pid PID] [--timeout SECONDS]
 *
 * ours:  K multica-usage-ingester processes in one consumer group. Progress is the sum of
 *        usage.consumer_offsets (stored in the batch's own transaction), polled every 50 ms.
 * naive: one multica-bench-naive (one INSERT per message, autocommit); progress is count(*)
 *        of task_usage, polled every 100 ms.
 * copy:  psql \copy of the same rows into the same table (the database's ceiling).
 *
 * A consumer first has to join its group (a second or more), so for ours and naive
 * the clock starts at the first poll that sees applied rows, and the rows seen then are not
 * counted: rows/s = (N - rows at the first sighting) / (time from the first sighting to the
 * last row). The join time is reported beside it. COPY is timed from start to exit. CPU is
 * read from /proc over the same interval: the consumer processes (or psql), and the whole
 * Postgres cluster (postmaster, backends, background workers), and the whole machine's busy
 * CPU (which shows what else ran meanwhile: the broker, and anything outside the benchmark).
 * Prints one JSON line; exits 1
 * when the rows in the table are not exactly N or the ingesters report lost offsets. */
#include "bench_util.h"
#include "mc_common.h"
#include "mc_kafka.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CONSUMERS 8

struct opts {
    const char *mode, *db, *consumer_db, *brokers, *group, *bin, *logs, *copy_file;
    long rows;
    int consumers;
    pid_t pg_pid;
    double timeout;
};

struct run {
    pid_t pids[MAX_CONSUMERS];
    int ports[MAX_CONSUMERS];
    int n;
    double t_start, t_first, t_done;
    int64_t rows_first;
    double cpu_c0, cpu_c1, cpu_pg0, cpu_pg1, busy0, busy1;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double consumers_cpu(const struct run *r, bool with_children)
{
    double s = 0;
    for (int i = 0; i < r->n; i++) {
        double c = bu_proc_cpu(r->pids[i], with_children);
        if (c > 0)
            s += c;
    }
    return s;
}

static void start_ours(const struct opts *o, struct run *r)
{
    const char *argv[] = {NULL, NULL};
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/multica-usage-ingester", o->bin);
    argv[0] = exe;
    for (int i = 0; i < o->consumers; i++) {
        r->ports[i] = bu_free_port();
        char *env[] = {
            mc_sprintf("DATABASE_URL=%s", o->consumer_db),
            mc_sprintf("KAFKA_BROKERS=%s", o->brokers),
            mc_sprintf("KAFKA_GROUP_ID=%s", o->group),
            mc_sprintf("HTTP_PORT=%d", r->ports[i]),
            mc_sprintf("HTTP_BIND=127.0.0.1"),
            /* As in the test suite: a member that joins a moment late makes the group wait
             * for everyone to rejoin, up to the session timeout (45 s by default). */
            mc_sprintf("KAFKA_CONFIG=%s",
                       getenv("KAFKA_CONFIG")
                           ? getenv("KAFKA_CONFIG")
                           : "session.timeout.ms=6000,heartbeat.interval.ms=500"),
            NULL,
        };
        char log[1024];
        snprintf(log, sizeof log, "%s/ingester-%s-%d.log", o->logs, o->group, i);
        r->pids[i] = bu_spawn(argv, (const char *const *)env, log);
        for (int k = 0; env[k] != NULL; k++)
            free(env[k]);
        r->n++;
    }
}

static void start_naive(const struct opts *o, struct run *r)
{
    char exe[1024], rows[32], log[1024];
    snprintf(exe, sizeof exe, "%s/multica-bench-naive", o->bin);
    snprintf(rows, sizeof rows, "%ld", o->rows);
    snprintf(log, sizeof log, "%s/naive-%s.log", o->logs, o->group);
    const char *argv[] = {exe,    "--brokers",    o->brokers, "--group", o->group,
                          "--db", o->consumer_db, "--max",    rows,      NULL};
    r->pids[0] = bu_spawn(argv, NULL, log);
    r->n = 1;
}

static void start_copy(const struct opts *o, struct run *r)
{
    char cmd[2048], log[1024];
    snprintf(cmd, sizeof cmd,
             "\\copy usage.task_usage (task_id, provider, model, input_tokens, output_tokens, "
             "cache_read_tokens, cache_write_tokens, reported_at, created_at) FROM '%s'",
             o->copy_file);
    snprintf(log, sizeof log, "%s/copy-%s.log", o->logs, o->group);
    const char *argv[] = {"/usr/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                          o->db,           "-c", cmd,  NULL};
    r->pids[0] = bu_spawn(argv, NULL, log);
    r->n = 1;
}

/* Sums one counter over the ingesters' /metrics pages (curl keeps this program small). */
static double metric_sum(const struct run *r, const char *name)
{
    double sum = 0;
    for (int i = 0; i < r->n; i++) {
        char cmd[512], line[1024];
        snprintf(cmd, sizeof cmd, "curl -fsS --max-time 5 http://127.0.0.1:%d/metrics",
                 r->ports[i]);
        FILE *f = popen(cmd, "r");
        if (f == NULL)
            return -1;
        bool found = false;
        while (fgets(line, sizeof line, f) != NULL) {
            size_t len = strlen(name);
            if (strncmp(line, name, len) == 0 && (line[len] == ' ' || line[len] == '{')) {
                const char *v = strrchr(line, ' ');
                sum += atof(v + 1);
                found = true;
            }
        }
        if (pclose(f) != 0 || !found)
            return -1;
    }
    return sum;
}

/* Polls until N rows are in; returns 0, or -1 on timeout, a dead consumer, or a signal. */
static int wait_ours(const struct opts *o, struct run *r, PGconn *db)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(next_offset), 0) FROM usage.consumer_offsets "
             "WHERE group_id = '%s' AND topic = '%s'",
             o->group, MC_TOPIC_USAGE_EVENTS);
    while (!g_stop && bu_now() - r->t_start < o->timeout) {
        int64_t applied = bu_sql_int(db, sql);
        double now = bu_now();
        if (applied > 0 && r->t_first == 0) {
            r->t_first = now;
            r->rows_first = applied;
            r->cpu_c0 = consumers_cpu(r, false);
            r->cpu_pg0 = bu_pg_cpu(o->pg_pid);
            r->busy0 = bu_machine_busy();
        }
        if (applied >= o->rows) {
            r->t_done = now;
            r->cpu_c1 = consumers_cpu(r, false);
            r->cpu_pg1 = bu_pg_cpu(o->pg_pid);
            r->busy1 = bu_machine_busy();
            return 0;
        }
        for (int i = 0; i < r->n; i++)
            if (waitpid(r->pids[i], NULL, WNOHANG) == r->pids[i]) {
                fprintf(stderr, "multica-bench-ingest: ingester %d exited early\n", i);
                r->pids[i] = 0;
                return -1;
            }
        usleep(50 * 1000);
    }
    return -1;
}

/* Naive: polls count(*) every 100 ms (a few ms at most for the tens of thousands of rows it
 * applies); done when all N rows are in, then waits for the consumer to exit. */
static int wait_naive(const struct opts *o, struct run *r, PGconn *db)
{
    while (!g_stop && bu_now() - r->t_start < o->timeout) {
        int64_t n = bu_sql_int(db, "SELECT count(*) FROM usage.task_usage");
        double now = bu_now();
        if (n > 0 && r->t_first == 0) {
            r->t_first = now;
            r->rows_first = n;
            r->cpu_c0 = consumers_cpu(r, false);
            r->cpu_pg0 = bu_pg_cpu(o->pg_pid);
            r->busy0 = bu_machine_busy();
        }
        if (n >= o->rows) {
            r->t_done = now;
            r->cpu_c1 = consumers_cpu(r, false);
            r->cpu_pg1 = bu_pg_cpu(o->pg_pid);
            r->busy1 = bu_machine_busy();
            int status = bu_stop(r->pids[0], 30000);
            r->pids[0] = 0;
            return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
        }
        if (waitpid(r->pids[0], NULL, WNOHANG) == r->pids[0]) {
            fprintf(stderr, "multica-bench-ingest: the naive consumer exited early\n");
            r->pids[0] = 0;
            return -1;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* psql exits when the COPY is done; its CPU is read just before it is reaped (waitid with
 * WNOWAIT leaves the zombie's /proc/<pid>/stat readable). */
static int wait_copy(const struct opts *o, struct run *r)
{
    while (!g_stop && bu_now() - r->t_start < o->timeout) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)r->pids[0], &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == r->pids[0]) {
            r->t_done = bu_now();
            r->cpu_c1 = consumers_cpu(r, false);
            /* psql's backend exits after psql; once the postmaster has reaped it, its CPU is
             * in the postmaster's children's time. The cluster is idle meanwhile. */
            usleep(300 * 1000);
            r->cpu_pg1 = bu_pg_cpu(o->pg_pid);
            r->busy1 = bu_machine_busy();
            int status = 0;
            waitpid(r->pids[0], &status, 0);
            r->pids[0] = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "multica-bench-ingest: psql exited with status %d\n", status);
                return -1;
            }
            return 0;
        }
        usleep(20 * 1000);
    }
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: multica-bench-ingest --mode ours|naive|copy --db URL "
                    "--consumer-db URL --rows N [--consumers K] [--brokers B] [--group G] "
                    "[--bin DIR] [--logs DIR] [--copy-file PATH] [--pg-pid PID] "
                    "[--timeout SECONDS]\n");
}

int main(int argc, char **argv)
{
    struct opts o = {
        .consumers = 1, .group = "bench", .bin = "build/bin", .logs = ".", .timeout = 1200};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--mode") == 0)
            o.mode = v;
        else if (strcmp(k, "--db") == 0)
            o.db = v;
        else if (strcmp(k, "--consumer-db") == 0)
            o.consumer_db = v;
        else if (strcmp(k, "--rows") == 0)
            o.rows = atol(v);
        else if (strcmp(k, "--consumers") == 0)
            o.consumers = atoi(v);
        else if (strcmp(k, "--brokers") == 0)
            o.brokers = v;
        else if (strcmp(k, "--group") == 0)
            o.group = v;
        else if (strcmp(k, "--bin") == 0)
            o.bin = v;
        else if (strcmp(k, "--logs") == 0)
            o.logs = v;
        else if (strcmp(k, "--copy-file") == 0)
            o.copy_file = v;
        else if (strcmp(k, "--pg-pid") == 0)
            o.pg_pid = (pid_t)atoi(v);
        else if (strcmp(k, "--timeout") == 0)
            o.timeout = atof(v);
        else {
            usage();
            return 2;
        }
    }
    bool ours = o.mode && strcmp(o.mode, "ours") == 0;
    bool naive = o.mode && strcmp(o.mode, "naive") == 0;
    bool copy = o.mode && strcmp(o.mode, "copy") == 0;
    if ((!ours && !naive && !copy) || o.db == NULL || o.rows <= 0 || o.pg_pid <= 0 ||
        o.consumers < 1 || o.consumers > MAX_CONSUMERS || (copy && o.copy_file == NULL) ||
        (!copy && (o.brokers == NULL || o.consumer_db == NULL))) {
        usage();
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    PGconn *db = bu_connect(o.db);
    if (bu_sql_int(db, "SELECT count(*) FROM usage.task_usage") != 0) {
        fprintf(stderr, "multica-bench-ingest: the database is not fresh\n");
        return 1;
    }
    /* Every run starts right after a checkpoint, so none inherits another's dirty pages. */
    bu_sql(db, "CHECKPOINT", 0, NULL);
    struct run r = {0};
    r.t_start = bu_now();
    int rc;
    if (ours) {
        start_ours(&o, &r);
        rc = wait_ours(&o, &r, db);
    } else if (naive) {
        start_naive(&o, &r);
        rc = wait_naive(&o, &r, db);
    } else {
        r.cpu_pg0 = bu_pg_cpu(o.pg_pid);
        r.busy0 = bu_machine_busy();
        start_copy(&o, &r);
        rc = wait_copy(&o, &r);
        r.t_first = r.t_start;
        r.rows_first = 0;
    }
    double lost = -1, dlq = -1, fenced = -1;
    if (ours && rc == 0) {
        lost = metric_sum(&r, "multica_ingester_offsets_lost_total");
        dlq = metric_sum(&r, "multica_ingester_dlq_total");
        fenced = metric_sum(&r, "multica_ingester_fenced_batches_total");
    }
    for (int i = 0; i < r.n; i++)
        if (r.pids[i] > 0)
            bu_stop(r.pids[i], 15000);
    int64_t rows = bu_sql_int(db, "SELECT count(*) FROM usage.task_usage");
    PQfinish(db);
    if (rc != 0 || r.t_first == 0) {
        printf("{\"mode\":\"%s\",\"consumers\":%d,\"error\":\"did not finish within %.0f s "
               "(%lld of %ld rows)\"}\n",
               o.mode, r.n, o.timeout, (long long)rows, o.rows);
        return 1;
    }
    double secs = r.t_done - r.t_first;
    double counted = (double)(o.rows - r.rows_first);
    bool ok = rows == o.rows && (!ours || (lost == 0 && dlq == 0));
    printf("{\"mode\":\"%s\",\"consumers\":%d,\"rows\":%lld,\"rows_counted\":%.0f,"
           "\"seconds\":%.3f,\"rows_per_s\":%.1f,\"join_s\":%.3f,\"consumer_cpu_s\":%.2f,"
           "\"postgres_cpu_s\":%.2f,\"consumer_cores\":%.2f,\"postgres_cores\":%.2f,"
           "\"machine_busy_cores\":%.2f,\"offsets_lost\":%.0f,\"dlq\":%.0f,"
           "\"fenced_batches\":%.0f,\"ok\":%s}\n",
           o.mode, r.n, (long long)rows, counted, secs, secs > 0 ? counted / secs : 0,
           r.t_first - r.t_start, r.cpu_c1 - r.cpu_c0, r.cpu_pg1 - r.cpu_pg0,
           secs > 0 ? (r.cpu_c1 - r.cpu_c0) / secs : 0,
           secs > 0 ? (r.cpu_pg1 - r.cpu_pg0) / secs : 0, secs > 0 ? (r.busy1 - r.busy0) / secs : 0,
           lost, dlq, fenced, ok ? "true" : "false");
    if (!ok)
        fprintf(stderr, "multica-bench-ingest: %lld rows (want %ld), offsets lost %.0f, dlq %.0f\n",
                (long long)rows, o.rows, lost, dlq);
    return ok ? 0 : 1;
}
