/* http_agents.c: agents, in Multica's routes and shape.
 *
 *   POST /api/agents {name, runtime_id, description?, instructions?, max_concurrent_tasks?}
 *   GET  /api/agents?workspace_id=
 *   GET  /api/agents/{agent_id}
 *   PUT  /api/agents/{agent_id} {name?, description?, instructions?, runtime_id?,
 *                                max_concurrent_tasks?}   a new runtime moves its tasks
 *
 * An agent runs on a runtime (a daemon's agent CLI): its provider is the runtime's, and its
 * instructions reach the agent CLI with every task. The workspace is the request's
 * (?workspace_id= or X-Workspace-ID), or the runtime's when the request names none. Moving an
 * agent to another runtime writes AgentRuntimeChanged; the dispatcher moves its unfinished
 * tasks. */
#include "gateway.h"
#include "mc_proto.h"

#include <stdio.h>
#include <string.h>

/* The optional fields both POST and PUT take; answers 400 and returns false when invalid. */
struct agent_fields {
    const char *name, *description, *instructions, *runtime;
    int64_t max;
    bool has_max;
};

static bool read_fields(const json_t *body, bool create, struct _u_response *resp,
                        struct agent_fields *f)
{
    bool bad = false;
    memset(f, 0, sizeof *f);
    f->name = gw_str_field(body, "name", 1, 200, create, resp, &bad);
    if (!bad)
        f->description = gw_str_field(body, "description", 0, 10000, false, resp, &bad);
    if (!bad)
        f->instructions = gw_str_field(body, "instructions", 0, 100000, false, resp, &bad);
    if (bad)
        return false;
    f->runtime = json_string_value(json_object_get(body, "runtime_id"));
    if ((f->runtime != NULL || create) && (f->runtime == NULL || !mc_uuid_valid(f->runtime))) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id", "must be a UUID");
        return false;
    }
    const json_t *m = json_object_get(body, "max_concurrent_tasks");
    f->has_max = m != NULL && !json_is_null(m);
    if (f->has_max && (mc_json_int64(m, &f->max) != 0 || f->max < 1 || f->max > 1000)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "max_concurrent_tasks",
                      "must be an integer between 1 and 1000");
        return false;
    }
    return true;
}

/* The workspace of a new agent: the request's, else its runtime's. Answers and returns NULL
 * when neither is known. */
static const char *agent_workspace(const struct _u_request *req, struct _u_response *resp,
                                   mc_db *db, const char *runtime, char ws[MC_UUID_STRLEN])
{
    const char *named = u_map_get(req->map_url, "workspace_id");
    if (named == NULL)
        named = u_map_get_case(req->map_header, "X-Workspace-ID");
    if (named != NULL)
        return gw_workspace_of(req, resp);
    PGresult *r = NULL;
    const char *p[] = {runtime};
    int rc = mc_db_exec(db, GW_RUNTIME_WORKSPACE, 1, p, &r);
    if (rc == 0 && PQntuples(r) == 1)
        snprintf(ws, MC_UUID_STRLEN, "%s", PQgetvalue(r, 0, 0));
    else if (rc == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id", "no such runtime");
    else
        gw_db_error(resp, db, rc);
    PQclear(r);
    return rc == 0 && ws[0] ? ws : NULL;
}

int gw_post_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct agent_fields f;
    mc_db *db = NULL;
    char wsbuf[MC_UUID_STRLEN] = "";
    const char *ws = NULL;
    if (!read_fields(body, true, resp, &f) || (db = gw_db(ctx, resp)) == NULL ||
        (ws = agent_workspace(req, resp, db, f.runtime, wsbuf)) == NULL ||
        gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    char id[MC_UUID_STRLEN], maxs[16];
    mc_uuid_v7(id);
    snprintf(maxs, sizeof maxs, "%lld", (long long)(f.has_max ? f.max : 1));
    const char *p[] = {id, ws, f.name, f.runtime, maxs, f.description, f.instructions};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_AGENT_CREATE, 7, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id",
                      "no such runtime in this workspace");
    else
        gw_answer_text(resp, 201, PQgetvalue(r, 0, 0));
    PQclear(r);
cleanup:
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}

int gw_get_agents(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    return gw_workspace_read(req, resp, ud, GW_AGENT_LIST);
}

int gw_get_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *agent = gw_uuid_param(req, resp, "agent_id");
    mc_db *db = agent ? gw_db(ctx, resp) : NULL;
    if (db == NULL)
        return U_CALLBACK_COMPLETE;
    PGresult *r = NULL;
    const char *p[] = {agent};
    int rc = mc_db_exec(db, GW_AGENT_GET, 1, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
    else if (gw_require_member(resp, db, PQgetvalue(r, 0, 0), false) == 0)
        gw_answer_text(resp, 200, PQgetvalue(r, 0, 3));
    PQclear(r);
    gw_db_release(ctx, db);
    return U_CALLBACK_COMPLETE;
}

int gw_put_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *agent = gw_uuid_param(req, resp, "agent_id");
    json_t *body = agent ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct agent_fields f;
    mc_db *db = NULL;
    PGresult *cur = NULL, *upd = NULL;
    if (!read_fields(body, false, resp, &f) || (db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    const char *pa[] = {agent};
    int rc = mc_db_begin(db);
    if (rc == 0)
        rc = mc_db_exec(db, GW_AGENT_GET, 1, pa, &cur);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (PQntuples(cur) == 0) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        goto cleanup;
    }
    if (gw_require_member(resp, db, PQgetvalue(cur, 0, 0), false) != 0)
        goto cleanup;
    char maxs[16];
    snprintf(maxs, sizeof maxs, "%lld", (long long)f.max);
    const char *pu[] = {agent,          f.name,    f.description,
                        f.instructions, f.runtime, f.has_max ? maxs : NULL};
    if ((rc = mc_db_exec(db, GW_AGENT_UPDATE, 6, pu, &upd)) != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    if (PQntuples(upd) == 0) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id",
                      "no such runtime in this workspace");
        goto cleanup;
    }
    if (f.runtime != NULL && strcmp(PQgetvalue(cur, 0, 1), f.runtime) != 0) {
        json_t *data =
            json_pack("{ss ss ss ss}", "agent_id", agent, "workspace_id", PQgetvalue(cur, 0, 0),
                      "runtime_id", f.runtime, "old_runtime_id", PQgetvalue(cur, 0, 1));
        rc = gw_outbox_add(db, MC_EV_AGENT_RUNTIME_CHANGED, agent, agent, data);
    }
    if (rc == 0)
        rc = mc_db_commit(db);
    if (rc != 0) {
        gw_db_error(resp, db, rc);
        goto cleanup;
    }
    gw_outbox_kick(ctx);
    gw_answer_text(resp, 200, PQgetvalue(upd, 0, 0));
cleanup:
    PQclear(cur);
    PQclear(upd);
    if (db) {
        mc_db_rollback(db);
        gw_db_release(ctx, db);
    }
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
