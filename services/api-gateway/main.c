/* main.c: multica-api-gateway wiring: config, database pool, Kafka, HTTP, signals.
 *
 *   multica-api-gateway            serve
 *   multica-api-gateway --routes   print the route table and exit */
#include "gateway.h"
#include "mc_common.h"
#include "mc_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEV_JWT_SECRET "dev-only-secret-change-me-0123456789abcdef"

static void register_metrics(struct gw_ctx *ctx)
{
    ctx->m.usage_accepted = mc_counter("multica_gateway_usage_entries_total",
                                       "Usage entries reported by daemons.", "result=\"accepted\"");
    ctx->m.usage_rejected = mc_counter("multica_gateway_usage_entries_total",
                                       "Usage entries reported by daemons.", "result=\"rejected\"");
    ctx->m.produce_failures = mc_counter("multica_gateway_produce_failures_total",
                                         "Events the broker did not acknowledge.", NULL);
    ctx->m.logins = mc_counter("multica_gateway_logins_total", "Successful logins.", NULL);
    ctx->m.login_failures =
        mc_counter("multica_gateway_login_failures_total", "Wrong login codes.", NULL);
    ctx->m.outbox_published = mc_counter("multica_gateway_outbox_published_total",
                                         "Outbox events produced to Kafka.", NULL);
    ctx->m.projected = mc_counter("multica_gateway_task_events_projected_total",
                                  "Task events applied to the read model.", NULL);
    ctx->m.ws_clients = mc_gauge("multica_gateway_websocket_clients", "Open WebSockets.", NULL);
    ctx->m.ws_sent = mc_counter("multica_gateway_websocket_messages_total",
                                "Messages sent to WebSocket clients.", NULL);
    ctx->m.ws_dropped = mc_counter("multica_gateway_websocket_overflows_total",
                                   "Clients disconnected for falling behind.", NULL);
    ctx->m.daemon_clients = mc_gauge("multica_gateway_daemon_connections",
                                     "Daemons connected to /api/daemon/ws.", NULL);
    ctx->m.claims =
        mc_counter("multica_gateway_claims_total", "Claim requests answered to daemons.", NULL);
    ctx->m.claimed = mc_counter("multica_gateway_claimed_tasks_total",
                                "Tasks handed out to daemons by claims.", NULL);
    /* The runtime daily read's kept rollup rows (usage_daily_cache.c): kept, read again from the
     * rollup, or the whole read in SQL. */
    const char *kept = "Runtime daily usage reads from the rollup, by how kept rows served them.";
    ctx->m.usage_kept_hits =
        mc_counter("multica_gateway_usage_kept_reads_total", kept, "result=\"hit\"");
    ctx->m.usage_kept_fills =
        mc_counter("multica_gateway_usage_kept_reads_total", kept, "result=\"fill\"");
    ctx->m.usage_kept_fallbacks =
        mc_counter("multica_gateway_usage_kept_reads_total", kept, "result=\"fallback\"");
    /* ... and those that priced only the unfolded changes they had not seen (the others kept). */
    ctx->m.usage_kept_changes =
        mc_counter("multica_gateway_usage_kept_reads_total", kept, "result=\"changes\"");
}

/* APP_ENV is production or development, in any case and with surrounding blanks, as Multica
 * reads it (strings.EqualFold after TrimSpace); anything else is refused, so that a typo can
 * never switch production safeguards off. */
