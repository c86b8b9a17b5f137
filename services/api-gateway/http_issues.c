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

#define STATUS_MESSAGE "must be backlog, todo, in_progress, in_review, done or cancelled"

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

/* A pooled connection and the issue's row (issue_for), or NULL after answering. */
static mc_db *issue_db(struct gw_ctx *ctx, struct _u_response *resp, const char *issue,
                       PGresult **row)
{
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return NULL;
    *row = issue_for(db, resp, issue);
    if (*row == NULL) {
        gw_db_release(ctx, db);
        return NULL;
    }
    return db;
}

int gw_post_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    const char *title, *desc;
    if (gw_str_field(resp, body, "title", 1, 500, true, &title) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "description", 0, 100000, false, &desc) != 0)
        goto cleanup;
    db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id, ws, title, desc, gw_principal(resp)->user_id};
    gw_answer_json(resp, db, GW_ISSUE_CREATE, 5, p, 201);
cleanup:
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* Checks the list's query parameters; answers 400 naming the first bad one. */
static int list_params_ok(struct _u_response *resp, const char *status, const char *assignee,
                          const char *before, long limit)
{
    if (status != NULL && !valid_status(status))
        return gw_invalid(resp, "status", STATUS_MESSAGE);
    if (assignee != NULL && !mc_uuid_valid(assignee))
        return gw_invalid(resp, "assignee_id", "must be a UUID");
    if (before != NULL && !mc_uuid_valid(before))
        return gw_invalid(resp, "before", "must be an issue id");
    if (limit < 1 || limit > 200)
        return gw_invalid(resp, "limit", "must be an integer between 1 and 200");
    return 0;
}

/* Answers a page of issues with the cursor of the next one (null on the last page). */
static void answer_page(struct _u_response *resp, const char *issues_text, long limit)
{
    json_t *issues = json_loads(issues_text, 0, NULL);
    size_t n = json_array_size(issues);
    json_t *next = json_null();
    if (n == (size_t)limit) {
        json_t *last = json_object_get(json_array_get(issues, n - 1), "id");
        if (last != NULL)
            next = json_incref(last);
    }
    mc_http_json(resp, 200, json_pack("{so so}", "issues", issues, "next_before", next));
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
    if (list_params_ok(resp, status, assignee, before, limit) != 0)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    char lim[16];
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *p[] = {ws, status, assignee, lim, before};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_ISSUE_LIST, 5, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else
        answer_page(resp, PQgetvalue(r, 0, 0), limit);
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    if (issue == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    mc_db *db = issue_db(ctx, resp, issue, &r);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    gw_answer_text(resp, 200, PQgetvalue(r, 0, 3));
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

static int run_wanted(mc_db *db, const char *issue, const char *status, const char *agent,
                      bool *wanted);
static int request_task(mc_db *db, const char *issue, const char *ws, const char *agent,
                        struct _u_response *resp, char task[MC_UUID_STRLEN]);

/* The issue's assigned agent, or NULL (cur is the issue's row from GW_ISSUE_GET). */
static const char *assigned_agent(const PGresult *cur)
{
    if (PQgetisnull(cur, 0, 1) || strcmp(PQgetvalue(cur, 0, 1), "agent") != 0)
        return NULL;
    return PQgetvalue(cur, 0, 2);
}

/* Whether a status change leaves the backlog for a status that is neither done nor
 * cancelled: as in Multica, that starts the assignee's run. */
static bool leaves_backlog(const char *was, const char *now)
{
    if (now == NULL || strcmp(was, "backlog") != 0)
        return false;
    return strcmp(now, "backlog") != 0 && strcmp(now, "done") != 0 && strcmp(now, "cancelled") != 0;
}

/* An edit, run by gw_outbox_tx, with the run that leaving the backlog starts (task filled
 * when one was requested); out is the issue as JSON. */
struct edit {
    const PGresult *cur;
    const char *issue;
    const char *const *params; /* of GW_ISSUE_UPDATE */
    struct _u_response *resp;
    char task[MC_UUID_STRLEN];
    PGresult *out;
};

static int edit_issue(mc_db *db, void *arg)
{
    struct edit *e = arg;
    PQclear(e->out);
    e->out = NULL;
    e->task[0] = '\0';
    int rc = mc_db_exec(db, GW_ISSUE_UPDATE, 4, e->params, &e->out);
    if (rc != 0)
        return rc;
    const char *agent = assigned_agent(e->cur);
    bool wanted = false;
    if (leaves_backlog(PQgetvalue(e->cur, 0, 4), e->params[3])) {
        rc = run_wanted(db, e->issue, e->params[3], agent, &wanted);
        if (rc != 0)
            return rc;
    }
    if (!wanted)
        return 0;
    rc = request_task(db, e->issue, PQgetvalue(e->cur, 0, 0), agent, e->resp, e->task);
    return rc == MC_ENOTFOUND ? GW_ANSWERED : rc;
}

/* Answers an edit: the issue, with task_id when the edit started a run. */
static void update_issue(struct gw_ctx *ctx, mc_db *db, struct _u_response *resp,
                         const PGresult *cur, const char *issue, const char *title,
                         const char *desc, const char *status)
{
    const char *p[] = {issue, title, desc, status};
    struct edit e = {cur, issue, p, resp, "", NULL};
    if (gw_outbox_tx(ctx, resp, db, "edit issue", edit_issue, &e) == 0) {
        json_t *issue_json = json_loads(PQgetvalue(e.out, 0, 0), 0, NULL);
        if (e.task[0] != '\0')
            json_object_set_new(issue_json, "task_id", json_string(e.task));
        mc_http_json(resp, 200, issue_json);
    }
    PQclear(e.out);
}

int gw_patch_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    if (issue == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *r = NULL;
    const char *title, *desc, *status;
    if (gw_str_field(resp, body, "title", 1, 500, false, &title) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "description", 0, 100000, false, &desc) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "status", 1, 32, false, &status) != 0)
        goto cleanup;
    if (status != NULL && !valid_status(status)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "status", STATUS_MESSAGE);
        goto cleanup;
    }
    db = issue_db(ctx, resp, issue, &r);
    if (db == NULL)
        goto cleanup;
    update_issue(ctx, db, resp, r, issue, title, desc, status);
