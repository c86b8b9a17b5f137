/* http_claim.c: a daemon claims the tasks dispatched to its runtimes.
 *
 *   POST /api/daemon/tasks/claim {daemon_id, runtime_ids, max_tasks}  -> {"tasks": [...]}
 *   POST /api/daemon/claim                                             (the same)
 *   POST /api/daemon/runtimes/{runtime_id}/tasks/claim {}              -> {"task": ... | null}
 *   POST /api/daemon/runtimes/{runtime_id}/tasks/{task_id}/prepare-lease
 *
 * The dispatcher decides which runtime runs a task and when (capacity, agent concurrency, one
 * task per issue): a claim hands out what it dispatched to the caller's runtimes and no claim
 * holds yet, oldest first and never more than max_tasks, in one SQL call
 * (gateway.claim_tasks, with the caller's token checked in the same call). Each hand-out carries a
 * task token (mat_, for the agent's own multica calls) and a lease of CLAIM_LEASE: a task whose
 * daemon never started it, because the answer was lost or the daemon died, is offered again when
 * the lease ends, and the dispatcher's own lease (DISPATCH_LEASE) requeues it if nobody starts it
 * at all. prepare-lease renews the claim while the daemon prepares the task's work directory. */
#include "gateway.h"
#include "mc_auth.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLAIM          100 /* a daemon has 20 slots by default */
#define MAX_CLAIM_RUNTIMES 256

/* Hands out up to max tasks of runtimes to the caller; returns the tasks as a JSON array, or
 * NULL after answering the error itself. */
static json_t *claim(struct gw_ctx *ctx, struct _u_response *resp, const char *daemon,
                     const json_t *runtimes, int max)
{
    char(*tokens)[48] = calloc((size_t)max, sizeof *tokens);
    struct mc_pgarr hashes = {0}, ids = {0};
    json_t *out = NULL;
    PGresult *r = NULL;
    mc_db *db = NULL;
    for (int i = 0; i < max; i++) {
        char hash[65];
        if (mc_auth_random_token("mat_", tokens[i], sizeof tokens[i]) != 0 ||
            mc_auth_sha256_hex(tokens[i], strlen(tokens[i]), hash) != 0) {
            mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot make task tokens");
            goto cleanup;
        }
        mc_pgarr_add_text(&hashes, hash);
    }
    for (size_t i = 0; i < json_array_size(runtimes); i++)
        mc_pgarr_add_raw(&ids, json_string_value(json_array_get(runtimes, i)));
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", (long long)ctx->claim_lease_ms);
    const char *hash, *user;
    gw_daemon_caller(resp, &hash, &user);
    const char *p[] = {user, daemon, mc_pgarr_str(&ids), lease, mc_pgarr_str(&hashes), hash};
    if ((db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    int rc = mc_db_exec(db, GW_TASK_CLAIM, 6, p, &r);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    /* The caller's token is checked in the same call: one row saying false when refused. */
    gw_daemon_checked(resp, strcmp(PQgetvalue(r, 0, 0), "t") == 0);
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        goto cleanup;
    out = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 1))
            continue; /* nothing to hand out */
        int ord = atoi(PQgetvalue(r, i, 1));
        json_t *task = json_loads(PQgetvalue(r, i, 2), 0, NULL);
        if (task == NULL || ord < 1 || ord > max) {
            json_decref(task);
            continue; /* cannot happen: the function numbers what it hands out from 1 */
        }
        json_object_set_new(task, "auth_token", json_string(tokens[ord - 1]));
        json_array_append_new(out, task);
    }
    mc_metric_add(ctx->m.claims, 1);
    mc_metric_add(ctx->m.claimed, (double)json_array_size(out));
    if (json_array_size(out) > 0)
        mc_log_info(
            json_pack("{ss sI}", "daemon_id", daemon, "tasks", (json_int_t)json_array_size(out)),
            "tasks claimed");
cleanup:
    PQclear(r);
    if (db)
        gw_db_release(ctx, db);
    mc_pgarr_free(&hashes);
    mc_pgarr_free(&ids);
    free(tokens);
    return out;
}

