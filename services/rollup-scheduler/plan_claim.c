/* plan_claim.c: claim a job's plan, run it under a heartbeat, record the outcome.
 *
 * The claim is an INSERT of the plan's row (the unique key lets exactly one replica win), the
 * run happens in one transaction together with the SUCCESS write (so the job's effect and its
 * record commit or vanish together), and every write after the claim presents the lease token:
 * a replica declared stale cannot overwrite the attempt that replaced it. */
#include "scheduler.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct heartbeat {
    struct mc_worker w;
    struct rs_ctx *ctx;
    char id[32];
    char lease[MC_UUID_STRLEN];
};

static void *beat(void *arg)
{
    struct heartbeat *hb = arg;
    mc_db *db = mc_db_new(hb->ctx->svc->cfg.database_url, rs_stmts, RS_NSTMTS,
                          "rollup-scheduler-heartbeat");
    char extend[48];
    snprintf(extend, sizeof extend, "%lld milliseconds", (long long)hb->ctx->lease_ms);
    int64_t every = hb->ctx->lease_ms / 4 > 0 ? hb->ctx->lease_ms / 4 : 1;
    while (!mc_worker_wait(&hb->w, every)) {
        PGresult *r = NULL;
        const char *p[] = {hb->id, hb->lease, extend};
        if (mc_db_exec(db, RS_HEARTBEAT, 3, p, &r) == 0 && mc_db_value(r) &&
            strcmp(mc_db_value(r), "t") != 0)
            mc_log_warn(json_pack("{ss}", "execution", hb->id),
                        "lease lost while running: another replica took the plan over");
        PQclear(r);
    }
    mc_db_free(db);
    return NULL;
}

static bool finish(mc_db *db, const char *id, const char *lease, const char *status,
                   const json_t *result, const char *code, const char *msg, const char *sqlstate)
{
    char *result_text = result ? json_dumps(result, JSON_COMPACT) : NULL;
    const char *p[] = {id, lease, status, result_text, code, msg, sqlstate};
    PGresult *r = NULL;
    bool ok = mc_db_exec(db, RS_FINISH, 7, p, &r) == 0 && mc_db_value(r) &&
              strcmp(mc_db_value(r), "t") == 0;
    PQclear(r);
    free(result_text);
    return ok;
}

/* One run of a job: its claim, and the result it leaves. */
struct run {
    struct rs_ctx *ctx;
    const struct rs_job *job;
    const char *id, *lease;
    json_t *result;
};

/* The job and its SUCCESS in one transaction: MC_ECONFLICT when the lease was lost. */
static int run_body(mc_db *db, void *arg)
{
    struct run *r = arg;
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%lld", (long long)r->ctx->run_timeout_ms);
    const char *p[] = {timeout};
    json_decref(r->result);
    r->result = NULL;
    int rc = mc_db_exec(db, RS_STATEMENT_TIMEOUT, 1, p, NULL);
    if (rc == 0)
        rc = r->job->run(r->ctx, db, &r->result);
    if (rc == 0 && !finish(db, r->id, r->lease, "SUCCESS", r->result, NULL, NULL, NULL))
        rc = MC_ECONFLICT;
    return rc;
}

/* Runs the job in a transaction that also writes SUCCESS. Returns 0, MC_ECONFLICT when the
 * lease was lost (everything rolled back), or the job's error with sqlstate/msg filled. */
static int run_in_transaction(struct rs_ctx *ctx, struct run *r, char *sqlstate, char *msg)
{
    int rc = mc_db_run_tx(ctx->db, r->job->name, run_body, r);
    if (rc != 0 && rc != MC_ECONFLICT) {
        snprintf(sqlstate, 6, "%s", mc_db_sqlstate(ctx->db));
        snprintf(msg, 1024, "%s",
                 rc == MC_EDB || rc == MC_EDBCONN ? mc_db_errmsg(ctx->db) : mc_strerror(rc));
    }
    return rc;
}

bool rs_run_job_once(struct rs_ctx *ctx, const struct rs_job *job)
{
    char interval[48], lease_len[48], attempts[16];
    snprintf(interval, sizeof interval, "%lld milliseconds", (long long)*job->interval_ms);
    snprintf(lease_len, sizeof lease_len, "%lld milliseconds", (long long)ctx->lease_ms);
    snprintf(attempts, sizeof attempts, "%lld", (long long)ctx->max_attempts);
    const char *p[] = {job->name, interval, ctx->runner_id, lease_len, ctx->backoff_sql, attempts};
    PGresult *r = NULL;
    if (mc_db_exec(ctx->db, RS_CLAIM, 6, p, &r) != 0) {
        mc_log_warn(json_pack("{ss ss}", "job", job->name, "error", mc_db_errmsg(ctx->db)),
                    "cannot claim the plan");
        PQclear(r);
        return false;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return false;
    }
    struct heartbeat hb = {.ctx = ctx};
    snprintf(hb.id, sizeof hb.id, "%s", PQgetvalue(r, 0, 0));
    snprintf(hb.lease, sizeof hb.lease, "%s", PQgetvalue(r, 0, 3));
    json_t *claim = json_pack("{ss ss ss ss}", "job", job->name, "execution", hb.id, "plan_time",
                              PQgetvalue(r, 0, 1), "attempt", PQgetvalue(r, 0, 2));
    PQclear(r);
    mc_log_info(json_incref(claim), "plan claimed");
    mc_worker_init(&hb.w);
    mc_worker_start(&hb.w, beat, &hb);

    int64_t t0 = mc_now_mono_ms();
    struct run run = {ctx, job, hb.id, hb.lease, NULL};
    char sqlstate[6] = "", msg[1024] = "";
    int rc = run_in_transaction(ctx, &run, sqlstate, msg);
    json_t *result = run.result;
    double secs = (double)(mc_now_mono_ms() - t0) / 1000.0;
    mc_worker_stop(&hb.w);
    mc_metric_observe(ctx->m.run_seconds, secs);

    if (rc == 0) {
        mc_metric_add(ctx->m.success, 1);
        mc_metric_set(ctx->m.last_success, (double)mc_now_wall_us() / 1e6);
        json_object_set(claim, "result", result);
        mc_log_info(json_incref(claim), "plan finished");
    } else if (rc == MC_ECONFLICT) {
        mc_metric_add(ctx->m.lost, 1);
        mc_log_warn(json_incref(claim), "plan result discarded: the lease was lost");
    } else {
        mc_metric_add(ctx->m.failure, 1);
        const char *code =
            strcmp(sqlstate, MC_SQLSTATE_QUERY_CANCELED) == 0 ? "run_timeout" : "handler_error";
        bool recorded = finish(ctx->db, hb.id, hb.lease, "FAILED", NULL, code, msg,
                               sqlstate[0] ? sqlstate : NULL);
        json_object_set_new(claim, "sqlstate", json_string(sqlstate));
        json_object_set_new(claim, "error", json_string(msg));
        json_object_set_new(claim, "recorded", json_boolean(recorded));
        mc_log_error(json_incref(claim), "plan failed");
    }
    if (rc != MC_ECONFLICT)
        rs_publish_execution(ctx, hb.id);
    json_decref(result);
    json_decref(claim);
    return true;
}
