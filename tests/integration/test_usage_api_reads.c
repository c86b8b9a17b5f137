/* test_usage_api_reads.c: Multica's usage reads as Multica answers them: a days outside 1..365
 * falls back to the default, days are cut in ?tz, else the user's stored zone (PATCH /api/me),
 * else UTC, an unknown zone falling through; by-hour is the hour of the day; providers are
 * lower-cased; the dashboard's by-agent window is exactly `days` days where the daily series
 * reaches one day further, as Multica's; sums beyond 64 bits answer 200; a database outage
 * while the time zone is checked answers 503 (issue 13.10); and a task that completed without
 * any usage report is flagged, per task, per runtime in the API and in /metrics. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One usage row of the workspace's agent and runtime, created at `at` (an SQL expression). */
static void row_at(struct ua_stack *s, int n, const char *at, int64_t tokens)
{
    char *sql = mc_sprintf(
        "WITH a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, "
        "runtime_id, version) VALUES ('f1000000-0000-7000-8000-%012d', '%s', '%s', '%s', 1)) "
        "INSERT INTO usage.task_usage (task_id, provider, model, input_tokens, output_tokens, "
        "cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at) VALUES "
        "('f1000000-0000-7000-8000-%012d', 'openai', 'gpt-5', %lld, 0, 0, 0, %s, %s, now())",
        n, s->ws, s->agent, s->runtime, n, (long long)tokens, at, at);
    th_sql(sql);
    free(sql);
}

/* The hour of the day of the row two days ago, as a by-hour read answers it. */
static int64_t hour_seen(struct ua_stack *s, const char *query)
{
    json_t *rows = ua_get(s, "/api/runtimes/%s/usage/by-hour?days=3%s", s->runtime, query);
    ck_assert_uint_eq(json_array_size(rows), 1);
    json_t *h = json_object_get(json_array_get(rows, 0), "hour");
    ck_assert(json_is_integer(h));
    int64_t v = json_integer_value(h);
    ck_assert(v >= 0 && v <= 23);
    json_decref(rows);
    return v;
}

#define TWO_DAYS_AGO "date_trunc('hour', now() - interval '2 days', 'UTC') + interval '30 minutes'"

