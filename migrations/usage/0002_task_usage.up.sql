-- mc:replaces-checksum 8fb0446535f32c84
-- (This file once held the slice's SQL functions too; they moved to functions/, one file
-- each, re-applied after the numbered migrations. The checksum above is the old file's,
-- so that a database that applied it records the new text instead of warning.)
-- Ground truth of token usage, task attribution, the dirty-bucket queue, processed event ids,
-- the consumer offsets stored with each batch, and the batch function the ingester calls.

CREATE TABLE usage.task_usage (
    task_id            uuid        NOT NULL,
    provider           text        NOT NULL CHECK (provider = lower(provider) AND provider <> ''),
    model              text        NOT NULL CHECK (model <> ''),
    input_tokens       bigint      NOT NULL CHECK (input_tokens >= 0),
    output_tokens      bigint      NOT NULL CHECK (output_tokens >= 0),
    cache_read_tokens  bigint      NOT NULL CHECK (cache_read_tokens >= 0),
    cache_write_tokens bigint      NOT NULL CHECK (cache_write_tokens >= 0),
    reported_at        timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, provider, model)
);
COMMENT ON TABLE usage.task_usage IS
    'Latest cumulative token totals per (task, provider, model). A newer or equal report replaces the row and bumps updated_at; an older one changes nothing.';
COMMENT ON COLUMN usage.task_usage.task_id IS 'The task the tokens were spent on.';
COMMENT ON COLUMN usage.task_usage.provider IS 'Model provider, lowercase (anthropic, openai, ...).';
COMMENT ON COLUMN usage.task_usage.model IS 'Model name as the agent CLI reported it.';
COMMENT ON COLUMN usage.task_usage.input_tokens IS 'Input tokens excluding cache reads and cache writes.';
COMMENT ON COLUMN usage.task_usage.output_tokens IS 'Output tokens.';
COMMENT ON COLUMN usage.task_usage.cache_read_tokens IS 'Tokens read from the prompt cache.';
COMMENT ON COLUMN usage.task_usage.cache_write_tokens IS 'Tokens written to the prompt cache.';
COMMENT ON COLUMN usage.task_usage.reported_at IS 'reported_at of the report these totals come from (last-write-wins key).';
COMMENT ON COLUMN usage.task_usage.created_at IS 'reported_at of the first report applied for this key; never changes. Its UTC hour is the row''s rollup bucket.';
COMMENT ON COLUMN usage.task_usage.updated_at IS 'Database time of the last change; the rollup finds changed rows by it.';

CREATE TABLE usage.task_attribution (
    task_id      uuid        PRIMARY KEY,
    workspace_id uuid        NOT NULL,
    agent_id     uuid        NOT NULL,
    runtime_id   uuid        NOT NULL,
    issue_id     uuid,
    version      bigint      NOT NULL CHECK (version >= 1),
    deleted_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE usage.task_attribution IS
    'Who a task''s usage belongs to, projected from multica.task.events by per-task version. The workspace is the agent''s.';
COMMENT ON COLUMN usage.task_attribution.task_id IS 'The task.';
COMMENT ON COLUMN usage.task_attribution.workspace_id IS 'Workspace of the task''s agent.';
COMMENT ON COLUMN usage.task_attribution.agent_id IS 'Agent the task is assigned to.';
COMMENT ON COLUMN usage.task_attribution.runtime_id IS 'Runtime the task runs (or ran) on; a reassignment moves the task''s usage.';
COMMENT ON COLUMN usage.task_attribution.issue_id IS 'Issue the task belongs to, if any.';
COMMENT ON COLUMN usage.task_attribution.version IS 'Version of the newest task event applied; older events change nothing.';
COMMENT ON COLUMN usage.task_attribution.deleted_at IS 'Set by TaskDeleted: the task''s usage was deleted and later reports are ignored.';
COMMENT ON COLUMN usage.task_attribution.updated_at IS 'Database time of the last change.';

CREATE TABLE usage.task_usage_dirty (
    workspace_id uuid        NOT NULL,
    runtime_id   uuid        NOT NULL,
    agent_id     uuid        NOT NULL,
    provider     text        NOT NULL,
    model        text        NOT NULL,
    bucket_hour  timestamptz NOT NULL,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
);
COMMENT ON TABLE usage.task_usage_dirty IS
    'Explicit invalidations of hourly buckets (reassignment, deletion, late attribution) that updated_at cannot reveal. Re-enqueueing keeps the newest enqueued_at, so an invalidation arriving during a rollup survives its drain.';
COMMENT ON COLUMN usage.task_usage_dirty.workspace_id IS 'Bucket key: workspace.';
COMMENT ON COLUMN usage.task_usage_dirty.runtime_id IS 'Bucket key: runtime.';
COMMENT ON COLUMN usage.task_usage_dirty.agent_id IS 'Bucket key: agent.';
COMMENT ON COLUMN usage.task_usage_dirty.provider IS 'Bucket key: provider.';
COMMENT ON COLUMN usage.task_usage_dirty.model IS 'Bucket key: model.';
COMMENT ON COLUMN usage.task_usage_dirty.bucket_hour IS 'Bucket key: the UTC hour.';
COMMENT ON COLUMN usage.task_usage_dirty.enqueued_at IS 'Latest time the bucket was invalidated; the rollup drains entries enqueued before its window end.';

CREATE TABLE usage.processed_events (
    event_id     uuid        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE usage.processed_events IS
    'Ids of events already applied, so a replayed or re-sent event is a no-op even across partitions. Pruned after 7 days.';
COMMENT ON COLUMN usage.processed_events.event_id IS 'CloudEvents id of an applied event.';
COMMENT ON COLUMN usage.processed_events.processed_at IS 'When it was applied (for pruning).';

CREATE TABLE usage.consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
COMMENT ON TABLE usage.consumer_offsets IS
    'Kafka positions of the ingester, written in the same transaction as the batch they cover: the source of truth for where to resume.';
COMMENT ON COLUMN usage.consumer_offsets.group_id IS 'Kafka consumer group.';
COMMENT ON COLUMN usage.consumer_offsets.topic IS 'Topic.';
COMMENT ON COLUMN usage.consumer_offsets.partition IS 'Partition.';
COMMENT ON COLUMN usage.consumer_offsets.next_offset IS 'Offset of the next message to apply.';
COMMENT ON COLUMN usage.consumer_offsets.updated_at IS 'When the last batch committed.';

GRANT SELECT ON usage.task_usage, usage.task_attribution TO multica_gateway;