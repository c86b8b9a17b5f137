-- Usage reports no longer leave their event ids here (applying one again is a no-op by
-- itself, see usage.apply_batch); the table says what it now holds.
COMMENT ON TABLE usage.processed_events IS
    'Ids of task and issue events already applied, so a replayed or re-sent one is a no-op even across partitions (usage reports need none: applying one again changes nothing). Pruned after PROCESSED_EVENTS_RETENTION.';
