/* http_runtimes.c: runtimes, registered and kept alive by Multica's daemon.
 *
 *   GET  /api/runtimes?workspace_id=                        a workspace's runtimes
 *   POST /api/daemon/register {workspace_id, daemon_id, runtimes: [{name, type, version}]}
 *   POST /api/daemon/deregister {runtime_ids}
 *   POST /api/daemon/heartbeat {runtime_id}                  404 "runtime not found" if so
 *   GET  /api/daemon/workspaces/{workspace_id}/runtime-profiles   none here:
 * {"runtime_profiles":[]} POST /api/daemon/runtimes/{runtime_id}/recover-orphans  after the daemon
 * (re)started
 *
 * A daemon registers one runtime per agent CLI it found, per workspace; the runtime is named
 * by (workspace, daemon id, provider), so registering again keeps its id. Registration,
 * heartbeats and deregistration become multica.runtime.events (through the outbox), which the
 * dispatcher uses for capacity and liveness. */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNTIMES 32

int gw_get_runtimes(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return gw_workspace_read(req, resp, ud, GW_RUNTIME_LIST);
}

/* Writes a runtime event (registered, heartbeat, offline) into the outbox, in the caller's
 * transaction. */
static int runtime_event(mc_db *db, const char *type, const char *runtime, const char *ws,
                         const char *name, long max_concurrency)
{
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    json_t *data = json_pack("{ss ss ss si ss}", "runtime_id", runtime, "workspace_id", ws, "name",
                             name, "max_concurrency", (int)max_concurrency, "at", now);
    return gw_outbox_add(db, type, runtime, runtime, data);
}

/* Marks runtime seen (stmt GW_RUNTIME_SEEN) or offline (GW_RUNTIME_OFFLINE) for user and writes
 * the matching event, in one transaction. 0, MC_ENOTFOUND, or a database error. */
static int runtime_change(struct gw_ctx *ctx, mc_db *db, int stmt, const char *type,
                          const char *runtime, const char *user)
{
    const char *p[] = {runtime, user};
    PGresult *r = NULL;
    int rc = mc_db_begin(db);
    if (rc == 0)
        rc = mc_db_exec(db, stmt, 2, p, &r);
    if (rc == 0 && PQntuples(r) == 0)
        rc = MC_ENOTFOUND;
    if (rc == 0)
        rc = runtime_event(db, type, runtime, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                           atol(PQgetvalue(r, 0, 2)));
    if (rc == 0)
        rc = mc_db_commit(db);
    if (rc != 0)
        mc_db_rollback(db);
    else
        gw_outbox_kick(ctx);
    PQclear(r);
    return rc;
}

int gw_runtime_heartbeat(struct gw_ctx *ctx, mc_db *db, const char *runtime, const char *user)
{
    if (runtime == NULL || !mc_uuid_valid(runtime))
        return MC_ENOTFOUND;
    return runtime_change(ctx, db, GW_RUNTIME_SEEN, MC_EV_RUNTIME_HEARTBEAT, runtime, user);
}

/* Validates the runtimes of a registration; answers 400 itself and returns false. */
static bool runtimes_valid(const json_t *list, struct _u_response *resp)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > MAX_RUNTIMES) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtimes",
                      "must be a list of 1 to %d runtimes", MAX_RUNTIMES);
        return false;
    }
    bool bad = false;
    for (size_t i = 0; i < n && !bad; i++) {
        const json_t *rt = json_array_get(list, i);
        if (!json_is_object(rt)) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtimes", "must hold objects");
            return false;
        }
        gw_str_field(rt, "type", 1, 64, true, resp, &bad);
        if (!bad)
            gw_str_field(rt, "name", 0, 200, false, resp, &bad);
        if (!bad)
            gw_str_field(rt, "version", 0, 200, false, resp, &bad);
    }
    return !bad;
}

/* Upserts the runtimes of a registration and writes their events; fills out. A runtime's
 * capacity is DAEMON_RUNTIME_CAPACITY: the daemon does not say its own limit
 * (max_concurrent_tasks, 20 by default, shared by its runtimes), and it claims only as many
 * tasks as it has free slots, so the capacity only bounds what waits for it. */
