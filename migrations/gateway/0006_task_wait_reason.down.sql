ALTER TABLE gateway.tasks DROP COLUMN wait_reason;
