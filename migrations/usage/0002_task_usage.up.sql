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

-- Enqueues the hour buckets of every usage row of the given tasks under the given
-- attribution (one row per task in the arrays). A re-enqueued bucket keeps the newest
-- enqueued_at so the rollup's drain can never swallow a late invalidation.
CREATE FUNCTION usage.enqueue_task_buckets(p_task_ids uuid[], p_workspace uuid[], p_runtime uuid[],
                                           p_agent uuid[])
RETURNS integer LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO usage.task_usage_dirty AS d
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, enqueued_at)
        SELECT k.*, clock_timestamp()
          FROM (SELECT DISTINCT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model,
                       date_trunc('hour', u.created_at, 'UTC')
                  FROM unnest(p_task_ids, p_workspace, p_runtime, p_agent)
                         AS a(task_id, workspace_id, runtime_id, agent_id)
                  JOIN usage.task_usage u ON u.task_id = a.task_id
                 WHERE a.workspace_id IS NOT NULL) AS k
        ON CONFLICT (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
        DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at)
        RETURNING 1)
    SELECT count(*)::integer FROM ins
$$;
COMMENT ON FUNCTION usage.enqueue_task_buckets(uuid[], uuid[], uuid[], uuid[]) IS
    'Marks the hourly buckets holding the given tasks'' usage (under the given attribution) dirty.';

-- Applies one ingester batch atomically: checks and advances the stored offsets (a consumer
-- that lost its partitions fails here with SQLSTATE MCF01 and its batch rolls back), skips
-- event ids seen before, projects task attribution by version (moving and deleting usage and
-- enqueueing the affected buckets), and upserts usage last-write-wins on reported_at.
-- Returns the number of usage rows changed and attribution rows changed.
CREATE FUNCTION usage.apply_batch(
    p_group text,
    p_topics text[], p_partitions integer[], p_expected bigint[], p_next bigint[],
    u_event_ids uuid[], u_task_ids uuid[], u_providers text[], u_models text[],
    u_input bigint[], u_output bigint[], u_cache_read bigint[], u_cache_write bigint[],
    u_reported_at timestamptz[],
    t_event_ids uuid[], t_task_ids uuid[], t_workspace uuid[], t_agent uuid[], t_runtime uuid[],
    t_issue uuid[], t_version bigint[], t_deleted boolean[],
    OUT usage_rows integer, OUT attribution_rows integer)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    n integer;
