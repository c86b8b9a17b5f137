/* usage_gen.c: event builders, ingester processes and expected-rows checks for tests. */
#include "usage_gen.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_expected;
static size_t g_expected_len, g_expected_cap;

uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void tu_uuid(char out[MC_UUID_STRLEN], unsigned prefix, unsigned long n)
{
    snprintf(out, MC_UUID_STRLEN, "%08x-0000-7000-8000-%012lx", prefix, n);
}

char *tu_usage_event(const char *task, const char *provider, const char *model, int64_t in,
                     int64_t out, int64_t cache_read, int64_t cache_write, int64_t reported_at)
{
    char ts[40];
    mc_format_rfc3339(reported_at, ts, sizeof ts);
    json_t *data = json_pack("{ss ss ss sI sI sI sI ss}", "task_id", task, "provider", provider,
                             "model", model, "input_tokens", (json_int_t)in, "output_tokens",
                             (json_int_t)out, "cache_read_tokens", (json_int_t)cache_read,
                             "cache_write_tokens", (json_int_t)cache_write, "reported_at", ts);
    char *v = mc_event_encode(MC_EV_USAGE_REPORTED, "test", task, data, NULL);
    ck_assert_ptr_nonnull(v);
    return v;
}

char *tu_task_event(const char *type, const char *task, const char *workspace, const char *agent,
                    const char *runtime, const char *issue, int64_t version)
{
    const char *status = strcmp(type, MC_EV_TASK_DELETED) == 0     ? "deleted"
                         : strcmp(type, MC_EV_TASK_COMPLETED) == 0 ? "completed"
                                                                   : "queued";
    json_t *data = json_pack("{ss ss ss ss s:s? sI ss}", "task_id", task, "workspace_id", workspace,
                             "agent_id", agent, "runtime_id", runtime, "issue_id", issue, "version",
                             (json_int_t)version, "status", status);
    char *v = mc_event_encode(type, "test", task, data, NULL);
    ck_assert_ptr_nonnull(v);
    return v;
}

mc_producer *tu_producer(const char *brokers)
{
    char err[256];
    mc_producer *p = mc_producer_new(brokers, "test-producer", 30000, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

void tu_send(mc_producer *p, const char *topic, char **values, const char *const *keys, size_t n)
{
    struct mc_kmsg *m = calloc(n ? n : 1, sizeof *m);
    char(*subjects)[MC_UUID_STRLEN] = calloc(n ? n : 1, MC_UUID_STRLEN);
    for (size_t i = 0; i < n; i++) {
        const char *key = keys ? keys[i] : NULL;
        if (key == NULL) {
            /* Key by subject, as the real producers do (per-task order). */
            const char *s = strstr(values[i], "\"subject\":\"");
            if (s != NULL)
                snprintf(subjects[i], MC_UUID_STRLEN, "%.36s", s + 11);
            key = subjects[i];
        }
        m[i] = (struct mc_kmsg){.topic = topic,
                                .key = key,
                                .keylen = strlen(key),
                                .value = values[i],
                                .len = strlen(values[i])};
    }
    ck_assert_int_eq(mc_producer_send(p, m, n), 0);
    free(subjects);
    free(m);
}

pid_t tu_start_ingester(const char *brokers, int port, const char *name, const char *extra)
{
    char *env[16];
    int n = 0;
    env[n++] = mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_usage"));
    env[n++] = mc_sprintf("KAFKA_BROKERS=%s", brokers);
    env[n++] = mc_sprintf("HTTP_PORT=%d", port);
    env[n++] = mc_sprintf("HTTP_BIND=127.0.0.1");
    env[n++] = mc_sprintf("KAFKA_CONFIG=session.timeout.ms=6000,heartbeat.interval.ms=500");
    /* extra: "K=V" entries separated by spaces (no value here holds one). */
    const char *e = extra ? extra : "LOG_LEVEL=info";
    while (*e != '\0' && n < 15) {
        size_t len = strcspn(e, " ");
        if (len > 0)
            env[n++] = mc_sprintf("%.*s", (int)len, e);
        e += len + (e[len] == ' ');
    }
    env[n] = NULL;
    pid_t pid = th_spawn(th_bin("multica-usage-ingester"), (const char *const *)env, name);
    for (int i = 0; env[i] != NULL; i++)
        free(env[i]); /* the child has its own copy since the fork */
    return pid;
}

bool tu_wait_applied(const char *topic, int64_t total, int timeout_ms)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(next_offset), 0) FROM usage.consumer_offsets WHERE topic = '%s'",
             mc_topic(topic));
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    int64_t got = 0;
    while (mc_now_mono_ms() < deadline) {
        got = th_sql_int(sql);
        if (got >= total)
            return got == total;
        usleep(100 * 1000);
    }
    fprintf(stderr, "tu_wait_applied: %lld of %lld applied\n", (long long)got, (long long)total);
    return false;
}