START_TEST(reads_fall_back_and_cut_days_in_the_viewers_zone)
{
    struct ua_stack s;
    ua_start(&s);
    row_at(&s, 1, TWO_DAYS_AGO, 10);
    row_at(&s, 2, "now() - interval '60 days'", 200);
    row_at(&s, 3, "now() - interval '100 days'", 3000);
    ua_rollup();
    /* days outside 1..365, or not a number, read as the default (90 for a runtime). */
    ck_assert_int_eq(ua_tokens_of(ua_get(&s, "/api/runtimes/%s/usage", s.runtime)), 210);
    ck_assert_int_eq(ua_tokens_of(ua_get(&s, "/api/runtimes/%s/usage?days=30", s.runtime)), 10);
    ck_assert_int_eq(ua_tokens_of(ua_get(&s, "/api/runtimes/%s/usage?days=365", s.runtime)), 3210);
    const char *odd[] = {"0", "366", "abc", "-5", "", "12x"};
    for (size_t i = 0; i < MC_ARRAY_LEN(odd); i++)
        ck_assert_int_eq(
            ua_tokens_of(ua_get(&s, "/api/runtimes/%s/usage?days=%s", s.runtime, odd[i])), 210);
    /* By hour: the hour of the day in the zone: ?tz, else the stored zone, else UTC. */
    int64_t utc = th_sql_int("SELECT extract(hour FROM (" TWO_DAYS_AGO ") AT TIME ZONE 'UTC')");
    int64_t kolkata =
        th_sql_int("SELECT extract(hour FROM date_trunc('hour', " TWO_DAYS_AGO ", 'UTC') AT TIME "
                   "ZONE 'Asia/Kolkata')");
    ck_assert_int_ne(utc, kolkata);
    ck_assert_int_eq(hour_seen(&s, ""), utc);
    ck_assert_int_eq(hour_seen(&s, "&tz=Mars/Olympus"), utc);
    ck_assert_int_eq(hour_seen(&s, "&tz=Asia/Kolkata"), kolkata);
    json_t *out = NULL;
    ck_assert_int_eq(
        ua_call(&s, s.token, "PATCH", "{\"timezone\":\"Mars/Olympus\"}", &out, "/api/me"), 400);
    ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "timezone");
    json_decref(out);
    ck_assert_int_eq(
        ua_call(&s, s.token, "PATCH", "{\"timezone\":\"Asia/Kolkata\"}", &out, "/api/me"), 200);
    ck_assert_str_eq(tg_str(out, "time_zone"), "Asia/Kolkata");
    json_decref(out);
    ck_assert_int_eq(hour_seen(&s, ""), kolkata);
    ck_assert_int_eq(hour_seen(&s, "&tz=Mars/Olympus"), kolkata);
    ck_assert_int_eq(hour_seen(&s, "&tz=UTC"), utc);
    ck_assert_int_eq(ua_call(&s, s.token, "PATCH", "{\"timezone\":\"\"}", NULL, "/api/me"), 200);
    ck_assert_int_eq(hour_seen(&s, ""), utc);
    /* Multica's fields, with the provider lower-cased: a bucket written as "OpenAI" joins
     * "openai" (Multica lower-cases for rows written before it lower-cased on write). */
    th_sql("INSERT INTO usage.task_usage_hourly (workspace_id, runtime_id, agent_id, provider, "
           "model, bucket_hour, input_tokens, output_tokens, cache_read_tokens, "
           "cache_write_tokens, task_count, uncosted_input_tokens) SELECT workspace_id, "
           "runtime_id, agent_id, 'OpenAI', model, bucket_hour, 5, 0, 0, 0, 1, 5 FROM "
           "usage.task_usage_hourly WHERE input_tokens = 10");
    json_t *rows = ua_get(&s, "/api/runtimes/%s/usage?days=7", s.runtime);
    ck_assert_uint_eq(json_array_size(rows), 1);
    json_t *r = json_array_get(rows, 0);
    ck_assert_str_eq(tg_str(r, "provider"), "openai");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "input_tokens")), 15);
    ck_assert_str_eq(tg_str(r, "runtime_id"), s.runtime);
    static const char *const fields[] = {
        "date",
        "model",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd_ticks",
        "uncosted_input_tokens",
        "uncosted_output_tokens",
        "uncosted_cache_read_tokens",
        "uncosted_cache_write_tokens",
        "estimated_cost_usd_ticks",
        "total_cost_usd_ticks",
        "unpriced_tokens",
        "task_count",
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(fields); i++)
        ck_assert_msg(json_object_get(r, fields[i]) != NULL, "no %s", fields[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "uncosted_input_tokens")), 15);
    json_decref(rows);
    rows = ua_get(&s, "/api/runtimes/%s/usage/by-agent", s.runtime);
    ck_assert_str_eq(tg_str(json_array_get(rows, 0), "agent_id"), s.agent);
    json_decref(rows);
    /* The dashboard: days=1 is today and yesterday for the daily series (Multica's N+1 days,
     * trimmed by its client), today alone for by-agent (its exact window). */
    row_at(&s, 4, "date_trunc('day', now(), 'UTC') - interval '1 hour'", 400000);
    row_at(&s, 5, "now()", 5000000);
    ua_rollup();
    ck_assert_int_eq(
        ua_tokens_of(ua_get(&s, "/api/dashboard/usage/daily?workspace_id=%s&days=1&tz=UTC", s.ws)),
        5400000);
    ck_assert_int_eq(ua_tokens_of(ua_get(
                         &s, "/api/dashboard/usage/by-agent?workspace_id=%s&days=1&tz=UTC", s.ws)),
                     5000000);
    ck_assert_int_eq(ua_call(&s, s.token, "GET", NULL, &out,
                             "/api/dashboard/usage/daily?workspace_id=%s&project_id=x", s.ws),
                     400);
    ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "project_id");
    json_decref(out);
    ck_assert_int_eq(ua_call(&s, s.token, "GET", NULL, NULL, "/api/dashboard/usage/daily"), 400);
    ua_stop(&s);
}
END_TEST

