-- Token counts are bounded (10^10 of one kind per report: docs/SELF_HOSTING_ADVANCED.md says
-- why), and one bucket whose sums cannot be stored no longer stops the rollup for everyone.
-- 1. Rows accepted before the bound with counts beyond it move to task_usage_refused: kept,
--    out of every total, their buckets queued for the rollup to recompute without them.
-- 2. rollup_quarantine holds buckets whose sums do not fit the hourly table's bigint columns;
--    the rollup skips them (and says so) instead of failing.

CREATE TABLE usage.task_usage_refused (
    task_id            uuid        NOT NULL,
    provider           text        NOT NULL,
    model              text        NOT NULL,
    input_tokens       bigint      NOT NULL,
    output_tokens      bigint      NOT NULL,
    cache_read_tokens  bigint      NOT NULL,
    cache_write_tokens bigint      NOT NULL,
    reported_at        timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    refused_at         timestamptz NOT NULL DEFAULT now(),
    reason             text        NOT NULL,
    PRIMARY KEY (task_id, provider, model)
);
COMMENT ON TABLE usage.task_usage_refused IS
    'Usage rows taken out of task_usage because a count exceeds what one report may carry (10^10 per kind); kept for operators, counted nowhere.';
COMMENT ON COLUMN usage.task_usage_refused.task_id IS 'The task the row was reported for.';
COMMENT ON COLUMN usage.task_usage_refused.provider IS 'Provider of the row.';
COMMENT ON COLUMN usage.task_usage_refused.model IS 'Model of the row.';
COMMENT ON COLUMN usage.task_usage_refused.input_tokens IS 'Input tokens as reported.';
COMMENT ON COLUMN usage.task_usage_refused.output_tokens IS 'Output tokens as reported.';
COMMENT ON COLUMN usage.task_usage_refused.cache_read_tokens IS 'Cache-read tokens as reported.';
COMMENT ON COLUMN usage.task_usage_refused.cache_write_tokens IS 'Cache-write tokens as reported.';
COMMENT ON COLUMN usage.task_usage_refused.reported_at IS 'reported_at of the row.';
COMMENT ON COLUMN usage.task_usage_refused.created_at IS 'created_at of the row (its bucket hour).';
COMMENT ON COLUMN usage.task_usage_refused.refused_at IS 'When it was taken out of task_usage.';
COMMENT ON COLUMN usage.task_usage_refused.reason IS 'Why.';

CREATE TABLE usage.rollup_quarantine (
    workspace_id       uuid        NOT NULL,
    runtime_id         uuid        NOT NULL,
    agent_id           uuid        NOT NULL,
    provider           text        NOT NULL,
    model              text        NOT NULL,
    bucket_hour        timestamptz NOT NULL,
    input_tokens       numeric     NOT NULL,
    output_tokens      numeric     NOT NULL,
    cache_read_tokens  numeric     NOT NULL,
    cache_write_tokens numeric     NOT NULL,
    task_count         integer     NOT NULL,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
);
COMMENT ON TABLE usage.rollup_quarantine IS
    'Hourly buckets whose sums do not fit a bigint: the rollup leaves them out of task_usage_hourly (the rest of its window goes on) and reports them in sys_cron_executions and /metrics. A bucket leaves the quarantine when a later run can store it.';
COMMENT ON COLUMN usage.rollup_quarantine.workspace_id IS 'Bucket key: workspace.';
COMMENT ON COLUMN usage.rollup_quarantine.runtime_id IS 'Bucket key: runtime.';
COMMENT ON COLUMN usage.rollup_quarantine.agent_id IS 'Bucket key: agent.';
COMMENT ON COLUMN usage.rollup_quarantine.provider IS 'Bucket key: provider.';
COMMENT ON COLUMN usage.rollup_quarantine.model IS 'Bucket key: model.';
COMMENT ON COLUMN usage.rollup_quarantine.bucket_hour IS 'Bucket key: UTC hour.';
COMMENT ON COLUMN usage.rollup_quarantine.input_tokens IS 'The sum that did not fit (or the others'' sums).';
COMMENT ON COLUMN usage.rollup_quarantine.output_tokens IS 'Sum of output tokens.';
COMMENT ON COLUMN usage.rollup_quarantine.cache_read_tokens IS 'Sum of cache-read tokens.';
COMMENT ON COLUMN usage.rollup_quarantine.cache_write_tokens IS 'Sum of cache-write tokens.';
COMMENT ON COLUMN usage.rollup_quarantine.task_count IS 'Tasks in the bucket.';
COMMENT ON COLUMN usage.rollup_quarantine.first_seen_at IS 'The first run that could not store it.';
COMMENT ON COLUMN usage.rollup_quarantine.last_seen_at IS 'The last run that could not store it.';

-- Rows beyond the bound: their buckets are queued, then they move out of task_usage.
INSERT INTO usage.task_usage_dirty AS d
       (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, enqueued_at)
SELECT DISTINCT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model,
       date_trunc('hour', u.created_at, 'UTC'), clock_timestamp()
  FROM usage.task_usage u
  JOIN usage.task_attribution a ON a.task_id = u.task_id
 WHERE greatest(u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens)
       > 10000000000
ON CONFLICT (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at);
WITH moved AS (
    DELETE FROM usage.task_usage
     WHERE greatest(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
           > 10000000000
    RETURNING *)
INSERT INTO usage.task_usage_refused
       (task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
        cache_write_tokens, reported_at, created_at, reason)
SELECT task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
       cache_write_tokens, reported_at, created_at,
       'a count exceeds 10^10, the most one report may carry (migration 0008)'
  FROM moved;
