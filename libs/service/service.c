/* service.c: common start-up and shutdown of the four services. */
#include "mc_service.h"
#include "mc_common.h"
#include "mc_kafka.h"
#include "mc_log.h"

#include <orcania.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_CHECK_CACHE_MS 2000

/* The process's stop request: raised by SIGTERM and SIGINT (mc_stop is lock-free, so the
 * handler may) or by mc_service_request_stop. */
static mc_stop g_stop;

static void on_signal(int sig)
{
    (void)sig;
    mc_stop_raise(&g_stop);
}

bool mc_service_stopping(void)
{
    return mc_stop_raised(&g_stop);
}

bool mc_service_keep_trying(void *ctx)
{
    (void)ctx;
    return !mc_stop_raised(&g_stop);
}

void mc_service_request_stop(void)
{
    mc_stop_raise(&g_stop);
}

const mc_stop *mc_service_stop_flag(void)
{
    return &g_stop;
}

void mc_outage_begin(struct mc_outage *o, json_t *fields)
{
    if (o->active) {
        json_decref(fields);
        return;
    }
    o->active = true;
    o->since_ms = mc_now_mono_ms();
    mc_log_warn(fields, "database unavailable; consumption paused, the batch waits");
}

bool mc_outage_over(struct mc_outage *o, mc_db *db, int (*resume)(void *ctx), void *ctx)
{
    if (!o->active)
        return true;
    if (mc_db_ensure(db, 0) != 0 || resume(ctx) != 0)
        return false;
    o->active = false;
    mc_log_info(json_pack("{sI}", "paused_ms", (json_int_t)(mc_now_mono_ms() - o->since_ms)),
                "database available again; consumption resumed");
    return true;
}

void mc_service_wait(void)
{
    while (!mc_stop_raised(&g_stop))
        mc_sleep_ms_interruptible(200, &g_stop);
}

static enum mc_check_state kafka_check(void *ctx)
{
    struct mc_service *svc = ctx;
    pthread_mutex_lock(&svc->kafka_mu);
    int64_t now = mc_now_mono_ms();
    if (svc->kafka_probe != NULL &&
        (svc->kafka_checked_at == 0 || now - svc->kafka_checked_at >= KAFKA_CHECK_CACHE_MS)) {
        bool ok = mc_kafka_reachable(svc->kafka_probe, 1000);
        if (ok != svc->kafka_ok || svc->kafka_checked_at == 0)
            mc_log(ok ? MC_LOG_INFO : MC_LOG_WARNING, NULL,
                   ok ? "kafka reachable" : "kafka unreachable");
        svc->kafka_ok = ok;
        svc->kafka_checked_at = mc_now_mono_ms();
    }
    enum mc_check_state s = svc->kafka_probe == NULL ? MC_CHECK_UNKNOWN
                            : svc->kafka_ok          ? MC_CHECK_OK
                                                     : MC_CHECK_ERROR;
    pthread_mutex_unlock(&svc->kafka_mu);
    return s;
}

/* The settings every service reads, filling svc->cfg. */
static void common_vars(struct mc_service *svc)
{
    struct mc_service_config *c = &svc->cfg;
    const struct mc_config_var common[] = {
        {"DATABASE_URL", MC_CFG_STRING, NULL, 0, 0, &c->database_url,
         "PostgreSQL URL of this service's own role"},
        {"KAFKA_BROKERS", MC_CFG_STRING, "127.0.0.1:9092", 0, 0, &c->kafka_brokers,
         "Kafka bootstrap servers"},
        {"KAFKA_PREFIX", MC_CFG_STRING, "", 0, 0, &c->kafka_prefix,
         "prefix of every topic and consumer-group name, to share a Kafka cluster"},
        {"KAFKA_GROUP_INSTANCE_ID", MC_CFG_STRING, "", 0, 0, &c->kafka_instance,
         "static group membership id (unique per replica, stable across its restarts)"},
        {"KAFKA_STALL_TIMEOUT", MC_CFG_DURATION, "30s", 1000, 3600000, &c->kafka_stall_ms,
         "how long a consumer may sit on waiting messages before it is reported unready"},
        {"HTTP_BIND", MC_CFG_STRING, "0.0.0.0", 0, 0, &c->http_bind, "HTTP listen address"},
        {"HTTP_PORT", MC_CFG_INT, svc->default_port, 1, 65535, &c->http_port, "HTTP listen port"},
        {"LOG_LEVEL", MC_CFG_STRING, "info", 0, 0, &c->log_level, "error, warning, info or debug"},
        {"MIGRATE_ON_START", MC_CFG_BOOL, "true", 0, 0, &c->migrate_on_start,
         "apply this service's schema migrations at start"},
        {"SHUTDOWN_GRACE", MC_CFG_DURATION, "10s", 100, 600000, &c->shutdown_grace,
         "longest orderly stop on SIGTERM"},
    };
    MC_STATIC_ASSERT_LEN(common, MC_SERVICE_NVARS);
    memcpy(svc->vars, common, sizeof common);
}

