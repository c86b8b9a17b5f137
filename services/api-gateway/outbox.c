/* outbox.c: events written in the transaction of the change they announce, then produced.
 *
 * Handlers insert the encoded event into gateway.outbox inside their transaction, so a
 * committed change always has its event; the relay thread (one per cluster, by advisory lock)
 * produces outbox rows in order, waits for the broker's acknowledgement, then deletes them.
 * A crash between the two produces an event twice; consumers are idempotent. */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RELAY_PAGE "500"

int gw_outbox_add(mc_db *db, const char *type, const char *subject, const char *key, json_t *data)
{
    const struct mc_event_type *t = mc_event_type_find(type);
    char *payload = mc_event_encode(type, "api-gateway", subject, data, NULL);
    if (t == NULL || payload == NULL) {
        free(payload);
        return MC_EINVAL;
    }
    const char *p[] = {t->topic, key, payload};
    int rc = mc_db_exec(db, GW_OUTBOX_INSERT, 3, p, NULL);
    free(payload);
    return rc;
}

void gw_outbox_kick(struct gw_ctx *ctx)
{
    pthread_mutex_lock(&ctx->relay_mu);
    ctx->relay_wake = true;
    pthread_cond_signal(&ctx->relay_cv);
    pthread_mutex_unlock(&ctx->relay_mu);
}

static void wait_for_work(struct gw_ctx *ctx, int ms)
{
    struct timespec until;
    mc_abstime_after(ms, &until);
    pthread_mutex_lock(&ctx->relay_mu);
    if (!ctx->relay_wake && ctx->relay_running)
        pthread_cond_timedwait(&ctx->relay_cv, &ctx->relay_mu, &until);
    ctx->relay_wake = false;
    pthread_mutex_unlock(&ctx->relay_mu);
}

/* Produces one page; returns the number of rows published, or -1 on failure. */
static int relay_page(struct gw_ctx *ctx, mc_db *db)
{
    const char *p[] = {RELAY_PAGE};
    PGresult *r = NULL;
    if (mc_db_exec(db, GW_OUTBOX_TAKE, 1, p, &r) != 0) {
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    struct mc_kmsg *msgs = calloc((size_t)n, sizeof *msgs);
    for (int i = 0; i < n; i++)
        msgs[i] = (struct mc_kmsg){.topic = PQgetvalue(r, i, 1),
                                   .key = PQgetvalue(r, i, 2),
                                   .keylen = strlen(PQgetvalue(r, i, 2)),
                                   .value = PQgetvalue(r, i, 3),
                                   .len = strlen(PQgetvalue(r, i, 3))};
    int published = -1;
    struct mc_pgarr seqs = {0};
    for (int i = 0; i < n; i++)
        mc_pgarr_add_raw(&seqs, PQgetvalue(r, i, 0));
    if (mc_producer_send(ctx->producer, msgs, (size_t)n) == 0) {
        const char *d[] = {mc_pgarr_str(&seqs)};
        if (mc_db_exec(db, GW_OUTBOX_DELETE, 1, d, NULL) == 0) {
            published = n;
            mc_metric_add(ctx->m.outbox_published, n);
        }
    } else {
        mc_log_warn(json_pack("{si}", "events", n), "broker did not take outbox events; retrying");
    }
    mc_pgarr_free(&seqs);
    free(msgs);
    PQclear(r);
    return published;
}

static void *relay_loop(void *arg)
{
    struct gw_ctx *ctx = arg;
    mc_db *db = mc_db_new(ctx->svc->cfg.database_url, gw_stmts, GW_NSTMTS, "api-gateway-outbox");
    bool leader = false;
    while (ctx->relay_running) {
        if (!mc_db_connected(db))
            leader = false; /* the session lock went with the connection */
        if (!leader) {
            PGresult *r = NULL;
            leader = mc_db_exec(db, GW_OUTBOX_LOCK, 0, NULL, &r) == 0 && mc_db_value(r) &&
                     strcmp(mc_db_value(r), "t") == 0;
            PQclear(r);
            if (!leader) {
                wait_for_work(ctx, 1000);
                continue;
            }
        }
        int n = relay_page(ctx, db);
        if (n < 0)
            wait_for_work(ctx, 500);
        else if (n < atoi(RELAY_PAGE))
            wait_for_work(ctx, 1000);
    }
    /* Stopping: one last pass so what was accepted just before SIGTERM is not left behind. */
    if (leader)
        relay_page(ctx, db);
    mc_db_free(db);
    return NULL;
}

int gw_outbox_start(struct gw_ctx *ctx)
{
    pthread_mutex_init(&ctx->relay_mu, NULL);
    pthread_cond_init(&ctx->relay_cv, NULL);
    ctx->relay_running = true;
    if (pthread_create(&ctx->relay, NULL, relay_loop, ctx) != 0) {
        ctx->relay_running = false;
        return MC_ENOMEM;
    }
    return 0;
}

void gw_outbox_stop(struct gw_ctx *ctx)
{
    pthread_mutex_lock(&ctx->relay_mu);
    bool running = ctx->relay_running;
    ctx->relay_running = false;
    pthread_cond_signal(&ctx->relay_cv);
    pthread_mutex_unlock(&ctx->relay_mu);
    if (running) {
        pthread_join(ctx->relay, NULL);
        pthread_cond_destroy(&ctx->relay_cv);
        pthread_mutex_destroy(&ctx->relay_mu);
    }
}
