/* http_usage_read.c: the usage dashboards' reads (members of the workspace only).
 *
 *   GET /api/runtimes/{runtime_id}/usage?days=90&tz=Europe/Berlin     daily, by provider and model
 *   GET /api/runtimes/{runtime_id}/usage/by-agent?days=30
 *   GET /api/runtimes/{runtime_id}/usage/by-hour?days=30
 *   GET /api/workspaces/{workspace_id}/usage?days=30&group_by=agent|runtime|model
 *
 * Every read takes ?format=csv for export and ?source=raw to compute the same answer from
 * task_usage instead of the hourly rollup (for verification; both must agree once the rollup
 * has run). Days are cut at local midnight in ?tz, else the user's time zone, else UTC. */
#include "gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct read_spec {
    char scope; /* 'r' runtime, 'w' workspace */
    int rollup_stmt, raw_stmt;
    const char *default_days;
};

static bool all_digits(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 6)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
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
    } else if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (!json_is_null(v)) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        fputs(t ? t : "", f);
        free(t);
    }
}

static void answer_csv(struct _u_response *resp, const json_t *rows)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const json_t *first = json_array_get(rows, 0);
    const char *key;
    json_t *v;
    bool sep = false;
    json_object_foreach((json_t *)first, key, v)
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
}

/* The caller's own time zone (UTC when unknown). */
static void user_tz(mc_db *db, const char *user, char tz[65])
{
    snprintf(tz, 65, "UTC");
    PGresult *r = NULL;
    const char *p[] = {user};
    int rc = mc_db_exec(db, GW_USER_BY_ID, 1, p, &r);
    if (rc != 0 || PQntuples(r) == 0) {
        PQclear(r);
        return;
    }
    json_t *u = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    const char *z = json_string_value(json_object_get(u, "time_zone"));
    if (z != NULL && *z != '\0')
        snprintf(tz, 65, "%s", z);
    json_decref(u);
    PQclear(r);
}

/* The query of a read, checked. */
struct read_query {
    const char *days, *tz, *source, *format, *group;
};

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c != NULL && strcmp(s, c) == 0);
}

/* Reads and checks the query; answers 400 naming the first bad parameter. */
static int read_query(const struct _u_request *req, struct _u_response *resp,
                      const struct read_spec *spec, struct read_query *q)
{
    q->days = u_map_get(req->map_url, "days");
    q->tz = u_map_get(req->map_url, "tz");
    q->source = u_map_get(req->map_url, "source");
    q->format = u_map_get(req->map_url, "format");
    q->group = u_map_get(req->map_url, "group_by");
    if (q->days == NULL)
        q->days = spec->default_days;
    if (spec->scope == 'w' && q->group == NULL)
        q->group = "model";
    if (!all_digits(q->days) || atoi(q->days) < 1 || atoi(q->days) > 365)
        return gw_invalid(resp, "days", "must be an integer between 1 and 365");
    if (q->source != NULL && !one_of(q->source, "rollup", "raw", NULL))
        return gw_invalid(resp, "source", "must be rollup or raw");
    if (q->format != NULL && !one_of(q->format, "json", "csv", NULL))
        return gw_invalid(resp, "format", "must be json or csv");
    if (spec->scope == 'w' && !one_of(q->group, "agent", "runtime", "model"))
        return gw_invalid(resp, "group_by", "must be agent, runtime or model");
    if (q->tz != NULL && (strlen(q->tz) == 0 || strlen(q->tz) > 64))
        return gw_invalid(resp, "tz", "must be an IANA time zone");
    return 0;
}

/* The workspace a read is about: the workspace itself, or the runtime's. Answers 404 (or the
 * database error) itself. */
static int read_workspace(mc_db *db, struct _u_response *resp, const struct read_spec *spec,
                          const char *id, char ws[MC_UUID_STRLEN])
{
    snprintf(ws, MC_UUID_STRLEN, "%s", id);
    if (spec->scope != 'r')
        return 0;
    PGresult *r = NULL;
    const char *p[] = {id};
    int rc = mc_db_exec(db, GW_RUNTIME_WORKSPACE, 1, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (PQntuples(r) == 0) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        rc = MC_ENOTFOUND;
    } else {
        snprintf(ws, MC_UUID_STRLEN, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}

/* The time zone days are cut in: ?tz when the database knows it (400 otherwise), else the
 * caller's own. */
static int read_tz(mc_db *db, struct _u_response *resp, const char *tzq, char tz[65])
{
    if (tzq == NULL) {
        user_tz(db, gw_principal(resp)->user_id, tz);
        return 0;
    }
    const char *p[] = {tzq};
    if (mc_db_exec(db, GW_TZ_CHECK, 1, p, NULL) != 0)
        return gw_invalid(resp, "tz", "'%s' is not a known time zone", tzq);
    snprintf(tz, 65, "%s", tzq);
    return 0;
}

static void answer_rows(struct _u_response *resp, const struct read_spec *spec,
                        const struct read_query *q, const char *id, const char *tz, bool raw,
                        const char *rows_text)
{
    json_t *rows = json_loads(rows_text, 0, NULL);
    if (q->format != NULL && strcmp(q->format, "csv") == 0) {
        answer_csv(resp, rows);
        json_decref(rows);
        return;
    }
    json_t *out =
        json_pack("{ss si ss ss so}", spec->scope == 'r' ? "runtime_id" : "workspace_id", id,
                  "days", atoi(q->days), "tz", tz, "source", raw ? "raw" : "rollup", "rows", rows);
    if (spec->scope == 'w')
        json_object_set_new(out, "group_by", json_string(q->group));
    mc_http_json(resp, 200, out);
}

static int usage_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      const struct read_spec *spec)
{
    const char *id = gw_uuid_param(req, resp, spec->scope == 'r' ? "runtime_id" : "workspace_id");
    if (id == NULL)
        return U_CALLBACK_COMPLETE;
    struct read_query q;
    if (read_query(req, resp, spec, &q) != 0)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    char ws[MC_UUID_STRLEN], tz[65];
    if (read_workspace(db, resp, spec, id, ws) != 0)
        goto cleanup;
    if (gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    if (read_tz(db, resp, q.tz, tz) != 0)
        goto cleanup;
    bool raw = q.source != NULL && strcmp(q.source, "raw") == 0;
    const char *p[] = {id, q.days, tz, q.group};
    int rc =
        mc_db_exec(db, raw ? spec->raw_stmt : spec->rollup_stmt, spec->scope == 'w' ? 4 : 3, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    answer_rows(resp, spec, &q, id, tz, raw, PQgetvalue(r, 0, 0));
cleanup:
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

static const struct read_spec daily = {'r', GW_USAGE_DAILY, GW_USAGE_DAILY_RAW, "90"};
static const struct read_spec by_agent = {'r', GW_USAGE_BY_AGENT, GW_USAGE_BY_AGENT_RAW, "30"};
static const struct read_spec by_hour = {'r', GW_USAGE_BY_HOUR, GW_USAGE_BY_HOUR_RAW, "30"};
static const struct read_spec workspace = {'w', GW_USAGE_WORKSPACE, GW_USAGE_WORKSPACE_RAW, "30"};

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

int gw_get_workspace_usage(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return usage_read(req, resp, ud, &workspace);
}
