/* test_gateway_usage.c: the daemon usage endpoints end to end, called with a daemon's personal
 * access token: validation naming the field, 202 only after the broker acknowledged, 207
 * per-entry answers, 503 while the broker is down, cost_usd_ticks kept, and the produced
 * events against their schema. */
#include "harness.h"
#include "mc_kafka.h"
#include "usage_gen.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN "mul_0123456789abcdef0123456789abcdef01234567"
#define TASK  "0195f1c2-7a3b-7c4d-8e5f-0123456789ab"

static char g_base[64];

static pid_t start_gateway(const char *brokers, int port)
{
    char *env[] = {
        mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_gateway")),
        mc_sprintf("KAFKA_BROKERS=%s", brokers),
        mc_sprintf("HTTP_PORT=%d", port),
        mc_sprintf("HTTP_BIND=127.0.0.1"),
        mc_sprintf("PRODUCE_TIMEOUT=1500ms"),
        mc_sprintf("APP_ENV=development"),
        NULL,
    };
    pid_t pid = th_spawn(th_bin("multica-api-gateway"), (const char *const *)env, "gateway");
    for (int i = 0; env[i]; i++)
        free(env[i]);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", port);
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", g_base);
    ck_assert_int_eq(th_wait_http_ok(url, 30000), 200);
    return pid;
}

/* A daemon's user (a member of workspace b1, not of b2) with a personal access token, its
 * runtime, and tasks the read model knows (normally from task events): four in b1, one in b2. */
static void seed_runtime(void)
{
    th_sql("INSERT INTO gateway.users (id, email) VALUES "
           "('0195f1c2-0000-7000-8000-0000000000d1', 'daemon@example.com')");
    th_sql("INSERT INTO gateway.workspaces (id, name) VALUES "
           "('0195f1c2-0000-7000-8000-0000000000b1', 'acme'), "
           "('0195f1c2-0000-7000-8000-0000000000b2', 'others')");
    th_sql("INSERT INTO gateway.members (workspace_id, user_id, role) VALUES "
           "('0195f1c2-0000-7000-8000-0000000000b1', '0195f1c2-0000-7000-8000-0000000000d1', "
           "'owner')");
    th_sql("INSERT INTO gateway.personal_access_tokens (id, user_id, name, token_hash, "
           "token_prefix) VALUES ('0195f1c2-0000-7000-8000-0000000000e1', "
           "'0195f1c2-0000-7000-8000-0000000000d1', 'daemon', encode(sha256('" TOKEN "'), "
           "'hex'), 'mul_01234567')");
    th_sql("INSERT INTO gateway.runtimes (id, workspace_id, name) VALUES "
           "('0195f1c2-0000-7000-8000-00000000000a', '0195f1c2-0000-7000-8000-0000000000b1', "
           "'laptop')");
    th_sql("INSERT INTO gateway.tasks (task_id, workspace_id, agent_id, runtime_id, status) "
           "SELECT t::uuid, '0195f1c2-0000-7000-8000-0000000000b1', "
           "'0195f1c2-0000-7000-8000-0000000000c1', '0195f1c2-0000-7000-8000-00000000000a', "
           "'running' FROM unnest(ARRAY['" TASK "', '0195f1c2-7a3b-7c4d-8e5f-0000000000b2', "
           "'0195f1c2-7a3b-7c4d-8e5f-0000000000b3', '0195f1c2-7a3b-7c4d-8e5f-0000000000b4']) t");
    th_sql(
        "INSERT INTO gateway.tasks (task_id, workspace_id, agent_id, runtime_id, status) "
        "VALUES ('0195f1c2-7a3b-7c4d-8e5f-0000000000b5', '0195f1c2-0000-7000-8000-0000000000b2', "
        "'0195f1c2-0000-7000-8000-0000000000c1', '0195f1c2-0000-7000-8000-0000000000ff', "
        "'running')");
}

static int post(const char *path, const char *token, const char *body, char **out)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {auth, NULL};
    return th_http("POST", url, token ? headers : NULL, body, out);
}

