/* http_runtimes.c: runtime registration and liveness.
 *
 *   POST /api/workspaces/{workspace_id}/runtime-tokens   one-time token (owners and admins)
 *   GET  /api/workspaces/{workspace_id}/runtimes
 *   POST /api/daemon/register {registration_token, name, max_concurrency} -> runtime token
 *   POST /api/daemon/heartbeat                          (runtime token)
 *
 * Registration and heartbeats become multica.runtime.events (through the outbox), which the
 * dispatcher uses for capacity and liveness. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRATION_TTL_MS (24LL * 3600 * 1000)

int gw_post_runtime_token(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_member_db(ctx, resp, ws, true);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    char token[64], hash[65], ttl[24];
    mc_auth_random_token("mcreg_", token, sizeof token);
    mc_auth_sha256_hex(token, strlen(token), hash);
    snprintf(ttl, sizeof ttl, "%lld", REGISTRATION_TTL_MS);
    const char *p[] = {hash, ws, gw_principal(resp)->user_id, ttl};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_REGTOKEN_CREATE, 4, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else
        mc_http_json(
            resp, 201,
            json_pack("{ss ss}", "registration_token", token, "expires_at", PQgetvalue(r, 0, 0)));
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_runtimes(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return gw_workspace_read(req, resp, ud, GW_RUNTIME_LIST);
}

/* Writes a runtime event into the outbox (same transaction as the caller's change). */
static int runtime_event(mc_db *db, const char *type, const char *runtime, const char *ws,
                         const char *name, long max_concurrency)
{
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    json_t *data = json_pack("{ss ss ss si ss}", "runtime_id", runtime, "workspace_id", ws, "name",
                             name, "max_concurrency", (int)max_concurrency, "at", now);
    return gw_outbox_add(db, type, runtime, runtime, data);
}

/* A registration: the runtime's row, then RuntimeRegistered. */
struct registration {
    const char *const *params; /* registration token hash, id, name, max, token hash */
    long max_concurrency;
    struct _u_response *resp;
    PGresult *r; /* the runtime's workspace */
};

static int register_runtime(mc_db *db, void *arg)
{
    struct registration *g = arg;
    PQclear(g->r);
    g->r = NULL;
    int rc = mc_db_exec(db, GW_RUNTIME_REGISTER, 5, g->params, &g->r);
    if (rc != 0)
        return rc;
    if (PQntuples(g->r) == 0) {
        mc_http_error(g->resp, 401, MC_HTTP_UNAUTHORIZED, "registration_token",
                      "unknown, used or expired registration token");
        return GW_ANSWERED;
    }
    return runtime_event(db, MC_EV_RUNTIME_REGISTERED, g->params[1], PQgetvalue(g->r, 0, 0),
                         g->params[2], g->max_concurrency);
}

int gw_post_register(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *r = NULL;
    const char *reg, *name;
    int64_t maxc = 1;
    if (gw_str_field(resp, body, "registration_token", 10, 200, true, &reg) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "name", 1, 200, true, &name) != 0)
        goto cleanup;
    if (gw_int_field(resp, body, "max_concurrency", 1, 10000, &maxc) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    char reg_hash[65], token[64], hash[65], id[MC_UUID_STRLEN], maxs[16];
    mc_auth_sha256_hex(reg, strlen(reg), reg_hash);
    mc_auth_random_token("mcr_", token, sizeof token);
    mc_auth_sha256_hex(token, strlen(token), hash);
    mc_uuid_v7(id);
    snprintf(maxs, sizeof maxs, "%lld", (long long)maxc);
    const char *p[] = {reg_hash, id, name, maxs, hash};
    struct registration g = {p, (long)maxc, resp, NULL};
    if (gw_outbox_tx(ctx, resp, db, "register runtime", register_runtime, &g) == 0) {
        const char *ws = PQgetvalue(g.r, 0, 0);
        mc_log_info(json_pack("{ss ss}", "runtime_id", id, "workspace_id", ws),
                    "runtime registered");
        mc_http_json(
            resp, 201,
            json_pack("{ss ss ss}", "runtime_id", id, "workspace_id", ws, "runtime_token", token));
    }
    PQclear(g.r);
cleanup:
    PQclear(r);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* A heartbeat: last seen, then RuntimeHeartbeat while the runtime is known. */
struct heartbeat {
    const char *runtime_id;
};

static int record_heartbeat(mc_db *db, void *arg)
{
    const struct heartbeat *h = arg;
    const char *p[] = {h->runtime_id};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_RUNTIME_HEARTBEAT, 1, p, &r);
    if (rc == 0 && PQntuples(r) == 1)
        rc = runtime_event(db, MC_EV_RUNTIME_HEARTBEAT, h->runtime_id, PQgetvalue(r, 0, 0),
                           PQgetvalue(r, 0, 1), atol(PQgetvalue(r, 0, 2)));
    PQclear(r);
    return rc;
}

int gw_post_heartbeat(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    struct heartbeat h = {gw_principal(resp)->runtime_id};
    if (gw_outbox_tx(ctx, resp, db, "heartbeat", record_heartbeat, &h) == 0)
        mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
