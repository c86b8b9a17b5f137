-- Task messages reach the WebSocket listeners without NOTIFY (issue 17: no LISTEN/NOTIFY on the
-- hot path; a NOTIFY's commit takes a cluster-wide lock, held through the commit's flush).
-- Each message row carries the id of the transaction that wrote it, and every listener reads
-- the rows of the transactions that have all ended since its last read: those below the xmin
-- of its snapshot (pg_snapshot_xmin), from the xmin it read up to last time. Below the xmin no
-- transaction is still running, so none of them can commit a row there later; a transaction
-- that commits out of order waits for the ones that started before it, and nothing is skipped.
-- Rows written before this migration have no xid: they were announced already.
ALTER TABLE gateway.task_messages ADD COLUMN xid xid8;
ALTER TABLE gateway.task_messages ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX task_messages_xid_idx ON gateway.task_messages (xid);
COMMENT ON COLUMN gateway.task_messages.xid IS 'The transaction that wrote it: the WebSocket listeners read the rows of the transactions that ended since their last read (below their snapshot''s xmin).';
