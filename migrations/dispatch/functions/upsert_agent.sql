-- Creates or updates an agent, last writer (by command time) wins for runtime and concurrency.
-- A command that changes nothing writes nothing: the row lock an update takes would serialise
-- every batch that names a busy agent and make dispatch rounds skip it.
CREATE OR REPLACE FUNCTION dispatch.upsert_agent(p_agent uuid, p_workspace uuid, p_runtime uuid,
                                      p_max integer, p_at timestamptz)
RETURNS dispatch.agents LANGUAGE plpgsql AS $$
DECLARE
    a dispatch.agents;
BEGIN
    SELECT * INTO a FROM dispatch.agents WHERE agent_id = p_agent;
    IF FOUND AND (a.described_at > p_at
                  OR (a.workspace_id = p_workspace AND a.runtime_id = p_runtime
                      AND a.max_concurrent_tasks = coalesce(p_max, a.max_concurrent_tasks))) THEN
        RETURN a;
    END IF;
    INSERT INTO dispatch.agents AS g (agent_id, workspace_id, runtime_id, max_concurrent_tasks,
                                      described_at)
    VALUES (p_agent, p_workspace, p_runtime, coalesce(p_max, 1), p_at)
    ON CONFLICT (agent_id) DO UPDATE SET
        workspace_id = CASE WHEN EXCLUDED.described_at >= g.described_at
                            THEN EXCLUDED.workspace_id ELSE g.workspace_id END,
        runtime_id = CASE WHEN EXCLUDED.described_at >= g.described_at
                          THEN EXCLUDED.runtime_id ELSE g.runtime_id END,
        max_concurrent_tasks = CASE WHEN EXCLUDED.described_at >= g.described_at
                                    THEN coalesce(p_max, g.max_concurrent_tasks)
                                    ELSE g.max_concurrent_tasks END,
        described_at = greatest(g.described_at, EXCLUDED.described_at),
        updated_at = now()
    RETURNING * INTO a;
    RETURN a;
END $$;
COMMENT ON FUNCTION dispatch.upsert_agent(uuid, uuid, uuid, integer, timestamptz) IS
    'Records an agent as a command describes it; a command older than the newest one applied, or one that changes nothing, writes nothing.';
