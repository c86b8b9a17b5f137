/* main.c: multica-rollup-scheduler wiring: config, database, Kafka, HTTP, signals, ticks. */
#include "scheduler.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void register_metrics(struct rs_ctx *ctx)
{
    /* job_name, as the column of scheduler.sys_cron_executions: a label named job would clash
     * with the job Prometheus sets for the scrape (and be renamed exported_job). */
    const char *job = "job_name=\"rollup_task_usage_hourly\"";
    ctx->m.success = mc_counter("multica_scheduler_runs_total", "Plans this replica ran.",
                                "job_name=\"rollup_task_usage_hourly\",status=\"success\"");
    ctx->m.failure = mc_counter("multica_scheduler_runs_total", "Plans this replica ran.",
                                "job_name=\"rollup_task_usage_hourly\",status=\"failed\"");
    ctx->m.lost = mc_counter("multica_scheduler_leases_lost_total",
                             "Runs discarded because another replica took the plan over.", job);
    ctx->m.last_success = mc_gauge("multica_scheduler_last_success_timestamp_seconds",
                                   "Unix time of this replica's last successful run.", job);
    ctx->m.run_seconds = mc_histogram("multica_scheduler_run_seconds", "Duration of job runs.", job,
                                      mc_latency_buckets, mc_nlatency_buckets);
    ctx->m.lag = mc_gauge("multica_usage_rollup_lag_seconds",
                          "Seconds since the last finished rollup run (any runner).", NULL);
    ctx->m.published = mc_counter("multica_scheduler_hourly_published_total",
                                  "Hourly bucket changes published to multica.usage.hourly.", NULL);
    ctx->m.quarantined = mc_gauge("multica_usage_rollup_quarantined_buckets",
                                  "Hourly buckets the rollup leaves out because a sum does not fit "
                                  "(usage.rollup_quarantine), as of this replica's last run.",
                                  NULL);
}

static void refresh_lag(struct rs_ctx *ctx)
{
    PGresult *r = NULL;
    if (mc_db_exec(ctx->db, RS_LAG, 0, NULL, &r) == 0 && mc_db_value(r))
        mc_metric_set(ctx->m.lag, atof(mc_db_value(r)));
    PQclear(r);
}

int main(int argc, char **argv)
{
    struct mc_service svc;
    struct rs_ctx ctx = {.svc = &svc};
    char *runner = NULL;
    const struct mc_config_var vars[] = {
        {"SCHEDULER_TICK", MC_CFG_DURATION, "30s", 100, 3600000, &ctx.tick_ms,
         "how often each replica tries to claim the current plan"},
        {"ROLLUP_INTERVAL", MC_CFG_DURATION, "5m", 1000, 86400000, &rs_rollup_interval_ms,
         "plan interval of the hourly usage rollup"},
        {"SCHEDULER_LEASE", MC_CFG_DURATION, "2m", 1000, 3600000, &ctx.lease_ms,
         "a running plan not heartbeated for this long is declared stale"},
        {"SCHEDULER_RUN_TIMEOUT", MC_CFG_DURATION, "10m", 1000, 86400000, &ctx.run_timeout_ms,
         "statement timeout of a job run (failure code run_timeout)"},
        {"SCHEDULER_RETRY_BACKOFF", MC_CFG_STRING, "1m,5m,15m", 0, 0, &ctx.backoff,
         "waits before retrying a failed plan, by attempt"},
        {"SCHEDULER_MAX_ATTEMPTS", MC_CFG_INT, "3", 1, 100, &ctx.max_attempts, "attempts per plan"},
        {"RUNNER_ID", MC_CFG_STRING, "", 0, 0, &runner, "this replica's name (default host:pid)"},
    };
    if (mc_service_init(&svc, "rollup-scheduler", "scheduler", 8083, vars, MC_ARRAY_LEN(vars), argc,
                        argv) != 0)
        return 2;
    if (rs_backoff_literal(ctx.backoff, ctx.backoff_sql, sizeof ctx.backoff_sql) != 0) {
        fprintf(stderr,
                "multica-rollup-scheduler: configuration error: SCHEDULER_RETRY_BACKOFF: "
                "must be a list of durations such as 1m,5m,15m, got '%s'\n",
                ctx.backoff);
        mc_service_close(&svc);
        return 2;
    }
    if (runner != NULL && *runner) {
        snprintf(ctx.runner_id, sizeof ctx.runner_id, "%s", runner);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(ctx.runner_id, sizeof ctx.runner_id, "%s:%d", host, (int)getpid());
    }
    register_metrics(&ctx);
    int status = 1;
    char err[512];
    ctx.db = mc_db_new(svc.cfg.database_url, rs_stmts, RS_NSTMTS, "rollup-scheduler");
    ctx.producer =
        mc_producer_new(svc.cfg.kafka_brokers, "multica-rollup-scheduler", 10000, err, sizeof err);
    if (ctx.producer == NULL) {
        fprintf(stderr, "multica-rollup-scheduler: kafka: %s\n", err);
        goto cleanup;
    }
    mc_service_watch_kafka(&svc, mc_producer_handle(ctx.producer));
    if (mc_http_start(svc.http) != 0)
        goto cleanup;
    mc_service_migrate(&svc);
    mc_log_info(json_pack("{ss sI sI}", "runner", ctx.runner_id, "tick_ms", (json_int_t)ctx.tick_ms,
                          "rollup_interval_ms", (json_int_t)rs_rollup_interval_ms),
                "scheduling");
    /* The first tick runs at start-up; then one every SCHEDULER_TICK. */
    while (!mc_service_stopping()) {
        for (size_t i = 0; i < rs_njobs && !mc_service_stopping(); i++)
            rs_run_job_once(&ctx, &rs_jobs[i]);
        rs_publish_hourly(&ctx);
        refresh_lag(&ctx);
        mc_sleep_ms_interruptible(ctx.tick_ms, mc_service_stop_flag());
    }
    mc_log_info(NULL, "stopping");
    status = 0;
cleanup:
    mc_http_free(svc.http);
    svc.http = NULL;
    mc_producer_free(ctx.producer, (int)svc.cfg.shutdown_grace);
    mc_db_free(ctx.db);
    mc_service_close(&svc);
    return status;
}