START_TEST(bad_input_is_refused_naming_the_field)
{
    th_db_new();
    seed_runtime();
    const char *brokers = th_broker_start(2);
    start_gateway(brokers, th_free_port());
    const char *task_path = "/api/daemon/tasks/" TASK "/usage";
    struct {
        const char *path, *body, *field, *message;
    } cases[] = {
        {"/api/daemon/tasks/not-a-uuid/usage", "[]", "task_id", "must be a UUID"},
        {task_path, "[]", "usage", "must be a list of 1 to 100"},
        {task_path, "{\"entries\":[]}", "usage", "must be a list"},
        {task_path, "[{\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}]",
         "usage[0].provider", "is required"},
        {task_path, "[{\"provider\":\"\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1}]",
         "usage[0].provider", "must be 1 to 64 characters"},
        {task_path, "[{\"provider\":\"p\",\"model\":7,\"input_tokens\":1,\"output_tokens\":1}]",
         "usage[0].model", "must be a string"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":-1,\"output_tokens\":1}]",
         "usage[0].input_tokens", "must be an integer between 0 and 10000000000"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1.5}]",
         "usage[0].output_tokens", "must be an integer"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1,"
         "\"cache_read_tokens\":9223372036854775808}]",
         "usage[0].cache_read_tokens", "must be an integer"},
        /* Beyond what a model produces: 10^10 + 1 (and 2^63 - 1, which was once accepted). */
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":10000000001,"
         "\"output_tokens\":1}]",
         "usage[0].input_tokens", "the most tokens of one kind a report may carry"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,"
         "\"output_tokens\":9223372036854775807}]",
         "usage[0].output_tokens", "must be an integer between 0 and 10000000000"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1,"
         "\"cache_write_tokens\":\"3\"}]",
         "usage[0].cache_write_tokens", "must be an integer"},
        {task_path, "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1}]",
         "usage[0].output_tokens", "is required"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1,\"cost\":2}]",
         "usage[0].cost", "is not a known field"},
        {task_path,
         "[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1},3]",
         "usage[1]", "must be an object"},
        {task_path,
         "{\"usage\":[{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1,"
         "\"cost_usd_ticks\":-5}]}",
         "usage[0].cost_usd_ticks", "must be an integer >= 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = NULL;
        int status = post(cases[i].path, TOKEN, cases[i].body, &body);
        ck_assert_msg(status == 400, "case %zu: status %d: %s", i, status, body);
        json_t *j = json_loads(body, 0, NULL);
        json_t *err = json_object_get(j, "error");
        ck_assert_msg(err != NULL, "case %zu: %s", i, body);
        ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "invalid_field");
        ck_assert_str_eq(json_string_value(json_object_get(err, "field")), cases[i].field);
        ck_assert_msg(strstr(json_string_value(json_object_get(err, "message")), cases[i].message),
                      "case %zu: %s", i, body);
        json_decref(j);
        free(body);
    }
    /* Too many entries, and bodies that are not JSON. */
    char *many = malloc(200 * 80 + 16);
    strcpy(many, "[");
    for (int i = 0; i < 101; i++)
        strcat(many,
               "{\"provider\":\"p\",\"model\":\"m\",\"input_tokens\":1,\"output_tokens\":1},");
    many[strlen(many) - 1] = ']';
    ck_assert_int_eq(post(task_path, TOKEN, many, NULL), 400);
    free(many);
    ck_assert_int_eq(post(task_path, TOKEN, "{\"usage\":", NULL), 400);
    /* Authentication. */
    char *body = NULL;
    ck_assert_int_eq(post(task_path, NULL, "[]", &body), 401);
    ck_assert_ptr_nonnull(strstr(body, "\"field\":\"Authorization\""));
    free(body);
    ck_assert_int_eq(post(task_path, "mul_unknown", "[]", NULL), 401);
    /* Nothing reached the topic. */
    json_t *all = th_consume_all(brokers, MC_TOPIC_USAGE_EVENTS);
    ck_assert_uint_eq(json_array_size(all), 0);
    json_decref(all);
}
END_TEST

static bool row_count_is(void *arg)
{
    return th_sql_int("SELECT count(*) FROM usage.task_usage") == *(int64_t *)arg;
}

