/* daemon_ws.c: GET /api/daemon/ws, the wake-up line of Multica's daemon.
 *
 * The daemon connects with its personal access token and ?runtime_ids=a,b,... (its runtimes).
 * It sends {"type":"daemon:heartbeat","payload":{"runtime_id"}} for each runtime on connect
 * and every 15 s; each is applied like POST /api/daemon/heartbeat and answered with
 * {"type":"daemon:heartbeat_ack","payload":{"runtime_id","status":"ok"}} (runtime_gone: true
 * when the runtime no longer exists), which spares the daemon its HTTP heartbeats. When one of
 * its runtimes has a task to claim, it gets {"type":"daemon:task_available","payload":
 * {"runtime_id","task_id"}} and claims over HTTP at once, instead of at its next poll (30 s
 * by default). The hub's listener (ws.c) calls gw_daemon_ws_task_available for each logged
 * dispatch and gw_daemon_ws_sweep every few seconds for tasks no claim holds (a claim whose
 * lease ran out, a wake-up a daemon missed while reconnecting).
 *
 * No server_capabilities are announced, so the daemon keeps claiming over HTTP (its rpc-v1
 * claims over this socket are not implemented here). The daemon reads with a 60 s deadline
 * and never pings: acks and a ping every PING_MS when nothing else was sent keep it open. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUNTIMES 256
#define MAX_ACKS     64
#define PING_MS      30000

struct daemon_conn {
    struct gw_ctx *ctx;
    char user_id[MC_UUID_STRLEN];
    char (*runtimes)[MC_UUID_STRLEN];
    int nruntimes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *acks[MAX_ACKS]; /* acks waiting to be sent, oldest first */
    int nacks;
    bool wake; /* a task_available waits to be sent */
    char wake_runtime[MC_UUID_STRLEN], wake_task[MC_UUID_STRLEN];
    bool registered;
    struct daemon_conn *next;
};

struct gw_daemon_hub {
    pthread_mutex_t mu;
    struct daemon_conn *conns;
    int nconns;
    mc_stop stop; /* raised by gw_daemon_ws_quiesce: connections finish */
};

int gw_daemon_ws_start(struct gw_ctx *ctx)
{
    struct gw_daemon_hub *hub = mc_calloc(1, sizeof *hub);
    pthread_mutex_init(&hub->mu, NULL);
    ctx->daemons = hub;
    return 0;
}

void gw_daemon_ws_quiesce(struct gw_ctx *ctx)
{
    if (ctx->daemons != NULL)
        mc_stop_raise(&ctx->daemons->stop);
}

void gw_daemon_ws_stop(struct gw_ctx *ctx)
{
    struct gw_daemon_hub *hub = ctx->daemons;
    if (hub == NULL)
        return;
    pthread_mutex_destroy(&hub->mu);
    free(hub);
    ctx->daemons = NULL;
}

static bool serves(const struct daemon_conn *c, const char *runtime)
{
    for (int i = 0; i < c->nruntimes; i++)
        if (strcmp(c->runtimes[i], runtime) == 0)
            return true;
    return false;
}

