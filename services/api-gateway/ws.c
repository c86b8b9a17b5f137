/* ws.c: the WebSocket hub behind GET /api/ws, and the listener that also wakes daemons.
 *
 * People (a session or personal access token) subscribe to a workspace, an issue or a task and
 * receive task events as they happen, {"type":"event","seq":N,"event":{CloudEvent}}, and what
 * the task's agent streams, {"type":"task_message","message":{task_id, issue_id, seq, type,
 * content, ...}}. Events reach every gateway replica through Postgres: the projection writes
 * the log and kicks its replica's listener (a NOTIFY's commit takes a global lock); every
 * listener reads the log in seq order when kicked and every LOG_POLL_MS (the other replicas'
 * events), and queues matching events on its own connections. A reconnecting client passes the last
 * seq it saw ("since") and gets what it missed from the log, possibly with duplicates it drops by
 * seq. Messages are read from gateway.task_messages by the transactions that wrote them, those
 * committed since the listener's previous snapshot (gateway.task_messages_ended), at its
 * rounds but at most once per LOG_POLL_MS: no NOTIFY, and no writer added to the log (a second
 * writer would commit seqs out of order, and a listener reading past the highest seq it saw
 * would skip the late ones). A client that missed messages reads them with
 * GET /api/tasks/{id}/messages. The same listener tells daemons (daemon_ws.c) when a runtime of
 * theirs got a task: at each logged dispatch, and every SWEEP_MS for tasks no claim holds.
 *
 * Each connection has a bounded queue drained by its own thread, and nobody else ever waits for
 * it. Events arrive in bursts (the projection commits what it has fetched in one transaction),
 * so the limit (WS_QUEUE_LIMIT) judges a client over time, not at an instant: one whose queue
 * has stayed at or above the limit for WS_BEHIND_MS is too slow and is disconnected, and so is
 * one whose queue reaches WS_HARD_FACTOR times the limit (the memory bound). A healthy client
 * drains a burst in milliseconds. A subscription ends with its workspace membership, and the
 * connection with its token (ws_standing.c, which the listener runs every GW_STANDING_MS). */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBS       32
#define LOG_PAGE       "500"
#define WS_BEHIND_MS   2000
#define WS_HARD_FACTOR 4
#define SWEEP_MS       5000
#define LOG_POLL_MS    20

struct sub {
    char kind; /* 'w' workspace, 'i' issue, 't' task */
    char id[MC_UUID_STRLEN];
    char ws[MC_UUID_STRLEN]; /* the workspace it is in: it ends with the membership */
};

struct client {
    struct gw_ctx *ctx;
    struct gw_principal who;
    struct sub subs[MAX_SUBS];
    int nsubs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **queue;
    size_t head, len, cap;
    int64_t behind_ms; /* since when the queue has been at or above the limit; 0: it is not */
    bool overflow;
    const char *closing; /* why the connection is to be closed (set under both locks) */
    bool registered;
    struct client *next;
};

struct gw_ws_hub {
    pthread_mutex_t mu;
    struct client *clients;
    struct mc_worker listener; /* its stop request also tells connections to finish */
    int64_t last_seq;
    char *msg_snapshot; /* the snapshot of the last read of task messages; NULL: none yet */
    int64_t next_msgs;  /* monotonic ms before which the messages are not read again */
};

/* ---- queues ---- */

/* True when the client is too slow: at or over the limit for WS_BEHIND_MS, or at the hard
 * bound. Marks it for disconnection (counted once). Called with c->mu held. */
static bool overflowing(struct client *c, int64_t now_ms)
{
    size_t limit = (size_t)c->ctx->ws_queue_limit;
    if (c->overflow)
        return true;
    if (c->len < limit) {
        c->behind_ms = 0;
        return false;
    }
    if (c->behind_ms == 0)
        c->behind_ms = now_ms;
    if (c->len < limit * WS_HARD_FACTOR && now_ms - c->behind_ms < WS_BEHIND_MS)
        return false;
    c->overflow = true;
    mc_metric_add(c->ctx->m.ws_dropped, 1);
    pthread_cond_signal(&c->cv);
    return true;
}

