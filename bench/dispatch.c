/* dispatch.c: multica-bench-dispatch, tasks through their whole lifecycle against a running
 * stack, with simulated daemons speaking Multica's daemon protocol: throughput, how soon the
 * task's first event reaches a WebSocket watcher after it was enqueued, and how soon a daemon
 * has it (woken by daemon:task_available, then its HTTP claim).
 *
 *   multica-bench-dispatch --gateway URL --db URL --sim PATH --logs DIR [--tasks 10000]
 *       [--runtimes 4] [--capacity 16] [--work-ms 20] [--chunks 1] [--threads 8]
 *       [--light 200] [--light-rate 20] [--paced 0] [--paced-rate 500] [--code 888888]
 *       [--rep 1] [--timeout 300]
 *
 * Setup (not timed): log in, create a workspace and a personal access token, register
 * `runtimes` runtimes, each with an agent allowed `capacity` tasks at once and a
 * multica-daemon-sim (PATH) of `capacity` slots playing its daemon (--work-ms, --chunks: a
 * task is claim, start, `chunks` message and usage reports, complete; logs in DIR), create
 * `tasks` issues, and open a watcher: a user's WebSocket subscribed to the workspace.
 *
 * Light load first: `light` more issues are assigned one at a time at `light-rate` per second,
 * and all of them must complete: the latency of an unloaded system, the baseline of the
 * latency under the burst.
 *
 * Paced load next (when --paced N > 0): N issues assigned open-loop at `paced-rate` per second
 * (issue k due at t0 + k / rate, `threads` threads so that a slow answer does not delay the
 * next), and all of them must complete: enqueue -> daemon has it at that offered rate.
 *
 * The burst (timed): `threads` threads assign the `tasks` issues as fast as the gateway
 * answers (PUT /api/issues/{id} with the agent as assignee). Issue i goes to runtime i %
 * runtimes's agent; an assignment answered 200 is the task's enqueue. The watcher notes when
 * each task's first event (TaskQueued), its TaskDispatched and its TaskCompleted arrive.
 * tasks/s = tasks / (last completion seen - first assignment sent); ws = first event -
 * enqueue, dispatched = TaskDispatched - enqueue, claimed = the claim that handed the task to
 * its daemon - enqueue (both database times: gateway.tasks claimed_at - requested_at). A burst
 * queues: its latencies include the wait behind every task enqueued before.
 *
 * Checks: every task completed (the watcher saw it and dispatch.agent_task_queue says so);
 * requeues (lease or liveness reclaims) are counted, not failed.
 *
 * Prints one JSON line:
 *   {"bench":"dispatch","rep":R,"tasks":N,"runtimes":K,"capacity":C,"work_ms":W,"chunks":H,
 *    "seconds":..,"tasks_per_s":..,"enqueue_per_s":..,"assign_p50_ms":..,"ws_p50_ms":..,
 *    "ws_p99_ms":..,"dispatched_p50_ms":..,"dispatched_p99_ms":..,"light_tasks":..,
 *    "claimed_p50_ms":..,"claimed_p99_ms":..,"light_rps":..,"light_ws_p50_ms":..,
 *    "light_ws_p99_ms":..,"light_dispatched_p50_ms":..,"light_dispatched_p99_ms":..,
 *    "light_claimed_p50_ms":..,"light_claimed_p99_ms":..,"paced_tasks":..,
 *    "paced_offered_rps":..,"paced_rps":..,
 *    "paced_ws_p50_ms":..,"paced_ws_p99_ms":..,"paced_claimed_p50_ms":..,
 *    "paced_claimed_p99_ms":..,"requeues":..,"ws_reconnects":..}
 * and exits 1 when a check fails. */
#include "bench_util.h"
#include "mc_client.h"
#include "mc_common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNTIMES 64

/* What the watcher saw of one task (seconds on the monotonic clock; 0 = not yet). */
struct seen {
    double first, dispatched, completed;
};

struct assign {
    char issue[MC_UUID_STRLEN];
    char task[MC_UUID_STRLEN];
    double sent, answered;
    int status;
};