cleanup:
    PQclear(r);
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

/* Whether the agent row (workspace_id, runtime_id, max) exists and is in workspace ws. */
static bool agent_in(const PGresult *a, const char *ws)
{
    if (PQntuples(a) == 0)
        return false;
    return strcmp(PQgetvalue(a, 0, 0), ws) == 0;
}

/* Requests a task of agent for the issue: read-model row and TaskRequested. */
static int request_task(mc_db *db, const char *issue, const char *ws, const char *agent,
                        struct _u_response *resp, char task[MC_UUID_STRLEN])
{
    PGresult *a = NULL;
    const char *pa[] = {agent};
    int rc = mc_db_exec(db, GW_AGENT_GET, 1, pa, &a);
    if (rc != 0) {
        PQclear(a);
        return rc;
    }
    if (!agent_in(a, ws)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "agent_id",
                      "no such agent in this workspace");
        PQclear(a);
        return MC_ENOTFOUND;
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

/* Who an issue is assigned to: the kind ("agent", "member", NULL for nobody) and the id. */
struct assignee {
    const char *kind, *id;
};

static bool assigns(const struct assignee *to, const char *kind)
{
    return to->kind != NULL && strcmp(to->kind, kind) == 0;
}

/* A member to assign must be a member of the issue's workspace (nothing to check for an
 * agent or nobody); answers 400 or the database error itself. */
static int check_member(mc_db *db, struct _u_response *resp, const char *ws,
                        const struct assignee *to)
{
    if (!assigns(to, "member"))
        return 0;
    char role[16];
    int rc = gw_member_role(db, ws, to->id, role);
    if (rc == MC_ENOTFOUND)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "member_id",
                      "no such member in this workspace");
    else if (rc != 0)
        gw_db_error(resp, db, rc);
    return rc;
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

/* An agent to assign must be an agent of the issue's workspace, whether or not a run starts;
 * answers 400 or the database error itself. */
static int check_agent(mc_db *db, struct _u_response *resp, const char *ws,
                       const struct assignee *to)
{
    if (!assigns(to, "agent"))
        return 0;
    PGresult *a = NULL;
    const char *p[] = {to->id};
    int rc = mc_db_exec(db, GW_AGENT_GET, 1, p, &a);
    bool known = rc == 0 && agent_in(a, ws);
    PQclear(a);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        return rc;
    }
    if (!known) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "agent_id",
                      "no such agent in this workspace");
        return MC_ENOTFOUND;
    }
    return 0;
}

/* An assignment, run by gw_outbox_tx: a run requested when Multica would (task filled), and
 * the assignee recorded (out: the issue as JSON). A change of assignee never cancels a run
 * under way, the previous assignee's included (Multica removed that in its #4963: a handoff
 * is not an interruption); a run stops when it is cancelled or its issue deleted. */
struct assignment {
    const char *issue, *ws, *status;
    struct assignee to;
    struct _u_response *resp;
    char task[MC_UUID_STRLEN];
    PGresult *out;
};

