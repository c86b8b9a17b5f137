/* http_issues.c: issues, in Multica's routes and shape; assigning one to an agent starts a
 * task.
 *
 *   POST   /api/issues {title, description?, status?, priority?, assignee_type?, assignee_id?}
 *   GET    /api/issues?workspace_id=&status=&priority=&assignee_id=&limit=&offset=
 *                                        -> {issues, total}, newest first
 *   GET    /api/issues/{issue_id}        a UUID or the issue's key (ABC-12)
 *   PUT    /api/issues/{issue_id}        any of the fields above; assignee_id null unassigns
 *   DELETE /api/issues/{issue_id}
 *   GET    /api/issues/{issue_id}/task-runs
 *
 * The workspace comes from ?workspace_id= or X-Workspace-ID (a task token's own otherwise).
 * Assigning to an agent mints a task id and writes TaskRequested to the outbox in the same
 * transaction (the answer carries it as task_id); unassigning or reassigning cancels the
 * issue's active tasks; deleting the issue deletes its tasks (TaskCancelRequested with
 * delete=true). An agent run (task token) creates and updates issues as its agent. */
#include "gateway.h"
#include "mc_proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const statuses[] = {"backlog", "todo",    "in_progress", "in_review",
                                       "done",    "blocked", "cancelled"};
static const char *const priorities[] = {"urgent", "high", "medium", "low", "none"};

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* An optional enumerated field of a body; answers 400 and sets *bad when not one of set. */
static const char *enum_field(const json_t *body, const char *name, const char *const *set,
                              size_t n, struct _u_response *resp, bool *bad)
{
    const char *v = *bad ? NULL : gw_str_field(body, name, 1, 32, false, resp, bad);
    if (v != NULL && !one_of(v, set, n)) {
        char allowed[160] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                     i ? ", " : "", set[i]);
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "must be one of %s", allowed);
        *bad = true;
        return NULL;
    }
    return v;
}

/* Splits an issue key ("ABC-12") into its prefix and number; false when ref is not one. */
static bool issue_key(const char *ref, char prefix[11], char number[12])
{
    const char *dash = strrchr(ref, '-');
    size_t plen = dash ? (size_t)(dash - ref) : 0;
    size_t nlen = dash ? strlen(dash + 1) : 0;
    if (plen == 0 || plen > 10 || nlen == 0 || nlen > 9 || strspn(dash + 1, "0123456789") != nlen)
        return false;
    for (size_t i = 0; i < plen; i++)
        if (!isalnum((unsigned char)ref[i]) || (unsigned char)ref[i] >= 0x80)
            return false;
    snprintf(prefix, 11, "%.*s", (int)plen, ref);
    snprintf(number, 12, "%s", dash + 1);
    return true;
}

PGresult *gw_issue_for(const struct _u_request *req, struct _u_response *resp, mc_db *db)
{
    const char *ref = u_map_get(req->map_url, "issue_id");
    const struct gw_principal *me = gw_principal(resp);
    char prefix[11], number[12];
    PGresult *r = NULL;
    int rc;
    if (ref != NULL && mc_uuid_valid(ref)) {
        const char *p[] = {ref};
        rc = mc_db_exec(db, GW_ISSUE_GET, 1, p, &r);
    } else if (ref != NULL && issue_key(ref, prefix, number)) {
        const char *ws = u_map_get_case(req->map_header, "X-Workspace-ID");
        if (ws == NULL || !mc_uuid_valid(ws))
            ws = me->kind == GW_TASK ? me->workspace_id : NULL;
        const char *p[] = {prefix, number, me->user_id, ws};
        rc = mc_db_exec(db, GW_ISSUE_BY_KEY, 4, p, &r);
    } else {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "issue_id",
                      "must be an issue UUID or key (ABC-12)");
        return NULL;
    }
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
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_id",
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

/* The assignee a body asks for. *given is false when the body names none (the assignment
 * stays); type and id are NULL to unassign. Answers 400 and returns false when invalid. */
