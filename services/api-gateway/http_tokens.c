/* http_tokens.c: personal access tokens, the credential of the multica CLI and daemon.
 *
 *   POST   /api/tokens {name, expires_in_days?}  -> {id, name, token, token_prefix, ...}
 *   GET    /api/tokens                            the caller's live tokens (never the token)
 *   DELETE /api/tokens/{token_id}                 revokes
 *   POST   /api/tokens/current/renew              extends the calling token by 90 days
 *
 * A token is mul_ and 40 hex characters, shown once; only its SHA-256 is stored. `multica
 * login` creates one with the session JWT of the browser flow, or takes one pasted with
 * --token. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"

#include <stdio.h>
#include <string.h>

#define PREFIX_SHOWN 12 /* "mul_" and 8 hex: enough to tell tokens apart in a list */
#define RENEW_DAYS   "90"

int gw_post_token(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = gw_optional_body(req, resp);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    const char *name = NULL;
    bool bad = gw_str_field(resp, body, "name", 1, 200, false, &name) != 0;
    const json_t *days_v = json_object_get(body, "expires_in_days");
    int64_t days = 0;
    if (!bad && days_v != NULL && !json_is_null(days_v) &&
        (mc_json_int64(days_v, &days) != 0 || days < 1 || days > 3650)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "expires_in_days",
                      "must be an integer between 1 and 3650");
        bad = true;
    }
    if (bad || (db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN], token[64], hash[65], prefix[PREFIX_SHOWN + 1], days_s[16];
    mc_uuid_v7(id);
    if (mc_auth_random_token("mul_", token, sizeof token) != 0 ||
        mc_auth_sha256_hex(token, strlen(token), hash) != 0) {
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot make a token");
        goto cleanup;
    }
    snprintf(prefix, sizeof prefix, "%.*s", PREFIX_SHOWN, token);
    snprintf(days_s, sizeof days_s, "%lld", (long long)days);
    const char *p[] = {
        id,     gw_principal(resp)->user_id, name ? name : "personal access token", hash,
        prefix, days > 0 ? days_s : NULL};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_PAT_CREATE, 6, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else {
        json_t *out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        json_object_set_new(out, "token", json_string(token));
        mc_log_info(json_pack("{ss ss}", "user_id", gw_principal(resp)->user_id, "token_id", id),
                    "personal access token created");
        mc_http_json(resp, 201, out);
    }
    PQclear(r);
cleanup:
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_get_tokens(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    return gw_user_read(resp, ud, GW_PAT_LIST);
}

int gw_delete_token(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *id = gw_uuid_param(req, resp, "token_id");
    mc_db *db = id ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {id, gw_principal(resp)->user_id};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_PAT_REVOKE, 2, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, "token_id", "no such token");
    else
        ulfius_set_empty_body_response(resp, 204);
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

/* The daemon renews at start and every three days; only a 401 worries it. A session JWT or a
 * token without expiry has nothing to renew and says so. */
int gw_post_token_renew(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    struct gw_ctx *ctx = ud;
    const struct gw_principal *me = gw_principal(resp);
    if (me->pat_id[0] == '\0') {
        mc_http_json(resp, 200, json_pack("{sb sn}", "renewed", 0, "expires_at"));
        return U_CALLBACK_COMPLETE;
    }
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {me->pat_id, RENEW_DAYS};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_PAT_RENEW, 2, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_json(resp, 200, json_pack("{sb sn}", "renewed", 0, "expires_at"));
    else
        mc_http_json(resp, 200,
                     json_pack("{sb ss}", "renewed", 1, "expires_at", PQgetvalue(r, 0, 0)));
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
