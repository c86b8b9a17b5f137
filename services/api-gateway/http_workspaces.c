/* http_workspaces.c: workspaces and their members.
 *
 *   POST   /api/workspaces {name}                       (403 when creation is disabled)
 *   GET    /api/workspaces                               the caller's workspaces
 *   GET    /api/workspaces/{workspace_id}
 *   GET    /api/workspaces/{workspace_id}/members
 *   POST   /api/workspaces/{workspace_id}/members {email, role}   owners and admins
 *   DELETE /api/workspaces/{workspace_id}/members/{user_id}       owners and admins */
#include "gateway.h"

#include <ctype.h>
#include <string.h>

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
    mc_db *db = NULL;
    const char *name;
    if (gw_str_field(resp, body, "name", 1, 200, true, &name) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id, name, gw_principal(resp)->user_id};
    gw_answer_json(resp, db, GW_WORKSPACE_CREATE, 3, p, 201);
cleanup:
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
    const char *p[] = {gw_principal(resp)->user_id};
    gw_answer_json(resp, db, GW_WORKSPACE_LIST, 1, p, 200);
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
