-- The daily level of the hourly rollup, so that a read of N days sums about N rows per bucket
-- key instead of 24 N, and the gateway's reads of what the rollup has not reached yet.
-- 1. task_usage_daily: per bucket key and UTC day, the running sums of the day's hours, so
--    any run of whole hours within the day is one subtraction. Days are cut in the viewer's
--    zone at read time (usage.usage_rollup_rows): a local day is one run of hours in each UTC
--    day it touches, whatever its offset (half-hour and 45-minute ones among them) and on
--    days the offset changes. Kept equal to task_usage_hourly by statement-level triggers on
--    that table (functions/task_usage_hourly_to_daily.sql, which also creates them and fills
--    the days this table lacks: function files are applied after the numbered migrations,
--    and a trigger needs its function), so whatever writes the hourly table keeps it.
-- 2. The gateway reads the rollup's watermark and queue, to add the rows after the watermark.
CREATE TABLE usage.task_usage_daily (
    workspace_id uuid   NOT NULL,
    runtime_id   uuid   NOT NULL,
    agent_id     uuid   NOT NULL,
    provider     text   NOT NULL,
    model        text   NOT NULL,
    project_id   uuid,
    day          date   NOT NULL,
    cum          bigint[],
    CONSTRAINT task_usage_daily_key UNIQUE NULLS NOT DISTINCT
        (workspace_id, runtime_id, agent_id, provider, model, day, project_id)
) WITH (toast_tuple_target = 8160);
-- A row's sums (about 2.4 kB) stay in the row uncompressed: a read takes 2 of 300 values.
COMMENT ON TABLE usage.task_usage_daily IS
    'Running sums of task_usage_hourly per bucket key and UTC day, kept by triggers on task_usage_hourly; usage reads cut local days from them.';
COMMENT ON COLUMN usage.task_usage_daily.workspace_id IS 'Bucket key: workspace.';
COMMENT ON COLUMN usage.task_usage_daily.runtime_id IS 'Bucket key: runtime.';
COMMENT ON COLUMN usage.task_usage_daily.agent_id IS 'Bucket key: agent.';
COMMENT ON COLUMN usage.task_usage_daily.provider IS 'Bucket key: provider.';
COMMENT ON COLUMN usage.task_usage_daily.model IS 'Bucket key: model.';
COMMENT ON COLUMN usage.task_usage_daily.project_id IS 'Bucket key: project (NULL for none, compared NULL-safely).';
COMMENT ON COLUMN usage.task_usage_daily.day IS 'The UTC day.';
COMMENT ON COLUMN usage.task_usage_daily.cum IS
    'cum[j + 1][m]: the sum of measure m over the day''s UTC hours before hour j (j 0..24), m in order input, output, cache-read, cache-write tokens, task count, reported cost, uncosted input, output, cache-read, cache-write tokens, estimated cost, unpriced tokens. NULL when a sum exceeds a bigint: reads take that day''s hours from task_usage_hourly.';
CREATE INDEX task_usage_daily_runtime_idx ON usage.task_usage_daily (runtime_id, day);
CREATE INDEX task_usage_daily_workspace_idx ON usage.task_usage_daily (workspace_id, day);
-- The days read from the hourly table instead (hardly any): found without reading the rest.
CREATE INDEX task_usage_daily_overflow_idx ON usage.task_usage_daily (day) WHERE cum IS NULL;
-- What the reads' row sources give (usage.usage_rows and the functions it calls): usage in a
-- bucket, or a part of one, with the date in the viewer's zone it counts on.
-- Each value fits a bigint (a bucket's, a run of a day's that fits, a row's); readers sum them
-- as numeric.
CREATE TYPE usage.usage_row AS (
    date date, bucket_hour timestamptz, workspace_id uuid, runtime_id uuid, agent_id uuid,
    project_id uuid, provider text, model text, input_tokens bigint, output_tokens bigint,
    cache_read_tokens bigint, cache_write_tokens bigint, task_count bigint,
    cost_usd_ticks bigint, uncosted_input_tokens bigint, uncosted_output_tokens bigint,
    uncosted_cache_read_tokens bigint, uncosted_cache_write_tokens bigint,
    estimated_cost_usd_ticks bigint, unpriced_tokens bigint);
COMMENT ON TYPE usage.usage_row IS
    'Usage of one bucket key (or a part of a bucket, or a task_usage row) on one date in the viewer''s zone, as usage reads sum it; bucket_hour is NULL for a part of a day of the daily level.';
GRANT SELECT ON usage.task_usage_daily, usage.rollup_state, usage.task_usage_dirty TO multica_gateway;
