/* http_daemon_tasks.c: what a daemon says about a task it claimed, as Multica's daemon says it.
 *
 *   GET  /api/daemon/tasks/{task_id}/status      {"status"}; 404 "task not found" when deleted
 *   POST /api/daemon/tasks/{task_id}/start       dispatched -> running
 *   POST /api/daemon/tasks/{task_id}/progress    {summary, step, total}
 *   POST /api/daemon/tasks/{task_id}/complete    {output, session_id?, work_dir?}
 *   POST /api/daemon/tasks/{task_id}/fail        {error, failure_reason?, session_id?, work_dir?}
 *   POST /api/daemon/tasks/{task_id}/cancel-ack  the daemon stopped a cancelled task
 *   POST /api/daemon/tasks/{task_id}/session     {session_id?, work_dir?}
 *   POST /api/daemon/tasks/{task_id}/messages    {messages: [{seq, type, ...}]} (http_messages.c)
 *
 * The dispatcher owns the task's state: start, completion and failure become commands on
 * multica.task.commands (through the outbox), sent as from the runtime holding the task.
 * Progress is no change of state: it is kept and logged for the WebSocket here, in the
 * report's transaction (gateway.report_progress), and reaches the dispatcher only as a liveness
 * mark for its running timeout, the same command at most once per task every 5 s. Each report is
 * one SQL call (gateway.daemon_report): the daemon's token (these routes are GW_CRED_DAEMON), the
 * task, its state and the command together, where a report used to take five or six round trips; it
 * runs about seven times per task. The daemon retries complete, fail and cancel-ack for about two
 * minutes when an answer is lost, so they are idempotent here: the first terminal report of a
 * dispatch is sent, any later one, and one about a task that already ended, answers 200 and sends
 * nothing. The status poll is the daemon's only cancel channel: a cancelled (or deleted) task stops
 * the running agent. */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX    16384 /* the longest result or progress text a task event carries */
#define REASON_MAX  4096
#define NIL_RUNTIME "00000000-0000-0000-0000-000000000000"

/* What the daemon says; the first four write a command, STATUS and CANCEL_ACK do not. */
enum report { START, PROGRESS, COMPLETE, FAIL, STATUS, CANCEL_ACK };

static const char *const kind_names[] = {
    [START] = "start", [PROGRESS] = "progress", [COMPLETE] = "complete",
    [FAIL] = "fail",   [STATUS] = "status",     [CANCEL_ACK] = "cancel_ack",
};

static const char *const report_types[] = {
    [START] = MC_EV_TASK_START_REPORTED,
    [PROGRESS] = MC_EV_TASK_PROGRESS_REPORTED,
    [COMPLETE] = MC_EV_TASK_COMPLETION_REPORTED,
    [FAIL] = MC_EV_TASK_FAILURE_REPORTED,
};

/* The command's data; the runtime is the nil UUID, which gateway.daemon_report replaces by
 * the runtime holding the task (the event is encoded, and checked against its schema, here). */
static json_t *command_data(const char *task)
{
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    return json_pack("{ss ss ss}", "task_id", task, "runtime_id", NIL_RUNTIME, "at", now);
}

/* The command a report becomes, or NULL after answering 400 itself. */
static json_t *report_data(enum report kind, const char *task, const json_t *body,
                           struct _u_response *resp)
{
    json_t *data = command_data(task);
    if (kind == PROGRESS) {
        int64_t step = 0;
        const json_t *v = json_object_get(body, "step");
        const char *summary = json_string_value(json_object_get(body, "summary"));
        if (v != NULL && (mc_json_int64(v, &step) != 0 || step < 0)) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "step", "must be an integer >= 0");
            json_decref(data);
            return NULL;
        }
        json_object_set_new(data, "seq", json_integer(step));
        json_object_set_new(data, "text", gw_json_prefix(summary ? summary : "", TEXT_MAX));
    } else if (kind == COMPLETE) {
        const char *output = json_string_value(json_object_get(body, "output"));
        json_object_set_new(data, "result", gw_json_prefix(output ? output : "", TEXT_MAX));
    } else if (kind == FAIL) {
        const char *error = json_string_value(json_object_get(body, "error"));
        const char *why = json_string_value(json_object_get(body, "failure_reason"));
        char *reason =
            mc_sprintf("%s%s%s", why && *why ? why : "", why && *why && error && *error ? ": " : "",
                       error && *error ? error : "");
        json_object_set_new(data, "reason",
                            gw_json_prefix(reason && *reason ? reason : "failed", REASON_MAX));
        free(reason);
    }
    return data;
}

/* A string member of the body when given and not empty, else NULL. */
static const char *given(const json_t *body, const char *name)
{
    const char *v = json_string_value(json_object_get(body, name));
    return v && *v ? v : NULL;
}

/* Answers what gateway.daemon_report decided. refused: the body was refused (400 already
 * answered), which stands once the caller and the task have passed. */
