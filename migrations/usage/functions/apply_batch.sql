-- Applies one ingester batch atomically: checks and advances the stored offsets (a consumer
-- that lost its partitions fails here with SQLSTATE MCF01 and its batch rolls back), skips
-- issue and task event ids seen before, projects the projects of issues and task attribution
-- by version (moving and deleting usage and enqueueing the affected buckets), upserts usage
-- last-write-wins on reported_at (the greater report wins a tie; a replay is a no-op, so
-- usage event ids are not recorded), and keeps usage_missing true exactly for the completed
-- tasks that have no usage row. u_event_ids is not read (kept for the signature).
-- Returns the number of usage rows changed and attribution rows changed. u_cost holds the
-- reported cost in 1e-10 USD, NULL where a report carried none.
-- A batch with task or issue events keeps one plan per session for its statements
-- (plan_cache_mode = force_generic_plan for the call; the nested functions and triggers it
-- calls too): under the default, a statement over the batch's arrays kept a custom plan (it
-- knows the arrays' lengths, so it looks cheaper), planned again at every call. Those batches
-- are small (a few tasks' events, with their usage). A batch of usage reports alone (up to
-- INGEST_BATCH_MAX of them) keeps the default: a plan made for its arrays' real lengths.
-- Kept plans read tables by their keys: task_usage is probed by task (LATERAL ... LIMIT 1)
-- where an EXISTS let the generic plan hash the whole table (branches attr10, flow17).
-- Earlier signatures: before cost and projects, and with cost only.
DROP FUNCTION IF EXISTS usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[],
    uuid[], text[], text[], bigint[], bigint[], bigint[], bigint[], timestamptz[], uuid[], uuid[],
    uuid[], uuid[], uuid[], uuid[], bigint[], boolean[]);
DROP FUNCTION IF EXISTS usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[],
    uuid[], text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], timestamptz[],
    uuid[], uuid[], uuid[], uuid[], uuid[], uuid[], bigint[], boolean[]);
CREATE OR REPLACE FUNCTION usage.apply_batch(
    p_group text,
    p_topics text[], p_partitions integer[], p_expected bigint[], p_next bigint[],
    u_event_ids uuid[], u_task_ids uuid[], u_providers text[], u_models text[],
    u_input bigint[], u_output bigint[], u_cache_read bigint[], u_cache_write bigint[],
    u_cost bigint[], u_reported_at timestamptz[],
    t_event_ids uuid[], t_task_ids uuid[], t_workspace uuid[], t_agent uuid[], t_runtime uuid[],
    t_issue uuid[], t_version bigint[], t_deleted boolean[], t_completed boolean[],
    i_event_ids uuid[], i_issue_ids uuid[], i_workspace uuid[], i_project uuid[],
    i_version bigint[],
    OUT usage_rows integer, OUT attribution_rows integer)
LANGUAGE plpgsql AS $$
DECLARE
    caller_mode text;
    i integer;
    n integer;
    attr_tasks uuid[];
    new_tasks uuid[];
    q_tasks uuid[];
    q_workspace uuid[];
    q_runtime uuid[];
    q_agent uuid[];
    b_task uuid[];
    b_workspace uuid[];
    b_agent uuid[];
    b_runtime uuid[];
    b_issue uuid[];
    b_version bigint[];
    b_deleted boolean[];
    b_completed boolean[];
    b_old_workspace uuid[];
    b_old_agent uuid[];
    b_old_runtime uuid[];
    b_existed boolean[];
