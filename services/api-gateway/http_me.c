/* http_me.c: the caller's own settings, as Multica's UpdateMe takes them.
 *
 *   PATCH /api/me {timezone?, name?}   -> the user, as GET /api/me answers it
 *
 * timezone is the zone usage reads cut days in when a request gives no ?tz: an IANA name
 * Postgres knows (400 otherwise), or "" for none (UTC). A database outage while the name is
 * checked answers 503, never "invalid timezone". */
#include "gateway.h"

#include <string.h>

int gw_known_zone(struct _u_response *resp, mc_db *db, const char *tz, const char *field)
{
    PGresult *r = NULL;
    const char *p[] = {tz};
    int rc = mc_db_exec(db, GW_KNOWN_TZ, 1, p, &r);
    bool known = rc == 0 && strcmp(mc_db_value(r), "t") == 0;
    PQclear(r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        return rc;
    }
    if (!known)
        return gw_invalid(resp, field, "'%s' is not a known time zone", tz);
    return 0;
}

int gw_patch_me(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    const char *tz = NULL, *name = NULL;
    if (gw_str_field(resp, body, "timezone", 0, 64, false, &tz) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "name", 1, 200, false, &name) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    if (tz != NULL && *tz != '\0' && gw_known_zone(resp, db, tz, "timezone") != 0)
        goto cleanup;
    const char *me = gw_principal(resp)->user_id;
    const char *p[] = {me, tz != NULL && *tz == '\0' ? "UTC" : tz, name};
    int rc = tz != NULL || name != NULL ? mc_db_exec(db, GW_USER_SET_TZ, 3, p, NULL) : 0;
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else
        gw_answer_json(resp, db, GW_USER_BY_ID, 1, p, 200);
cleanup:
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
