-- The usage rows a read sums: those of a runtime or a workspace (p_runtime or p_workspace;
-- p_project, when given, keeps one project's) from local midnight p_days days before today in
-- p_tz, from the rollup (usage.usage_rollup_rows; p_hourly for hour-of-day reads) or from
-- task_usage itself (p_raw, usage.usage_raw_rows). PL/pgSQL so that the window's start and the
-- rollup's watermark reach the planner as values: the recent rows are then found by their
-- index, and a runtime's or workspace's rows by theirs.
CREATE OR REPLACE FUNCTION usage.usage_rows(p_runtime uuid, p_workspace uuid, p_project uuid,
                                            p_days integer, p_tz text, p_raw boolean,
                                            p_hourly boolean)
RETURNS TABLE (date date, bucket_hour timestamptz, workspace_id uuid, runtime_id uuid,
               agent_id uuid, project_id uuid, provider text, model text, input_tokens numeric,
               output_tokens numeric, cache_read_tokens numeric, cache_write_tokens numeric,
               task_count numeric, cost_usd_ticks numeric, uncosted_input_tokens numeric,
               uncosted_output_tokens numeric, uncosted_cache_read_tokens numeric,
               uncosted_cache_write_tokens numeric, estimated_cost_usd_ticks numeric,
               unpriced_tokens numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    since timestamptz := ((now() AT TIME ZONE p_tz)::date - p_days)::timestamp AT TIME ZONE p_tz;
    wm timestamptz;
BEGIN
    IF p_raw THEN
        RETURN QUERY SELECT * FROM usage.usage_raw_rows(p_runtime, p_workspace, p_project, since,
                                                        NULL, p_tz);
        RETURN;
    END IF;
    SELECT s.watermark INTO wm FROM usage.rollup_state s;
    RETURN QUERY SELECT * FROM usage.usage_rollup_rows(p_runtime, p_workspace, p_project, since,
                                                       p_tz, p_hourly, wm);
END
$$;
COMMENT ON FUNCTION usage.usage_rows(uuid, uuid, uuid, integer, text, boolean, boolean) IS
    'The usage rows of a runtime or workspace (and project) over the last p_days days in p_tz, from the rollup and the rows it has not reached, or (p_raw) from task_usage alone.';
GRANT EXECUTE ON FUNCTION usage.usage_rows(uuid, uuid, uuid, integer, text, boolean, boolean)
    TO multica_gateway;
