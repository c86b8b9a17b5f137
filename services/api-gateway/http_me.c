/* http_me.c: the caller's own settings, as Multica's UpdateMe takes them.
 *
 *   PATCH /api/me {timezone?, name?}   -> the user, as GET /api/me answers it
 *
 * timezone is the zone usage reads cut days in when a request gives no ?tz: an IANA name
 * Postgres knows (400 otherwise), or "" for none (UTC). A database outage while the name is
 * checked answers 503, never "invalid timezone". */
#include "gateway.h"

#include <string.h>

int gw_patch_me(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false;
    mc_db *db = NULL;
    PGresult *r = NULL;
    const char *tz = gw_str_field(body, "timezone", 0, 64, false, resp, &bad);
    const char *name = bad ? NULL : gw_str_field(body, "name", 1, 200, false, resp, &bad);
    if (bad || (db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    const char *me = gw_principal(resp)->user_id;
    int rc = 0;
    if (tz != NULL && *tz != '\0') {
        const char *p[] = {tz};
        if ((rc = mc_db_exec(db, GW_KNOWN_TZ, 1, p, &r)) != 0) {
            gw_db_error(resp, db, rc);
            goto cleanup;
        }
        if (strcmp(mc_db_value(r), "t") != 0) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "timezone",
                          "'%s' is not a known time zone", tz);
            goto cleanup;
        }
    }
    const char *p[] = {me, tz && *tz == '\0' ? "UTC" : tz, name};
    if ((tz || name) && (rc = mc_db_exec(db, GW_USER_SET_TZ, 3, p, NULL)) != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    gw_answer_json(resp, db, GW_USER_BY_ID, 1, p, 200);
cleanup:
    PQclear(r);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
