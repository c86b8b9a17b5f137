/* auth.c: the guard every route with a credential passes (the credential column of routes.c):
 * session JWTs, personal access tokens (mul_), task tokens (mat_), and workspace membership. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAT_PREFIX        "mul_"
#define TASK_TOKEN_PREFIX "mat_"
#define JWT_ISSUER        "multica"

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

/* Fills the principal's user and expiry (a WebSocket opened with the token closes then). */
static int jwt_verify(const struct gw_ctx *ctx, const char *token, struct gw_principal *out)
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
        snprintf(out->user_id, MC_UUID_STRLEN, "%s", sub);
        out->expires_at = exp;
        rc = 0;
    }
    jwt_free(jwt);
    return rc;
}

/* Runs the lookup statement of a hashed token (personal access or task token). Returns the
 * row (caller clears), NULL with *rc = MC_EINVAL when unknown, or NULL with MC_EDBCONN. */
static PGresult *lookup_hash(struct gw_ctx *ctx, int stmt, const char *hash, int *rc)
{
    *rc = MC_EINVAL;
    int err = 0;
    mc_db *db = mc_db_pool_acquire(ctx->pool, 2000, &err);
    if (db == NULL) {
        *rc = MC_EDBCONN;
        return NULL;
    }
    PGresult *r = NULL;
    const char *p[] = {hash};
    if (mc_db_exec(db, stmt, 1, p, &r) != 0) {
        *rc = MC_EDBCONN;
    } else if (PQntuples(r) == 1) {
        *rc = 0;
    }
    mc_db_pool_release(ctx->pool, db);
    if (*rc != 0) {
        PQclear(r);
        r = NULL;
    }
    return r;
}

static PGresult *lookup(struct gw_ctx *ctx, int stmt, const char *token, int *rc)
{
    char hash[65];
    *rc = MC_EINVAL;
    if (mc_auth_sha256_hex(token, strlen(token), hash) != 0)
        return NULL;
    return lookup_hash(ctx, stmt, hash, rc);
}

static void copy_col(char out[MC_UUID_STRLEN], const PGresult *r, int col)
{
    snprintf(out, MC_UUID_STRLEN, "%s", PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
}

/* Resolves a bearer token: 0, MC_EINVAL (unknown, expired or revoked) or MC_EDBCONN. */
static int resolve_token(struct gw_ctx *ctx, const char *token, struct gw_principal *out)
{
    memset(out, 0, sizeof *out);
    int rc = MC_EINVAL;
    PGresult *r = NULL;
    if (strncmp(token, PAT_PREFIX, strlen(PAT_PREFIX)) == 0) {
        if ((r = lookup(ctx, GW_PAT_AUTH, token, &rc)) != NULL) {
            out->kind = GW_USER;
            copy_col(out->pat_id, r, 0);
            copy_col(out->user_id, r, 1);
        }
    } else if (strncmp(token, TASK_TOKEN_PREFIX, strlen(TASK_TOKEN_PREFIX)) == 0) {
        if ((r = lookup(ctx, GW_TASK_TOKEN_AUTH, token, &rc)) != NULL) {
            out->kind = GW_TASK;
            copy_col(out->task_id, r, 0);
            copy_col(out->workspace_id, r, 1);
            copy_col(out->issue_id, r, 2);
            copy_col(out->agent_id, r, 3);
            copy_col(out->user_id, r, 4);
        }
    } else if ((rc = jwt_verify(ctx, token, out)) == 0) {
        out->kind = GW_USER;
    }
    PQclear(r);
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
    case GW_CRED_DAEMON:
        return kind == GW_USER;
    case GW_CRED_MEMBER:
        return kind == GW_USER || kind == GW_TASK;
    default:
        return false;
    }
}

static int refuse(struct _u_response *resp)
{
    mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                  "invalid, expired or revoked token");
    return U_CALLBACK_COMPLETE;
}

void gw_daemon_caller(const struct _u_response *resp, const char **hash, const char **user)
{
    const struct gw_principal *p = gw_principal(resp);
    *hash = p->deferred ? p->token_hash : NULL;
    *user = p->deferred ? NULL : p->user_id;
}

void gw_daemon_checked(struct _u_response *resp, bool valid)
{
    struct gw_principal *p = resp->shared_data;
    if (p != NULL)
        p->settled = true;
    if (!valid)
        refuse(resp);
}

int gw_daemon_settle(struct gw_ctx *ctx, struct _u_response *resp)
{
    struct gw_principal *p = resp->shared_data;
    if (p == NULL || !p->deferred || p->settled)
        return U_CALLBACK_COMPLETE;
    p->settled = true;
    int rc = MC_EINVAL;
    PGresult *r = lookup_hash(ctx, GW_PAT_AUTH, p->token_hash, &rc);
    if (r != NULL) {
        copy_col(p->pat_id, r, 0);
        copy_col(p->user_id, r, 1);
    }
    PQclear(r);
    if (rc == MC_EDBCONN)
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
    else if (rc != 0)
        refuse(resp);
    return U_CALLBACK_COMPLETE;
}

int gw_authenticate(const struct _u_request *req, struct _u_response *resp, void *ud,
                    int credential)
{
    struct gw_ctx *ctx = ud;
    const char *token = bearer(req);
    if (token == NULL) {
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                      "a bearer token is required (a session or mul_ personal access token)");
        return U_CALLBACK_COMPLETE;
    }
    struct gw_principal *p = mc_calloc(1, sizeof *p);
    if (credential == GW_CRED_DAEMON && strncmp(token, PAT_PREFIX, strlen(PAT_PREFIX)) == 0 &&
        mc_auth_sha256_hex(token, strlen(token), p->token_hash) == 0) {
        /* Checked by the handler's SQL call (or gw_daemon_settle), not by a lookup here. */
        p->kind = GW_USER;
        p->deferred = true;
        ulfius_set_response_shared_data(resp, p, free);
        return U_CALLBACK_CONTINUE;
    }
    int rc = resolve_token(ctx, token, p);
    if (rc == MC_EDBCONN) {
        free(p);
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
        return U_CALLBACK_COMPLETE;
    }
    if (rc != 0) {
        free(p);
        return refuse(resp);
    }
    if (!fits(credential, p->kind)) {
        free(p);
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, "Authorization",
                      "a task token cannot do this; use a session or personal access token");
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
    int rc = MC_ENOTFOUND;
    /* A task token acts in its own workspace only. */
    bool in_scope =
        me->kind == GW_USER || (me->kind == GW_TASK && strcmp(workspace_id, me->workspace_id) == 0);
    if (in_scope)
        rc = gw_member_role(db, workspace_id, me->user_id, role);
    if (rc == MC_ENOTFOUND) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        return rc;
    }
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        return rc;
    }
    if (admin_only && (me->kind != GW_USER || !manages(role))) {
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, NULL, "only owners and admins may do this");
        return MC_ESTATE;
    }
    return 0;
}
