/* http_usage_read.c: the usage reads (members of the workspace only), in Multica's routes and
 * shapes, and one of ours.
 *
 *   GET /api/runtimes/{runtime_id}/usage?days=90&tz=      daily rows by provider and model
 *   GET /api/runtimes/{runtime_id}/usage/by-agent?days=30
 *   GET /api/runtimes/{runtime_id}/usage/by-hour?days=30  hour of the day (0-23) in tz, by model
 *   GET /api/dashboard/usage/daily?workspace_id=&days=30&project_id=
 *   GET /api/dashboard/usage/by-agent?workspace_id=&days=30&project_id=
 *   GET /api/issues/{issue_id}/usage                      the issue's totals, all time
 *   GET /api/workspaces/{workspace_id}/usage?days=30&group_by=agent|runtime|project|model
 *
 * Every row carries tokens and cost: Multica's cost_usd_ticks (what daemons reported) and
 * uncosted_* (the tokens they did not price), our estimated_cost_usd_ticks (the catalogue's
 * price of those), total_cost_usd_ticks and unpriced_tokens. Multica's routes behave as
 * Multica's do: a days outside 1..365 (or not a number) reads as the default, and days are
 * cut at local midnight in ?tz, else the user's stored zone, else UTC, an unknown zone falling
 * through. The date series reach back `days` whole days before today (N+1 calendar days, as
 * Multica's parseSinceParamInTZ), the dashboard's by-agent exactly `days` (its exact cutoff).
 * The workspace read is ours and strict: a bad days or tz answers 400. Every read takes
 * ?source=raw (the same answer from task_usage, for verification) and ?format=csv. */
#include "gateway.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum scope { RUNTIME, DASHBOARD, WORKSPACE };

struct read_spec {
    enum scope scope;
    int rollup_stmt, raw_stmt;
    int default_days;
    bool exact;   /* the window holds `days` days including today, not `days` before it */
    bool project; /* ?project_id filters */
    bool rows;    /* the rollup's rows summed by the gateway, kept (gw_usage_daily_cached) */
};

/* Multica's parse: an integer in 1..365, anything else the default. */
static int lenient_days(const char *s, int def)
{
    char *end = NULL;
    errno = 0;
    long v = s && *s ? strtol(s, &end, 10) : 0;
    return s && *s && errno == 0 && *end == '\0' && v >= 1 && v <= 365 ? (int)v : def;
}

static bool strict_days(const char *s, int *out)
{
    if (s == NULL || strlen(s) > 3 || strspn(s, "0123456789") != strlen(s) || !*s)
        return false;
    *out = atoi(s);
    return *out >= 1 && *out <= 365;
}

/* RFC 4180: quote when the value holds a comma, a quote or a line break. */
static void csv_cell(FILE *f, const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strpbrk(s, ",\"\r\n") == NULL) {
            fputs(s, f);
            return;
        }
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        /* A whole number read as a real (a sum beyond 64 bits): printed whole. */
        fprintf(f, "%.0f", json_real_value(v));
    } else if (!json_is_null(v)) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        fputs(t ? t : "", f);
        free(t);
    }
}

/* Rows (a JSON array of flat objects) as CSV; sums beyond 64 bits are read as reals. */
static void answer_csv(struct _u_response *resp, const char *text)
{
    json_t *rows = json_loads(text, 0, NULL);
    if (rows == NULL)
        rows = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *key;
    json_t *v;
    bool sep = false;
    json_object_foreach(json_array_get(rows, 0), key, v)
    {
        fprintf(f, "%s%s", sep ? "," : "", key);
        sep = true;
    }
    fputs("\r\n", f);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        sep = false;
        json_object_foreach(row, key, v)
        {
            if (sep)
                fputc(',', f);
            csv_cell(f, v);
            sep = true;
        }
        fputs("\r\n", f);
    }
    fclose(f);
    ulfius_set_binary_body_response(resp, 200, buf, len);
    u_map_put(resp->map_header, "Content-Type", "text/csv; charset=utf-8");
    free(buf);
    json_decref(rows);
}

