-- Writes the buckets the rollup computed (the fold of logged changes, or a recompute) from the
-- session's temporary table mc_rollup_out (usage.rollup_out_open creates it): each bucket with
-- a task is inserted or replaced when a value differs, each bucket left with none is deleted,
-- and every change goes to the outbox with a new revision. The rows are taken out of
-- mc_rollup_out as they are written. Returns the number of buckets changed.
CREATE OR REPLACE FUNCTION usage.rollup_out_open()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
BEGIN
    IF to_regclass('pg_temp.mc_rollup_out') IS NOT NULL THEN
        RETURN; -- (CREATE ... IF NOT EXISTS would send a notice every run)
    END IF;
    CREATE TEMP TABLE mc_rollup_out (
        workspace_id uuid, runtime_id uuid, agent_id uuid, provider text, model text,
        bucket_hour timestamptz, project_id uuid, input_tokens bigint, output_tokens bigint,
        cache_read_tokens bigint, cache_write_tokens bigint, task_count integer,
        cost_usd_ticks bigint, uncosted_input_tokens bigint, uncosted_output_tokens bigint,
        uncosted_cache_read_tokens bigint, uncosted_cache_write_tokens bigint,
        estimated_cost_usd_ticks bigint, unpriced_tokens bigint
    ) ON COMMIT DELETE ROWS;
END
$$;
COMMENT ON FUNCTION usage.rollup_out_open() IS
    'Creates the session''s mc_rollup_out (buckets computed by the rollup, waiting for usage.rollup_store_buckets) if it does not exist.';
REVOKE ALL ON FUNCTION usage.rollup_out_open() FROM PUBLIC;

CREATE OR REPLACE FUNCTION usage.rollup_store_buckets()
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    n integer;
    r record;
BEGIN
    -- Emptied buckets first, one by one, each found by its key: they are few, and as a join
    -- the planner, seeing no statistics for the temporary table, read the whole hourly table
    -- once per bucket (10 minutes for 10,000 buckets at 3M rows). Those that existed stay in
    -- mc_rollup_out marked -1, for the outbox.
    FOR r IN SELECT ctid AS id, * FROM mc_rollup_out WHERE task_count = 0 LOOP
        DELETE FROM usage.task_usage_hourly h
         WHERE (h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model, h.bucket_hour)
             = (r.workspace_id, r.runtime_id, r.agent_id, r.provider, r.model, r.bucket_hour)
           AND h.project_id IS NOT DISTINCT FROM r.project_id;
        IF FOUND THEN
            UPDATE mc_rollup_out SET task_count = -1 WHERE ctid = r.id;
        END IF;
    END LOOP;
    WITH upserted AS (
        INSERT INTO usage.task_usage_hourly AS h
               (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
                input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
                cost_usd_ticks, uncosted_input_tokens, uncosted_output_tokens,
                uncosted_cache_read_tokens, uncosted_cache_write_tokens, estimated_cost_usd_ticks,
                unpriced_tokens)
        SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
               cost_usd_ticks, uncosted_input_tokens, uncosted_output_tokens,
               uncosted_cache_read_tokens, uncosted_cache_write_tokens, estimated_cost_usd_ticks,
               unpriced_tokens
          FROM mc_rollup_out WHERE task_count > 0
        ON CONFLICT ON CONSTRAINT task_usage_hourly_key DO UPDATE
           SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
               cache_read_tokens = EXCLUDED.cache_read_tokens,
               cache_write_tokens = EXCLUDED.cache_write_tokens,
               task_count = EXCLUDED.task_count, cost_usd_ticks = EXCLUDED.cost_usd_ticks,
               uncosted_input_tokens = EXCLUDED.uncosted_input_tokens,
               uncosted_output_tokens = EXCLUDED.uncosted_output_tokens,
               uncosted_cache_read_tokens = EXCLUDED.uncosted_cache_read_tokens,
               uncosted_cache_write_tokens = EXCLUDED.uncosted_cache_write_tokens,
               estimated_cost_usd_ticks = EXCLUDED.estimated_cost_usd_ticks,
               unpriced_tokens = EXCLUDED.unpriced_tokens,
               revision = nextval('usage.task_usage_hourly_revision_seq'), updated_at = now()
         WHERE (h.input_tokens, h.output_tokens, h.cache_read_tokens, h.cache_write_tokens,
                h.task_count, h.cost_usd_ticks, h.uncosted_input_tokens, h.uncosted_output_tokens,
                h.uncosted_cache_read_tokens, h.uncosted_cache_write_tokens,
                h.estimated_cost_usd_ticks, h.unpriced_tokens)
               IS DISTINCT FROM (EXCLUDED.input_tokens, EXCLUDED.output_tokens,
                                 EXCLUDED.cache_read_tokens, EXCLUDED.cache_write_tokens,
                                 EXCLUDED.task_count, EXCLUDED.cost_usd_ticks,
                                 EXCLUDED.uncosted_input_tokens, EXCLUDED.uncosted_output_tokens,
                                 EXCLUDED.uncosted_cache_read_tokens,
                                 EXCLUDED.uncosted_cache_write_tokens,
                                 EXCLUDED.estimated_cost_usd_ticks, EXCLUDED.unpriced_tokens)
        RETURNING h.*
    )
    INSERT INTO usage.hourly_outbox
           (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
            cost_usd_ticks, uncosted_input_tokens, uncosted_output_tokens,
            uncosted_cache_read_tokens, uncosted_cache_write_tokens, estimated_cost_usd_ticks,
            unpriced_tokens, deleted, revision)
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
           input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count,
           cost_usd_ticks, uncosted_input_tokens, uncosted_output_tokens,
           uncosted_cache_read_tokens, uncosted_cache_write_tokens, estimated_cost_usd_ticks,
           unpriced_tokens, false, revision
      FROM upserted
    UNION ALL
    SELECT workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
           0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, true,
           nextval('usage.task_usage_hourly_revision_seq')
      FROM mc_rollup_out WHERE task_count = -1;
    GET DIAGNOSTICS n = ROW_COUNT;
    TRUNCATE mc_rollup_out;
    RETURN n;
END
$$;
COMMENT ON FUNCTION usage.rollup_store_buckets() IS
    'Writes the buckets in mc_rollup_out into task_usage_hourly (replaced when a value differs, deleted when no task is left) and the outbox; returns buckets changed.';
REVOKE ALL ON FUNCTION usage.rollup_store_buckets() FROM PUBLIC;
