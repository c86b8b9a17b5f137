/* statements.c: every SQL statement the gateway prepares, by id. Reads return JSON built by
 * Postgres (one text column), so handlers pass it through. */
#include "gateway.h"

#define ISSUE_JSON                                                                                 \
    "json_build_object('id', i.id, 'workspace_id', i.workspace_id, 'title', i.title, "             \
    "'description', i.description, 'status', i.status, 'assignee_type', i.assignee_type, "         \
    "'assignee_id', i.assignee_id, 'project_id', i.project_id, 'created_by', i.created_by, "       \
    "'created_at', i.created_at, 'updated_at', i.updated_at)"
#define TASK_JSON                                                                                  \
    "json_build_object('id', t.task_id, 'workspace_id', t.workspace_id, 'issue_id', t.issue_id, "  \
    "'agent_id', t.agent_id, 'runtime_id', t.runtime_id, 'status', t.status, 'version', "          \
    "t.version, 'attempt', t.attempt, 'lease_until', t.lease_until, 'result', t.result, "          \
    "'failure_reason', t.failure_reason, 'requested_at', t.requested_at, 'dispatched_at', "        \
    "t.dispatched_at, 'started_at', t.started_at, 'completed_at', t.completed_at)"
#define PROJECT_JSON                                                                               \
    "json_build_object('id', p.id, 'workspace_id', p.workspace_id, 'title', p.title, "             \
    "'description', p.description, 'icon', p.icon, 'status', p.status, 'priority', p.priority, "   \
    "'lead_type', p.lead_type, 'lead_id', p.lead_id, 'start_date', p.start_date, 'due_date', "     \
    "p.due_date, 'created_at', p.created_at, 'updated_at', p.updated_at, 'issue_count', (SELECT "  \
    "count(*) FROM gateway.issues i WHERE i.project_id = p.id), 'done_count', (SELECT count(*) "   \
    "FROM gateway.issues i WHERE i.project_id = p.id AND i.status = 'done'), 'resource_count', 0)"
#define AGENT_JSON                                                                                 \
    "json_build_object('id', a.id, 'workspace_id', a.workspace_id, 'name', a.name, 'provider', "   \
    "a.provider, 'runtime_id', a.runtime_id, 'max_concurrent_tasks', a.max_concurrent_tasks, "     \
    "'created_at', a.created_at)"

