/* http_projects.c: projects, in Multica's routes (the multica CLI's `project` commands).
 *
 *   GET    /api/projects?workspace_id=&status=&priority=   {projects: [...], total}
 *   POST   /api/projects {title, description?, icon?, status?, priority?, lead_type?, lead_id?,
 *                         start_date?, due_date?}          (workspace: ?workspace_id= or
 *                                                            X-Workspace-ID, as the CLI sends it)
 *   GET    /api/projects/{project_id}
 *   PUT    /api/projects/{project_id} {any of the above}
 *   DELETE /api/projects/{project_id}                       owners and admins
 *
 * An issue joins a project through issue create/update (http_issues.c). Deleting a project
 * first takes its issues out of it, each with its IssueProjectChanged, in the same transaction,
 * so their usage moves to "no project" after the next rollup run. */
#include "gateway.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const statuses[] = {"planned", "in_progress", "paused", "completed",
                                       "cancelled"};
static const char *const priorities[] = {"urgent", "high", "medium", "low", "none"};

static bool one_of(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, set[i]) == 0)
            return true;
    return false;
}

/* A calendar day, YYYY-MM-DD, that exists ("" clears the field). */
static bool valid_date(const char *s)
{
    int y, m, d;
    char tail;
    if (*s == '\0')
        return true;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    return back.tm_year == y - 1900 && back.tm_mon == m - 1 && back.tm_mday == d;
}

/* The fields of a create or update body, validated (answers 400 and returns false). */
struct project_fields {
    const char *title, *description, *icon, *status, *priority, *lead_type, *lead_id, *start, *due;
};

static bool read_fields(const json_t *body, bool create, struct _u_response *resp,
                        struct project_fields *f)
{
    bool bad = false;
    f->title = gw_str_field(body, "title", 1, 500, create, resp, &bad);
    if (!bad)
        f->description = gw_str_field(body, "description", 0, 100000, false, resp, &bad);
    if (!bad)
        f->icon = gw_str_field(body, "icon", 0, 64, false, resp, &bad);
    if (!bad)
        f->status = gw_str_field(body, "status", 1, 32, false, resp, &bad);
    if (!bad)
        f->priority = gw_str_field(body, "priority", 1, 32, false, resp, &bad);
    if (!bad)
        f->lead_type = gw_str_field(body, "lead_type", 1, 16, false, resp, &bad);
    if (!bad)
        f->lead_id = gw_str_field(body, "lead_id", 36, 36, false, resp, &bad);
    if (!bad)
        f->start = gw_str_field(body, "start_date", 0, 10, false, resp, &bad);
    if (!bad)
        f->due = gw_str_field(body, "due_date", 0, 10, false, resp, &bad);
    if (bad)
        return false;
    const char *field = NULL, *why = NULL;
    if (f->status && !one_of(f->status, statuses, MC_ARRAY_LEN(statuses)))
        field = "status", why = "must be planned, in_progress, paused, completed or cancelled";
    else if (f->priority && !one_of(f->priority, priorities, MC_ARRAY_LEN(priorities)))
        field = "priority", why = "must be urgent, high, medium, low or none";
    else if (f->lead_type && strcmp(f->lead_type, "member") != 0 &&
             strcmp(f->lead_type, "agent") != 0)
        field = "lead_type", why = "must be member or agent";
    else if (f->lead_id && !mc_uuid_valid(f->lead_id))
        field = "lead_id", why = "must be a UUID";
    else if ((f->lead_type == NULL) != (f->lead_id == NULL))
        field = f->lead_type ? "lead_id" : "lead_type", why = "give lead_type and lead_id together";
    else if (f->start && !valid_date(f->start))
        field = "start_date", why = "must be a day, YYYY-MM-DD";
    else if (f->due && !valid_date(f->due))
        field = "due_date", why = "must be a day, YYYY-MM-DD";
    if (field != NULL)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, field, "%s", why);
    return field == NULL;
}

/* The lead must be a member or an agent of the workspace (400 otherwise). */
static bool lead_ok(mc_db *db, struct _u_response *resp, const char *ws,
                    const struct project_fields *f)
{
    if (f->lead_type == NULL)
        return true;
    PGresult *r = NULL;
    const char *p[] = {ws, f->lead_type, f->lead_id};
    int rc = mc_db_exec(db, GW_LEAD_IN_WORKSPACE, 3, p, &r);
    bool ok = rc == 0 && strcmp(mc_db_value(r), "t") == 0;
    PQclear(r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (!ok)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "lead_id", "no such %s in this workspace",
                      f->lead_type);
    return ok;
}

