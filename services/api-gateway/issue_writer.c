/* issue_writer.c: creations of issues in group commits (issue 17).
 *
 * An issue's number is its workspace's counter plus one, taken by an update of the workspace's
 * row, and that row stays locked until the creation commits (its WAL flush included): every
 * creation in a workspace waited for the one before, and each was its own transaction and
 * commit. A group writer (group_writer.c) takes every plain creation that arrived while it was
 * busy (no assignee and no project: the issue's row alone, no event) and creates them in one
 * call (gateway.create_issues: each workspace's counter moved once, consecutive numbers in
 * arrival order) and one commit, so the lock is held once for all of them. When that call
 * fails nothing of it commits, and each creation runs alone, in its handler's own transaction
 * as before, so that a bad one fails only itself. */
#include "gateway.h"
#include "mc_log.h"

#include <stdlib.h>

#define ISSUES_MAX 256
#define NPARAMS    9

/* A creation the handler waits on: gateway.create_issues's nine parameters, then the issue's
 * JSON (malloc'd) when it was created, NULL when the handler must create it alone. */
struct issue_job {
    const char *const *p;
    char *json;
};

/* A job's parameters, for gw_group_arrays. */
static const char *const *job_params(void *arg)
{
    return ((struct issue_job *)arg)->p;
}

static void apply(mc_db *db, void *const *args, int n, struct mc_pgarr *arr)
{
    struct issue_job *const *jobs = (struct issue_job *const *)args;
    const char *p[NPARAMS];
    gw_group_arrays(args, n, job_params, arr, NPARAMS, p);
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_ISSUES_CREATE, NPARAMS, p, &r);
    if (rc == 0 && PQntuples(r) == n) {
        for (int i = 0; i < n; i++)
            jobs[i]->json = mc_strdup(PQgetvalue(r, i, 1));
    } else if (rc != MC_EDBCONN) {
        mc_log_warn(json_pack("{ss ss si}", "sqlstate", mc_db_sqlstate(db), "error",
                              mc_db_errmsg(db), "issues", n),
                    "issues created one at a time: their group's call failed");
    }
    PQclear(r);
}

char *gw_issue_create_grouped(struct gw_ctx *ctx, const char *const *p)
{
    struct issue_job job = {.p = p};
    if (gw_group_run(ctx->issues, &job) != 0)
        return NULL;
    return job.json;
}

int gw_issues_start(struct gw_ctx *ctx)
{
    ctx->issues = gw_group_start(ctx->svc->cfg.database_url, "api-gateway-issues", ISSUES_MAX,
                                 NPARAMS, apply);
    return ctx->issues ? 0 : MC_ENOMEM;
}

void gw_issues_stop(struct gw_ctx *ctx)
{
    gw_group_stop(ctx->issues);
    ctx->issues = NULL;
}
