/* statements.c: every SQL statement of the scheduler, by id. */
#include "scheduler.h"

/* Timestamps leave Postgres as RFC 3339 UTC text, the form the events carry. */
#define RFC3339(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

const struct mc_db_stmt rs_stmts[] = {
    [RS_CLAIM] =
        {"rs_claim",
         "SELECT id, " RFC3339(
             "plan_time") ", attempt, lease_token FROM "
                          "scheduler.claim_plan($1, 'global', '', $2::interval, $3, $4::interval, "
                          "$5::interval[], $6)"},
    [RS_HEARTBEAT] = {"rs_heartbeat", "SELECT scheduler.heartbeat($1, $2, $3::interval)"},
    [RS_FINISH] = {"rs_finish", "SELECT scheduler.finish($1, $2, $3, $4::jsonb, $5, $6, $7)"},
    [RS_STATEMENT_TIMEOUT] = {"rs_statement_timeout",
                              "SELECT set_config('statement_timeout', $1, true)"},
    [RS_WATERMARK] = {"rs_watermark", "SELECT " RFC3339("usage.rollup_watermark()")},
    [RS_ROLLUP] = {"rs_rollup", "SELECT usage.rollup_task_usage_hourly()"},
    [RS_QUARANTINED] = {"rs_quarantined", "SELECT usage.rollup_quarantined()"},
    [RS_LAG] = {"rs_lag", "SELECT usage.task_usage_rollup_lag_seconds()"},
    [RS_EXECUTION] = {"rs_execution",
                      "SELECT job_name, scope_kind, scope_id, " RFC3339(
                          "plan_time") ", status, "
                                       "attempt, runner_id, error_code, error_msg, "
                                       "sqlstate, " RFC3339("started_at") ", " RFC3339(
                                           "finished_at") ", result::text "
                                                          "FROM scheduler.sys_cron_executions "
                                                          "WHERE id = $1"},
    [RS_CHANGES] = {"rs_changes",
                    "SELECT seq, workspace_id, runtime_id, agent_id, provider, model, " RFC3339(
                        "bucket_hour") ", input_tokens, output_tokens, cache_read_tokens, "
                                       "cache_write_tokens, task_count, deleted, revision, "
                                       "project_id, cost_usd_ticks, uncosted_input_tokens, "
                                       "uncosted_output_tokens, uncosted_cache_read_tokens, "
                                       "uncosted_cache_write_tokens, estimated_cost_usd_ticks, "
                                       "unpriced_tokens FROM usage.hourly_changes($1)"},
    [RS_ACK] = {"rs_ack", "SELECT usage.ack_hourly_changes($1)"},
};
MC_STATIC_ASSERT_LEN(rs_stmts, RS_NSTMTS);
