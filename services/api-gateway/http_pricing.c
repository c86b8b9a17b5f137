/* http_pricing.c: the price catalogue that costs usage (Multica prices in the browser from a
 * static table; here the server prices, so every read and the rollup carry cost).
 *
 *   GET /api/pricing[?workspace_id=]   the default catalogue, and the workspace's overrides
 *   PUT /api/pricing {workspace_id?, prices: [{provider, model, effective_from?,
 *        input_ticks_per_mtok, output_ticks_per_mtok, cache_read_ticks_per_mtok,
 *        cache_write_ticks_per_mtok} | {provider, model, effective_from, remove: true}]}
 *
 * Rates are ticks (1 USD = 10^10 ticks, Multica's unit) per million tokens; provider "*" means
 * any provider. An entry applies to usage created from its effective_from (default: now) until
 * the next entry of the same workspace, provider and model. Workspace overrides are set by the
 * workspace's owners and admins; the default catalogue by the users PRICING_ADMIN_EMAILS
 * names. The catalogue lives in the usage slice, which the gateway writes only through
 * usage.put_prices (SECURITY DEFINER): it stores the entries and queues exactly the hourly
 * buckets whose cost they change, which the next rollup run re-costs. */
#include "gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ENTRIES 1000
#define MAX_RATE    100000000000000LL /* 10^14 ticks, $10,000, per million tokens */
/* effective_from within years 1 to 9999 in UTC: PostgreSQL has no year 0, and an offset can
 * carry "0000-01-01T00:00:00Z" or "0001-01-01T00:00:00+01:00" there (its cast answered 500). */
#define MIN_FROM_US (-62135596800LL * 1000000)
#define END_FROM_US (253402300800LL * 1000000)

static const char *const rates[] = {"input_ticks_per_mtok", "output_ticks_per_mtok",
                                    "cache_read_ticks_per_mtok", "cache_write_ticks_per_mtok"};

