/* e2e.c: multica-bench-e2e, end-to-end lag of usage reports: from the gateway's 202 to the
 * row being visible in usage.task_usage, at a fixed offered rate, against a running stack.
 *
 *   multica-bench-e2e --gateway URL --db URL [--rate 200] [--seconds 20] [--tasks 100]
 *                     [--senders 8] [--code 888888] [--rep 1] [--timeout 60]
 *
 * Setup (not timed): log in (the development verification code), create a workspace and a
 * personal access token, register runtimes as Multica's daemon does (one per RUNTIME_TASKS
 * tasks, what the gateway hands one runtime at once) with an agent on each, create `tasks`
 * issues assigned to them, wait until every task is dispatched, claim and start them all: the
 * program is now the daemon holding `tasks` running tasks. A warm-up report must then reach
 * the table (an ingester still joining its group would otherwise count as lag).
 *
 * Load: report k (k = 0 .. rate*seconds-1) is due at t0 + k/rate and goes to task k % tasks as
 * POST /api/daemon/tasks/{id}/usage {"usage": [one entry whose input_tokens is k + 1]}: cumulative
 * totals that grow per task, each value naming its report. `senders` threads take the reports
 * in order and sleep until each one is due (open loop: a slow answer delays only its own
 * thread, and a report sent late is counted, never skipped). The time each 202 arrives is kept.
 *
 * Probe: one connection (the superuser DATABASE_URL) reads the tasks' rows by primary key in a
 * loop, 1 ms apart, and notes for each task when a larger input_tokens first shows. Report k is
 * visible at the first poll that shows its task at k + 1 or more: a later report that replaced
 * it before a poll saw it makes it visible too (its value is in the row, superseded).
 * lag = visible - 202; it includes up to one probe period.
 *
 * Prints one JSON line:
 *   {"bench":"e2e","rep":R,"offered_rps":..,"achieved_rps":..,"reports":N,"tasks":T,
 *    "late_reports":..,"accepted_p50_ms":..,"accepted_p99_ms":..,"lag_p50_ms":..,
 *    "lag_p99_ms":..,"lag_max_ms":..,"probe_period_ms":..}
 * and exits 1 when a report was refused or never became visible. */
#include "bench_util.h"
#include "mc_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One sighting of a task's row at a value larger than any seen before. */
struct sight {
    int64_t value;
    double at;
};

struct task {
    char id[MC_UUID_STRLEN];
    char issue[MC_UUID_STRLEN];
    struct sight *sights;
    int nsights, cap;
};

struct report {
    double due, sent, acked;
    int status;
};

/* Tasks one runtime gets at once (the gateway's DAEMON_RUNTIME_CAPACITY default). */
#define RUNTIME_TASKS 20
#define MAX_RT        64

struct e2e {
    const char *gateway, *db_url, *code;
    char *user, *pat;
    char ws[MC_UUID_STRLEN];
    struct bu_runtime rt[MAX_RT];
    int nrt;
    int ntasks, rate, seconds, nreports;
    struct task *tasks;
    struct report *reports;
    double t0;
    atomic_int next;
    atomic_int sending_done;
    int64_t *need; /* per task: the largest accepted value (set before sending_done) */
    atomic_int polls;
    double probe_start, probe_end;
};

