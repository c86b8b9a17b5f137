-- A group commit of daemons' message batches (message_writer.c, issue 17): the batches that
-- arrived while the gateway's message writer was busy, for any tasks, each applied by
-- gateway.daemon_messages in one call and one transaction (one WAL flush for all; each batch
-- alone was its own commit, about one a task). One row per batch, in arrival order. The
-- batches are applied in task order (a task's own in arrival order), as daemon_reports
-- applies reports, so that two such calls meet a task's row in the same order.
CREATE OR REPLACE FUNCTION gateway.daemon_messages_grouped(p_hash text[], p_user uuid[],
                                                           p_task uuid[], p_messages jsonb[])
RETURNS TABLE (outcome text, stored integer) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    i bigint;
    n integer := coalesce(cardinality(p_task), 0);
    outs text[] := array_fill(NULL::text, ARRAY[n]);
    counts integer[] := array_fill(NULL::integer, ARRAY[n]);
BEGIN
    FOR i IN SELECT x.ord FROM unnest(p_task) WITH ORDINALITY AS x(task_id, ord)
              ORDER BY x.task_id, x.ord
    LOOP
        SELECT * INTO r
          FROM gateway.daemon_messages(p_hash[i], p_user[i], p_task[i], p_messages[i]);
        outs[i] := r.outcome;
        counts[i] := r.stored;
    END LOOP;
    RETURN QUERY SELECT x.o, x.s FROM unnest(outs, counts) WITH ORDINALITY AS x(o, s, ord)
                  ORDER BY x.ord;
END $$;
COMMENT ON FUNCTION gateway.daemon_messages_grouped(text[], uuid[], uuid[], jsonb[]) IS
    'Daemons'' message batches in one call and one commit (the message writer''s group): gateway.daemon_messages for each, in task order; one row per batch in arrival order.';
