-- A logged change updated in place takes the updating transaction's id (logged_xid, migration
-- 0027). The one update of the log is a move: the writers of task_usage.runtime_id write the
-- new runtime on the task's unfolded changes (functions/task_attribution_usage_runtime.sql,
-- apply_batch's correction). For the runtime it now carries, such a change is new: a read that
-- had priced that runtime's changes up to a boundary above its old id would otherwise never
-- see it. So a runtime's changes below a boundary a read has passed can only go (folded,
-- recomputed, moved away), never come: the gateway checks their count to know its kept sums
-- still hold (usage.usage_fresh_parts). A row trigger: moves are rare, and the ingester's
-- inserts do not fire it.
CREATE OR REPLACE FUNCTION usage.task_usage_delta_xid()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.logged_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION usage.task_usage_delta_xid() IS
    'Trigger of usage.task_usage_delta: an updated (moved) change takes the updating transaction''s id, so that a read keeping priced changes by transaction id sees it as new.';
REVOKE ALL ON FUNCTION usage.task_usage_delta_xid() FROM PUBLIC;
CREATE OR REPLACE TRIGGER task_usage_delta_xid BEFORE UPDATE ON usage.task_usage_delta
    FOR EACH ROW EXECUTE FUNCTION usage.task_usage_delta_xid();