int gw_get_projects(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    const char *status = u_map_get(req->map_url, "status");
    const char *priority = u_map_get(req->map_url, "priority");
    if (status && !one_of(status, statuses, MC_ARRAY_LEN(statuses)))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "status",
                             "must be planned, in_progress, paused, completed or cancelled"),
               U_CALLBACK_COMPLETE;
    if (priority && !one_of(priority, priorities, MC_ARRAY_LEN(priorities)))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "priority",
                             "must be urgent, high, medium, low or none"),
               U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    if (gw_require_member(resp, db, ws, false) == 0) {
        const char *p[] = {ws, status, priority};
        gw_answer_json(resp, db, GW_PROJECT_LIST, 3, p, 200);
    }
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_post_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    json_t *body = ws ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct project_fields f = {0};
    mc_db *db = NULL;
    if (read_fields(body, true, resp, &f) && (db = gw_db(ctx, resp)) != NULL &&
        gw_require_member(resp, db, ws, false) == 0 && lead_ok(db, resp, ws, &f)) {
        char id[MC_UUID_STRLEN];
        mc_uuid_v7(id);
        const char *p[] = {id,        ws,       f.title,    f.description,
                           f.icon,    f.status, f.priority, f.lead_type,
                           f.lead_id, f.start,  f.due,      gw_principal(resp)->user_id};
        gw_answer_json(resp, db, GW_PROJECT_CREATE, 12, p, 201);
    }
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* Loads a project the caller may see (row: workspace_id, json) or answers 404/503 itself.
 * A workspace the request names must be the project's own. */
static PGresult *project_for(const struct _u_request *req, struct _u_response *resp, mc_db *db,
                             const char *project, bool admin_only)
{
    PGresult *r = NULL;
    const char *p[] = {project};
    const char *named = u_map_get(req->map_url, "workspace_id");
    if (named == NULL)
        named = u_map_get_case(req->map_header, "X-Workspace-ID");
    int rc = mc_db_exec(db, GW_PROJECT_GET, 1, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (PQntuples(r) == 0 || (named && *named && strcmp(named, PQgetvalue(r, 0, 0)) != 0)) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "project not found");
    } else if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), admin_only) == 0) {
        return r;
    }
    PQclear(r);
    return NULL;
}

int gw_get_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *project = gw_uuid_param(req, resp, "project_id");
    mc_db *db = project ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = project_for(req, resp, db, project, false);
    if (r != NULL) {
        ulfius_set_string_body_response(resp, 200, PQgetvalue(r, 0, 1));
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_put_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *project = gw_uuid_param(req, resp, "project_id");
    json_t *body = project ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct project_fields f = {0};
    mc_db *db = NULL;
    PGresult *cur = NULL;
    if (read_fields(body, false, resp, &f) && (db = gw_db(ctx, resp)) != NULL &&
        (cur = project_for(req, resp, db, project, false)) != NULL &&
        lead_ok(db, resp, PQgetvalue(cur, 0, 0), &f)) {
        const char *p[] = {project,    f.title,     f.description, f.icon,  f.status,
                           f.priority, f.lead_type, f.lead_id,     f.start, f.due};
        gw_answer_json(resp, db, GW_PROJECT_UPDATE, 10, p, 200);
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_issue_project_event(mc_db *db, const char *issue, const char *ws, const char *project,
                           const char *version)
{
    json_t *data = json_pack("{ss ss s:s? sI}", "issue_id", issue, "workspace_id", ws, "project_id",
                             project, "version", (json_int_t)strtoll(version, NULL, 10));
    return gw_outbox_add(db, MC_EV_ISSUE_PROJECT_CHANGED, issue, issue, data);
}

int gw_delete_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *project = gw_uuid_param(req, resp, "project_id");
    mc_db *db = project ? gw_db(ctx, resp) : NULL;
    PGresult *cur = db ? project_for(req, resp, db, project, true) : NULL;
    if (cur != NULL) {
        const char *p[] = {project};
        PGresult *issues = NULL;
        int rc = mc_db_begin(db);
        if (rc == 0)
            rc = mc_db_exec(db, GW_PROJECT_RELEASE_ISSUES, 1, p, &issues);
        for (int i = 0; rc == 0 && i < PQntuples(issues); i++)
            rc = gw_issue_project_event(db, PQgetvalue(issues, i, 0), PQgetvalue(issues, i, 1),
                                        NULL, PQgetvalue(issues, i, 2));
        if (rc == 0)
            rc = mc_db_exec(db, GW_PROJECT_DELETE, 1, p, NULL);
        if (rc == 0)
            rc = mc_db_commit(db);
        if (rc != 0) {
            mc_db_rollback(db);
            gw_db_error(resp, db, rc);
        } else {
            gw_outbox_kick(ctx);
            ulfius_set_empty_body_response(resp, 204);
        }
        PQclear(issues);
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
