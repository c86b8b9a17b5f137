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

/* A runtime marked seen (GW_RUNTIME_SEEN) or offline (GW_RUNTIME_OFFLINE) for a user, with
 * the matching event. */
struct runtime_change {
    int stmt;
    const char *type, *runtime, *user;
};

static int change_runtime(mc_db *db, void *arg)
{
    const struct runtime_change *c = arg;
    const char *p[] = {c->runtime, c->user};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, c->stmt, 2, p, &r);
    if (rc == 0 && PQntuples(r) == 0)
        rc = MC_ENOTFOUND;
    if (rc == 0)
        rc = runtime_event(db, c->type, c->runtime, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                           atol(PQgetvalue(r, 0, 2)));
    PQclear(r);
    return rc;
}

/* Runs change_runtime in one transaction. 0, MC_ENOTFOUND, or a database error. */
static int runtime_change(struct gw_ctx *ctx, mc_db *db, int stmt, const char *type,
                          const char *runtime, const char *user)
{
    struct runtime_change c = {stmt, type, runtime, user};
    int rc = mc_db_run_tx(db, "runtime change", change_runtime, &c);
    if (rc == 0)
        gw_outbox_kick(ctx);
    return rc;
}

int gw_runtime_heartbeat(struct gw_ctx *ctx, mc_db *db, const char *runtime, const char *user)
{
    if (runtime == NULL || !mc_uuid_valid(runtime))
        return MC_ENOTFOUND;
    return runtime_change(ctx, db, GW_RUNTIME_SEEN, MC_EV_RUNTIME_HEARTBEAT, runtime, user);
}

/* Validates a registration's body. Returns 0, or MC_EINVAL after answering 400. */
static int registration_valid(struct _u_response *resp, const json_t *body)
{
    const char *ws = json_string_value(json_object_get(body, "workspace_id"));
    const char *s;
    if (ws == NULL || !mc_uuid_valid(ws))
        return gw_invalid(resp, "workspace_id", "must be a UUID");
    if (gw_str_field(resp, body, "daemon_id", 1, 200, true, &s) != 0)
        return MC_EINVAL;
    if (gw_str_field(resp, body, "device_name", 0, 200, false, &s) != 0)
        return MC_EINVAL;
    if (gw_str_field(resp, body, "cli_version", 0, 100, false, &s) != 0)
        return MC_EINVAL;
    const json_t *list = json_object_get(body, "runtimes");
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > MAX_RUNTIMES)
        return gw_invalid(resp, "runtimes", "must be a list of 1 to %d runtimes", MAX_RUNTIMES);
    for (size_t i = 0; i < n; i++) {
        const json_t *rt = json_array_get(list, i);
        if (!json_is_object(rt))
            return gw_invalid(resp, "runtimes", "must hold objects");
        if (gw_str_field(resp, rt, "type", 1, 64, true, &s) != 0)
            return MC_EINVAL;
        if (gw_str_field(resp, rt, "name", 0, 200, false, &s) != 0)
            return MC_EINVAL;
        if (gw_str_field(resp, rt, "version", 0, 200, false, &s) != 0)
            return MC_EINVAL;
    }
    return 0;
}

/* Upserts the runtimes of a registration and writes their events; fills out. A runtime's
 * capacity is DAEMON_RUNTIME_CAPACITY: the daemon does not say its own limit
 * (max_concurrent_tasks, 20 by default, shared by its runtimes), and it claims only as many
 * tasks as it has free slots, so the capacity only bounds what waits for it. */
struct registration {
    const struct gw_ctx *ctx;
    const json_t *body;
    const char *ws, *user;
    json_t *out; /* the runtimes, as the daemon reads them */
};

static int register_all(mc_db *db, void *arg)
{
    struct registration *g = arg;
    const struct gw_ctx *ctx = g->ctx;
    const json_t *body = g->body;
    const char *ws = g->ws, *user = g->user;
    json_t *out = g->out;
    json_array_clear(out);
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
    mc_db *db = NULL;
    json_t *runtimes = json_array();
    if (registration_valid(resp, body) != 0)
        goto cleanup;
    const char *ws = json_string_value(json_object_get(body, "workspace_id"));
    db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        goto cleanup;
    const char *user = gw_principal(resp)->user_id;
    struct registration g = {ctx, body, ws, user, runtimes};
    if (gw_outbox_tx(ctx, resp, db, "register daemon", register_all, &g) != 0)
        goto cleanup;
    mc_log_info(json_pack("{ss ss ss sI}", "workspace_id", ws, "user_id", user, "daemon_id",
                          json_string_value(json_object_get(body, "daemon_id")), "runtimes",
                          (json_int_t)json_array_size(runtimes)),
                "daemon registered");
    mc_http_json(resp, 200,
                 json_pack("{sO s[] ss s{}}", "runtimes", runtimes, "repos", "repos_version", "",
                           "settings"));
cleanup:
    json_decref(runtimes);
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

/* A recovery, run by gw_outbox_tx: the runtime's claims not yet started are released
 * (released) and what the runtime's previous daemon process was running is failed (it died
 * with it; orphaned counts them). */
struct recovery {
    const char *runtime;
    PGresult *released;
    int orphaned;
};

static int recover(mc_db *db, void *arg)
{
    struct recovery *v = arg;
    const char *runtime = v->runtime;
    const char *p[] = {runtime};
    PQclear(v->released);
    v->released = NULL;
    v->orphaned = 0;
    int rc = mc_db_exec(db, GW_TASK_RELEASE_CLAIMS, 1, p, &v->released);
    if (rc != 0)
        return rc;
    PGresult *r = NULL;
    rc = mc_db_exec(db, GW_TASK_RUNNING_ON, 1, p, &r);
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
    v->orphaned = n;
    return rc;
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
    struct recovery v = {rt, NULL, 0};
    rc = gw_outbox_tx(ctx, resp, db, "recover orphans", recover, &v);
    released = v.released;
    int orphaned = v.orphaned;
    if (rc != 0)
        goto cleanup;
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
