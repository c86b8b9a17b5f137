/* http_issues.c: issues, assignment (which starts and stops tasks), and comments.
 *
 *   POST   /api/workspaces/{workspace_id}/issues {title, description}
 *   GET    /api/workspaces/{workspace_id}/issues?status=&assignee_id=&limit=&before=
 *   GET    /api/issues/{issue_id}
 *   PATCH  /api/issues/{issue_id} {title?, description?, status?}
 *   POST   /api/issues/{issue_id}/assign {agent_id} | {member_id} | {}
 *   DELETE /api/issues/{issue_id}
 *   POST   /api/issues/{issue_id}/comments {body}
 *   GET    /api/issues/{issue_id}/comments
 *
 * Assigning to an agent mints a task id and writes TaskRequested to the outbox in the same
 * transaction; unassigning (or reassigning) cancels the issue's active tasks, and deleting the
 * issue asks for its tasks to be deleted (TaskCancelRequested with delete=true). */
#include "gateway.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const statuses[] = {"backlog",   "todo", "in_progress",
                                       "in_review", "done", "cancelled"};

static bool valid_status(const char *s)
{
    for (size_t i = 0; i < MC_ARRAY_LEN(statuses); i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

/* Loads an issue the caller may see (row: workspace_id, assignee_type, assignee_id, json), or
 * answers 404/503 and returns NULL. */
static PGresult *issue_for(mc_db *db, struct _u_response *resp, const char *issue)
{
    PGresult *r = NULL;
    const char *p[] = {issue};
    int rc = mc_db_exec(db, GW_ISSUE_GET, 1, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (PQntuples(r) == 0) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
    } else if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) == 0) {
        return r;
    }
    PQclear(r);
    return NULL;
}