void tu_expect_reset(void)
{
    g_expected_len = 0;
}

void tu_expect_row(const char *task, const char *provider, const char *model, int64_t in,
                   int64_t out, int64_t cache_read, int64_t cache_write)
{
    char line[512];
    int n =
        snprintf(line, sizeof line, "%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\n", task, provider, model,
                 (long long)in, (long long)out, (long long)cache_read, (long long)cache_write);
    if (g_expected_len + (size_t)n + 1 > g_expected_cap) {
        g_expected_cap = (g_expected_cap + (size_t)n + 1) * 2;
        char *grown = realloc(g_expected, g_expected_cap);
        ck_assert_ptr_nonnull(grown);
        g_expected = grown;
    }
    memcpy(g_expected + g_expected_len, line, (size_t)n);
    g_expected_len += (size_t)n;
}

int64_t tu_expect_mismatches(void)
{
    PGconn *c = th_pg();
    th_sql("DROP TABLE IF EXISTS pg_temp.expected");
    th_sql("CREATE TEMP TABLE expected (task_id uuid, provider text, model text, "
           "input_tokens bigint, output_tokens bigint, cache_read_tokens bigint, "
           "cache_write_tokens bigint)");
    PGresult *r = PQexec(c, "COPY expected FROM STDIN");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    ck_assert_int_eq(PQputCopyData(c, g_expected ? g_expected : "", (int)g_expected_len), 1);
    ck_assert_int_eq(PQputCopyEnd(c, NULL), 1);
    r = PQgetResult(c);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY: %s", PQerrorMessage(c));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    return th_sql_int(
        "SELECT count(*) FROM ((SELECT * FROM expected EXCEPT ALL "
        "SELECT task_id, provider, model, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens FROM usage.task_usage) UNION ALL "
        "(SELECT task_id, provider, model, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens FROM usage.task_usage EXCEPT ALL SELECT * FROM expected)) d");
}

int64_t tu_rollup_mismatches(void)
{
    return th_sql_int("SELECT count(*) FROM ((" TU_RAW_BUCKETS " EXCEPT ALL " TU_ROLLUP_BUCKETS
                      ") UNION ALL (" TU_ROLLUP_BUCKETS " EXCEPT ALL " TU_RAW_BUCKETS ")) d");
}

/* Every table a usage report can write or queue through, as one digest: rows in full
 * (updated_at too, so an update that writes the same values still shows). */
char *tu_state_digest(void)
{
    static const char *const sql =
        "SELECT md5(concat_ws('|', "
        "(SELECT string_agg(x::text, ',' ORDER BY x::text) FROM usage.task_usage x), "
        "(SELECT string_agg(x::text, ',' ORDER BY x::text) FROM usage.task_usage_delta x), "
        "(SELECT string_agg(x::text, ',' ORDER BY x::text) FROM usage.task_usage_dirty x), "
        "(SELECT string_agg(x::text, ',' ORDER BY x::text) FROM usage.task_attribution x), "
        "(SELECT string_agg(x::text, ',' ORDER BY x::text) FROM usage.task_usage_hourly x)))";
    PGresult *r = PQexec(th_pg(), sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(th_pg()));
    char *d = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return d;
}
