/* dispatch_loop.c: the thread that runs the timers and dispatches queued tasks.
 *
 * Every DISPATCH_INTERVAL it calls each sweep (silent runtimes, expired leases, silent running
 * tasks, expired queued tasks); then, and right after a command batch committed, one dispatch
 * round, then (at most every max(1 s, DISPATCH_WAIT_NOTICE / 4)) the wait reasons of what is
 * still queued, each a single SQL function in its own transaction together with the events it
 * produces. A kick runs the round alone: the sweeps are timers of seconds, and under load the
 * loop is kicked every few milliseconds, where four more statements before the round only
 * delayed it. The functions lock with SKIP LOCKED, so any number of replicas can run this loop
 * at once without dispatching a task twice or overfilling a runtime. */
#include "dispatcher.h"
#include "mc_log.h"

#include <stdio.h>
#include <string.h>

/* Most tasks one call may change: keeps transactions short under a large backlog. */
#define STEP_LIMIT      500
#define STEP_LIMIT_TEXT "500"
/* Least time between two warnings about failing steps. */
#define WARN_EVERY_MS 5000
/* Least time between two looks at why tasks wait: the look reads the whole queue (55-80 ms at
 * 10,000 queued), and the loop is kicked after every command batch (every few milliseconds
 * under load), while a reason is only wanted after DISPATCH_WAIT_NOTICE: a quarter of the
 * notice, at least this, so that a reason appears at most a quarter of the notice late. */
#define WAITS_EVERY_MS 1000

struct loop {
    struct td_dispatcher *td;
    mc_db *db;
    struct td_tx tx;
    char lease[48], window[48], running_timeout[48], ttl[48], max_attempts[24];
    char aging[48], notice[48], workspace_max[24];
    int64_t warned_at;
    int64_t waits_at; /* when note_waits last ran */
    int64_t swept_at; /* when the sweeps last ran */
    int64_t waits_every_ms;
};

/* One state-machine call with its parameters. */
struct call {
    int stmt;
    int nparams;
    const char *const *params;
};

static int run_call(mc_db *db, struct td_tx *tx, void *arg)
{
    const struct call *c = arg;
    return td_tx_apply(db, c->stmt, c->nparams, c->params, NULL, tx);
}

/* Runs one state-machine call in its own transaction; *changed receives how many tasks
 * changed. Returns 0 or the database error. */
static int step(struct loop *l, int stmt, int nparams, const char *const *params, size_t *changed)
{
    struct call c = {stmt, nparams, params};
    int rc = td_tx_run(l->td, l->db, td_stmts[stmt].name, run_call, &c, &l->tx);
    *changed = rc == 0 ? l->tx.nevents : 0;
    if (rc != 0) {
        mc_metric_add(l->td->m.db_errors, 1);
        int64_t now = mc_now_mono_ms();
        /* A lost connection is logged by mc_db itself, once each way. */
        if (rc != MC_EDBCONN && now - l->warned_at >= WARN_EVERY_MS) {
            l->warned_at = now;
            mc_log_warn(json_pack("{ss ss ss}", "statement", td_stmts[stmt].name, "sqlstate",
                                  mc_db_sqlstate(l->db), "error", mc_db_errmsg(l->db)),
                        "dispatch step failed; retrying at the next tick");
        }
    }
    return rc;
}

/* The loop ends at the service's stop request (it need not finish the command batch first)
 * or when main stops its worker. */
static bool stopping(struct td_dispatcher *td)
{
    return mc_service_stopping() || mc_worker_stopping(&td->dispatcher);
}

static void tick(struct loop *l)
{
    size_t changed = 0;
    const char *silent[] = {l->window, STEP_LIMIT_TEXT};
    const char *leases[] = {STEP_LIMIT_TEXT};
    const char *running[] = {l->running_timeout, l->max_attempts, STEP_LIMIT_TEXT};
    const char *queued[] = {l->ttl, STEP_LIMIT_TEXT};
    const char *dispatch[] = {l->lease, l->window, STEP_LIMIT_TEXT, l->aging, l->workspace_max};
    const char *waits[] = {l->window, l->aging, l->workspace_max, l->notice, STEP_LIMIT_TEXT};
    /* Without a connection the remaining steps would fail the same way: wait for the tick. */
    bool up = true;
    int64_t at = mc_now_mono_ms();
    if (at - l->swept_at >= l->td->cfg.dispatch_interval_ms) {
        l->swept_at = at;
        up = step(l, TD_SWEEP_SILENT_RUNTIMES, 2, silent, &changed) != MC_EDBCONN &&
             step(l, TD_EXPIRE_LEASES, 1, leases, &changed) != MC_EDBCONN &&
             step(l, TD_TIME_OUT_RUNNING, 3, running, &changed) != MC_EDBCONN &&
             step(l, TD_EXPIRE_QUEUED, 2, queued, &changed) != MC_EDBCONN;
    }
    /* A full round means more may be waiting: go again rather than wait for the next tick. */
    while (up && step(l, TD_DISPATCH_ROUND, 5, dispatch, &changed) == 0 && changed >= STEP_LIMIT &&
           !stopping(l->td))
        ;
    /* After the round, so that a task it dispatched is not said to wait. A reason seldom
     * changes, so one call every waits_every_ms is enough: what it leaves over waits for the
     * next. */
    int64_t now = mc_now_mono_ms();
    if (up && now - l->waits_at >= l->waits_every_ms) {
        l->waits_at = now;
        step(l, TD_NOTE_WAITS, 5, waits, &changed);
    }
}

static void interval(char *buf, size_t len, int64_t ms)
{
    snprintf(buf, len, "%lld milliseconds", (long long)ms);
}

static void *dispatch_main(void *arg)
{
    struct loop l = {.td = arg};
    const struct td_settings *c = &l.td->cfg;
    td_tx_init(&l.tx);
    l.db = mc_db_new(l.td->svc->cfg.database_url, td_stmts, td_nstmts, "task-dispatcher-dispatch");
    interval(l.lease, sizeof l.lease, c->lease_ms);
    interval(l.window, sizeof l.window, c->online_window_ms);
    interval(l.running_timeout, sizeof l.running_timeout, c->running_timeout_ms);
    interval(l.ttl, sizeof l.ttl, c->queued_ttl_ms);
    snprintf(l.max_attempts, sizeof l.max_attempts, "%lld", (long long)c->max_attempts);
    interval(l.aging, sizeof l.aging, c->aging_ms);
    interval(l.notice, sizeof l.notice, c->wait_notice_ms);
    snprintf(l.workspace_max, sizeof l.workspace_max, "%lld", (long long)c->workspace_max);
    l.waits_every_ms =
        c->wait_notice_ms / 4 > WAITS_EVERY_MS ? c->wait_notice_ms / 4 : WAITS_EVERY_MS;
    while (!stopping(l.td)) {
        tick(&l);
        mc_worker_wait(&l.td->dispatcher, c->dispatch_interval_ms);
    }
    td_tx_free(&l.tx);
    mc_db_free(l.db);
    return NULL;
}

int td_dispatch_start(struct td_dispatcher *td)
{
    return mc_worker_start(&td->dispatcher, dispatch_main, td);
}