int gw_post_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    json_t *body = ws ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false;
    mc_db *db = NULL;
    const char *title = gw_str_field(body, "title", 1, 500, true, resp, &bad);
    const char *desc = bad ? NULL : gw_str_field(body, "description", 0, 100000, false, resp, &bad);
    if (!bad && (db = gw_db(ctx, resp)) != NULL && gw_require_member(resp, db, ws, false) == 0) {
        char id[MC_UUID_STRLEN];
        mc_uuid_v7(id);
        const char *p[] = {id, ws, title, desc, gw_principal(resp)->user_id};
        gw_answer_json(resp, db, GW_ISSUE_CREATE, 5, p, 201);
    }
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_get_issues(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    const char *status = u_map_get(req->map_url, "status");
    const char *assignee = u_map_get(req->map_url, "assignee_id");
    const char *before = u_map_get(req->map_url, "before");
    const char *limit_s = u_map_get(req->map_url, "limit");
    long limit = limit_s ? strtol(limit_s, NULL, 10) : 50;
    if (status && !valid_status(status))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "status",
                             "must be backlog, todo, in_progress, in_review, done or cancelled"),
               U_CALLBACK_COMPLETE;
    if (assignee && !mc_uuid_valid(assignee))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_id", "must be a UUID"),
               U_CALLBACK_COMPLETE;
    if (before && !mc_uuid_valid(before))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "before", "must be an issue id"),
               U_CALLBACK_COMPLETE;
    if (limit < 1 || limit > 200)
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "limit",
                             "must be an integer between 1 and 200"),
               U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    if (gw_require_member(resp, db, ws, false) == 0) {
        char lim[16];
        snprintf(lim, sizeof lim, "%ld", limit);
        const char *p[] = {ws, status, assignee, lim, before};
        PGresult *r = NULL;
        int rc = mc_db_exec(db, GW_ISSUE_LIST, 5, p, &r);
        if (rc != 0) {
            gw_db_error(resp, db, rc);
        } else {
            json_t *issues = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
            size_t n = json_array_size(issues);
            json_t *last = n > 0 ? json_object_get(json_array_get(issues, n - 1), "id") : NULL;
            mc_http_json(resp, 200,
                         json_pack("{so so}", "issues", issues, "next_before",
                                   n == (size_t)limit && last ? json_incref(last) : json_null()));
        }
        PQclear(r);
    }
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    mc_db *db = issue ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = issue_for(db, resp, issue);
    if (r != NULL) {
        ulfius_set_string_body_response(resp, 200, PQgetvalue(r, 0, 3));
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

static int run_wanted(mc_db *db, const char *issue, const char *status, const char *agent,
                      bool *wanted);
static int request_task(mc_db *db, const char *issue, const char *ws, const char *agent,
                        struct _u_response *resp, char task[MC_UUID_STRLEN]);

/* Leaving the backlog (to a status that is neither done nor cancelled) starts the assigned
 * agent's run, as Multica does; any other edit starts nothing. cur is the issue's row. */
static void update_issue(struct gw_ctx *ctx, mc_db *db, struct _u_response *resp,
                         const PGresult *cur, const char *issue, const char *title,
                         const char *desc, const char *status)
{
    const char *was = PQgetvalue(cur, 0, 4);
    bool leaves_backlog = status != NULL && strcmp(was, "backlog") == 0 &&
                          strcmp(status, "backlog") != 0 && strcmp(status, "done") != 0 &&
                          strcmp(status, "cancelled") != 0;
    const char *agent = !PQgetisnull(cur, 0, 1) && strcmp(PQgetvalue(cur, 0, 1), "agent") == 0
                            ? PQgetvalue(cur, 0, 2)
                            : NULL;
    const char *p[] = {issue, title, desc, status};
    char task[MC_UUID_STRLEN] = "";
    PGresult *out = NULL;
    bool wanted = false;
    int rc;
    if ((rc = mc_db_begin(db)) != 0 || (rc = mc_db_exec(db, GW_ISSUE_UPDATE, 4, p, &out)) != 0 ||
        (leaves_backlog && (rc = run_wanted(db, issue, status, agent, &wanted)) != 0) ||
        (wanted && (rc = request_task(db, issue, PQgetvalue(cur, 0, 0), agent, resp, task)) != 0) ||
        (rc = mc_db_commit(db)) != 0) {
        mc_db_rollback(db);
        if (rc != MC_ENOTFOUND)
            gw_db_error(resp, db, rc);
        PQclear(out);
        return;
    }
    if (wanted)
        gw_outbox_kick(ctx);
    json_t *issue_json = json_loads(PQgetvalue(out, 0, 0), 0, NULL);
    if (wanted)
        json_object_set_new(issue_json, "task_id", json_string(task));
    mc_http_json(resp, 200, issue_json);
    PQclear(out);
}

int gw_patch_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    json_t *body = issue ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false;
    mc_db *db = NULL;
    PGresult *r = NULL;
    const char *title = gw_str_field(body, "title", 1, 500, false, resp, &bad);
    const char *desc = bad ? NULL : gw_str_field(body, "description", 0, 100000, false, resp, &bad);
    const char *status = bad ? NULL : gw_str_field(body, "status", 1, 32, false, resp, &bad);
    if (!bad && status && !valid_status(status)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "status",
                      "must be backlog, todo, in_progress, in_review, done or cancelled");
        bad = true;
    }
    if (!bad && (db = gw_db(ctx, resp)) != NULL && (r = issue_for(db, resp, issue)) != NULL)
        update_issue(ctx, db, resp, r, issue, title, desc, status);
    PQclear(r);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* Writes TaskCancelRequested for every task of the issue that stmt returns. */
static int cancel_tasks(mc_db *db, const char *issue, int stmt, bool delete, const char *reason)
{
    PGresult *r = NULL;
    const char *p[] = {issue};
    int rc = mc_db_exec(db, stmt, 1, p, &r);
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *task = PQgetvalue(r, i, 0);
        json_t *data = json_pack("{ss ss sb}", "task_id", task, "reason", reason, "delete", delete);
        rc = gw_outbox_add(db, MC_EV_TASK_CANCEL_REQUESTED, task, task, data);
    }
    PQclear(r);
    return rc;
}

/* The agent row (workspace, runtime, max tasks) when agent belongs to ws; otherwise NULL
 * with *rc set (MC_ENOTFOUND with the 400 written, or the database error). */
