/* projection.c: multica.task.events into the task read model and the WebSocket log.
 *
 * One consumer group across gateway replicas; each event is applied by version (replays and
 * duplicates change nothing) and logged once, and the offset is committed only after the
 * database has it. A database error retries the same event; nothing is skipped. */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <string.h>

#define PRUNE_EVERY_MS (10 * 60 * 1000)

static void commit(struct gw_ctx *ctx, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
        m->offset + 1;
    mc_consumer_commit(ctx->consumer, l, true);
    rd_kafka_topic_partition_list_destroy(l);
}

static void apply(struct gw_ctx *ctx, mc_db *db, const rd_kafka_message_t *m)
{
    struct mc_event ev;
    char reason[256];
    if (mc_event_decode(m->payload, m->payload ? m->len : 0, &ev, reason, sizeof reason) != 0 ||
        strcmp(mc_event_type_find(ev.type)->topic, MC_TOPIC_TASK_EVENTS) != 0) {
        mc_log_warn(json_pack("{ss si sI}", "reason", ev.type ? "not a task event" : reason,
                              "partition", (int)m->partition, "offset", (json_int_t)m->offset),
                    "skipping a malformed task event");
        mc_event_clear(&ev);
        return;
    }
    char *text = json_dumps(ev.root, JSON_COMPACT);
    const char *p[] = {text};
    while (ctx->projector_running) {
        int rc = mc_db_exec(db, GW_TASK_PROJECT, 1, p, NULL);
        if (rc == 0) {
            mc_metric_add(ctx->m.projected, 1);
            break;
        }
        mc_log_warn(json_pack("{ss}", "error", mc_db_errmsg(db)),
                    "cannot project a task event; retrying");
        mc_sleep_ms_interruptible(500, NULL);
    }
    free(text);
    mc_event_clear(&ev);
}

static void *project_loop(void *arg)
{
    struct gw_ctx *ctx = arg;
    mc_db *db = mc_db_new(ctx->svc->cfg.database_url, gw_stmts, GW_NSTMTS,
                          "api-gateway-projection");
    int64_t next_prune = mc_now_mono_ms() + PRUNE_EVERY_MS;
    while (ctx->projector_running) {
        rd_kafka_message_t *m = mc_consumer_poll(ctx->consumer, 200);
        if (m != NULL) {
            apply(ctx, db, m);
            if (ctx->projector_running)
                commit(ctx, m);
            rd_kafka_message_destroy(m);
        } else if (mc_now_mono_ms() >= next_prune) {
            char keep[24];
            snprintf(keep, sizeof keep, "%lld", (long long)ctx->log_retention_ms);
            const char *p[] = {keep};
            mc_db_exec(db, GW_LOG_PRUNE, 1, p, NULL);
            next_prune = mc_now_mono_ms() + PRUNE_EVERY_MS;
        }
    }
    mc_db_free(db);
    return NULL;
}

int gw_projection_start(struct gw_ctx *ctx)
{
    char err[512];
    const char *topics[] = {MC_TOPIC_TASK_EVENTS};
    ctx->consumer = mc_consumer_new(ctx->svc->cfg.kafka_brokers, ctx->group_id, topics, 1, NULL,
                                    err, sizeof err);
    if (ctx->consumer == NULL) {
        mc_log_error(json_pack("{ss}", "error", err), "cannot create the task-event consumer");
        return MC_EKAFKA;
    }
    ctx->projector_running = true;
    if (pthread_create(&ctx->projector, NULL, project_loop, ctx) != 0) {
        ctx->projector_running = false;
        return MC_ENOMEM;
    }
    return 0;
}

void gw_projection_stop(struct gw_ctx *ctx)
{
    if (ctx->projector_running) {
        ctx->projector_running = false;
        pthread_join(ctx->projector, NULL);
    }
    mc_consumer_close(ctx->consumer);
    ctx->consumer = NULL;
}
