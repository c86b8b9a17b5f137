/* naive_consumer.c: multica-bench-naive, the row-at-a-time design the ingester is measured
 * against: a plain librdkafka consumer that applies every usage message with its own INSERT
 * ... ON CONFLICT in autocommit, no batching, offsets committed by librdkafka automatically.
 * It decodes and validates each message with the same mc_event_decode as the ingester and
 * keeps the same last-write-wins rule, so the only difference is the batching.
 *
 *   multica-bench-naive --brokers B --group G --db URL --max N
 *
 * Exits 0 after applying N messages, 1 on a database error. */
#include "bench_util.h"
#include "mc_common.h"
#include "mc_kafka.h"
#include "mc_proto.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const upsert_sql =
    "INSERT INTO usage.task_usage AS t (task_id, provider, model, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, now()) "
    "ON CONFLICT (task_id, provider, model) DO UPDATE "
    "SET input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens, "
    "cache_read_tokens = EXCLUDED.cache_read_tokens, "
    "cache_write_tokens = EXCLUDED.cache_write_tokens, reported_at = EXCLUDED.reported_at, "
    "updated_at = now() WHERE EXCLUDED.reported_at > t.reported_at";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static rd_kafka_t *consumer(const char *brokers, const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", brokers},
        {"group.id", group},
        {"client.id", "multica-bench-naive"},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", "true"},
        /* The ingesters' group settings in the benchmark (see ingest.c). */
        {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "500"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "multica-bench-naive: %s\n", err);
            exit(1);
        }
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "multica-bench-naive: %s\n", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, MC_TOPIC_USAGE_EVENTS, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "multica-bench-naive: subscribe: %s\n", rd_kafka_err2str(e));
        exit(1);
    }
    return rk;
}

/* Applies one message; a message that fails validation is skipped (the naive design has no
 * DLQ). Returns 1 when a row was written, 0 when skipped, -1 on a database error. */
static int apply(PGconn *db, const rd_kafka_message_t *m)
{
    struct mc_event ev;
    char reason[256];
    if (mc_event_decode(m->payload, m->len, &ev, reason, sizeof reason) != 0)
        return 0;
    struct mc_usage_reported u;
    int rc = 0;
    if (mc_usage_reported_from(&ev, &u) == 0) {
        char in[24], out[24], cr[24], cw[24];
        snprintf(in, sizeof in, "%lld", (long long)u.input_tokens);
        snprintf(out, sizeof out, "%lld", (long long)u.output_tokens);
        snprintf(cr, sizeof cr, "%lld", (long long)u.cache_read_tokens);
        snprintf(cw, sizeof cw, "%lld", (long long)u.cache_write_tokens);
        const char *params[] = {u.task_id, u.provider, u.model, in, out, cr, cw, u.reported_at};
        PGresult *r = PQexecPrepared(db, "upsert", 8, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            rc = 1;
        } else {
            fprintf(stderr, "multica-bench-naive: %s", PQerrorMessage(db));
            rc = -1;
        }
        PQclear(r);
    }
    mc_event_clear(&ev);
    return rc;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *group = NULL, *url = NULL;
    long max = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--brokers") == 0)
            brokers = argv[i + 1];
        else if (strcmp(argv[i], "--group") == 0)
            group = argv[i + 1];
        else if (strcmp(argv[i], "--db") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--max") == 0)
            max = atol(argv[i + 1]);
    }
    if (brokers == NULL || group == NULL || url == NULL || max <= 0) {
        fprintf(stderr, "usage: multica-bench-naive --brokers B --group G --db URL --max N\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    PGconn *db = bu_connect(url);
    PGresult *r = PQprepare(db, "upsert", upsert_sql, 8, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "multica-bench-naive: prepare: %s", PQerrorMessage(db));
        return 1;
    }
    PQclear(r);
    rd_kafka_t *rk = consumer(brokers, group);
    long applied = 0;
    int status = 0;
    while (!g_stop && applied < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int rc = apply(db, m);
            if (rc < 0) {
                status = 1;
                g_stop = 1;
            }
            applied += rc > 0;
        }
        rd_kafka_message_destroy(m);
    }
    fprintf(stderr, "multica-bench-naive: applied %ld messages\n", applied);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    PQfinish(db);
    return status;
}