static bool assignee_of(const json_t *body, struct _u_response *resp, bool *given,
                        const char **type, const char **id)
{
    const json_t *t = json_object_get(body, "assignee_type");
    const json_t *v = json_object_get(body, "assignee_id");
    *given = t != NULL || v != NULL;
    *type = json_string_value(t);
    *id = json_string_value(v);
    if (!*given || (json_is_null(v) && (t == NULL || json_is_null(t)))) {
        *type = *id = NULL;
        return true;
    }
    if (*type == NULL || (strcmp(*type, "agent") != 0 && strcmp(*type, "member") != 0)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_type",
                      "must be agent or member with an assignee_id (both null to unassign)");
        return false;
    }
    if (*id == NULL || !mc_uuid_valid(*id)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_id", "must be a UUID");
        return false;
    }
    return true;
}

/* Changes the issue's assignee inside the caller's transaction: cancels its active tasks and,
 * for an agent, requests a new one (task). Fills *out with the issue's JSON. */
static int assign(mc_db *db, struct _u_response *resp, const char *issue, const char *ws,
                  const char *type, const char *id, char task[MC_UUID_STRLEN], PGresult **out)
{
    char role[16];
    int rc = 0;
    if (type != NULL && strcmp(type, "member") == 0 &&
        (rc = gw_member_role(db, ws, id, role)) != 0) {
        if (rc == MC_ENOTFOUND)
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_id",
                          "no such member in this workspace");
        return rc;
    }
    const char *p[] = {issue, type, id};
    if ((rc = cancel_tasks(db, issue, GW_ISSUE_ACTIVE_TASKS, false, "issue reassigned")) != 0 ||
        (type != NULL && strcmp(type, "agent") == 0 &&
         (rc = request_task(db, issue, ws, id, resp, task)) != 0))
        return rc;
    return mc_db_exec(db, GW_ISSUE_ASSIGN, 3, p, out);
}

/* Answers an issue's JSON with the task its assignment started (null when none). */
static void answer_issue(struct _u_response *resp, unsigned status, const char *json,
                         const char *task)
{
    json_t *issue = json_loads(json, 0, NULL);
    json_object_set_new(issue, "task_id", task[0] ? json_string(task) : json_null());
    mc_http_json(resp, status, issue);
}

/* The fields POST and PUT take; for POST the title is required. */
struct issue_fields {
    const char *title, *desc, *status, *prio, *atype, *aid;
    bool assignee_given;
};

/* Reads them, answering 400 and returning false when one is invalid. */
static bool read_fields(const json_t *body, bool create, struct _u_response *resp,
                        struct issue_fields *f)
{
    bool bad = false;
    memset(f, 0, sizeof *f);
    f->title = gw_str_field(body, "title", 1, 500, create, resp, &bad);
    f->desc = bad ? NULL : gw_str_field(body, "description", 0, 100000, false, resp, &bad);
    f->status = enum_field(body, "status", statuses, MC_ARRAY_LEN(statuses), resp, &bad);
    f->prio = enum_field(body, "priority", priorities, MC_ARRAY_LEN(priorities), resp, &bad);
    return !bad && assignee_of(body, resp, &f->assignee_given, &f->atype, &f->aid);
}

/* Ends a write transaction: commits, or answers the error (unless answered: MC_ENOTFOUND). */
static bool finish(struct gw_ctx *ctx, mc_db *db, struct _u_response *resp, int rc)
{
    if (rc == 0)
        rc = mc_db_commit(db);
    if (rc != 0) {
        mc_db_rollback(db);
        if (rc != MC_ENOTFOUND)
            gw_db_error(resp, db, rc);
        return false;
    }
    gw_outbox_kick(ctx);
    return true;
}

int gw_post_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    json_t *body = ws ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct issue_fields f;
    mc_db *db = NULL;
    PGresult *created = NULL, *assigned = NULL;
    if (!read_fields(body, true, resp, &f) || (db = gw_db(ctx, resp)) == NULL ||
        gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    const struct gw_principal *me = gw_principal(resp);
    bool agent = me->kind == GW_TASK;
    char id[MC_UUID_STRLEN], task[MC_UUID_STRLEN] = "";
    mc_uuid_v7(id);
    const char *p[] = {id,
                       ws,
                       f.title,
                       f.desc,
                       f.status,
                       f.prio,
                       me->user_id,
                       agent ? "agent" : "member",
                       agent ? me->agent_id : NULL};
    int rc = mc_db_begin(db);
    if (rc == 0)
        rc = mc_db_exec(db, GW_ISSUE_CREATE, 9, p, &created);
    if (rc == 0 && f.atype != NULL)
        rc = assign(db, resp, id, ws, f.atype, f.aid, task, &assigned);
    if (finish(ctx, db, resp, rc))
        answer_issue(resp, 201, PQgetvalue(assigned ? assigned : created, 0, 0), task);
cleanup:
    PQclear(created);
    PQclear(assigned);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* A non-negative integer query parameter within [min, max], def when absent. */
static bool query_int(const struct _u_request *req, struct _u_response *resp, const char *name,
                      long min, long max, long def, long *out)
{
    const char *v = u_map_get(req->map_url, name);
    char *end = NULL;
    *out = v ? strtol(v, &end, 10) : def;
    if (v != NULL && (*v == '\0' || *end != '\0' || *out < min || *out > max)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name,
                      "must be an integer between %ld and %ld", min, max);
        return false;
    }
    return true;
}

