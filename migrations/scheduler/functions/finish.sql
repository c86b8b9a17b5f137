CREATE OR REPLACE FUNCTION scheduler.finish(p_id bigint, p_lease uuid, p_status text, p_result jsonb,
                                 p_error_code text, p_error_msg text, p_sqlstate text)
RETURNS boolean LANGUAGE sql AS $$
    WITH u AS (
        UPDATE scheduler.sys_cron_executions
           SET status = p_status, result = p_result, error_code = p_error_code,
               error_msg = p_error_msg, sqlstate = p_sqlstate, finished_at = clock_timestamp()
         WHERE id = p_id AND lease_token = p_lease AND status = 'RUNNING'
        RETURNING 1)
    SELECT count(*) = 1 FROM u
$$;
COMMENT ON FUNCTION scheduler.finish(bigint, uuid, text, jsonb, text, text, text) IS
    'Records the outcome of an attempt; false (and nothing written) when the lease was lost.';
