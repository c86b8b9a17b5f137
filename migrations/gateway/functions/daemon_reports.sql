-- A group commit of daemons' reports (report_writer.c, issue 17): the reports that arrived
-- while the gateway's report writer was busy, for any tasks, applied by gateway.daemon_report
-- in one call and one transaction (one WAL flush for all). One row per report, in arrival
-- order. The reports are applied in task order (a task's own in arrival order): the
-- projection (gateway.project_task_event) locks its task rows in that order too, so the two
-- cannot deadlock. The batch's progress goes to the log last (gateway.log_reported_progress,
-- the log's lock MC_LOCK_GATEWAY_LOG from there to the commit), so that the lock is held for
-- the log rows and the commit, not for the whole batch.
CREATE OR REPLACE FUNCTION gateway.daemon_reports(p_hash text[], p_user uuid[], p_task uuid[],
                                                  p_kind text[], p_topic text[],
                                                  p_event text[], p_session text[],
                                                  p_work_dir text[])
RETURNS TABLE (outcome text, status text) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    i bigint;
    n integer := coalesce(cardinality(p_task), 0);
    outs text[] := array_fill(NULL::text, ARRAY[n]);
    sts text[] := array_fill(NULL::text, ARRAY[n]);
    ptask uuid[] := '{}';
    pseq bigint[] := '{}';
BEGIN
    PERFORM set_config('multica.progress_later', 'on', true);
    FOR i IN SELECT x.ord FROM unnest(p_task) WITH ORDINALITY AS x(task_id, ord)
              ORDER BY x.task_id, x.ord
    LOOP
        SELECT * INTO r
          FROM gateway.daemon_report(p_hash[i], p_user[i], p_task[i], p_kind[i], p_topic[i],
                                     p_event[i], p_session[i], p_work_dir[i]);
        outs[i] := r.outcome;
        sts[i] := r.status;
    END LOOP;
    PERFORM set_config('multica.progress_later', 'off', true);
    SELECT coalesce(array_agg(x.task_id ORDER BY x.ord), '{}'),
           coalesce(array_agg((x.event::jsonb -> 'data' ->> 'seq')::bigint ORDER BY x.ord), '{}')
      INTO ptask, pseq
      FROM unnest(p_task, p_kind, p_event, outs) WITH ORDINALITY AS x(task_id, kind, event, res, ord)
     WHERE x.kind = 'progress' AND x.res IN ('ok', 'sent') AND x.event IS NOT NULL;
    IF cardinality(ptask) > 0 THEN
        PERFORM gateway.log_reported_progress(ptask, pseq);
    END IF;
    RETURN QUERY SELECT outs[k], sts[k] FROM generate_subscripts(p_task, 1) AS k ORDER BY k;
END $$;
COMMENT ON FUNCTION gateway.daemon_reports(text[], uuid[], uuid[], text[], text[], text[], text[], text[]) IS
    'Daemons'' reports applied in one transaction (a group commit), in task order, one row each in arrival order as gateway.daemon_report answers it; the batch''s progress logged last.';
