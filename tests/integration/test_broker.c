/* test_broker.c: what a real Apache Kafka broker asks of the services: a restarted ingester
 * back in its group at once, dead letters that always fit and a refusing DLQ that holds only
 * its own partition, offsets that lag tools can read, readiness that follows a stalled
 * consumer, and a broker killed mid-stream losing or doubling nothing accepted. */
#include "gateway_client.h"
#include "harness.h"
#include "mc_kafka.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Produces one raw message to a given partition of a topic (base name). */
static void produce_to(const char *brokers, const char *topic, int32_t partition, const char *key,
                       const char *value)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ck_assert_ptr_nonnull(rk);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(mc_topic(topic)), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY((void *)key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    ck_assert_int_eq(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

static char *usage_value(unsigned long n)
{
    char task[MC_UUID_STRLEN];
    tu_uuid(task, 0xb0000001, n);
    return tu_usage_event(task, "openai", "gpt-5", 10, 1, 0, 0, mc_now_wall_us());
}

/* Next offset the database holds for one partition of the usage topic (0 when none). */
static int64_t applied_in(int partition)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(next_offset), 0) FROM usage.consumer_offsets WHERE topic = '%s' "
             "AND partition = %d",
             mc_topic(MC_TOPIC_USAGE_EVENTS), partition);
    return th_sql_int(sql);
}

static int healthz(int port, char **body)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    return th_http("GET", url, NULL, NULL, body);
}

/* Waits until /healthz answers want and its body holds needle; returns whether it did. */
static bool healthz_becomes(int port, int want, const char *needle, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    while (mc_now_mono_ms() < deadline) {
        char *body = NULL;
        int status = healthz(port, &body);
        bool ok = status == want && (needle == NULL || strstr(body, needle) != NULL);
        free(body);
        if (ok)
            return true;
        usleep(200 * 1000);
    }
    return false;
}

/* A metric's value from /metrics (the first sample with that name), or -1. */
static double metric(int port, const char *name)
{
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    if (th_http("GET", url, NULL, NULL, &body) != 200) {
        free(body);
        return -1;
    }
    double v = -1;
    char needle[160];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = strstr(body, needle);
    if (at != NULL)
        v = strtod(at + strlen(needle), NULL);
    free(body);
    return v;
}

START_TEST(a_restarted_ingester_resumes_within_10_s)
{
    th_db_new();
    const char *brokers = th_broker_start(3);
    /* The library's own session settings (10 s), as in production, and a static member id
     * that the restarted process presents again. */
    setenv("KAFKA_GROUP_INSTANCE_ID", "ingester-static-1", 1);
    pid_t ing = tu_start_ingester(brokers, th_free_port(), "ingester-1", "KAFKA_CONFIG=");
    mc_producer *p = tu_producer(brokers);
    char *v = usage_value(1);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, &v, NULL, 1);
    free(v);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 1, 30000));
    kill(ing, SIGKILL);
    ck_assert_int_ne(th_wait_exit(ing, 5000), -1);
    int64_t restarted = mc_now_mono_ms();
    tu_start_ingester(brokers, th_free_port(), "ingester-2", "KAFKA_CONFIG=");
    v = usage_value(2);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, &v, NULL, 1);
    free(v);
    mc_producer_free(p, 1000);
    bool resumed = tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 2, 10000);
    ck_assert_msg(resumed, "nothing applied within 10 s of the restart");
    fprintf(stderr, "restarted ingester applied its first event after %lld ms\n",
            (long long)(mc_now_mono_ms() - restarted));
}
END_TEST

