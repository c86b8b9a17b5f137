/* main.c: multica-task-dispatcher wiring: config, database, Kafka, threads, HTTP, signals. */
#include "dispatcher.h"
#include "mc_common.h"
#include "mc_log.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    struct mc_service svc;
    struct td_dispatcher td = {.svc = &svc};
    struct td_settings *c = &td.cfg;
    const struct mc_config_var vars[] = {
        {"KAFKA_GROUP_ID", MC_CFG_STRING, "multica-task-dispatcher", 0, 0, &c->group,
         "consumer group of the dispatchers"},
        {"DISPATCH_INTERVAL", MC_CFG_DURATION, "200ms", 10, 60000, &c->dispatch_interval_ms,
         "how often timers run and queued tasks are dispatched (also right after each batch)"},
        {"DISPATCH_LEASE", MC_CFG_DURATION, "90s", 1000, 86400000, &c->lease_ms,
         "how long a dispatched task may wait for its start before it is requeued"},
        {"RUNNING_TIMEOUT", MC_CFG_DURATION, "10m", 1000, 7 * 86400000LL, &c->running_timeout_ms,
         "how long a running task may go without progress or a heartbeat of its runtime"},
        {"MAX_ATTEMPTS", MC_CFG_INT, "3", 1, 100, &c->max_attempts,
         "attempts before a running timeout fails the task instead of requeueing it"},
        {"QUEUED_TTL", MC_CFG_DURATION, "2h", 1000, 30 * 86400000LL, &c->queued_ttl_ms,
         "how long a task may wait in the queue before it is cancelled as expired"},
        {"RUNTIME_ONLINE_WINDOW", MC_CFG_DURATION, "150s", 1000, 86400000, &c->online_window_ms,
         "a runtime counts as online if seen within this window"},
        {"COMMAND_BATCH_MAX", MC_CFG_INT, "500", 1, 100000, &c->batch_max,
         "commands per batch (one transaction)"},
        {"COMMAND_BATCH_WAIT", MC_CFG_DURATION, "2ms", 1, 10000, &c->batch_wait_ms,
         "longest a batch waits before it is applied"},
        {"OUTBOX_BATCH_MAX", MC_CFG_INT, "500", 1, 100000, &c->outbox_batch_max,
         "task events produced per relay round"},
        {"DISPATCH_AGING_INTERVAL", MC_CFG_DURATION, "5m", 100, 7 * 86400000LL, &c->aging_ms,
         "waiting this long counts as one priority level: a task of priority p is overtaken by no "
         "task requested more than (4 - p) times this after it"},
        {"WORKSPACE_MAX_CONCURRENT_TASKS", MC_CFG_INT, "0", 0, 1000000, &c->workspace_max,
         "most tasks of one workspace dispatched or running at once (0: no cap)"},
        {"DISPATCH_WAIT_NOTICE", MC_CFG_DURATION, "10s", 0, 86400000, &c->wait_notice_ms,
         "a task queued this long gets its wait reason (and a TaskWaiting event per change)"},
    };
    if (mc_service_init(&svc, "task-dispatcher", "dispatch", 8081, vars, MC_ARRAY_LEN(vars), argc,
                        argv) != 0)
        return 2;
    mc_worker_init(&td.dispatcher);
    td_metrics_register(&td);
    int status = 1;
    char err[512];
    td.db = mc_db_new(svc.cfg.database_url, td_stmts, td_nstmts, "task-dispatcher");
    td.producer =
        mc_producer_new(svc.cfg.kafka_brokers, "multica-task-dispatcher", 10000, err, sizeof err);
    if (td.producer == NULL) {
        fprintf(stderr, "multica-task-dispatcher: kafka: %s\n", err);
        goto cleanup;
    }
    td_relay_new(&td);
    if (mc_http_start(svc.http) != 0)
        goto cleanup;
    mc_service_migrate(&svc);
    const char *topics[] = {MC_TOPIC_TASK_COMMANDS, MC_TOPIC_RUNTIME_EVENTS};
    const struct mc_consumer_hooks hooks = {td_on_assign, td_on_revoke, mc_service_keep_trying,
                                            &td};
    td.consumer =
        mc_consumer_new(svc.cfg.kafka_brokers, c->group, topics, 2, &hooks, err, sizeof err);
    if (td.consumer == NULL) {
        fprintf(stderr, "multica-task-dispatcher: kafka: %s\n", err);
        goto cleanup;
    }
    mc_service_watch_kafka(&svc, mc_consumer_handle(td.consumer));
    mc_service_watch_consumer(&svc, td.consumer);
    if (mc_outbox_start(td.relay) != 0 || td_dispatch_start(&td) != 0)
        goto cleanup;
    mc_log_info(json_pack("{ss sI sI sI sI sI}", "group", c->group, "dispatch_interval_ms",
                          (json_int_t)c->dispatch_interval_ms, "lease_ms", (json_int_t)c->lease_ms,
                          "running_timeout_ms", (json_int_t)c->running_timeout_ms, "queued_ttl_ms",
                          (json_int_t)c->queued_ttl_ms, "online_window_ms",
                          (json_int_t)c->online_window_ms),
                "dispatching");
    status = td_run_commands(&td) == 0 ? 0 : 1;
    mc_log_info(NULL, "stopping");
cleanup:
    /* Stop answering HTTP, then stop the threads in the order that lets the relay produce
     * every event the others committed, then leave the group and flush the producer. */
    mc_http_free(svc.http);
    svc.http = NULL;
    mc_service_request_stop();
    mc_worker_stop(&td.dispatcher);
    mc_outbox_free(td.relay);
    mc_service_watch_kafka(&svc, NULL);
    mc_service_watch_consumer(&svc, NULL);
    mc_consumer_close(td.consumer);
    mc_producer_free(td.producer, (int)svc.cfg.shutdown_grace);
    mc_db_free(td.db);
    td_batch_free(&td.batch);
    mc_service_close(&svc);
    return status;
}