BEGIN
    attribution_rows := 0;
    IF cardinality(t_event_ids) > 0 OR cardinality(i_event_ids) > 0 THEN
        caller_mode := current_setting('plan_cache_mode');
        PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
    END IF;
    -- 1. Offsets first: the row locks taken here serialise two consumers of one partition,
    -- and the expected value fences a consumer whose partitions moved on without it.
    FOR i IN 1 .. coalesce(array_length(p_topics, 1), 0) LOOP
        IF p_expected[i] IS NULL THEN
            INSERT INTO usage.consumer_offsets (group_id, topic, partition, next_offset)
            VALUES (p_group, p_topics[i], p_partitions[i], p_next[i])
            ON CONFLICT DO NOTHING;
        ELSE
            UPDATE usage.consumer_offsets
               SET next_offset = p_next[i], updated_at = now()
             WHERE group_id = p_group AND topic = p_topics[i] AND partition = p_partitions[i]
               AND next_offset = p_expected[i];
        END IF;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n <> 1 THEN
            RAISE EXCEPTION 'offsets of %/% moved: another consumer applied this range',
                p_topics[i], p_partitions[i] USING ERRCODE = 'MCF01';
        END IF;
    END LOOP;

    -- Steps 2 and 3 only run for a batch that has such events: a batch of usage reports alone
    -- (nearly every batch) skips their temporary tables and statements.
    IF cardinality(i_event_ids) > 0 THEN
        -- 2. Issue events not seen before, newest version per issue, newer than what is stored:
        -- the buckets of an issue that changes project are queued under the old project, the
        -- project changes, and they are queued under the new one.
        CREATE TEMP TABLE IF NOT EXISTS mc_batch_issue (
            issue_id uuid PRIMARY KEY, workspace_id uuid, project_id uuid, version bigint,
            moved boolean
        ) ON COMMIT DELETE ROWS;
        WITH fresh AS (
            INSERT INTO usage.processed_events (event_id)
            SELECT e FROM unnest(i_event_ids) AS e
            ON CONFLICT DO NOTHING
            RETURNING event_id
        ), ev AS (
            SELECT DISTINCT ON (i.issue_id) i.*
              FROM unnest(i_event_ids, i_issue_ids, i_workspace, i_project, i_version)
                     AS i(event_id, issue_id, workspace_id, project_id, version)
              JOIN fresh f ON f.event_id = i.event_id
             ORDER BY i.issue_id, i.version DESC
        )
        INSERT INTO mc_batch_issue
        SELECT ev.issue_id, ev.workspace_id, ev.project_id, ev.version,
               ev.project_id IS DISTINCT FROM p.project_id
          FROM ev LEFT JOIN usage.issue_projects p ON p.issue_id = ev.issue_id
         WHERE p.issue_id IS NULL OR ev.version > p.version;
        PERFORM usage.enqueue_issue_buckets(array_agg(issue_id)) FROM mc_batch_issue WHERE moved;
        INSERT INTO usage.issue_projects AS p (issue_id, workspace_id, project_id, version, updated_at)
        SELECT issue_id, workspace_id, project_id, version, now() FROM mc_batch_issue
        ON CONFLICT (issue_id) DO UPDATE
           SET workspace_id = EXCLUDED.workspace_id, project_id = EXCLUDED.project_id,
               version = EXCLUDED.version, updated_at = now();
        PERFORM usage.enqueue_issue_buckets(array_agg(issue_id)) FROM mc_batch_issue WHERE moved;
    END IF;

    IF cardinality(t_event_ids) > 0 THEN
        -- 3. Task events not seen before, newest version per task, newer than what is stored,
        -- held in arrays (b_*, one element per task). Not a temporary table: one with ON
        -- COMMIT DELETE ROWS is truncated at every commit, which rebuilds its index and
        -- updates pg_class, and so invalidates every plan that reads it: each batch planned
        -- its statements again.
        WITH fresh AS (
            INSERT INTO usage.processed_events (event_id)
            SELECT e FROM unnest(t_event_ids) AS e
            ON CONFLICT DO NOTHING
            RETURNING event_id
        ), ev AS (
            SELECT DISTINCT ON (t.task_id) t.*
              FROM unnest(t_event_ids, t_task_ids, t_workspace, t_agent, t_runtime, t_issue,
                          t_version, t_deleted, t_completed)
                     AS t(event_id, task_id, workspace_id, agent_id, runtime_id, issue_id, version,
                          deleted, completed)
              JOIN fresh f ON f.event_id = t.event_id
             ORDER BY t.task_id, t.version DESC
        )
        SELECT array_agg(ev.task_id), array_agg(ev.workspace_id), array_agg(ev.agent_id),
               array_agg(ev.runtime_id), array_agg(ev.issue_id), array_agg(ev.version),
               array_agg(ev.deleted), array_agg(coalesce(ev.completed, false)),
               array_agg(a.workspace_id), array_agg(a.agent_id), array_agg(a.runtime_id),
               array_agg(a.task_id IS NOT NULL)
          INTO b_task, b_workspace, b_agent, b_runtime, b_issue, b_version, b_deleted,
               b_completed, b_old_workspace, b_old_agent, b_old_runtime, b_existed
          FROM ev LEFT JOIN usage.task_attribution a ON a.task_id = ev.task_id
         WHERE a.task_id IS NULL OR (ev.version > a.version AND a.deleted_at IS NULL);
    END IF;

    IF b_task IS NOT NULL THEN
        -- Buckets under the old attribution of tasks that move or disappear (a task without
        -- usage rows has no bucket: the call is made only for tasks that have some).
        SELECT array_agg(b.task_id), array_agg(b.old_workspace), array_agg(b.old_runtime),
               array_agg(b.old_agent)
          INTO q_tasks, q_workspace, q_runtime, q_agent
          FROM unnest(b_task, b_workspace, b_agent, b_runtime, b_deleted, b_old_workspace,
                      b_old_agent, b_old_runtime, b_existed)
                 AS b(task_id, workspace_id, agent_id, runtime_id, deleted, old_workspace,
                      old_agent, old_runtime, existed)
         WHERE b.existed AND (b.deleted OR (b.workspace_id, b.agent_id, b.runtime_id)
                                           IS DISTINCT FROM (b.old_workspace, b.old_agent, b.old_runtime))
           AND EXISTS (SELECT 1 FROM usage.task_usage u WHERE u.task_id = b.task_id);
        IF q_tasks IS NOT NULL THEN
            PERFORM usage.enqueue_task_buckets(q_tasks, q_workspace, q_runtime, q_agent);
        END IF;
        IF true = ANY (b_deleted) THEN
            DELETE FROM usage.task_usage u
             WHERE u.task_id IN (SELECT b.task_id FROM unnest(b_task, b_deleted) AS b(task_id, deleted)
                                  WHERE b.deleted);
        END IF;

        INSERT INTO usage.task_attribution AS a
               (task_id, workspace_id, agent_id, runtime_id, issue_id, version, deleted_at,
                completed_at, updated_at)
        SELECT b.task_id, b.workspace_id, b.agent_id, b.runtime_id, b.issue_id, b.version,
               CASE WHEN b.deleted THEN now() END, CASE WHEN b.completed THEN now() END, now()
          FROM unnest(b_task, b_workspace, b_agent, b_runtime, b_issue, b_version, b_deleted,
                      b_completed)
                 AS b(task_id, workspace_id, agent_id, runtime_id, issue_id, version, deleted,
                      completed)
        ON CONFLICT (task_id) DO UPDATE
           SET workspace_id = EXCLUDED.workspace_id, agent_id = EXCLUDED.agent_id,
               runtime_id = EXCLUDED.runtime_id, issue_id = EXCLUDED.issue_id,
               version = EXCLUDED.version, deleted_at = EXCLUDED.deleted_at,
               completed_at = coalesce(a.completed_at, EXCLUDED.completed_at), updated_at = now();
        GET DIAGNOSTICS attribution_rows = ROW_COUNT;
        -- Buckets under the new attribution (a move, or usage that waited for its attribution),
        -- once it is stored, so that they take the project of the task's issue.
        SELECT array_agg(b.task_id), array_agg(b.workspace_id), array_agg(b.runtime_id),
               array_agg(b.agent_id)
          INTO q_tasks, q_workspace, q_runtime, q_agent
          FROM unnest(b_task, b_workspace, b_agent, b_runtime, b_deleted, b_old_workspace,
                      b_old_agent, b_old_runtime, b_existed)
                 AS b(task_id, workspace_id, agent_id, runtime_id, deleted, old_workspace,
                      old_agent, old_runtime, existed)
         WHERE NOT b.deleted AND (NOT b.existed OR (b.workspace_id, b.agent_id, b.runtime_id)
                                                   IS DISTINCT FROM (b.old_workspace, b.old_agent, b.old_runtime))
           AND EXISTS (SELECT 1 FROM usage.task_usage u WHERE u.task_id = b.task_id);
        IF q_tasks IS NOT NULL THEN
            PERFORM usage.enqueue_task_buckets(q_tasks, q_workspace, q_runtime, q_agent);
        END IF;
        attr_tasks := b_task;
    END IF;

    -- 4. Usage events take no dedup row: the upsert below is a replay's no-op by itself.
    -- A key keeps its greatest report in one total order, newest reported_at first, then the
    -- larger counts and cost (a tie on reported_at has one winner whatever the arrival order),
    -- so a report seen again, alone or in a batch, before or after newer ones, finds a row at
    -- least as great and writes nothing: no update, no change log entry. A task's deletion is
    -- final (its attribution keeps deleted_at), so a replay after it is still refused.
    -- docs/ARCHITECTURE.md ("every consumer is idempotent") has the whole argument.
    -- The sort compares text bytewise (COLLATE "C"): only equal keys matter to it, and
    -- equality is the same under any deterministic collation.
    -- A new row takes its task's runtime from the attribution (task_usage.runtime_id, the
    -- reads' index key; NULL without one); an update leaves it (the attribution's trigger
    -- keeps it). One probe per report, as the deletion check alone took.
    WITH ev AS (
        SELECT DISTINCT ON (u.task_id, u.provider COLLATE "C", u.model COLLATE "C") u.*,
               a.runtime_id
          FROM unnest(u_task_ids, u_providers, u_models, u_input, u_output, u_cache_read,
                      u_cache_write, u_cost, u_reported_at)
                 AS u(task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
                      cache_write_tokens, cost_usd_ticks, reported_at)
          LEFT JOIN usage.task_attribution a ON a.task_id = u.task_id
         WHERE a.deleted_at IS NULL
         ORDER BY u.task_id, u.provider COLLATE "C", u.model COLLATE "C", u.reported_at DESC,
                  u.input_tokens DESC, u.output_tokens DESC, u.cache_read_tokens DESC,
                  u.cache_write_tokens DESC, u.cost_usd_ticks DESC NULLS LAST
    )
    , up AS (
    INSERT INTO usage.task_usage AS t
           (task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
            cache_write_tokens, cost_usd_ticks, reported_at, created_at, updated_at, runtime_id)
    SELECT task_id, provider, model, input_tokens, output_tokens, cache_read_tokens,
           cache_write_tokens, cost_usd_ticks, reported_at, reported_at, now(), runtime_id
      FROM ev
    ON CONFLICT (task_id, provider, model) DO UPDATE
       SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
           cache_read_tokens = EXCLUDED.cache_read_tokens,
           cache_write_tokens = EXCLUDED.cache_write_tokens,
           cost_usd_ticks = EXCLUDED.cost_usd_ticks,
           reported_at = EXCLUDED.reported_at, updated_at = now()
     WHERE (EXCLUDED.reported_at, EXCLUDED.input_tokens, EXCLUDED.output_tokens,
            EXCLUDED.cache_read_tokens, EXCLUDED.cache_write_tokens,
            coalesce(EXCLUDED.cost_usd_ticks, -1))
           > (t.reported_at, t.input_tokens, t.output_tokens, t.cache_read_tokens,
              t.cache_write_tokens, coalesce(t.cost_usd_ticks, -1))
    -- xmax is 0 on a row this statement inserted (an updated row carries its lock).
    RETURNING t.task_id, t.xmax = 0 AS inserted)
    SELECT count(*)::integer, array_agg(DISTINCT task_id) FILTER (WHERE inserted)
      INTO usage_rows, new_tasks
      FROM up;
    -- The runtime just written on new rows was read without a lock: an attribution another
    -- batch moves or inserts meanwhile may not see them (its trigger updates the rows it
    -- sees). Locking the attributions of the new rows' tasks (FOR SHARE) waits for such a
    -- batch and reads what it committed; one that comes later waits for this one and then
    -- sees the rows. So a row's runtime_id is its attribution's, or NULL where the
    -- attribution is not committed yet (a read takes NULL rows as unknown). Only new rows:
    -- an update leaves runtime_id, and the attribution's trigger waits for the row's lock.
    -- The lock is taken by a SELECT, and the UPDATE runs only when a row is wrong (rare): an
    -- UPDATE that changes nothing still fires task_usage's statement trigger.
    -- Each task's usage rows are probed by key (LATERAL ... LIMIT 1): as an EXISTS, the kept
    -- generic plan hashed the whole of task_usage at every batch (docs/PERFORMANCE.md,
    -- branch flow17).
    IF new_tasks IS NOT NULL THEN
        SELECT array_agg(a.task_id) INTO q_tasks
          FROM (SELECT x.task_id, x.runtime_id FROM usage.task_attribution x
                 WHERE x.task_id = ANY (new_tasks) AND x.deleted_at IS NULL
                 FOR SHARE) a
         CROSS JOIN LATERAL (SELECT 1 FROM usage.task_usage u
                              WHERE u.task_id = a.task_id
                                AND u.runtime_id IS DISTINCT FROM a.runtime_id
                              LIMIT 1) w;
    END IF;
    IF new_tasks IS NOT NULL AND q_tasks IS NOT NULL THEN
        UPDATE usage.task_usage u
           SET runtime_id = a.runtime_id
          FROM (SELECT x.task_id, x.runtime_id FROM usage.task_attribution x
                 WHERE x.task_id = ANY (q_tasks) AND x.deleted_at IS NULL
                 FOR SHARE) a
         WHERE u.task_id = a.task_id AND u.runtime_id IS DISTINCT FROM a.runtime_id;
        -- A corrected row's logged change (written by this statement's trigger with the
        -- runtime read without a lock) follows it, for a runtime's read (migration 0026).
        -- Only when a row was corrected (rare: a move or late attribution committed during
        -- this batch); it reads the whole log.
        IF FOUND THEN
            UPDATE usage.task_usage_delta d
               SET runtime_id = u.runtime_id
              FROM usage.task_usage u
             WHERE u.task_id = ANY (new_tasks)
               AND (u.task_id, u.provider, u.model) = (d.task_id, d.provider, d.model)
               AND d.runtime_id IS DISTINCT FROM u.runtime_id;
        END IF;
    END IF;

    -- 5. usage_missing: a completed (not deleted) task without any usage row. Only the tasks
    -- this batch completed, deleted or reported usage for can change, and only those whose
    -- flag is wrong are written. They are found by a SELECT first: an UPDATE of no row still
    -- fires task_attribution's statement trigger (and that one task_usage's), and nearly
    -- every batch has no flag to change. The UPDATE checks each row again. Whether a task
    -- has usage is one probe by key (LATERAL ... LIMIT 1): as a NOT EXISTS in the condition,
    -- the kept generic plan made it a hashed subplan, a read of the whole of task_usage at
    -- every batch (docs/PERFORMANCE.md, branch flow17).
    SELECT array_agg(a.task_id) INTO q_tasks
      FROM usage.task_attribution a
      LEFT JOIN LATERAL (SELECT true AS used FROM usage.task_usage u
                          WHERE u.task_id = a.task_id LIMIT 1) h ON true
     WHERE a.task_id = ANY (u_task_ids || attr_tasks)
       AND a.usage_missing IS DISTINCT FROM (a.completed_at IS NOT NULL AND a.deleted_at IS NULL
                                             AND h.used IS NULL);
    IF q_tasks IS NOT NULL THEN
        UPDATE usage.task_attribution a
           SET usage_missing = NOT a.usage_missing
         WHERE a.task_id = ANY (q_tasks)
           AND a.usage_missing IS DISTINCT FROM (a.completed_at IS NOT NULL AND a.deleted_at IS NULL
                                                 AND NOT EXISTS (SELECT 1 FROM usage.task_usage u
                                                                  WHERE u.task_id = a.task_id));
    END IF;
    IF caller_mode IS NOT NULL THEN
        PERFORM set_config('plan_cache_mode', caller_mode, true);
    END IF;
END
$$;
COMMENT ON FUNCTION usage.apply_batch(text, text[], integer[], bigint[], bigint[], uuid[], uuid[],
    text[], text[], bigint[], bigint[], bigint[], bigint[], bigint[], timestamptz[], uuid[],
    uuid[], uuid[], uuid[], uuid[], uuid[], bigint[], boolean[], boolean[], uuid[], uuid[],
    uuid[], uuid[], bigint[]) IS
    'One ingester batch in one transaction: fenced offsets, event-id dedup, issue projects and task attribution by version, last-write-wins usage, usage_missing.';