struct bench {
    const char *gateway, *db_url, *sim, *logs, *code;
    int ntasks, nruntimes, capacity, work_ms, chunks, threads, rep, timeout_s;
    int nlight, light_rate; /* the light-load tasks come first: indices [0, nlight) */
    int npaced, paced_rate; /* then the paced ones: [nlight, nlight + npaced) */
    double paced_t0;
    int ntotal;
    char *user, *pat;
    char ws[MC_UUID_STRLEN];
    struct bu_runtime rt[MAX_RUNTIMES];
    pid_t sims[MAX_RUNTIMES];
    struct assign *assigns;
    /* The watcher's: task id -> index into seen (only its thread touches them until joined). */
    json_t *index;
    struct seen *seen;
    int nseen;
    atomic_int completed;
    atomic_int stop;
    atomic_int reconnects;
    double last_completed;
};

/* ---- setup ---- */

static void create_issue(int i, void *ud)
{
    struct bench *b = ud;
    char path[128], body[64];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/issues?workspace_id=%s", b->ws);
    snprintf(body, sizeof body, "{\"title\":\"dispatch %d\"}", i);
    int st = bu_api(b->gateway, "POST", path, b->user, body, &out);
    if (st != 201) {
        fprintf(stderr, "multica-bench-dispatch: create issue: HTTP %d\n", st);
        exit(1);
    }
    snprintf(b->assigns[i].issue, MC_UUID_STRLEN, "%s", bu_str(out, "id"));
    json_decref(out);
}

/* Starts runtime r's daemon and waits until its WebSocket is connected. */
static void start_sim(struct bench *b, int r)
{
    char log[512], cap[16], share[16], work[16], chunks[16];
    snprintf(log, sizeof log, "%s/daemon-sim-%d-%d.log", b->logs, b->rep, r);
    snprintf(cap, sizeof cap, "%d", b->capacity);
    snprintf(share, sizeof share, "%d", b->ntotal / b->nruntimes + (r < b->ntotal % b->nruntimes));
    snprintf(work, sizeof work, "%d", b->work_ms);
    snprintf(chunks, sizeof chunks, "%d", b->chunks);
    const char *argv[] = {b->sim,
                          "--gateway",
                          b->gateway,
                          "--token",
                          b->pat,
                          "--workspace",
                          b->ws,
                          "--daemon-id",
                          b->rt[r].daemon,
                          "--max-concurrency",
                          cap,
                          "--tasks",
                          share,
                          "--work-ms",
                          work,
                          "--chunks",
                          chunks,
                          "--heartbeat-ms",
                          "5000",
                          "--poll-ms",
                          "30000",
                          NULL};
    FILE *f = fopen(log, "w"); /* a fresh log per repetition */
    if (f)
        fclose(f);
    b->sims[r] = bu_spawn(argv, NULL, log);
    if (b->sims[r] < 0) {
        fprintf(stderr, "multica-bench-dispatch: cannot start %s\n", b->sim);
        exit(1);
    }
    double deadline = bu_now() + 30;
    while (bu_now() < deadline) {
        f = fopen(log, "r");
        char line[512];
        bool connected = false;
        while (f && !connected && fgets(line, sizeof line, f))
            connected = strstr(line, "\"connected\"") != NULL;
        if (f)
            fclose(f);
        if (connected)
            return;
        usleep(50 * 1000);
    }
    fprintf(stderr, "multica-bench-dispatch: daemon %d did not connect; see %s\n", r, log);
    exit(1);
}

/* ---- the watcher ---- */

static mc_wsclient *watch(const struct bench *b, long long since)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/ws", b->gateway);
    mc_wsclient *ws = mc_wsclient_open(url, b->user);
    if (ws == NULL)
        return NULL;
    json_t *sub = since > 0 ? json_pack("{ss ss sI}", "type", "subscribe", "workspace_id", b->ws,
                                        "since", (json_int_t)since)
                            : json_pack("{ss ss}", "type", "subscribe", "workspace_id", b->ws);
    int rc = mc_wsclient_send(ws, sub);
    json_decref(sub);
    /* Wait for the subscription's answer (after the hello). */
    for (int i = 0; rc == 0 && i < 50; i++) {
        json_t *m = mc_wsclient_next(ws, 100);
        const char *type = json_string_value(json_object_get(m, "type"));
        bool done = type && (strcmp(type, "subscribed") == 0 || strcmp(type, "error") == 0);
        bool ok = type && strcmp(type, "subscribed") == 0;
        json_decref(m);
        if (done) {
            if (ok)
                return ws;
            break;
        }
    }
    mc_wsclient_close(ws);
    return NULL;
}

