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
    if (ws == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    mc_db *db = NULL;
    PGresult *r = NULL;
    const char *name, *provider;
    int64_t maxc = 1;
    if (gw_str_field(resp, body, "name", 1, 200, true, &name) != 0)
        goto cleanup;
    if (gw_str_field(resp, body, "provider", 1, 64, true, &provider) != 0)
        goto cleanup;
    const char *runtime = json_string_value(json_object_get(body, "runtime_id"));
    if (runtime == NULL || !mc_uuid_valid(runtime)) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id", "must be a UUID");
        goto cleanup;
    }
    if (gw_int_field(resp, body, "max_concurrent_tasks", 1, 1000, &maxc) != 0)
        goto cleanup;
    db = gw_member_db(ctx, resp, ws, false);
    if (db == NULL)
        goto cleanup;
    char id[MC_UUID_STRLEN], maxs[16];
    mc_uuid_v7(id);
    snprintf(maxs, sizeof maxs, "%lld", (long long)maxc);
    const char *p[] = {id, ws, name, provider, runtime, maxs};
    int rc = mc_db_exec(db, GW_AGENT_CREATE, 6, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "runtime_id",
                      "no such runtime in this workspace");
    else
        gw_answer_text(resp, 201, PQgetvalue(r, 0, 0));
cleanup:
    PQclear(r);
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
    if (agent == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
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
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    if (gw_outbox_tx(ctx, resp, db, "move agent", move_agent, &m) == 0)
        gw_answer_text(resp, 200, PQgetvalue(m.upd, 0, 0));
cleanup:
    PQclear(m.cur);
    PQclear(m.upd);
    if (db)
        gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