int gw_get_issues(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    const char *status = u_map_get(req->map_url, "status");
    const char *prio = u_map_get(req->map_url, "priority");
    const char *assignee = u_map_get(req->map_url, "assignee_id");
    long limit = 50, offset = 0;
    if (status && !one_of(status, statuses, MC_ARRAY_LEN(statuses)))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "status",
                             "must be backlog, todo, in_progress, in_review, done, blocked or "
                             "cancelled"),
               U_CALLBACK_COMPLETE;
    if (prio && !one_of(prio, priorities, MC_ARRAY_LEN(priorities)))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "priority",
                             "must be urgent, high, medium, low or none"),
               U_CALLBACK_COMPLETE;
    if (assignee && !mc_uuid_valid(assignee))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_id", "must be a UUID"),
               U_CALLBACK_COMPLETE;
    if (!query_int(req, resp, "limit", 1, 200, 50, &limit) ||
        !query_int(req, resp, "offset", 0, 1000000000, 0, &offset))
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    if (gw_require_member(resp, db, ws, false) == 0) {
        char lim[16], off[16];
        snprintf(lim, sizeof lim, "%ld", limit);
        snprintf(off, sizeof off, "%ld", offset);
        const char *p[] = {ws, status, assignee, lim, off, prio};
        gw_answer_json(resp, db, GW_ISSUE_LIST, 6, p, 200);
    }
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = gw_issue_for(req, resp, db);
    if (r != NULL)
        gw_answer_text(resp, 200, PQgetvalue(r, 0, 3));
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

/* Whether the body asks for the assignee the issue (row cur) already has. */
static bool same_assignee(const PGresult *cur, const char *type, const char *id)
{
    if (type == NULL || id == NULL)
        return PQgetisnull(cur, 0, 1);
    return !PQgetisnull(cur, 0, 1) && strcmp(PQgetvalue(cur, 0, 1), type) == 0 &&
           strcmp(PQgetvalue(cur, 0, 2), id) == 0;
}

int gw_put_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct issue_fields f;
    mc_db *db = NULL;
    PGresult *cur = NULL, *updated = NULL, *assigned = NULL;
    if (!read_fields(body, false, resp, &f) || (db = gw_db(ctx, resp)) == NULL ||
        (cur = gw_issue_for(req, resp, db)) == NULL)
        goto cleanup;
    const char *issue = PQgetvalue(cur, 0, 4), *ws = PQgetvalue(cur, 0, 0);
    char task[MC_UUID_STRLEN] = "";
    const char *p[] = {issue, f.title, f.desc, f.status, f.prio};
    int rc = mc_db_begin(db);
    if (rc == 0)
        rc = mc_db_exec(db, GW_ISSUE_UPDATE, 5, p, &updated);
    if (rc == 0 && f.assignee_given && !same_assignee(cur, f.atype, f.aid))
        rc = assign(db, resp, issue, ws, f.atype, f.aid, task, &assigned);
    if (finish(ctx, db, resp, rc))
        answer_issue(resp, 200, PQgetvalue(assigned ? assigned : updated, 0, 0), task);
cleanup:
    PQclear(cur);
    PQclear(updated);
    PQclear(assigned);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_delete_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    PGresult *cur = db ? gw_issue_for(req, resp, db) : NULL;
    if (cur != NULL) {
        const char *issue = PQgetvalue(cur, 0, 4);
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

int gw_get_issue_tasks(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    PGresult *cur = db ? gw_issue_for(req, resp, db) : NULL;
    if (cur != NULL) {
        const char *p[] = {PQgetvalue(cur, 0, 4)};
        gw_answer_json(resp, db, GW_TASK_LIST_BY_ISSUE, 1, p, 200);
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
