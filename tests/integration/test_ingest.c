/* test_ingest.c: the usage-ingester against a real Postgres and Apache Kafka: exact totals
 * under duplicates and reordering, several ingesters with one killed, the DLQ, a Postgres
 * outage, repeated kill -9, and attribution semantics. */
#include "harness.h"
#include "mc_auth.h"
#include <orcania.h>
#include "mc_proto.h"
#include "usage_gen.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* A generated stream of usage events and the task_usage contents it must produce. */
struct workload {
    char **values;
    size_t n;
    int64_t sum_in, sum_out, sum_cr, sum_cw; /* of the expected (newest) rows */
    size_t keys;
};

static const char *const providers[] = {"anthropic", "openai", "google"};
static const char *const models[] = {"claude-sonnet-4", "gpt-5", "gemini-2.5-pro"};

/* ntasks tasks x nkeys (provider, model) keys, `reports` cumulative reports per key, plus
 * `dups` duplicates (half resent as the same message, half re-encoded with a new id), shuffled.
 * Fills the expected rows (tu_expect_*). */
static void make_workload(struct workload *w, unsigned prefix, size_t ntasks, size_t nkeys,
                          size_t reports, size_t dups, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    size_t base_n = ntasks * nkeys * reports;
    w->n = base_n + dups;
    w->values = calloc(w->n, sizeof(char *));
    w->keys = ntasks * nkeys;
    int64_t t0 = mc_now_wall_us() - 3600LL * 1000000;
    tu_expect_reset();
    size_t k = 0;
    for (size_t t = 0; t < ntasks; t++) {
        char task[MC_UUID_STRLEN];
        tu_uuid(task, prefix, t);
        for (size_t key = 0; key < nkeys; key++) {
            int64_t in = 0, out = 0, cr = 0, cw = 0;
            for (size_t r = 0; r < reports; r++) {
                in += (int64_t)(tu_rand(&seed) % 1000);
                out += (int64_t)(tu_rand(&seed) % 500);
                cr += (int64_t)(tu_rand(&seed) % 2000);
                cw += (int64_t)(tu_rand(&seed) % 300);
                int64_t at = t0 + (int64_t)r * 1000000 + (int64_t)key * 1000;
                w->values[k++] =
                    tu_usage_event(task, providers[key % 3], models[key % 3], in, out, cr, cw, at);
            }
            tu_expect_row(task, providers[key % 3], models[key % 3], in, out, cr, cw);
            w->sum_in += in;
            w->sum_out += out;
            w->sum_cr += cr;
            w->sum_cw += cw;
        }
    }
    for (size_t d = 0; d < dups; d++) {
        size_t src = (size_t)(tu_rand(&seed) % base_n);
        if (d % 2 == 0) {
            w->values[k++] = mc_strdup(w->values[src]);
        } else {
            /* Same report, new event id: what a retrying client produces. */
            struct mc_event ev;
            char reason[128];
            ck_assert_int_eq(
                mc_event_decode(w->values[src], strlen(w->values[src]), &ev, reason, sizeof reason),
                0);
            char *again = mc_event_encode(ev.type, "test", ev.subject, json_copy(ev.data), NULL);
            mc_event_clear(&ev);
            w->values[k++] = again;
        }
    }
    for (size_t i = w->n - 1; i > 0; i--) {
        size_t j = (size_t)(tu_rand(&seed) % (i + 1));
        char *tmp = w->values[i];
        w->values[i] = w->values[j];
        w->values[j] = tmp;
    }
}

static void free_workload(struct workload *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->values[i]);
    free(w->values);
}