START_TEST(a_refusing_dlq_holds_only_its_partition_and_readiness_says_so)
{
    th_db_new();
    const char *brokers = th_broker_start(3);
    /* The DLQ topic is gone (deleted by mistake, or its ACL revoked): dead letters are
     * refused until it is back. */
    ck_assert_int_eq(th_topic_delete(MC_TOPIC_USAGE_DLQ), 0);
    int port = th_free_port();
    tu_start_ingester(brokers, port, "ingester", "KAFKA_STALL_TIMEOUT=3s");
    ck_assert(healthz_becomes(port, 200, NULL, 30000));
    produce_to(brokers, MC_TOPIC_USAGE_EVENTS, 0, "k", "{\"not\":\"an event\"}");
    unsigned long n = 0;
    for (int part = 0; part < 3; part++) {
        for (int i = 0; i < 5; i++) {
            char *v = usage_value(++n);
            produce_to(brokers, MC_TOPIC_USAGE_EVENTS, part, "k", v);
            free(v);
        }
    }
    /* Partitions 1 and 2 are applied while partition 0 waits for the DLQ. */
    int64_t deadline = mc_now_mono_ms() + 60000;
    while ((applied_in(1) < 5 || applied_in(2) < 5) && mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    ck_assert_int_eq(applied_in(1), 5);
    ck_assert_int_eq(applied_in(2), 5);
    ck_assert_int_eq(applied_in(0), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 10);
    /* Messages wait and nothing moves: the ingester is not ready, and says why. */
    ck_assert_msg(healthz_becomes(port, 503, "\"consumer\":\"error\"", 20000),
                  "/healthz stayed ready while partition 0 could not progress");
    ck_assert(metric(port, "multica_kafka_consumer_lag") >= 6);
    ck_assert(metric(port, "multica_kafka_consumer_assigned_partitions") == 6);
    /* The DLQ returns: partition 0 goes on, the bad message in the DLQ, its good ones
     * applied, and the ingester is ready again. */
    char err[256];
    ck_assert_int_eq(mc_kafka_ensure_topics(brokers, 3, 1, NULL, NULL, err, sizeof err), 0);
    deadline = mc_now_mono_ms() + 90000;
    while (applied_in(0) < 6 && mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    ck_assert_int_eq(applied_in(0), 6);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 15);
    ck_assert(healthz_becomes(port, 200, NULL, 20000));
    json_t *dlq = th_consume_all(brokers, MC_TOPIC_USAGE_DLQ);
    ck_assert_uint_ge(json_array_size(dlq), 1);
    json_decref(dlq);
}
END_TEST

/* Parses `kafka-consumer-groups --describe` output: sums CURRENT-OFFSET and LAG over the rows
 * of one topic. Returns the number of rows. */
static int describe_group(const char *group, const char *topic, int64_t *current, int64_t *lag)
{
    char *out = th_kafka_tool("consumer-groups --describe --group '%s'", group);
    *current = *lag = 0;
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char g[256], t[256], cur[32], end[32], lg[32];
        int part;
        if (sscanf(line, "%255s %255s %d %31s %31s %31s", g, t, &part, cur, end, lg) != 6 ||
            strcmp(t, topic) != 0)
            continue;
        rows++;
        *current += strtoll(cur, NULL, 10);
        *lag += strtoll(lg, NULL, 10);
    }
    free(out);
    return rows;
}

START_TEST(applied_offsets_reach_kafka_for_lag_tools)
{
    th_db_new();
    const char *brokers = th_broker_start(3);
    pid_t ing = tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    mc_producer *p = tu_producer(brokers);
    char *values[20];
    for (int i = 0; i < 20; i++)
        values[i] = usage_value((unsigned long)i + 1);
    tu_send(p, MC_TOPIC_USAGE_EVENTS, values, NULL, 20);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, 20, 30000));
    const char *group = mc_topic("multica-usage-ingester");
    const char *topic = mc_topic(MC_TOPIC_USAGE_EVENTS);
    int64_t current = 0, lag = -1;
    int64_t deadline = mc_now_mono_ms() + 30000;
    while ((current != 20 || lag != 0) && mc_now_mono_ms() < deadline)
        describe_group(group, topic, &current, &lag);
    ck_assert_int_eq(current, 20);
    ck_assert_int_eq(lag, 0);
    /* The ingester stops; what arrives meanwhile is lag that the broker's tool shows. */
    ck_assert_int_eq(th_stop(ing, SIGTERM, 15000), 0);
    for (int i = 0; i < 7; i++) {
        free(values[i]);
        values[i] = usage_value(100 + (unsigned long)i);
    }
    tu_send(p, MC_TOPIC_USAGE_EVENTS, values, NULL, 7);
    mc_producer_free(p, 1000);
    ck_assert_int_eq(describe_group(group, topic, &current, &lag), 3);
    ck_assert_int_eq(current, 20);
    ck_assert_int_eq(lag, 7);
    for (int i = 0; i < 20; i++)
        free(values[i]);
}
END_TEST