START_TEST(accepted_reports_reach_task_usage)
{
    th_db_new();
    seed_runtime();
    const char *brokers = th_broker_start(2);
    start_gateway(brokers, th_free_port());
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    char *body = NULL;
    int status =
        post("/api/daemon/tasks/" TASK "/usage", TOKEN,
             "{\"usage\":[{\"provider\":\"Anthropic\",\"model\":\"claude-sonnet-4\","
             "\"input_tokens\":100,\"output_tokens\":50,\"cache_read_tokens\":1000,"
             "\"cache_write_tokens\":10,\"cost_usd_ticks\":31400000},{\"provider\":\"openai\","
             "\"model\":\"gpt-5\",\"input_tokens\":7,\"output_tokens\":3}]}",
             &body);
    ck_assert_msg(status == 202, "%d %s", status, body);
    ck_assert_ptr_nonnull(strstr(body, "\"accepted\":2"));
    free(body);
    /* The batch endpoint: per-entry answers, valid entries applied. */
    status = post("/api/daemon/usage", TOKEN,
                  "[{\"task_id\":\"0195f1c2-7a3b-7c4d-8e5f-0000000000b2\",\"provider\":\"openai\","
                  "\"model\":\"gpt-5\",\"input_tokens\":1,\"output_tokens\":2},"
                  "{\"task_id\":\"nope\",\"provider\":\"openai\",\"model\":\"gpt-5\","
                  "\"input_tokens\":1,\"output_tokens\":2},"
                  "{\"task_id\":\"0195f1c2-7a3b-7c4d-8e5f-0000000000b3\",\"provider\":\"openai\","
                  "\"model\":\"gpt-5\",\"input_tokens\":-4,\"output_tokens\":2},"
                  "{\"task_id\":\"0195f1c2-7a3b-7c4d-8e5f-0000000000b4\",\"provider\":\"google\","
                  "\"model\":\"gemini\",\"input_tokens\":5,\"output_tokens\":6},"
                  "{\"task_id\":\"0195f1c2-7a3b-7c4d-8e5f-0000000000ee\",\"provider\":\"google\","
                  "\"model\":\"gemini\",\"input_tokens\":5,\"output_tokens\":6},"
                  "{\"task_id\":\"0195f1c2-7a3b-7c4d-8e5f-0000000000b5\",\"provider\":\"google\","
                  "\"model\":\"gemini\",\"input_tokens\":5,\"output_tokens\":6}]",
                  &body);
    ck_assert_msg(status == 207, "%d %s", status, body);
    json_t *j = json_loads(body, 0, NULL);
    json_t *results = json_object_get(j, "results");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "accepted")), 2);
    int expect[] = {202, 400, 400, 202, 409, 403};
    const char *fields[] = {NULL, "usage[1].task_id", "usage[2].input_tokens",
                            NULL, "task_id",          "task_id"};
    for (int i = 0; i < 6; i++) {
        json_t *r = json_array_get(results, (size_t)i);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "status")), expect[i]);
        if (fields[i])
            ck_assert_str_eq(
                json_string_value(json_object_get(json_object_get(r, "error"), "field")),
                fields[i]);
    }
    json_decref(j);
    free(body);
    int64_t want = 4;
    ck_assert(th_eventually(row_count_is, &want, 30000));
    ck_assert_int_eq(th_sql_int("SELECT input_tokens + output_tokens + cache_read_tokens + "
                                "cache_write_tokens FROM usage.task_usage WHERE provider = "
                                "'anthropic'"),
                     1160);
    /* The agent CLI's own price travels with the usage; a report without one stores none. */
    ck_assert_int_eq(th_sql_int("SELECT cost_usd_ticks FROM usage.task_usage WHERE provider = "
                                "'anthropic'"),
                     31400000);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage WHERE provider = 'openai' "
                                "AND model = 'gpt-5' AND cost_usd_ticks IS NULL"),
                     2);
    /* What the gateway produced is what the schema promises. */
    json_t *produced = th_consume_all(brokers, MC_TOPIC_USAGE_EVENTS);
    ck_assert_uint_eq(json_array_size(produced), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *m = json_array_get(produced, i);
        const char *key = json_string_value(json_object_get(m, "key"));
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(m, "value")), key));
    }
    th_capture(produced);
    json_decref(produced);
}
END_TEST

START_TEST(broker_outage_answers_503_then_recovers)
{
    th_db_new();
    seed_runtime();
    const char *brokers = th_broker_start(1);
    start_gateway(brokers, th_free_port());
    const char *entry =
        "[{\"provider\":\"openai\",\"model\":\"gpt-5\",\"input_tokens\":1,\"output_tokens\":1}]";
    ck_assert_int_eq(post("/api/daemon/tasks/" TASK "/usage", TOKEN, entry, NULL), 202);
    th_broker_stop_now();
    char *body = NULL;
    ck_assert_int_eq(post("/api/daemon/tasks/" TASK "/usage", TOKEN, entry, &body), 503);
    ck_assert_ptr_nonnull(strstr(body, "\"code\":\"unavailable\""));
    free(body);
    th_broker_start_now();
    int status = 0;
    for (int i = 0; i < 20 && status != 202; i++)
        status = post("/api/daemon/tasks/" TASK "/usage", TOKEN, entry, NULL);
    ck_assert_int_eq(status, 202);
}
END_TEST

Suite *suite_gateway_usage(void)
{
    Suite *s = suite_create("gateway_usage");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_input_is_refused_naming_the_field);
    tcase_add_test(tc, accepted_reports_reach_task_usage);
    tcase_add_test(tc, broker_outage_answers_503_then_recovers);
    suite_add_tcase(s, tc);
    return s;
}
