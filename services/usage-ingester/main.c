/* main.c: multica-usage-ingester wiring: config, database, Kafka, HTTP, signals. */
#include "ingester.h"
#include "mc_common.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>

static void register_metrics(struct ui_ingester *ing)
{
    ing->m.consumed_usage = mc_counter("multica_ingester_events_consumed_total",
                                       "Messages consumed.", "topic=\"" MC_TOPIC_USAGE_EVENTS "\"");
    ing->m.consumed_task = mc_counter("multica_ingester_events_consumed_total",
                                      "Messages consumed.", "topic=\"" MC_TOPIC_TASK_EVENTS "\"");
    ing->m.rows = mc_counter("multica_ingester_rows_upserted_total",
                             "task_usage rows inserted or changed.", NULL);
    ing->m.attribution = mc_counter("multica_ingester_attribution_changes_total",
                                    "task_attribution rows inserted or changed.", NULL);
    ing->m.batches = mc_counter("multica_ingester_batches_total", "Batches committed.", NULL);
    ing->m.latency = mc_histogram("multica_ingester_batch_seconds",
                                  "Time to apply one batch (DLQ writes and the transaction).", NULL,
                                  mc_latency_buckets, mc_nlatency_buckets);
    ing->m.dlq = mc_counter("multica_ingester_dlq_total", "Messages sent to the DLQ.", NULL);
    ing->m.fenced =
        mc_counter("multica_ingester_fenced_batches_total",
                   "Batches dropped because another consumer had applied the range.", NULL);
    ing->m.db_errors = mc_counter("multica_ingester_db_errors_total",
                                  "Batches that failed to apply and were retried.", NULL);
    ing->m.skipped = mc_counter("multica_ingester_redelivered_total",
                                "Messages skipped because the database already holds them.", NULL);
    ing->m.gaps =
        mc_counter("multica_ingester_offsets_lost_total",
                   "Messages the broker deleted before they were applied (retention).", NULL);
    mc_gauge_fn("multica_ingester_consumer_lag",
                "Messages in assigned partitions not yet applied to the database.", NULL,
                ui_partitions_lag, ing);
}

int main(int argc, char **argv)
{
    struct mc_service svc;
    struct ui_ingester ing = {.svc = &svc};
    const struct mc_config_var vars[] = {
        {"KAFKA_GROUP_ID", MC_CFG_STRING, "multica-usage-ingester", 0, 0, &ing.group,
         "consumer group of the ingesters"},
        {"INGEST_BATCH_MAX", MC_CFG_INT, "4000", 1, 100000, &ing.batch_max,
         "rows per batch before it is applied"},
        {"INGEST_BATCH_WAIT", MC_CFG_DURATION, "50ms", 1, 60000, &ing.batch_wait_ms,
         "longest a batch waits before it is applied"},
        {"INGEST_APPLY_LANES", MC_CFG_INT, "2", 1, 16, &ing.nlanes,
         "batches applied at once, each on its own connection, by partition"},
        {"PROCESSED_EVENTS_RETENTION", MC_CFG_DURATION, "7d", 60000, 365LL * 86400000,
         &ing.retention_ms,
         "how long applied task and issue event ids are remembered for deduplication"},
    };
    if (mc_service_init(&svc, "usage-ingester", "usage", 8082, vars, MC_ARRAY_LEN(vars), argc,
                        argv) != 0)
        return 2;
    pthread_mutex_init(&ing.parts_mu, NULL);
    register_metrics(&ing);
    ui_missing_init(&ing);
    int status = 1;
    char err[512];
    ing.db = mc_db_new(svc.cfg.database_url, ui_stmts, ui_nstmts, "usage-ingester");
    ing.dlq_producer = mc_producer_new(svc.cfg.kafka_brokers, "multica-usage-ingester-dlq", 10000,
                                       err, sizeof err);
    if (ing.dlq_producer == NULL) {
        fprintf(stderr, "multica-usage-ingester: kafka: %s\n", err);
        goto cleanup;
    }
    if (ui_lanes_start(&ing, svc.cfg.database_url) != 0) {
        fprintf(stderr, "multica-usage-ingester: cannot start the database threads\n");
        goto cleanup;
    }
    if (mc_http_start(svc.http) != 0)
        goto cleanup;
    mc_service_migrate(&svc);
    const char *topics[] = {MC_TOPIC_USAGE_EVENTS, MC_TOPIC_TASK_EVENTS};
    const struct mc_consumer_hooks hooks = {ui_on_assign, ui_on_revoke, mc_service_keep_trying,
                                            &ing};
    ing.consumer =
        mc_consumer_new(svc.cfg.kafka_brokers, ing.group, topics, 2, &hooks, err, sizeof err);
    if (ing.consumer == NULL) {
        fprintf(stderr, "multica-usage-ingester: kafka: %s\n", err);
        goto cleanup;
    }
    mc_service_watch_kafka(&svc, mc_consumer_handle(ing.consumer));
    mc_service_watch_consumer(&svc, ing.consumer);
    mc_log_info(json_pack("{ss sI sI sI}", "group", ing.group, "batch_max",
                          (json_int_t)ing.batch_max, "batch_wait_ms", (json_int_t)ing.batch_wait_ms,
                          "apply_lanes", (json_int_t)ing.nlanes),
                "consuming");
    status = ui_run(&ing) == 0 ? 0 : 1;
    mc_log_info(NULL, "stopping");
cleanup:
    /* Stop answering HTTP first so nothing reads the consumer while it closes. */
    mc_http_free(svc.http);
    svc.http = NULL;
    mc_service_watch_kafka(&svc, NULL);
    mc_service_watch_consumer(&svc, NULL);
    mc_consumer_close(ing.consumer);
    ui_lanes_stop(&ing);
    mc_producer_free(ing.dlq_producer, (int)svc.cfg.shutdown_grace);
    mc_db_free(ing.db);
    free(ing.parts);
    ui_missing_free(&ing);
    pthread_mutex_destroy(&ing.parts_mu);
    mc_service_close(&svc);
    return status;
}
