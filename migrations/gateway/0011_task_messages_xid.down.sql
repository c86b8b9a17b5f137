DROP INDEX gateway.task_messages_xid_idx;
ALTER TABLE gateway.task_messages DROP COLUMN xid;