/* Queues a copy of text, unless the client is overflowing (then it is to be disconnected). */
static void enqueue(struct client *c, const char *text)
{
    pthread_mutex_lock(&c->mu);
    if (overflowing(c, mc_now_mono_ms())) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        char **q = mc_calloc(cap, sizeof *q);
        for (size_t i = 0; i < c->len; i++)
            q[i] = c->queue[(c->head + i) % c->cap];
        free(c->queue);
        c->queue = q;
        c->cap = cap;
        c->head = 0;
    }
    c->queue[(c->head + c->len) % c->cap] = mc_strdup(text);
    c->len++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static char *dequeue(struct client *c)
{
    if (c->len == 0)
        return NULL;
    char *m = c->queue[c->head];
    c->head = (c->head + 1) % c->cap;
    c->len--;
    return m;
}

static void send_json(struct client *c, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text != NULL)
        enqueue(c, text);
    free(text);
    json_decref(msg);
}

/* ---- matching ---- */

struct logrow {
    const char *seq, *workspace, *issue, *task, *runtime, *old_runtime, *event, *type;
};

static bool wants(const struct client *c, const struct logrow *r)
{
    for (int i = 0; i < c->nsubs; i++) {
        const struct sub *s = &c->subs[i];
        const char *v = s->kind == 'w' ? r->workspace : s->kind == 'i' ? r->issue : r->task;
        if (v != NULL && strcmp(v, s->id) == 0)
            return true;
    }
    return false;
}

static char *event_message(const struct logrow *r)
{
    return mc_sprintf("{\"type\":\"event\",\"seq\":%s,\"event\":%s}", r->seq, r->event);
}

static struct logrow row_at(const PGresult *res, int i)
{
    struct logrow r = {PQgetvalue(res, i, 0),
                       PQgetvalue(res, i, 1),
                       PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2),
                       PQgetvalue(res, i, 3),
                       PQgetvalue(res, i, 4),
                       PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
                       PQgetvalue(res, i, 6),
                       PQgetvalue(res, i, 7)};
    return r;
}

/* Sends the client what the log holds after `since` for it (a reconnect's catch-up). */
static void replay(struct client *c, mc_db *db, long long since)
{
    char from[24];
    for (;;) {
        snprintf(from, sizeof from, "%lld", since);
        const char *p[] = {from, LOG_PAGE};
        PGresult *r = NULL;
        if (mc_db_exec(db, GW_LOG_SINCE, 2, p, &r) != 0 || PQntuples(r) == 0) {
            PQclear(r);
            return;
        }
        /* Under the hub's lock: a recheck may end subscriptions meanwhile. */
        pthread_mutex_lock(&c->ctx->hub->mu);
        for (int i = 0; i < PQntuples(r); i++) {
            struct logrow row = row_at(r, i);
            since = atoll(row.seq);
            if (wants(c, &row)) {
                char *m = event_message(&row);
                enqueue(c, m);
                free(m);
            }
        }
        pthread_mutex_unlock(&c->ctx->hub->mu);
        int n = PQntuples(r);
        PQclear(r);
        if (n < atoi(LOG_PAGE))
            return;
    }
}

/* ---- the listener: projection kick or poll -> log -> queues ---- */

