/* test_usage_api_pricing.c: the price catalogue (GET/PUT /api/pricing): who may change what,
 * bad entries refused by name, cost at the rates in force when each row was created (two rates
 * inside one hour bucket), a daemon-reported cost kept, the default catalogue matching the
 * model names agent CLIs report, and a price change that re-costs only the buckets it touches. */
#include "usage_api_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(the_catalogue_is_served_and_changed_by_whom_it_may)
{
    struct ua_stack s;
    ua_start(&s);
    json_t *out = ua_get(&s, "/api/pricing");
    ck_assert_str_eq(tg_str(out, "unit"), "ticks per million tokens (1 USD = 10^10 ticks)");
    json_t *prices = json_object_get(out, "prices");
    ck_assert_uint_ge(json_array_size(prices), 20);
    bool sonnet = false;
    size_t i;
    json_t *p;
    json_array_foreach(prices, i, p)
    {
        if (strcmp(tg_str(p, "model"), "claude-sonnet-4-5") == 0) {
            sonnet = true;
            ck_assert_str_eq(tg_str(p, "provider"), "*");
            ck_assert(json_is_null(json_object_get(p, "workspace_id")));
            ck_assert_int_eq(json_integer_value(json_object_get(p, "input_ticks_per_mtok")),
                             30000000000LL); /* $3 per million */
            ck_assert_int_eq(json_integer_value(json_object_get(p, "cache_write_ticks_per_mtok")),
                             37500000000LL);
        }
    }
    ck_assert(sonnet);
    json_decref(out);
    const char *entry = "{\"provider\":\"acme\",\"model\":\"alpha\",\"effective_from\":"
                        "\"2000-01-01T00:00:00Z\",\"input_ticks_per_mtok\":1,"
                        "\"output_ticks_per_mtok\":2,\"cache_read_ticks_per_mtok\":3,"
                        "\"cache_write_ticks_per_mtok\":4}";
    char body[1024];
    /* The default catalogue: only the users PRICING_ADMIN_EMAILS names. */
    snprintf(body, sizeof body, "{\"prices\":[%s]}", entry);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, &out, "/api/pricing"), 403);
    json_decref(out);
    char *admin = tg_login(s.base, "admin@example.com");
    ck_assert_int_eq(ua_call(&s, admin, "PUT", body, &out, "/api/pricing"), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "changed")), 1);
    json_decref(out);
    /* The same again changes nothing. */
    ck_assert_int_eq(ua_call(&s, admin, "PUT", body, &out, "/api/pricing"), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "changed")), 0);
    json_decref(out);
    /* A workspace's overrides: its owners and admins; members read them, others do not. */
    snprintf(body, sizeof body, "{\"workspace_id\":\"%s\",\"prices\":[%s]}", s.ws, entry);
    ck_assert_int_eq(ua_call(&s, admin, "PUT", body, NULL, "/api/pricing"), 404);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, NULL, "/api/pricing"), 200);
    char member[256];
    snprintf(member, sizeof member, "{\"email\":\"bob@example.com\",\"role\":\"member\"}");
    ck_assert_int_eq(ua_call(&s, s.token, "POST", member, NULL, "/api/workspaces/%s/members", s.ws),
                     201);
    char *bob = tg_login(s.base, "bob@example.com");
    ck_assert_int_eq(ua_call(&s, bob, "PUT", body, NULL, "/api/pricing"), 403);
    ck_assert_int_eq(ua_call(&s, bob, "GET", NULL, &out, "/api/pricing?workspace_id=%s", s.ws),
                     200);
    size_t overrides = 0;
    json_array_foreach(json_object_get(out, "prices"), i, p)
    {
        overrides += json_is_string(json_object_get(p, "workspace_id"));
    }
    ck_assert_uint_eq(overrides, 1);
    json_decref(out);
    ck_assert_int_eq(ua_call(&s, admin, "GET", NULL, NULL, "/api/pricing?workspace_id=%s", s.ws),
                     404);
    /* Bad entries are refused by name, and nothing changes. */
    const char *bad[][2] = {
        {"{}", "prices"},
        {"{\"prices\":[]}", "prices"},
        {"{\"prices\":[7]}", "prices[0]"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"cost\":1}]}", "prices[0].cost"},
        {"{\"prices\":[{\"model\":\"b\"}]}", "prices[0].provider"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"\"}]}", "prices[0].model"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"input_ticks_per_mtok\":-1}]}",
         "prices[0].input_ticks_per_mtok"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"input_ticks_per_mtok\":1,"
         "\"output_ticks_per_mtok\":100000000000001}]}",
         "prices[0].output_ticks_per_mtok"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"input_ticks_per_mtok\":1.5}]}",
         "prices[0].input_ticks_per_mtok"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"effective_from\":\"yesterday\"}]}",
         "prices[0].effective_from"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"remove\":true}]}",
         "prices[0].effective_from"},
        {"{\"workspace_id\":\"nope\",\"prices\":[{\"provider\":\"a\",\"model\":\"b\"}]}",
         "workspace_id"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"b\",\"effective_from\":"
         "\"0000-06-01T00:00:00Z\",\"remove\":true}]}",
         "prices[0].effective_from"},
        /* Names that normalise to no key (the table's check answered 500). */
        {"{\"prices\":[{\"provider\":\" \",\"model\":\"b\",\"input_ticks_per_mtok\":1,"
         "\"output_ticks_per_mtok\":1,\"cache_read_ticks_per_mtok\":1,"
         "\"cache_write_ticks_per_mtok\":1}]}",
         "prices"},
        {"{\"prices\":[{\"provider\":\"a\",\"model\":\"gpt/\",\"input_ticks_per_mtok\":1,"
         "\"output_ticks_per_mtok\":1,\"cache_read_ticks_per_mtok\":1,"
         "\"cache_write_ticks_per_mtok\":1}]}",
         "prices"},
    };
    int64_t before = th_sql_int("SELECT count(*) FROM usage.model_prices");
    for (size_t k = 0; k < MC_ARRAY_LEN(bad); k++) {
        ck_assert_int_eq(ua_call(&s, admin, "PUT", bad[k][0], &out, "/api/pricing"), 400);
        ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), bad[k][1]);
        json_decref(out);
    }
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.model_prices"), before);
    free(admin);
    free(bob);
    ua_stop(&s);
}
END_TEST

