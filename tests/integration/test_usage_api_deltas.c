/* test_usage_api_deltas.c: the runtime's read corrects the rollup's buckets by the runtime's
 * changes the rollup has not folded (usage.usage_delta_rows, migration 0026) instead of taking
 * the hours past the watermark whole: rows folded but still past the watermark (a rollup run
 * with its safety lag), a row updated twice, a task count that changes (a second model of a
 * task in the same bucket), usage before its attribution, a task moved with changes not
 * folded (its logged changes follow it) and moved back, a task deleted. After each step both
 * runtimes' reads equal task_usage's (?source=raw) in three zones, the gateway's answer is
 * the SQL read's byte for byte, and every logged change carries its row's runtime. A change
 * of a row of unknown runtime shows in the runtime's and the workspace's reads before the tick. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Logged changes whose runtime is not their row's (rows gone excepted). */
#define STRAY_DELTA                                                                                \
    "SELECT count(*) FROM usage.task_usage_delta d JOIN usage.task_usage u "                       \
    "USING (task_id, provider, model) WHERE d.runtime_id IS DISTINCT FROM u.runtime_id"

static const char other[] = "f8000000-0000-7000-8000-0000000000aa";

static void reads_agree(struct ua_stack *s, const char *when)
{
    ck_assert_msg(th_sql_int(STRAY_DELTA) == 0, "%s: a logged change's runtime is stray", when);
    ua_reads_agree(s, other, when);
}

/* One rollup run with its safety lag (5 minutes): it folds every logged change, but the
 * watermark stays where the last ua_rollup left it, so the rows stay past it. */
static void fold(void)
{
    th_sql("SET multica.rollup_safety_lag = '5 minutes'");
    th_sql_int("SELECT usage.rollup_task_usage_hourly()");
    th_sql("RESET multica.rollup_safety_lag");
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
}

/* Hours of the registered runtime past the watermark, and those its read takes whole. */
static int64_t past_watermark(struct ua_stack *s)
{
    char *sql = mc_sprintf("SELECT count(*) FROM usage.usage_fresh_hours('%s', NULL, "
                           "now() - interval '31 days', (SELECT watermark FROM "
                           "usage.rollup_state))",
                           s->runtime);
    int64_t n = th_sql_int(sql);
    free(sql);
    return n;
}
static int64_t whole(struct ua_stack *s)
{
    char *sql = mc_sprintf("SELECT count(*) FROM usage.usage_runtime_fresh_hours('%s', "
                           "now() - interval '31 days', (SELECT watermark FROM "
                           "usage.rollup_state))",
                           s->runtime);
    int64_t n = th_sql_int(sql);
    free(sql);
    return n;
}

static int64_t tokens(struct ua_stack *s)
{
    return ua_tokens_of(ua_get(s, "/api/runtimes/%s/usage?days=30", s->runtime));
}

/* The registered runtime's task count over 30 days, from the rollup's read. */
static int64_t tasks(struct ua_stack *s)
{
    json_t *rows = ua_get(s, "/api/runtimes/%s/usage?days=30", s->runtime);
    int64_t n = ua_sum(rows, "task_count");
    json_decref(rows);
    return n;
}

