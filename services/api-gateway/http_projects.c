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

#include <ctype.h>
#include <stddef.h>
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

/* A calendar day, YYYY-MM-DD in digits, that exists ("" clears the field). Year 0000 is
 * none: PostgreSQL's dates have no year 0 (its cast answered 500), nor signs or blanks. */
static bool valid_date(const char *s)
{
    int y, m, d;
    char tail;
    if (*s == '\0')
        return true;
    for (size_t i = 0; i < 10; i++)
        if (s[i] == '\0' || (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i])))
            return false;
    if (s[10] != '\0' || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || y < 1)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    return back.tm_year == y - 1900 && back.tm_mon == m - 1 && back.tm_mday == d;
}

/* The fields of a create or update body. */
struct project_fields {
    const char *title, *description, *icon, *status, *priority, *lead_type, *lead_id, *start, *due;
};

/* An optional day field, YYYY-MM-DD ("" clears it). Returns 0, or MC_EINVAL after answering
 * 400 naming it. */
static int date_field(struct _u_response *resp, const json_t *body, const char *name,
                      const char **out)
{
    if (gw_str_field(resp, body, name, 0, 10, false, out) != 0)
        return MC_EINVAL;
    if (*out != NULL && !valid_date(*out))
        return gw_invalid(resp, name, "must be a day, YYYY-MM-DD");
    return 0;
}

/* Reads and checks the fields. Returns 0, or MC_EINVAL after answering 400 naming the first
 * bad one. */
static int read_fields(struct _u_response *resp, const json_t *body, bool create,
                       struct project_fields *f)
{
    memset(f, 0, sizeof *f);
    static const struct {
        const char *name;
        size_t min, max;
        size_t at; /* offset of the field in struct project_fields */
    } strings[] = {
        {"title", 1, 500, offsetof(struct project_fields, title)},
        {"description", 0, 100000, offsetof(struct project_fields, description)},
        {"icon", 0, 64, offsetof(struct project_fields, icon)},
        {"status", 1, 32, offsetof(struct project_fields, status)},
        {"priority", 1, 32, offsetof(struct project_fields, priority)},
        {"lead_type", 1, 16, offsetof(struct project_fields, lead_type)},
        {"lead_id", 36, 36, offsetof(struct project_fields, lead_id)},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(strings); i++) {
        const char **out = (const char **)((char *)f + strings[i].at);
        bool required = create && i == 0; /* the title, when creating */
        if (gw_str_field(resp, body, strings[i].name, strings[i].min, strings[i].max, required,
                         out) != 0)
            return MC_EINVAL;
    }
    if (date_field(resp, body, "start_date", &f->start) != 0)
        return MC_EINVAL;
    if (date_field(resp, body, "due_date", &f->due) != 0)
        return MC_EINVAL;
    if (f->status != NULL && !one_of(f->status, statuses, MC_ARRAY_LEN(statuses)))
        return gw_invalid(resp, "status",
                          "must be planned, in_progress, paused, completed or cancelled");
    if (f->priority != NULL && !one_of(f->priority, priorities, MC_ARRAY_LEN(priorities)))
        return gw_invalid(resp, "priority", "must be urgent, high, medium, low or none");
    if (f->lead_type != NULL && strcmp(f->lead_type, "member") != 0 &&
        strcmp(f->lead_type, "agent") != 0)
        return gw_invalid(resp, "lead_type", "must be member or agent");
    if (f->lead_id != NULL && !mc_uuid_valid(f->lead_id))
        return gw_invalid(resp, "lead_id", "must be a UUID");
    if (f->lead_type == NULL && f->lead_id != NULL)
        return gw_invalid(resp, "lead_type", "give lead_type and lead_id together");
    if (f->lead_type != NULL && f->lead_id == NULL)
        return gw_invalid(resp, "lead_id", "give lead_type and lead_id together");
    return 0;
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
        gw_invalid(resp, "lead_id", "no such %s in this workspace", f->lead_type);
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
    if (status != NULL && !one_of(status, statuses, MC_ARRAY_LEN(statuses))) {
        gw_invalid(resp, "status", "must be planned, in_progress, paused, completed or cancelled");
        return U_CALLBACK_COMPLETE;
    }
    if (priority != NULL && !one_of(priority, priorities, MC_ARRAY_LEN(priorities))) {
        gw_invalid(resp, "priority", "must be urgent, high, medium, low or none");
        return U_CALLBACK_COMPLETE;
    }
    mc_db *db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {ws, status, priority};
    gw_answer_json(resp, db, GW_PROJECT_LIST, 3, p, 200);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_post_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_workspace_of(req, resp);
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct project_fields f;
    mc_db *db = NULL;
    if (read_fields(resp, body, true, &f) != 0)
        goto cleanup;
    db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL || !lead_ok(db, resp, ws, &f))
        goto cleanup;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id,        ws,       f.title,    f.description,
                       f.icon,    f.status, f.priority, f.lead_type,
                       f.lead_id, f.start,  f.due,      gw_principal(resp)->user_id};
    gw_answer_json(resp, db, GW_PROJECT_CREATE, 12, p, 201);
cleanup:
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
    if (project == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = project_for(req, resp, db, project, false);
    if (r != NULL)
        gw_answer_text(resp, 200, PQgetvalue(r, 0, 1));
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_put_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *project = gw_uuid_param(req, resp, "project_id");
    if (project == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct project_fields f;
    mc_db *db = NULL;
    PGresult *cur = NULL;
    if (read_fields(resp, body, false, &f) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    cur = project_for(req, resp, db, project, false);
    if (cur == NULL || !lead_ok(db, resp, PQgetvalue(cur, 0, 0), &f))
        goto cleanup;
    const char *p[] = {project,    f.title,     f.description, f.icon,  f.status,
                       f.priority, f.lead_type, f.lead_id,     f.start, f.due};
    gw_answer_json(resp, db, GW_PROJECT_UPDATE, 10, p, 200);
cleanup:
    PQclear(cur);
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

/* Deleting a project, run by gw_outbox_tx: its issues leave it first, each with its
 * IssueProjectChanged, so their usage moves to "no project" at the next rollup run. */
static int delete_project(mc_db *db, void *arg)
{
    const char *const *p = arg;
    PGresult *issues = NULL;
    int rc = mc_db_exec(db, GW_PROJECT_RELEASE_ISSUES, 1, p, &issues);
    for (int i = 0; rc == 0 && i < PQntuples(issues); i++)
        rc = gw_issue_project_event(db, PQgetvalue(issues, i, 0), PQgetvalue(issues, i, 1), NULL,
                                    PQgetvalue(issues, i, 2));
    PQclear(issues);
    if (rc != 0)
        return rc;
    return mc_db_exec(db, GW_PROJECT_DELETE, 1, p, NULL);
}

int gw_delete_project(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *project = gw_uuid_param(req, resp, "project_id");
    if (project == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *cur = project_for(req, resp, db, project, true);
    if (cur != NULL) {
        const char *p[] = {project};
        if (gw_outbox_tx(ctx, resp, db, "delete project", delete_project, (void *)p) == 0)
            ulfius_set_empty_body_response(resp, 204);
    }
    PQclear(cur);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