/* Feeds a workload to the broker from a thread, chunk by chunk, pacing it over `ms`. */
struct feeder {
    pthread_t thread;
    const char *brokers;
    struct workload *w;
    int ms;
    atomic_int done;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    mc_producer *p = tu_producer(f->brokers);
    size_t chunk = 500;
    size_t chunks = (f->w->n + chunk - 1) / chunk;
    int64_t start = mc_now_mono_ms();
    for (size_t c = 0; c < chunks; c++) {
        size_t from = c * chunk, n = f->w->n - from < chunk ? f->w->n - from : chunk;
        tu_send(p, MC_TOPIC_USAGE_EVENTS, f->w->values + from, NULL, n);
        int64_t due = start + (int64_t)f->ms * (int64_t)(c + 1) / (int64_t)chunks;
        int64_t wait = due - mc_now_mono_ms();
        if (wait > 0)
            usleep((useconds_t)wait * 1000);
    }
    mc_producer_free(p, 5000);
    atomic_store(&f->done, 1);
    return NULL;
}

static void feed_start(struct feeder *f, const char *brokers, struct workload *w, int ms)
{
    f->brokers = brokers;
    f->w = w;
    f->ms = ms;
    atomic_store(&f->done, 0);
    ck_assert_int_eq(pthread_create(&f->thread, NULL, feed, f), 0);
}

static void check_exact(const struct workload *w)
{
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), (int64_t)w->keys);
    ck_assert_int_eq(tu_expect_mismatches(), 0);
    ck_assert_int_eq(th_sql_int("SELECT sum(input_tokens) FROM usage.task_usage"), w->sum_in);
    ck_assert_int_eq(th_sql_int("SELECT sum(output_tokens) FROM usage.task_usage"), w->sum_out);
    ck_assert_int_eq(th_sql_int("SELECT sum(cache_read_tokens) FROM usage.task_usage"), w->sum_cr);
    ck_assert_int_eq(th_sql_int("SELECT sum(cache_write_tokens) FROM usage.task_usage"), w->sum_cw);
}

START_TEST(exact_newest_totals_under_duplicates_and_shuffle)
{
    th_db_new();
    const char *brokers = th_broker_start(6);
    struct workload w;
    /* 500 tasks x 2 keys x 8 reports + 2,000 duplicates = 10,000 events. */
    make_workload(&w, 0xa0000001, 500, 2, 8, 2000, 42);
    ck_assert_uint_eq(w.n, 10000);
    mc_producer *p = tu_producer(brokers);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, w.values, NULL, w.n);
    mc_producer_free(p, 1000);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)w.n, 60000));
    check_exact(&w);
    /* Usage reports take no dedup row (test_ingest_replay.c): the whole stream sent again,
     * same event ids, changes nothing. */
    char *before = tu_state_digest();
    p = tu_producer(brokers);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, w.values, NULL, w.n);
    mc_producer_free(p, 1000);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 2 * (int64_t)w.n, 60000));
    char *after = tu_state_digest();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    check_exact(&w);
    free_workload(&w);
}
END_TEST

START_TEST(three_ingesters_one_killed_mid_stream)
{
    th_db_new();
    const char *brokers = th_broker_start(6);
    struct workload w;
    make_workload(&w, 0xa0000002, 1500, 2, 8, 6000, 7); /* 30,000 events */
    pid_t ing[3];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "ingester-%d", i);
        ing[i] = tu_start_ingester(brokers, th_free_port(), name, NULL);
    }
    usleep(3000 * 1000); /* let the group form so all three share the partitions */
    struct feeder f;
    feed_start(&f, brokers, &w, 6000);
    usleep(2500 * 1000);
    kill(ing[1], SIGKILL);
    ck_assert_int_ne(th_wait_exit(ing[1], 5000), -1);
    usleep(1500 * 1000);
    ing[1] = tu_start_ingester(brokers, th_free_port(), "ingester-1b", NULL);
    pthread_join(f.thread, NULL);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)w.n, 90000));
    check_exact(&w);
    free_workload(&w);
}
END_TEST