START_TEST(reads_add_the_changes_not_folded)
{
    struct ua_stack s;
    ua_start(&s);
    int64_t at = mc_now_wall_us() - 2 * 3600 * 1000000LL;
    char a[MC_UUID_STRLEN], b[MC_UUID_STRLEN], c[MC_UUID_STRLEN], d[MC_UUID_STRLEN];
    tu_uuid(a, 0xf8000000, 1);
    tu_uuid(b, 0xf8000000, 2);
    tu_uuid(c, 0xf8000000, 3);
    tu_uuid(d, 0xf8000000, 4);
    /* History, rolled up to now. */
    ua_task(&s, MC_EV_TASK_QUEUED, c, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, c, "openai", "gpt-5", 1000, 100, 0, 0, at);
    ua_settle(&s);
    ua_rollup();
    reads_agree(&s, "rolled up");
    ck_assert_int_eq(tokens(&s), 1100);

    /* Changes logged, not folded: the hour is past the watermark, read through the log. */
    ua_usage(&s, c, "openai", "gpt-5", 1500, 150, 0, 0, at + 1000000);
    ua_settle(&s);
    ck_assert_int_gt(past_watermark(&s), 0);
    ck_assert_int_eq(whole(&s), 0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
    reads_agree(&s, "a row updated, not folded");
    ck_assert_int_eq(tokens(&s), 1650);
    /* Updated again (a second logged change of the same row), and a second model of the same
     * task in the same bucket hour (the task count changes). */
    ua_usage(&s, c, "openai", "gpt-5", 1700, 170, 7, 0, at + 2000000);
    ua_usage(&s, c, "openai", "gpt-5-mini", 10, 1, 0, 0, at + 2000000);
    ua_settle(&s);
    reads_agree(&s, "a row updated twice, a second model");
    ck_assert_int_eq(tokens(&s), 1877 + 11);
    ck_assert_int_eq(tasks(&s), 2);

    /* Folded, still past the watermark: the buckets hold them, the log is empty, so no hour
     * is read from task_usage any more (migration 0028: the hours not reached are those of
     * the logged changes, not of the rows updated since the watermark). */
    fold();
    ck_assert_int_eq(past_watermark(&s), 0);
    reads_agree(&s, "folded, past the watermark");
    ck_assert_int_eq(tokens(&s), 1877 + 11);

    /* Usage before its attribution: logged with no runtime (the read takes its hour whole
     * while its row has none), then the attribution's: its change follows. */
    ua_usage(&s, a, "openai", "gpt-5", 2000, 200, 0, 0, at + 3000000);
    ua_settle(&s);
    reads_agree(&s, "usage before its attribution");
    ua_task(&s, MC_EV_TASK_QUEUED, a, s.ws, s.agent, s.runtime, NULL, 1);
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta "
                                "WHERE runtime_id IS NULL"),
                     0);
    reads_agree(&s, "attribution after its usage");
    ck_assert_int_eq(tokens(&s), 1888 + 2200);
    ck_assert_int_eq(tasks(&s), 3);

    /* A task with changes not folded, moved to the other runtime: they follow it (and its
     * buckets are queued under both). Then folded, then moved back with a newer report. */
    ua_task(&s, MC_EV_TASK_QUEUED, b, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, b, "anthropic", "claude-sonnet-4-5", 3000, 300, 0, 0, at + 4000000);
    ua_settle(&s);
    reads_agree(&s, "a task with changes not folded");
    ck_assert_int_eq(tokens(&s), 1888 + 2200 + 3300);
    ua_task(&s, MC_EV_TASK_DISPATCHED, b, s.ws, s.agent, other, NULL, 2);
    ua_settle(&s);
    char *logged =
        mc_sprintf("SELECT count(*) FROM usage.task_usage_delta WHERE runtime_id = '%s'", other);
    ck_assert_int_gt(th_sql_int(logged), 0);
    reads_agree(&s, "moved away, not folded");
    ck_assert_int_eq(tokens(&s), 1888 + 2200);
    fold();
    reads_agree(&s, "moved away, folded");
    ua_task(&s, MC_EV_TASK_STARTED, b, s.ws, s.agent, s.runtime, NULL, 3);
    ua_usage(&s, b, "anthropic", "claude-sonnet-4-5", 3100, 310, 0, 0, at + 5000000);
    ua_settle(&s);
    reads_agree(&s, "moved back with a newer report");
    ck_assert_int_eq(tokens(&s), 1888 + 2200 + 3410);
    ua_rollup();
    reads_agree(&s, "moved back, rolled up");

    /* A task with a change not folded, deleted: its rows go (its buckets queued). */
    ua_task(&s, MC_EV_TASK_QUEUED, d, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, d, "openai", "gpt-5", 500, 50, 0, 0, at + 6000000);
    ua_settle(&s);
    reads_agree(&s, "a new task, not folded");
    ck_assert_int_eq(tokens(&s), 1888 + 2200 + 3410 + 550);
    ua_task(&s, MC_EV_TASK_DELETED, d, s.ws, s.agent, s.runtime, NULL, 2);
    ua_settle(&s);
    reads_agree(&s, "deleted, not folded");
    ck_assert_int_eq(tokens(&s), 1888 + 2200 + 3410);
    fold();
    reads_agree(&s, "deleted, folded");
    ua_rollup();
    reads_agree(&s, "deleted, rolled up");
    free(logged);
    ua_stop(&s);
}
END_TEST

/* The workspace's read (by model, three zones) and the runtime's read scoped to the workspace
 * (usage.usage_rows with both) equal task_usage's. */