static void sleep_until(double t)
{
    double d = t - bu_now();
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- setup ---- */

static void create_issue(int i, void *ud)
{
    struct e2e *e = ud;
    char path[128], body[160];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/issues?workspace_id=%s", e->ws);
    snprintf(body, sizeof body,
             "{\"title\":\"e2e %d\",\"assignee_type\":\"agent\",\"assignee_id\":\"%s\"}", i,
             e->rt[i % e->nrt].agent);
    int st = bu_api(e->gateway, "POST", path, e->user, body, &out);
    if (st != 201 || bu_str(out, "task_id")[0] == '\0') {
        fprintf(stderr, "multica-bench-e2e: create an assigned issue: HTTP %d\n", st);
        exit(1);
    }
    snprintf(e->tasks[i].issue, MC_UUID_STRLEN, "%s", bu_str(out, "id"));
    snprintf(e->tasks[i].id, MC_UUID_STRLEN, "%s", bu_str(out, "task_id"));
    json_decref(out);
}

static void start_task(int i, void *ud)
{
    struct e2e *e = ud;
    char path[128];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/start", e->tasks[i].id);
    int st = bu_api(e->gateway, "POST", path, e->pat, "{}", NULL);
    if (st != 200) {
        fprintf(stderr, "multica-bench-e2e: start task: HTTP %d\n", st);
        exit(1);
    }
}

/* Claims every dispatched task as the daemon of each runtime. */
static void claim_all(struct e2e *e)
{
    json_t *ids = json_array();
    double deadline = bu_now() + 60;
    while ((int)json_array_size(ids) < e->ntasks && bu_now() < deadline)
        for (int r = 0; r < e->nrt; r++)
            bu_api_claim(e->gateway, e->pat, e->rt[r].id, RUNTIME_TASKS, ids);
    if ((int)json_array_size(ids) < e->ntasks) {
        fprintf(stderr, "multica-bench-e2e: claimed %zu of %d tasks\n", json_array_size(ids),
                e->ntasks);
        exit(1);
    }
    json_decref(ids);
}

/* Waits until every task of the workspace has status in the gateway's read model. */
static void wait_status(PGconn *c, struct e2e *e, const char *status, int timeout_s)
{
    const char *p[] = {e->ws, status};
    double deadline = bu_now() + timeout_s;
    for (;;) {
        PGresult *r = PQexecParams(c,
                                   "SELECT count(*) FROM gateway.tasks WHERE workspace_id = $1 "
                                   "AND status = $2",
                                   2, NULL, p, NULL, NULL, 0);
        long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        if (n == e->ntasks)
            return;
        if (bu_now() > deadline) {
            fprintf(stderr, "multica-bench-e2e: %ld of %d tasks %s after %d s\n", n, e->ntasks,
                    status, timeout_s);
            exit(1);
        }
        usleep(100 * 1000);
    }
}

static void setup(struct e2e *e, PGconn *c, int rep)
{
    char email[128];
    snprintf(email, sizeof email, "bench-e2e-%d-%d@example.com", (int)getpid(), rep);
    e->user = bu_api_login(e->gateway, email, e->code);
    bu_api_workspace(e->gateway, e->user, "bench-e2e", e->ws);
    e->pat = bu_api_pat(e->gateway, e->user);
    e->nrt = (e->ntasks + RUNTIME_TASKS - 1) / RUNTIME_TASKS;
    for (int r = 0; r < e->nrt; r++) {
        char name[32];
        snprintf(name, sizeof name, "bench-e2e-%d", r);
        bu_api_runtime(e->gateway, e->user, e->pat, e->ws, name, RUNTIME_TASKS, &e->rt[r]);
    }
    bu_parallel(8, e->ntasks, create_issue, e);
    wait_status(c, e, "dispatched", 60);
    claim_all(e);
    bu_parallel(8, e->ntasks, start_task, e);
    wait_status(c, e, "running", 60);
    /* Warm-up: one report (input_tokens 0, below every measured value) must reach the table,
     * so the clock never runs while an ingester is still joining its group. */
    char path[128];
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/usage", e->tasks[0].id);
    int st = bu_api(e->gateway, "POST", path, e->pat,
                    "{\"usage\":[{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4\","
                    "\"input_tokens\":0,\"output_tokens\":0}]}",
                    NULL);
    const char *p[] = {e->tasks[0].id};
    double deadline = bu_now() + 120;
    for (;;) {
        PGresult *r = PQexecParams(c, "SELECT count(*) FROM usage.task_usage WHERE task_id = $1", 1,
                                   NULL, p, NULL, NULL, 0);
        bool seen = PQresultStatus(r) == PGRES_TUPLES_OK && atol(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
        if (seen)
            break;
        if (st != 202 || bu_now() > deadline) {
            fprintf(stderr, "multica-bench-e2e: the warm-up report (HTTP %d) never arrived\n", st);
            exit(1);
        }
        usleep(50 * 1000);
    }
}

/* ---- load ---- */

static void *sender(void *arg)
{
    struct e2e *e = arg;
    char path[128], body[256];
    for (int k = atomic_fetch_add(&e->next, 1); k < e->nreports;
         k = atomic_fetch_add(&e->next, 1)) {
        struct report *r = &e->reports[k];
        const struct task *t = &e->tasks[k % e->ntasks];
        r->due = e->t0 + (double)k / e->rate;
        sleep_until(r->due);
        snprintf(path, sizeof path, "/api/daemon/tasks/%s/usage", t->id);
        snprintf(body, sizeof body,
                 "{\"usage\":[{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4\","
                 "\"input_tokens\":%d,\"output_tokens\":%d}]}",
                 k + 1, (k + 1) / 4);
        r->sent = bu_now();
        r->status = bu_api(e->gateway, "POST", path, e->pat, body, NULL);
        r->acked = bu_now();
    }
    return NULL;
}

/* ---- probe ---- */

static void note(struct task *t, int64_t value, double at)
{
    if (t->nsights > 0 && t->sights[t->nsights - 1].value >= value)
        return;
    if (t->nsights == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->sights = realloc(t->sights, (size_t)t->cap * sizeof *t->sights);
        if (t->sights == NULL)
            abort();
    }
    t->sights[t->nsights++] = (struct sight){value, at};
}

static bool all_seen(const struct e2e *e)
{
    for (int i = 0; i < e->ntasks; i++) {
        const struct task *t = &e->tasks[i];
        if (e->need[i] > 0 && (t->nsights == 0 || t->sights[t->nsights - 1].value < e->need[i]))
            return false;
    }
    return true;
}

static void *probe(void *arg)
{
    struct e2e *e = arg;
    PGconn *c = bu_connect(e->db_url);
    /* The task ids as one array parameter; rows come back with their position in it. */
    size_t len = 2 + (size_t)e->ntasks * MC_UUID_STRLEN;
    char *ids = malloc(len);
    if (ids == NULL)
        abort();
    char *p = ids;
    *p++ = '{';
    for (int i = 0; i < e->ntasks; i++)
        p += sprintf(p, "%s%s", i ? "," : "", e->tasks[i].id);
    *p++ = '}';
    *p = '\0';
    PGresult *prep = PQprepare(c, "probe",
                               "SELECT t.i::int - 1, u.input_tokens FROM unnest($1::uuid[]) "
                               "WITH ORDINALITY AS t(id, i) JOIN usage.task_usage u ON "
                               "u.task_id = t.id",
                               1, NULL);
    if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
        fprintf(stderr, "multica-bench-e2e: prepare: %s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(prep);
    const char *params[] = {ids};
    double give_up = 0;
    e->probe_start = bu_now();
    for (;;) {
        PGresult *r = PQexecPrepared(c, "probe", 1, params, NULL, NULL, 0);
        double at = bu_now();
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "multica-bench-e2e: probe: %s", PQerrorMessage(c));
            exit(1);
        }
        for (int i = 0; i < PQntuples(r); i++) {
            int ti = atoi(PQgetvalue(r, i, 0));
            if (ti >= 0 && ti < e->ntasks)
                note(&e->tasks[ti], atoll(PQgetvalue(r, i, 1)), at);
        }
        PQclear(r);
        atomic_fetch_add(&e->polls, 1);
        if (atomic_load(&e->sending_done)) {
            if (give_up == 0)
                give_up = at + 60;
            if (all_seen(e) || at > give_up)
                break;
        }
        usleep(1000);
    }
    e->probe_end = bu_now();
    free(ids);
    PQfinish(c);
    return NULL;
}

/* When report k became visible: the first sighting of its task at k + 1 or more; -1 if none. */
static double visible_at(const struct e2e *e, int k)
{
    const struct task *t = &e->tasks[k % e->ntasks];
    for (int s = 0; s < t->nsights; s++)
        if (t->sights[s].value >= k + 1)
            return t->sights[s].at;
    return -1;
}

int main(int argc, char **argv)
{
    struct e2e e = {.code = "888888", .ntasks = 100, .rate = 200, .seconds = 20};
    int senders = 8, rep = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--gateway") == 0)
            e.gateway = v;
        else if (strcmp(a, "--db") == 0)
            e.db_url = v;
        else if (strcmp(a, "--code") == 0)
            e.code = v;
        else if (strcmp(a, "--tasks") == 0)
            e.ntasks = atoi(v);
        else if (strcmp(a, "--rate") == 0)
            e.rate = atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            e.seconds = atoi(v);
        else if (strcmp(a, "--senders") == 0)
            senders = atoi(v);
        else if (strcmp(a, "--rep") == 0)
            rep = atoi(v);
    }
    if (e.gateway == NULL || e.db_url == NULL || e.ntasks < 1 || e.ntasks > 1000 || e.rate < 1 ||
        e.seconds < 1 || senders < 1) {
        fprintf(stderr, "usage: multica-bench-e2e --gateway URL --db URL [--rate R] [--seconds S] "
                        "[--tasks 1..1000] [--senders N] [--code C] [--rep R]\n");
        return 2;
    }
    e.nreports = e.rate * e.seconds;
    e.tasks = calloc((size_t)e.ntasks, sizeof *e.tasks);
    e.reports = calloc((size_t)e.nreports, sizeof *e.reports);
    e.need = calloc((size_t)e.ntasks, sizeof *e.need);
    if (e.tasks == NULL || e.reports == NULL || e.need == NULL)
        abort();
    PGconn *c = bu_connect(e.db_url);
    setup(&e, c, rep);
    PQfinish(c);
    fprintf(stderr,
            "multica-bench-e2e: %d tasks running on %d runtimes; offering %d reports/s "
            "for %d s\n",
            e.ntasks, e.nrt, e.rate, e.seconds);

    pthread_t prober, *send = calloc((size_t)senders, sizeof *send);
    if (send == NULL || pthread_create(&prober, NULL, probe, &e) != 0)
        abort();
    e.t0 = bu_now() + 0.05;
    for (int i = 0; i < senders; i++)
        if (pthread_create(&send[i], NULL, sender, &e) != 0)
            abort();
    for (int i = 0; i < senders; i++)
        pthread_join(send[i], NULL);
    free(send);
    int refused = 0;
    double last_ack = e.t0;
    for (int k = 0; k < e.nreports; k++) {
        const struct report *r = &e.reports[k];
        if (r->status != 202) {
            refused++;
            continue;
        }
        if (r->acked > last_ack)
            last_ack = r->acked;
        if (k + 1 > e.need[k % e.ntasks])
            e.need[k % e.ntasks] = k + 1;
    }
    atomic_store(&e.sending_done, 1);
    pthread_join(prober, NULL);

    /* Lags of accepted reports; a report sent more than 10 ms after it was due counts late. */
    double *lag = malloc((size_t)e.nreports * sizeof *lag);
    double *acc = malloc((size_t)e.nreports * sizeof *acc);
    if (lag == NULL || acc == NULL)
        abort();
    int n = 0, unseen = 0, late = 0;
    for (int k = 0; k < e.nreports; k++) {
        const struct report *r = &e.reports[k];
        if (r->status != 202)
            continue;
        if (r->sent - r->due > 0.010)
            late++;
        double v = visible_at(&e, k);
        if (v < 0) {
            unseen++;
            continue;
        }
        acc[n] = (r->acked - r->sent) * 1000;
        lag[n] = (v - r->acked) * 1000;
        n++;
    }
    double lag_max = n ? bu_percentile(lag, n, 100) : 0;
    int polls = atomic_load(&e.polls);
    printf("{\"bench\":\"e2e\",\"rep\":%d,\"offered_rps\":%d,\"achieved_rps\":%.1f,"
           "\"reports\":%d,\"tasks\":%d,\"late_reports\":%d,\"accepted_p50_ms\":%.2f,"
           "\"accepted_p99_ms\":%.2f,\"lag_p50_ms\":%.2f,\"lag_p99_ms\":%.2f,"
           "\"lag_max_ms\":%.2f,\"probe_period_ms\":%.2f}\n",
           rep, e.rate, (double)(e.nreports - refused) / (last_ack - e.t0), e.nreports, e.ntasks,
           late, bu_percentile(acc, n, 50), bu_percentile(acc, n, 99), bu_percentile(lag, n, 50),
           bu_percentile(lag, n, 99), lag_max,
           polls ? (e.probe_end - e.probe_start) * 1000 / polls : 0);
    fflush(stdout);
    if (refused > 0 || unseen > 0) {
        fprintf(stderr, "multica-bench-e2e: %d reports refused, %d never visible\n", refused,
                unseen);
        return 1;
    }
    for (int i = 0; i < e.ntasks; i++)
        free(e.tasks[i].sights);
    free(e.tasks);
    free(e.reports);
    free(e.need);
    free(lag);
    free(acc);
    free(e.user);
    free(e.pat);
    return 0;
}
