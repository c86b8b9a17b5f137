/* http_issues.c: issues, in Multica's routes and shape; assigning one to an agent starts a
 * task.
 *
 *   POST   /api/issues {title, description?, status?, priority?, assignee_type?, assignee_id?,
 *                       project_id?}
 *   GET    /api/issues?workspace_id=&status=&priority=&assignee_id=&limit=&offset=
 *                                        -> {issues, total}, newest first
 *   GET    /api/issues/{issue_id}        a UUID or the issue's key (ABC-12)
 *   PUT    /api/issues/{issue_id}        any of the fields above; assignee_id null unassigns
 *   DELETE /api/issues/{issue_id}
 *   GET    /api/issues/{issue_id}/task-runs
 *
 * The workspace comes from ?workspace_id= or X-Workspace-ID (a task token's own otherwise).
 * Assigning to an agent mints a task id and writes TaskRequested to the outbox in the same
 * transaction (the answer carries it as task_id) when Multica would start a run (its
 * WillEnqueueRun); a change of assignee never cancels a run under way; deleting the issue
 * deletes its tasks (TaskCancelRequested with delete=true). An agent run (task token) creates
 * and updates issues as its agent. An issue belongs to at most one project of its workspace
 * (project_id; null takes it out): each change writes IssueProjectChanged to the outbox with
 * the change, which moves the issue's usage to the project at the next rollup. */
#include "gateway.h"
#include "mc_proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const statuses[] = {"backlog", "todo",    "in_progress", "in_review",
                                       "done",    "blocked", "cancelled"};
static const char *const priorities[] = {"urgent", "high", "medium", "low", "none"};

/* The level TaskRequested carries for a priority: 4 urgent down to 0 none, as Multica numbers
 * them (its priorityToInt); anything else is none. */
static int priority_level(const char *name)
{
    for (size_t i = 0; name != NULL && i < MC_ARRAY_LEN(priorities); i++)
        if (strcmp(name, priorities[i]) == 0)
            return (int)(MC_ARRAY_LEN(priorities) - 1 - i);
    return 0;
}

static bool one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

/* An optional enumerated field of a body: *out is NULL when absent. Returns 0, or MC_EINVAL
 * after answering 400 naming it when it is not one of set. */
static int enum_field(struct _u_response *resp, const json_t *body, const char *name,
                      const char *const *set, size_t n, const char **out)
{
    if (gw_str_field(resp, body, name, 1, 32, false, out) != 0)
        return MC_EINVAL;
    if (*out == NULL || one_of(*out, set, n))
        return 0;
    char allowed[160] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", i ? ", " : "",
                 set[i]);
    return gw_invalid(resp, name, "must be one of %s", allowed);
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

/* The agent's row (workspace_id, runtime_id, max_concurrent_tasks) when it is an agent of
 * workspace ws; answers 400 (or the database error) and returns NULL otherwise. */
static PGresult *agent_of(mc_db *db, struct _u_response *resp, const char *ws, const char *agent)
{
    PGresult *a = NULL;
    const char *p[] = {agent};
    int rc = mc_db_exec(db, GW_AGENT_GET_SHARED, 1, p, &a);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (PQntuples(a) == 0 || strcmp(PQgetvalue(a, 0, 0), ws) != 0) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "assignee_id",
                      "no such agent in this workspace");
    } else {
        return a;
    }
    PQclear(a);
    return NULL;
}

/* Requests a task of agent (its row a) for the issue: read-model row and TaskRequested, which
 * carries the issue's priority (prio, its name) for the dispatcher's order. */