BEGIN
    -- 1. Offsets first: the row locks taken here serialise two consumers of one partition,
    -- and the expected value fences a consumer whose partitions moved on without it.
    FOR i IN 1 .. coalesce(array_length(p_topics, 1), 0) LOOP
        IF p_expected[i] IS NULL THEN
            INSERT INTO usage.consumer_offsets (group_id, topic, partition, next_offset)
            VALUES (p_group, p_topics[i], p_partitions[i], p_next[i])
            ON CONFLICT DO NOTHING;
        ELSE
            UPDATE usage.consumer_offsets
               SET next_offset = p_next[i], updated_at = now()
             WHERE group_id = p_group AND topic = p_topics[i] AND partition = p_partitions[i]
               AND next_offset = p_expected[i];
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'offsets of %/% moved: another consumer applied this range',
                p_topics[i], p_partitions[i] USING ERRCODE = 'MCF01';
        END IF;
    END LOOP;

    -- 2. Task events not seen before, newest version per task, newer than what is stored.
    CREATE TEMP TABLE IF NOT EXISTS mc_batch_attr (
        task_id uuid PRIMARY KEY, workspace_id uuid, agent_id uuid, runtime_id uuid,
        issue_id uuid, version bigint, deleted boolean,
        old_workspace uuid, old_agent uuid, old_runtime uuid, old_deleted boolean, existed boolean
    ) ON COMMIT DELETE ROWS;
    WITH fresh AS (
        INSERT INTO usage.processed_events (event_id)
        SELECT e FROM unnest(t_event_ids) AS e
        ON CONFLICT DO NOTHING
        RETURNING event_id
    ), ev AS (
        SELECT DISTINCT ON (t.task_id) t.*
          FROM unnest(t_event_ids, t_task_ids, t_workspace, t_agent, t_runtime, t_issue,
                      t_version, t_deleted)
                 AS t(event_id, task_id, workspace_id, agent_id, runtime_id, issue_id, version, deleted)
          JOIN fresh f ON f.event_id = t.event_id
         ORDER BY t.task_id, t.version DESC
    )
    INSERT INTO mc_batch_attr
    SELECT ev.task_id, ev.workspace_id, ev.agent_id, ev.runtime_id, ev.issue_id, ev.version,
           ev.deleted, a.workspace_id, a.agent_id, a.runtime_id, a.deleted_at IS NOT NULL,
           a.task_id IS NOT NULL
      FROM ev LEFT JOIN usage.task_attribution a ON a.task_id = ev.task_id
     WHERE a.task_id IS NULL OR (ev.version > a.version AND a.deleted_at IS NULL);

    -- Buckets under the old attribution of tasks that move or disappear.
    PERFORM usage.enqueue_task_buckets(array_agg(task_id), array_agg(old_workspace),
                                       array_agg(old_runtime), array_agg(old_agent))
       FROM mc_batch_attr
      WHERE existed AND (deleted OR (workspace_id, agent_id, runtime_id)
                                    IS DISTINCT FROM (old_workspace, old_agent, old_runtime));
    -- Buckets under the new attribution: a move, or usage that waited for its attribution.
    PERFORM usage.enqueue_task_buckets(array_agg(task_id), array_agg(workspace_id),
                                       array_agg(runtime_id), array_agg(agent_id))
       FROM mc_batch_attr
      WHERE NOT deleted AND (NOT existed OR (workspace_id, agent_id, runtime_id)
                                            IS DISTINCT FROM (old_workspace, old_agent, old_runtime));
    DELETE FROM usage.task_usage u USING mc_batch_attr b WHERE b.deleted AND u.task_id = b.task_id;

    INSERT INTO usage.task_attribution AS a
           (task_id, workspace_id, agent_id, runtime_id, issue_id, version, deleted_at, updated_at)
    SELECT task_id, workspace_id, agent_id, runtime_id, issue_id, version,
           CASE WHEN deleted THEN now() END, now()
      FROM mc_batch_attr
    ON CONFLICT (task_id) DO UPDATE
       SET workspace_id = EXCLUDED.workspace_id, agent_id = EXCLUDED.agent_id,
           runtime_id = EXCLUDED.runtime_id, issue_id = EXCLUDED.issue_id,
           version = EXCLUDED.version, deleted_at = EXCLUDED.deleted_at, updated_at = now();
    GET DIAGNOSTICS attribution_rows = ROW_COUNT;

    -- 3. Usage events not seen before: newest report per key within the batch (later in the
    -- batch wins a tie), then last-write-wins against the table. Deleted tasks take no usage.
    WITH fresh AS (
        INSERT INTO usage.processed_events (event_id)
        SELECT e FROM unnest(u_event_ids) AS e
        ON CONFLICT DO NOTHING
        RETURNING event_id
    ), ev AS (
        SELECT DISTINCT ON (u.task_id, u.provider, u.model) u.*
          FROM unnest(u_event_ids, u_task_ids, u_providers, u_models, u_input, u_output,
                      u_cache_read, u_cache_write, u_reported_at)
                 WITH ORDINALITY AS u(event_id, task_id, provider, model, input_tokens,
                                      output_tokens, cache_read_tokens, cache_write_tokens,
                                      reported_at, ord)
          JOIN fresh f ON f.event_id = u.event_id
         WHERE NOT EXISTS (SELECT 1 FROM usage.task_attribution a
                            WHERE a.task_id = u.task_id AND a.deleted_at IS NOT NULL)
         ORDER BY u.task_id, u.provider, u.model, u.reported_at DESC, u.ord DESC
    )
    INSERT INTO usage.task_usage AS t
           (task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
            cache_write_tokens, reported_at, created_at, updated_at)
    SELECT task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
           cache_write_tokens, reported_at, reported_at, now()
      FROM ev
    ON CONFLICT (task_id, provider, model) DO UPDATE
       SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
           cache_read_tokens = EXCLUDED.cache_read_tokens,
           cache_write_tokens = EXCLUDED.cache_write_tokens,
           reported_at = EXCLUDED.reported_at, updated_at = now()
     WHERE EXCLUDED.reported_at > t.reported_at
        OR (EXCLUDED.reported_at = t.reported_at
            AND (EXCLUDED.input_tokens, EXCLUDED.output_tokens, EXCLUDED.cache_read_tokens,
                 EXCLUDED.cache_write_tokens)
                IS DISTINCT FROM (t.input_tokens, t.output_tokens, t.cache_read_tokens,
                                  t.cache_write_tokens));
    GET DIAGNOSTICS usage_rows = ROW_COUNT;
END
$$;
COMMENT ON FUNCTION usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[], uuid[],
    text[], text[], bigint[], bigint[], bigint[], bigint[], timestamptz[], uuid[], uuid[], uuid[],
    uuid[], uuid[], uuid[], bigint[], boolean[]) IS
    'One ingester batch in one transaction: fenced offsets, event-id dedup, attribution by version, last-write-wins usage.';

-- Deletes processed event ids older than p_keep, at most p_limit per call.
CREATE FUNCTION usage.prune_processed_events(p_keep interval, p_limit integer)
RETURNS integer LANGUAGE sql AS $$
    WITH old AS (
        SELECT event_id FROM usage.processed_events
         WHERE processed_at < now() - p_keep
         LIMIT p_limit
    ), del AS (
        DELETE FROM usage.processed_events p USING old WHERE p.event_id = old.event_id
        RETURNING 1
    )
    SELECT count(*)::integer FROM del
$$;
COMMENT ON FUNCTION usage.prune_processed_events(interval, integer) IS
    'Bounded retention of processed event ids (the ingester calls it periodically).';

GRANT SELECT ON usage.task_usage, usage.task_attribution TO multica_gateway;
