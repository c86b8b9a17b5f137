/* request.c: what handlers share to read a request and answer it: path parameters and body
 * fields, a pooled connection per request, database errors and JSON rows as answers. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>
#include <string.h>

mc_db *gw_db(struct gw_ctx *ctx, struct _u_response *resp)
{
    int err = 0;
    mc_db *db = mc_db_pool_acquire(ctx->pool, 2000, &err);
    if (db == NULL)
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable (%s)",
                      mc_strerror(err));
    return db;
}

void gw_db_release(struct gw_ctx *ctx, mc_db *db)
{
    mc_db_pool_release(ctx->pool, db);
}

int gw_db_error(struct _u_response *resp, mc_db *db, int rc)
{
    if (rc == MC_EDBCONN)
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
    else {
        MC_LOG_ERROR_AT(
            json_pack("{ss ss}", "sqlstate", mc_db_sqlstate(db), "error", mc_db_errmsg(db)),
            "database error in a request");
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "internal error");
    }
    return U_CALLBACK_COMPLETE;
}

int gw_answer_json(struct _u_response *resp, mc_db *db, int stmt, int n, const char *const *p,
                   unsigned status)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, stmt, n, p, &r);
    if (rc != 0) {
        PQclear(r);
        return gw_db_error(resp, db, rc);
    }
    const char *text = PQntuples(r) > 0 ? PQgetvalue(r, 0, PQnfields(r) - 1) : NULL;
    if (text == NULL) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
    } else {
        ulfius_set_string_body_response(resp, status, text);
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
    PQclear(r);
    return U_CALLBACK_COMPLETE;
}

const char *gw_workspace_of(const struct _u_request *req, struct _u_response *resp)
{
    const char *ws = u_map_get(req->map_url, "workspace_id");
    const char *field = "workspace_id";
    if (ws == NULL || *ws == '\0') {
        ws = u_map_get_case(req->map_header, "X-Workspace-ID");
        field = "X-Workspace-ID";
    }
    if (ws == NULL || *ws == '\0') {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "workspace_id",
                      "name the workspace: ?workspace_id= or the X-Workspace-ID header");
        return NULL;
    }
    if (!mc_uuid_valid(ws)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, field, "must be a UUID");
        return NULL;
    }
    return ws;
}

const char *gw_uuid_param(const struct _u_request *req, struct _u_response *resp, const char *name)
{
    const char *v = u_map_get(req->map_url, name);
    if (v == NULL || !mc_uuid_valid(v)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "must be a UUID");
        return NULL;
    }
    return v;
}

const char *gw_str_field(const json_t *body, const char *name, size_t min, size_t max,
                         bool required, struct _u_response *resp, bool *bad)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "is required");
            *bad = true;
        }
        return NULL;
    }
    if (!json_is_string(v)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "must be a string");
        *bad = true;
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t len = mc_utf8_len(s);
    if (len < min || len > max) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "must be %zu to %zu characters", min,
                      max);
        *bad = true;
        return NULL;
    }
    return s;
}

int gw_workspace_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      int stmt)
{
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    mc_db *db = ws ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    if (gw_require_member(resp, db, ws, false) == 0) {
        const char *p[] = {ws};
        gw_answer_json(resp, db, stmt, 1, p, 200);
    }
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