static PGresult *agent_of(mc_db *db, const char *agent, const char *ws, struct _u_response *resp,
                          int *rc)
{
    PGresult *a = NULL;
    const char *pa[] = {agent};
    *rc = mc_db_exec(db, GW_AGENT_GET, 1, pa, &a);
    if (*rc == 0 && PQntuples(a) == 1 && strcmp(PQgetvalue(a, 0, 0), ws) == 0)
        return a;
    if (*rc == 0) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "agent_id",
                      "no such agent in this workspace");
        *rc = MC_ENOTFOUND;
    }
    PQclear(a);
    return NULL;
}

/* Requests a task of agent for the issue: read-model row and TaskRequested. */
static int request_task(mc_db *db, const char *issue, const char *ws, const char *agent,
                        struct _u_response *resp, char task[MC_UUID_STRLEN])
{
    int rc;
    PGresult *a = agent_of(db, agent, ws, resp, &rc);
    if (a == NULL)
        return rc;
    mc_uuid_v7(task);
    const char *runtime = PQgetvalue(a, 0, 1);
    const char *pt[] = {task, ws, issue, agent, runtime};
    rc = mc_db_exec(db, GW_TASK_REQUEST, 5, pt, NULL);
    if (rc == 0) {
        json_t *data = json_pack("{ss ss ss ss ss s:s? si}", "task_id", task, "workspace_id", ws,
                                 "agent_id", agent, "runtime_id", runtime, "issue_id", issue,
                                 "requested_by", gw_principal(resp)->user_id,
                                 "agent_max_concurrent_tasks", atoi(PQgetvalue(a, 0, 2)));
        rc = gw_outbox_add(db, MC_EV_TASK_REQUESTED, task, task, data);
    }
    PQclear(a);
    return rc;
}

/* Reads the assign body: exactly one of agent_id and member_id, each a UUID or null (null
 * unassigns), and nothing else. A misspelt, mistyped or missing field is refused before
 * anything changes: it must never read as "unassign". Returns false with the 400 written. */
static bool assign_body(const json_t *body, struct _u_response *resp, const char **field,
                        const char **id)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "agent_id") != 0 && strcmp(key, "member_id") != 0) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, key,
                          "unknown field: give agent_id or member_id");
            return false;
        }
    }
    bool agent = json_object_get(body, "agent_id") != NULL;
    bool member = json_object_get(body, "member_id") != NULL;
    if (agent == member) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "agent_id",
                      agent ? "give agent_id or member_id, not both"
                            : "is required: give agent_id or member_id (null unassigns)");
        return false;
    }
    *field = agent ? "agent_id" : "member_id";
    v = json_object_get(body, *field);
    if (json_is_null(v)) {
        *id = NULL;
        return true;
    }
    if (!json_is_string(v) || !mc_uuid_valid(json_string_value(v))) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, *field, "must be a UUID or null");
        return false;
    }
    *id = json_string_value(v);
    return true;
}

/* Whether assigning agent to the issue starts a run, as Multica decides it (its
 * WillEnqueueRun): never into backlog, which is the parking lot, and not when that agent
 * already has a run of the issue under way (a second one would work unaware of the first). */
static int run_wanted(mc_db *db, const char *issue, const char *status, const char *agent,
                      bool *wanted)
{
    *wanted = false;
    if (agent == NULL || strcmp(status, "backlog") == 0)
        return 0;
    PGresult *r = NULL;
    const char *p[] = {issue, agent};
    int rc = mc_db_exec(db, GW_ISSUE_AGENT_ACTIVE, 2, p, &r);
    if (rc == 0)
        *wanted = strcmp(mc_db_value(r), "0") == 0;
    PQclear(r);
    return rc;
}

/* POST /api/issues/{id}/assign. Changing the assignee never cancels a run under way, the
 * previous assignee's included (Multica removed that in its #4963: a handoff is not an
 * interruption); a run is cancelled by cancelling it, or by deleting the issue. */
