/* http_issues.c: issues, assignment (which starts and stops tasks), and comments.
 *
 *   POST   /api/workspaces/{workspace_id}/issues {title, description, project_id?}
 *   GET    /api/workspaces/{workspace_id}/issues?status=&assignee_id=&limit=&before=
 *   GET    /api/issues/{issue_id}
 *   PATCH  /api/issues/{issue_id} {title?, description?, status?, project_id? (null: none)}
 *   POST   /api/issues/{issue_id}/assign {agent_id} | {member_id} | {}
 *   DELETE /api/issues/{issue_id}
 *   POST   /api/issues/{issue_id}/comments {body}
 *   GET    /api/issues/{issue_id}/comments
 *
 * Assigning to an agent mints a task id and writes TaskRequested to the outbox in the same
 * transaction; unassigning (or reassigning) cancels the issue's active tasks, and deleting the
 * issue asks for its tasks to be deleted (TaskCancelRequested with delete=true). An issue
 * belongs to at most one project of its workspace; each change of it writes
 * IssueProjectChanged to the outbox with the change, which moves the issue's usage. */
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

/* A body's project_id: absent (*given false), null (no project) or a UUID; 400 otherwise. */
static bool project_field(const json_t *body, struct _u_response *resp, bool *given,
                          const char **project)
{
    const json_t *v = json_object_get(body, "project_id");
    *given = v != NULL;
    *project = json_string_value(v);
    if (v == NULL || json_is_null(v) || (*project && mc_uuid_valid(*project)))
        return true;
    mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "project_id", "must be a project id or null");
    return false;
}

/* Inside the caller's transaction: the project must be one of the workspace's (it is then
 * locked against deletion until commit). 0, MC_ENOTFOUND (answered 400) or a database error. */
static int check_project(mc_db *db, struct _u_response *resp, const char *ws, const char *project)
{
    PGresult *r = NULL;
    const char *p[] = {project, ws};
    int rc = project ? mc_db_exec(db, GW_PROJECT_IN_WORKSPACE, 2, p, &r) : 0;
    if (rc == 0 && project && PQntuples(r) == 0) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "project_id",
                      "no such project in this workspace");
        rc = MC_ENOTFOUND;
    }
    PQclear(r);
    return rc;
}

/* Runs stmt in the open transaction, commits, and answers its JSON row with status. */
static void commit_and_answer(struct gw_ctx *ctx, mc_db *db, struct _u_response *resp, int stmt,
                              int n, const char *const *p, unsigned status)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, stmt, n, p, &r);
    if (rc == 0 && PQntuples(r) == 0) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
    } else if (rc != 0 || (rc = mc_db_commit(db)) != 0) {
        gw_db_error(resp, db, rc);
    } else {
        gw_outbox_kick(ctx);
        ulfius_set_string_body_response(resp, status, PQgetvalue(r, 0, 0));
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
    PQclear(r);
    mc_db_rollback(db);
}

int gw_post_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    json_t *body = ws ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false, given;
    mc_db *db = NULL;
    const char *project = NULL;
    const char *title = gw_str_field(body, "title", 1, 500, true, resp, &bad);
    const char *desc = bad ? NULL : gw_str_field(body, "description", 0, 100000, false, resp, &bad);
    if (!bad && project_field(body, resp, &given, &project) && (db = gw_db(ctx, resp)) != NULL &&
        gw_require_member(resp, db, ws, false) == 0) {
        char id[MC_UUID_STRLEN];
        mc_uuid_v7(id);
        const char *p[] = {id, ws, title, desc, gw_principal(resp)->user_id, project};
        int rc = mc_db_begin(db);
        if (rc == 0 && (rc = check_project(db, resp, ws, project)) == 0 && project)
            rc = gw_issue_project_event(db, id, ws, project, "1");
        if (rc == 0)
            commit_and_answer(ctx, db, resp, GW_ISSUE_CREATE, 6, p, 201);
        else if (rc != MC_ENOTFOUND)
            gw_db_error(resp, db, rc);
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

/* Moves the issue to project (NULL: none) and writes its IssueProjectChanged, in the open
 * transaction; nothing when the issue is already there. */
static int set_project(mc_db *db, const char *issue, const char *project)
{
    PGresult *r = NULL;
    const char *p[] = {issue, project};
    int rc = mc_db_exec(db, GW_ISSUE_SET_PROJECT, 2, p, &r);
    if (rc == 0 && PQntuples(r) == 1)
        rc = gw_issue_project_event(db, issue, PQgetvalue(r, 0, 0), project, PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc;
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
    bool given = false;
    const char *project = NULL;
    if (!bad && project_field(body, resp, &given, &project) && (db = gw_db(ctx, resp)) != NULL &&
        (r = issue_for(db, resp, issue)) != NULL) {
        const char *p[] = {issue, title, desc, status};
        const char *ws = PQgetvalue(r, 0, 0);
        int rc = mc_db_begin(db);
        if (rc == 0 && given && (rc = check_project(db, resp, ws, project)) == 0)
            rc = set_project(db, issue, project);
        if (rc == 0)
            commit_and_answer(ctx, db, resp, GW_ISSUE_UPDATE, 4, p, 200);
        else if (rc != MC_ENOTFOUND)
            gw_db_error(resp, db, rc);
    }
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

/* Requests a task of agent for the issue: read-model row and TaskRequested. */
static int request_task(mc_db *db, const char *issue, const char *ws, const char *agent,
                        struct _u_response *resp, char task[MC_UUID_STRLEN])
{
    PGresult *a = NULL;
    const char *pa[] = {agent};
    int rc = mc_db_exec(db, GW_AGENT_GET, 1, pa, &a);
    if (rc == 0 && (PQntuples(a) == 0 || strcmp(PQgetvalue(a, 0, 0), ws) != 0)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "agent_id",
                      "no such agent in this workspace");
        PQclear(a);
        return MC_ENOTFOUND;
    }
    if (rc != 0) {
        PQclear(a);
        return rc;
    }
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

int gw_post_assign(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    json_t *body = issue ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    const char *agent = json_string_value(json_object_get(body, "agent_id"));
    const char *member = json_string_value(json_object_get(body, "member_id"));
    if ((agent && !mc_uuid_valid(agent)) || (member && !mc_uuid_valid(member)) ||
        (agent && member)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, agent ? "agent_id" : "member_id",
                      agent && member ? "give agent_id or member_id, not both" : "must be a UUID");
        goto cleanup;
    }
    if ((db = gw_db(ctx, resp)) == NULL || (cur = issue_for(db, resp, issue)) == NULL)
        goto cleanup;
    const char *ws = PQgetvalue(cur, 0, 0);
    char role[16], task[MC_UUID_STRLEN] = "";
    int rc = 0;
    if (member && (rc = gw_member_role(db, ws, member, role)) != 0) {
        if (rc == MC_ENOTFOUND)
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "member_id",
                          "no such member in this workspace");
        else
            gw_db_error(resp, db, rc);
        goto cleanup;
    }
    const char *pi[] = {issue, agent ? "agent" : member ? "member" : NULL, agent ? agent : member};
    PGresult *out = NULL;
    if ((rc = mc_db_begin(db)) != 0 ||
        (rc = cancel_tasks(db, issue, GW_ISSUE_ACTIVE_TASKS, false, "issue reassigned")) != 0 ||
        (agent && (rc = request_task(db, issue, ws, agent, resp, task)) != 0) ||
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
