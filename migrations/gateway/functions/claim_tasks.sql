-- A daemon's claim: hands out the oldest tasks the dispatcher dispatched to the given runtimes
-- (those of workspaces the caller belongs to) that no claim holds, at most one per token hash
-- given. Each hand-out is recorded with a lease (a task not started before it ends is offered
-- again) and gets a task token (the hash; the caller keeps the token). Returns, per task, the
-- index of the hash it used and the task as the daemon reads it.
CREATE OR REPLACE FUNCTION gateway.claim_tasks(p_user uuid, p_daemon text, p_runtimes uuid[],
                                               p_lease interval, p_hashes text[],
                                               p_token_ttl interval)
RETURNS TABLE (ord integer, task json) LANGUAGE plpgsql AS $$
DECLARE
    t record;
    i integer := 0;
BEGIN
    FOR t IN
        SELECT q.task_id, q.workspace_id, q.issue_id, q.agent_id, q.runtime_id, q.attempt
          FROM gateway.tasks q
          JOIN gateway.runtimes r ON r.id = q.runtime_id
         WHERE q.runtime_id = ANY (p_runtimes) AND q.status = 'dispatched'
           AND (q.claim_until IS NULL OR q.claim_until < now())
           AND EXISTS (SELECT 1 FROM gateway.members m
                        WHERE m.workspace_id = r.workspace_id AND m.user_id = p_user)
         ORDER BY q.dispatched_at, q.task_id
         LIMIT coalesce(array_length(p_hashes, 1), 0)
           FOR UPDATE OF q SKIP LOCKED
    LOOP
        i := i + 1;
        UPDATE gateway.tasks
           SET claimed_at = now(), claim_until = now() + p_lease, claimed_by = p_daemon,
               updated_at = now()
         WHERE task_id = t.task_id;
        INSERT INTO gateway.task_tokens (token_hash, task_id, workspace_id, issue_id, agent_id,
                                         user_id, expires_at)
        VALUES (p_hashes[i], t.task_id, t.workspace_id, t.issue_id, t.agent_id, p_user,
                now() + p_token_ttl);
        ord := i;
        -- A later task of the agent on the same issue resumes the session of the last one.
        SELECT json_build_object(
                   'id', t.task_id, 'runtime_id', t.runtime_id, 'workspace_id', t.workspace_id,
                   'issue_id', t.issue_id, 'agent_id', t.agent_id, 'status', 'dispatched',
                   'attempt', t.attempt,
                   'agent', json_build_object('id', a.id, 'name', a.name,
                                              'instructions', a.instructions),
                   'repos', '[]'::json,
                   'prior_session_id', p.session_id, 'prior_work_dir', p.work_dir)
          INTO task
          FROM gateway.agents a
          LEFT JOIN LATERAL (SELECT o.session_id, o.work_dir FROM gateway.tasks o
                              WHERE o.agent_id = t.agent_id AND o.issue_id = t.issue_id
                                AND o.task_id <> t.task_id AND o.session_id IS NOT NULL
                                AND o.status = 'completed'
                              ORDER BY o.completed_at DESC LIMIT 1) p ON true
         WHERE a.id = t.agent_id;
        RETURN NEXT;
    END LOOP;
END $$;
COMMENT ON FUNCTION gateway.claim_tasks(uuid, text, uuid[], interval, text[], interval) IS
    'A daemon''s claim: dispatched, unclaimed tasks of its runtimes, at most one per token hash, each recorded with a lease and a task token.';