static int request_task(mc_db *db, const char *issue, const char *ws, const char *agent,
                        const PGresult *a, const char *user, const char *prio,
                        char task[MC_UUID_STRLEN])
{
    mc_uuid_v7(task);
    const char *runtime = PQgetvalue(a, 0, 1);
    const char *pt[] = {task, ws, issue, agent, runtime};
    int rc = mc_db_exec(db, GW_TASK_REQUEST, 5, pt, NULL);
    if (rc != 0)
        return rc;
    json_t *data = json_pack("{ss ss ss ss ss s:s? si si}", "task_id", task, "workspace_id", ws,
                             "agent_id", agent, "runtime_id", runtime, "issue_id", issue,
                             "requested_by", user, "agent_max_concurrent_tasks",
                             atoi(PQgetvalue(a, 0, 2)), "priority", priority_level(prio));
    return gw_outbox_add(db, MC_EV_TASK_REQUESTED, task, task, data);
}

/* Whether agent should start a run of the issue, as Multica decides it (its WillEnqueueRun):
 * never in backlog, which is the parking lot, and not when that agent already has a run of the
 * issue under way (a second one would work unaware of the first). */
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

/* The assignee a body asks for. *given is false when the body names none (the assignment
 * stays); type and id are NULL to unassign, which takes an explicit null: a mistyped value
 * never reads as "unassign". Returns 0, or MC_EINVAL after answering 400. */
static int assignee_of(struct _u_response *resp, const json_t *body, bool *given, const char **type,
                       const char **id)
{
    const json_t *t = json_object_get(body, "assignee_type");
    const json_t *v = json_object_get(body, "assignee_id");
    *given = t != NULL || v != NULL;
    *type = json_string_value(t);
    *id = json_string_value(v);
    if (!*given || (json_is_null(v) && (t == NULL || json_is_null(t)))) {
        *type = *id = NULL;
        return 0;
    }
    if (*id == NULL || !mc_uuid_valid(*id))
        return gw_invalid(resp, "assignee_id",
                          "must be a UUID (null, with assignee_type null, "
                          "unassigns)");
    if (*type == NULL || (strcmp(*type, "agent") != 0 && strcmp(*type, "member") != 0))
        return gw_invalid(resp, "assignee_type",
                          "must be agent or member with an assignee_id (both null to unassign)");
    return 0;
}

/* The fields POST and PUT take; for POST the title is required. */
struct issue_fields {
    const char *title, *desc, *status, *prio, *atype, *aid, *project;
    bool assignee_given, project_given;
};

/* A body's project_id: absent (*given false), null (no project) or a UUID. Returns 0, or
 * MC_EINVAL after answering 400. */
static int project_of(struct _u_response *resp, const json_t *body, bool *given,
                      const char **project)
{
    const json_t *v = json_object_get(body, "project_id");
    *given = v != NULL;
    *project = json_string_value(v);
    if (v == NULL || json_is_null(v))
        return 0;
    if (*project == NULL || !mc_uuid_valid(*project))
        return gw_invalid(resp, "project_id", "must be a project id or null");
    return 0;
}

/* Reads them. Returns 0, or MC_EINVAL after answering 400 naming the first bad one. */
static int read_fields(struct _u_response *resp, const json_t *body, bool create,
                       struct issue_fields *f)
{
    memset(f, 0, sizeof *f);
    if (gw_str_field(resp, body, "title", 1, 500, create, &f->title) != 0)
        return MC_EINVAL;
    if (gw_str_field(resp, body, "description", 0, 100000, false, &f->desc) != 0)
        return MC_EINVAL;
    if (enum_field(resp, body, "status", statuses, MC_ARRAY_LEN(statuses), &f->status) != 0)
        return MC_EINVAL;
    if (enum_field(resp, body, "priority", priorities, MC_ARRAY_LEN(priorities), &f->prio) != 0)
        return MC_EINVAL;
    if (project_of(resp, body, &f->project_given, &f->project) != 0)
        return MC_EINVAL;
    return assignee_of(resp, body, &f->assignee_given, &f->atype, &f->aid);
}

