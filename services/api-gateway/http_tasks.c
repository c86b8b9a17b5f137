/* http_tasks.c: the task read model, and the daemon's lifecycle reports.
 *
 *   GET  /api/tasks/{task_id}                   status, timestamps and progress
 *   POST /api/daemon/tasks/{task_id}/start
 *   POST /api/daemon/tasks/{task_id}/progress {seq, text}
 *   POST /api/daemon/tasks/{task_id}/complete {result}
 *   POST /api/daemon/tasks/{task_id}/fail {reason}
 *
 * Each report becomes a command on multica.task.commands (through the outbox) for the
 * dispatcher, which owns the state machine. 409 when the task is not held by the calling
 * runtime (not dispatched to it, or already finished). */
#include "gateway.h"
#include "mc_proto.h"

#include <stdio.h>
#include <string.h>

int gw_get_task(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
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
    else if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) == 0) {
        ulfius_set_string_body_response(resp, 200, PQgetvalue(r, 0, 1));
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

enum report { START, PROGRESS, COMPLETE, FAIL };

static int report(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                  enum report kind)
{
    const struct gw_principal *me = gw_principal(resp);
    const char *task = gw_uuid_param(req, resp, "task_id");
    if (task == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = NULL;
    if (kind != START && (body = mc_http_body(req, resp, MC_BODY_OBJECT)) == NULL)
        return U_CALLBACK_COMPLETE;
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    json_t *data =
        json_pack("{ss ss ss}", "task_id", task, "runtime_id", me->runtime_id, "at", now);
    const char *type = MC_EV_TASK_START_REPORTED;
    bool bad = false;
    if (kind == PROGRESS) {
        int64_t seq = -1;
        const char *text = gw_str_field(body, "text", 0, 16384, true, resp, &bad);
        if (!bad && (mc_json_int64(json_object_get(body, "seq"), &seq) != 0 || seq < 0)) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "seq", "must be an integer >= 0");
            bad = true;
        }
        if (!bad) {
            json_object_set_new(data, "seq", json_integer(seq));
            json_object_set_new(data, "text", json_string(text));
        }
        type = MC_EV_TASK_PROGRESS_REPORTED;
    } else if (kind == COMPLETE) {
        const char *result = gw_str_field(body, "result", 0, 16384, false, resp, &bad);
        json_object_set_new(data, "result", json_string(result ? result : ""));
        type = MC_EV_TASK_COMPLETION_REPORTED;
    } else if (kind == FAIL) {
        const char *reason = gw_str_field(body, "reason", 1, 4096, true, resp, &bad);
        if (!bad)
            json_object_set_new(data, "reason", json_string(reason));
        type = MC_EV_TASK_FAILURE_REPORTED;
    }
    mc_db *db = bad ? NULL : gw_db(ctx, resp);
    if (db == NULL) {
        json_decref(data);
        json_decref(body);
        return U_CALLBACK_COMPLETE;
    }
    PGresult *r = NULL;
    const char *p[] = {task, me->runtime_id};
    int rc = mc_db_exec(db, GW_TASK_HELD, 2, p, &r);
    const char *status = rc == 0 && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    bool mine = rc == 0 && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    bool live = strcmp(status, "dispatched") == 0 || strcmp(status, "running") == 0;
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        json_decref(data);
    } else if (!mine || !live) {
        char why[96];
        snprintf(why, sizeof why, "%s",
                 PQntuples(r) == 0 ? "this task is not known here"
                 : !mine           ? "this task is not held by this runtime"
                                   : "");
        if (why[0] == '\0')
            snprintf(why, sizeof why, "this task is %s", status);
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "%s", why);
        json_decref(data);
    } else if ((rc = gw_outbox_add(db, type, task, task, data)) != 0) {
        gw_db_error(resp, db, rc);
    } else {
        gw_outbox_kick(ctx);
        mc_http_json(resp, 202, json_pack("{ss}", "status", "accepted"));
    }
    PQclear(r);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_post_task_start(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return report(req, resp, ud, START);
}

int gw_post_task_progress(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return report(req, resp, ud, PROGRESS);
}

int gw_post_task_complete(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return report(req, resp, ud, COMPLETE);
}

int gw_post_task_fail(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return report(req, resp, ud, FAIL);
}
