/* auth.c: the one authentication callback of /api/..., JWTs, runtime tokens, membership. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNTIME_TOKEN_PREFIX "mcr_"
#define JWT_ISSUER           "multica"

static const struct gw_principal anonymous = {.kind = GW_ANONYMOUS};

const struct gw_principal *gw_principal(const struct _u_response *resp)
{
    return resp->shared_data ? resp->shared_data : &anonymous;
}

char *gw_jwt_issue(const struct gw_ctx *ctx, const char *user_id, const char *email)
{
    jwt_t *jwt = NULL;
    char *out = NULL;
    time_t now = time(NULL);
    if (jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_add_grant(jwt, "sub", user_id) == 0 && jwt_add_grant(jwt, "email", email) == 0 &&
        jwt_add_grant(jwt, "iss", JWT_ISSUER) == 0 && jwt_add_grant_int(jwt, "iat", now) == 0 &&
        jwt_add_grant_int(jwt, "exp", now + ctx->jwt_ttl_ms / 1000) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)ctx->jwt_secret,
                    (int)strlen(ctx->jwt_secret)) == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
}

int gw_jwt_verify(const struct gw_ctx *ctx, const char *token, char user_id[MC_UUID_STRLEN])
{
    jwt_t *jwt = NULL;
    int rc = MC_EINVAL;
    if (jwt_decode(&jwt, token, (const unsigned char *)ctx->jwt_secret,
                   (int)strlen(ctx->jwt_secret)) != 0)
        return MC_EINVAL;
    /* Only our own algorithm: a token claiming "none" or another key type is refused. */
    const char *sub = jwt_get_grant(jwt, "sub");
    const char *iss = jwt_get_grant(jwt, "iss");
    long exp = jwt_get_grant_int(jwt, "exp");
    if (jwt_get_alg(jwt) == JWT_ALG_HS256 && sub != NULL && mc_uuid_valid(sub) && iss != NULL &&
        strcmp(iss, JWT_ISSUER) == 0 && exp > (long)time(NULL)) {
        snprintf(user_id, MC_UUID_STRLEN, "%s", sub);
        rc = 0;
    }
    jwt_free(jwt);
    return rc;
}

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

int gw_resolve_token(struct gw_ctx *ctx, const char *token, struct gw_principal *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(token, RUNTIME_TOKEN_PREFIX, strlen(RUNTIME_TOKEN_PREFIX)) != 0) {
        if (gw_jwt_verify(ctx, token, out->user_id) != 0)
            return MC_EINVAL;
        out->kind = GW_USER;
        return 0;
    }
    char hash[65];
    if (mc_auth_sha256_hex(token, strlen(token), hash) != 0)
        return MC_EINVAL;
    int err = 0;
    mc_db *db = mc_db_pool_acquire(ctx->pool, 2000, &err);
    if (db == NULL)
        return MC_EDBCONN;
    PGresult *r = NULL;
    const char *p[] = {hash};
    int rc = mc_db_exec(db, GW_RUNTIME_BY_TOKEN, 1, p, &r);
    if (rc == 0 && PQntuples(r) == 1) {
        out->kind = GW_RUNTIME;
        snprintf(out->runtime_id, sizeof out->runtime_id, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->workspace_id, sizeof out->workspace_id, "%s", PQgetvalue(r, 0, 1));
    } else if (rc == 0) {
        rc = MC_EINVAL;
    } else {
        rc = MC_EDBCONN;
    }
    PQclear(r);
    mc_db_pool_release(ctx->pool, db);
    return rc;
}

static const char *bearer(const struct _u_request *req)
{
    const char *h = u_map_get_case(req->map_header, "Authorization");
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return *h ? h : NULL;
    }
    /* Browsers cannot set headers on a WebSocket: /api/ws also takes ?token=. */
    const char *q = u_map_get(req->map_url, "token");
    return q && *q ? q : NULL;
}

/* Which credential a path needs. Public: login and config, and the daemon's registration
 * (its one-time token is the credential). */
enum need { NEED_NONE, NEED_USER, NEED_RUNTIME, NEED_EITHER };

static enum need policy(const char *path)
{
    if (strncmp(path, "/api/auth/", 10) == 0 || strcmp(path, "/api/config") == 0 ||
        strcmp(path, "/api/daemon/register") == 0)
        return NEED_NONE;
    if (strncmp(path, "/api/daemon/", 12) == 0)
        return NEED_RUNTIME;
    if (strcmp(path, "/api/ws") == 0)
        return NEED_EITHER;
    return NEED_USER;
}

int gw_authenticate(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *path = req->url_path ? req->url_path : req->http_url;
    enum need need = policy(path);
    if (need == NEED_NONE)
        return U_CALLBACK_CONTINUE;
    const char *token = bearer(req);
    if (token == NULL) {
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                      need == NEED_RUNTIME ? "a runtime token (Bearer mcr_...) is required"
                                           : "a bearer token is required");
        return U_CALLBACK_COMPLETE;
    }
    struct gw_principal *p = mc_calloc(1, sizeof *p);
    int rc = gw_resolve_token(ctx, token, p);
    bool fits = rc == 0 && (need == NEED_EITHER || (need == NEED_USER && p->kind == GW_USER) ||
                            (need == NEED_RUNTIME && p->kind == GW_RUNTIME));
    if (!fits) {
        free(p);
        if (rc == MC_EDBCONN)
            mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
        else
            mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                          rc != 0                ? "invalid or expired token"
                          : need == NEED_RUNTIME ? "this route needs a runtime token"
                                                 : "this route needs a user token");
        return U_CALLBACK_COMPLETE;
    }
    ulfius_set_response_shared_data(resp, p, free);
    return U_CALLBACK_CONTINUE;
}

int gw_member_role(mc_db *db, const char *workspace_id, const char *user_id, char role[16])
{
    PGresult *r = NULL;
    const char *p[] = {workspace_id, user_id};
    int rc = mc_db_exec(db, GW_MEMBER_ROLE, 2, p, &r);
    if (rc == 0) {
        if (PQntuples(r) == 1)
            snprintf(role, 16, "%s", PQgetvalue(r, 0, 0));
        else
            rc = MC_ENOTFOUND;
    }
    PQclear(r);
    return rc;
}

int gw_require_member(struct _u_response *resp, mc_db *db, const char *workspace_id,
                      bool admin_only)
{
    const struct gw_principal *me = gw_principal(resp);
    char role[16];
    int rc =
        me->kind == GW_USER ? gw_member_role(db, workspace_id, me->user_id, role) : MC_ENOTFOUND;
    if (rc == MC_ENOTFOUND) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        return rc;
    }
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        return rc;
    }
    if (admin_only && strcmp(role, "owner") != 0 && strcmp(role, "admin") != 0) {
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, NULL, "only owners and admins may do this");
        return MC_ESTATE;
    }
    return 0;
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
