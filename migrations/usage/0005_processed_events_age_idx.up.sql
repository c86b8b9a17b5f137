-- mc:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS processed_events_processed_at_idx ON usage.processed_events (processed_at)
