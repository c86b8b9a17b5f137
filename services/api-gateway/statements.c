/* statements.c: every SQL statement the gateway prepares, by id. Reads return JSON built by
 * Postgres (one text column), so handlers pass it through. A resource's JSON shape and the
 * membership check are SQL functions (migrations/gateway/functions/: workspace_json.sql,
 * agent_json.sql, issue_json.sql, is_member.sql, ...) that statements call, not C fragments
 * spliced into them. Issues and comments are in issue_sql.inc, tasks and the daemon's claims
 * in task_sql.inc, usage reads in usage_sql.inc. */
#include "gateway.h"

const struct mc_db_stmt gw_stmts[] = {
    /* A token in use is looked up on every request; last_used_at is written at most once a
     * minute, so a busy daemon does not turn reads into writes. */
    [GW_PAT_AUTH] = {"gw_pat_auth",
                     "WITH t AS (SELECT id, user_id, last_used_at FROM "
                     "gateway.personal_access_tokens WHERE token_hash = $1 AND revoked_at IS NULL "
                     "AND (expires_at IS NULL OR expires_at > now())), u AS (UPDATE "
                     "gateway.personal_access_tokens p SET last_used_at = now() FROM t WHERE "
                     "p.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - "
                     "interval '1 minute') RETURNING 1) SELECT id, user_id FROM t"},
    /* A task token lives while its task is dispatched or running. */
    [GW_TASK_TOKEN_AUTH] = {"gw_task_token_auth",
                            "SELECT k.task_id, k.workspace_id, k.issue_id, k.agent_id, k.user_id "
                            "FROM gateway.task_tokens k JOIN gateway.tasks t ON t.task_id = "
                            "k.task_id WHERE k.token_hash = $1 AND k.expires_at > now() AND "
                            "t.status IN ('dispatched', 'running')"},
    [GW_PAT_CREATE] = {"gw_pat_create",
                       "INSERT INTO gateway.personal_access_tokens (id, user_id, name, token_hash, "
                       "token_prefix, expires_at) VALUES ($1, $2, $3, $4, $5, now() + "
                       "$6::integer * interval '1 day') RETURNING json_build_object('id', id, "
                       "'name', name, 'token_prefix', token_prefix, 'expires_at', expires_at, "
                       "'created_at', created_at)::text"},
    [GW_PAT_LIST] = {"gw_pat_list",
                     "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, "
                     "'token_prefix', token_prefix, 'expires_at', expires_at, 'last_used_at', "
                     "last_used_at, 'created_at', created_at) ORDER BY created_at), '[]')::text "
                     "FROM gateway.personal_access_tokens WHERE user_id = $1 AND revoked_at IS "
                     "NULL"},
    [GW_PAT_REVOKE] = {"gw_pat_revoke",
                       "UPDATE gateway.personal_access_tokens SET revoked_at = now() WHERE id = $1 "
                       "AND user_id = $2 AND revoked_at IS NULL RETURNING 1"},
    /* A token without expiry has nothing to renew. */
    [GW_PAT_RENEW] = {"gw_pat_renew",
                      "UPDATE gateway.personal_access_tokens SET expires_at = now() + "
                      "$2::integer * interval '1 day' WHERE id = $1 AND expires_at IS NOT NULL "
                      "AND revoked_at IS NULL RETURNING expires_at"},
    [GW_USER_BY_ID] = {"gw_user_by_id",
                       "SELECT json_build_object('id', id, 'email', email, 'name', "
                       "coalesce(nullif(name, ''), split_part(email, '@', 1)), 'time_zone', "
                       "time_zone, 'created_at', created_at)::text FROM gateway.users WHERE "
                       "id = $1"},
    [GW_USER_BY_EMAIL] = {"gw_user_by_email", "SELECT id FROM gateway.users WHERE email = $1"},
    [GW_USER_CREATE] = {"gw_user_create",
                        "INSERT INTO gateway.users (id, email) VALUES ($1, $2) ON CONFLICT (email) "
                        "DO UPDATE SET email = EXCLUDED.email RETURNING id"},
    /* Both limits and the new code in one step (functions/request_code.sql). */
    [GW_CODE_REQUEST] = {"gw_code_request",
                         "SELECT gateway.request_code($1, $2, $3::bigint, $4::integer, $5, "
                         "$6::integer)"},
    /* Judge and count a guess under the row lock (functions/verify_code.sql). */
    [GW_CODE_VERIFY] = {"gw_code_verify", "SELECT gateway.verify_code($1, $2, $3::integer)"},
    [GW_MEMBER_ROLE] =
        {"gw_member_role",
         "SELECT role FROM gateway.members WHERE workspace_id = $1 AND user_id = $2"},
    /* A slug the caller did not choose gets a suffix when another workspace has it ($6: the
     * caller chose it; a taken chosen slug fails on the unique key). */
    [GW_WORKSPACE_CREATE] =
        {"gw_workspace_create",
         "WITH w AS (INSERT INTO gateway.workspaces (id, name, created_by, "
         "slug, issue_prefix) VALUES ($1, $2, $3, CASE WHEN NOT $6::boolean "
         "AND EXISTS (SELECT 1 FROM gateway.workspaces WHERE slug = $4) THEN "
         "left($4, 70) || '-' || substr(replace($1::uuid::text, '-', ''), 27, 6) "
         "ELSE $4 END, $5) RETURNING *), m AS (INSERT INTO gateway.members "
         "(workspace_id, user_id, role) SELECT id, $3, 'owner' FROM w) "
         "SELECT gateway.workspace_json(w::gateway.workspaces, 'owner')::text FROM w"},
    /* $2: a task token's workspace, the only one it may see (NULL: all of the user's). */
    [GW_WORKSPACE_LIST] = {"gw_workspace_list",
                           "SELECT coalesce(json_agg(gateway.workspace_json(w, m.role) ORDER BY "
                           "w.created_at), '[]')::text FROM gateway.members m JOIN "
                           "gateway.workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 "
                           "AND ($2::uuid IS NULL OR w.id = $2)"},
    [GW_WORKSPACE_GET] =
        {"gw_workspace_get",
         "SELECT gateway.workspace_json(w)::text FROM gateway.workspaces w WHERE w.id = $1"},
    [GW_MEMBER_LIST] = {"gw_member_list",
                        "SELECT coalesce(json_agg(json_build_object('user_id', u.id, 'email', "
                        "u.email, 'name', coalesce(nullif(u.name, ''), split_part(u.email, '@', "
                        "1)), 'role', m.role, 'joined_at', m.created_at) ORDER BY m.created_at), "
                        "'[]')::text FROM gateway.members m JOIN gateway.users u ON u.id = "
                        "m.user_id WHERE m.workspace_id = $1"},
    [GW_MEMBER_ADD] = {"gw_member_add",
                       "WITH u AS (INSERT INTO gateway.users (id, email) VALUES ($2, $3) "
                       "ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id) "
                       "INSERT INTO gateway.members (workspace_id, user_id, role) "
                       "SELECT $1, id, $4 FROM u ON CONFLICT (workspace_id, user_id) DO UPDATE "
                       "SET role = EXCLUDED.role WHERE gateway.members.role <> 'owner' "
                       "RETURNING json_build_object('user_id', user_id, 'email', $3::text, "
                       "'role', role)::text"},
    [GW_MEMBER_REMOVE] = {"gw_member_remove",
                          "DELETE FROM gateway.members WHERE workspace_id = $1 AND user_id = $2 "
                          "AND role <> 'owner' RETURNING 1"},
    /* One runtime per (workspace, daemon, provider): a daemon that registers again (restart,
     * new agent CLI version) keeps its runtime ids. */
    [GW_RUNTIME_UPSERT] = {"gw_runtime_upsert",
                           "INSERT INTO gateway.runtimes AS r (id, workspace_id, daemon_id, "
                           "provider, name, version, device_name, cli_version, owner_id, "
                           "max_concurrency, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                           "$8, $9, $10, now()) ON CONFLICT (workspace_id, daemon_id, provider) "
                           "WHERE daemon_id IS NOT NULL DO UPDATE SET name = EXCLUDED.name, "
                           "version = EXCLUDED.version, device_name = EXCLUDED.device_name, "
                           "cli_version = EXCLUDED.cli_version, owner_id = EXCLUDED.owner_id, "
                           "last_seen_at = now(), offline_at = NULL RETURNING id, name, "
                           "provider, max_concurrency"},
    [GW_RUNTIME_SEEN] = {"gw_runtime_seen",
                         "UPDATE gateway.runtimes r SET last_seen_at = now(), offline_at = NULL "
                         "WHERE r.id = $1 AND gateway.is_member(r.workspace_id, $2) RETURNING "
                         "workspace_id, name, max_concurrency"},
    [GW_RUNTIME_OFFLINE] =
        {"gw_runtime_offline",
         "UPDATE gateway.runtimes r SET offline_at = now() WHERE r.id = $1 "
         "AND gateway.is_member(r.workspace_id, $2) RETURNING workspace_id, name, max_concurrency"},
    /* usage_missing_tasks: completed tasks that never reported usage (the usage slice's flag). */
    [GW_RUNTIME_LIST] =
        {"gw_runtime_list",
         "SELECT coalesce(json_agg(json_build_object('id', r.id, 'workspace_id', "
         "r.workspace_id, 'name', r.name, 'provider', r.provider, 'runtime_mode', "
         "'local', 'daemon_id', "
         "r.daemon_id, 'device_name', r.device_name, 'version', r.version, "
         "'cli_version', r.cli_version, 'owner_id', r.owner_id, "
         "'max_concurrency', r.max_concurrency, 'last_seen_at', r.last_seen_at, "
         "'status', CASE WHEN gateway.runtime_online(r) THEN 'online' ELSE 'offline' "
         "END, 'online', gateway.runtime_online(r), 'created_at', r.created_at, "
         "'usage_missing_tasks', (SELECT count(*) FROM usage.task_attribution a "
         "WHERE a.usage_missing AND a.workspace_id = r.workspace_id AND "
         "a.runtime_id = r.id)) ORDER BY r.created_at), '[]')::text FROM "
         "gateway.runtimes r WHERE r.workspace_id = $1"},
    [GW_RUNTIME_WORKSPACE] = {"gw_runtime_workspace",
                              "SELECT workspace_id FROM gateway.runtimes WHERE id = $1"},
    /* An agent runs the agent CLI of its runtime: its provider is the runtime's. */
    [GW_AGENT_CREATE] = {"gw_agent_create",
                         "INSERT INTO gateway.agents AS a (id, workspace_id, name, provider, "
                         "runtime_id, max_concurrent_tasks, description, instructions) SELECT "
                         "$1, $2, $3, coalesce(nullif(r.provider, ''), 'unknown'), r.id, $5, "
                         "coalesce($6, ''), coalesce($7, '') FROM gateway.runtimes r WHERE r.id "
                         "= $4 AND r.workspace_id = $2 RETURNING gateway.agent_json(a)::text"},
    [GW_AGENT_LIST] = {"gw_agent_list",
                       "SELECT coalesce(json_agg(gateway.agent_json(a) ORDER BY a.created_at), "
                       "'[]')::text FROM gateway.agents a WHERE a.workspace_id = $1"},
    [GW_AGENT_GET] =
        {"gw_agent_get",
         "SELECT a.workspace_id, a.runtime_id, a.max_concurrent_tasks, gateway.agent_json(a)::text "
         "FROM gateway.agents a WHERE a.id = $1 FOR UPDATE"},
    /* An assignment's look: a share lock holds off a move of the agent until it commits (its
     * TaskRequested names the runtime before the move's event), without serialising the
     * agent's assignments (the issue's own row lock orders those of one issue). */
    [GW_AGENT_GET_SHARED] = {"gw_agent_get_shared",
                             "SELECT a.workspace_id, a.runtime_id, a.max_concurrent_tasks "
                             "FROM gateway.agents a WHERE a.id = $1 FOR SHARE"},
    /* A partial update; a new runtime must be in the agent's workspace (no row otherwise). */
    [GW_AGENT_UPDATE] = {"gw_agent_update",
                         "UPDATE gateway.agents a SET name = coalesce($2, a.name), description = "
                         "coalesce($3, a.description), instructions = coalesce($4, "
                         "a.instructions), runtime_id = coalesce(r.id, a.runtime_id), provider = "
                         "coalesce(nullif(r.provider, ''), a.provider), max_concurrent_tasks = "
                         "coalesce($6::integer, a.max_concurrent_tasks) FROM (SELECT $5::uuid AS "
                         "want) x LEFT JOIN gateway.runtimes r ON r.id = x.want WHERE a.id = $1 "
                         "AND (x.want IS NULL OR r.workspace_id = a.workspace_id) RETURNING "
                         "gateway.agent_json(a)::text"},
