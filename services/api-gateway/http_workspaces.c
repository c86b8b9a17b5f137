/* http_workspaces.c: workspaces and their members.
 *
 *   POST   /api/workspaces {name, slug?, issue_prefix?}  (403 when creation is disabled)
 *   GET    /api/workspaces                               the caller's workspaces
 *   GET    /api/daemon/workspaces                        the same, for the daemon
 *   GET    /api/workspaces/{workspace_id}
 *   GET    /api/workspaces/{workspace_id}/members
 *   POST   /api/workspaces/{workspace_id}/members {email, role}   owners and admins
 *   DELETE /api/workspaces/{workspace_id}/members/{user_id}       owners and admins */
#include "gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* A slug from a name: lowercase letters and digits, runs of anything else as one dash. */
static void slugify(const char *name, char out[72])
{
    size_t n = 0;
    bool dash = false;
    for (const char *c = name; *c && n < 64; c++) {
        if (isalnum((unsigned char)*c) && (unsigned char)*c < 0x80) {
            if (dash && n > 0)
                out[n++] = '-';
            out[n++] = (char)tolower((unsigned char)*c);
            dash = false;
        } else {
            dash = true;
        }
    }
    if (n == 0)
        n = (size_t)snprintf(out, 72, "workspace");
    out[n] = '\0';
}

/* Issue keys start with up to three letters and digits of the name, the first a letter. */
static void issue_prefix(const char *name, char out[11])
{
    size_t n = 0;
    for (const char *c = name; *c && n < 3; c++) {
        bool letter = isalpha((unsigned char)*c) && (unsigned char)*c < 0x80;
        if (letter || (n > 0 && isdigit((unsigned char)*c)))
            out[n++] = (char)toupper((unsigned char)*c);
    }
    if (n == 0)
        n = (size_t)snprintf(out, 11, "ISS");
    out[n] = '\0';
}

static bool matches(const char *s, const char *first, const char *rest, size_t max)
{
    size_t len = strlen(s);
    return len >= 1 && len <= max && strchr(first, s[0]) != NULL && strspn(s + 1, rest) == len - 1;
}

int gw_post_workspace(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    if (ctx->disable_workspace_creation) {
        mc_http_error(resp, 403, MC_HTTP_FORBIDDEN, NULL,
                      "workspace creation is disabled on this server");
        return U_CALLBACK_COMPLETE;
    }
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    static const char lower[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    mc_db *db = NULL;
    PGresult *r = NULL;
    const char *name, *slug, *prefix;
    char lowerdash[64], upperdigits[64];
    snprintf(lowerdash, sizeof lowerdash, "%s-", lower);
    snprintf(upperdigits, sizeof upperdigits, "%s0123456789", upper);
    if (gw_str_field(resp, body, "name", 1, 200, true, &name) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "slug", 1, 80, false, &slug) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "issue_prefix", 1, 10, false, &prefix) != 0)
        goto cleanup;
    if (slug != NULL && !matches(slug, lower, lowerdash, 80)) {
        gw_invalid(resp, "slug", "must be lowercase letters, digits and dashes");
        goto cleanup;
    }
    if (prefix != NULL && !matches(prefix, upper, upperdigits, 10)) {
        gw_invalid(resp, "issue_prefix",
                   "must be 1 to 10 capital letters and digits, starting with a letter");
        goto cleanup;
    }
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN], derived_slug[72], derived_prefix[11];
    mc_uuid_v7(id);
    slugify(name, derived_slug);
    issue_prefix(name, derived_prefix);
    const char *p[] = {id,
                       name,
                       gw_principal(resp)->user_id,
                       slug ? slug : derived_slug,
                       prefix ? prefix : derived_prefix,
                       slug ? "true" : "false"};
    int rc = mc_db_exec(db, GW_WORKSPACE_CREATE, 6, p, &r);
    if (rc != 0 && strcmp(mc_db_sqlstate(db), MC_SQLSTATE_UNIQUE_VIOLATION) == 0)
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "slug", "another workspace has this slug");
    else if (rc != 0)
        gw_db_error(resp, db, rc);
    else
        gw_answer_text(resp, 201, PQgetvalue(r, 0, 0));
cleanup:
    PQclear(r);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_get_workspaces(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const struct gw_principal *me = gw_principal(resp);
    const char *p[] = {me->user_id, me->kind == GW_TASK ? me->workspace_id : NULL};
    gw_answer_json(resp, db, GW_WORKSPACE_LIST, 2, p, 200);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_workspace(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return gw_workspace_read(req, resp, ud, GW_WORKSPACE_GET);
}

int gw_get_members(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return gw_workspace_read(req, resp, ud, GW_MEMBER_LIST);
}

int gw_post_member(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *role = json_string_value(json_object_get(body, "role"));
    char lower[256];
    if (email == NULL || strlen(email) > 254 || strchr(email, '@') == NULL) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "email", "must be an email address");
        goto cleanup;
    }
    if (role == NULL)
        role = "member";
    if (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "role", "must be admin or member");
        goto cleanup;
    }
    size_t i = 0;
    for (; email[i]; i++)
        lower[i] = (char)tolower((unsigned char)email[i]);
    lower[i] = '\0';
    db = gw_member_db(ctx, resp, ws, true);
    if (db == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {ws, id, lower, role};
    gw_answer_json(resp, db, GW_MEMBER_ADD, 4, p, 201);
cleanup:
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_delete_member(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    const char *user = gw_uuid_param(req, resp, "user_id");
    if (user == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_member_db(ctx, resp, ws, true);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    const char *p[] = {ws, user};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_MEMBER_REMOVE, 2, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, "user_id",
                      "no such member (owners cannot be removed)");
    else
        ulfius_set_empty_body_response(resp, 204);
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
