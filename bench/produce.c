/* produce.c: multica-bench-produce, fills multica.usage.events with N usage events before
 * any consumer starts, and writes the task_usage rows they must produce as a COPY file.
 *
 *   multica-bench-produce --brokers B --events N --copy-file PATH [--seed S]
 *
 * Every event is a distinct (task, provider, model) key, so N events make N rows. Tasks use
 * one to three models, token counts span what agent CLIs report, and each message is keyed by
 * its task id as the gateway keys them. The producer is idempotent with lz4 like the
 * services', but lingers and batches more, to fill the topic quickly: at the end the low
 * watermarks of every partition must still be 0 (nothing deleted) and the high watermarks must
 * add up to N, or it fails. Prints one JSON line. */
#include "bench_util.h"
#include "mc_common.h"
#include "mc_kafka.h"
#include "mc_proto.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pairs[][2] = {
    {"anthropic", "claude-sonnet-4-5-20250929"},
    {"anthropic", "claude-opus-4-1-20250805"},
    {"openai", "gpt-5-codex"},
    {"openai", "gpt-5-mini-2025-08-07"},
    {"google", "gemini-2.5-pro"},
    {"google", "gemini-2.5-flash"},
};
#define NPAIRS ((int)MC_ARRAY_LEN(pairs))

static atomic_long g_failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        atomic_fetch_add(&g_failed, 1);
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static int64_t span(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_rand(s) % (uint64_t)(hi - lo + 1));
}

static rd_kafka_t *producer(const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", brokers},
        {"client.id", "multica-bench-produce"},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", "lz4"},
        {"linger.ms", "200"},
        {"batch.num.messages", "50000"},
        {"batch.size", "4000000"},
        {"message.max.bytes", "8388608"},
        {"queue.buffering.max.messages", "2000000"},
        {"queue.buffering.max.kbytes", "2000000"},
        {"message.timeout.ms", "300000"},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(kv); i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "multica-bench-produce: %s\n", err);
            exit(1);
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "multica-bench-produce: %s\n", err);
        exit(1);
    }
    return rk;
}

static void send_one(rd_kafka_t *rk, const char *key, char *value)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(MC_TOPIC_USAGE_EVENTS), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "multica-bench-produce: %s\n", rd_kafka_err2str(e));
            exit(1);
        }
        rd_kafka_poll(rk, 50);
    }
}

/* Sums the watermarks of every partition of the usage topic. */
static int watermarks(rd_kafka_t *rk, int64_t *sum_lo, int64_t *sum_hi, int *nparts)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, MC_TOPIC_USAGE_EVENTS, NULL);
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_destroy(t);
        return -1;
    }
    *sum_lo = *sum_hi = 0;
    *nparts = md->topics[0].partition_cnt;
    int rc = 0;
    for (int p = 0; p < *nparts && rc == 0; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, MC_TOPIC_USAGE_EVENTS, p, &lo, &hi, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            rc = -1;
        *sum_lo += lo;
        *sum_hi += hi;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return rc;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *copy_path = NULL;
    long events = 0;
    uint64_t seed = 0x5DEECE66DULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--brokers") == 0)
            brokers = argv[i + 1];
        else if (strcmp(argv[i], "--events") == 0)
            events = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--copy-file") == 0)
            copy_path = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10) | 1;
    }
    if (brokers == NULL || copy_path == NULL || events <= 0) {
        fprintf(stderr, "usage: multica-bench-produce --brokers B --events N --copy-file PATH "
                        "[--seed S]\n");
        return 2;
    }
    FILE *copy = fopen(copy_path, "w");
    if (copy == NULL) {
        perror(copy_path);
        return 1;
    }
    rd_kafka_t *rk = producer(brokers);
    double t0 = bu_now();
    int64_t now_us = mc_now_wall_us();
    long made = 0, tasks = 0;
    size_t bytes = 0;
    while (made < events) {
        char task[MC_UUID_STRLEN];
        mc_uuid_v7(task);
        tasks++;
        int nkeys = (int)span(&seed, 1, 3);
        int first = (int)span(&seed, 0, NPAIRS - 1);
        for (int k = 0; k < nkeys && made < events; k++, made++) {
            const char *provider = pairs[(first + k) % NPAIRS][0];
            const char *model = pairs[(first + k) % NPAIRS][1];
            int64_t in = span(&seed, 500, 150000), out = span(&seed, 50, 16000);
            int64_t cr = span(&seed, 0, 600000), cw = span(&seed, 0, 40000);
            int64_t at = now_us - span(&seed, 0, 3600LL * 1000000);
            char ts[40];
            mc_format_rfc3339(at, ts, sizeof ts);
            json_t *data =
                json_pack("{ss ss ss sI sI sI sI ss}", "task_id", task, "provider", provider,
                          "model", model, "input_tokens", (json_int_t)in, "output_tokens",
                          (json_int_t)out, "cache_read_tokens", (json_int_t)cr,
                          "cache_write_tokens", (json_int_t)cw, "reported_at", ts);
            char *value = mc_event_encode(MC_EV_USAGE_REPORTED, "api-gateway", task, data, NULL);
            if (value == NULL) {
                fprintf(stderr, "multica-bench-produce: cannot encode an event\n");
                return 1;
            }
            bytes += strlen(value);
            send_one(rk, task, value);
            free(value);
            /* The row the ingester writes: created_at is the first report's reported_at. */
            fprintf(copy, "%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%s\t%s\n", task, provider, model,
                    (long long)in, (long long)out, (long long)cr, (long long)cw, ts, ts);
            rd_kafka_poll(rk, 0);
        }
    }
    if (fclose(copy) != 0) {
        perror(copy_path);
        return 1;
    }
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);
    double secs = bu_now() - t0;
    int64_t lo = 0, hi = 0;
    int nparts = 0;
    int wm = watermarks(rk, &lo, &hi, &nparts);
    long failed = atomic_load(&g_failed);
    rd_kafka_destroy(rk);
    int ok = wm == 0 && failed == 0 && lo == 0 && hi == events;
    printf("{\"events\":%ld,\"tasks\":%ld,\"bytes\":%zu,\"avg_bytes\":%.0f,\"seconds\":%.2f,"
           "\"partitions\":%d,\"failed\":%ld,\"sum_low_watermarks\":%lld,"
           "\"sum_high_watermarks\":%lld,\"ok\":%s}\n",
           events, tasks, bytes, (double)bytes / (double)events, secs, nparts, failed,
           (long long)lo, (long long)hi, ok ? "true" : "false");
    if (!ok)
        fprintf(stderr,
                "multica-bench-produce: the topic does not hold exactly the %ld events "
                "(failed %ld, low watermarks %lld, high watermarks %lld)\n",
                events, failed, (long long)lo, (long long)hi);
    return ok ? 0 : 1;
}