int gw_get_pricing(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *named = u_map_get(req->map_url, "workspace_id");
    if (named == NULL)
        named = u_map_get_case(req->map_header, "X-Workspace-ID");
    const char *ws = named && *named ? gw_workspace_of(req, resp) : NULL;
    if (named && *named && ws == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    if (ws == NULL || gw_require_member(resp, db, ws, false) == 0) {
        const char *p[] = {ws};
        gw_answer_json(resp, db, GW_PRICES_LIST, 1, p, 200);
    }
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

static int entry_error(struct _u_response *resp, size_t i, const char *field, const char *why)
{
    char name[96];
    snprintf(name, sizeof name, "prices[%zu]%s%s", i, field ? "." : "", field ? field : "");
    mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, name, "%s", why);
    return MC_EINVAL;
}

static bool known_field(const char *key)
{
    static const char *const others[] = {"provider", "model", "effective_from", "remove"};
    for (size_t i = 0; i < MC_ARRAY_LEN(others); i++)
        if (strcmp(key, others[i]) == 0)
            return true;
    for (size_t i = 0; i < MC_ARRAY_LEN(rates); i++)
        if (strcmp(key, rates[i]) == 0)
            return true;
    return false;
}

/* Checks one entry and appends its normalised form to out. */
static int read_entry(const json_t *e, size_t i, json_t *out, struct _u_response *resp)
{
    if (!json_is_object(e))
        return entry_error(resp, i, NULL, "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v)
    {
        if (!known_field(key))
            return entry_error(resp, i, key, "is not a known field");
    }
    const char *provider = json_string_value(json_object_get(e, "provider"));
    const char *model = json_string_value(json_object_get(e, "model"));
    const char *from = json_string_value(json_object_get(e, "effective_from"));
    const json_t *remove = json_object_get(e, "remove");
    if (provider == NULL || mc_utf8_len(provider) < 1 || mc_utf8_len(provider) > 64)
        return entry_error(resp, i, "provider", "must be 1 to 64 characters (* for any)");
    if (model == NULL || mc_utf8_len(model) < 1 || mc_utf8_len(model) > 128)
        return entry_error(resp, i, "model", "must be 1 to 128 characters");
    if (remove != NULL && !json_is_boolean(remove))
        return entry_error(resp, i, "remove", "must be true or false");
    int64_t at = mc_now_wall_us();
    if (json_object_get(e, "effective_from") != NULL &&
        (from == NULL || mc_parse_rfc3339(from, &at) != 0 || at < MIN_FROM_US || at >= END_FROM_US))
        return entry_error(resp, i, "effective_from", "must be an RFC 3339 time of years 1-9999");
    bool removing = json_is_true(remove);
    if (removing && from == NULL)
        return entry_error(resp, i, "effective_from", "names the entry to remove: is required");
    char when[40];
    mc_format_rfc3339(at, when, sizeof when);
    json_t *norm = json_pack("{ss ss ss sb}", "provider", provider, "model", model,
                             "effective_from", when, "remove", removing);
    for (size_t k = 0; !removing && k < MC_ARRAY_LEN(rates); k++) {
        int64_t rate;
        const json_t *r = json_object_get(e, rates[k]);
        if (r == NULL || mc_json_int64(r, &rate) != 0 || rate < 0 || rate > MAX_RATE) {
            json_decref(norm);
            return entry_error(resp, i, rates[k],
                               r == NULL ? "is required"
                                         : "must be an integer between 0 and 10^14 ticks");
        }
        json_object_set_new(norm, rates[k], json_integer(rate));
    }
    json_array_append_new(out, norm);
    return 0;
}

/* Whether the user may change the default catalogue: their email is in PRICING_ADMIN_EMAILS. */
static int may_set_default(struct gw_ctx *ctx, mc_db *db, const char *user, bool *yes)
{
    *yes = false;
    PGresult *r = NULL;
    const char *p[] = {user};
    int rc = mc_db_exec(db, GW_USER_BY_ID, 1, p, &r);
    if (rc != 0 || PQntuples(r) != 1) {
        PQclear(r);
        return rc;
    }
    json_t *u = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    const char *email = json_string_value(json_object_get(u, "email"));
    char *list = mc_strdup(ctx->pricing_admins), *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t && email && !*yes;
         t = strtok_r(NULL, ", ", &save))
        *yes = strcasecmp(t, email) == 0;
    free(list);
    json_decref(u);
    PQclear(r);
    return 0;
}

int gw_put_pricing(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    json_t *entries = json_array();
    const json_t *prices = json_object_get(body, "prices");
    const json_t *wsv = json_object_get(body, "workspace_id");
    const char *ws = json_string_value(wsv);
    if (wsv == NULL || json_is_null(wsv)) {
        ws = u_map_get(req->map_url, "workspace_id");
        if (ws == NULL)
            ws = u_map_get_case(req->map_header, "X-Workspace-ID");
    }
    if (ws && *ws == '\0')
        ws = NULL;
    if ((wsv && !json_is_null(wsv) && ws == NULL) || (ws && !mc_uuid_valid(ws))) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "workspace_id", "must be a UUID");
        goto cleanup;
    }
    if (!json_is_array(prices) || json_array_size(prices) < 1 ||
        json_array_size(prices) > MAX_ENTRIES) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "prices", "must be a list of 1 to %d",
                      MAX_ENTRIES);
        goto cleanup;
    }
    size_t i;
    json_t *e;
    json_array_foreach(prices, i, e)
    {
        if (read_entry(e, i, entries, resp) != 0)
            goto cleanup;
    }
    if ((db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    const char *user = gw_principal(resp)->user_id;
    bool admin = false;
    int rc = 0;
    if (ws != NULL && gw_require_member(resp, db, ws, true) != 0)
        goto cleanup;
    if (ws == NULL && (rc = may_set_default(ctx, db, user, &admin)) != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (ws == NULL && !admin) {
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, NULL,
                      "the default catalogue is changed by the users PRICING_ADMIN_EMAILS names; "
                      "give workspace_id to set your workspace's prices");
        goto cleanup;
    }
    char *text = json_dumps(entries, JSON_COMPACT);
    const char *p[] = {user, ws, text};
    PGresult *r = NULL;
    rc = mc_db_exec(db, GW_PRICES_PUT, 3, p, &r);
    free(text);
    /* usage.put_prices refuses a provider or model that normalises to nothing (22023). */
    if (rc != 0 && strcmp(mc_db_sqlstate(db), MC_SQLSTATE_INVALID_PARAMETER_VALUE) == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "prices",
                      "a provider or model names nothing once trimmed (and, for a model, "
                      "without its provider prefix, tag or date)");
    else if (rc != 0)
        gw_db_error(resp, db, rc);
    else
        gw_answer_text(resp, 200, PQgetvalue(r, 0, 0));
    PQclear(r);
cleanup:
    if (db)
        gw_db_release(ctx, db);
    json_decref(entries);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
