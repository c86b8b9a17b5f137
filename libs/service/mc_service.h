/* mc_service.h: what every service's main.c shares: common settings, logging, signals, the
 * database health check, the HTTP server with /healthz and /metrics, and a Kafka check. */
#ifndef MC_SERVICE_H
#define MC_SERVICE_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mc_common.h"
#include "mc_config.h"
#include "mc_db.h"
#include "mc_http.h"
#include "mc_kafka.h"

/* Settings every service reads (see docs/SELF_HOSTING_ADVANCED.md). */
struct mc_service_config {
    char *database_url;     /* DATABASE_URL: this service's own role */
    char *kafka_brokers;    /* KAFKA_BROKERS */
    char *kafka_prefix;     /* KAFKA_PREFIX */
    char *kafka_instance;   /* KAFKA_GROUP_INSTANCE_ID */
    int64_t kafka_stall_ms; /* KAFKA_STALL_TIMEOUT */
    char *http_bind;        /* HTTP_BIND */
    int64_t http_port;      /* HTTP_PORT */
    char *log_level;        /* LOG_LEVEL */
    bool migrate_on_start;  /* MIGRATE_ON_START: apply this slice's migrations at start */
    int64_t shutdown_grace; /* SHUTDOWN_GRACE: longest orderly stop before exit */
};

enum { MC_SERVICE_NVARS = 10 };

struct mc_service {
    const char *name;  /* "usage-ingester" */
    const char *slice; /* "usage" */
    struct mc_service_config cfg;
    /* The settings tables: the common one (filling cfg) and the service's own (borrowed from
     * main, which keeps it alive until mc_service_close frees what both loaded). */
    struct mc_config_var vars[MC_SERVICE_NVARS];
    const struct mc_config_var *extra;
    size_t nextra;
    char default_port[16];
    mc_dbhealth *dbh;
    mc_http *http;
    /* Kafka health: a handle to send metadata requests with, and a cached answer. */
    rd_kafka_t *kafka_probe;
    pthread_mutex_t kafka_mu;
    int64_t kafka_checked_at;
    bool kafka_ok;
    /* The consumer whose progress /healthz and /metrics report (NULL when none). */
    mc_consumer *consumer;
    bool consumer_stalled;
};

/* Answers --help (the common settings, the service's own table and the variables libraries
 * read, with defaults) and --version on stdout and exits 0 before anything starts; refuses any
 * other argument. Then parses the common settings and the service's own table (extra may be
 * NULL; it must stay alive until mc_service_close), initialises logging and signal handling
 * (SIGTERM/SIGINT request a stop), registers the build-info and process_* metrics, and
 * creates the health check and the HTTP server (not yet started). On a configuration error (or
 * an unknown argument) prints one line naming it to stderr, frees what it loaded and returns
 * MC_EINVAL; main then exits with status 2 without calling mc_service_close. */
int mc_service_init(struct mc_service *svc, const char *name, const char *slice,
                    int64_t default_port, const struct mc_config_var *extra, size_t nextra,
                    int argc, char **argv);

/* Registers multica_build_info{version,commit} (always 1) and the standard process_* metrics
 * (RSS, CPU seconds, open and maximum file descriptors, start time) read from /proc at scrape
 * time. Called by mc_service_init; idempotent. */
void mc_service_register_process_metrics(void);

/* Applies this slice's migrations as the service's own role when MIGRATE_ON_START is set,
 * retrying while the database is unreachable and the service is not stopping. Returns 0, or
 * an error when a migration itself fails (the service keeps running and /healthz reports
 * migrations out_of_date). */
int mc_service_migrate(struct mc_service *svc);

/* Registers rk as the handle /healthz pings for its "kafka" check. */
void mc_service_watch_kafka(struct mc_service *svc, rd_kafka_t *rk);

/* Watches the service's consumer: /healthz gets a "consumer" check that turns to error while the
 * consumer has messages waiting in its partitions and has made no progress for KAFKA_STALL_TIMEOUT,
 * and /metrics gets multica_kafka_consumer_{assigned_partitions,lag,idle_seconds}. NULL stops
 * watching (before the consumer is closed). */
void mc_service_watch_consumer(struct mc_service *svc, mc_consumer *c);

/* ---- riding out a database outage: the consumers' reconnect loop ----
 * While the database a consumer writes to does not take its batches, the consumer stays in its
 * group but fetches nothing. The service keeps its batch (or repositions its partitions at
 * the stored offsets), pauses the partitions and calls mc_outage_begin; then every turn of its
 * poll loop (polling at most MC_OUTAGE_POLL_MS) calls mc_outage_over, which reconnects (spaced
 * by mc_db's backoff) and lets the service catch up with resume(ctx): apply what it kept, or
 * seek back to the stored offsets, and resume its partitions. Each way is logged once. A
 * rebalance that takes the partitions away ends the outage by setting active to false. */
struct mc_outage {
    bool active;
    int64_t since_ms;
};
#define MC_OUTAGE_POLL_MS 200

/* Starts an outage (a no-op during one); fields (stolen, may be NULL) say what waits. */
void mc_outage_begin(struct mc_outage *o, json_t *fields);

/* True when no outage is on, or when this call ended it: the database answered and
 * resume(ctx) returned 0. */
bool mc_outage_over(struct mc_outage *o, mc_db *db, int (*resume)(void *ctx), void *ctx);

/* True once SIGTERM or SIGINT arrived (or mc_service_request_stop was called). */
bool mc_service_stopping(void);
/* The keep_trying hook of mc_consumer_hooks: an assignment is retried until a stop. */
bool mc_service_keep_trying(void *ctx);
void mc_service_request_stop(void);

/* The process's stop request, for mc_sleep_ms_interruptible. */
const mc_stop *mc_service_stop_flag(void);

/* Blocks until a stop is requested. */
void mc_service_wait(void);

/* Stops HTTP, frees the health check and both settings tables (mc_config_free: the one way
 * settings are freed, so main frees none itself), closes logs. */
void mc_service_close(struct mc_service *svc);

#endif
