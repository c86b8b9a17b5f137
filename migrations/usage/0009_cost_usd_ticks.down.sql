ALTER TABLE usage.task_usage DROP COLUMN cost_usd_ticks;
