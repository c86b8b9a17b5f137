/* test_usage_api_kept.c: the runtime's daily read keeps the rollup's rows in the gateway
 * (usage_daily_cache.c) and adds the rows the rollup has not reached on every read: every
 * answer byte for byte the SQL read's at that moment, served from the kept rows while the
 * rollup is unchanged (rows past the watermark included), read again when the rollup moves
 * (a tick, a backfill, a repair of an old day), in zones with 30- and 45-minute offsets and for
 * windows starting at consecutive local midnights. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REVISION "SELECT revision FROM usage.rollup_revision"

/* Windows of 29, 30 and 31 days start at three consecutive local midnights: each is kept
 * apart, as a window is when local midnight passes. */
static const char *const zones[] = {"UTC", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham",
                                    "America/St_Johns"};
static const int windows[] = {29, 30, 31};
#define READS (MC_ARRAY_LEN(zones) * MC_ARRAY_LEN(windows))

/* Every (zone, window) read twice, each byte for byte SQL's answer. */
static void reads_are_sqls(struct ua_stack *s, const char *when)
{
    for (int twice = 0; twice < 2; twice++)
        for (size_t z = 0; z < MC_ARRAY_LEN(zones); z++)
            for (size_t w = 0; w < MC_ARRAY_LEN(windows); w++)
                ua_daily_is_sqls(s, zones[z], windows[w], when);
}

/* Rows of the runtime, n tasks from task number first, one every `every` back from `ago`
 * before now, of model, their updated_at `updated` (an SQL expression). */
static void rows(struct ua_stack *s, int first, int n, const char *ago, const char *every,
                 const char *model, const char *updated)
{
    char *sql = mc_sprintf(
        "WITH a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, "
        "runtime_id, version) SELECT ('f6000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, "
        "'%s', '%s', '%s', 1 FROM generate_series(%d, %d) i) INSERT INTO usage.task_usage "
        "(task_id, provider, model, input_tokens, output_tokens, cache_read_tokens, "
        "cache_write_tokens, reported_at, created_at, updated_at) SELECT "
        "('f6000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'openai', '%s', 100 + i, "
        "i, 2 * i, 3, c, c, %s FROM generate_series(%d, %d) i, LATERAL (SELECT now() - "
        "interval '%s' - (i - %d) * interval '%s' AS c) t",
        s->ws, s->agent, s->runtime, first, first + n - 1, model, updated, first, first + n - 1,
        ago, first, every);
    th_sql(sql);
    free(sql);
}

/* A statement on the rollup's tables: it raises the revision, and every read follows. */
static void repair(struct ua_stack *s, const char *sql)
{
    int64_t rev = th_sql_int(REVISION);
    th_sql(sql);
    ck_assert_int_gt(th_sql_int(REVISION), rev);
    reads_are_sqls(s, sql);
}

START_TEST(kept_rows_follow_the_rollup)
{
    struct ua_stack s;
    ua_start(&s);
    /* 40 days of history, every hour of the day in turn, two models; rolled up. */
    rows(&s, 1, 180, "0 hours", "5.3 hours", "gpt-5", "now() - interval '1 hour'");
    rows(&s, 181, 90, "1 hour", "10.7 hours", "gpt-5-mini", "now() - interval '1 hour'");
    ua_rollup();
    double hits = ua_kept_reads(&s, "hit"), fills = ua_kept_reads(&s, "fill");
    reads_are_sqls(&s, "rolled up");
    ck_assert_double_ge(ua_kept_reads(&s, "fill") - fills, READS);
    ck_assert_double_ge(ua_kept_reads(&s, "hit") - hits, READS);

    /* Rows past the watermark in hours the kept rows hold (ten days ago, and now, through the
     * broker): served from the kept rows, nothing read again from the rollup. The reads above
     * answered with the kept entries' own text (nothing fresh); these must not: each is SQL's
     * answer, the new rows in it, on the first read after they were applied. */
    int64_t rev = th_sql_int(REVISION);
    rows(&s, 301, 12, "10 days", "20 minutes", "gpt-5", "now()");
    char task[MC_UUID_STRLEN];
    tu_uuid(task, 0xf7000000, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, task, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, task, "openai", "gpt-5-mini", 5000, 500, 0, 0, mc_now_wall_us());
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int(REVISION), rev);
    fills = ua_kept_reads(&s, "fill");
    hits = ua_kept_reads(&s, "hit");
    reads_are_sqls(&s, "with rows past the watermark");
    ck_assert_double_eq(ua_kept_reads(&s, "fill"), fills);
    ck_assert_double_ge(ua_kept_reads(&s, "hit") - hits, 2 * READS);
    /* A model the kept rows do not have: that read is SQL's, still the same text. */
    tu_uuid(task, 0xf7000000, 2);
    ua_task(&s, MC_EV_TASK_QUEUED, task, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, task, "anthropic", "claude-sonnet-4-5", 7000, 700, 0, 0, mc_now_wall_us());
    ua_settle(&s);
    double fallbacks = ua_kept_reads(&s, "fallback");
    reads_are_sqls(&s, "with a new model past the watermark");
    ck_assert_double_ge(ua_kept_reads(&s, "fallback") - fallbacks, 2 * READS);

    /* A rollup tick reaches them: the revision rises, the kept rows are read again. */
    ua_rollup();
    ck_assert_int_gt(th_sql_int(REVISION), rev);
    fills = ua_kept_reads(&s, "fill");
    reads_are_sqls(&s, "after a rollup tick");
    ck_assert_double_ge(ua_kept_reads(&s, "fill") - fills, READS);

    /* A repair of an old day in the hourly table (its daily level follows), then one of the
     * daily level alone (a day whose sums overflowed: read from its hours), then a day's
     * buckets deleted: each raises the revision and every read follows. */
    repair(&s, "UPDATE usage.task_usage_hourly SET input_tokens = input_tokens + 1000000 WHERE "
               "bucket_hour = (SELECT min(bucket_hour) FROM usage.task_usage_hourly WHERE "
               "bucket_hour > now() - interval '20 days')");
    repair(&s, "UPDATE usage.task_usage_daily SET cum = NULL WHERE day IN (SELECT day FROM "
               "usage.task_usage_daily ORDER BY day DESC LIMIT 3)");
    repair(&s, "DELETE FROM usage.task_usage_hourly WHERE bucket_hour::date = (now() - interval "
               "'12 days')::date");

    /* A backfill: an old row changed without a newer updated_at, then its range rebuilt
     * (multica-backfill-usage's statement). */
    rev = th_sql_int(REVISION);
    th_sql("UPDATE usage.task_usage SET output_tokens = output_tokens + 777 WHERE task_id = "
           "'f6000000-0000-7000-8000-000000000100'");
    reads_are_sqls(&s, "an old row changed");
    th_sql("SELECT usage.rollup_task_usage_hourly_window(now() - interval '90 days', now())");
    ck_assert_int_gt(th_sql_int(REVISION), rev);
    reads_are_sqls(&s, "after a backfill");
    ua_rollup();
    reads_are_sqls(&s, "rolled up again");
    ua_stop(&s);
}
END_TEST

TCase *ua_case_kept(void)
{
    TCase *tc = tcase_create("kept");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, kept_rows_follow_the_rollup);
    return tc;
}