START_TEST(sums_beyond_64_bits_are_answered)
{
    struct ua_stack s;
    ua_start(&s);
    /* Two buckets of 9 x 10^18 tokens and ticks each: 1.8 x 10^19 does not fit a bigint. Both
     * in the current hour (one without a project, one with), so every read sums them into one
     * row whatever the time of day. */
    char *sql = mc_sprintf(
        "INSERT INTO usage.task_usage_hourly (workspace_id, runtime_id, agent_id, provider, "
        "model, bucket_hour, project_id, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, task_count, estimated_cost_usd_ticks, uncosted_input_tokens) SELECT "
        "'%s', '%s', '%s', 'openai', 'gpt-5', date_trunc('hour', now(), 'UTC'), CASE g WHEN 2 "
        "THEN gen_random_uuid() END, 9000000000000000000, 0, 0, 0, 1, 9000000000000000000, "
        "9000000000000000000 FROM generate_series(1, 2) g",
        s.ws, s.runtime, s.agent);
    th_sql(sql);
    free(sql);
    char auth[1200];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s.token);
    const char *headers[] = {auth, NULL};
    const char *paths[] = {"/api/runtimes/%s/usage/by-agent", "/api/workspaces/%s/usage",
                           "/api/runtimes/%s/usage?format=csv"};
    for (size_t i = 0; i < MC_ARRAY_LEN(paths); i++) {
        char path[256], url[512], *body = NULL;
        snprintf(path, sizeof path, paths[i], i == 1 ? s.ws : s.runtime);
        snprintf(url, sizeof url, "%s%s", s.base, path);
        ck_assert_int_eq(th_http("GET", url, headers, NULL, &body), 200);
        ck_assert_msg(strstr(body, "18000000000000000000"), "%s: %s", path, body);
        free(body);
    }
    ua_stop(&s);
}
END_TEST

struct pending {
    struct ua_stack *s;
    char path[256];
    int status;
    json_t *out;
};

static void *get_in_background(void *arg)
{
    struct pending *p = arg;
    p->status = tg_call(p->s->base, "GET", p->path, p->s->token, NULL, &p->out);
    return NULL;
}

static bool gateway_waits_for_users(void *arg)
{
    (void)arg;
    return th_sql_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                      "'api-gateway' AND wait_event_type = 'Lock'") > 0;
}

START_TEST(a_database_outage_during_the_time_zone_check_answers_503)
{
    struct ua_stack s;
    ua_start(&s);
    /* The zone check of a read with an unknown ?tz reads the user's stored zone; hold that
     * read, then take the gateway's connection away under it, as an outage would. */
    PGconn *holder = PQconnectdb(th_db_url_as("multica_gateway"));
    ck_assert_int_eq(PQstatus(holder), CONNECTION_OK);
    PQclear(PQexec(holder, "BEGIN"));
    PGresult *r = PQexec(holder, "LOCK TABLE gateway.users IN ACCESS EXCLUSIVE MODE");
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(holder));
    PQclear(r);
    struct pending p = {.s = &s};
    snprintf(p.path, sizeof p.path, "/api/runtimes/%s/usage?tz=Mars/Olympus", s.runtime);
    pthread_t t;
    pthread_create(&t, NULL, get_in_background, &p);
    ck_assert(th_eventually(gateway_waits_for_users, NULL, 10000));
    th_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
           "'api-gateway' AND wait_event_type = 'Lock'");
    pthread_join(t, NULL);
    PQclear(PQexec(holder, "ROLLBACK"));
    PQfinish(holder);
    ck_assert_int_eq(p.status, 503);
    ck_assert_str_eq(tg_str(json_object_get(p.out, "error"), "code"), "unavailable");
    json_decref(p.out);
    /* And once the database answers, the unknown zone is read as none. */
    json_t *rows = ua_get(&s, "/api/runtimes/%s/usage?tz=Mars/Olympus", s.runtime);
    ck_assert(json_is_array(rows));
    json_decref(rows);
    ua_stop(&s);
}
END_TEST

