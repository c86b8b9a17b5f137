/* auth_runtime.c: authenticates daemons by runtime token for every /api/daemon route. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"

#include <stdlib.h>
#include <string.h>

#define RUNTIME_TOKEN_PREFIX "mcr_"

static const struct gw_principal anonymous = {.kind = GW_ANONYMOUS};

const struct gw_principal *gw_principal(const struct _u_response *resp)
{
    return resp->shared_data ? resp->shared_data : &anonymous;
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

/* The bearer token of a request, or NULL. */
static const char *bearer(const struct _u_request *req)
{
    const char *h = u_map_get_case(req->map_header, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

int gw_auth_runtime(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *token = bearer(req);
    if (token == NULL || strncmp(token, RUNTIME_TOKEN_PREFIX, strlen(RUNTIME_TOKEN_PREFIX)) != 0) {
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization",
                      "a runtime token (Bearer mcr_...) is required");
        return U_CALLBACK_COMPLETE;
    }
    char hash[65];
    if (mc_auth_sha256_hex(token, strlen(token), hash) != 0) {
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot hash the token");
        return U_CALLBACK_COMPLETE;
    }
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    const char *params[] = {hash};
    int rc = mc_db_exec(db, GW_RUNTIME_BY_TOKEN, 1, params, &r);
    int result = U_CALLBACK_COMPLETE;
    if (rc != 0) {
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
    } else if (PQntuples(r) != 1) {
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "Authorization", "unknown runtime token");
    } else {
        struct gw_principal *p = calloc(1, sizeof *p);
        p->kind = GW_RUNTIME;
        snprintf(p->runtime_id, sizeof p->runtime_id, "%s", PQgetvalue(r, 0, 0));
        snprintf(p->workspace_id, sizeof p->workspace_id, "%s", PQgetvalue(r, 0, 1));
        ulfius_set_response_shared_data(resp, p, free);
        result = U_CALLBACK_CONTINUE;
    }
    PQclear(r);
    mc_db_pool_release(ctx->pool, db);
    return result;
}
