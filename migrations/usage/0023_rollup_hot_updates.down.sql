-- Back to full pages and the overflow index on cum IS NULL (no HOT update of a day's sums).
DROP INDEX usage.task_usage_daily_overflow_idx;
ALTER TABLE usage.task_usage_daily DROP COLUMN overflow;
ALTER TABLE usage.task_usage_daily RESET (fillfactor);
ALTER TABLE usage.task_usage_hourly RESET (fillfactor);
CREATE INDEX task_usage_daily_overflow_idx ON usage.task_usage_daily (day) WHERE cum IS NULL;
