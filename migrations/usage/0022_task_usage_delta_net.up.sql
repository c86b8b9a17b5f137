-- An update of a usage row is logged as one row instead of two (issue 16, point 2): the row as
-- it is, with the values it had before (old_*), sign 0. The ingester's updates never move a
-- row to another key or created_at, so the row before and after always fall in the same
-- bucket and are priced at the same rates: the rollup's fold attributes and groups one row
-- where it did two, and adds the new row's parts minus the old row's
-- (functions/rollup_fold_deltas.sql), which is exactly what the two rows added. An update
-- that changes the key or created_at is still logged as two rows (-1 and +1).
ALTER TABLE usage.task_usage_delta
    ADD COLUMN old_input_tokens bigint,
    ADD COLUMN old_output_tokens bigint,
    ADD COLUMN old_cache_read_tokens bigint,
    ADD COLUMN old_cache_write_tokens bigint,
    ADD COLUMN old_cost_usd_ticks bigint,
    DROP CONSTRAINT task_usage_delta_sign_check,
    ADD CONSTRAINT task_usage_delta_sign_check CHECK (sign IN (-1, 0, 1)),
    ADD CONSTRAINT task_usage_delta_old_check CHECK (
        CASE WHEN sign = 0
             THEN old_input_tokens IS NOT NULL AND old_output_tokens IS NOT NULL
                  AND old_cache_read_tokens IS NOT NULL AND old_cache_write_tokens IS NOT NULL
             ELSE old_input_tokens IS NULL AND old_output_tokens IS NULL
                  AND old_cache_read_tokens IS NULL AND old_cache_write_tokens IS NULL
                  AND old_cost_usd_ticks IS NULL
        END);
COMMENT ON COLUMN usage.task_usage_delta.sign IS
    '-1: the row before the change (subtracted); +1: the row after it (added); 0: an update in place (same key and created_at): the row after it (added) and, in old_*, the row before it (subtracted).';
COMMENT ON COLUMN usage.task_usage_delta.old_input_tokens IS 'sign 0: the row''s input tokens before the update; else NULL.';
COMMENT ON COLUMN usage.task_usage_delta.old_output_tokens IS 'sign 0: the row''s output tokens before the update; else NULL.';
COMMENT ON COLUMN usage.task_usage_delta.old_cache_read_tokens IS 'sign 0: the row''s cache-read tokens before the update; else NULL.';
COMMENT ON COLUMN usage.task_usage_delta.old_cache_write_tokens IS 'sign 0: the row''s cache-write tokens before the update; else NULL.';
COMMENT ON COLUMN usage.task_usage_delta.old_cost_usd_ticks IS 'sign 0: the row''s reported cost before the update (NULL: none reported, or not sign 0).';