static char *raw_usage_with(const char *from, const char *to)
{
    char *v = tu_usage_event("0195f1c2-7a3b-7c4d-8e5f-00000000dead", "anthropic", "claude", 1, 2, 3,
                             4, mc_now_wall_us());
    char *at = strstr(v, from);
    ck_assert_ptr_nonnull(at);
    char *out = mc_sprintf("%.*s%s%s", (int)(at - v), v, to, at + strlen(from));
    free(v);
    return out;
}

START_TEST(invalid_events_go_to_the_dlq_with_reasons)
{
    th_db_new();
    const char *brokers = th_broker_start(3);
    int port = th_free_port();
    tu_start_ingester(brokers, port, "ingester", NULL);
    /* A payload of 900 KB: valid JSON, far over the event size limit, within the topic's
     * 1 MiB, and 1.2 MB in base64: its dead letter must be cut to fit the DLQ. */
    size_t big_len = 900 * 1024;
    char *big = malloc(big_len + 1);
    memset(big, ' ', big_len);
    memcpy(big, "{\"pad\":\"", 8);
    memset(big + 8, 'x', big_len - 10);
    memcpy(big + big_len - 2, "\"}", 2);
    big[big_len] = '\0';
    struct {
        char *value;
        const char *reason;
    } bad[] = {
        {mc_strdup("{\"specversion\":\"1.0\",\"id\":"), "invalid JSON"},
        {raw_usage_with("\"model\":\"claude\",", ""), "data.model: is required"},
        {raw_usage_with("\"input_tokens\":1", "\"input_tokens\":-1"),
         "data.input_tokens: must be >= 0"},
        {raw_usage_with("multica.usage.reported.v1", "multica.usage.exploded.v1"),
         "unknown event type"},
        {big, "over the 65536-byte limit"},
        {tu_task_event(MC_EV_TASK_QUEUED, "0195f1c2-7a3b-7c4d-8e5f-00000000beef",
                       "0195f1c2-0000-7000-8000-0000000000b1",
                       "0195f1c2-0000-7000-8000-0000000000c1",
                       "0195f1c2-0000-7000-8000-00000000000a", NULL, 1),
         "does not belong on t"}, /* the topic's name on the broker, with the test's prefix */
    };
    enum { NBAD = sizeof bad / sizeof bad[0], NGOOD = 24 };
    char *values[NBAD + NGOOD];
    const char *keys[NBAD + NGOOD];
    size_t n = 0, b = 0;
    for (int g = 0; g < NGOOD; g++) {
        char task[MC_UUID_STRLEN];
        tu_uuid(task, 0xa0000003, (unsigned long)g);
        keys[n] = "k";
        values[n++] = tu_usage_event(task, "openai", "gpt", g, 1, 0, 0, mc_now_wall_us());
        if (g % 4 == 1 && b < NBAD) {
            keys[n] = "k";
            values[n++] = bad[b++].value;
        }
    }
    ck_assert_uint_eq(b, NBAD);
    mc_producer *p = tu_producer(brokers);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, values, keys, n);
    mc_producer_free(p, 1000);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)n, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), NGOOD);
    json_t *dlq = th_consume_all(brokers, MC_TOPIC_USAGE_DLQ);
    ck_assert_uint_eq(json_array_size(dlq), NBAD);
    for (size_t i = 0; i < NBAD; i++) {
        const char *v = json_string_value(json_object_get(json_array_get(dlq, i), "value"));
        json_t *ev = json_loads(v, 0, NULL);
        ck_assert_ptr_nonnull(ev);
        ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), MC_EV_USAGE_REJECTED);
        json_t *data = json_object_get(ev, "data");
        const char *reason = json_string_value(json_object_get(data, "reason"));
        bool matched = false;
        for (size_t k = 0; k < NBAD; k++)
            matched = matched || strstr(reason, bad[k].reason) != NULL;
        ck_assert_msg(matched, "unexpected reason: %s", reason);
        ck_assert_str_eq(json_string_value(json_object_get(data, "topic")),
                         mc_topic(MC_TOPIC_USAGE_EVENTS));
        ck_assert_int_gt(json_integer_value(json_object_get(data, "original_bytes")), 0);
        json_decref(ev);
    }
    /* The 900 KB original's dead letter keeps its first 64 KiB, its size and its SHA-256; the
     * small ones travel whole. */
    char big_sha[65];
    ck_assert_int_eq(mc_auth_sha256_hex(big, big_len, big_sha), 0);
    bool big_found = false;
    for (size_t i = 0; i < NBAD; i++) {
        const char *v = json_string_value(json_object_get(json_array_get(dlq, i), "value"));
        json_t *ev = json_loads(v, 0, NULL);
        json_t *data = json_object_get(ev, "data");
        bool truncated = json_is_true(json_object_get(data, "truncated"));
        if (json_integer_value(json_object_get(data, "original_bytes")) == (json_int_t)big_len) {
            big_found = true;
            ck_assert(truncated);
            ck_assert_str_eq(json_string_value(json_object_get(data, "original_sha256")), big_sha);
            const char *b64 = json_string_value(json_object_get(data, "original_base64"));
            struct _o_datum d = {0, NULL};
            ck_assert(o_base64_decode_alloc((const unsigned char *)b64, strlen(b64), &d));
            ck_assert_uint_eq(d.size, 65536);
            ck_assert_int_eq(memcmp(d.data, big, 65536), 0);
            o_free(d.data);
            ck_assert_uint_lt(strlen(v), MC_KAFKA_MAX_MESSAGE_BYTES);
        } else {
            ck_assert(!truncated);
        }
        json_decref(ev);
    }
    ck_assert(big_found);
    th_capture(dlq);
    json_decref(dlq);
    char url[128], *metrics = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    ck_assert_int_eq(th_http("GET", url, NULL, NULL, &metrics), 200);
    ck_assert_msg(strstr(metrics, "multica_ingester_dlq_total 6\n") != NULL, "%s", metrics);
    free(metrics);
    for (size_t i = 0; i < n; i++)
        free(values[i]);
}
END_TEST