static void deliver_new(struct gw_ctx *ctx, struct gw_ws_hub *hub, mc_db *db)
{
    char from[24];
    for (;;) {
        snprintf(from, sizeof from, "%lld", (long long)hub->last_seq);
        const char *p[] = {from, LOG_PAGE};
        PGresult *r = NULL;
        if (mc_db_exec(db, GW_LOG_SINCE, 2, p, &r) != 0 || PQntuples(r) == 0) {
            PQclear(r);
            return;
        }
        pthread_mutex_lock(&hub->mu);
        for (int i = 0; i < PQntuples(r); i++) {
            struct logrow row = row_at(r, i);
            hub->last_seq = atoll(row.seq);
            char *m = NULL;
            for (struct client *c = hub->clients; c; c = c->next) {
                if (!wants(c, &row))
                    continue;
                if (m == NULL)
                    m = event_message(&row);
                enqueue(c, m);
            }
            free(m);
            if (strcmp(row.type, MC_EV_TASK_DISPATCHED) == 0)
                gw_daemon_ws_task_available(ctx, row.runtime, row.task);
        }
        pthread_mutex_unlock(&hub->mu);
        int n = PQntuples(r);
        PQclear(r);
        if (n < atoi(LOG_PAGE))
            return;
    }
}

/* Passes the messages committed since the last call to their watchers
 * (gateway.task_messages_ended: by their transactions, against the snapshot of the last call).
 * Without a snapshot yet (a new connection), it takes one: messages committed before it are
 * not sent, as a NOTIFY sent before LISTEN was not; nor are those committed while no client
 * was connected. A watcher that missed some reads them with GET /api/tasks/{id}/messages. */
static void deliver_messages(struct gw_ws_hub *hub, mc_db *db)
{
    pthread_mutex_lock(&hub->mu);
    bool watched = hub->clients != NULL;
    pthread_mutex_unlock(&hub->mu);
    if (!watched) { /* nobody to send to: spare the read, and start afresh with the next client */
        free(hub->msg_snapshot);
        hub->msg_snapshot = NULL;
        return;
    }
    const char *p[] = {hub->msg_snapshot};
    PGresult *r = NULL;
    if (mc_db_exec(db, GW_TASK_MESSAGES_ENDED, 1, p, &r) != 0 || PQntuples(r) == 0) {
        PQclear(r);
        return;
    }
    pthread_mutex_lock(&hub->mu);
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 1) || PQgetisnull(r, i, 2))
            continue; /* no message (only the snapshot), or its task is gone */
        struct logrow who = {.task = PQgetvalue(r, i, 1),
                             .workspace = PQgetvalue(r, i, 2),
                             .issue = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3)};
        char *m = NULL;
        for (struct client *c = hub->clients; c; c = c->next) {
            if (!wants(c, &who))
                continue;
            if (m == NULL)
                m = mc_sprintf("{\"type\":\"task_message\",\"message\":%s}", PQgetvalue(r, i, 4));
            enqueue(c, m);
        }
        free(m);
    }
    pthread_mutex_unlock(&hub->mu);
    free(hub->msg_snapshot);
    hub->msg_snapshot = mc_strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* A client that got a burst and then fell behind gets no further enqueue to notice it: the
 * listener looks at every queue a few times a second. */
static void sweep_stalled(struct gw_ws_hub *hub)
{
    int64_t now = mc_now_mono_ms();
    pthread_mutex_lock(&hub->mu);
    for (struct client *c = hub->clients; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        overflowing(c, now);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&hub->mu);
}