static int register_all(const struct gw_ctx *ctx, mc_db *db, const json_t *body, const char *ws,
                        const char *user, json_t *out)
{
    const char *daemon = json_string_value(json_object_get(body, "daemon_id"));
    const char *device = json_string_value(json_object_get(body, "device_name"));
    const char *cli = json_string_value(json_object_get(body, "cli_version"));
    const json_t *list = json_object_get(body, "runtimes");
    char maxc[16];
    snprintf(maxc, sizeof maxc, "%lld", (long long)ctx->daemon_runtime_capacity);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        const json_t *rt = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(rt, "type"));
        const char *name = json_string_value(json_object_get(rt, "name"));
        const char *version = json_string_value(json_object_get(rt, "version"));
        char id[MC_UUID_STRLEN];
        mc_uuid_v7(id);
        const char *p[] = {id,
                           ws,
                           daemon,
                           type,
                           name && *name ? name : type,
                           version ? version : "",
                           device ? device : "",
                           cli ? cli : "",
                           user,
                           maxc};
        PGresult *r = NULL;
        rc = mc_db_exec(db, GW_RUNTIME_UPSERT, 10, p, &r);
        if (rc == 0)
            rc = runtime_event(db, MC_EV_RUNTIME_REGISTERED, PQgetvalue(r, 0, 0), ws,
                               PQgetvalue(r, 0, 1), atol(PQgetvalue(r, 0, 3)));
        if (rc == 0)
            json_array_append_new(out, json_pack("{ss ss ss ss}", "id", PQgetvalue(r, 0, 0), "name",
                                                 PQgetvalue(r, 0, 1), "provider",
                                                 PQgetvalue(r, 0, 2), "status", "online"));
        PQclear(r);
    }
    return rc;
}