static int assign(mc_db *db, void *arg)
{
    struct assignment *a = arg;
    PQclear(a->out);
    a->out = NULL;
    a->task[0] = '\0';
    bool wanted = false;
    int rc =
        run_wanted(db, a->issue, a->status, assigns(&a->to, "agent") ? a->to.id : NULL, &wanted);
    if (rc != 0)
        return rc;
    if (wanted) {
        rc = request_task(db, a->issue, a->ws, a->to.id, a->resp, a->task);
        if (rc == MC_ENOTFOUND)
            return GW_ANSWERED;
        if (rc != 0)
            return rc;
    }
    const char *p[] = {a->issue, a->to.kind, a->to.id};
    return mc_db_exec(db, GW_ISSUE_ASSIGN, 3, p, &a->out);
}

/* Reads the assign body: exactly one of agent_id and member_id, each a UUID or null (null
 * unassigns), and nothing else. A misspelt, mistyped or missing field is refused before
 * anything changes: it must never read as "unassign". Answers 400 naming the field. */
static int read_assignee(struct _u_response *resp, const json_t *body, struct assignee *to)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "agent_id") != 0 && strcmp(key, "member_id") != 0)
            return gw_invalid(resp, key, "unknown field: give agent_id or member_id");
    }
    bool agent = json_object_get(body, "agent_id") != NULL;
    bool member = json_object_get(body, "member_id") != NULL;
    if (agent && member)
        return gw_invalid(resp, "agent_id", "give agent_id or member_id, not both");
    if (!agent && !member)
        return gw_invalid(resp, "agent_id",
                          "is required: give agent_id or member_id (null unassigns)");
    const char *field = agent ? "agent_id" : "member_id";
    v = json_object_get(body, field);
    *to = (struct assignee){0};
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v) || !mc_uuid_valid(json_string_value(v)))
        return gw_invalid(resp, field, "must be a UUID or null");
    *to = (struct assignee){agent ? "agent" : "member", json_string_value(v)};
    return 0;
}

int gw_post_assign(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    if (issue == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    struct assignee to;
    struct assignment a = {0};
    /* Access first: someone outside the workspace learns nothing, not even about the body. */
    db = issue_db(ctx, resp, issue, &cur);
    if (db == NULL)
        goto cleanup;
    if (read_assignee(resp, body, &to) != 0)
        goto cleanup;
    const char *ws = PQgetvalue(cur, 0, 0);
    if (check_member(db, resp, ws, &to) != 0)
        goto cleanup;
    if (check_agent(db, resp, ws, &to) != 0)
        goto cleanup;
    a = (struct assignment){issue, ws, PQgetvalue(cur, 0, 4), to, resp, "", NULL};
    if (gw_outbox_tx(ctx, resp, db, "assign issue", assign, &a) != 0)
        goto cleanup;
    json_t *issue_json = json_loads(PQgetvalue(a.out, 0, 0), 0, NULL);
    json_object_set_new(issue_json, "task_id", a.task[0] ? json_string(a.task) : json_null());
    mc_http_json(resp, 200, issue_json);
cleanup:
    PQclear(cur);
    PQclear(a.out);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* The deletion of an issue: its tasks asked to be deleted, then the issue. */
static int delete_issue(mc_db *db, void *arg)
{
    const char *const *p = arg;
    int rc = cancel_tasks(db, p[0], GW_ISSUE_ALL_TASKS, true, "issue deleted");
    if (rc == 0)
        rc = mc_db_exec(db, GW_ISSUE_DELETE, 1, p, NULL);
    return rc;
}

int gw_delete_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    if (issue == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *cur = NULL;
    mc_db *db = issue_db(ctx, resp, issue, &cur);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {issue};
    if (gw_outbox_tx(ctx, resp, db, "delete issue", delete_issue, (void *)p) != 0)
        goto cleanup;
    ulfius_set_empty_body_response(resp, 204);
cleanup:
    PQclear(cur);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_post_comment(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    if (issue == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    const char *text;
    if (gw_str_field(resp, body, "body", 1, 100000, true, &text) != 0)
        goto cleanup;
    db = issue_db(ctx, resp, issue, &cur);
    if (db == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id, issue, gw_principal(resp)->user_id, text};
    gw_answer_json(resp, db, GW_COMMENT_CREATE, 4, p, 201);
cleanup:
    PQclear(cur);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* A read of something of an issue the caller may see: stmt($1 = issue_id) as JSON. */
static int issue_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      int stmt)
{
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    if (issue == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *cur = NULL;
    mc_db *db = issue_db(ctx, resp, issue, &cur);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {issue};
    gw_answer_json(resp, db, stmt, 1, p, 200);
    PQclear(cur);
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