static void free_settings(struct mc_service *svc)
{
    mc_config_free(svc->vars, MC_SERVICE_NVARS);
    if (svc->extra != NULL)
        mc_config_free(svc->extra, svc->nextra);
}

/* The settings that need more than their table's bounds. Returns 0 or MC_EINVAL (printed). */
static int check_settings(struct mc_service *svc)
{
    struct mc_service_config *c = &svc->cfg;
    const char *name = svc->name;
    if (mc_kafka_set_prefix(c->kafka_prefix) != 0) {
        fprintf(stderr,
                "multica-%s: configuration error: KAFKA_PREFIX: only letters, digits, '.', '_' "
                "and '-', at most 100 bytes, got '%s'\n",
                name, c->kafka_prefix);
        return MC_EINVAL;
    }
    if (mc_kafka_set_instance_id(c->kafka_instance) != 0) {
        fprintf(stderr,
                "multica-%s: configuration error: KAFKA_GROUP_INSTANCE_ID: at most 249 "
                "bytes\n",
                name);
        return MC_EINVAL;
    }
    if (mc_log_init(name, c->log_level) != 0) {
        fprintf(stderr,
                "multica-%s: configuration error: LOG_LEVEL: must be error, warning, "
                "info or debug, got '%s'\n",
                name, c->log_level);
        return MC_EINVAL;
    }
    return 0;
}

/* Variables libraries read with getenv rather than a table: listed by --help only. */
static const struct mc_config_var lib_vars[] = {
    {"KAFKA_CONFIG", MC_CFG_STRING, "", 0, 0, NULL,
     "extra librdkafka settings, k=v,k=v (TLS and SASL to Kafka)"},
};

/* --help and --version exit 0 at once; any other argument is refused (returns MC_EINVAL). */
static int command_line(const char *name, int argc, char **argv, const struct mc_config_var *common,
                        size_t ncommon, const struct mc_config_var *extra, size_t nextra)
{
    char program[64], synopsis[128];
    snprintf(program, sizeof program, "multica-%s", name);
    snprintf(synopsis, sizeof synopsis, "%s [--help | --version]", program);
    const struct mc_config_usage u = {
        program, synopsis,
        "A Multica-C service (README.md): it serves /health, /healthz and /metrics on "
        "HTTP_PORT and reads every setting from the environment; SIGTERM stops it cleanly."};
    const struct mc_config_table tables[] = {
        {"settings of this service", extra, extra ? nextra : 0},
        {"settings every service reads", common, ncommon},
        {"read by the Kafka client", lib_vars, MC_ARRAY_LEN(lib_vars)},
    };
    if (mc_config_cli(argc, argv, &u, tables, MC_ARRAY_LEN(tables)))
        exit(0);
    if (argc > 1) {
        fprintf(stderr,
                "%s: unknown argument '%s' (settings come from the environment; see --help)\n",
                program, argv[1]);
        return MC_EINVAL;
    }
    return 0;
}