START_TEST(postgres_outage_loses_nothing)
{
    th_db_new();
    const char *brokers = th_broker_start(6);
    struct workload w;
    make_workload(&w, 0xa0000004, 1000, 2, 8, 4000, 11); /* 20,000 events */
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    usleep(2000 * 1000);
    struct feeder f;
    feed_start(&f, brokers, &w, 8000);
    usleep(1500 * 1000);
    th_postgres_stop_now();
    usleep(10000 * 1000);
    th_postgres_start_now();
    pthread_join(f.thread, NULL);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)w.n, 90000));
    check_exact(&w);
    free_workload(&w);
}
END_TEST

START_TEST(kill_9_every_few_seconds_through_100k_events)
{
    th_db_new();
    const char *brokers = th_broker_start(12);
    struct workload w;
    /* 100,000 distinct keys with one report each: every token column's sum must equal the
     * input's sum exactly. */
    make_workload(&w, 0xa0000005, 50000, 2, 1, 0, 99);
    ck_assert_uint_eq(w.n, 100000);
    /* Static membership: each incarnation takes the dead one's place in the group at once. */
    const char *fast = "KAFKA_GROUP_INSTANCE_ID=ingester-kill9";
    pid_t ing = tu_start_ingester(brokers, th_free_port(), "ingester", fast);
    struct feeder f;
    feed_start(&f, brokers, &w, 20000);
    int kills = 0;
    int64_t deadline = mc_now_mono_ms() + 150000;
    while (mc_now_mono_ms() < deadline) {
        /* A kill every 5 s: with static membership a restarted member gets its partitions
         * back at once, so each incarnation applies some batches. */
        usleep(5000 * 1000);
        int64_t applied = th_sql_int("SELECT coalesce(sum(next_offset), 0) FROM "
                                     "usage.consumer_offsets");
        if (atomic_load(&f.done) && applied >= (int64_t)w.n)
            break;
        kill(ing, SIGKILL);
        ck_assert_int_ne(th_wait_exit(ing, 5000), -1);
        kills++;
        char name[32];
        snprintf(name, sizeof name, "ingester-%d", kills);
        ing = tu_start_ingester(brokers, th_free_port(), name, fast);
    }
    pthread_join(f.thread, NULL);
    ck_assert_int_ge(kills, 3);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)w.n, 60000));
    check_exact(&w);
    free_workload(&w);
}
END_TEST

