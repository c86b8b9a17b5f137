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

/* The optional fields both POST and PUT take. */
struct agent_fields {
    const char *name, *description, *instructions, *runtime;
    int64_t max;
    bool has_max;
};

/* Reads them. Returns 0, or MC_EINVAL after answering 400 naming the first bad one. */
static int read_fields(struct _u_response *resp, const json_t *body, bool create,
                       struct agent_fields *f)
{
    memset(f, 0, sizeof *f);
    if (gw_str_field(resp, body, "name", 1, 200, create, &f->name) != 0)
        return MC_EINVAL;
    if (gw_str_field(resp, body, "description", 0, 10000, false, &f->description) != 0)
        return MC_EINVAL;
    if (gw_str_field(resp, body, "instructions", 0, 100000, false, &f->instructions) != 0)
        return MC_EINVAL;
    f->runtime = json_string_value(json_object_get(body, "runtime_id"));
    bool runtime_given = json_object_get(body, "runtime_id") != NULL || create;
    if (runtime_given && (f->runtime == NULL || !mc_uuid_valid(f->runtime)))
        return gw_invalid(resp, "runtime_id", "must be a UUID");
    const json_t *m = json_object_get(body, "max_concurrent_tasks");
    f->has_max = m != NULL && !json_is_null(m);
    f->max = 1;
    if (!f->has_max)
        return 0;
    return gw_int_field(resp, body, "max_concurrent_tasks", 1, 1000, &f->max);
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
    PGresult *r = NULL;
    char wsbuf[MC_UUID_STRLEN] = "";
    if (read_fields(resp, body, true, &f) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    const char *ws = agent_workspace(req, resp, db, f.runtime, wsbuf);
    if (ws == NULL)
        goto cleanup;
    if (gw_require_member(resp, db, ws, false) != 0)
        goto cleanup;
    char id[MC_UUID_STRLEN], maxs[16];
    mc_uuid_v7(id);
    snprintf(maxs, sizeof maxs, "%lld", (long long)f.max);
    const char *p[] = {id, ws, f.name, f.runtime, maxs, f.description, f.instructions};
    int rc = mc_db_exec(db, GW_AGENT_CREATE, 7, p, &r);
    if (rc != 0)
        gw_db_error(resp, db, rc);
    else if (PQntuples(r) == 0)
        gw_invalid(resp, "runtime_id", "no such runtime in this workspace");
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

/* An edit of an agent, run by gw_outbox_tx: the agent before (cur) and after (upd, JSON);
 * AgentRuntimeChanged when it moves to another runtime of its workspace. */
struct agent_edit {
    const char *agent;
    const struct agent_fields *f;
    struct _u_response *resp;
    PGresult *cur, *upd;
};

static int edit_agent(mc_db *db, void *arg)
{
    struct agent_edit *e = arg;
    PQclear(e->cur);
    PQclear(e->upd);
    e->cur = e->upd = NULL;
    const char *pa[] = {e->agent};
    int rc = mc_db_exec(db, GW_AGENT_GET, 1, pa, &e->cur);
    if (rc != 0)
        return rc;
    if (PQntuples(e->cur) == 0) {
        mc_http_error(e->resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        return GW_ANSWERED;
    }
    if (gw_require_member(e->resp, db, PQgetvalue(e->cur, 0, 0), false) != 0)
        return GW_ANSWERED;
    char maxs[16];
    snprintf(maxs, sizeof maxs, "%lld", (long long)e->f->max);
    const char *pu[] = {e->agent,           e->f->name,    e->f->description,
                        e->f->instructions, e->f->runtime, e->f->has_max ? maxs : NULL};
    if ((rc = mc_db_exec(db, GW_AGENT_UPDATE, 6, pu, &e->upd)) != 0)
        return rc;
    if (PQntuples(e->upd) == 0) {
        gw_invalid(e->resp, "runtime_id", "no such runtime in this workspace");
        return GW_ANSWERED;
    }
    const char *was = PQgetvalue(e->cur, 0, 1);
    if (e->f->runtime == NULL || strcmp(was, e->f->runtime) == 0)
        return 0;
    json_t *data =
        json_pack("{ss ss ss ss}", "agent_id", e->agent, "workspace_id", PQgetvalue(e->cur, 0, 0),
                  "runtime_id", e->f->runtime, "old_runtime_id", was);
    return gw_outbox_add(db, MC_EV_AGENT_RUNTIME_CHANGED, e->agent, e->agent, data);
}

int gw_put_agent(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *agent = gw_uuid_param(req, resp, "agent_id");
    if (agent == NULL)
        return U_CALLBACK_COMPLETE;
    json_t *body = mc_http_body(req, resp, MC_BODY_OBJECT);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    struct agent_fields f;
    mc_db *db = NULL;
    struct agent_edit e = {agent, &f, resp, NULL, NULL};
    if (read_fields(resp, body, false, &f) != 0)
        goto cleanup;
    db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    if (gw_outbox_tx(ctx, resp, db, "edit agent", edit_agent, &e) == 0)
        gw_answer_text(resp, 200, PQgetvalue(e.upd, 0, 0));
cleanup:
    PQclear(e.cur);
    PQclear(e.upd);
    gw_db_release(ctx, db);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