/* A write of an issue, run by gw_outbox_tx: the row (create or update), then the assignment
 * when asked for, then the run Multica would start (task filled when one was requested). The
 * new assignee is checked even when no run starts; a change of assignee never cancels a run
 * under way, the previous assignee's included (Multica removed that in its #4963: a handoff is
 * not an interruption); a run stops when it is cancelled or its issue deleted. */
struct issue_write {
    int stmt; /* GW_ISSUE_CREATE or GW_ISSUE_UPDATE */
    const char *const *params;
    int nparams;
    const char *issue, *ws, *user;
    const struct issue_fields *f;
    bool assign;            /* the body changes the assignee */
    const char *was_status; /* before an update; NULL for a new issue */
    const char *kept_agent; /* the agent assigned before an update, when not reassigned */
    struct _u_response *resp;
    char task[MC_UUID_STRLEN];
    PGresult *out;
};

/* The agent a write leaves assigned, and whether it is newly so. */
static const char *agent_after(const struct issue_write *w, bool *fresh)
{
    *fresh = w->assign;
    if (w->assign)
        return w->f->atype != NULL && strcmp(w->f->atype, "agent") == 0 ? w->f->aid : NULL;
    return w->kept_agent;
}

/* The issue's project, in the write's transaction: the project must be one of the workspace's
 * (locked against deletion until commit). An existing issue moves now, taking its next
 * project_version, so the row the update returns shows it; a new one was created in it at
 * version 1. Either writes IssueProjectChanged; moving to where it is changes nothing. */
static int write_project(mc_db *db, struct issue_write *w, bool created)
{
    PGresult *r = NULL;
    const char *project = w->f->project;
    const char *pc[] = {project, w->ws};
    int rc = project ? mc_db_exec(db, GW_PROJECT_IN_WORKSPACE, 2, pc, &r) : 0;
    bool known = rc == 0 && (project == NULL || PQntuples(r) == 1);
    PQclear(r);
    r = NULL;
    if (rc != 0)
        return rc;
    if (!known) {
        gw_invalid(w->resp, "project_id", "no such project in this workspace");
        return GW_ANSWERED;
    }
    if (created)
        return project ? gw_issue_project_event(db, w->issue, w->ws, project, "1") : 0;
    const char *ps[] = {w->issue, project};
    rc = mc_db_exec(db, GW_ISSUE_SET_PROJECT, 2, ps, &r);
    if (rc == 0 && PQntuples(r) == 1)
        rc = gw_issue_project_event(db, w->issue, w->ws, project, PQgetvalue(r, 0, 1));
    PQclear(r);
    return rc;
}

static int write_issue(mc_db *db, void *arg)
{
    struct issue_write *w = arg;
    PQclear(w->out);
    w->out = NULL;
    w->task[0] = '\0';
    bool created = w->was_status == NULL;
    int rc = 0;
    if (w->f->project_given && !created)
        rc = write_project(db, w, false);
    if (rc != 0)
        return rc;
    rc = mc_db_exec(db, w->stmt, w->nparams, w->params, &w->out);
    if (rc == 0 && w->f->project_given && created)
        rc = write_project(db, w, true);
    if (rc != 0)
        return rc;
    if (w->assign && w->f->atype != NULL && strcmp(w->f->atype, "member") == 0) {
        char role[16];
        rc = gw_member_role(db, w->ws, w->f->aid, role);
        if (rc == MC_ENOTFOUND) {
            gw_invalid(w->resp, "assignee_id", "no such member in this workspace");
            return GW_ANSWERED;
        }
        if (rc != 0)
            return rc;
    }
    bool fresh;
    const char *agent = agent_after(w, &fresh);
    PGresult *a = NULL;
    if (agent != NULL && fresh && (a = agent_of(db, w->resp, w->ws, agent)) == NULL)
        return GW_ANSWERED;
    /* An update wrote the assignee with its other fields (GW_ISSUE_UPDATE's $6-$8). */
    if (w->assign && w->stmt != GW_ISSUE_UPDATE) {
        PQclear(w->out);
        w->out = NULL;
        const char *p[] = {w->issue, w->f->atype, w->f->aid};
        rc = mc_db_exec(db, GW_ISSUE_ASSIGN, 3, p, &w->out);
    }
    /* A run starts on a new agent assignee, or when the issue leaves the backlog for a status
     * that is neither done nor cancelled (as in Multica). */
    const char *status = w->f->status ? w->f->status : w->was_status ? w->was_status : "todo";
    bool moved = w->was_status != NULL && w->f->status != NULL &&
                 strcmp(w->was_status, "backlog") == 0 && strcmp(status, "backlog") != 0 &&
                 strcmp(status, "done") != 0 && strcmp(status, "cancelled") != 0;
    bool wanted = false;
    if (rc == 0 && agent != NULL && (fresh || moved))
        rc = run_wanted(db, w->issue, status, agent, &wanted);
    if (rc == 0 && wanted && a == NULL && (a = agent_of(db, w->resp, w->ws, agent)) == NULL)
        return GW_ANSWERED;
    if (rc == 0 && wanted) {
        /* The issue as written: its priority is the one the task is dispatched by. */
        json_auto_t *row = PQntuples(w->out) ? json_loads(PQgetvalue(w->out, 0, 0), 0, NULL) : NULL;
        const char *prio = json_string_value(json_object_get(row, "priority"));
        rc = request_task(db, w->issue, w->ws, agent, a, w->user, prio, w->task);
    }
    PQclear(a);
    return rc;
}