int gw_post_register(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false;
    mc_db *db = NULL;
    json_t *runtimes = json_array();
    const char *ws = json_string_value(json_object_get(body, "workspace_id"));
    if (ws == NULL || !mc_uuid_valid(ws)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "workspace_id", "must be a UUID");
        goto cleanup;
    }
    gw_str_field(body, "daemon_id", 1, 200, true, resp, &bad);
    if (!bad)
        gw_str_field(body, "device_name", 0, 200, false, resp, &bad);
    if (!bad)
        gw_str_field(body, "cli_version", 0, 100, false, resp, &bad);
    if (bad || !runtimes_valid(json_object_get(body, "runtimes"), resp))
        goto cleanup;
    if ((db = gw_db(ctx, resp)) == NULL || gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    const char *user = gw_principal(resp)->user_id;
    int rc = mc_db_begin(db);
    if (rc == 0)
        rc = register_all(ctx, db, body, ws, user, runtimes);
    if (rc == 0)
        rc = mc_db_commit(db);
    if (rc != 0) {
        mc_db_rollback(db);
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    gw_outbox_kick(ctx);
    mc_log_info(json_pack("{ss ss ss sI}", "workspace_id", ws, "user_id", user, "daemon_id",
                          json_string_value(json_object_get(body, "daemon_id")), "runtimes",
                          (json_int_t)json_array_size(runtimes)),
                "daemon registered");
    mc_http_json(resp, 200,
                 json_pack("{sO s[] ss s{}}", "runtimes", runtimes, "repos", "repos_version", "",
                           "settings"));
cleanup:
    json_decref(runtimes);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_post_deregister(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    const json_t *ids = json_object_get(body, "runtime_ids");
    mc_db *db = NULL;
    if (!json_is_array(ids) || json_array_size(ids) > MAX_RUNTIMES * 4) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_ids", "must be a list of ids");
        goto cleanup;
    }
    if ((db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    int offline = 0;
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *rt = json_string_value(json_array_get(ids, i));
        if (rt == NULL || !mc_uuid_valid(rt))
            continue; /* an id that names nothing of the caller's is nothing to take offline */
        int rc = runtime_change(ctx, db, GW_RUNTIME_OFFLINE, MC_EV_RUNTIME_OFFLINE, rt,
                                gw_principal(resp)->user_id);
        if (rc != 0 && rc != MC_ENOTFOUND) {
            gw_db_error(resp, db, rc);
            goto cleanup;
        }
        offline += rc == 0;
    }
    mc_http_json(resp, 200, json_pack("{ss si}", "status", "ok", "offline", offline));
cleanup:
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_post_heartbeat(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    const char *rt = json_string_value(json_object_get(body, "runtime_id"));
    mc_db *db = NULL;
    if (rt == NULL || !mc_uuid_valid(rt)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id", "must be a UUID");
        goto cleanup;
    }
    if ((db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    int rc = gw_runtime_heartbeat(ctx, db, rt, gw_principal(resp)->user_id);
    if (rc == MC_ENOTFOUND)
        gw_runtime_not_found(resp);
    else if (rc != 0)
        gw_db_error(resp, db, rc);
    else
        mc_http_json(resp, 200, json_pack("{ss ss}", "runtime_id", rt, "status", "ok"));
cleanup:
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

/* Custom runtime profiles (a workspace's own agent CLIs) do not exist here: the daemon
 * registers the agent CLIs it finds. */
int gw_get_runtime_profiles(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    mc_db *db = ws ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    if (gw_require_member(resp, db, ws, false) == 0)
        mc_http_json(resp, 200, json_pack("{s[]}", "runtime_profiles"));
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

/* Fails what the runtime's previous daemon process was running (it died with it), in the
 * caller's transaction. Returns the number failed, or a negative error. */
static int fail_orphans(mc_db *db, const char *runtime)
{
    const char *p[] = {runtime};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_TASK_RUNNING_ON, 1, p, &r);
    int n = rc == 0 ? PQntuples(r) : 0;
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *task = PQgetvalue(r, i, 0);
        const char *pr[] = {task, "failed"};
        json_t *data = json_pack("{ss ss ss ss}", "task_id", task, "runtime_id", runtime, "reason",
                                 "orphaned: the daemon running it restarted", "at", now);
        rc = mc_db_exec(db, GW_TASK_REPORTED, 2, pr, NULL);
        if (rc == 0)
            rc = gw_outbox_add(db, MC_EV_TASK_FAILURE_REPORTED, task, task, data);
        else
            json_decref(data);
    }
    PQclear(r);
    return rc == 0 ? n : rc;
}

int gw_post_recover_orphans(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *rt = gw_uuid_param(req, resp, "runtime_id");
    mc_db *db = rt ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *w = NULL, *released = NULL;
    const char *p[] = {rt};
    int rc = mc_db_exec(db, GW_RUNTIME_WORKSPACE, 1, p, &w);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (PQntuples(w) == 0) {
        gw_runtime_not_found(resp);
        goto cleanup;
    }
    if (gw_require_member(resp, db, PQgetvalue(w, 0, 0), false) != 0)
        goto cleanup;
    int orphaned = 0;
    if ((rc = mc_db_begin(db)) == 0 &&
        (rc = mc_db_exec(db, GW_TASK_RELEASE_CLAIMS, 1, p, &released)) == 0 &&
        (orphaned = fail_orphans(db, rt)) >= 0)
        rc = mc_db_commit(db);
    else if (rc == 0)
        rc = orphaned;
    if (rc != 0) {
        mc_db_rollback(db);
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    gw_outbox_kick(ctx);
    if (PQntuples(released) > 0)
        gw_daemon_ws_task_available(ctx, rt, NULL);
    if (orphaned > 0 || PQntuples(released) > 0)
        mc_log_info(json_pack("{ss si si}", "runtime_id", rt, "failed", orphaned, "released",
                              PQntuples(released)),
                    "recovered the tasks of a restarted daemon");
    mc_http_json(resp, 200,
                 json_pack("{si si si}", "orphaned", orphaned, "retried", 0, "released",
                           PQntuples(released)));
cleanup:
    PQclear(w);
    PQclear(released);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