int gw_post_assign(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    json_t *body = issue ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    const char *field = NULL, *id = NULL;
    /* Access first: someone outside the workspace learns nothing, not even about the body. */
    if ((db = gw_db(ctx, resp)) == NULL || (cur = issue_for(db, resp, issue)) == NULL)
        goto cleanup;
    if (!assign_body(body, resp, &field, &id))
        goto cleanup;
    bool to_agent = strcmp(field, "agent_id") == 0;
    const char *agent = to_agent ? id : NULL;
    const char *ws = PQgetvalue(cur, 0, 0);
    char role[16], task[MC_UUID_STRLEN] = "";
    int rc = 0;
    PGresult *known = agent ? agent_of(db, agent, ws, resp, &rc) : NULL;
    PQclear(known);
    if (rc != 0) {
        if (rc != MC_ENOTFOUND)
            gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (!to_agent && id != NULL && (rc = gw_member_role(db, ws, id, role)) != 0) {
        if (rc == MC_ENOTFOUND)
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "member_id",
                          "no such member in this workspace");
        else
            gw_db_error(resp, db, rc);
        goto cleanup;
    }
    const char *pi[] = {issue, id == NULL ? NULL : to_agent ? "agent" : "member", id};
    PGresult *out = NULL;
    bool wanted = false;
    if ((rc = mc_db_begin(db)) != 0 ||
        (rc = run_wanted(db, issue, PQgetvalue(cur, 0, 4), agent, &wanted)) != 0 ||
        (wanted && (rc = request_task(db, issue, ws, agent, resp, task)) != 0) ||
        (rc = mc_db_exec(db, GW_ISSUE_ASSIGN, 3, pi, &out)) != 0 || (rc = mc_db_commit(db)) != 0) {
        if (rc != MC_ENOTFOUND)
            gw_db_error(resp, db, rc);
        PQclear(out);
        goto cleanup;
    }
    gw_outbox_kick(ctx);
    json_t *issue_json = json_loads(PQgetvalue(out, 0, 0), 0, NULL);
    json_object_set_new(issue_json, "task_id", task[0] ? json_string(task) : json_null());
    mc_http_json(resp, 200, issue_json);
    PQclear(out);
cleanup:
    PQclear(cur);
    if (db) {
        mc_db_rollback(db);
        gw_db_release(ctx, db);
    }
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_delete_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    mc_db *db = issue ? gw_db(ctx, resp) : NULL;
    PGresult *cur = db ? issue_for(db, resp, issue) : NULL;
    if (cur != NULL) {
        const char *p[] = {issue};
        int rc;
        if ((rc = mc_db_begin(db)) != 0 ||
            (rc = cancel_tasks(db, issue, GW_ISSUE_ALL_TASKS, true, "issue deleted")) != 0 ||
            (rc = mc_db_exec(db, GW_ISSUE_DELETE, 1, p, NULL)) != 0 ||
            (rc = mc_db_commit(db)) != 0) {
            mc_db_rollback(db);
            gw_db_error(resp, db, rc);
        } else {
            gw_outbox_kick(ctx);
            ulfius_set_empty_body_response(resp, 204);
        }
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_post_comment(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    json_t *body = issue ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    const char *text = gw_str_field(body, "body", 1, 100000, true, resp, &bad);
    if (!bad && (db = gw_db(ctx, resp)) != NULL && (cur = issue_for(db, resp, issue)) != NULL) {
        char id[MC_UUID_STRLEN];
        mc_uuid_v7(id);
        const char *p[] = {id, issue, gw_principal(resp)->user_id, text};
        gw_answer_json(resp, db, GW_COMMENT_CREATE, 4, p, 201);
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* A read of something of an issue the caller may see: stmt($1 = issue_id) as JSON. */
static int issue_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      int stmt)
{
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    mc_db *db = issue ? gw_db(ctx, resp) : NULL;
    PGresult *cur = db ? issue_for(db, resp, issue) : NULL;
    if (cur != NULL) {
        const char *p[] = {issue};
        gw_answer_json(resp, db, stmt, 1, p, 200);
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_comments(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return issue_read(req, resp, ud, GW_COMMENT_LIST);
}

int gw_get_issue_tasks(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return issue_read(req, resp, ud, GW_TASK_LIST_BY_ISSUE);
}
