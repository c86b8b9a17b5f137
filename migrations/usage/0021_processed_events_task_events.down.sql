-- The table's comment as migration 0002 wrote it.
COMMENT ON TABLE usage.processed_events IS
    'Ids of events already applied, so a replayed or re-sent event is a no-op even across partitions. Pruned after 7 days.';
