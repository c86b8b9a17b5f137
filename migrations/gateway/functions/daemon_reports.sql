-- A group commit of daemons' reports (report_writer.c, issue 17): the reports that arrived
-- while the gateway's report writer was busy, for any tasks, applied by gateway.daemon_report
-- in arrival order, in one call and one transaction (one WAL flush for all). One row per
-- report, in order. The log's lock (MC_LOCK_GATEWAY_LOG, which a progress report needs) is
-- taken first, before any task row, when a report needs it or the batch would lock more than
-- one task row (terminal reports): the projection takes it before its row locks too, and could
-- otherwise lock those rows in the other order (a deadlock, found only after deadlock_timeout).
-- Starts lock no task row; a batch of them and at most one terminal report goes without it,
-- and so does not hold the projection back.
CREATE OR REPLACE FUNCTION gateway.daemon_reports(p_hash text[], p_user uuid[], p_task uuid[],
                                                  p_kind text[], p_topic text[],
                                                  p_event text[], p_session text[],
                                                  p_work_dir text[])
RETURNS TABLE (outcome text, status text) LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF 'progress' = ANY (p_kind)
       OR (SELECT count(*) FROM unnest(p_kind) k WHERE k IN ('complete', 'fail', 'cancel_ack')) > 1
    THEN
        PERFORM pg_advisory_xact_lock(4260); -- MC_LOCK_GATEWAY_LOG
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_task, 1), 0) LOOP
        SELECT * INTO r
          FROM gateway.daemon_report(p_hash[i], p_user[i], p_task[i], p_kind[i], p_topic[i],
                                     p_event[i], p_session[i], p_work_dir[i]);
        outcome := r.outcome;
        status := r.status;
        RETURN NEXT;
    END LOOP;
END $$;
COMMENT ON FUNCTION gateway.daemon_reports(text[], uuid[], uuid[], text[], text[], text[], text[], text[]) IS
    'Daemons'' reports applied in one transaction (a group commit), in order, one row each as gateway.daemon_report answers it.';
