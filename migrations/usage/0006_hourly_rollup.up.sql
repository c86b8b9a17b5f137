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

-- Recomputes every bucket that is dirty for the window [p_from, p_to): buckets holding
-- task_usage rows updated in the window, plus queued invalidations enqueued before p_to. Each
-- bucket is rebuilt from ground truth (task_usage joined with attribution) and replaced, or
-- deleted when it became empty; every change goes to the outbox. Returns the number of
-- buckets changed. Recomputations are serialised by a transaction lock (4247), so calls from
-- the scheduler, a backfill and an external cron may overlap safely; the result of replacing
-- a bucket with its ground truth does not depend on how often or in which order it is done.
CREATE FUNCTION usage.rollup_task_usage_hourly_window(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(4247);
    WITH dirty AS (
        SELECT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model,
               date_trunc('hour', u.created_at, 'UTC') AS bucket_hour
          FROM usage.task_usage u
          JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL
         WHERE u.updated_at >= p_from AND u.updated_at < p_to
        UNION
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour
          FROM usage.task_usage_dirty
         WHERE enqueued_at < p_to
    ), hours AS (
        SELECT DISTINCT bucket_hour FROM dirty
    ), sums AS (
        -- Ground truth of every bucket in the dirty hours: one index range scan per hour.
        SELECT a.workspace_id, a.runtime_id, a.agent_id, u.provider, u.model, h.bucket_hour,
               sum(u.input_tokens)::bigint AS input_tokens,
               sum(u.output_tokens)::bigint AS output_tokens,
               sum(u.cache_read_tokens)::bigint AS cache_read_tokens,
               sum(u.cache_write_tokens)::bigint AS cache_write_tokens,
               count(*)::integer AS task_count
          FROM hours h
          JOIN usage.task_usage u
            ON u.created_at >= h.bucket_hour AND u.created_at < h.bucket_hour + interval '1 hour'
          JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL
         GROUP BY 1, 2, 3, 4, 5, 6
    ), fresh AS (
        SELECT d.*, s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens,
               coalesce(s.task_count, 0) AS task_count
          FROM dirty d
          LEFT JOIN sums s USING (workspace_id, runtime_id, agent_id, provider, model, bucket_hour)
    ), upserted AS (
        INSERT INTO usage.task_usage_hourly AS h
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, task_count)
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
               output_tokens, cache_read_tokens, cache_write_tokens, task_count
          FROM fresh WHERE task_count > 0
        ON CONFLICT (workspace_id, runtime_id, agent_id, provider, model, bucket_hour) DO UPDATE
           SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
               cache_read_tokens = EXCLUDED.cache_read_tokens,
               cache_write_tokens = EXCLUDED.cache_write_tokens,
               task_count = EXCLUDED.task_count,
               revision = nextval('usage.task_usage_hourly_revision_seq'), updated_at = now()
         WHERE (h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens,
                h.task_count)
               IS DISTINCT FROM (EXCLUDED.input_tokens, EXCLUDED.output_tokens,
                                 EXCLUDED.cache_read_tokens, EXCLUDED.cache_write_tokens,
                                 EXCLUDED.task_count)
        RETURNING h.*
    ), removed AS (
        DELETE FROM usage.task_usage_hourly h
         USING fresh f
         WHERE f.task_count = 0
           AND (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model, h.bucket_hour)
             = (f.workspace_id, f.runtime_id, f.agent_id, f.provider, f.model, f.bucket_hour)
        RETURNING h.*
    )
    INSERT INTO usage.hourly_outbox
           (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
            output_tokens, cache_read_tokens, cache_write_tokens, task_count, deleted, revision)
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, input_tokens,
           output_tokens, cache_read_tokens, cache_write_tokens, task_count, false, revision
      FROM upserted
    UNION ALL
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, 0, 0, 0, 0, 0, true,
           nextval('usage.task_usage_hourly_revision_seq')
      FROM removed;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.rollup_task_usage_hourly_window(timestamptz, timestamptz) IS
    'Recomputes and replaces the hourly buckets dirty in [p_from, p_to) (updated rows plus queued invalidations); returns buckets changed. Idempotent; safe to overlap.';

