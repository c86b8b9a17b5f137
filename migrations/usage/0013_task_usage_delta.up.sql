-- Row-level changes of task_usage waiting for the rollup (issue 16): each insert, update or
-- delete of a usage row is logged here in the transaction that makes it (by statement-level
-- triggers, functions/task_usage_log_delta.sql), and the scheduled rollup folds the logged
-- rows into their hourly buckets (functions/rollup_fold_deltas.sql) instead of re-reading
-- every row of each hour that changed. A tick then costs what changed, wherever it falls.
CREATE TABLE usage.task_usage_delta (
    task_id            uuid        NOT NULL,
    provider           text        NOT NULL,
    model              text        NOT NULL,
    created_at         timestamptz NOT NULL,
    sign               smallint    NOT NULL CHECK (sign IN (-1, 1)),
    input_tokens       bigint      NOT NULL,
    output_tokens      bigint      NOT NULL,
    cache_read_tokens  bigint      NOT NULL,
    cache_write_tokens bigint      NOT NULL,
    cost_usd_ticks     bigint,
    logged_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE usage.task_usage_delta IS
    'Changes of task_usage not yet in task_usage_hourly: the row as it was (sign -1) and as it is (sign +1). The rollup folds them into their buckets under the attribution and prices in force when it runs, and deletes them in the same statement; a recompute of a bucket deletes the ones it covers. No index: the table holds only the changes since the last run.';
COMMENT ON COLUMN usage.task_usage_delta.task_id IS 'The usage row''s task.';
COMMENT ON COLUMN usage.task_usage_delta.provider IS 'The usage row''s provider.';
COMMENT ON COLUMN usage.task_usage_delta.model IS 'The usage row''s model.';
COMMENT ON COLUMN usage.task_usage_delta.created_at IS 'The usage row''s created_at: its bucket hour and the time its price is looked up at.';
COMMENT ON COLUMN usage.task_usage_delta.sign IS '-1: the row before the change (subtracted); +1: the row after it (added).';
COMMENT ON COLUMN usage.task_usage_delta.input_tokens IS 'The row''s input tokens.';
COMMENT ON COLUMN usage.task_usage_delta.output_tokens IS 'The row''s output tokens.';
COMMENT ON COLUMN usage.task_usage_delta.cache_read_tokens IS 'The row''s cache-read tokens.';
COMMENT ON COLUMN usage.task_usage_delta.cache_write_tokens IS 'The row''s cache-write tokens.';
COMMENT ON COLUMN usage.task_usage_delta.cost_usd_ticks IS 'The row''s reported cost (NULL: none reported).';
COMMENT ON COLUMN usage.task_usage_delta.logged_at IS 'Start of the transaction that changed the row.';

-- Rows changed since the last rollup before this migration have no logged change: their
-- buckets are queued, and the next run recomputes them.
INSERT INTO usage.task_usage_dirty AS d
       (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id, enqueued_at)
SELECT DISTINCT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model,
       date_trunc('hour', u.created_at, 'UTC'), ip.project_id, now()
  FROM usage.task_usage u
  JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL
  LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id
 WHERE u.updated_at >= coalesce((SELECT watermark FROM usage.rollup_state), '-infinity')
ON CONFLICT ON CONSTRAINT task_usage_dirty_key
DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at);