START_TEST(attribution_moves_and_deletes_usage)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    const char *task = "0195f1c2-7a3b-7c4d-8e5f-00000000aaaa";
    const char *ws = "0195f1c2-0000-7000-8000-0000000000b1";
    const char *agent = "0195f1c2-0000-7000-8000-0000000000c1";
    const char *r1 = "0195f1c2-0000-7000-8000-00000000000a";
    const char *r2 = "0195f1c2-0000-7000-8000-00000000000b";
    mc_producer *p = tu_producer(brokers);
    int64_t at = mc_now_wall_us() - 7200LL * 1000000;
    /* Usage before any attribution is kept... */
    char *u1 = tu_usage_event(task, "anthropic", "claude", 10, 20, 30, 40, at);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, &u1, NULL, 1);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 1, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 0);
    /* ...and its bucket is marked dirty once the attribution arrives. */
    char *t1 = tu_task_event(MC_EV_TASK_QUEUED, task, ws, agent, r1, NULL, 1);
    tu_send(p, MC_TOPIC_TASK_EVENTS, &t1, NULL, 1);
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, 1, 30000));
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage.task_usage_dirty WHERE runtime_id = '%s' AND "
             "bucket_hour = date_trunc('hour', to_timestamp(%lld / 1000000.0), 'UTC')",
             r1, (long long)at);
    ck_assert_int_eq(th_sql_int(sql), 1);
    /* A reassignment moves the usage: old and new buckets are both enqueued. */
    char *t3 = tu_task_event(MC_EV_TASK_REASSIGNED, task, ws, agent, r2, NULL, 3);
    tu_send(p, MC_TOPIC_TASK_EVENTS, &t3, NULL, 1);
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, 2, 30000));
    snprintf(sql, sizeof sql, "SELECT count(*) FROM usage.task_attribution WHERE runtime_id = '%s'",
             r2);
    ck_assert_int_eq(th_sql_int(sql), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(DISTINCT runtime_id) FROM usage.task_usage_dirty"),
                     2);
    /* An older version arriving late changes nothing. */
    char *t2 = tu_task_event(MC_EV_TASK_DISPATCHED, task, ws, agent, r1, NULL, 2);
    tu_send(p, MC_TOPIC_TASK_EVENTS, &t2, NULL, 1);
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, 3, 30000));
    ck_assert_int_eq(th_sql_int(sql), 1);
    ck_assert_int_eq(th_sql_int("SELECT version FROM usage.task_attribution"), 3);
    /* Deletion removes the usage and invalidates its bucket; later usage is ignored. */
    th_sql("DELETE FROM usage.task_usage_dirty");
    char *t4 = tu_task_event(MC_EV_TASK_DELETED, task, ws, agent, r2, NULL, 4);
    tu_send(p, MC_TOPIC_TASK_EVENTS, &t4, NULL, 1);
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, 4, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM usage.task_usage_dirty WHERE runtime_id = '%s'",
             r2);
    ck_assert_int_eq(th_sql_int(sql), 1);
    char *u2 = tu_usage_event(task, "anthropic", "claude", 99, 99, 99, 99, mc_now_wall_us());
    tu_send(p, MC_TOPIC_USAGE_EVENTS, &u2, NULL, 1);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 2, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 0);
    /* The same event id on two partitions is applied once. */
    char *u3 = tu_usage_event("0195f1c2-7a3b-7c4d-8e5f-00000000bbbb", "openai", "gpt", 5, 5, 0, 0,
                              mc_now_wall_us());
    char *twice[] = {u3, u3};
    const char *keys[] = {"key-one", "key-two-other-partition"};
    tu_send(p, MC_TOPIC_USAGE_EVENTS, twice, keys, 2);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 4, 30000));
    /* Applied once: one insert in the change log, the second copy writing nothing. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta WHERE task_id = "
                                "'0195f1c2-7a3b-7c4d-8e5f-00000000bbbb'"),
                     1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 1);
    mc_producer_free(p, 1000);
    free(u1);
    free(u2);
    free(u3);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
}
END_TEST

START_TEST(many_tasks_of_one_bucket_get_attribution_in_one_batch)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    mc_producer *p = tu_producer(brokers);
    enum { N = 50 };
    char *usage[N], *queued[N];
    int64_t at = mc_now_wall_us() - 3600LL * 1000000;
    for (int i = 0; i < N; i++) {
        char task[MC_UUID_STRLEN];
        tu_uuid(task, 0xa0000006, (unsigned long)i);
        usage[i] = tu_usage_event(task, "anthropic", "claude", 1, 1, 1, 1, at + i);
        queued[i] = tu_task_event(MC_EV_TASK_QUEUED, task, "0195f1c2-0000-7000-8000-0000000000b1",
                                  "0195f1c2-0000-7000-8000-0000000000c1",
                                  "0195f1c2-0000-7000-8000-00000000000a", NULL, 1);
    }
    /* Usage first, then every task's attribution in one batch: all fifty land in the same
     * hour bucket, which must be enqueued once. */
    tu_send(p, MC_TOPIC_USAGE_EVENTS, usage, NULL, N);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, N, 30000));
    tu_send(p, MC_TOPIC_TASK_EVENTS, queued, NULL, N);
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, N, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_attribution"), N);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 1);
    for (int i = 0; i < N; i++) {
        free(usage[i]);
        free(queued[i]);
    }
    mc_producer_free(p, 1000);
}
END_TEST