int gw_post_claim(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return gw_daemon_settle(ctx, resp);
    const char *daemon = NULL;
    bool bad = gw_str_field(resp, body, "daemon_id", 0, 200, false, &daemon) != 0;
    const json_t *runtimes = json_object_get(body, "runtime_ids");
    int64_t max = 1;
    size_t n = json_array_size(runtimes);
    if (!bad && (!json_is_array(runtimes) || n > MAX_CLAIM_RUNTIMES)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_ids",
                      "must be a list of at most %d runtime ids", MAX_CLAIM_RUNTIMES);
        bad = true;
    }
    for (size_t i = 0; !bad && i < n; i++) {
        const char *id = json_string_value(json_array_get(runtimes, i));
        if (id == NULL || !mc_uuid_valid(id)) {
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_ids", "must hold UUIDs");
            bad = true;
        }
    }
    if (!bad && (mc_json_int64(json_object_get(body, "max_tasks"), &max) != 0 || max < 1)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "max_tasks", "must be an integer >= 1");
        bad = true;
    }
    json_t *tasks = NULL;
    if (!bad && n == 0)
        tasks = json_array(); /* a daemon without runtimes has nothing to claim */
    else if (!bad)
        tasks = claim(ctx, resp, daemon ? daemon : "", runtimes,
                      (int)(max < MAX_CLAIM ? max : MAX_CLAIM));
    if (tasks != NULL)
        mc_http_json(resp, 200, json_pack("{so}", "tasks", tasks));
    json_decref(body);
    return gw_daemon_settle(ctx, resp);
}

/* The legacy per-runtime claim (the daemon's fallback when the batch claim answers 404): one
 * task or null. A runtime the caller cannot see answers 404 (not "runtime not found": that
 * phrase is for heartbeats of deleted runtimes). */
int gw_post_runtime_claim(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *rt = gw_uuid_param(req, resp, "runtime_id");
    mc_db *db = rt ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    const char *p[] = {rt};
    int rc = mc_db_exec(db, GW_RUNTIME_WORKSPACE, 1, p, &r);
    bool mine = rc == 0 && PQntuples(r) == 1 &&
                gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) == 0;
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, "runtime_id", "no such runtime");
    PQclear(r);
    gw_db_release(ctx, db);
    if (!mine)
        return U_CALLBACK_COMPLETE;
    json_t *runtimes = json_pack("[s]", rt);
    json_t *tasks = claim(ctx, resp, "", runtimes, 1);
    if (tasks != NULL) {
        json_t *task = json_array_get(tasks, 0);
        mc_http_json(resp, 200, json_pack("{sO}", "task", task ? task : json_null()));
    }
    json_decref(tasks);
    json_decref(runtimes);
    return U_CALLBACK_COMPLETE;
}

int gw_post_prepare_lease(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *rt = gw_uuid_param(req, resp, "runtime_id");
    const char *task = rt ? gw_uuid_param(req, resp, "task_id") : NULL;
    mc_db *db = task ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *s = gw_task_state(db, task, resp, false), *r = NULL;
    int rc = 0;
    if (s == NULL)
        goto cleanup;
    /* A task on another runtime is not this runtime's to prepare. */
    if (strcmp(PQgetvalue(s, 0, 1), rt) != 0) {
        gw_task_not_found(resp);
        goto cleanup;
    }
    char lease[24];
    snprintf(lease, sizeof lease, "%lld", (long long)ctx->claim_lease_ms);
    const char *p[] = {task, rt, lease};
    if ((rc = mc_db_exec(db, GW_TASK_EXTEND_CLAIM, 3, p, &r)) != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 409, MC_HTTP_CONFLICT, "task_id", "the task is %s, not claimed",
                      PQgetvalue(s, 0, 0));
    else
        mc_http_json(resp, 200, json_pack("{ss ss}", "id", task, "status", "dispatched"));
cleanup:
    PQclear(s);
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}