void gw_daemon_ws_task_available(struct gw_ctx *ctx, const char *runtime, const char *task)
{
    struct gw_daemon_hub *hub = ctx->daemons;
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    for (struct daemon_conn *c = hub->conns; c; c = c->next) {
        if (!serves(c, runtime))
            continue;
        pthread_mutex_lock(&c->mu);
        /* One pending wake-up is enough: the daemon claims for all its runtimes at once. */
        if (!c->wake) {
            c->wake = true;
            snprintf(c->wake_runtime, sizeof c->wake_runtime, "%s", runtime);
            snprintf(c->wake_task, sizeof c->wake_task, "%s", task ? task : "");
            pthread_cond_signal(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&hub->mu);
}

void gw_daemon_ws_sweep(struct gw_ctx *ctx, mc_db *db)
{
    struct gw_daemon_hub *hub = ctx->daemons;
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    int n = hub->nconns;
    pthread_mutex_unlock(&hub->mu);
    if (n == 0)
        return; /* nobody to wake: spare the query */
    PGresult *r = NULL;
    if (mc_db_exec(db, GW_CLAIMABLE_RUNTIMES, 0, NULL, &r) == 0)
        for (int i = 0; i < PQntuples(r); i++)
            gw_daemon_ws_task_available(ctx, PQgetvalue(r, i, 0), NULL);
    PQclear(r);
}

static void queue_ack(struct daemon_conn *c, json_t *payload)
{
    json_t *msg = json_pack("{ss so}", "type", "daemon:heartbeat_ack", "payload", payload);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->nacks == MAX_ACKS) {
        /* A daemon this far behind is not reading; its oldest ack is worth least. */
        free(c->acks[0]);
        memmove(c->acks, c->acks + 1, (MAX_ACKS - 1) * sizeof c->acks[0]);
        c->nacks--;
    }
    c->acks[c->nacks++] = text;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void heartbeat(struct daemon_conn *c, const json_t *payload)
{
    const char *rt = json_string_value(json_object_get(payload, "runtime_id"));
    if (rt == NULL)
        return;
    int err = 0;
    mc_db *db = mc_db_pool_acquire(c->ctx->pool, 2000, &err);
    if (db == NULL)
        return; /* no ack: the daemon falls back to its HTTP heartbeat */
    int rc = gw_runtime_heartbeat(c->ctx, db, rt, c->user_id);
    mc_db_pool_release(c->ctx->pool, db);
    if (rc == 0)
        queue_ack(c, json_pack("{ss ss}", "runtime_id", rt, "status", "ok"));
    else if (rc == MC_ENOTFOUND)
        queue_ack(c, json_pack("{ss ss sb}", "runtime_id", rt, "status", "ok", "runtime_gone", 1));
}

static void on_message(const struct _u_request *req, struct _websocket_manager *wsm,
                       const struct _websocket_message *msg, void *ud)
{
    (void)req;
    wsm->keep_messages = U_WEBSOCKET_KEEP_NONE;
    if (msg->opcode != U_WEBSOCKET_OPCODE_TEXT)
        return;
    json_t *in = json_loadb(msg->data, msg->data_len, 0, NULL);
    const char *type = json_string_value(json_object_get(in, "type"));
    if (type != NULL && strcmp(type, "daemon:heartbeat") == 0)
        heartbeat(ud, json_object_get(in, "payload"));
    json_decref(in);
}

/* Sends text; false when the daemon is gone or not reading. */
static bool send_text(struct _websocket_manager *wsm, const char *text)
{
    return ulfius_websocket_send_message(wsm, U_WEBSOCKET_OPCODE_TEXT, strlen(text), text) == U_OK;
}

static void manage(const struct _u_request *req, struct _websocket_manager *wsm, void *ud)
{
    (void)req;
    struct daemon_conn *c = ud;
    struct gw_daemon_hub *hub = c->ctx->daemons;
    wsm->keep_messages = U_WEBSOCKET_KEEP_NONE;
    pthread_mutex_lock(&hub->mu);
    c->next = hub->conns;
    hub->conns = c;
    hub->nconns++;
    c->registered = true;
    pthread_mutex_unlock(&hub->mu);
    mc_metric_add(c->ctx->m.daemon_clients, 1);
    int64_t last_sent = mc_now_mono_ms();
    bool ok = true;
    while (ok && !mc_stop_raised(&hub->stop) &&
           ulfius_websocket_status(wsm) == U_WEBSOCKET_STATUS_OPEN) {
        pthread_mutex_lock(&c->mu);
        if (c->nacks == 0 && !c->wake) {
            struct timespec until;
            mc_abstime_after(200, &until);
            pthread_cond_timedwait(&c->cv, &c->mu, &until);
        }
        char *acks[MAX_ACKS];
        int nacks = c->nacks;
        memcpy(acks, c->acks, (size_t)nacks * sizeof acks[0]);
        c->nacks = 0;
        char *wake = NULL;
        if (c->wake) {
            wake = mc_sprintf("{\"type\":\"daemon:task_available\",\"payload\":{\"runtime_id\":"
                              "\"%s\"%s%s%s}}",
                              c->wake_runtime, c->wake_task[0] ? ",\"task_id\":\"" : "",
                              c->wake_task, c->wake_task[0] ? "\"" : "");
            c->wake = false;
        }
        pthread_mutex_unlock(&c->mu);
        for (int i = 0; i < nacks; i++) {
            ok = ok && send_text(wsm, acks[i]);
            free(acks[i]);
        }
        if (wake != NULL)
            ok = ok && send_text(wsm, wake);
        free(wake);
        if (nacks > 0 || wake != NULL)
            last_sent = mc_now_mono_ms();
        else if (mc_now_mono_ms() - last_sent >= PING_MS) {
            ok = ulfius_websocket_send_message(wsm, U_WEBSOCKET_OPCODE_PING, 0, NULL) == U_OK;
            last_sent = mc_now_mono_ms();
        }
    }
    if (!ok)
        ulfius_websocket_send_close_signal(wsm);
}

static void conn_free(struct daemon_conn *c)
{
    for (int i = 0; i < c->nacks; i++)
        free(c->acks[i]);
    free(c->runtimes);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void on_close(const struct _u_request *req, struct _websocket_manager *wsm, void *ud)
{
    (void)req;
    (void)wsm;
    struct daemon_conn *c = ud;
    struct gw_daemon_hub *hub = c->ctx->daemons;
    pthread_mutex_lock(&hub->mu);
    for (struct daemon_conn **p = &hub->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            hub->nconns--;
            break;
        }
    }
    pthread_mutex_unlock(&hub->mu);
    if (c->registered)
        mc_metric_add(c->ctx->m.daemon_clients, -1);
    conn_free(c);
}

/* Keeps the runtimes of ?runtime_ids= that the caller may use (of a workspace they belong
 * to); others are dropped, so a daemon learns nothing of runtimes that are not its user's. */
static int read_runtimes(struct gw_ctx *ctx, struct daemon_conn *c, const char *list,
                         struct _u_response *resp)
{
    c->runtimes = mc_calloc(MAX_RUNTIMES, sizeof *c->runtimes);
    if (list == NULL || *list == '\0')
        return 0;
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        return MC_EDBCONN;
    char *copy = mc_strdup(list), *save = NULL;
    for (char *id = strtok_r(copy, ",", &save); id && c->nruntimes < MAX_RUNTIMES;
         id = strtok_r(NULL, ",", &save)) {
        PGresult *r = NULL;
        const char *p[] = {id};
        char role[16];
        if (mc_uuid_valid(id) && mc_db_exec(db, GW_RUNTIME_WORKSPACE, 1, p, &r) == 0 &&
            PQntuples(r) == 1 && gw_member_role(db, PQgetvalue(r, 0, 0), c->user_id, role) == 0)
            snprintf(c->runtimes[c->nruntimes++], MC_UUID_STRLEN, "%s", id);
        PQclear(r);
    }
    free(copy);
    gw_db_release(ctx, db);
    return 0;
}

int gw_daemon_ws_connect(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    struct daemon_conn *c = mc_calloc(1, sizeof *c);
    c->ctx = ctx;
    snprintf(c->user_id, sizeof c->user_id, "%s", gw_principal(resp)->user_id);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (read_runtimes(ctx, c, u_map_get(req->map_url, "runtime_ids"), resp) != 0) {
        conn_free(c);
        return U_CALLBACK_COMPLETE;
    }
    if (ulfius_set_websocket_response(resp, NULL, NULL, manage, c, on_message, c, on_close, c) !=
        U_OK) {
        conn_free(c);
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "Upgrade",
                      "this route needs a WebSocket handshake");
    }
    return U_CALLBACK_COMPLETE;
}
