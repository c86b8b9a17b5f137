-- The usage slice: task_usage, attribution, the dirty-bucket queue, the hourly rollup and its
-- SQL functions. Owned by multica_usage. The gateway may read (grants per object in later
-- migrations); the scheduler may only execute the rollup functions.
COMMENT ON SCHEMA usage IS 'usage-ingester slice: task_usage, attribution, dirty queue, hourly rollup';
REVOKE ALL ON SCHEMA usage FROM PUBLIC;
GRANT USAGE ON SCHEMA usage TO multica_gateway, multica_scheduler;