static int read_app_env(struct gw_ctx *ctx)
{
    const char *v = ctx->app_env;
    size_t len = strlen(v);
    while (len > 0 && isspace((unsigned char)*v)) {
        v++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    if (len == strlen("production") && strncasecmp(v, "production", len) == 0) {
        ctx->production = true;
        return 0;
    }
    if (len == strlen("development") && strncasecmp(v, "development", len) == 0) {
        ctx->production = false;
        return 0;
    }
    fprintf(stderr,
            "multica-api-gateway: configuration error: APP_ENV: must be production or "
            "development, got '%s'\n",
            ctx->app_env);
    return MC_EINVAL;
}

/* JWT_SECRET and the dev code must be safe in production; this refuses to start otherwise. */
static int check_secrets(struct gw_ctx *ctx)
{
    if (read_app_env(ctx) != 0)
        return MC_EINVAL;
    if (ctx->dev_code[0] != '\0' &&
        (strlen(ctx->dev_code) != 6 || strspn(ctx->dev_code, "0123456789") != 6)) {
        fprintf(stderr, "multica-api-gateway: configuration error: MULTICA_DEV_VERIFICATION_CODE: "
                        "must be exactly 6 digits\n");
        return MC_EINVAL;
    }
    bool weak = ctx->jwt_secret[0] == '\0' || strlen(ctx->jwt_secret) < 32 ||
                strcmp(ctx->jwt_secret, DEV_JWT_SECRET) == 0;
    if (ctx->production && weak) {
        fprintf(stderr,
                "multica-api-gateway: configuration error: JWT_SECRET: is %s; in "
                "production set at least 32 random characters (openssl rand -hex 32)\n",
                ctx->jwt_secret[0] ? "too weak" : "not set");
        return MC_EINVAL;
    }
    if (ctx->jwt_secret[0] == '\0') {
        free(ctx->jwt_secret);
        ctx->jwt_secret = mc_strdup(DEV_JWT_SECRET);
        mc_log_warn(NULL, "JWT_SECRET not set: using the development secret (never in production)");
    }
    if (ctx->production && ctx->dev_code[0] != '\0')
        mc_log_warn(NULL, "MULTICA_DEV_VERIFICATION_CODE is ignored because APP_ENV=production");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--routes") == 0) {
        gw_print_routes();
        return 0;
    }
    struct mc_service svc;
    struct gw_ctx ctx = {.svc = &svc};
    const struct mc_config_var vars[] = {
        {"APP_ENV", MC_CFG_STRING, "production", 0, 0, &ctx.app_env,
         "production or development (development enables the fixed dev code)"},
        {"JWT_SECRET", MC_CFG_STRING, "", 0, 0, &ctx.jwt_secret, "HS256 key of session tokens"},
        {"JWT_TTL", MC_CFG_DURATION, "30d", 60000, 366LL * 86400000, &ctx.jwt_ttl_ms,
         "lifetime of a session token"},
        {"MULTICA_DEV_VERIFICATION_CODE", MC_CFG_STRING, "", 0, 0, &ctx.dev_code,
         "fixed 6-digit login code, accepted only outside production"},
        {"ALLOW_SIGNUP", MC_CFG_BOOL, "true", 0, 0, &ctx.allow_signup,
         "let unknown emails sign up"},
        {"DISABLE_WORKSPACE_CREATION", MC_CFG_BOOL, "false", 0, 0, &ctx.disable_workspace_creation,
         "refuse to create workspaces (403)"},
        {"GOOGLE_CLIENT_ID", MC_CFG_STRING, "", 0, 0, &ctx.google_client_id,
         "served at /api/config for the web app"},
        {"RESEND_API_KEY", MC_CFG_STRING, "", 0, 0, &ctx.resend_api_key,
         "mail provider key; empty prints login codes to the log"},
        {"RESEND_API_URL", MC_CFG_STRING, "https://api.resend.com/emails", 0, 0,
         &ctx.resend_api_url, "mail provider endpoint"},
        {"MAIL_FROM", MC_CFG_STRING, "Multica <noreply@multica.local>", 0, 0, &ctx.mail_from,
         "sender of login codes"},
        {"VERIFICATION_CODE_TTL", MC_CFG_DURATION, "10m", 1000, 86400000, &ctx.code_ttl_ms,
         "lifetime of a login code"},
        {"VERIFICATION_MAX_ATTEMPTS", MC_CFG_INT, "5", 1, 100, &ctx.code_max_attempts,
         "wrong codes before a code dies"},
        {"VERIFICATION_SENDS_PER_CLIENT_PER_HOUR", MC_CFG_INT, "20", 1, 100000,
         &ctx.code_sends_per_client, "login codes one client may request per hour"},
        {"CLIENT_IP_HEADER", MC_CFG_STRING, "", 0, 0, &ctx.client_ip_header,
         "header a trusted proxy sets to the client's address (first entry); empty: the peer"},
        {"VERIFICATION_SENDS_PER_HOUR", MC_CFG_INT, "5", 1, 1000, &ctx.code_sends_per_hour,
         "codes sent to one email per hour"},
        {"GATEWAY_DB_POOL", MC_CFG_INT, "16", 1, 500, &ctx.db_pool_size,
         "database connections shared by request threads"},
        {"USAGE_MAX_ENTRIES", MC_CFG_INT, "100", 1, 10000, &ctx.usage_max_entries,
         "most usage entries in one report"},
        {"PRODUCE_TIMEOUT", MC_CFG_DURATION, "5s", 100, 300000, &ctx.produce_timeout_ms,
         "how long a request waits for the broker before answering 503"},
        {"WS_QUEUE_LIMIT", MC_CFG_INT, "1000", 10, 1000000, &ctx.ws_queue_limit,
         "messages queued for one WebSocket before it is disconnected"},
        {"TASK_EVENT_LOG_RETENTION", MC_CFG_DURATION, "7d", 60000, 366LL * 86400000,
         &ctx.log_retention_ms, "how long task events stay replayable over WebSocket"},
        {"CLAIM_LEASE", MC_CFG_DURATION, "60s", 1000, 3600000, &ctx.claim_lease_ms,
         "a claimed task not started within this (renewed by prepare-lease) is offered again"},
        {"DAEMON_RUNTIME_CAPACITY", MC_CFG_INT, "20", 1, 10000, &ctx.daemon_runtime_capacity,
         "tasks dispatched to one runtime of a daemon at once"},
        {"KAFKA_GROUP_ID", MC_CFG_STRING, "multica-api-gateway", 0, 0, &ctx.group_id,
         "consumer group projecting task events"},
        {"PRICING_ADMIN_EMAILS", MC_CFG_STRING, "", 0, 0, &ctx.pricing_admins,
         "emails (comma-separated) of the users who may change the default price catalogue"},
    };
    if (mc_service_init(&svc, "api-gateway", "gateway", 8080, vars, MC_ARRAY_LEN(vars), argc,
                        argv) != 0)
        return 2;
    int status = 1;
    char err[512];
    if (check_secrets(&ctx) != 0) {
        status = 2;
        goto cleanup;
    }
    register_metrics(&ctx);
    ctx.usage_cache = gw_usage_cache_new();
    ctx.pool = mc_db_pool_new(svc.cfg.database_url, gw_stmts, GW_NSTMTS, "api-gateway",
                              (int)ctx.db_pool_size);
    mc_db_pool_on_connect(ctx.pool, gw_usage_warm, NULL);
    ctx.producer = mc_producer_new(svc.cfg.kafka_brokers, "multica-api-gateway",
                                   (int)ctx.produce_timeout_ms, err, sizeof err);
    if (ctx.producer == NULL || ctx.usage_cache == NULL) {
        fprintf(stderr, "multica-api-gateway: %s\n", ctx.producer ? "out of memory" : err);
        goto cleanup;
    }
    gw_outbox_new(&ctx);
    mc_service_watch_kafka(&svc, mc_producer_handle(ctx.producer));
    if (gw_reports_start(&ctx) != 0 || gw_issues_start(&ctx) != 0 || gw_messages_start(&ctx) != 0 ||
        gw_register_routes(&ctx) != 0 || gw_daemon_ws_start(&ctx) != 0 || gw_ws_start(&ctx) != 0 ||
        mc_http_start(svc.http) != 0)
        goto cleanup;
    mc_service_migrate(&svc);
    /* The pool's connections opened (and warmed) now rather than by the first requests. */
    mc_db_pool_open(ctx.pool);
    if (mc_outbox_start(ctx.relay) != 0 || gw_projection_start(&ctx) != 0)
        goto cleanup;
    mc_log_info(json_pack("{ss sb}", "app_env", ctx.app_env, "mail", ctx.resend_api_key[0] != '\0'),
                "serving");
    mc_service_wait();
    mc_log_info(NULL, "stopping");
    status = 0;
cleanup:
    /* Stop accepting requests and let in-flight ones finish before their resources go. */
    gw_ws_quiesce(&ctx);
    gw_daemon_ws_quiesce(&ctx);
    mc_http_free(svc.http);
    svc.http = NULL;
    gw_reports_stop(&ctx); /* once no handler waits for it */
    gw_issues_stop(&ctx);
    gw_messages_stop(&ctx);
    gw_projection_stop(&ctx); /* before the hub it kicks */
    gw_ws_stop(&ctx);
    gw_daemon_ws_stop(&ctx);
    mc_outbox_free(ctx.relay);
    mc_producer_free(ctx.producer, (int)svc.cfg.shutdown_grace);
    mc_db_pool_free(ctx.pool);
    gw_usage_cache_free(ctx.usage_cache);
    mc_service_close(&svc);
    return status;
}