/* Runs the write and answers the issue's JSON with the task it started (null when none). */
static void answer_write(struct gw_ctx *ctx, mc_db *db, struct issue_write *w, unsigned status)
{
    if (gw_outbox_tx(ctx, w->resp, db, "write issue", write_issue, w) == 0) {
        json_t *issue = json_loads(PQgetvalue(w->out, 0, 0), 0, NULL);
        json_object_set_new(issue, "task_id", w->task[0] ? json_string(w->task) : json_null());
        mc_http_json(w->resp, status, issue);
    }
    PQclear(w->out);
}

int gw_post_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct issue_fields f;
    mc_db *db = NULL;
    if (read_fields(resp, body, true, &f) != 0)
        goto cleanup;
    db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        goto cleanup;
    const struct gw_principal *me = gw_principal(resp);
    bool agent = me->kind == GW_TASK;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id,
                       ws,
                       f.title,
                       f.desc,
                       f.status,
                       f.prio,
                       me->user_id,
                       agent ? "agent" : "member",
                       agent ? me->agent_id : NULL,
                       f.project};
    /* Without an assignee or a project the issue's row is all it writes: it goes with the
     * creations queued at the issue writer, in one commit. */
    char *made = f.atype == NULL && f.project == NULL ? gw_issue_create_grouped(ctx, p) : NULL;
    if (made != NULL) {
        json_t *issue = json_loads(made, 0, NULL);
        json_object_set_new(issue, "task_id", json_null());
        mc_http_json(resp, 201, issue);
        free(made);
        goto cleanup;
    }
    struct issue_write w = {GW_ISSUE_CREATE, p,    10,   id,   ws, me->user_id, &f,
                            f.atype != NULL, NULL, NULL, resp, "", NULL};
    answer_write(ctx, db, &w, 201);
cleanup:
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* A non-negative integer query parameter within [min, max], def when absent. Returns 0, or
 * MC_EINVAL after answering 400. */
static int query_int(const struct _u_request *req, struct _u_response *resp, const char *name,
                     long min, long max, long def, long *out)
{
    const char *v = u_map_get(req->map_url, name);
    char *end = NULL;
    *out = v ? strtol(v, &end, 10) : def;
    if (v != NULL && (*v == '\0' || *end != '\0' || *out < min || *out > max))
        return gw_invalid(resp, name, "must be an integer between %ld and %ld", min, max);
    return 0;
}