static void record(struct bench *b, const json_t *event, double at)
{
    const char *type = json_string_value(json_object_get(event, "type"));
    const char *task =
        json_string_value(json_object_get(json_object_get(event, "data"), "task_id"));
    if (type == NULL || task == NULL)
        return;
    json_t *slot = json_object_get(b->index, task);
    struct seen *s;
    if (slot == NULL) {
        if (b->nseen >= b->ntotal)
            return; /* not one of ours */
        json_object_set_new(b->index, task, json_integer(b->nseen));
        s = &b->seen[b->nseen++];
        s->first = at;
    } else {
        s = &b->seen[json_integer_value(slot)];
    }
    if (strcmp(type, "multica.task.dispatched.v1") == 0 && s->dispatched == 0)
        s->dispatched = at;
    if (strcmp(type, "multica.task.completed.v1") == 0 && s->completed == 0) {
        s->completed = at;
        b->last_completed = at;
        atomic_fetch_add(&b->completed, 1);
    }
}

static void *watcher(void *arg)
{
    struct bench *b = arg;
    mc_wsclient *ws = watch(b, 0);
    long long last_seq = 0;
    while (!atomic_load(&b->stop)) {
        if (ws == NULL || !mc_wsclient_open_p(ws)) {
            /* Dropped (a slow reader overflows its queue): catch up from the last seq seen. */
            mc_wsclient_close(ws);
            atomic_fetch_add(&b->reconnects, 1);
            ws = watch(b, last_seq);
            if (ws == NULL)
                usleep(200 * 1000);
            continue;
        }
        json_t *m = mc_wsclient_next(ws, 100);
        double at = bu_now();
        if (m == NULL)
            continue;
        /* A catch-up may interleave with live events: record() keeps the first sighting of
         * each, so nothing is filtered by seq here. */
        json_t *seq = json_object_get(m, "seq");
        if (json_is_integer(seq) && json_integer_value(seq) > last_seq)
            last_seq = json_integer_value(seq);
        record(b, json_object_get(m, "event"), at);
        json_decref(m);
    }
    mc_wsclient_close(ws);
    return NULL;
}

/* ---- timed: the assignments ---- */

static void assign(int i, void *ud)
{
    struct bench *b = ud;
    struct assign *a = &b->assigns[i];
    char path[128], body[128];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/issues/%s", a->issue);
    snprintf(body, sizeof body, "{\"assignee_type\":\"agent\",\"assignee_id\":\"%s\"}",
             b->rt[i % b->nruntimes].agent);
    a->sent = bu_now();
    a->status = bu_api(b->gateway, "PUT", path, b->user, body, &out);
    a->answered = bu_now();
    snprintf(a->task, MC_UUID_STRLEN, "%s", bu_str(out, "task_id"));
    json_decref(out);
}

static void assign_burst(int i, void *ud)
{
    const struct bench *b = ud;
    assign(b->nlight + b->npaced + i, ud);
}

/* Paced task i: sent at its due time (open-loop; a late one goes at once). */
static void assign_paced(int i, void *ud)
{
    const struct bench *b = ud;
    double d = b->paced_t0 + (double)i / b->paced_rate - bu_now();
    if (d > 0)
        usleep((useconds_t)(d * 1e6));
    assign(b->nlight + i, ud);
}

static int64_t db_int(PGconn *c, const char *sql, const char *ws)
{
    const char *p[] = {ws};
    PGresult *r = PQexecParams(c, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "multica-bench-dispatch: %s", PQerrorMessage(c));
        exit(1);
    }
    int64_t v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Waits until the watcher saw `want` completions or the deadline passes. */
