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
 * The dispatcher owns the task's state: start, progress, completion and failure become
 * commands on multica.task.commands (through the outbox), sent as from the runtime holding the
 * task. The daemon retries complete, fail and cancel-ack for about two minutes when an answer
 * is lost, so they are idempotent here: the first terminal report of a dispatch is sent, any
 * later one, and one about a task that already ended, answers 200 and sends nothing. The
 * status poll is the daemon's only cancel channel: a cancelled (or deleted) task stops the
 * running agent. */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX   16384 /* the longest result or progress text a task event carries */
#define REASON_MAX 4096

/* The read model's view of a task, for a report from the daemon of user. */
struct task_state {
    PGresult *r;
    const char *status, *runtime, *workspace, *reported;
};

static bool is(const struct task_state *t, const char *status)
{
    return strcmp(t->status, status) == 0;
}

static bool ended(const struct task_state *t)
{
    return is(t, "completed") || is(t, "failed") || is(t, "cancelled");
}

/* Loads the task of the request (see gw_task_state); false when it answered. */
static bool load(mc_db *db, const char *task, struct _u_response *resp, struct task_state *t)
{
    memset(t, 0, sizeof *t);
    if ((t->r = gw_task_state(db, task, resp, false)) == NULL)
        return false;
    t->status = PQgetvalue(t->r, 0, 0);
    t->runtime = PQgetvalue(t->r, 0, 1);
    t->workspace = PQgetvalue(t->r, 0, 2);
    t->reported = PQgetisnull(t->r, 0, 3) ? NULL : PQgetvalue(t->r, 0, 3);
    return true;
}

static json_t *command_data(const char *task, const struct task_state *t)
{
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    return json_pack("{ss ss ss}", "task_id", task, "runtime_id", t->runtime, "at", now);
}

/* The daemon's session and work directory, when a report brings them. */
static int keep_session(mc_db *db, const char *task, const json_t *body)
{
    const char *session = json_string_value(json_object_get(body, "session_id"));
    const char *dir = json_string_value(json_object_get(body, "work_dir"));
    if ((session == NULL || *session == '\0') && (dir == NULL || *dir == '\0'))
        return 0;
    const char *p[] = {task, session && *session ? session : NULL, dir && *dir ? dir : NULL};
    return mc_db_exec(db, GW_TASK_SESSION, 3, p, NULL);
}

/* Sends the terminal report (type, data stolen) once per dispatch: 1 when sent, 0 when an
 * earlier report was (nothing sent), or a negative error. In the caller's transaction. */
static int report_once(mc_db *db, const char *task, const char *what, const char *type,
                       json_t *data)
{
    PGresult *r = NULL;
    const char *p[] = {task, what};
    int rc = mc_db_exec(db, GW_TASK_REPORTED, 2, p, &r);
    int first = rc == 0 && PQntuples(r) == 1;
    PQclear(r);
    if (rc == 0 && first)
        rc = gw_outbox_add(db, type, task, task, data);
    else
        json_decref(data);
    return rc != 0 ? rc : first;
}

enum report { START, PROGRESS, COMPLETE, FAIL };

/* A report written by gw_outbox_tx: a terminal one with the session it names, once per
 * dispatch; the others as they come. */
struct report_tx {
    enum report kind;
    bool terminal;
    const char *task;
    const json_t *body, *data;
};

static const char *const report_types[] = {
    [START] = MC_EV_TASK_START_REPORTED,
    [PROGRESS] = MC_EV_TASK_PROGRESS_REPORTED,
    [COMPLETE] = MC_EV_TASK_COMPLETION_REPORTED,
    [FAIL] = MC_EV_TASK_FAILURE_REPORTED,
};

static int write_report(mc_db *db, void *arg)
{
    const struct report_tx *r = arg;
    json_t *data = json_deep_copy(r->data); /* taken by the outbox, and the body may run again */
    if (!r->terminal)
        return gw_outbox_add(db, report_types[r->kind], r->task, r->task, data);
    int rc = keep_session(db, r->task, r->body);
    if (rc != 0) {
        json_decref(data);
        return rc;
    }
    rc = report_once(db, r->task, r->kind == COMPLETE ? "completed" : "failed",
                     report_types[r->kind], data);
    return rc < 0 ? rc : 0;
}