#include "issue_sql.inc"
#include "task_sql.inc"
    [GW_OUTBOX_INSERT] = {"gw_outbox_insert",
                          "INSERT INTO gateway.outbox (topic, key, payload) VALUES ($1, $2, $3)"},
    /* No FOR UPDATE: the relay's lock (GW_OUTBOX_LOCK) already keeps other rounds off these
     * rows, and a row lock is one more WAL record per event (libs/outbox). */
    [GW_OUTBOX_TAKE] = {"gw_outbox_take",
                        "SELECT seq, topic, key, payload FROM gateway.outbox ORDER BY seq "
                        "LIMIT $1::integer"},
    /* Exactly the rows produced: a row with a smaller seq may commit after a later one was
     * read, and deleting by range would drop it unpublished. */
    [GW_OUTBOX_DELETE] = {"gw_outbox_delete",
                          "DELETE FROM gateway.outbox WHERE seq = ANY ($1::bigint[])"},
    [GW_LOG_SINCE] = {"gw_log_since",
                      "SELECT seq, workspace_id, issue_id, task_id, runtime_id, old_runtime_id, "
                      "event::text, type FROM gateway.task_event_log WHERE seq > $1 ORDER BY seq "
                      "LIMIT $2"},
    [GW_LOG_MAX] = {"gw_log_max", "SELECT coalesce(max(seq), 0) FROM gateway.task_event_log"},