static void wait_completed(struct bench *b, int want, double t0, double deadline)
{
    int last_report = atomic_load(&b->completed);
    while (atomic_load(&b->completed) < want && bu_now() < deadline) {
        usleep(100 * 1000);
        int done = atomic_load(&b->completed);
        if (done - last_report >= b->ntasks / 5) {
            fprintf(stderr, "multica-bench-dispatch: %d completed after %.1f s\n", done,
                    bu_now() - t0);
            last_report = done;
        }
    }
}

/* Latency percentiles of tasks [from, to): enqueue to first event, to TaskDispatched, and to
 * the claim that handed the task to its daemon. */
struct lat {
    double ws50, ws99, d50, d99, c50, c99;
    int missing;
};

/* The ids of tasks [from, to) that were enqueued, as a uuid[] literal (malloc'd). */
static char *task_ids(const struct bench *b, int from, int to)
{
    char *ids = malloc((size_t)(to - from + 1) * 40 + 8);
    if (ids == NULL)
        abort();
    size_t n = (size_t)sprintf(ids, "{");
    for (int i = from; i < to; i++)
        if (b->assigns[i].task[0])
            n += (size_t)sprintf(ids + n, "%s%s", n > 1 ? "," : "", b->assigns[i].task);
    sprintf(ids + n, "}");
    return ids;
}

/* Enqueue to claim of tasks [from, to), in milliseconds of database time, into l. */
static void claim_latency(PGconn *c, const struct bench *b, int from, int to, struct lat *l)
{
    char *ids = task_ids(b, from, to);
    const char *p[] = {ids};
    PGresult *r = PQexecParams(c,
                               "SELECT extract(epoch FROM claimed_at - requested_at) * 1000 FROM "
                               "gateway.tasks WHERE task_id = ANY ($1::uuid[]) AND claimed_at IS "
                               "NOT NULL",
                               1, NULL, p, NULL, NULL, 0);
    int rows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
    double *ms = malloc((size_t)(rows ? rows : 1) * sizeof *ms);
    if (ms == NULL)
        abort();
    for (int i = 0; i < rows; i++)
        ms[i] = atof(PQgetvalue(r, i, 0));
    l->c50 = bu_percentile(ms, rows, 50);
    l->c99 = bu_percentile(ms, rows, 99);
    free(ms);
    PQclear(r);
    free(ids);
}

/* Where the slowest of tasks [from, to) (by enqueue -> claim) spent its time, on stderr: the
 * database's times from its request (gateway.tasks.requested_at): each state change the
 * dispatcher applied (dispatch.task_transitions), when the gateway's projection logged each
 * event for the WebSockets (gateway.task_event_log.created_at; the daemon's
 * daemon:task_available follows that commit) and the claim; then the bench's own clock from
 * the assignment's answer: the watcher's first event and its TaskDispatched. So a light-load
 * outlier says which hop it waited on. */
static void log_slowest(PGconn *c, const struct bench *b, int from, int to, const char *what)
{
    char *ids = task_ids(b, from, to);
    const char *p[] = {ids};
    PGresult *r = PQexecParams(
        c,
        "WITH s AS (SELECT task_id, requested_at, claimed_at FROM gateway.tasks"
        "  WHERE task_id = ANY ($1::uuid[]) AND claimed_at IS NOT NULL"
        "  ORDER BY claimed_at - requested_at DESC LIMIT 1)"
        " SELECT s.task_id, round((extract(epoch FROM s.claimed_at - s.requested_at) * 1000)"
        "  ::numeric, 1), (SELECT string_agg(x, ', ' ORDER BY t) FROM ("
        "   SELECT tr.at AS t, 'dispatcher ' || tr.event || ' +' || round((extract(epoch FROM"
        "    tr.at - s.requested_at) * 1000)::numeric, 1) AS x"
        "    FROM dispatch.task_transitions tr WHERE tr.task_id = s.task_id"
        "   UNION ALL SELECT l.created_at, 'gateway logged ' || l.type || ' +' ||"
        "    round((extract(epoch FROM l.created_at - s.requested_at) * 1000)::numeric, 1)"
        "    FROM gateway.task_event_log l WHERE l.task_id = s.task_id"
        "   UNION ALL SELECT s.claimed_at, 'claimed +' || round((extract(epoch FROM"
        "    s.claimed_at - s.requested_at) * 1000)::numeric, 1)) q)"
        " FROM s",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        const char *task = PQgetvalue(r, 0, 0);
        double ws = -1, dispatched = -1, answer = -1;
        for (int i = from; i < to; i++) {
            const struct assign *a = &b->assigns[i];
            if (strcmp(a->task, task) != 0)
                continue;
            json_t *slot = json_object_get(b->index, a->task);
            const struct seen *sn = slot ? &b->seen[json_integer_value(slot)] : NULL;
            answer = (a->answered - a->sent) * 1000;
            if (sn != NULL && sn->first > 0)
                ws = (sn->first - a->answered) * 1000;
            if (sn != NULL && sn->dispatched > 0)
                dispatched = (sn->dispatched - a->answered) * 1000;
        }
        fprintf(stderr,
                "multica-bench-dispatch: slowest %s task %s, enqueue -> claim %s ms; database, "
                "from its request: %s; bench, from the answer (assignment answered in %.1f ms): "
                "watcher's first event +%.1f ms, its TaskDispatched +%.1f ms\n",
                what, task, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), answer, ws, dispatched);
    }
    PQclear(r);
    free(ids);
}

