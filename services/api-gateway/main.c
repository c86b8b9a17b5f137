/* main.c: multica-api-gateway wiring: config, database pool, Kafka, HTTP, signals. */
#include "gateway.h"
#include "mc_common.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>

static void register_metrics(struct gw_ctx *ctx)
{
    ctx->m.usage_accepted = mc_counter("multica_gateway_usage_entries_total",
                                       "Usage entries reported by daemons.", "result=\"accepted\"");
    ctx->m.usage_rejected = mc_counter("multica_gateway_usage_entries_total",
                                       "Usage entries reported by daemons.", "result=\"rejected\"");
    ctx->m.produce_failures = mc_counter("multica_gateway_produce_failures_total",
                                         "Events the broker did not acknowledge.", NULL);
}

int main(void)
{
    struct mc_service svc;
    struct gw_ctx ctx = {.svc = &svc};
    const struct mc_config_var vars[] = {
        {"GATEWAY_DB_POOL", MC_CFG_INT, "16", 1, 500, &ctx.db_pool_size,
         "database connections shared by request threads"},
        {"USAGE_MAX_ENTRIES", MC_CFG_INT, "100", 1, 10000, &ctx.usage_max_entries,
         "most usage entries in one report"},
        {"PRODUCE_TIMEOUT", MC_CFG_DURATION, "5s", 100, 300000, &ctx.produce_timeout_ms,
         "how long a request waits for the broker before answering 503"},
    };
    if (mc_service_init(&svc, "api-gateway", "gateway", 8080, vars, MC_ARRAY_LEN(vars)) != 0)
        return 2;
    register_metrics(&ctx);
    int status = 1;
    char err[512];
    ctx.pool = mc_db_pool_new(svc.cfg.database_url, gw_stmts, GW_NSTMTS, "api-gateway",
                              (int)ctx.db_pool_size);
    ctx.producer = mc_producer_new(svc.cfg.kafka_brokers, "multica-api-gateway",
                                   (int)ctx.produce_timeout_ms, err, sizeof err);
    if (ctx.pool == NULL || ctx.producer == NULL) {
        fprintf(stderr, "multica-api-gateway: %s\n", ctx.producer ? "out of memory" : err);
        goto cleanup;
    }
    mc_service_watch_kafka(&svc, mc_producer_handle(ctx.producer));
    if (gw_register_routes(&ctx) != 0 || mc_http_start(svc.http) != 0)
        goto cleanup;
    mc_service_migrate(&svc);
    mc_service_wait();
    mc_log_info(NULL, "stopping");
    status = 0;
cleanup:
    /* Stop accepting requests and let in-flight ones finish before their resources go. */
    mc_http_free(svc.http);
    svc.http = NULL;
    mc_producer_free(ctx.producer, (int)svc.cfg.shutdown_grace);
    mc_db_pool_free(ctx.pool);
    mc_service_close(&svc);
    return status;
}