#include "usage_sql.inc"
#include "project_sql.inc"
    [GW_USER_SET_TZ] = {"gw_user_set_tz",
                        "UPDATE gateway.users SET time_zone = coalesce($2, time_zone), name = "
                        "coalesce($3, name) WHERE id = $1 RETURNING 1"},
    /* One relay at a time across replicas keeps the outbox's order per key. */
    [GW_OUTBOX_LOCK] = {"gw_outbox_lock",
                        "SELECT pg_try_advisory_xact_lock(" MC_STR(MC_LOCK_GATEWAY_RELAY) ")"},
    [GW_LOG_PRUNE] = {"gw_log_prune",
                      "DELETE FROM gateway.task_event_log WHERE seq IN (SELECT seq FROM "
                      "gateway.task_event_log WHERE created_at < now() - $1::bigint * "
                      "interval '1 millisecond' LIMIT 10000)"},
    /* What open sockets rest on and no longer stands (ws_standing.c): $1 the tokens they
     * hold, $2 the "workspace user" memberships they rely on, both as JSON objects whose keys
     * are the set. A token that is gone counts as revoked. Rows: (key, reason). */
    [GW_SOCKET_STANDING] =
        {"gw_socket_standing",
         "SELECT k, CASE WHEN p.id IS NOT NULL AND p.revoked_at IS NULL THEN 'token_expired' "
         "ELSE 'token_revoked' END FROM json_object_keys($1::json) AS k LEFT JOIN "
         "gateway.personal_access_tokens p ON p.id = k::uuid WHERE p.id IS NULL OR "
         "p.revoked_at IS NOT NULL OR p.expires_at <= now() UNION ALL SELECT k, "
         "'membership_ended' FROM json_object_keys($2::json) AS k WHERE NOT "
         "gateway.is_member(split_part(k, ' ', 1)::uuid, split_part(k, ' ', 2)::uuid)"},
};
MC_STATIC_ASSERT_LEN(gw_stmts, GW_NSTMTS);