static void answer(struct _u_response *resp, enum report kind, const char *task,
                   const struct gw_report *rep, bool refused)
{
    const char *outcome = rep->outcome, *status = rep->status;
    static const char *const next[] = {
        [START] = "running", [PROGRESS] = "running", [COMPLETE] = "completed", [FAIL] = "failed"};
    gw_daemon_checked(resp, strcmp(outcome, "unauthorized") != 0);
    if (strcmp(outcome, "unauthorized") == 0)
        return;
    if (strcmp(outcome, "not_found") == 0)
        gw_task_not_found(resp);
    else if (strcmp(outcome, "conflict") == 0)
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "the task is %s", status);
    else if (refused)
        return;
    else if (kind == CANCEL_ACK)
        mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    else if (kind == STATUS) /* "requested": the dispatcher has not queued it yet */
        mc_http_json(resp, 200,
                     json_pack("{ss ss}", "id", task, "status",
                               strcmp(status, "requested") == 0 ? "queued" : status));
    else
        mc_http_json(resp, 200,
                     json_pack("{ss ss}", "id", task, "status",
                               strcmp(outcome, "already") == 0 ? status : next[kind]));
}

/* The status poll, a read, on a pooled connection; 0 or the error. */
static int read_status(struct gw_ctx *ctx, struct gw_report *rep)
{
    int err = 0;
    mc_db *db = mc_db_pool_acquire(ctx->pool, 2000, &err);
    if (db == NULL)
        return MC_EDBCONN;
    int rc = gw_report_one(db, rep);
    mc_db_pool_release(ctx->pool, db);
    return rc;
}

/* One call: the caller's token, the task, its state, and the report with its command
 * (gateway.daemon_report); a write goes through the report writer's group commit. Answers. */
static void send_report(struct gw_ctx *ctx, enum report kind, const char *task, const json_t *body,
                        struct _u_response *resp)
{
    bool terminal = kind == COMPLETE || kind == FAIL, writes = kind <= FAIL;
    json_t *data = writes ? report_data(kind, task, body, resp) : NULL;
    bool refused = writes && data == NULL;
    char *event =
        data ? mc_event_encode(report_types[kind], "api-gateway", task, data, NULL) : NULL;
    if (data != NULL && event == NULL) {
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "internal error");
        return;
    }
    const char *hash, *user;
    gw_daemon_caller(resp, &hash, &user);
    const struct mc_event_type *t = writes ? mc_event_type_find(report_types[kind]) : NULL;
    const char *p[] = {hash,
                       user,
                       task,
                       kind_names[kind],
                       t ? t->topic : NULL,
                       event,
                       terminal ? given(body, "session_id") : NULL,
                       terminal ? given(body, "work_dir") : NULL};
    struct gw_report rep = {.p = p};
    int rc = kind == STATUS ? read_status(ctx, &rep) : gw_report_apply(ctx, &rep);
    if (rc == MC_EDBCONN)
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL, "database unavailable");
    else if (rc != 0)
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "internal error");
    else
        answer(resp, kind, task, &rep, refused);
    if (rc == 0 && strcmp(rep.outcome, "sent") == 0)
        gw_outbox_kick(ctx);
    if (rc == 0 && kind == PROGRESS)
        gw_ws_logged(ctx); /* it may have logged its event: deliver it now, not at the poll */
    free(event);
}

static int report(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                  enum report kind)
{
    const char *task = gw_uuid_param(req, resp, "task_id");
    json_t *body = task && kind <= FAIL ? gw_optional_body(req, resp) : NULL;
    if (task != NULL && (body != NULL || kind > FAIL))
        send_report(ctx, kind, task, body, resp);
    json_decref(body);
    return gw_daemon_settle(ctx, resp);
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

/* The daemon stopped a task whose status said cancelled (or gone). Nothing is left to change;
 * the acknowledgement is recorded once, and every repetition answers 200. */
int gw_post_task_cancel_ack(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return report(req, resp, ud, CANCEL_ACK);
}

int gw_get_task_status(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return report(req, resp, ud, STATUS);
}

/* The daemon's session and work directory, when a report brings them. */
static int keep_session(mc_db *db, const char *task, const json_t *body)
{
    const char *session = given(body, "session_id"), *dir = given(body, "work_dir");
    if (session == NULL && dir == NULL)
        return 0;
    const char *p[] = {task, session, dir};
    return mc_db_exec(db, GW_TASK_SESSION, 3, p, NULL);
}

int gw_post_task_session(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task = gw_uuid_param(req, resp, "task_id");
    json_t *body = task ? gw_optional_body(req, resp) : NULL;
    mc_db *db = body ? gw_db(ctx, resp) : NULL;
    PGresult *t = db ? gw_task_state(db, task, resp, false) : NULL;
    bool bad = false;
    if (t != NULL) {
        const char *s;
        bad = gw_str_field(resp, body, "session_id", 0, 512, false, &s) != 0 ||
              gw_str_field(resp, body, "work_dir", 0, 4096, false, &s) != 0;
        int rc = bad ? 0 : keep_session(db, task, body);
        if (rc != 0)
            gw_db_error(resp, db, rc);
        else if (!bad)
            mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    }
    PQclear(t);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
