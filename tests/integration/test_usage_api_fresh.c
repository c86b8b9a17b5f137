/* test_usage_api_fresh.c: reads show usage as soon as the ingester has it, before any rollup
 * run, and the daily level they read cuts local days exactly: the same answer as task_usage
 * in a zone of every UTC offset Postgres knows (DST, half-hour and 45-minute offsets, a
 * midnight the clock skips), over a year of history, before and after the rollup. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Zones: one per (UTC offset, DST) pair Postgres knows, and the awkward ones by name. */
#define ZONES                                                                                      \
    "(SELECT DISTINCT ON (utc_offset, is_dst) name FROM pg_timezone_names WHERE name !~ "          \
    "'^(posix|Etc)/' UNION SELECT unnest(ARRAY['America/Havana', 'Pacific/Chatham', "              \
    "'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Apia', "                \
    "'America/Santiago', 'Europe/Berlin', 'America/Los_Angeles'])) z(tz)"

/* How many (zone, window, grouping) reads of the runtime differ between the rollup's answer
 * and task_usage's; *cases is how many were compared. */
static int64_t differing(const char *runtime, int64_t *cases)
{
    char *sql = mc_sprintf(
        "SELECT count(*) FILTER (WHERE a IS DISTINCT FROM b) * 1000000 + count(*) FROM (SELECT "
        "(SELECT json_agg(g ORDER BY g::text) FROM gateway.usage_groups('%s', NULL, NULL, d, tz, "
        "false, by) g)::text AS a, (SELECT json_agg(g ORDER BY g::text) FROM "
        "gateway.usage_groups('%s', NULL, NULL, d, tz, true, by) g)::text AS b FROM " ZONES
        ", unnest(ARRAY[365, 30]) d, unnest(ARRAY['day', 'hour']) by) x",
        runtime, runtime);
    int64_t v = th_sql_int(sql);
    free(sql);
    *cases = v % 1000000;
    return v / 1000000;
}

static void reads_agree(struct ua_stack *s, const char *when)
{
    int64_t cases = 0;
    ck_assert_msg(differing(s->runtime, &cases) == 0, "%s: a read differs from task_usage", when);
    ck_assert_int_gt(cases, 100);
    static const char *const zones[] = {"America/Havana", "Pacific/Chatham", "Asia/Kathmandu",
                                        "UTC"};
    for (size_t z = 0; z < MC_ARRAY_LEN(zones); z++) {
        json_t *a = ua_get(s, "/api/runtimes/%s/usage?days=365&tz=%s", s->runtime, zones[z]);
        json_t *b =
            ua_get(s, "/api/runtimes/%s/usage?days=365&tz=%s&source=raw", s->runtime, zones[z]);
        ck_assert_msg(json_equal(a, b), "%s: %s differs from task_usage", when, zones[z]);
        static const int days[] = {1, 11, 71, 365};
        for (size_t d = 0; d < MC_ARRAY_LEN(days); d++)
            ua_daily_is_sqls(s, zones[z], days[d], when);
        ck_assert_uint_gt(json_array_size(a), 300);
        json_decref(a);
        json_decref(b);
    }
}

START_TEST(reads_show_usage_at_once_and_cut_days_exactly)
{
    struct ua_stack s;
    ua_start(&s);
    /* A year of history, one row every 23.7 hours (every hour of the day in turn), rolled up. */
    char *sql = mc_sprintf(
        "WITH a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, "
        "runtime_id, version) SELECT ('f2000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, "
        "'%s', '%s', '%s', 1 FROM generate_series(1, 370) i) INSERT INTO usage.task_usage "
        "(task_id, provider, model, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, reported_at, created_at, updated_at) SELECT "
        "('f2000000-0000-7000-8000-' "
        "|| lpad(i::text, 12, '0'))::uuid, 'openai', CASE WHEN i %% 3 = 0 THEN 'gpt-5' ELSE "
        "'gpt-5-mini' END, 100 + i, i, 2 * i, 3, c, c, now() - interval '1 hour' FROM "
        "generate_series(1, 370) i, LATERAL (SELECT now() - i * interval '23.7 hours' AS c) t",
        s.ws, s.agent, s.runtime);
    th_sql(sql);
    free(sql);
    /* A model whose name JSON must escape, in days that also have other models. */
    sql = mc_sprintf(
        "WITH a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, "
        "runtime_id, version) SELECT ('f2000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, "
        "'%s', '%s', '%s', 1 FROM generate_series(371, 380) i) INSERT INTO usage.task_usage "
        "(task_id, provider, model, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, reported_at, created_at, updated_at) SELECT "
        "('f2000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'openai', CASE WHEN i "
        "%% 2 = 0 THEN 'gpt-5' ELSE E'm\\u00e9 \"q\" \\\\ \\t\\n\\x01' END, i, i, 0, 0, "
        "c, c, now() - interval '1 hour' FROM generate_series(371, 380) i, LATERAL (SELECT now() "
        "- (i - 370) * interval '2 days' AS c) t",
        s.ws, s.agent, s.runtime);
    th_sql(sql);
    free(sql);
    ua_rollup();
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_daily"), 300);
    reads_agree(&s, "rolled up");
    /* A report through the broker and the ingester: in the next read, before any rollup run. */
    char task[MC_UUID_STRLEN];
    tu_uuid(task, 0xf3000000, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, task, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, task, "anthropic", "claude-sonnet-4-5", 5000, 500, 0, 0, mc_now_wall_us());
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE provider = "
                                "'anthropic'"),
                     0);
    json_t *rows = ua_get(&s, "/api/runtimes/%s/usage?days=1", s.runtime);
    int64_t fresh = 0;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "provider")), "anthropic") == 0)
            fresh += ua_tokens(r);
    }
    json_decref(rows);
    ck_assert_int_eq(fresh, 5500);
    /* An older row changes too: its hour is read from task_usage until the rollup runs. */
    th_sql("UPDATE usage.task_usage SET input_tokens = input_tokens + 7, updated_at = now() "
           "WHERE task_id = 'f2000000-0000-7000-8000-000000000200'");
    reads_agree(&s, "before the rollup");
    ua_rollup();
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE provider = "
                                "'anthropic'"),
                     0);
    reads_agree(&s, "rolled up again");
    /* A day whose sums no longer fit a bigint is read from its hours. */
    th_sql("UPDATE usage.task_usage_daily SET cum = NULL WHERE day IN (SELECT day FROM "
           "usage.task_usage_daily ORDER BY day DESC LIMIT 3)");
    reads_agree(&s, "some days read by the hour");
    ua_stop(&s);
}
END_TEST

TCase *ua_case_fresh(void)
{
    TCase *tc = tcase_create("fresh");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, reads_show_usage_at_once_and_cut_days_exactly);
    return tc;
}
