/* main.c: multica-task-dispatcher wiring: config, database, Kafka, HTTP, signals. */
#include "mc_common.h"
#include "mc_kafka.h"
#include "mc_log.h"
#include "mc_service.h"

#include <stdio.h>

int main(void)
{
    struct mc_service svc;
    if (mc_service_init(&svc, "task-dispatcher", "dispatch", 8081, NULL, 0) != 0)
        return 2;
    char err[512];
    mc_producer *producer = mc_producer_new(svc.cfg.kafka_brokers, "multica-task-dispatcher", 10000, err,
                                            sizeof err);
    if (producer == NULL) {
        fprintf(stderr, "multica-task-dispatcher: kafka: %s\n", err);
        mc_service_close(&svc);
        return 2;
    }
    mc_service_watch_kafka(&svc, mc_producer_handle(producer));
    if (mc_http_start(svc.http) != 0) {
        mc_producer_free(producer, 0);
        mc_service_close(&svc);
        return 1;
    }
    mc_service_migrate(&svc);
    mc_service_wait();
    mc_log_info(NULL, "stopping");
    mc_http_free(svc.http);
    svc.http = NULL;
    mc_producer_free(producer, (int)svc.cfg.shutdown_grace);
    mc_service_close(&svc);
    return 0;
}
