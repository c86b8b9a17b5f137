-- mc:replaces-checksum eff8bdcb34239c58
-- (This file once held the slice's SQL functions too; they moved to functions/, one file
-- each, re-applied after the numbered migrations. The checksum above is the old file's,
-- so that a database that applied it records the new text instead of warning.)
-- The hourly rollup: task_usage_hourly, its state, the outbox of changed buckets for
-- multica.usage.hourly, and the rollup functions (window primitive and scheduled entry point).

CREATE SEQUENCE usage.task_usage_hourly_revision_seq;
COMMENT ON SEQUENCE usage.task_usage_hourly_revision_seq IS
    'Revisions of hourly buckets: every change of a bucket takes the next value.';

CREATE TABLE usage.task_usage_hourly (
    workspace_id       uuid        NOT NULL,
    runtime_id         uuid        NOT NULL,
    agent_id           uuid        NOT NULL,
    provider           text        NOT NULL,
    model              text        NOT NULL,
    bucket_hour        timestamptz NOT NULL CHECK (bucket_hour = date_trunc('hour', bucket_hour, 'UTC')),
    input_tokens       bigint      NOT NULL,
    output_tokens      bigint      NOT NULL,
    cache_read_tokens  bigint      NOT NULL,
    cache_write_tokens bigint      NOT NULL,
    task_count         integer     NOT NULL CHECK (task_count > 0),
    revision           bigint      NOT NULL DEFAULT nextval('usage.task_usage_hourly_revision_seq'),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
);
COMMENT ON TABLE usage.task_usage_hourly IS
    'Usage summed per (workspace, runtime, agent, provider, model, UTC hour), recomputed from task_usage by the rollup. Dashboards read this, O(buckets).';
COMMENT ON COLUMN usage.task_usage_hourly.workspace_id IS 'Workspace of the tasks'' agent.';
COMMENT ON COLUMN usage.task_usage_hourly.runtime_id IS 'Runtime the tasks ran on.';
COMMENT ON COLUMN usage.task_usage_hourly.agent_id IS 'Agent the tasks belong to.';
COMMENT ON COLUMN usage.task_usage_hourly.provider IS 'Provider (lowercase).';
COMMENT ON COLUMN usage.task_usage_hourly.model IS 'Model.';
COMMENT ON COLUMN usage.task_usage_hourly.bucket_hour IS 'Start of the UTC hour holding the usage rows'' created_at.';
COMMENT ON COLUMN usage.task_usage_hourly.input_tokens IS 'Sum of input tokens (cache excluded).';
COMMENT ON COLUMN usage.task_usage_hourly.output_tokens IS 'Sum of output tokens.';
COMMENT ON COLUMN usage.task_usage_hourly.cache_read_tokens IS 'Sum of cache-read tokens.';
COMMENT ON COLUMN usage.task_usage_hourly.cache_write_tokens IS 'Sum of cache-write tokens.';
COMMENT ON COLUMN usage.task_usage_hourly.task_count IS 'Number of tasks with usage in the bucket.';
COMMENT ON COLUMN usage.task_usage_hourly.revision IS 'Revision of the bucket''s current values (grows with each change).';
COMMENT ON COLUMN usage.task_usage_hourly.updated_at IS 'When the rollup last changed the bucket.';
CREATE INDEX task_usage_hourly_runtime_idx ON usage.task_usage_hourly (runtime_id, bucket_hour);
CREATE INDEX task_usage_hourly_workspace_idx ON usage.task_usage_hourly (workspace_id, bucket_hour);

CREATE TABLE usage.rollup_state (
    singleton            boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    watermark            timestamptz,
    last_run_started_at  timestamptz,
    last_run_finished_at timestamptz,
    last_changed         integer
);
COMMENT ON TABLE usage.rollup_state IS 'The rollup''s progress (one row).';
COMMENT ON COLUMN usage.rollup_state.singleton IS 'Always true: there is one state row.';
COMMENT ON COLUMN usage.rollup_state.watermark IS 'task_usage rows updated before this time are rolled up; NULL before the first run.';
COMMENT ON COLUMN usage.rollup_state.last_run_started_at IS 'Start of the last run of the entry point.';
COMMENT ON COLUMN usage.rollup_state.last_run_finished_at IS 'End of the last successful run (the lag helper reads it).';
COMMENT ON COLUMN usage.rollup_state.last_changed IS 'Buckets the last run changed.';
INSERT INTO usage.rollup_state DEFAULT VALUES;

CREATE TABLE usage.hourly_outbox (
    seq                bigserial   PRIMARY KEY,
    workspace_id       uuid        NOT NULL,
    runtime_id         uuid        NOT NULL,
    agent_id           uuid        NOT NULL,
    provider           text        NOT NULL,
    model              text        NOT NULL,
    bucket_hour        timestamptz NOT NULL,
    input_tokens       bigint      NOT NULL,
    output_tokens      bigint      NOT NULL,
    cache_read_tokens  bigint      NOT NULL,
    cache_write_tokens bigint      NOT NULL,
    task_count         integer     NOT NULL,
    deleted            boolean     NOT NULL,
    revision           bigint      NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE usage.hourly_outbox IS
    'Bucket changes waiting to be published to multica.usage.hourly by the scheduler; pruned after 7 days if nobody publishes them.';
COMMENT ON COLUMN usage.hourly_outbox.seq IS 'Publication order.';
COMMENT ON COLUMN usage.hourly_outbox.workspace_id IS 'Bucket key: workspace.';
COMMENT ON COLUMN usage.hourly_outbox.runtime_id IS 'Bucket key: runtime.';
COMMENT ON COLUMN usage.hourly_outbox.agent_id IS 'Bucket key: agent.';
COMMENT ON COLUMN usage.hourly_outbox.provider IS 'Bucket key: provider.';
COMMENT ON COLUMN usage.hourly_outbox.model IS 'Bucket key: model.';
COMMENT ON COLUMN usage.hourly_outbox.bucket_hour IS 'Bucket key: UTC hour.';
COMMENT ON COLUMN usage.hourly_outbox.input_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.output_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.cache_read_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.cache_write_tokens IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.task_count IS 'New value (0 when deleted).';
COMMENT ON COLUMN usage.hourly_outbox.deleted IS 'The bucket became empty and was removed.';
COMMENT ON COLUMN usage.hourly_outbox.revision IS 'Revision of this state of the bucket.';
COMMENT ON COLUMN usage.hourly_outbox.created_at IS 'When the change was made.';
GRANT SELECT ON usage.task_usage_hourly TO multica_gateway;