static struct lat latencies(const struct bench *b, int from, int to)
{
    struct lat l = {0};
    int cap = to - from > 0 ? to - from : 1;
    double *ws = malloc((size_t)cap * sizeof *ws), *d = malloc((size_t)cap * sizeof *d);
    if (ws == NULL || d == NULL)
        abort();
    int n = 0, nd = 0;
    for (int i = from; i < to; i++) {
        const struct assign *a = &b->assigns[i];
        json_t *slot = a->task[0] ? json_object_get(b->index, a->task) : NULL;
        const struct seen *s = slot ? &b->seen[json_integer_value(slot)] : NULL;
        if (s == NULL || s->completed == 0) {
            l.missing++;
            continue;
        }
        ws[n++] = (s->first - a->answered) * 1000;
        if (s->dispatched > 0)
            d[nd++] = (s->dispatched - a->answered) * 1000;
    }
    l.ws50 = bu_percentile(ws, n, 50);
    l.ws99 = bu_percentile(ws, n, 99);
    l.d50 = bu_percentile(d, nd, 50);
    l.d99 = bu_percentile(d, nd, 99);
    free(ws);
    free(d);
    return l;
}

static void usage(void)
{
    fprintf(stderr, "usage: multica-bench-dispatch --gateway URL --db URL --sim PATH --logs DIR "
                    "[--tasks N] [--runtimes K] [--capacity C] [--work-ms W] [--chunks H] "
                    "[--threads T] [--light N] [--light-rate R] [--paced N] [--paced-rate R] "
                    "[--code C] [--rep R] "
                    "[--timeout S]\n");
}