/* One attributed usage row in the workspace at `at` (an SQL expression). */
static void row(struct ua_stack *s, int n, const char *provider, const char *model, const char *at,
                int64_t in, int64_t out, const char *reported)
{
    char *sql = mc_sprintf(
        "WITH a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, "
        "runtime_id, version) VALUES ('f0000000-0000-7000-8000-%012d', '%s', '%s', '%s', 1) "
        "ON CONFLICT DO NOTHING) INSERT INTO usage.task_usage (task_id, provider, model, "
        "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reported_at, "
        "created_at, updated_at, cost_usd_ticks) VALUES ('f0000000-0000-7000-8000-%012d', '%s', "
        "'%s', %lld, %lld, 0, 0, %s, %s, now(), %s)",
        n, s->ws, s->agent, s->runtime, n, provider, model, (long long)in, (long long)out, at, at,
        reported ? reported : "NULL");
    th_sql(sql);
    free(sql);
}

static int64_t bucket(const char *col, const char *model, const char *hour)
{
    char *sql = mc_sprintf("SELECT %s FROM usage.task_usage_hourly WHERE model = '%s' AND "
                           "bucket_hour = %s",
                           col, model, hour);
    int64_t v = th_sql_int_or(sql, -1);
    free(sql);
    return v;
}

#define DAY10 "date_trunc('hour', now() - interval '10 days', 'UTC')"
#define DAY3  "date_trunc('hour', now() - interval '3 days', 'UTC')"