static int not_found(struct _u_response *resp, const char *message)
{
    mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "%s", message);
    return U_CALLBACK_COMPLETE;
}

static int bad(struct _u_response *resp, const char *field, const char *message)
{
    gw_invalid(resp, field, "%s", message);
    return U_CALLBACK_COMPLETE;
}

/* The id a read is about: the runtime or workspace in the path, or the dashboard's workspace
 * (?workspace_id= or X-Workspace-ID). Answers 400 and returns NULL when it is not a UUID. */
static const char *read_subject(const struct _u_request *req, struct _u_response *resp,
                                enum scope scope)
{
    if (scope == RUNTIME)
        return gw_uuid_param(req, resp, "runtime_id");
    if (scope == WORKSPACE)
        return gw_uuid_param(req, resp, "workspace_id");
    return gw_workspace_of(req, resp);
}

static int usage_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      const struct read_spec *spec)
{
    const char *id = read_subject(req, resp, spec->scope);
    if (id == NULL)
        return U_CALLBACK_COMPLETE;
    const char *days_q = u_map_get(req->map_url, "days");
    const char *tzq = u_map_get(req->map_url, "tz");
    const char *source = u_map_get(req->map_url, "source");
    const char *format = u_map_get(req->map_url, "format");
    const char *group = u_map_get(req->map_url, "group_by");
    const char *project = spec->project ? u_map_get(req->map_url, "project_id") : NULL;
    bool strict = spec->scope == WORKSPACE;
    int days = spec->default_days;
    if (strict && days_q != NULL && !strict_days(days_q, &days))
        return bad(resp, "days", "must be an integer between 1 and 365");
    if (!strict)
        days = lenient_days(days_q, spec->default_days);
    if (source && strcmp(source, "rollup") != 0 && strcmp(source, "raw") != 0)
        return bad(resp, "source", "must be rollup or raw");
    if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return bad(resp, "format", "must be json or csv");
    if (strict && group == NULL)
        group = "model";
    if (strict && strcmp(group, "agent") != 0 && strcmp(group, "runtime") != 0 &&
        strcmp(group, "project") != 0 && strcmp(group, "model") != 0)
        return bad(resp, "group_by", "must be agent, runtime, project or model");
    if (strict && tzq && (strlen(tzq) == 0 || strlen(tzq) > 64))
        return bad(resp, "tz", "must be an IANA time zone");
    if (!strict && tzq && strlen(tzq) > 64)
        tzq = NULL; /* no zone is that long: read as unknown */
    if (project && *project == '\0')
        project = NULL;
    if (project && !mc_uuid_valid(project))
        return bad(resp, "project_id", "must be a UUID");
    /* Users read their workspaces; a task token its own workspace only (the statement checks
     * the read's workspace against it). */
    const struct gw_principal *me = gw_principal(resp);
    const char *confined = me->kind == GW_TASK ? me->workspace_id : NULL;
    if ((me->kind != GW_USER && me->kind != GW_TASK) || (confined && *confined == '\0'))
        return not_found(resp, "not found");
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    bool raw = source && strcmp(source, "raw") == 0;
    char offset[8];
    snprintf(offset, sizeof offset, "%d", spec->exact ? days - 1 : days);
    /* One statement: the read's workspace, membership, zone and, when it may, the rows. */
    const char *p[] = {id, me->user_id, confined, tzq, offset, strict ? group : project};
    int nparams = strict || spec->project ? 6 : 5;
    bool kept = spec->rows && !raw; /* the rollup's part kept in memory (usage_daily_cache.c) */
    int stmt = raw ? spec->raw_stmt : kept ? GW_USAGE_DAILY_FRESH : spec->rollup_stmt;
    char after[32]; /* kept: the unfolded changes asked for, from the boundary of those kept */
    if (kept) {
        p[5] = gw_usage_daily_after(ctx, p, after, sizeof after);
        nparams = 6;
    }
    int rc = mc_db_exec(db, stmt, nparams, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (PQgetisnull(r, 0, 0)) {
        not_found(resp, "runtime not found");
        goto cleanup;
    }
    if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
        not_found(resp, "not found");
        goto cleanup;
    }
    if (PQgetisnull(r, 0, 2)) {
        gw_invalid(resp, "tz", "'%s' is not a known time zone", tzq);
        goto cleanup;
    }
    char *built = kept ? gw_usage_daily_cached(ctx, db, &r, p, &rc) : NULL;
    if (kept && built == NULL) {
        if (rc != 0)
            gw_db_error(resp, db, rc);
        else
            mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "out of memory");
        goto cleanup;
    }
    const char *tz = PQgetvalue(r, 0, 2);
    const char *rows = built ? built : PQgetvalue(r, 0, 3);
    if (format && strcmp(format, "csv") == 0) {
        answer_csv(resp, rows);
    } else if (strict) {
        /* The envelope around the rows as text: the rows are passed through as Postgres wrote
         * them, whatever the size of their numbers. */
        json_t *head = json_pack("{ss si ss ss ss}", "workspace_id", id, "days", days, "tz", tz,
                                 "source", raw ? "raw" : "rollup", "group_by", group);
        char *h = json_dumps(head, JSON_COMPACT);
        json_decref(head);
        char *body = mc_sprintf("%.*s,\"rows\":%s}", (int)strlen(h) - 1, h, rows);
        ulfius_set_string_body_response(resp, 200, body);
        u_map_put(resp->map_header, "Content-Type", "application/json");
        free(body);
        free(h);
    } else if (built != NULL) {
        /* The text built here becomes the response's body as it is (ulfius frees it with
         * o_free, which is free: libs/service), not copied once more: the runtime's daily
         * answer is about 100 kB at 30 days. */
        free(resp->binary_body);
        resp->binary_body = built;
        resp->binary_body_length = strlen(built);
        resp->status = 200;
        built = NULL;
        u_map_put(resp->map_header, "Content-Type", "application/json");
    } else {
        ulfius_set_string_body_response(resp, 200, rows);
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
    free(built);
cleanup:
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

static const struct read_spec daily = {
    RUNTIME, GW_USAGE_DAILY, GW_USAGE_DAILY_RAW, 90, false, false, true};
static const struct read_spec by_agent = {
    RUNTIME, GW_USAGE_BY_AGENT, GW_USAGE_BY_AGENT_RAW, 30, false, false, false};
static const struct read_spec by_hour = {
    RUNTIME, GW_USAGE_BY_HOUR, GW_USAGE_BY_HOUR_RAW, 30, false, false, false};
static const struct read_spec dash_daily = {
    DASHBOARD, GW_DASHBOARD_DAILY, GW_DASHBOARD_DAILY_RAW, 30, false, true, false};
static const struct read_spec dash_by_agent = {
    DASHBOARD, GW_DASHBOARD_BY_AGENT, GW_DASHBOARD_BY_AGENT_RAW, 30, true, true, false};
static const struct read_spec workspace = {
    WORKSPACE, GW_USAGE_WORKSPACE, GW_USAGE_WORKSPACE_RAW, 30, true, false, false};

int gw_get_runtime_usage(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return usage_read(req, resp, ud, &daily);
}

int gw_get_runtime_usage_by_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return usage_read(req, resp, ud, &by_agent);
}

int gw_get_runtime_usage_by_hour(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return usage_read(req, resp, ud, &by_hour);
}

int gw_get_dashboard_usage_daily(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return usage_read(req, resp, ud, &dash_daily);
}

int gw_get_dashboard_usage_by_agent(const struct _u_request *req, struct _u_response *resp,
                                    void *ud)
{
    return usage_read(req, resp, ud, &dash_by_agent);
}

int gw_get_workspace_usage(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return usage_read(req, resp, ud, &workspace);
}

int gw_get_issue_usage(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    mc_db *db = issue ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    const char *p[] = {issue};
    int rc = mc_db_exec(db, GW_ISSUE_GET, 1, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "issue not found");
    else if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) == 0)
        gw_answer_json(resp, db, GW_USAGE_ISSUE, 1, p, 200);
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
