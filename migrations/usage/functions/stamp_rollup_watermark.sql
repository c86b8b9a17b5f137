-- Moves the watermark forward to p_to (never backwards): what the backfill does after walking
-- history, so the scheduled rollup resumes from there.
CREATE OR REPLACE FUNCTION usage.stamp_rollup_watermark(p_to timestamptz)
RETURNS timestamptz
LANGUAGE sql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
    UPDATE usage.rollup_state SET watermark = greatest(coalesce(watermark, p_to), p_to)
    RETURNING watermark
$$;
COMMENT ON FUNCTION usage.stamp_rollup_watermark(timestamptz) IS
    'Advances the rollup watermark to p_to unless it is already later; returns the watermark.';
REVOKE ALL ON FUNCTION usage.stamp_rollup_watermark(timestamptz) FROM PUBLIC;
