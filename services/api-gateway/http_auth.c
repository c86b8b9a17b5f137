/* http_auth.c: login by email code, the public configuration, and the caller's profile.
 *
 *   GET  /api/config                    allow_signup, workspace_creation_disabled, google_client_id
 *   POST /api/auth/send-code {email}    a fresh 6-digit code (rate limited per email)
 *   POST /api/auth/verify-code {email, code}  -> {token, user}
 *   GET  /api/me
 *
 * Codes are random, stored as an HMAC keyed by JWT_SECRET, expire, and die after a capped
 * number of wrong attempts. MULTICA_DEV_VERIFICATION_CODE works only outside production. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"

#include <ctype.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Multica's shape (its handler/config.go): allow_signup always, google_client_id when set,
 * workspace_creation_disabled only when true. */
int gw_get_config(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    struct gw_ctx *ctx = ud;
    json_t *cfg = json_pack("{sb}", "allow_signup", ctx->allow_signup);
    if (ctx->google_client_id[0] != '\0')
        json_object_set_new(cfg, "google_client_id", json_string(ctx->google_client_id));
    if (ctx->disable_workspace_creation)
        json_object_set_new(cfg, "workspace_creation_disabled", json_true());
    mc_http_json(resp, 200, cfg);
    return U_CALLBACK_COMPLETE;
}

/* Lowercases and checks an email: something@something, no spaces, at most 254 bytes. */
static bool normalise_email(const char *in, char out[256])
{
    size_t len = in ? strlen(in) : 0;
    if (len < 3 || len > 254)
        return false;
    const char *at = strchr(in, '@');
    if (at == NULL || at == in || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)in[i]) || (unsigned char)in[i] < 0x20)
            return false;
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[len] = '\0';
    return true;
}

static int code_hash(const struct gw_ctx *ctx, const char *email, const char *code, char out[65])
{
    unsigned char mac[32];
    char msg[300];
    snprintf(msg, sizeof msg, "%s:%s", email, code);
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, ctx->jwt_secret, strlen(ctx->jwt_secret), msg,
                         strlen(msg), mac) != 0)
        return MC_EIO;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

static const char *email_field(const json_t *body, struct _u_response *resp, char email[256])
{
    const char *raw = json_string_value(json_object_get(body, "email"));
    if (!normalise_email(raw, email)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "email",
                      raw ? "is not an email address" : "is required");
        return NULL;
    }
    return email;
}

/* With ALLOW_SIGNUP=false only existing users may log in. Returns 0 when allowed. */
static int signup_allowed(struct gw_ctx *ctx, mc_db *db, const char *email,
                          struct _u_response *resp)
{
    if (ctx->allow_signup)
        return 0;
    PGresult *r = NULL;
    const char *p[] = {email};
    int rc = mc_db_exec(db, GW_USER_BY_EMAIL, 1, p, &r);
    int rows = rc == 0 ? PQntuples(r) : 0;
    PQclear(r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        return rc;
    }
    if (rows == 0) {
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, "email", "sign-up is disabled on this server");
        return MC_ESTATE;
    }
    return 0;
}

