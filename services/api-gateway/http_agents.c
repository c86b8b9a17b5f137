/* http_agents.c: agents of a workspace.
 *
 *   POST  /api/workspaces/{workspace_id}/agents {name, provider, runtime_id, max_concurrent_tasks}
 *   GET   /api/workspaces/{workspace_id}/agents
 *   PATCH /api/agents/{agent_id} {runtime_id}   moves the agent (AgentRuntimeChanged) */
#include "gateway.h"
#include "mc_proto.h"

#include <stdio.h>
#include <string.h>

int gw_post_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *ws = gw_uuid_param(req, resp, "workspace_id");
    json_t *body = ws ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    bool bad = false;
    mc_db *db = NULL;
    const char *name = gw_str_field(body, "name", 1, 200, true, resp, &bad);
    const char *provider = bad ? NULL : gw_str_field(body, "provider", 1, 64, true, resp, &bad);
    const char *runtime = bad ? NULL : json_string_value(json_object_get(body, "runtime_id"));
    int64_t maxc = 1;
    const json_t *m = json_object_get(body, "max_concurrent_tasks");
    if (!bad && (runtime == NULL || !mc_uuid_valid(runtime))) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id", "must be a UUID");
        bad = true;
    }
    if (!bad && m != NULL && (mc_json_int64(m, &maxc) != 0 || maxc < 1 || maxc > 1000)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "max_concurrent_tasks",
                      "must be an integer between 1 and 1000");
        bad = true;
    }
    if (bad || (db = gw_db(ctx, resp)) == NULL || gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    char id[MC_UUID_STRLEN], maxs[16];
    mc_uuid_v7(id);
    snprintf(maxs, sizeof maxs, "%lld", (long long)maxc);
    const char *p[] = {id, ws, name, provider, runtime, maxs};
    PGresult *r = NULL;
    int rc = mc_db_exec(db, GW_AGENT_CREATE, 6, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id",
                      "no such runtime in this workspace");
    else {
        ulfius_set_string_body_response(resp, 201, PQgetvalue(r, 0, 0));
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
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

/* An agent moving to another runtime, within its workspace. */
struct agent_move {
    const char *agent, *runtime;
    struct _u_response *resp;
    PGresult *cur, *upd; /* the agent before, and the agent after (JSON) */
};

/* Moves the agent, writing AgentRuntimeChanged when its runtime changed. */
static int move_agent(mc_db *db, void *arg)
{
    struct agent_move *m = arg;
    PQclear(m->cur);
    PQclear(m->upd);
    m->cur = m->upd = NULL;
    const char *pa[] = {m->agent};
    int rc = mc_db_exec(db, GW_AGENT_GET, 1, pa, &m->cur);
    if (rc != 0)
        return rc;
    if (PQntuples(m->cur) == 0) {
        mc_http_error(m->resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        return GW_ANSWERED;
    }
    if (gw_require_member(m->resp, db, PQgetvalue(m->cur, 0, 0), false) != 0)
        return GW_ANSWERED;
    const char *pu[] = {m->agent, m->runtime};
    if ((rc = mc_db_exec(db, GW_AGENT_SET_RUNTIME, 2, pu, &m->upd)) != 0)
        return rc;
    if (PQntuples(m->upd) == 0) {
        mc_http_error(m->resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id",
                      "no such runtime in this workspace");
        return GW_ANSWERED;
    }
    if (strcmp(PQgetvalue(m->cur, 0, 1), m->runtime) == 0)
        return 0;
    json_t *data =
        json_pack("{ss ss ss ss}", "agent_id", m->agent, "workspace_id", PQgetvalue(m->cur, 0, 0),
                  "runtime_id", m->runtime, "old_runtime_id", PQgetvalue(m->cur, 0, 1));
    return gw_outbox_add(db, MC_EV_AGENT_RUNTIME_CHANGED, m->agent, m->agent, data);
}

int gw_patch_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *agent = gw_uuid_param(req, resp, "agent_id");
    json_t *body = agent ? mc_http_body(req, resp, MC_BODY_OBJECT) : NULL;
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    struct agent_move m = {.agent = agent,
                           .runtime = json_string_value(json_object_get(body, "runtime_id")),
                           .resp = resp};
    if (m.runtime == NULL || !mc_uuid_valid(m.runtime)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id", "must be a UUID");
        goto cleanup;
    }
    if ((db = gw_db(ctx, resp)) == NULL)
        goto cleanup;
    if (gw_outbox_tx(ctx, resp, db, "move agent", move_agent, &m) == 0) {
        ulfius_set_string_body_response(resp, 200, PQgetvalue(m.upd, 0, 0));
        u_map_put(resp->map_header, "Content-Type", "application/json");
    }
cleanup:
    PQclear(m.cur);
    PQclear(m.upd);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
