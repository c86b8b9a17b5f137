-- Puts the refused rows back (their buckets queued) and drops both tables.
INSERT INTO usage.task_usage
       (task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
        cache_write_tokens, reported_at, created_at)
SELECT task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
       cache_write_tokens, reported_at, created_at
  FROM usage.task_usage_refused
ON CONFLICT DO NOTHING;
DROP FUNCTION IF EXISTS usage.rollup_quarantined();
DROP TABLE usage.rollup_quarantine;
DROP TABLE usage.task_usage_refused;
