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
    if (mc_db_exec(db, GW_USER_BY_ID, 1, p, &r) == 0 && PQntuples(r) == 1) {
        json_t *u = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        const char *z = json_string_value(json_object_get(u, "time_zone"));
        if (z && *z)
            snprintf(tz, 65, "%s", z);
        json_decref(u);
    }
    PQclear(r);
}

static int usage_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      const struct read_spec *spec)
{
    const char *id = gw_uuid_param(req, resp, spec->scope == 'r' ? "runtime_id" : "workspace_id");
    if (id == NULL)
        return U_CALLBACK_COMPLETE;
    const char *days = u_map_get(req->map_url, "days");
    const char *tzq = u_map_get(req->map_url, "tz");
    const char *source = u_map_get(req->map_url, "source");
    const char *format = u_map_get(req->map_url, "format");
    const char *group = u_map_get(req->map_url, "group_by");
    if (days == NULL)
        days = spec->default_days;
    if (!all_digits(days) || atoi(days) < 1 || atoi(days) > 365)
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "days",
                             "must be an integer between 1 and 365"),
               U_CALLBACK_COMPLETE;
    if (source && strcmp(source, "rollup") != 0 && strcmp(source, "raw") != 0)
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "source", "must be rollup or raw"),
               U_CALLBACK_COMPLETE;
    if (format && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "format", "must be json or csv"),
               U_CALLBACK_COMPLETE;
    if (spec->scope == 'w' && group == NULL)
        group = "model";
    if (spec->scope == 'w' && strcmp(group, "agent") != 0 && strcmp(group, "runtime") != 0 &&
        strcmp(group, "model") != 0)
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "group_by",
                             "must be agent, runtime or model"),
               U_CALLBACK_COMPLETE;
    if (tzq && (strlen(tzq) == 0 || strlen(tzq) > 64))
        return mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "tz", "must be an IANA time zone"),
               U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    char ws[MC_UUID_STRLEN], tz[65];
    snprintf(ws, sizeof ws, "%s", id);
    int rc = 0;
    if (spec->scope == 'r') {
        const char *p[] = {id};
        rc = mc_db_exec(db, GW_RUNTIME_WORKSPACE, 1, p, &r);
        if (rc == 0 && PQntuples(r) == 1)
            snprintf(ws, sizeof ws, "%s", PQgetvalue(r, 0, 0));
        else if (rc == 0)
            ws[0] = '\0';
        PQclear(r);
        r = NULL;
    }
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (ws[0] == '\0') {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        goto cleanup;
    }
    if (gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    if (tzq != NULL) {
        const char *p[] = {tzq};
        if (mc_db_exec(db, GW_TZ_CHECK, 1, p, NULL) != 0) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "tz", "'%s' is not a known time zone",
                          tzq);
            goto cleanup;
        }
        snprintf(tz, sizeof tz, "%s", tzq);
    } else {
        user_tz(db, gw_principal(resp)->user_id, tz);
    }
    bool raw = source && strcmp(source, "raw") == 0;
    const char *p[] = {id, days, tz, group};
    if ((rc = mc_db_exec(db, raw ? spec->raw_stmt : spec->rollup_stmt, spec->scope == 'w' ? 4 : 3,
                         p, &r)) != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    json_t *rows = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    if (format && strcmp(format, "csv") == 0) {
        answer_csv(resp, rows);
        json_decref(rows);
    } else {
        json_t *out =
            json_pack("{ss si ss ss so}", spec->scope == 'r' ? "runtime_id" : "workspace_id", id,
                      "days", atoi(days), "tz", tz, "source", raw ? "raw" : "rollup", "rows", rows);
        if (spec->scope == 'w')
            json_object_set_new(out, "group_by", json_string(group));
        mc_http_json(resp, 200, out);
    }
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
