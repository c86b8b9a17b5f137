-- Sets or removes entries of the price catalogue (the default when p_workspace is NULL, else
-- that workspace's overrides) and queues exactly the hourly buckets whose cost can change: an
-- entry of (provider, model) from F governs usage created from F until the next entry of the
-- same scope, so the buckets of that model (and provider, unless '*'; and workspace, for an
-- override) in those hours are recomputed by the next rollup run and nothing else is. Entries
-- that do not change are skipped. Two scans of the hourly table per call (its model names,
-- then their buckets), whatever the number of entries. The gateway validates the entries
-- (fields, types) before calling; the table's checks bound the rates.
-- Returns {"changed": entries changed, "buckets_queued": n}.
CREATE OR REPLACE FUNCTION usage.put_prices(p_user uuid, p_workspace uuid, p_entries jsonb)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
DECLARE
    e record;
    k text;
    prov text;
    m integer;
    changed integer := 0;
    queued integer := 0;
BEGIN
    -- One writer of the catalogue at a time, so each entry's "next entry" is settled.
    PERFORM pg_advisory_xact_lock(4248);
    CREATE TEMP TABLE IF NOT EXISTS mc_price_ranges (
        provider text, model text, from_hour timestamptz, until timestamptz
    ) ON COMMIT DROP;
    FOR e IN SELECT * FROM jsonb_to_recordset(p_entries)
                 AS x(provider text, model text, effective_from timestamptz,
                      input_ticks_per_mtok bigint, output_ticks_per_mtok bigint,
                      cache_read_ticks_per_mtok bigint, cache_write_ticks_per_mtok bigint,
                      remove boolean)
    LOOP
        k := usage.model_key(e.model);
        prov := lower(btrim(e.provider));
        -- A name that normalises to nothing ("  ", "gpt/", "@v1") keys no entry: the caller's
        -- mistake (the gateway answers 400 for this code), not the table's check failing.
        IF k = '' OR prov = '' THEN
            RAISE EXCEPTION 'provider % model % names no catalogue key', e.provider, e.model
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF coalesce(e.remove, false) THEN
            DELETE FROM usage.model_prices
             WHERE model = k AND provider = prov AND workspace_id IS NOT DISTINCT FROM p_workspace
               AND effective_from = e.effective_from;
        ELSE
            INSERT INTO usage.model_prices AS p
                   (workspace_id, provider, model, effective_from, input_ticks_per_mtok,
                    output_ticks_per_mtok, cache_read_ticks_per_mtok, cache_write_ticks_per_mtok,
                    updated_by, updated_at)
            VALUES (p_workspace, prov, k, e.effective_from, e.input_ticks_per_mtok,
                    e.output_ticks_per_mtok, e.cache_read_ticks_per_mtok,
                    e.cache_write_ticks_per_mtok, p_user, now())
            ON CONFLICT ON CONSTRAINT model_prices_key DO UPDATE
               SET input_ticks_per_mtok = EXCLUDED.input_ticks_per_mtok,
                   output_ticks_per_mtok = EXCLUDED.output_ticks_per_mtok,
                   cache_read_ticks_per_mtok = EXCLUDED.cache_read_ticks_per_mtok,
                   cache_write_ticks_per_mtok = EXCLUDED.cache_write_ticks_per_mtok,
                   updated_by = EXCLUDED.updated_by, updated_at = now()
             WHERE (p.input_ticks_per_mtok, p.output_ticks_per_mtok, p.cache_read_ticks_per_mtok,
                    p.cache_write_ticks_per_mtok)
                   IS DISTINCT FROM (EXCLUDED.input_ticks_per_mtok, EXCLUDED.output_ticks_per_mtok,
                                     EXCLUDED.cache_read_ticks_per_mtok,
                                     EXCLUDED.cache_write_ticks_per_mtok);
        END IF;
        GET DIAGNOSTICS m = ROW_COUNT;
        CONTINUE WHEN m = 0;
        changed := changed + 1;
        INSERT INTO mc_price_ranges
        SELECT prov, k, date_trunc('hour', e.effective_from, 'UTC'),
               (SELECT min(effective_from) FROM usage.model_prices
                 WHERE model = k AND provider = prov
                   AND workspace_id IS NOT DISTINCT FROM p_workspace
                   AND effective_from > e.effective_from);
    END LOOP;
    IF changed > 0 THEN
        -- The hourly table's model names that these entries price, found by their distinct
        -- names (a regular expression per bucket would cost seconds at a million buckets).
        WITH models AS (
            SELECT d.name FROM (SELECT DISTINCT model AS name FROM usage.task_usage_hourly
                                 WHERE p_workspace IS NULL OR workspace_id = p_workspace) d
             WHERE usage.model_key(d.name) IN (SELECT model FROM mc_price_ranges)
        ), touched AS (
            SELECT h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model, h.bucket_hour,
                   h.project_id
              FROM usage.task_usage_hourly h
             WHERE (p_workspace IS NULL OR h.workspace_id = p_workspace)
               AND h.model IN (SELECT name FROM models)
            UNION
            SELECT q.workspace_id, q.runtime_id, q.agent_id, q.provider, q.model, q.bucket_hour,
                   q.project_id
              FROM usage.rollup_quarantine q
             WHERE p_workspace IS NULL OR q.workspace_id = p_workspace
        ), ins AS (
            INSERT INTO usage.task_usage_dirty AS d
                   (workspace_id, runtime_id, agent_id, provider, model, bucket_hour, project_id,
                    enqueued_at)
            SELECT DISTINCT t.*, clock_timestamp()
              FROM touched t
              JOIN mc_price_ranges r
                ON r.model = usage.model_key(t.model) AND r.provider IN (t.provider, '*')
               AND t.bucket_hour >= r.from_hour AND (r.until IS NULL OR t.bucket_hour < r.until)
            ON CONFLICT ON CONSTRAINT task_usage_dirty_key
            DO UPDATE SET enqueued_at = GREATEST(d.enqueued_at, EXCLUDED.enqueued_at)
            RETURNING 1)
        SELECT count(*)::integer INTO queued FROM ins;
    END IF;
    DROP TABLE mc_price_ranges;
    RETURN jsonb_build_object('changed', changed, 'buckets_queued', queued);
END
$$;
COMMENT ON FUNCTION usage.put_prices(uuid, uuid, jsonb) IS
    'Sets or removes price catalogue entries (default or one workspace''s overrides) and queues the hourly buckets whose cost they change, and only those.';
REVOKE ALL ON FUNCTION usage.put_prices(uuid, uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION usage.put_prices(uuid, uuid, jsonb) TO multica_gateway;