/* The command a report becomes, or NULL after answering 400 itself. */
static json_t *report_data(enum report kind, const char *task, const struct task_state *t,
                           const json_t *body, struct _u_response *resp)
{
    json_t *data = command_data(task, t);
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

/* Applies a report to a task the caller may report on; answers. */
static void apply_report(struct gw_ctx *ctx, mc_db *db, enum report kind, const char *task,
                         const struct task_state *t, const json_t *body, struct _u_response *resp)
{
    bool terminal = kind == COMPLETE || kind == FAIL;
    bool live = is(t, "dispatched") || is(t, "running");
    if (terminal && (ended(t) || t->reported != NULL)) {
        /* Already ended or already reported: a retry after a lost answer. */
        mc_http_json(resp, 200, json_pack("{ss ss}", "id", task, "status", t->status));
        return;
    }
    if (kind == START && is(t, "running")) {
        mc_http_json(resp, 200, json_pack("{ss ss}", "id", task, "status", "running"));
        return;
    }
    if (!live || (kind == START && !is(t, "dispatched"))) {
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "the task is %s", t->status);
        return;
    }
    json_t *data = report_data(kind, task, t, body, resp);
    if (data == NULL)
        return;
    struct report_tx r = {kind, terminal, task, body, data};
    int rc = gw_outbox_tx(ctx, resp, db, "daemon report", write_report, &r);
    json_decref(data);
    if (rc != 0)
        return;
    static const char *const next[] = {
        [START] = "running", [PROGRESS] = "running", [COMPLETE] = "completed", [FAIL] = "failed"};
    mc_http_json(resp, 200, json_pack("{ss ss}", "id", task, "status", next[kind]));
}

static int report(const struct _u_request *req, struct _u_response *resp, struct gw_ctx *ctx,
                  enum report kind)
{
    const char *task = gw_uuid_param(req, resp, "task_id");
    json_t *body = task ? gw_optional_body(req, resp) : NULL;
    mc_db *db = body ? gw_db(ctx, resp) : NULL;
    struct task_state t = {0};
    if (db != NULL && load(db, task, resp, &t))
        apply_report(ctx, db, kind, task, &t, body, resp);
    PQclear(t.r);
    if (db)
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

/* The daemon stopped a task whose status said cancelled (or gone). Nothing is left to change;
 * the acknowledgement is recorded once, and every repetition answers 200. */
int gw_post_task_cancel_ack(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task = gw_uuid_param(req, resp, "task_id");
    mc_db *db = task ? gw_db(ctx, resp) : NULL;
    PGresult *r = db ? gw_task_state(db, task, resp, true) : NULL;
    if (r != NULL) {
        const char *p[] = {task, "cancel_ack"};
        mc_db_exec(db, GW_TASK_REPORTED, 2, p, NULL);
        mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    }
    PQclear(r);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_get_task_status(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task = gw_uuid_param(req, resp, "task_id");
    mc_db *db = task ? gw_db(ctx, resp) : NULL;
    struct task_state t = {0};
    if (db != NULL && load(db, task, resp, &t)) {
        /* "requested" is the read model's word for a task the dispatcher has not queued yet. */
        const char *status = is(&t, "requested") ? "queued" : t.status;
        mc_http_json(resp, 200, json_pack("{ss ss}", "id", task, "status", status));
    }
    PQclear(t.r);
    if (db)
        gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_post_task_session(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task = gw_uuid_param(req, resp, "task_id");
    json_t *body = task ? gw_optional_body(req, resp) : NULL;
    mc_db *db = body ? gw_db(ctx, resp) : NULL;
    struct task_state t = {0};
    bool bad = false;
    if (db != NULL && load(db, task, resp, &t)) {
        const char *s;
        bad = gw_str_field(resp, body, "session_id", 0, 512, false, &s) != 0 ||
              gw_str_field(resp, body, "work_dir", 0, 4096, false, &s) != 0;
        int rc = bad ? 0 : keep_session(db, task, body);
        if (rc != 0)
            gw_db_error(resp, db, rc);
        else if (!bad)
            mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    }
    PQclear(t.r);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
