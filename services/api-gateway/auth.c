/* auth.c: the guard every route with a credential passes (the credential column of routes.c),
 * JWTs, runtime tokens, and workspace membership. */
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

static int jwt_verify(const struct gw_ctx *ctx, const char *token, char user_id[MC_UUID_STRLEN])
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

static int resolve_token(struct gw_ctx *ctx, const char *token, struct gw_principal *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(token, RUNTIME_TOKEN_PREFIX, strlen(RUNTIME_TOKEN_PREFIX)) != 0) {
        if (jwt_verify(ctx, token, out->user_id) != 0)
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

/* Whether a principal of kind holds what credential asks for. */
static bool fits(int credential, enum gw_principal_kind kind)
{
    switch (credential) {
    case GW_CRED_USER:
        return kind == GW_USER;
    case GW_CRED_RUNTIME:
        return kind == GW_RUNTIME;
    case GW_CRED_ANY:
        return kind == GW_USER || kind == GW_RUNTIME;
    default:
        return false;
    }
}

int gw_authenticate(const struct _u_request *req, struct _u_response *resp, void *ud,
                    int credential)
{
    struct gw_ctx *ctx = ud;
    const char *token = bearer(req);
    if (token == NULL) {
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                      credential == GW_CRED_RUNTIME ? "a runtime token (Bearer mcr_...) is required"
                                                    : "a bearer token is required");
        return U_CALLBACK_COMPLETE;
    }
    struct gw_principal *p = mc_calloc(1, sizeof *p);
    int rc = resolve_token(ctx, token, p);
    if (rc == MC_EDBCONN) {
        free(p);
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
        return U_CALLBACK_COMPLETE;
    }
    if (rc != 0) {
        free(p);
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization", "invalid or expired token");
        return U_CALLBACK_COMPLETE;
    }
    if (!fits(credential, p->kind)) {
        free(p);
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                      credential == GW_CRED_RUNTIME ? "this route needs a runtime token"
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
    if (rc != 0) {
        PQclear(r);
        return rc;
    }
    if (PQntuples(r) == 0)
        rc = MC_ENOTFOUND;
    else
        snprintf(role, 16, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* Owners and admins manage a workspace's members and runtimes. */
static bool manages(const char *role)
{
    return strcmp(role, "owner") == 0 || strcmp(role, "admin") == 0;
}

int gw_require_member(struct _u_response *resp, mc_db *db, const char *workspace_id,
                      bool admin_only)
{
    const struct gw_principal *me = gw_principal(resp);
    char role[16];
    int rc = MC_ENOTFOUND; /* only users are members: a runtime token sees no member data */
    if (me->kind == GW_USER)
        rc = gw_member_role(db, workspace_id, me->user_id, role);
    if (rc == MC_ENOTFOUND) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        return rc;
    }
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        return rc;
    }
    if (admin_only && !manages(role)) {
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, NULL, "only owners and admins may do this");
        return MC_ESTATE;
    }
    return 0;
}
