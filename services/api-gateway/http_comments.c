/* http_comments.c: comments on issues, in Multica's shape.
 *
 *   POST /api/issues/{issue_id}/comments {content, parent_id?}
 *   GET  /api/issues/{issue_id}/comments           oldest first
 *
 * A member writes as themself; an agent run (task token) writes as its agent (author_type
 * agent), with the task recorded as the comment's source: that is how an agent posts its
 * result on the issue it worked on. */
#include "gateway.h"

int gw_post_comment(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *cur = NULL, *r = NULL;
    const char *content = NULL;
    if (gw_str_field(resp, body, "content", 1, 100000, true, &content) != 0)
        goto cleanup;
    const char *parent = json_string_value(json_object_get(body, "parent_id"));
    if (parent != NULL && !mc_uuid_valid(parent)) {
        gw_invalid(resp, "parent_id", "must be a comment id");
        goto cleanup;
    }
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    cur = gw_issue_for(req, resp, db);
    if (cur == NULL)
        goto cleanup;
    const struct gw_principal *me = gw_principal(resp);
    bool agent = me->kind == GW_TASK;
    char id[MC_UUID_STRLEN];
    mc_uuid_v7(id);
    const char *p[] = {id,
                       PQgetvalue(cur, 0, 4),
                       agent ? "agent" : "member",
                       agent ? me->agent_id : me->user_id,
                       content,
                       parent,
                       agent ? me->task_id : NULL};
    int rc = mc_db_exec(db, GW_COMMENT_CREATE, 7, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "parent_id",
                      "no such comment on this issue");
    else
        gw_answer_text(resp, 201, PQgetvalue(r, 0, 0));
cleanup:
    PQclear(cur);
    PQclear(r);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_get_comments(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    mc_db *db = gw_db(ctx, resp);
    PGresult *cur = db ? gw_issue_for(req, resp, db) : NULL;
    if (cur != NULL) {
        const char *p[] = {PQgetvalue(cur, 0, 4)};
        gw_answer_json(resp, db, GW_COMMENT_LIST, 1, p, 200);
    }
    PQclear(cur);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
