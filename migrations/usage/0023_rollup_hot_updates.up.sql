-- Room in the pages of the hourly and daily tables, so that the rollup's update of a bucket and
-- of its day stays on its page without new index entries (a HOT update; issue 16, point 2). A
-- late correction touches a bucket and a day nobody touched for months: as a non-HOT update
-- each wrote a new index entry in every index (three for the bucket, three for the day), each
-- on a leaf page read cold and, after a checkpoint, logged whole; as a HOT update neither
-- touches an index. The rollup updates only sums, which no index names, once a day's overflow
-- mark is a column of its own: the partial index on "cum IS NULL" named cum, so no update of a
-- day's sums could be HOT.
-- Hourly: a bucket is about 240 bytes, so a tenth of a page holds three new versions. Daily: a
-- day is about 2.6 kB, so 67 % holds two days a page and room for one new version (three days
-- a page before). New pages get the room; pages written before this migration get it when the
-- table is rewritten (VACUUM FULL, or a full recompute: TRUNCATE and backfill). The daily
-- table is rewritten here, by the new column.
ALTER TABLE usage.task_usage_hourly SET (fillfactor = 90);
ALTER TABLE usage.task_usage_daily SET (fillfactor = 67);
DROP INDEX usage.task_usage_daily_overflow_idx;
ALTER TABLE usage.task_usage_daily
    ADD COLUMN overflow boolean NOT NULL GENERATED ALWAYS AS (cum IS NULL) STORED;
COMMENT ON COLUMN usage.task_usage_daily.overflow IS
    'cum IS NULL (a sum exceeds a bigint: reads take the day''s hours from task_usage_hourly); a column of its own so that the index of such days does not name cum, and an update of the sums can be HOT.';
-- The days read from the hourly table instead (hardly any): found without reading the rest.
CREATE INDEX task_usage_daily_overflow_idx ON usage.task_usage_daily (day) WHERE overflow;
