-- Deletes processed event ids older than p_keep, at most p_limit per call.
CREATE OR REPLACE FUNCTION usage.prune_processed_events(p_keep interval, p_limit integer)
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
