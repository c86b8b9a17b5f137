/* request.c: what handlers share to read a request and answer it: path parameters and body
 * fields, a pooled connection per request, database errors and JSON rows as answers. */
#include "gateway.h"
#include "mc_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
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
    if (db != NULL)
        mc_db_pool_release(ctx->pool, db);
}

int gw_db_error(struct _u_response *resp, mc_db *db, int rc)
{
    if (rc == MC_EDBCONN) {
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
        return U_CALLBACK_COMPLETE;
    }
    MC_LOG_ERROR_AT(json_pack("{ss ss}", "sqlstate", mc_db_sqlstate(db), "error", mc_db_errmsg(db)),
                    "database error in a request");
    mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "internal error");
    return U_CALLBACK_COMPLETE;
}

void gw_answer_text(struct _u_response *resp, unsigned status, const char *json_text)
{
    ulfius_set_string_body_response(resp, status, json_text);
    u_map_put(resp->map_header, "Content-Type", "application/json");
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
    if (text == NULL)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
    else
        gw_answer_text(resp, status, text);
    PQclear(r);
    return U_CALLBACK_COMPLETE;
}

int gw_invalid(struct _u_response *resp, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, field, "%s", msg);
    return MC_EINVAL;
}

int gw_task_not_found(struct _u_response *resp)
{
    mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, "task_id", "task not found");
    return U_CALLBACK_COMPLETE;
}

int gw_runtime_not_found(struct _u_response *resp)
{
    mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, "runtime_id", "runtime not found");
    return U_CALLBACK_COMPLETE;
}

PGresult *gw_task_state(mc_db *db, const char *task, struct _u_response *resp, bool deleted_ok)
{
    PGresult *r = NULL;
    const char *p[] = {task, gw_principal(resp)->user_id};
    int rc = mc_db_exec(db, GW_TASK_STATE, 2, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (PQntuples(r) == 0 || strcmp(PQgetvalue(r, 0, 4), "t") != 0 ||
               (!deleted_ok && strcmp(PQgetvalue(r, 0, 0), "deleted") == 0)) {
        gw_task_not_found(resp);
    } else {
        return r;
    }
    PQclear(r);
    return NULL;
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
        const struct gw_principal *me = gw_principal(resp);
        if (me->kind == GW_TASK)
            return me->workspace_id;
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

json_t *gw_optional_body(const struct _u_request *req, struct _u_response *resp)
{
    if (req->binary_body == NULL || req->binary_body_length == 0)
        return json_object();
    return mc_http_body(req, resp, MC_BODY_OBJECT);
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

int gw_str_field(struct _u_response *resp, const json_t *body, const char *name, size_t min,
                 size_t max, bool required, const char **out)
{
    const json_t *v = json_object_get(body, name);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "is required");
        return MC_EINVAL;
    }
    if (!json_is_string(v))
        return gw_invalid(resp, name, "must be a string");
    size_t len = mc_utf8_len(json_string_value(v));
    if (len < min || len > max)
        return gw_invalid(resp, name, "must be %zu to %zu characters", min, max);
    *out = json_string_value(v);
    return 0;
}

int gw_int_field(struct _u_response *resp, const json_t *body, const char *name, int64_t min,
                 int64_t max, int64_t *out)
{
    const json_t *v = json_object_get(body, name);
    if (v == NULL)
        return 0;
    int64_t n = 0;
    if (mc_json_int64(v, &n) != 0 || n < min || n > max)
        return gw_invalid(resp, name, "must be an integer between %lld and %lld", (long long)min,
                          (long long)max);
    *out = n;
    return 0;
}

int gw_user_read(struct _u_response *resp, struct gw_ctx *ctx, int stmt)
{
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {gw_principal(resp)->user_id};
    gw_answer_json(resp, db, stmt, 1, p, 200);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_workspace_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                      int stmt)
{
    const char *ws = gw_workspace_of(req, resp);
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {ws};
    gw_answer_json(resp, db, stmt, 1, p, 200);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

void gw_client_address(const struct gw_ctx *ctx, const struct _u_request *req, char *out,
                       size_t outlen)
{
    const char *h =
        ctx->client_ip_header[0] ? u_map_get_case(req->map_header, ctx->client_ip_header) : NULL;
    if (h != NULL && *h != '\0') {
        size_t n = strcspn(h, ", ");
        snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), h);
        return;
    }
    snprintf(out, outlen, "unknown");
    const struct sockaddr *sa = req->client_address;
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

mc_db *gw_member_db(struct gw_ctx *ctx, struct _u_response *resp, const char *ws, bool admin_only)
{
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return NULL;
    if (gw_require_member(resp, db, ws, admin_only) != 0) {
        gw_db_release(ctx, db);
        return NULL;
    }
    return db;
}

json_t *gw_json_prefix(const char *s, size_t max)
{
    size_t bytes = 0, chars = 0;
    while (s[bytes] && chars < max) {
        bytes++;
        while (((unsigned char)s[bytes] & 0xC0) == 0x80)
            bytes++;
        chars++;
    }
    return json_stringn(s, bytes);
}