int gw_post_send_code(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    char email[256], code[8], hash[65];
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    if (email_field(body, resp, email) == NULL)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    if (signup_allowed(ctx, db, email, resp) != 0)
        goto cleanup;
    unsigned char rnd[4];
    mc_random_bytes(rnd, sizeof rnd);
    uint32_t n = ((uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 | (uint32_t)rnd[2] << 8 | rnd[3]);
    snprintf(code, sizeof code, "%06u", n % 1000000u);
    if (code_hash(ctx, email, code, hash) != 0) {
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot hash the code");
        goto cleanup;
    }
    char ttl[24], limit[24], client_limit[24], client[64];
    snprintf(ttl, sizeof ttl, "%lld", (long long)ctx->code_ttl_ms);
    snprintf(limit, sizeof limit, "%lld", (long long)ctx->code_sends_per_hour);
    snprintf(client_limit, sizeof client_limit, "%lld", (long long)ctx->code_sends_per_client);
    gw_client_address(ctx, req, client, sizeof client);
    const char *p[] = {email, hash, ttl, limit, client, client_limit};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_CODE_REQUEST, 6, p, &r);
    const char *outcome = rc == 0 ? mc_db_value(r) : NULL;
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (strcmp(outcome, "email_limited") == 0) {
        mc_http_error(resp, 429, MC_HTTP_RATE_LIMITED, "email",
                      "too many codes sent to this address; try again later");
    } else if (strcmp(outcome, "client_limited") == 0) {
        mc_http_error(resp, 429, MC_HTTP_RATE_LIMITED, NULL,
                      "too many codes requested from this client; try again later");
    } else if (gw_mail_code(ctx, email, code) != 0) {
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "the code could not be sent");
    } else {
        mc_http_json(resp, 200, json_pack("{sb}", "sent", 1));
    }
    PQclear(r);
cleanup:
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* The fixed development code: never in production, and only when one is configured. */
static bool dev_code_accepted(const struct gw_ctx *ctx, const char *code)
{
    if (ctx->production)
        return false;
    if (ctx->dev_code[0] == '\0')
        return false;
    return mc_auth_equal(code, ctx->dev_code);
}

/* Checks the code; returns 0 when it is right, or answers the failure itself. The guess is
 * judged and counted in one locked statement (gateway.verify_code), so concurrent guesses
 * cannot be judged against a code whose attempts they have used up. */
static int check_code(struct gw_ctx *ctx, mc_db *db, const char *email, const char *code,
                      struct _u_response *resp)
{
    if (dev_code_accepted(ctx, code))
        return 0;
    char hash[65], max[16];
    if (code_hash(ctx, email, code, hash) != 0) {
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot hash the code");
        return MC_EIO;
    }
    snprintf(max, sizeof max, "%lld", (long long)ctx->code_max_attempts);
    const char *p[] = {email, hash, max};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_CODE_VERIFY, 3, p, &r);
    if (rc != 0) {
        PQclear(r);
        gw_db_error(resp, db, rc);
        return rc;
    }
    char outcome[16];
    snprintf(outcome, sizeof outcome, "%s", mc_db_value(r));
    PQclear(r);
    if (strcmp(outcome, "ok") == 0)
        return 0;
    mc_metric_add(ctx->m.login_failures, 1);
    if (strcmp(outcome, "none") == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "code",
                      "no valid code for this address; request a new one");
    else if (strcmp(outcome, "exhausted") == 0)
        mc_http_error(resp, 429, MC_HTTP_RATE_LIMITED, "code",
                      "too many wrong codes; request a new one");
    else
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "code", "wrong code");
    return MC_EINVAL;
}

int gw_post_verify_code(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    char email[256];
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    const char *code = json_string_value(json_object_get(body, "code"));
    if (email_field(body, resp, email) == NULL)
        goto cleanup;
    if (code == NULL || strlen(code) != 6 || strspn(code, "0123456789") != 6) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "code", "must be 6 digits");
        goto cleanup;
    }
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    if (signup_allowed(ctx, db, email, resp) != 0)
        goto cleanup;
    if (check_code(ctx, db, email, code, resp) != 0)
        goto cleanup;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id, email};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_USER_CREATE, 2, p, &r);
    if (rc != 0) {
        PQclear(r);
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char *token = gw_jwt_issue(ctx, id, email);
    if (token == NULL) {
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot issue a token");
        goto cleanup;
    }
    mc_metric_add(ctx->m.logins, 1);
    mc_log_info(json_pack("{ss}", "user_id", id), "user logged in");
    mc_http_json(resp, 200,
                 json_pack("{ss s{ss ss}}", "token", token, "user", "id", id, "email", email));
    free(token);
cleanup:
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_get_me(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    return gw_user_read(resp, ud, GW_USER_BY_ID);
}
