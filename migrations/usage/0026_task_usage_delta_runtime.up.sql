-- The runtime's unfolded changes (issue 16, point 3): a runtime's daily read corrects the
-- rollup's buckets by the changes of task_usage the rollup has not folded yet
-- (usage.usage_delta_rows), instead of re-reading every row of the hours past the watermark.
-- It finds them by the runtime their row carried when the change was logged:
-- task_usage.runtime_id (migration 0025), written by the delta log's trigger
-- (functions/task_usage_log_delta.sql). A row whose runtime_id changes (its task attributed
-- late or moved) logs the row as it was under its old runtime (-1) and as it is under the new
-- one (+1), so that a runtime's logged changes of a row always add up to what the fold adds to
-- that runtime (those under a runtime the row left cancel). NULL: not known when logged; the
-- read takes the hours of such rows whole (usage.usage_runtime_fresh_hours), so the index
-- leaves them out.
ALTER TABLE usage.task_usage_delta ADD COLUMN runtime_id uuid;
COMMENT ON COLUMN usage.task_usage_delta.runtime_id IS
    'task_usage.runtime_id of the row as logged (NULL: not known then). An index key for a runtime''s read, never trusted alone: the read, like the fold, attributes each change by task_attribution.';
CREATE INDEX task_usage_delta_runtime_idx ON usage.task_usage_delta (runtime_id)
 WHERE runtime_id IS NOT NULL;
-- The changes logged before this migration take their row's runtime now (a row gone since is
-- left NULL: its deletion queued its buckets, which the read takes whole).
UPDATE usage.task_usage_delta d
   SET runtime_id = u.runtime_id
  FROM usage.task_usage u
 WHERE (u.task_id, u.provider, u.model) = (d.task_id, d.provider, d.model)
   AND u.runtime_id IS NOT NULL;
-- The gateway's read reads them (usage.usage_delta_rows, usage.usage_runtime_fresh_hours).
GRANT SELECT ON usage.task_usage_delta, usage.rollup_quarantine TO multica_gateway;
