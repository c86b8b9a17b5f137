/* report_writer.c: the daemon's reports (start, progress, complete, fail, cancel-ack) applied
 * in group commits (issue 17).
 *
 * Each report was its own transaction and its own synchronous WAL flush, about four per task.
 * One writer thread takes every report that arrived while it was busy (all tasks, up to
 * REPORTS_MAX), applies them in one call (gateway.daemon_reports, in arrival order) and one
 * commit, and hands each waiting handler its row, so an answer still means the report is
 * durably applied. There is no added wait: at light load a batch is the one report that came,
 * under load it is what queued during the previous commit. When the batch's call fails, each
 * of its reports is applied alone, so that a bad one fails only itself. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORTS_MAX 256
#define NPARAMS     8

struct job {
    struct gw_report *rep;
    int rc;
    bool done;
    struct job *next;
};

struct gw_reports {
    struct gw_ctx *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more, done;
    struct job *head, **tail;
    bool stopping;
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

/* Applies jobs[0..n) in one call and one commit, or each alone when that call fails. */
static void apply(mc_db *db, struct job **jobs, int n, struct mc_pgarr *arr)
{
    const char *p[NPARAMS];
    for (int k = 0; k < NPARAMS; k++) {
        mc_pgarr_reset(&arr[k]);
        for (int i = 0; i < n; i++)
            mc_pgarr_add_text(&arr[k], jobs[i]->rep->p[k]);
        p[k] = mc_pgarr_str(&arr[k]);
    }
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

static void *write_loop(void *arg)
{
    struct gw_reports *w = arg;
    mc_db *db =
        mc_db_new(w->ctx->svc->cfg.database_url, gw_stmts, GW_NSTMTS, "api-gateway-reports");
    struct mc_pgarr arr[NPARAMS] = {0};
    struct job *jobs[REPORTS_MAX];
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->more, &w->mu);
        int n = 0;
        while (w->head != NULL && n < REPORTS_MAX) {
            jobs[n++] = w->head;
            w->head = w->head->next;
        }
        if (w->head == NULL)
            w->tail = &w->head;
        pthread_mutex_unlock(&w->mu);
        if (n == 0)
            break; /* stopping, and nothing left */
        apply(db, jobs, n, arr);
        pthread_mutex_lock(&w->mu);
        for (int i = 0; i < n; i++)
            jobs[i]->done = true; /* the handler's job: not touched after this */
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->mu);
    }
    for (int k = 0; k < NPARAMS; k++)
        mc_pgarr_free(&arr[k]);
    mc_db_free(db);
    return NULL;
}

int gw_report_apply(struct gw_ctx *ctx, struct gw_report *rep)
{
    struct gw_reports *w = ctx->reports;
    struct job job = {.rep = rep, .rc = MC_EDBCONN};
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        pthread_mutex_unlock(&w->mu);
        return MC_EDBCONN;
    }
    *w->tail = &job;
    w->tail = &job.next;
    pthread_cond_signal(&w->more);
    while (!job.done)
        pthread_cond_wait(&w->done, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return job.rc;
}

int gw_reports_start(struct gw_ctx *ctx)
{
    struct gw_reports *w = mc_calloc(1, sizeof *w);
    w->ctx = ctx;
    w->tail = &w->head;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->more, NULL);
    pthread_cond_init(&w->done, NULL);
    if (pthread_create(&w->thread, NULL, write_loop, w) != 0) {
        free(w);
        return MC_ENOMEM;
    }
    ctx->reports = w;
    return 0;
}

/* After the HTTP server stopped: what is queued is applied, then the thread ends. */
void gw_reports_stop(struct gw_ctx *ctx)
{
    struct gw_reports *w = ctx->reports;
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->more);
    pthread_cond_destroy(&w->done);
    free(w);
    ctx->reports = NULL;
}