/* Checks the list's query parameters; answers 400 naming the first bad one. */
static int list_params_ok(const struct _u_request *req, struct _u_response *resp, long *limit,
                          long *offset)
{
    const char *status = u_map_get(req->map_url, "status");
    const char *prio = u_map_get(req->map_url, "priority");
    const char *assignee = u_map_get(req->map_url, "assignee_id");
    if (status != NULL && !one_of(status, statuses, MC_ARRAY_LEN(statuses)))
        return gw_invalid(resp, "status",
                          "must be backlog, todo, in_progress, in_review, done, "
                          "blocked or cancelled");
    if (prio != NULL && !one_of(prio, priorities, MC_ARRAY_LEN(priorities)))
        return gw_invalid(resp, "priority", "must be urgent, high, medium, low or none");
    if (assignee != NULL && !mc_uuid_valid(assignee))
        return gw_invalid(resp, "assignee_id", "must be a UUID");
    if (query_int(req, resp, "limit", 1, 200, 50, limit) != 0)
        return MC_EINVAL;
    return query_int(req, resp, "offset", 0, 1000000000, 0, offset);
}

int gw_get_issues(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    long limit = 50, offset = 0;
    if (list_params_ok(req, resp, &limit, &offset) != 0)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    char lim[16], off[16];
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    const char *p[] = {
        ws,  u_map_get(req->map_url, "status"),  u_map_get(req->map_url, "assignee_id"), lim,
        off, u_map_get(req->map_url, "priority")};
    gw_answer_json(resp, db, GW_ISSUE_LIST, 6, p, 200);
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

/* The issue's assigned agent, or NULL (cur is the issue's row from gw_issue_for). */
static const char *assigned_agent(const PGresult *cur)
{
    if (PQgetisnull(cur, 0, 1) || strcmp(PQgetvalue(cur, 0, 1), "agent") != 0)
        return NULL;
    return PQgetvalue(cur, 0, 2);
}

int gw_put_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct issue_fields f;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    if (read_fields(resp, body, false, &f) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    cur = gw_issue_for(req, resp, db);
    if (cur == NULL)
        goto cleanup;
    const char *issue = PQgetvalue(cur, 0, 4);
    bool assign = f.assignee_given && !same_assignee(cur, f.atype, f.aid);
    const char *p[] = {issue,   f.title, f.desc, f.status, f.prio, assign ? "t" : "f",
                       f.atype, f.aid};
    struct issue_write w = {GW_ISSUE_UPDATE,
                            p,
                            8,
                            issue,
                            PQgetvalue(cur, 0, 0),
                            gw_principal(resp)->user_id,
                            &f,
                            assign,
                            PQgetvalue(cur, 0, 5),
                            assigned_agent(cur),
                            resp,
                            "",
                            NULL};
    answer_write(ctx, db, &w, 200);
cleanup:
    PQclear(cur);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* Deleting an issue, run by gw_outbox_tx: its tasks are deleted too. */
static int delete_issue(mc_db *db, void *arg)
{
    const char *const *p = arg;
    int rc = cancel_tasks(db, p[0], GW_ISSUE_ALL_TASKS, true, "issue deleted");
    if (rc != 0)
        return rc;
    return mc_db_exec(db, GW_ISSUE_DELETE, 1, p, NULL);
}

int gw_delete_issue(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *cur = gw_issue_for(req, resp, db);
    if (cur != NULL) {
        const char *p[] = {PQgetvalue(cur, 0, 4)};
        if (gw_outbox_tx(ctx, resp, db, "delete issue", delete_issue, (void *)p) == 0)
            ulfius_set_empty_body_response(resp, 204);
    }
    PQclear(cur);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_issue_tasks(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *cur = gw_issue_for(req, resp, db);
    if (cur != NULL) {
        const char *p[] = {PQgetvalue(cur, 0, 4)};
        gw_answer_json(resp, db, GW_TASK_LIST_BY_ISSUE, 1, p, 200);
    }
    PQclear(cur);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