static void workspace_reads_agree(struct ua_stack *s, const char *when)
{
    static const char *const zones[] = {"UTC", "Asia/Kathmandu", "America/St_Johns"};
    for (size_t z = 0; z < MC_ARRAY_LEN(zones); z++) {
        char *sql = mc_sprintf("SELECT (gateway.workspace_usage('%s', 30, '%s', 'model', false) = "
                               "gateway.workspace_usage('%s', 30, '%s', 'model', true))::int",
                               s->ws, zones[z], s->ws, zones[z]);
        ck_assert_msg(th_sql_int(sql) == 1,
                      "%s: the workspace's read in %s differs from "
                      "task_usage",
                      when, zones[z]);
        free(sql);
    }
    char *sql = mc_sprintf(
        "SELECT ((SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage.usage_rows("
        "'%s', '%s', NULL, 30, 'UTC', false, false)) = (SELECT coalesce(sum(input_tokens + "
        "output_tokens), 0) FROM usage.usage_rows('%s', '%s', NULL, 30, 'UTC', true, "
        "false)))::int",
        s->runtime, s->ws, s->runtime, s->ws);
    ck_assert_msg(th_sql_int(sql) == 1, "%s: the runtime's read in the workspace differs", when);
    free(sql);
}

/* The workspace's tokens over 30 days, from the rollup's read. */
static int64_t workspace_tokens(struct ua_stack *s)
{
    char *sql = mc_sprintf("SELECT coalesce(sum(input_tokens + output_tokens + cache_read_tokens "
                           "+ cache_write_tokens), 0) FROM usage.usage_rows(NULL, '%s', NULL, 30, "
                           "'UTC', false, false)",
                           s->ws);
    int64_t n = th_sql_int(sql);
    free(sql);
    return n;
}

/* task_usage has no updated_at index (migration 0028): the reads find what the rollup has not
 * reached through the change log. A row whose runtime is not known (runtime_id NULL: written by
 * hand, or before its attribution) updated after the watermark logs a change without a
 * runtime: the runtime's read must take its hour whole, the workspace's read must take it too,
 * before the tick; after it, the rollup holds it and no hour is read from task_usage. */
START_TEST(a_change_of_unknown_runtime_shows_before_the_tick)
{
    struct ua_stack s;
    ua_start(&s);
    int64_t at = mc_now_wall_us() - 3 * 3600 * 1000000LL;
    char e[MC_UUID_STRLEN];
    tu_uuid(e, 0xf8000000, 5);
    ua_task(&s, MC_EV_TASK_QUEUED, e, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, e, "openai", "gpt-5", 1000, 100, 0, 0, at);
    ua_settle(&s);
    ua_rollup();
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
    /* The row forgets its runtime (nothing summed changes: nothing is logged). */
    th_sql("UPDATE usage.task_usage SET runtime_id = NULL");
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
    ck_assert_int_eq(past_watermark(&s), 0);
    ck_assert_int_eq(whole(&s), 0);
    reads_agree(&s, "rolled up, runtime forgotten");
    workspace_reads_agree(&s, "rolled up, runtime forgotten");

    /* A newer report after the watermark: logged without a runtime. */
    ua_usage(&s, e, "openai", "gpt-5", 4000, 400, 0, 0, at + 1000000);
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta "
                                "WHERE runtime_id IS NULL"),
                     1);
    ck_assert_int_eq(whole(&s), 1);
    ck_assert_int_eq(past_watermark(&s), 1);
    ck_assert_int_eq(tokens(&s), 4400);
    ck_assert_int_eq(workspace_tokens(&s), 4400);
    reads_agree(&s, "a change of unknown runtime, not folded");
    workspace_reads_agree(&s, "a change of unknown runtime, not folded");

    /* The tick: folded, nothing left to read from task_usage, the same answers. */
    ua_rollup();
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
    ck_assert_int_eq(whole(&s), 0);
    ck_assert_int_eq(past_watermark(&s), 0);
    ck_assert_int_eq(tokens(&s), 4400);
    ck_assert_int_eq(workspace_tokens(&s), 4400);
    reads_agree(&s, "a change of unknown runtime, folded");
    workspace_reads_agree(&s, "a change of unknown runtime, folded");
    ua_stop(&s);
}
END_TEST

TCase *ua_case_deltas(void)
{
    TCase *tc = tcase_create("deltas");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, reads_add_the_changes_not_folded);
    tcase_add_test(tc, a_change_of_unknown_runtime_shows_before_the_tick);
    return tc;
}