/* Apply lanes (INGEST_APPLY_LANES): one ingester applies the batches of its partitions on
 * several connections at once, each lane storing only its own partitions' offsets. Here the
 * lanes' batches meet in the shared writes: 240 tasks of one workspace, agent and runtime
 * whose usage falls in two hour buckets, so every lane logs changes of the same buckets and
 * enqueues the same dirty buckets as its tasks' attribution arrives. A task's usage and task
 * events are keyed by the task (as the gateway keys them), so they share a partition number
 * and a lane. Small batches make the lanes overlap all the time; a second ingester joins half
 * way (a rebalance while every lane applies). Every report and task event must be applied
 * exactly, and the rollup must equal raw. */
START_TEST(lanes_meet_in_shared_rows_through_a_rebalance)
{
    th_db_new();
    const char *brokers = th_broker_start(6);
    enum { TASKS = 240, KEYS = 2, REPORTS = 3 };
    const char *ws = "0195f1c2-0000-7000-8000-0000000000b7";
    const char *agent = "0195f1c2-0000-7000-8000-0000000000c7";
    const char *rt = "0195f1c2-0000-7000-8000-00000000007a";
    int64_t hour = mc_now_wall_us() / 3600000000LL * 3600000000LL - 3 * 3600000000LL;
    size_t nu = 0, nt = 0;
    char **usage = calloc(TASKS * KEYS * REPORTS, sizeof(char *));
    char **tasks = calloc(TASKS * 2, sizeof(char *));
    tu_expect_reset();
    for (unsigned long t = 0; t < TASKS; t++) {
        char task[MC_UUID_STRLEN];
        tu_uuid(task, 0xa0000007, t);
        for (size_t k = 0; k < KEYS; k++) {
            int64_t in = 0, out = 0;
            for (int64_t r = 0; r < REPORTS; r++) {
                in += 10 + (int64_t)t;
                out += 1 + r;
                /* Two buckets: even tasks in the first hour, odd ones in the next. */
                int64_t at = hour + (int64_t)(t % 2) * 3600000000LL + r * 1000000 + (int64_t)k;
                usage[nu++] = tu_usage_event(task, providers[k], models[k], in, out, 0, 0, at);
            }
            tu_expect_row(task, providers[k], models[k], in, out, 0, 0);
        }
        for (int v = 1; v <= 2; v++) {
            tasks[nt++] = tu_task_event(v == 1 ? MC_EV_TASK_QUEUED : MC_EV_TASK_COMPLETED, task, ws,
                                        agent, rt, NULL, v);
        }
    }
    const char *lanes = "INGEST_APPLY_LANES=3 INGEST_BATCH_MAX=25 INGEST_BATCH_WAIT=5ms";
    tu_start_ingester(brokers, th_free_port(), "ingester-a", lanes);
    mc_producer *p = tu_producer(brokers);
    /* Usage and task events interleaved, in ten rounds; the second ingester joins at the
     * fifth. */
    for (size_t round = 0; round < 10; round++) {
        size_t u0 = nu * round / 10, u1 = nu * (round + 1) / 10;
        size_t t0 = nt * round / 10, t1 = nt * (round + 1) / 10;
        tu_send(p, MC_TOPIC_USAGE_EVENTS, usage + u0, NULL, u1 - u0);
        tu_send(p, MC_TOPIC_TASK_EVENTS, tasks + t0, NULL, t1 - t0);
        if (round == 4)
            tu_start_ingester(brokers, th_free_port(), "ingester-b",
                              "INGEST_APPLY_LANES=2 INGEST_BATCH_MAX=25 INGEST_BATCH_WAIT=5ms");
        usleep(300 * 1000);
    }
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)nu, 90000));
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, (int64_t)nt, 90000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), TASKS * KEYS);
    ck_assert_int_eq(tu_expect_mismatches(), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_attribution WHERE version = 2 "
                                "AND completed_at IS NOT NULL AND NOT usage_missing"),
                     TASKS);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.processed_events"), (int64_t)nt);
    /* Every row's runtime is its attribution's, whichever lane committed first. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage WHERE runtime_id IS "
                                "DISTINCT FROM '0195f1c2-0000-7000-8000-00000000007a'"),
                     0);
    /* The rollup folds what the lanes logged and queued into the raw answer. */
    th_sql("SET multica.rollup_safety_lag = '0'");
    th_sql_int("SELECT usage.rollup_task_usage_hourly()");
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(DISTINCT bucket_hour) FROM usage.task_usage_hourly"),
                     2);
    mc_producer_free(p, 1000);
    for (size_t i = 0; i < nu; i++)
        free(usage[i]);
    for (size_t i = 0; i < nt; i++)
        free(tasks[i]);
    free(usage);
    free(tasks);
}
END_TEST

TCase *ingest_case_replay(void); /* test_ingest_replay.c */

Suite *suite_ingest(void)
{
    Suite *s = suite_create("ingest");
    TCase *tc = tcase_create("ingester");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, exact_newest_totals_under_duplicates_and_shuffle);
    tcase_add_test(tc, attribution_moves_and_deletes_usage);
    tcase_add_test(tc, many_tasks_of_one_bucket_get_attribution_in_one_batch);
    tcase_add_test(tc, invalid_events_go_to_the_dlq_with_reasons);
    tcase_add_test(tc, three_ingesters_one_killed_mid_stream);
    tcase_add_test(tc, lanes_meet_in_shared_rows_through_a_rebalance);
    tcase_add_test(tc, postgres_outage_loses_nothing);
    tcase_add_test(tc, kill_9_every_few_seconds_through_100k_events);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, ingest_case_replay());
    return s;
}
