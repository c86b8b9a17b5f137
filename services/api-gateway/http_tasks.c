/* http_tasks.c: tasks as people (and agent runs) see them, and cancelling one.
 *
 *   GET  /api/tasks/{task_id}                             status, timestamps and progress
 *   GET  /api/tasks/{task_id}/messages                    what its agent streamed
 *   POST /api/tasks/{task_id}/cancel                      asks the dispatcher to cancel it
 *   POST /api/issues/{issue_id}/tasks/{task_id}/cancel    the same, named by its issue
 *
 * A cancel becomes TaskCancelRequested (through the outbox); once the dispatcher cancelled the
 * task, the daemon running it reads "cancelled" from its status poll (every 5 s), stops the
 * agent and acknowledges. 202: the cancel is on its way; 409 when the task already ended. */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <string.h>

/* A task read: stmt($1 = task) answered as JSON once the caller is a member of the task's
 * workspace. */
static int task_read(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                     int stmt)
{
    const char *task = gw_uuid_param(req, resp, "task_id");
    mc_db *db = task ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    const char *p[] = {task};
    int rc = mc_db_exec(db, GW_TASK_GET, 1, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
    else if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) != 0)
        ; /* answered */
    else if (stmt == GW_TASK_GET)
        gw_answer_text(resp, 200, PQgetvalue(r, 0, 1));
    else
        gw_answer_json(resp, db, stmt, 1, p, 200);
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_task(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return task_read(req, resp, ud, GW_TASK_GET);
}

int gw_get_task_messages(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return task_read(req, resp, ud, GW_TASK_MESSAGES_LIST);
}

static int cancel(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                  const char *issue)
{
    const char *task = gw_uuid_param(req, resp, "task_id");
    mc_db *db = task ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = gw_task_state(db, task, resp, false);
    const char *status = r ? PQgetvalue(r, 0, 0) : "";
    int rc;
    if (r == NULL) {
        ; /* answered */
    } else if (issue != NULL && strcmp(PQgetvalue(r, 0, 5), issue) != 0) {
        gw_task_not_found(resp);
    } else if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
               strcmp(status, "cancelled") == 0) {
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "the task is already %s", status);
    } else {
        json_t *data = json_pack("{ss ss sb}", "task_id", task, "reason", "cancelled by a member",
                                 "delete", 0);
        if ((rc = gw_outbox_add(db, MC_EV_TASK_CANCEL_REQUESTED, task, task, data)) != 0) {
            gw_db_error(resp, db, rc);
        } else {
            gw_outbox_kick(ctx);
            mc_log_info(
                json_pack("{ss ss}", "task_id", task, "user_id", gw_principal(resp)->user_id),
                "task cancel requested");
            mc_http_json(
                resp, 202,
                json_pack("{ss ss sb}", "id", task, "status", status, "cancel_requested", 1));
        }
    }
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_post_task_cancel(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return cancel(req, resp, ud, NULL);
}

int gw_post_issue_task_cancel(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const char *issue = gw_uuid_param(req, resp, "issue_id");
    return issue ? cancel(req, resp, ud, issue) : U_CALLBACK_COMPLETE;
}