-- The scheduled entry point. Returns at once (0) when another caller holds lock 4246. The
-- window runs from the watermark to now() - 5 minutes (at most one day per call, so a long
-- idle install catches up in steps), then the watermark advances and the queue entries
-- enqueued before the window's end are drained: an invalidation that arrives during the run
-- has a later enqueued_at and survives for the next run. On error nothing is changed and the
-- error reaches the caller (the scheduler records it in sys_cron_executions).
-- The 5-minute safety lag covers rows committed late by long transactions; the setting
-- multica.rollup_safety_lag (an interval) overrides it, for tests that cannot wait.
CREATE FUNCTION usage.rollup_task_usage_hourly()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    wm timestamptz;
    upto timestamptz;
    lag interval := coalesce(nullif(current_setting('multica.rollup_safety_lag', true), '')::interval,
                             interval '5 minutes');
    n integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(4246) THEN
        RETURN 0;
    END IF;
    SELECT watermark INTO wm FROM usage.rollup_state FOR UPDATE;
    IF wm IS NULL THEN
        wm := coalesce((SELECT min(updated_at) FROM usage.task_usage), now() - lag);
    END IF;
    upto := greatest(wm, least(now() - lag, wm + interval '1 day'));
    UPDATE usage.rollup_state SET last_run_started_at = now();
    n := usage.rollup_task_usage_hourly_window(wm, upto);
    DELETE FROM usage.task_usage_dirty WHERE enqueued_at < upto;
    DELETE FROM usage.task_usage_dirty WHERE enqueued_at < now() - interval '7 days';
    DELETE FROM usage.hourly_outbox WHERE created_at < now() - interval '7 days';
    UPDATE usage.rollup_state
       SET watermark = upto, last_run_finished_at = clock_timestamp(), last_changed = n;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.rollup_task_usage_hourly() IS
    'Scheduled rollup (every 5 minutes by the in-process scheduler or an external cron): advisory lock 4246, window watermark..now()-5min (max 1 day), watermark advance, queue drain. Returns buckets changed.';

CREATE FUNCTION usage.task_usage_rollup_lag_seconds()
RETURNS double precision
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT extract(epoch FROM now() - last_run_finished_at)::double precision FROM usage.rollup_state
$$;
COMMENT ON FUNCTION usage.task_usage_rollup_lag_seconds() IS
    'Seconds since the last finished rollup run (NULL if it never ran), for monitoring.';

CREATE FUNCTION usage.rollup_watermark()
RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT watermark FROM usage.rollup_state
$$;
COMMENT ON FUNCTION usage.rollup_watermark() IS 'The rollup watermark (NULL before the first run).';

-- Moves the watermark forward to p_to (never backwards): what the backfill does after walking
-- history, so the scheduled rollup resumes from there.
CREATE FUNCTION usage.stamp_rollup_watermark(p_to timestamptz)
RETURNS timestamptz
LANGUAGE sql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    UPDATE usage.rollup_state SET watermark = greatest(coalesce(watermark, p_to), p_to)
    RETURNING watermark
$$;
COMMENT ON FUNCTION usage.stamp_rollup_watermark(timestamptz) IS
    'Advances the rollup watermark to p_to unless it is already later; returns the watermark.';

-- The publishing side of the outbox, for the scheduler: read in order, then acknowledge.
CREATE FUNCTION usage.hourly_changes(p_limit integer)
RETURNS SETOF usage.hourly_outbox
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    SELECT * FROM usage.hourly_outbox ORDER BY seq LIMIT p_limit
$$;
COMMENT ON FUNCTION usage.hourly_changes(integer) IS 'The oldest bucket changes not yet published.';

CREATE FUNCTION usage.ack_hourly_changes(p_upto bigint)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    WITH d AS (DELETE FROM usage.hourly_outbox WHERE seq <= p_upto RETURNING 1)
    SELECT count(*)::integer FROM d
$$;
COMMENT ON FUNCTION usage.ack_hourly_changes(bigint) IS 'Removes published bucket changes up to seq p_upto.';

REVOKE ALL ON FUNCTION usage.rollup_task_usage_hourly_window(timestamptz, timestamptz),
    usage.rollup_task_usage_hourly(), usage.task_usage_rollup_lag_seconds(),
    usage.rollup_watermark(), usage.stamp_rollup_watermark(timestamptz),
    usage.hourly_changes(integer), usage.ack_hourly_changes(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.rollup_task_usage_hourly(), usage.task_usage_rollup_lag_seconds(),
    usage.rollup_watermark(), usage.hourly_changes(integer), usage.ack_hourly_changes(bigint)
    TO multica_scheduler;
GRANT SELECT ON usage.task_usage_hourly TO multica_gateway;
GRANT EXECUTE ON FUNCTION usage.task_usage_rollup_lag_seconds() TO multica_gateway;