int main(int argc, char **argv)
{
    struct bench b = {.code = "888888",
                      .ntasks = 10000,
                      .nruntimes = 4,
                      .capacity = 16,
                      .work_ms = 20,
                      .chunks = 1,
                      .threads = 8,
                      .rep = 1,
                      .timeout_s = 300,
                      .nlight = 200,
                      .light_rate = 20,
                      .paced_rate = 500};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--gateway") == 0)
            b.gateway = v;
        else if (strcmp(a, "--db") == 0)
            b.db_url = v;
        else if (strcmp(a, "--sim") == 0)
            b.sim = v;
        else if (strcmp(a, "--logs") == 0)
            b.logs = v;
        else if (strcmp(a, "--code") == 0)
            b.code = v;
        else if (strcmp(a, "--tasks") == 0)
            b.ntasks = atoi(v);
        else if (strcmp(a, "--runtimes") == 0)
            b.nruntimes = atoi(v);
        else if (strcmp(a, "--capacity") == 0)
            b.capacity = atoi(v);
        else if (strcmp(a, "--work-ms") == 0)
            b.work_ms = atoi(v);
        else if (strcmp(a, "--chunks") == 0)
            b.chunks = atoi(v);
        else if (strcmp(a, "--threads") == 0)
            b.threads = atoi(v);
        else if (strcmp(a, "--light") == 0)
            b.nlight = atoi(v);
        else if (strcmp(a, "--light-rate") == 0)
            b.light_rate = atoi(v);
        else if (strcmp(a, "--paced") == 0)
            b.npaced = atoi(v);
        else if (strcmp(a, "--paced-rate") == 0)
            b.paced_rate = atoi(v);
        else if (strcmp(a, "--rep") == 0)
            b.rep = atoi(v);
        else if (strcmp(a, "--timeout") == 0)
            b.timeout_s = atoi(v);
        else {
            usage();
            return 2;
        }
    }
    if (b.gateway == NULL || b.db_url == NULL || b.sim == NULL || b.logs == NULL || b.ntasks < 1 ||
        b.nruntimes < 1 || b.nruntimes > MAX_RUNTIMES || b.capacity < 1 || b.capacity > 1000 ||
        b.work_ms < 0 || b.chunks < 0 || b.threads < 1 || b.nlight < 0 || b.light_rate < 1 ||
        b.npaced < 0 || b.paced_rate < 1) {
        usage();
        return 2;
    }
    b.ntotal = b.nlight + b.npaced + b.ntasks;
    b.assigns = calloc((size_t)b.ntotal, sizeof *b.assigns);
    b.seen = calloc((size_t)b.ntotal, sizeof *b.seen);
    b.index = json_object();
    if (b.assigns == NULL || b.seen == NULL || b.index == NULL)
        abort();

    char email[128];
    snprintf(email, sizeof email, "bench-dispatch-%d-%d@example.com", (int)getpid(), b.rep);
    b.user = bu_api_login(b.gateway, email, b.code);
    bu_api_workspace(b.gateway, b.user, "bench-dispatch", b.ws);
    b.pat = bu_api_pat(b.gateway, b.user);
    for (int r = 0; r < b.nruntimes; r++) {
        char name[32];
        snprintf(name, sizeof name, "bench-rt-%d", r);
        bu_api_runtime(b.gateway, b.user, b.pat, b.ws, name, b.capacity, &b.rt[r]);
        start_sim(&b, r);
    }
    double t = bu_now();
    bu_parallel(b.threads, b.ntotal, create_issue, &b);
    fprintf(stderr,
            "multica-bench-dispatch: %d issues created in %.1f s; %d daemons of capacity "
            "%d connected\n",
            b.ntotal, bu_now() - t, b.nruntimes, b.capacity);

    pthread_t w;
    if (pthread_create(&w, NULL, watcher, &b) != 0)
        abort();
    usleep(300 * 1000); /* the watcher subscribes before the first assignment */

    /* Light load: one assignment at a time, paced, then everything must complete. */
    double tl = bu_now();
    for (int i = 0; i < b.nlight; i++) {
        double due = tl + (double)i / b.light_rate, d = due - bu_now();
        if (d > 0)
            usleep((useconds_t)(d * 1e6));
        assign(i, &b);
    }
    double light_rps = b.nlight ? b.nlight / (bu_now() - tl) : 0;
    wait_completed(&b, b.nlight, tl, tl + 60);

    /* Paced load: open-loop at paced_rate, then everything must complete. */
    b.paced_t0 = bu_now();
    bu_parallel(b.threads * 2, b.npaced, assign_paced, &b);
    double paced_rps = b.npaced ? b.npaced / (bu_now() - b.paced_t0) : 0;
    wait_completed(&b, b.nlight + b.npaced, b.paced_t0, b.paced_t0 + 120);

    double t0 = bu_now();
    bu_parallel(b.threads, b.ntasks, assign_burst, &b);
    double enqueued = bu_now();
    int refused = 0;
    for (int i = 0; i < b.ntotal; i++)
        if (b.assigns[i].status != 200 || b.assigns[i].task[0] == '\0')
            refused++;
    fprintf(stderr, "multica-bench-dispatch: %d tasks enqueued in %.1f s (%d refused)\n", b.ntasks,
            enqueued - t0, refused);
    wait_completed(&b, b.ntotal - refused, t0, t0 + b.timeout_s);
    atomic_store(&b.stop, 1);
    pthread_join(w, NULL);
    for (int r = 0; r < b.nruntimes; r++)
        bu_stop(b.sims[r], 10000);

    int burst0 = b.nlight + b.npaced;
    struct lat light = latencies(&b, 0, b.nlight), burst = latencies(&b, burst0, b.ntotal);
    struct lat paced = latencies(&b, b.nlight, burst0);
    PGconn *c = bu_connect(b.db_url);
    claim_latency(c, &b, 0, b.nlight, &light);
    claim_latency(c, &b, b.nlight, burst0, &paced);
    claim_latency(c, &b, burst0, b.ntotal, &burst);
    log_slowest(c, &b, 0, b.nlight, "light-load");
    int64_t db_completed = db_int(c,
                                  "SELECT count(*) FROM dispatch.agent_task_queue WHERE "
                                  "workspace_id = $1 AND status = 'completed'",
                                  b.ws);
    int64_t requeues = db_int(c,
                              "SELECT count(*) FROM dispatch.task_transitions t JOIN "
                              "dispatch.agent_task_queue q USING (task_id) WHERE "
                              "q.workspace_id = $1 AND t.event = 'requeued'",
                              b.ws);
    PQfinish(c);

    double *assign_ms = malloc((size_t)b.ntasks * sizeof *assign_ms);
    if (assign_ms == NULL)
        abort();
    for (int i = 0; i < b.ntasks; i++)
        assign_ms[i] = (b.assigns[burst0 + i].answered - b.assigns[burst0 + i].sent) * 1000;
    double seconds = b.last_completed - t0;
    printf("{\"bench\":\"dispatch\",\"rep\":%d,\"tasks\":%d,\"runtimes\":%d,\"capacity\":%d,"
           "\"work_ms\":%d,\"chunks\":%d,\"seconds\":%.2f,\"tasks_per_s\":%.1f,"
           "\"enqueue_per_s\":%.1f,\"assign_p50_ms\":%.2f,\"ws_p50_ms\":%.2f,\"ws_p99_ms\":%.2f,"
           "\"dispatched_p50_ms\":%.2f,\"dispatched_p99_ms\":%.2f,\"claimed_p50_ms\":%.2f,"
           "\"claimed_p99_ms\":%.2f,\"light_tasks\":%d,\"light_rps\":%.1f,"
           "\"light_ws_p50_ms\":%.2f,\"light_ws_p99_ms\":%.2f,\"light_dispatched_p50_ms\":%.2f,"
           "\"light_dispatched_p99_ms\":%.2f,\"light_claimed_p50_ms\":%.2f,"
           "\"light_claimed_p99_ms\":%.2f,\"paced_tasks\":%d,\"paced_offered_rps\":%d,"
           "\"paced_rps\":%.1f,"
           "\"paced_ws_p50_ms\":%.2f,\"paced_ws_p99_ms\":%.2f,\"paced_claimed_p50_ms\":%.2f,"
           "\"paced_claimed_p99_ms\":%.2f,\"requeues\":%lld,\"ws_reconnects\":%d}\n",
           b.rep, b.ntasks, b.nruntimes, b.capacity, b.work_ms, b.chunks, seconds,
           seconds > 0 ? b.ntasks / seconds : 0, b.ntasks / (enqueued - t0),
           bu_percentile(assign_ms, b.ntasks, 50), burst.ws50, burst.ws99, burst.d50, burst.d99,
           burst.c50, burst.c99, b.nlight, light_rps, light.ws50, light.ws99, light.d50, light.d99,
           light.c50, light.c99, b.npaced, b.paced_rate, paced_rps, paced.ws50, paced.ws99,
           paced.c50, paced.c99, (long long)requeues, atomic_load(&b.reconnects));
    fflush(stdout);
    int rc = 0;
    int missing = light.missing + paced.missing + burst.missing;
    if (refused > 0 || missing > 0 || db_completed != b.ntotal) {
        fprintf(stderr,
                "multica-bench-dispatch: %d assignments refused, %d tasks not seen "
                "completed, %lld of %d completed in dispatch.agent_task_queue\n",
                refused, missing, (long long)db_completed, b.ntotal);
        rc = 1;
    }
    free(assign_ms);
    json_decref(b.index);
    free(b.seen);
    free(b.assigns);
    free(b.user);
    free(b.pat);
    return rc;
}
