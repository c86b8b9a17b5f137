/* message_writer.c: the daemons' streamed messages (POST .../messages) stored in group commits
 * (issue 17).
 *
 * Each batch was its own transaction and its own synchronous WAL flush, about one per task in
 * the dispatch benchmark, and the only write of a task's lifecycle that still committed alone.
 * A group writer (group_writer.c) takes every batch that arrived while it was busy (all tasks,
 * up to MESSAGES_MAX), stores them in one call (gateway.daemon_messages_grouped) and one commit,
 * and hands each waiting handler its outcome, so an answer still means the messages are
 * durably stored. When the group's call fails, each batch is stored alone, so that a bad one
 * fails only itself. A group is one batch at light load: nothing waits for others to come. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>

#define MESSAGES_MAX 64 /* batches a group: each may carry up to 500 messages */
#define NPARAMS      4

/* A batch the handler waits on, and what storing it came to. */
struct message_job {
    const char *const *p;
    char outcome[16];
    int stored;
    int rc;
};

static void copy_row(struct message_job *job, const PGresult *r, int row)
{
    snprintf(job->outcome, sizeof job->outcome, "%s", PQgetvalue(r, row, 0));
    job->stored = PQgetisnull(r, row, 1) ? 0 : atoi(PQgetvalue(r, row, 1));
}

static void log_error(mc_db *db, const char *what)
{
    MC_LOG_ERROR_AT(json_pack("{ss ss ss}", "sqlstate", mc_db_sqlstate(db), "error",
                              mc_db_errmsg(db), "call", what),
                    "database error in a daemon's messages");
}

static int store_one(mc_db *db, struct message_job *job)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_DAEMON_MESSAGES, NPARAMS, job->p, &r);
    if (rc == 0 && PQntuples(r) == 1)
        copy_row(job, r, 0);
    else if (rc == 0)
        rc = MC_EINVAL;
    if (rc != 0 && rc != MC_EDBCONN)
        log_error(db, "daemon_messages");
    PQclear(r);
    return rc;
}

/* A job's parameters, for gw_group_arrays. */
static const char *const *job_params(void *arg)
{
    return ((struct message_job *)arg)->p;
}

/* Stores the jobs in one call and one commit, or each alone when that call fails. */
static void apply(mc_db *db, void *const *args, int n, struct mc_pgarr *arr)
{
    struct message_job *const *jobs = (struct message_job *const *)args;
    if (n == 1) { /* alone: the single call, without the arrays */
        jobs[0]->rc = store_one(db, jobs[0]);
        return;
    }
    const char *p[NPARAMS];
    gw_group_arrays(args, n, job_params, arr, NPARAMS, p);
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_DAEMON_MESSAGES_GROUPED, NPARAMS, p, &r);
    if (rc == 0 && PQntuples(r) == n) {
        for (int i = 0; i < n; i++) {
            copy_row(jobs[i], r, i);
            jobs[i]->rc = 0;
        }
    } else {
        if (rc != MC_EDBCONN)
            log_error(db, "daemon_messages_grouped");
        for (int i = 0; i < n; i++)
            jobs[i]->rc = store_one(db, jobs[i]);
    }
    PQclear(r);
}

int gw_messages_apply(struct gw_ctx *ctx, const char *const *p, char outcome[16], int *stored)
{
    struct message_job job = {.p = p, .rc = MC_EDBCONN};
    if (gw_group_run(ctx->messages, &job) != 0)
        return MC_EDBCONN;
    snprintf(outcome, 16, "%s", job.outcome);
    *stored = job.stored;
    return job.rc;
}

int gw_messages_start(struct gw_ctx *ctx)
{
    ctx->messages = gw_group_start(ctx->svc->cfg.database_url, "api-gateway-messages", MESSAGES_MAX,
                                   NPARAMS, apply);
    return ctx->messages ? 0 : MC_ENOMEM;
}

/* After the HTTP server stopped: what is queued is stored, then the thread ends. */
void gw_messages_stop(struct gw_ctx *ctx)
{
    gw_group_stop(ctx->messages);
    ctx->messages = NULL;
}
