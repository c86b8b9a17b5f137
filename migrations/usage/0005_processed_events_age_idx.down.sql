-- mc:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS usage.processed_events_processed_at_idx