const struct mc_db_stmt gw_stmts[] = {
    [GW_RUNTIME_BY_TOKEN] = {"gw_runtime_by_token",
                             "SELECT id, workspace_id FROM gateway.runtimes WHERE token_hash = $1"},
    [GW_USER_BY_ID] = {"gw_user_by_id",
                       "SELECT json_build_object('id', id, 'email', email, 'name', name, "
                       "'time_zone', time_zone, 'created_at', created_at)::text "
                       "FROM gateway.users WHERE id = $1"},
    [GW_USER_BY_EMAIL] = {"gw_user_by_email", "SELECT id FROM gateway.users WHERE email = $1"},
    [GW_USER_CREATE] = {"gw_user_create",
                        "INSERT INTO gateway.users (id, email) VALUES ($1, $2) ON CONFLICT (email) "
                        "DO UPDATE SET email = EXCLUDED.email RETURNING id"},
    /* A new code replaces the old one; at most $4 sends per email and hour. */
    [GW_CODE_SEND] = {"gw_code_send",
                      "INSERT INTO gateway.verification_codes AS v (email, code_hash, expires_at) "
                      "VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond') "
                      "ON CONFLICT (email) DO UPDATE SET code_hash = EXCLUDED.code_hash, "
                      "expires_at = EXCLUDED.expires_at, failed_attempts = 0, created_at = now(), "
                      "window_start = CASE WHEN v.window_start < now() - interval '1 hour' "
                      "THEN now() ELSE v.window_start END, "
                      "sends_in_window = CASE WHEN v.window_start < now() - interval '1 hour' "
                      "THEN 1 ELSE v.sends_in_window + 1 END "
                      "WHERE v.window_start < now() - interval '1 hour' OR v.sends_in_window < $4 "
                      "RETURNING 1"},
    [GW_CODE_CHECK] = {"gw_code_check",
                       "SELECT expires_at > now(), failed_attempts FROM gateway.verification_codes "
                       "WHERE email = $1"},
    [GW_CODE_FAIL] = {"gw_code_fail",
                      "UPDATE gateway.verification_codes SET failed_attempts = failed_attempts + 1 "
                      "WHERE email = $1 RETURNING failed_attempts"},
    /* Atomic: only an unexpired code with attempts left is consumed. */
    [GW_CODE_CONSUME] = {"gw_code_consume",
                         "UPDATE gateway.verification_codes SET expires_at = now() "
                         "WHERE email = $1 AND code_hash = $2 AND expires_at > now() "
                         "AND failed_attempts < $3 RETURNING 1"},
    [GW_MEMBER_ROLE] =
        {"gw_member_role",
         "SELECT role FROM gateway.members WHERE workspace_id = $1 AND user_id = $2"},
    [GW_WORKSPACE_CREATE] = {"gw_workspace_create",
                             "WITH w AS (INSERT INTO gateway.workspaces (id, name, created_by) "
                             "VALUES ($1, $2, $3) RETURNING *), m AS (INSERT INTO gateway.members "
                             "(workspace_id, user_id, role) SELECT id, $3, 'owner' FROM w) "
                             "SELECT json_build_object('id', id, 'name', name, 'role', 'owner', "
                             "'created_at', created_at)::text FROM w"},
    [GW_WORKSPACE_LIST] = {"gw_workspace_list",
                           "SELECT coalesce(json_agg(json_build_object('id', w.id, 'name', w.name, "
                           "'role', m.role, 'created_at', w.created_at) ORDER BY w.created_at), "
                           "'[]')::text FROM gateway.members m JOIN gateway.workspaces w "
                           "ON w.id = m.workspace_id WHERE m.user_id = $1"},
    [GW_WORKSPACE_GET] = {"gw_workspace_get",
                          "SELECT json_build_object('id', id, 'name', name, 'created_at', "
                          "created_at)::text FROM gateway.workspaces WHERE id = $1"},
    [GW_MEMBER_LIST] = {"gw_member_list",
                        "SELECT coalesce(json_agg(json_build_object('user_id', u.id, 'email', "
                        "u.email, 'name', u.name, 'role', m.role, 'joined_at', m.created_at) "
                        "ORDER BY m.created_at), '[]')::text FROM gateway.members m "
                        "JOIN gateway.users u ON u.id = m.user_id WHERE m.workspace_id = $1"},
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
    [GW_REGTOKEN_CREATE] = {"gw_regtoken_create",
                            "INSERT INTO gateway.runtime_registration_tokens (token_hash, "
                            "workspace_id, created_by, expires_at) VALUES ($1, $2, $3, now() + "
                            "$4::bigint * interval '1 millisecond') RETURNING expires_at"},
    [GW_RUNTIME_REGISTER] = {"gw_runtime_register",
                             "WITH t AS (UPDATE gateway.runtime_registration_tokens SET used_at = "
                             "now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > "
                             "now() RETURNING workspace_id) INSERT INTO gateway.runtimes (id, "
                             "workspace_id, name, max_concurrency, token_hash, last_seen_at) "
                             "SELECT $2, workspace_id, $3, $4, $5, now() FROM t "
                             "RETURNING workspace_id"},
    [GW_RUNTIME_HEARTBEAT] = {"gw_runtime_heartbeat",
                              "UPDATE gateway.runtimes SET last_seen_at = now() WHERE id = $1 "
                              "RETURNING workspace_id, name, max_concurrency"},
    /* usage_missing_tasks: completed tasks that never reported usage (the usage slice's flag). */
    [GW_RUNTIME_LIST] =
        {"gw_runtime_list",
         "SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, "
         "'max_concurrency', max_concurrency, 'last_seen_at', last_seen_at, "
         "'online', coalesce(last_seen_at > now() - interval '150 seconds', "
         "false), 'created_at', created_at, 'usage_missing_tasks', (SELECT "
         "count(*) FROM usage.task_attribution a WHERE a.usage_missing AND "
         "a.workspace_id = r.workspace_id AND a.runtime_id = r.id)) ORDER BY "
         "created_at), '[]')::text FROM gateway.runtimes r WHERE workspace_id = $1"},
    [GW_RUNTIME_WORKSPACE] = {"gw_runtime_workspace",
                              "SELECT workspace_id FROM gateway.runtimes WHERE id = $1"},
    [GW_AGENT_CREATE] = {"gw_agent_create",
                         "INSERT INTO gateway.agents AS a (id, workspace_id, name, provider, "
                         "runtime_id, max_concurrent_tasks) SELECT $1, $2, $3, $4, r.id, $6 "
                         "FROM gateway.runtimes r WHERE r.id = $5 AND r.workspace_id = $2 "
                         "RETURNING " AGENT_JSON "::text"},
    [GW_AGENT_LIST] = {"gw_agent_list",
                       "SELECT coalesce(json_agg(" AGENT_JSON " ORDER BY a.created_at), "
                       "'[]')::text FROM gateway.agents a WHERE a.workspace_id = $1"},
    [GW_AGENT_GET] = {"gw_agent_get",
                      "SELECT a.workspace_id, a.runtime_id, a.max_concurrent_tasks, " AGENT_JSON
                      "::text FROM gateway.agents a WHERE a.id = $1 FOR UPDATE"},
    [GW_AGENT_SET_RUNTIME] = {"gw_agent_set_runtime",
                              "UPDATE gateway.agents a SET runtime_id = r.id FROM "
                              "gateway.runtimes r WHERE a.id = $1 AND r.id = $2 AND "
                              "r.workspace_id = a.workspace_id RETURNING " AGENT_JSON "::text"},
    /* With a project ($6) the issue's first project change is version 1. */
    [GW_ISSUE_CREATE] = {"gw_issue_create",
                         "INSERT INTO gateway.issues AS i (id, workspace_id, title, description, "
                         "created_by, project_id, project_version) VALUES ($1, $2, $3, "
                         "coalesce($4, ''), $5, $6, CASE WHEN $6::uuid IS NULL THEN 0 ELSE 1 END) "
                         "RETURNING " ISSUE_JSON "::text"},
    /* Keyset pagination on the time-ordered id: newest first, ?before=<id of the last row>. */
    [GW_ISSUE_LIST] = {"gw_issue_list",
                       "SELECT coalesce(json_agg(j ORDER BY id DESC), '[]')::text FROM (SELECT "
                       "i.id, " ISSUE_JSON " AS j FROM gateway.issues i WHERE i.workspace_id = $1 "
                       "AND ($2::text IS NULL OR i.status = $2) AND ($3::uuid IS NULL OR "
                       "i.assignee_id = $3) AND ($5::uuid IS NULL OR i.id < $5) ORDER BY i.id "
                       "DESC LIMIT $4) s"},
    [GW_ISSUE_GET] = {"gw_issue_get",
                      "SELECT i.workspace_id, i.assignee_type, i.assignee_id, " ISSUE_JSON
                      "::text FROM gateway.issues i WHERE i.id = $1"},
    [GW_ISSUE_UPDATE] = {"gw_issue_update",
                         "UPDATE gateway.issues i SET title = coalesce($2, title), description = "
                         "coalesce($3, description), status = coalesce($4, status), updated_at = "
                         "now() WHERE i.id = $1 RETURNING " ISSUE_JSON "::text"},
    [GW_ISSUE_ASSIGN] = {"gw_issue_assign",
                         "UPDATE gateway.issues i SET assignee_type = $2, assignee_id = $3, "
                         "updated_at = now() WHERE i.id = $1 RETURNING " ISSUE_JSON "::text"},
    [GW_ISSUE_DELETE] = {"gw_issue_delete", "DELETE FROM gateway.issues WHERE id = $1 RETURNING 1"},
    [GW_ISSUE_ACTIVE_TASKS] = {"gw_issue_active_tasks",
                               "SELECT task_id FROM gateway.tasks WHERE issue_id = $1 AND status "
                               "IN ('requested', 'queued', 'dispatched', 'running')"},
    [GW_ISSUE_ALL_TASKS] = {"gw_issue_all_tasks",
                            "SELECT task_id FROM gateway.tasks WHERE issue_id = $1 AND status "
                            "<> 'deleted'"},
    [GW_COMMENT_CREATE] = {"gw_comment_create",
                           "INSERT INTO gateway.comments (id, issue_id, author_id, body) VALUES "
                           "($1, $2, $3, $4) RETURNING json_build_object('id', id, 'issue_id', "
                           "issue_id, 'author_id', author_id, 'body', body, 'created_at', "
                           "created_at)::text"},
    [GW_COMMENT_LIST] = {"gw_comment_list",
                         "SELECT coalesce(json_agg(json_build_object('id', id, 'author_id', "
                         "author_id, 'body', body, 'created_at', created_at) ORDER BY id), "
                         "'[]')::text FROM gateway.comments WHERE issue_id = $1"},
    [GW_TASK_REQUEST] = {"gw_task_request",
                         "INSERT INTO gateway.tasks (task_id, workspace_id, issue_id, agent_id, "
                         "runtime_id, status) VALUES ($1, $2, $3, $4, $5, 'requested')"},
    [GW_TASK_LIST_BY_ISSUE] = {"gw_task_list_by_issue",
                               "SELECT coalesce(json_agg(" TASK_JSON " ORDER BY t.task_id), "
                               "'[]')::text FROM gateway.tasks t WHERE t.issue_id = $1"},
    [GW_TASK_GET] = {"gw_task_get",
                     "SELECT t.workspace_id, json_build_object('task', " TASK_JSON ", 'progress', "
                     "(SELECT coalesce(json_agg(json_build_object('seq', p.seq, 'text', p.text, "
                     "'at', p.created_at) ORDER BY p.seq), '[]') FROM gateway.task_progress p "
                     "WHERE p.task_id = t.task_id), 'usage_missing', coalesce((SELECT "
                     "a.usage_missing FROM usage.task_attribution a WHERE a.task_id = "
                     "t.task_id), false))::text FROM gateway.tasks t WHERE t.task_id = $1"},
    [GW_TASK_HELD] = {"gw_task_held",
                      "SELECT status, runtime_id = $2 FROM gateway.tasks WHERE task_id = $1"},
    [GW_TASK_PROJECT] = {"gw_task_project", "SELECT gateway.project_task_event($1::jsonb)"},
    [GW_OUTBOX_INSERT] = {"gw_outbox_insert",
                          "INSERT INTO gateway.outbox (topic, key, payload) VALUES ($1, $2, $3)"},
    [GW_OUTBOX_TAKE] =
        {"gw_outbox_take",
         "SELECT seq, topic, key, payload FROM gateway.outbox ORDER BY seq LIMIT $1"},
    /* Exactly the rows produced: a row with a smaller seq may commit after a later one was
     * read, and deleting by range would drop it unpublished. */
    [GW_OUTBOX_DELETE] = {"gw_outbox_delete",
                          "DELETE FROM gateway.outbox WHERE seq = ANY ($1::bigint[])"},
    [GW_LOG_SINCE] = {"gw_log_since",
                      "SELECT seq, workspace_id, issue_id, task_id, runtime_id, old_runtime_id, "
                      "event::text FROM gateway.task_event_log WHERE seq > $1 ORDER BY seq "
                      "LIMIT $2"},
    [GW_LOG_MAX] = {"gw_log_max", "SELECT coalesce(max(seq), 0) FROM gateway.task_event_log"},
#include "usage_sql.inc"
#include "project_sql.inc"
    [GW_USER_SET_TZ] = {"gw_user_set_tz",
                        "UPDATE gateway.users SET time_zone = coalesce($2, time_zone), name = "
                        "coalesce($3, name) WHERE id = $1 RETURNING 1"},
    /* Usage may come from the runtime that holds the task or held it before a reassignment. */
    [GW_TASK_USAGE_HOLDER] = {"gw_task_usage_holder",
                              "SELECT EXISTS (SELECT 1 FROM gateway.tasks WHERE task_id = $1), "
                              "EXISTS (SELECT 1 FROM gateway.tasks WHERE task_id = $1 AND "
                              "runtime_id = $2) OR EXISTS (SELECT 1 FROM gateway.task_event_log "
                              "WHERE task_id = $1 AND (runtime_id = $2 OR old_runtime_id = $2))"},
    /* One relay at a time across replicas keeps the outbox's order per key. */
    [GW_OUTBOX_LOCK] = {"gw_outbox_lock", "SELECT pg_try_advisory_lock(4251)"},
    [GW_LOG_PRUNE] = {"gw_log_prune",
                      "DELETE FROM gateway.task_event_log WHERE seq IN (SELECT seq FROM "
                      "gateway.task_event_log WHERE created_at < now() - $1::bigint * "
                      "interval '1 millisecond' LIMIT 10000)"},
};
