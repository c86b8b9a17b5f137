-- Back to two logged rows per update: each row logged in place becomes the row before (-1) and
-- the row after (+1), which add up to the same change.
INSERT INTO usage.task_usage_delta
       (task_id, provider, model, created_at, sign, input_tokens, output_tokens,
        cache_read_tokens, cache_write_tokens, cost_usd_ticks, logged_at)
SELECT task_id, provider, model, created_at, -1, old_input_tokens, old_output_tokens,
       old_cache_read_tokens, old_cache_write_tokens, old_cost_usd_ticks, logged_at
  FROM usage.task_usage_delta WHERE sign = 0
UNION ALL
SELECT task_id, provider, model, created_at, 1, input_tokens, output_tokens,
       cache_read_tokens, cache_write_tokens, cost_usd_ticks, logged_at
  FROM usage.task_usage_delta WHERE sign = 0;
DELETE FROM usage.task_usage_delta WHERE sign = 0;
ALTER TABLE usage.task_usage_delta
    DROP CONSTRAINT task_usage_delta_old_check,
    DROP CONSTRAINT task_usage_delta_sign_check,
    ADD CONSTRAINT task_usage_delta_sign_check CHECK (sign IN (-1, 1)),
    DROP COLUMN old_input_tokens,
    DROP COLUMN old_output_tokens,
    DROP COLUMN old_cache_read_tokens,
    DROP COLUMN old_cache_write_tokens,
    DROP COLUMN old_cost_usd_ticks;
COMMENT ON COLUMN usage.task_usage_delta.sign IS '-1: the row before the change (subtracted); +1: the row after it (added).';
