/* report_writer.c: the daemon's reports (start, progress, complete, fail, cancel-ack) applied
 * in group commits (issue 17).
 *
 * Each report was its own transaction and its own synchronous WAL flush, about four per task.
 * A group writer (group_writer.c) takes every report that arrived while it was busy (all
 * tasks, up to REPORTS_MAX), applies them in one call (gateway.daemon_reports, in arrival
 * order) and one commit, and hands each waiting handler its row, so an answer still means the
 * report is durably applied. When the batch's call fails, each of its reports is applied
 * alone, so that a bad one fails only itself. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>

#define REPORTS_MAX 256
#define NPARAMS     8

/* A report the handler waits on, and what applying it came to. */
struct report_job {
    struct gw_report *rep;
    int rc;
};

static void copy_row(struct gw_report *rep, const PGresult *r, int row)
{
    snprintf(rep->outcome, sizeof rep->outcome, "%s", PQgetvalue(r, row, 0));
    snprintf(rep->status, sizeof rep->status, "%s", PQgetvalue(r, row, 1));
}

static void log_error(mc_db *db, const char *what)
{
    MC_LOG_ERROR_AT(json_pack("{ss ss ss}", "sqlstate", mc_db_sqlstate(db), "error",
                              mc_db_errmsg(db), "call", what),
                    "database error in a daemon report");
}

int gw_report_one(mc_db *db, struct gw_report *rep)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_DAEMON_REPORT, NPARAMS, rep->p, &r);
    if (rc == 0 && PQntuples(r) == 1)
        copy_row(rep, r, 0);
    else if (rc == 0)
        rc = MC_EINVAL;
    if (rc != 0 && rc != MC_EDBCONN)
        log_error(db, "daemon_report");
    PQclear(r);
    return rc;
}

/* A job's parameters, for gw_group_arrays. */
static const char *const *job_params(void *arg)
{
    return ((struct report_job *)arg)->rep->p;
}

/* Applies the jobs in one call and one commit, or each alone when that call fails. */
static void apply(mc_db *db, void *const *args, int n, struct mc_pgarr *arr)
{
    struct report_job *const *jobs = (struct report_job *const *)args;
    const char *p[NPARAMS];
    gw_group_arrays(args, n, job_params, arr, NPARAMS, p);
    PGresult *r = NULL;
    int rc = n == 1 ? MC_EINVAL : mc_db_exec(db, GW_DAEMON_REPORTS, NPARAMS, p, &r);
    if (rc == 0 && PQntuples(r) == n) {
        for (int i = 0; i < n; i++) {
            copy_row(jobs[i]->rep, r, i);
            jobs[i]->rc = 0;
        }
    } else {
        if (n > 1 && rc != MC_EDBCONN)
            log_error(db, "daemon_reports");
        for (int i = 0; i < n; i++)
            jobs[i]->rc = gw_report_one(db, jobs[i]->rep);
    }
    PQclear(r);
}

int gw_report_apply(struct gw_ctx *ctx, struct gw_report *rep)
{
    struct report_job job = {.rep = rep, .rc = MC_EDBCONN};
    if (gw_group_run(ctx->reports, &job) != 0)
        return MC_EDBCONN;
    return job.rc;
}

int gw_reports_start(struct gw_ctx *ctx)
{
    ctx->reports = gw_group_start(ctx->svc->cfg.database_url, "api-gateway-reports", REPORTS_MAX,
                                  NPARAMS, apply);
    return ctx->reports ? 0 : MC_ENOMEM;
}

/* After the HTTP server stopped: what is queued is applied, then the thread ends. */
void gw_reports_stop(struct gw_ctx *ctx)
{
    gw_group_stop(ctx->reports);
    ctx->reports = NULL;
}
