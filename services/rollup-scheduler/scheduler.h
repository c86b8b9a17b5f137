/* scheduler.h: the in-process DB-backed scheduler: jobs, claims, runs and publishing. */
#ifndef RS_SCHEDULER_H
#define RS_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mc_common.h"
#include "mc_db.h"
#include "mc_http.h"
#include "mc_kafka.h"
#include "mc_service.h"

enum {
    RS_CLAIM,
    RS_HEARTBEAT,
    RS_FINISH,
    RS_STATEMENT_TIMEOUT,
    RS_WATERMARK,
    RS_ROLLUP,
    RS_QUARANTINED,
    RS_LAG,
    RS_EXECUTION,
    RS_CHANGES,
    RS_ACK,
    RS_NSTMTS
};
extern const struct mc_db_stmt rs_stmts[];

struct rs_ctx;

/* A job's body: runs inside the transaction that also records its success, so the job's
 * effect and its SUCCESS row commit together. Returns 0 with *result set (a JSON object,
 * owned by the caller), or an mc_err code (the database error is in mc_db_sqlstate/errmsg). */
typedef int (*rs_job_fn)(struct rs_ctx *ctx, mc_db *db, json_t **result);

/* One scheduled job: adding a job is one line in jobs.c. */
struct rs_job {
    const char *name;
    int64_t *interval_ms; /* plan interval, from configuration */
    rs_job_fn run;
};

extern const struct rs_job rs_jobs[];
extern const size_t rs_njobs;

/* ROLLUP_INTERVAL, the rollup job's plan interval (set by the configuration table). */
extern int64_t rs_rollup_interval_ms;

struct rs_ctx {
    struct mc_service *svc;
    mc_db *db;
    mc_producer *producer;
    char runner_id[128];
    int64_t tick_ms;
    int64_t lease_ms;
    int64_t run_timeout_ms;
    int64_t max_attempts;
    char *backoff;         /* "1m,5m,15m" */
    char backoff_sql[256]; /* the same as a Postgres interval[] literal */
    struct {
        mc_metric *success, *failure, *lost, *last_success, *lag, *published, *run_seconds,
            *quarantined;
    } m;
};

/* plan_claim.c: claims the job's plan and, when won, runs it under a heartbeat and records
 * the outcome; publishes CronExecutionFinished. Returns true when this replica ran it. */
bool rs_run_job_once(struct rs_ctx *ctx, const struct rs_job *job);

/* publish.c */
void rs_publish_execution(struct rs_ctx *ctx, const char *execution_id);
/* Publishes pending hourly bucket changes to multica.usage.hourly; returns how many. */
int rs_publish_hourly(struct rs_ctx *ctx);

/* Parses "1m,5m,15m" into a Postgres interval[] literal; returns 0 or MC_EINVAL. */
int rs_backoff_literal(const char *spec, char *out, size_t outlen);

#endif