int mc_service_init(struct mc_service *svc, const char *name, const char *slice,
                    int64_t default_port, const struct mc_config_var *extra, size_t nextra,
                    int argc, char **argv)
{
    /* The one out-of-memory policy reaches the JSON and HTTP libraries too (ulfius hands
     * orcania's functions on to jansson), so they abort where they would return NULL. */
    o_set_alloc_funcs(mc_malloc, mc_realloc, free);
    json_set_alloc_funcs(mc_malloc, free);
    memset(svc, 0, sizeof *svc);
    svc->name = name;
    svc->slice = slice;
    pthread_mutex_init(&svc->kafka_mu, NULL);
    snprintf(svc->default_port, sizeof svc->default_port, "%lld", (long long)default_port);
    common_vars(svc);
    if (command_line(name, argc, argv, svc->vars, MC_SERVICE_NVARS, extra, nextra) != 0)
        return MC_EINVAL;
    struct mc_service_config *c = &svc->cfg;
    char err[512];
    if (mc_config_load(svc->vars, MC_SERVICE_NVARS, err, sizeof err) != 0) {
        fprintf(stderr, "multica-%s: configuration error: %s\n", name, err);
        return MC_EINVAL;
    }
    if (extra != NULL && mc_config_load(extra, nextra, err, sizeof err) != 0) {
        fprintf(stderr, "multica-%s: configuration error: %s\n", name, err);
        free_settings(svc);
        return MC_EINVAL;
    }
    svc->extra = extra;
    svc->nextra = nextra;
    if (check_settings(svc) != 0) {
        free_settings(svc);
        return MC_EINVAL;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    const struct mc_slice *s = mc_slice_find(slice);
    if (s == NULL) {
        fprintf(stderr, "multica-%s: no migrations compiled in for slice %s\n", name, slice);
        free_settings(svc);
        return MC_EINVAL;
    }
    svc->dbh = mc_dbhealth_new(c->database_url, s, name);
    svc->http = mc_http_new(c->http_bind, (unsigned)c->http_port, svc->dbh, err, sizeof err);
    if (svc->http == NULL) {
        fprintf(stderr, "multica-%s: %s\n", name, err);
        mc_dbhealth_free(svc->dbh);
        svc->dbh = NULL;
        free_settings(svc);
        return MC_EINVAL;
    }
    mc_service_register_process_metrics();
    static struct mc_health_check kafka;
    kafka = (struct mc_health_check){"kafka", kafka_check, svc};
    mc_http_add_checks(svc->http, &kafka, 1);
    mc_log_info(json_pack("{ss si ss}", "slice", slice, "http_port", (int)c->http_port,
                          "kafka_brokers", c->kafka_brokers),
                "starting");
    return 0;
}

int mc_service_migrate(struct mc_service *svc)
{
    if (!svc->cfg.migrate_on_start)
        return 0;
    const struct mc_slice *s = mc_slice_find(svc->slice);
    char err[1024];
    for (;;) {
        int rc = mc_migrate_up(svc->cfg.database_url, s, -1, false, err, sizeof err);
        if (rc == 0)
            return 0;
        if (rc != MC_EDBCONN || mc_service_stopping()) {
            mc_log_error(json_pack("{ss ss}", "slice", svc->slice, "error", err),
                         "migrations failed");
            return rc;
        }
        mc_log_warn(json_pack("{ss}", "error", err), "database unreachable; retrying migrations");
        mc_sleep_ms_interruptible(1000, &g_stop);
    }
}

void mc_service_watch_kafka(struct mc_service *svc, rd_kafka_t *rk)
{
    pthread_mutex_lock(&svc->kafka_mu);
    svc->kafka_probe = rk;
    svc->kafka_checked_at = 0;
    pthread_mutex_unlock(&svc->kafka_mu);
}

static enum mc_check_state consumer_check(void *ctx)
{
    struct mc_service *svc = ctx;
    pthread_mutex_lock(&svc->kafka_mu);
    enum mc_check_state s = MC_CHECK_UNKNOWN;
    if (svc->consumer != NULL) {
        struct mc_consumer_state st;
        mc_consumer_progress(svc->consumer, &st);
        bool stalled = st.lag > 0 && st.idle_ms > svc->cfg.kafka_stall_ms;
        if (stalled != svc->consumer_stalled)
            mc_log(stalled ? MC_LOG_WARNING : MC_LOG_INFO,
                   json_pack("{sI sI si}", "lag", (json_int_t)st.lag, "idle_ms",
                             (json_int_t)st.idle_ms, "partitions", st.assigned),
                   stalled ? "consumer stalled: messages are waiting and nothing was committed"
                           : "consumer making progress again");
        svc->consumer_stalled = stalled;
        s = stalled ? MC_CHECK_ERROR : MC_CHECK_OK;
    }
    pthread_mutex_unlock(&svc->kafka_mu);
    return s;
}

enum consumer_gauge { G_ASSIGNED, G_LAG, G_IDLE };
static struct mc_service *g_watched;
static double consumer_gauge(void *ctx)
{
    enum consumer_gauge which = (enum consumer_gauge)(intptr_t)ctx;
    struct mc_service *svc = g_watched;
    double v = 0;
    pthread_mutex_lock(&svc->kafka_mu);
    if (svc->consumer != NULL) {
        struct mc_consumer_state st;
        mc_consumer_progress(svc->consumer, &st);
        v = which == G_ASSIGNED ? st.assigned
            : which == G_LAG    ? (double)st.lag
                                : (double)st.idle_ms / 1000.0;
    }
    pthread_mutex_unlock(&svc->kafka_mu);
    return v;
}

void mc_service_watch_consumer(struct mc_service *svc, mc_consumer *c)
{
    pthread_mutex_lock(&svc->kafka_mu);
    svc->consumer = c;
    svc->consumer_stalled = false;
    bool first = c != NULL && g_watched == NULL;
    if (first)
        g_watched = svc;
    pthread_mutex_unlock(&svc->kafka_mu);
    if (!first)
        return;
    static struct mc_health_check check;
    check = (struct mc_health_check){"consumer", consumer_check, svc};
    mc_http_add_checks(svc->http, &check, 1);
    mc_gauge_fn("multica_kafka_consumer_assigned_partitions",
                "Partitions assigned to this member of the consumer group.", NULL, consumer_gauge,
                (void *)(intptr_t)G_ASSIGNED);
    mc_gauge_fn("multica_kafka_consumer_lag",
                "Messages in the assigned partitions the service has not finished with.", NULL,
                consumer_gauge, (void *)(intptr_t)G_LAG);
    mc_gauge_fn("multica_kafka_consumer_idle_seconds",
                "Longest time a partition with waiting messages has gone without progress.", NULL,
                consumer_gauge, (void *)(intptr_t)G_IDLE);
}

void mc_service_close(struct mc_service *svc)
{
    mc_http_free(svc->http);
    svc->http = NULL;
    mc_dbhealth_free(svc->dbh);
    svc->dbh = NULL;
    free_settings(svc);
    memset(&svc->cfg, 0, sizeof svc->cfg);
    mc_log_info(NULL, "stopped");
    mc_log_close();
    pthread_mutex_destroy(&svc->kafka_mu);
}