static int64_t missing_in_runtimes(struct ua_stack *s)
{
    json_t *rts = ua_get(s, "/api/runtimes?workspace_id=%s", s->ws);
    int64_t n = ua_sum(rts, "usage_missing_tasks");
    json_decref(rts);
    return n;
}

static bool metrics_say(void *arg)
{
    const char **want = arg; /* {url, text} */
    char *body = NULL;
    bool yes = th_http("GET", want[0], NULL, NULL, &body) == 200 && strstr(body, want[1]);
    free(body);
    return yes;
}

static bool metrics_lack(void *arg)
{
    const char **want = arg;
    char *body = NULL;
    bool no = th_http("GET", want[0], NULL, NULL, &body) == 200 && !strstr(body, want[1]);
    free(body);
    return no;
}

START_TEST(a_task_completed_without_usage_is_flagged)
{
    struct ua_stack s;
    ua_start(&s);
    char lost[37], fine[37], gone[37];
    tu_uuid(lost, 0xe2000000, 1);
    tu_uuid(fine, 0xe2000000, 2);
    tu_uuid(gone, 0xe2000000, 3);
    /* The gateway's read model knows the task (normally from its events). */
    char *sql = mc_sprintf("INSERT INTO gateway.tasks (task_id, workspace_id, agent_id, "
                           "runtime_id, status) VALUES ('%s', '%s', '%s', '%s', 'completed')",
                           lost, s.ws, s.agent, s.runtime);
    th_sql(sql);
    free(sql);
    const char *tasks[] = {lost, fine, gone};
    for (int i = 0; i < 3; i++)
        ua_task(&s, MC_EV_TASK_QUEUED, tasks[i], s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, fine, "openai", "gpt-5", 10, 1, 0, 0, mc_now_wall_us());
    ua_task(&s, MC_EV_TASK_COMPLETED, lost, s.ws, s.agent, s.runtime, NULL, 2);
    ua_task(&s, MC_EV_TASK_COMPLETED, fine, s.ws, s.agent, s.runtime, NULL, 2);
    ua_task(&s, MC_EV_TASK_COMPLETED, gone, s.ws, s.agent, s.runtime, NULL, 2);
    ua_task(&s, MC_EV_TASK_DELETED, gone, s.ws, s.agent, s.runtime, NULL, 3);
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_attribution WHERE usage_missing"),
                     1);
    json_t *t = ua_get(&s, "/api/tasks/%s", lost);
    ck_assert(json_is_true(json_object_get(t, "usage_missing")));
    json_decref(t);
    ck_assert_int_eq(missing_in_runtimes(&s), 1);
    char url[128], want[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s.ingester_port);
    snprintf(want, sizeof want, "multica_usage_missing_tasks{runtime_id=\"%s\"} 1\n", s.runtime);
    const char *probe[] = {url, want};
    ck_assert_msg(th_eventually(metrics_say, probe, 20000), "no %s at %s", want, url);
    /* Its usage arrives after all: the flag, the count and the series clear. */
    ua_usage(&s, lost, "openai", "gpt-5", 1, 1, 0, 0, mc_now_wall_us());
    ua_settle(&s);
    t = ua_get(&s, "/api/tasks/%s", lost);
    ck_assert(json_is_false(json_object_get(t, "usage_missing")));
    json_decref(t);
    ck_assert_int_eq(missing_in_runtimes(&s), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_attribution WHERE usage_missing"),
                     0);
    snprintf(want, sizeof want, "multica_usage_missing_tasks{runtime_id=\"%s\"}", s.runtime);
    ck_assert_msg(th_eventually(metrics_lack, probe, 20000), "%s still at %s", want, url);
    ua_stop(&s);
}
END_TEST

TCase *ua_case_reads(void)
{
    TCase *tc = tcase_create("reads");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reads_fall_back_and_cut_days_in_the_viewers_zone);
    tcase_add_test(tc, sums_beyond_64_bits_are_answered);
    tcase_add_test(tc, a_database_outage_during_the_time_zone_check_answers_503);
    tcase_add_test(tc, a_task_completed_without_usage_is_flagged);
    return tc;
}
