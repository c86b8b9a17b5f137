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

#include <string.h>

int gw_get_task(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task = gw_uuid_param(req, resp, "task_id");
    if (task == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    const char *p[] = {task};
    int rc = mc_db_exec(db, GW_TASK_GET, 1, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (PQntuples(r) == 0) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        goto cleanup;
    }
    if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) != 0)
        goto cleanup;
    gw_answer_text(resp, 200, PQgetvalue(r, 0, 1));
cleanup:
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

enum report { START, PROGRESS, COMPLETE, FAIL };

static const char *const report_types[] = {
    [START] = MC_EV_TASK_START_REPORTED,
    [PROGRESS] = MC_EV_TASK_PROGRESS_REPORTED,
    [COMPLETE] = MC_EV_TASK_COMPLETION_REPORTED,
    [FAIL] = MC_EV_TASK_FAILURE_REPORTED,
};

/* Adds what a report of kind carries to data; answers 400 naming a bad field. */
static int read_report(struct _u_response *resp, const json_t *body, enum report kind, json_t *data)
{
    const char *s = NULL;
    int64_t seq = -1;
    switch (kind) {
    case PROGRESS:
        if (gw_str_field(resp, body, "text", 0, 16384, true, &s) != 0)
            return MC_EINVAL;
        if (mc_json_int64(json_object_get(body, "seq"), &seq) != 0 || seq < 0)
            return gw_invalid(resp, "seq", "must be an integer >= 0");
        json_object_set_new(data, "seq", json_integer(seq));
        json_object_set_new(data, "text", json_string(s));
        return 0;
    case COMPLETE:
        if (gw_str_field(resp, body, "result", 0, 16384, false, &s) != 0)
            return MC_EINVAL;
        json_object_set_new(data, "result", json_string(s ? s : ""));
        return 0;
    case FAIL:
        if (gw_str_field(resp, body, "reason", 1, 4096, true, &s) != 0)
            return MC_EINVAL;
        json_object_set_new(data, "reason", json_string(s));
        return 0;
    case START:
        return 0;
    }
    return 0;
}

static bool live_status(const char *status)
{
    return strcmp(status, "dispatched") == 0 || strcmp(status, "running") == 0;
}

/* A report is taken only for a task the runtime holds while it is live: answers 409 (or the
 * database error) itself otherwise. */
static int check_held(mc_db *db, struct _u_response *resp, const char *task, const char *runtime)
{
    PGresult *r = NULL;
    const char *p[] = {task, runtime};
    int rc = mc_db_exec(db, GW_TASK_HELD, 2, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
    } else if (PQntuples(r) == 0) {
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "this task is not known here");
        rc = MC_ESTATE;
    } else if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id",
                      "this task is not held by this runtime");
        rc = MC_ESTATE;
    } else if (!live_status(PQgetvalue(r, 0, 0))) {
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "this task is %s",
                      PQgetvalue(r, 0, 0));
        rc = MC_ESTATE;
    }
    PQclear(r);
    return rc;
}

static int report(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                  enum report kind)
{
    const struct gw_principal *me = gw_principal(resp);
    const char *task = gw_uuid_param(req, resp, "task_id");
    if (task == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = NULL;
    if (kind != START) {
        body = mc_http_body(req, resp, MC_BODY_OBJECT);
        if (body == NULL)
            return U_CALLBACK_COMPLETE;
    }
    mc_db *db = NULL;
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    json_t *data =
        json_pack("{ss ss ss}", "task_id", task, "runtime_id", me->runtime_id, "at", now);
    if (read_report(resp, body, kind, data) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    if (check_held(db, resp, task, me->runtime_id) != 0)
        goto cleanup;
    int rc = gw_outbox_add(db, report_types[kind], task, task, data);
    data = NULL; /* taken by gw_outbox_add */
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    gw_outbox_kick(ctx);
    mc_http_json(resp, 202, json_pack("{ss}", "status", "accepted"));
cleanup:
    json_decref(data);
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