static void *listen_loop(void *arg)
{
    struct gw_ctx *ctx = arg;
    struct gw_ws_hub *hub = ctx->hub;
    mc_db *db = mc_db_new(ctx->svc->cfg.database_url, gw_stmts, GW_NSTMTS, "api-gateway-ws");
    bool caught_up = false;
    int64_t next_sweep = 0, next_standing = 0;
    while (!mc_worker_stopping(&hub->listener)) {
        if (!mc_db_connected(db) || !caught_up) {
            if (mc_db_ensure(db, 0) != 0) {
                mc_worker_wait(&hub->listener, 500);
                continue;
            }
            if (hub->last_seq == 0) {
                PGresult *r = NULL;
                if (mc_db_exec(db, GW_LOG_MAX, 0, NULL, &r) == 0)
                    hub->last_seq = atoll(mc_db_value(r));
                PQclear(r);
            }
            caught_up = true;
            deliver_new(ctx, hub, db); /* what was logged while we were not connected */
            deliver_messages(hub, db);
        }
        /* Kicked by this replica's projection; the other replicas' events and every message
         * wait for the poll. No LISTEN: a NOTIFY's commit takes a global lock. */
        mc_worker_wait(&hub->listener, LOG_POLL_MS);
        deliver_new(ctx, hub, db); /* first: it wakes the daemons of new dispatches */
        /* The messages at most once per LOG_POLL_MS: the projection's kicks (one a commit,
         * 80-90 a second under load) say nothing about them, and each read is a statement. */
        if (mc_now_mono_ms() >= hub->next_msgs) {
            deliver_messages(hub, db);
            hub->next_msgs = mc_now_mono_ms() + LOG_POLL_MS;
        }
        if (mc_now_mono_ms() >= next_sweep) {
            gw_daemon_ws_sweep(ctx, db);
            next_sweep = mc_now_mono_ms() + SWEEP_MS;
        }
        if (mc_now_mono_ms() >= next_standing) {
            gw_sockets_recheck(ctx, db);
            next_standing = mc_now_mono_ms() + GW_STANDING_MS;
        }
        sweep_stalled(hub);
    }
    mc_db_free(db);
    return NULL;
}

int gw_ws_start(struct gw_ctx *ctx)
{
    struct gw_ws_hub *hub = mc_calloc(1, sizeof *hub);
    pthread_mutex_init(&hub->mu, NULL);
    ctx->hub = hub;
    mc_worker_init(&hub->listener);
    return mc_worker_start(&hub->listener, listen_loop, ctx);
}

void gw_ws_logged(struct gw_ctx *ctx)
{
    if (ctx->hub != NULL)
        mc_worker_kick(&ctx->hub->listener);
}

void gw_ws_quiesce(struct gw_ctx *ctx)
{
    if (ctx->hub != NULL)
        mc_worker_request_stop(&ctx->hub->listener);
}

void gw_ws_stop(struct gw_ctx *ctx)
{
    struct gw_ws_hub *hub = ctx->hub;
    if (hub == NULL)
        return;
    mc_worker_stop(&hub->listener);
    pthread_mutex_destroy(&hub->mu);
    free(hub->msg_snapshot);
    free(hub);
    ctx->hub = NULL;
}

/* ---- standing: what a connection rests on (ws_standing.c) ---- */

void gw_ws_collect(struct gw_ctx *ctx, struct gw_standing *st)
{
    struct gw_ws_hub *hub = ctx->hub;
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    for (struct client *c = hub->clients; c; c = c->next) {
        if (c->closing == NULL) /* a closing one has had its say */
            gw_standing_hold_token(st, c->who.pat_id);
        for (int i = 0; i < c->nsubs; i++)
            gw_standing_hold_member(st, c->subs[i].ws, c->who.user_id);
    }
    pthread_mutex_unlock(&hub->mu);
}

/* Ends the subscriptions of workspaces the person left, and the connection when its token
 * ended. Under the hub's lock, so the listener matches no further event against them. */
