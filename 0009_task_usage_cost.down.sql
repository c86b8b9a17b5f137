ALTER TABLE usage.task_usage DROP COLUMN IF EXISTS cost_usd_ticks;
