-- A daemon may fail a task it claimed before starting it (its runtime is unknown to it, the
-- task is malformed, preparing the work directory failed). Without this move the report was
-- refused and the task was dispatched again until its queue TTL.
INSERT INTO dispatch.state_machine (from_status, event, to_status) VALUES
    ('dispatched', 'failed', 'failed');