void gw_ws_apply(struct gw_ctx *ctx, const struct gw_standing *st)
{
    struct gw_ws_hub *hub = ctx->hub;
    if (hub == NULL)
        return;
    pthread_mutex_lock(&hub->mu);
    for (struct client *c = hub->clients; c; c = c->next) {
        const char *why = gw_standing_credential(st, c->who.pat_id, c->who.expires_at);
        if (why != NULL) {
            c->nsubs = 0;
            pthread_mutex_lock(&c->mu);
            c->closing = why;
            pthread_cond_signal(&c->cv);
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        int kept = 0;
        for (int i = 0; i < c->nsubs; i++) {
            const struct sub *s = &c->subs[i];
            if (!gw_standing_member_ended(st, s->ws, c->who.user_id))
                c->subs[kept++] = *s;
            else
                send_json(c, json_pack("{ss ss ss ss}", "type", "unsubscribed", "id", s->id,
                                       "workspace_id", s->ws, "reason", "membership_ended"));
        }
        c->nsubs = kept;
    }
    pthread_mutex_unlock(&hub->mu);
}

/* ---- connections ---- */

static void client_free(struct client *c)
{
    char *m;
    while ((m = dequeue(c)) != NULL)
        free(m);
    free(c->queue);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Checks that the user may watch scope kind/id: the workspace (directly, or of the issue or
 * task) must be theirs. Fills ws with it. */
static bool may_watch(mc_db *db, const struct client *c, char kind, const char *id,
                      char ws[MC_UUID_STRLEN])
{
    char role[16];
    ws[0] = '\0';
    if (kind == 'w') {
        snprintf(ws, MC_UUID_STRLEN, "%s", id);
    } else {
        PGresult *r = NULL;
        const char *p[] = {id};
        if (mc_db_exec(db, kind == 'i' ? GW_ISSUE_GET : GW_TASK_GET, 1, p, &r) == 0 &&
            PQntuples(r) == 1)
            snprintf(ws, MC_UUID_STRLEN, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    return ws[0] && gw_member_role(db, ws, c->who.user_id, role) == 0;
}

static void on_message(const struct _u_request *req, struct _websocket_manager *wsm,
                       const struct _websocket_message *msg, void *ud)
{
    (void)req;
    struct client *c = ud;
    wsm->keep_messages = U_WEBSOCKET_KEEP_NONE;
    if (msg->opcode != U_WEBSOCKET_OPCODE_TEXT)
        return;
    json_error_t e;
    json_t *in = json_loadb(msg->data, msg->data_len, 0, &e);
    const char *type = json_string_value(json_object_get(in, "type"));
    if (type != NULL && strcmp(type, "ping") == 0) {
        send_json(c, json_pack("{ss}", "type", "pong"));
    } else if (type != NULL && strcmp(type, "subscribe") == 0) {
        static const struct {
            const char *field;
            char kind;
        } scopes[] = {{"workspace_id", 'w'}, {"issue_id", 'i'}, {"task_id", 't'}};
        const char *id = NULL;
        char kind = 0;
        for (size_t i = 0; i < MC_ARRAY_LEN(scopes) && id == NULL; i++)
            if ((id = json_string_value(json_object_get(in, scopes[i].field))) != NULL)
                kind = scopes[i].kind;
        json_t *since_v = json_object_get(in, "since");
        int err = 0;
        mc_db *db = NULL;
        char ws[MC_UUID_STRLEN];
        if (id == NULL || !mc_uuid_valid(id)) {
            send_json(c, json_pack("{ss ss ss}", "type", "error", "field", "workspace_id",
                                   "message", "give workspace_id, issue_id or task_id (a UUID)"));
        } else if ((db = mc_db_pool_acquire(c->ctx->pool, 2000, &err)) == NULL) {
            send_json(c, json_pack("{ss ss}", "type", "error", "message", "database unavailable"));
        } else if (!may_watch(db, c, kind, id, ws) || c->nsubs >= MAX_SUBS) {
            send_json(c, json_pack("{ss ss}", "type", "error", "message",
                                   c->nsubs >= MAX_SUBS ? "too many subscriptions" : "not found"));
        } else {
            pthread_mutex_lock(&c->ctx->hub->mu);
            c->subs[c->nsubs].kind = kind;
            snprintf(c->subs[c->nsubs].id, MC_UUID_STRLEN, "%s", id);
            snprintf(c->subs[c->nsubs].ws, MC_UUID_STRLEN, "%s", ws);
            c->nsubs++;
            pthread_mutex_unlock(&c->ctx->hub->mu);
            send_json(c, json_pack("{ss ss}", "type", "subscribed", "id", id));
            if (json_is_integer(since_v))
                replay(c, db, (long long)json_integer_value(since_v));
        }
        if (db)
            mc_db_pool_release(c->ctx->pool, db);
    } else {
        send_json(c, json_pack("{ss ss}", "type", "error", "message",
                               "expected {\"type\":\"subscribe\",...} or {\"type\":\"ping\"}"));
    }
    json_decref(in);
}

static void manage(const struct _u_request *req, struct _websocket_manager *wsm, void *ud)
{
    (void)req;
    struct client *c = ud;
    struct gw_ws_hub *hub = c->ctx->hub;
    wsm->keep_messages = U_WEBSOCKET_KEEP_NONE;
    pthread_mutex_lock(&hub->mu);
    c->next = hub->clients;
    hub->clients = c;
    c->registered = true;
    pthread_mutex_unlock(&hub->mu);
    mc_metric_add(c->ctx->m.ws_clients, 1);
    send_json(c, json_pack("{ss ss}", "type", "hello", "principal", "user"));
    while (!mc_worker_stopping(&hub->listener) &&
           ulfius_websocket_status(wsm) == U_WEBSOCKET_STATUS_OPEN) {
        pthread_mutex_lock(&c->mu);
        if (c->len == 0 && !c->overflow && c->closing == NULL) {
            struct timespec until;
            mc_abstime_after(200, &until);
            pthread_cond_timedwait(&c->cv, &c->mu, &until);
        }
        bool overflow = c->overflow;
        const char *closing = c->closing;
        char *m = overflow || closing ? NULL : dequeue(c);
        pthread_mutex_unlock(&c->mu);
        if (closing != NULL) {
            gw_standing_close(wsm, c->who.user_id, closing);
            break;
        }
        if (overflow) {
            mc_log_info(json_pack("{ss}", "principal", c->who.user_id),
                        "websocket client too slow; disconnecting it");
            ulfius_websocket_send_close_signal(wsm);
            break;
        }
        if (m != NULL) {
            int sent = ulfius_websocket_send_message(wsm, U_WEBSOCKET_OPCODE_TEXT, strlen(m), m);
            free(m);
            if (sent != U_OK) {
                /* ulfius gives up on a socket that stays full: the client is not reading. Going
                 * on would drop this message silently; the client must reconnect with since. */
                pthread_mutex_lock(&c->mu);
                if (!c->overflow) {
                    c->overflow = true;
                    mc_metric_add(c->ctx->m.ws_dropped, 1);
                }
                pthread_mutex_unlock(&c->mu);
                mc_log_info(json_pack("{ss}", "principal", c->who.user_id),
                            "websocket send failed (client not reading); disconnecting it");
                ulfius_websocket_send_close_signal(wsm);
                break;
            }
            mc_metric_add(c->ctx->m.ws_sent, 1);
        }
    }
}

static void on_close(const struct _u_request *req, struct _websocket_manager *wsm, void *ud)
{
    (void)req;
    (void)wsm;
    struct client *c = ud;
    struct gw_ws_hub *hub = c->ctx->hub;
    pthread_mutex_lock(&hub->mu);
    for (struct client **p = &hub->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&hub->mu);
    if (c->registered)
        mc_metric_add(c->ctx->m.ws_clients, -1);
    client_free(c);
}

int gw_ws_connect(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    if (!gw_ws_handshake(req, resp))
        return U_CALLBACK_COMPLETE;
    struct gw_ctx *ctx = ud;
    struct client *c = mc_calloc(1, sizeof *c);
    c->ctx = ctx;
    c->who = *gw_principal(resp);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (ulfius_set_websocket_response(resp, NULL, NULL, manage, c, on_message, c, on_close, c) !=
        U_OK) {
        client_free(c);
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "Upgrade",
                      "this route needs a WebSocket handshake");
    }
    return U_CALLBACK_COMPLETE;
}
