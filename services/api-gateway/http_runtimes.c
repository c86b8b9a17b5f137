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

/* The registration, in one transaction: the runtime row from a live registration token, and
 * RuntimeRegistered. *r gets (workspace_id); MC_ENOTFOUND when the token is unknown, used or
 * expired. */
static int register_tx(mc_db *db, const char *const p[5], const char *name, int64_t maxc,
                       PGresult **r)
{
    int rc = mc_db_begin(db);
    if (rc != 0)
        return rc;
    rc = mc_db_exec(db, GW_RUNTIME_REGISTER, 5, p, r);
    if (rc != 0)
        return rc;
    if (PQntuples(*r) == 0)
        return MC_ENOTFOUND;
    rc = runtime_event(db, MC_EV_RUNTIME_REGISTERED, p[1], PQgetvalue(*r, 0, 0), name, (long)maxc);
    if (rc != 0)
        return rc;
    return mc_db_commit(db);
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
    int rc = register_tx(db, p, name, maxc, &r);
    if (rc == MC_ENOTFOUND) {
        mc_db_rollback(db);
        mc_http_error(resp, 401, MC_HTTP_UNAUTHORIZED, "registration_token",
                      "unknown, used or expired registration token");
        goto cleanup;
    }
    if (rc != 0) {
        mc_db_rollback(db);
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    const char *ws = PQgetvalue(r, 0, 0);
    gw_outbox_kick(ctx);
    mc_log_info(json_pack("{ss ss}", "runtime_id", id, "workspace_id", ws), "runtime registered");
    mc_http_json(
        resp, 201,
        json_pack("{ss ss ss}", "runtime_id", id, "workspace_id", ws, "runtime_token", token));
cleanup:
    PQclear(r);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* The heartbeat, in one transaction: last_seen of the runtime, and RuntimeHeartbeat when the
 * runtime still exists. */
static int heartbeat_tx(mc_db *db, const char *runtime)
{
    int rc = mc_db_begin(db);
    if (rc != 0)
        return rc;
    PGresult *r = NULL;
    const char *p[] = {runtime};
    rc = mc_db_exec(db, GW_RUNTIME_HEARTBEAT, 1, p, &r);
    if (rc != 0) {
        PQclear(r);
        return rc;
    }
    if (PQntuples(r) == 1)
        rc = runtime_event(db, MC_EV_RUNTIME_HEARTBEAT, runtime, PQgetvalue(r, 0, 0),
                           PQgetvalue(r, 0, 1), atol(PQgetvalue(r, 0, 2)));
    PQclear(r);
    if (rc != 0)
        return rc;
    return mc_db_commit(db);
}

int gw_post_heartbeat(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    int rc = heartbeat_tx(db, gw_principal(resp)->runtime_id);
    if (rc != 0) {
        mc_db_rollback(db);
        gw_db_error(resp, db, rc);
    } else {
        gw_outbox_kick(ctx);
        mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    }
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