START_TEST(cost_takes_the_rates_in_force_and_a_change_re_costs_only_its_buckets)
{
    struct ua_stack s;
    ua_start(&s);
    /* The workspace's rate for acme/alpha: $1 per million input tokens, $3 from half past. */
    char from[2][40], body[1024];
    th_sql("CREATE TEMP TABLE t0 AS SELECT " DAY10 " AS h");
    int64_t h10 = th_sql_int("SELECT extract(epoch FROM h)::bigint FROM t0");
    mc_format_rfc3339(0, from[0], sizeof from[0]);
    mc_format_rfc3339((h10 + 1800) * 1000000, from[1], sizeof from[1]);
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"prices\":[{\"provider\":\"acme\",\"model\":\"alpha\","
             "\"effective_from\":\"%s\",\"input_ticks_per_mtok\":10000000000,"
             "\"output_ticks_per_mtok\":20000000000,\"cache_read_ticks_per_mtok\":0,"
             "\"cache_write_ticks_per_mtok\":0},{\"provider\":\"acme\",\"model\":\"alpha\","
             "\"effective_from\":\"%s\",\"input_ticks_per_mtok\":30000000000,"
             "\"output_ticks_per_mtok\":20000000000,\"cache_read_ticks_per_mtok\":0,"
             "\"cache_write_ticks_per_mtok\":0}]}",
             s.ws, from[0], from[1]);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, NULL, "/api/pricing"), 200);
    /* Two rows in one hour, either side of the change; one three days ago; one the daemon
     * priced itself; Claude Code's dated name under its own provider; a model nobody prices;
     * and a few hours of another model that no price change below may touch. */
    row(&s, 1, "acme", "alpha", DAY10 " + interval '5 minutes'", 1000000, 0, NULL);
    row(&s, 2, "acme", "alpha", DAY10 " + interval '50 minutes'", 1000000, 500000, NULL);
    row(&s, 3, "acme", "alpha", DAY3, 2000000, 0, NULL);
    row(&s, 4, "acme", "alpha", DAY3 " + interval '1 minute'", 5000000, 0, "777");
    row(&s, 5, "claude", "claude-sonnet-4-5-20250929", DAY3, 1000000, 100000, NULL);
    row(&s, 6, "acme", "zeta", DAY3, 40, 2, NULL);
    for (int k = 0; k < 6; k++) {
        char at[96];
        snprintf(at, sizeof at, DAY10 " + interval '%d hours'", 3 + k);
        row(&s, 10 + k, "openai", "gpt-5", at, 1000, 1000, NULL);
    }
    ua_rollup();
    /* 10^6 x $1 + (10^6 x $3 + 5 x 10^5 x $2) per million: $1 + $4 in one bucket. */
    ck_assert_int_eq(bucket("estimated_cost_usd_ticks", "alpha", DAY10), 50000000000LL);
    /* Three days ago: $3 x 2, and the daemon's own 777 ticks for its row, whose tokens are
     * uncosted no more. */
    ck_assert_int_eq(bucket("estimated_cost_usd_ticks", "alpha", DAY3), 60000000000LL);
    ck_assert_int_eq(bucket("cost_usd_ticks", "alpha", DAY3), 777);
    ck_assert_int_eq(bucket("uncosted_input_tokens", "alpha", DAY3), 2000000);
    ck_assert_int_eq(bucket("input_tokens", "alpha", DAY3), 7000000);
    /* The default's claude-sonnet-4-5 ($3, $15) prices "claude-sonnet-4-5-20250929". */
    ck_assert_int_eq(bucket("estimated_cost_usd_ticks", "claude-sonnet-4-5-20250929", DAY3),
                     45000000000LL);
    ck_assert_int_eq(bucket("unpriced_tokens", "zeta", DAY3), 42);
    ck_assert_int_eq(bucket("estimated_cost_usd_ticks", "zeta", DAY3), 0);
    /* The reads carry it: Multica's fields and ours. */
    json_t *rows = ua_get(&s, "/api/runtimes/%s/usage?days=30", s.runtime);
    ck_assert_int_eq(ua_sum(rows, "cost_usd_ticks"), 777);
    /* gpt-5 at the default $1.25 and $10: 112,500,000 ticks for each of its six rows. */
    ck_assert_int_eq(ua_sum(rows, "estimated_cost_usd_ticks"),
                     50000000000LL + 60000000000LL + 45000000000LL + 6 * 112500000LL);
    ck_assert_int_eq(ua_sum(rows, "total_cost_usd_ticks"),
                     ua_sum(rows, "cost_usd_ticks") + ua_sum(rows, "estimated_cost_usd_ticks"));
    ck_assert_int_eq(ua_sum(rows, "unpriced_tokens"), 42);
    json_decref(rows);

    /* A new rate from five days ago re-costs the one bucket of alpha since then, nothing
     * else: the function queues it, the next run changes it and no other bucket's revision. */
    th_sql("CREATE TEMP TABLE rev AS SELECT model, bucket_hour, revision FROM "
           "usage.task_usage_hourly");
    char from5[40];
    mc_format_rfc3339(mc_now_wall_us() - 5LL * 86400 * 1000000, from5, sizeof from5);
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"prices\":[{\"provider\":\"acme\",\"model\":\"alpha\","
             "\"effective_from\":\"%s\",\"input_ticks_per_mtok\":50000000000,"
             "\"output_ticks_per_mtok\":0,\"cache_read_ticks_per_mtok\":0,"
             "\"cache_write_ticks_per_mtok\":0}]}",
             s.ws, from5);
    json_t *out = NULL;
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, &out, "/api/pricing"), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "buckets_queued")), 1);
    json_decref(out);
    ck_assert_int_eq(ua_rollup(), 1);
    ck_assert_int_eq(bucket("estimated_cost_usd_ticks", "alpha", DAY3), 100000000000LL);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly h JOIN rev r USING "
                                "(model, bucket_hour) WHERE h.revision <> r.revision"),
                     1);
    /* Removing it puts the earlier rate back, for that bucket again. */
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"prices\":[{\"provider\":\"acme\",\"model\":\"alpha\","
             "\"effective_from\":\"%s\",\"remove\":true}]}",
             s.ws, from5);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, &out, "/api/pricing"), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "buckets_queued")), 1);
    json_decref(out);
    ck_assert_int_eq(ua_rollup(), 1);
    ck_assert_int_eq(bucket("estimated_cost_usd_ticks", "alpha", DAY3), 60000000000LL);
    /* A default price for everyone's gpt-5 from twelve days ago queues exactly its six
     * buckets. */
    char *admin = tg_login(s.base, "admin@example.com");
    char from12[40];
    mc_format_rfc3339(mc_now_wall_us() - 12LL * 86400 * 1000000, from12, sizeof from12);
    snprintf(body, sizeof body,
             "{\"prices\":[{\"provider\":\"*\",\"model\":\"gpt-5\",\"effective_from\":\"%s\","
             "\"input_ticks_per_mtok\":1000000000000,\"output_ticks_per_mtok\":0,"
             "\"cache_read_ticks_per_mtok\":0,\"cache_write_ticks_per_mtok\":0}]}",
             from12);
    ck_assert_int_eq(ua_call(&s, admin, "PUT", body, &out, "/api/pricing"), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "buckets_queued")), 6);
    json_decref(out);
    ck_assert_int_eq(ua_rollup(), 6);
    ck_assert_int_eq(th_sql_int("SELECT sum(estimated_cost_usd_ticks) FROM "
                                "usage.task_usage_hourly WHERE model = 'gpt-5'"),
                     6 * 1000000000LL); /* 1000 tokens x $100 per million, each */
    free(admin);
    ua_stop(&s);
}
END_TEST

TCase *ua_case_pricing(void)
{
    TCase *tc = tcase_create("pricing");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, the_catalogue_is_served_and_changed_by_whom_it_may);
    tcase_add_test(tc, cost_takes_the_rates_in_force_and_a_change_re_costs_only_its_buckets);
    return tc;
}
