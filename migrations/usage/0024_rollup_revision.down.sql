-- The revision and its triggers go; the next up applies every function file again.
DROP FUNCTION IF EXISTS usage.bump_rollup_revision() CASCADE;
DROP FUNCTION IF EXISTS usage.usage_fresh_rows(uuid, timestamptz, text);
DROP FUNCTION IF EXISTS usage.usage_rollup_window(uuid, timestamptz, text);
DROP TABLE usage.rollup_revision;