START_TEST(gateway_readiness_follows_its_projection)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    const char *extra[] = {"KAFKA_STALL_TIMEOUT=2s", NULL};
    int port = atoi(strrchr(tg_start(brokers, extra, NULL), ':') + 1);
    ck_assert(healthz_becomes(port, 200, "\"consumer\":\"ok\"", 30000));
    /* Readiness can come before the group's assignment settles (a rebalance right after the
     * join leaves the member with no partitions for a moment): wait for both. */
    int64_t assigned_by = mc_now_mono_ms() + 30000;
    while (metric(port, "multica_kafka_consumer_assigned_partitions") != 2 &&
           mc_now_mono_ms() < assigned_by)
        usleep(100 * 1000);
    ck_assert(metric(port, "multica_kafka_consumer_assigned_partitions") == 2);
    /* A lock the projection needs is held (a migration, a stuck transaction): task events
     * pile up in the group's partitions and the read model goes stale. */
    PGconn *locker = PQconnectdb(th_db_url_as("multica_gateway"));
    ck_assert_int_eq(PQstatus(locker), CONNECTION_OK);
    PQclear(PQexec(locker, "BEGIN"));
    PGresult *r = PQexec(locker, "LOCK TABLE gateway.tasks IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    mc_producer *p = tu_producer(brokers);
    char *events[4];
    for (int i = 0; i < 4; i++) {
        char task[MC_UUID_STRLEN];
        tu_uuid(task, 0xb0000004, (unsigned long)i);
        events[i] = tu_task_event(MC_EV_TASK_QUEUED, task, "0195f1c2-0000-7000-8000-0000000000b1",
                                  "0195f1c2-0000-7000-8000-0000000000c1",
                                  "0195f1c2-0000-7000-8000-00000000000a", NULL, 1);
    }
    tu_send(p, MC_TOPIC_TASK_EVENTS, events, NULL, 4);
    mc_producer_free(p, 1000);
    ck_assert_msg(healthz_becomes(port, 503, "\"consumer\":\"error\"", 20000),
                  "the gateway stayed ready with a stalled projection");
    ck_assert(metric(port, "multica_kafka_consumer_lag") >= 1);
    ck_assert(metric(port, "multica_kafka_consumer_idle_seconds") >= 2);
    /* The lock goes: the projection catches up and the gateway is ready again. */
    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    ck_assert(healthz_becomes(port, 200, "\"consumer\":\"ok\"", 20000));
    ck_assert(metric(port, "multica_kafka_consumer_lag") == 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM gateway.tasks"), 4);
    for (int i = 0; i < 4; i++)
        free(events[i]);
}
END_TEST

#define RT_TOKEN "mul_b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
enum { KILL_REPORTS = 240 };

START_TEST(a_broker_killed_mid_stream_loses_and_doubles_nothing)
{
    th_db_new();
    /* A daemon's user and personal access token, a member of the tasks' workspace. */
    th_sql("INSERT INTO gateway.users (id, email) VALUES "
           "('0195f1c2-0000-7000-8000-0000000000d1', 'daemon@example.com')");
    th_sql("INSERT INTO gateway.workspaces (id, name) VALUES "
           "('0195f1c2-0000-7000-8000-0000000000b1', 'acme')");
    th_sql("INSERT INTO gateway.members (workspace_id, user_id, role) VALUES "
           "('0195f1c2-0000-7000-8000-0000000000b1', '0195f1c2-0000-7000-8000-0000000000d1', "
           "'owner')");
    th_sql("INSERT INTO gateway.personal_access_tokens (id, user_id, name, token_hash, "
           "token_prefix) VALUES ('0195f1c2-0000-7000-8000-0000000000e1', "
           "'0195f1c2-0000-7000-8000-0000000000d1', 'daemon', encode(sha256('" RT_TOKEN "'), "
           "'hex'), 'mul_b0b0b0b0')");
    th_sql("INSERT INTO gateway.runtimes (id, workspace_id, name) VALUES "
           "('0195f1c2-0000-7000-8000-00000000000a', '0195f1c2-0000-7000-8000-0000000000b1', "
           "'laptop')");
    th_sql("INSERT INTO gateway.tasks (task_id, workspace_id, agent_id, runtime_id, status) "
           "SELECT ('b0000005-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, "
           "'0195f1c2-0000-7000-8000-0000000000b1', '0195f1c2-0000-7000-8000-0000000000c1', "
           "'0195f1c2-0000-7000-8000-00000000000a', 'running' FROM generate_series(1, 240) i");
    const char *brokers = th_broker_start(3);
    const char *extra[] = {"PRODUCE_TIMEOUT=2s", NULL};
    const char *base = tg_start(brokers, extra, NULL);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    int status[KILL_REPORTS + 1];
    int accepted = 0, refused = 0;
    for (int i = 1; i <= KILL_REPORTS; i++) {
        if (i == 80)
            th_broker_kill_now();
        if (i == 84)
            th_broker_start_now();
        char path[128], body[256];
        snprintf(path, sizeof path, "/api/daemon/tasks/b0000005-0000-7000-8000-%012x/usage", i);
        snprintf(body, sizeof body,
                 "[{\"provider\":\"openai\",\"model\":\"gpt-5\",\"input_tokens\":%d,"
                 "\"output_tokens\":1}]",
                 i);
        status[i] = tg_call(base, "POST", path, RT_TOKEN, body, NULL);
        ck_assert_msg(status[i] == 202 || status[i] == 503, "report %d answered %d", i, status[i]);
        accepted += status[i] == 202;
        refused += status[i] == 503;
    }
    ck_assert_int_gt(refused, 0);    /* the outage was seen */
    ck_assert_int_gt(accepted, 200); /* and ridden out */
    /* Every accepted report is applied exactly once; a refused one at most once (its
     * produce may have reached the broker before the answer was lost). */
    int64_t deadline = mc_now_mono_ms() + 60000;
    while (th_sql_int("SELECT count(*) FROM usage.task_usage") < accepted &&
           mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    usleep(2000 * 1000);
    for (int i = 1; i <= KILL_REPORTS; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) * 1000000 + coalesce(sum(input_tokens), 0) FROM "
                 "usage.task_usage WHERE task_id = 'b0000005-0000-7000-8000-%012x'",
                 i);
        int64_t got = th_sql_int(sql);
        if (status[i] == 202)
            ck_assert_msg(got == 1000000 + i, "accepted report %d: %lld", i, (long long)got);
        else
            ck_assert_msg(got == 0 || got == 1000000 + i, "refused report %d: %lld", i,
                          (long long)got);
    }
    /* The log on disk survived the crash: the topic still holds every accepted event. */
    json_t *all = th_consume_all(brokers, MC_TOPIC_USAGE_EVENTS);
    ck_assert_int_ge((int)json_array_size(all), accepted);
    json_decref(all);
}
END_TEST

Suite *suite_broker(void)
{
    Suite *s = suite_create("broker");
    TCase *tc = tcase_create("apache-kafka");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, a_restarted_ingester_resumes_within_10_s);
    tcase_add_test(tc, a_refusing_dlq_holds_only_its_partition_and_readiness_says_so);
    tcase_add_test(tc, applied_offsets_reach_kafka_for_lag_tools);
    tcase_add_test(tc, gateway_readiness_follows_its_projection);
    tcase_add_test(tc, a_broker_killed_mid_stream_loses_and_doubles_nothing);
    suite_add_tcase(s, tc);
    return s;
}
