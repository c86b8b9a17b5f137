/* test_usage_api_moved.c: the runtime's read finds the rows the rollup has not reached through
 * task_usage.runtime_id (migration 0025), which the ingester writes from the attribution and
 * the attribution's trigger moves: usage before its attribution, a task with fresh rows moved
 * to another runtime and back, a row updated twice before the tick, a move written by hand.
 * Every read of both runtimes equals task_usage's (?source=raw) and the gateway's answer is
 * byte for byte the SQL read's, before and after each rollup. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows whose runtime_id is not their attribution's (NULL counts only where one exists). */
#define STRAY                                                                                      \
    "SELECT count(*) FROM usage.task_usage u JOIN usage.task_attribution a USING (task_id) "       \
    "WHERE u.runtime_id IS DISTINCT FROM a.runtime_id"

static const char other[] = "f7000000-0000-7000-8000-0000000000aa";

/* Both runtimes' reads equal task_usage's, in zones with odd offsets; the registered one's
 * answer is SQL's byte for byte; and no row's runtime_id is stray. */
static void reads_agree(struct ua_stack *s, const char *when)
{
    ck_assert_msg(th_sql_int(STRAY) == 0, "%s: a usage row's runtime_id is stray", when);
    ua_reads_agree(s, other, when);
}

/* The registered runtime's tokens over 30 days, from the rollup's read. */
static int64_t tokens(struct ua_stack *s)
{
    return ua_tokens_of(ua_get(s, "/api/runtimes/%s/usage?days=30", s->runtime));
}

START_TEST(rows_follow_their_attribution)
{
    struct ua_stack s;
    ua_start(&s);
    int64_t at = mc_now_wall_us() - 2 * 3600 * 1000000LL;
    char a[MC_UUID_STRLEN], b[MC_UUID_STRLEN], c[MC_UUID_STRLEN];
    tu_uuid(a, 0xf7000000, 1);
    tu_uuid(b, 0xf7000000, 2);
    tu_uuid(c, 0xf7000000, 3);
    /* History, rolled up, so that the fresh hours have rollup buckets to take out. */
    ua_task(&s, MC_EV_TASK_QUEUED, c, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, c, "openai", "gpt-5", 1000, 100, 0, 0, at);
    ua_settle(&s);
    ua_rollup();
    reads_agree(&s, "rolled up");
    int64_t base = tokens(&s);
    ck_assert_int_eq(base, 1100);

    /* Usage before its attribution: not known (NULL), in nobody's read, then the
     * attribution's runtime's. */
    ua_usage(&s, a, "openai", "gpt-5", 2000, 200, 0, 0, at + 1000000);
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage WHERE runtime_id IS NULL"),
                     1);
    reads_agree(&s, "usage before its attribution");
    ck_assert_int_eq(tokens(&s), base);
    ua_task(&s, MC_EV_TASK_QUEUED, a, s.ws, s.agent, s.runtime, NULL, 1);
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage WHERE runtime_id IS NULL"),
                     0);
    reads_agree(&s, "attribution after its usage");
    ck_assert_int_eq(tokens(&s), base + 2200);

    /* A row updated twice before the tick (one batch each), in an hour already rolled up. */
    ua_usage(&s, c, "openai", "gpt-5", 1500, 150, 0, 0, at + 2000000);
    ua_settle(&s);
    ua_usage(&s, c, "openai", "gpt-5", 1700, 170, 7, 0, at + 3000000);
    ua_settle(&s);
    reads_agree(&s, "a row updated twice");
    ck_assert_int_eq(tokens(&s), 1877 + 2200);

    /* A task with fresh rows moved to another runtime, then back (versions 2 and 3). */
    ua_task(&s, MC_EV_TASK_QUEUED, b, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, b, "anthropic", "claude-sonnet-4-5", 3000, 300, 0, 0, at + 4000000);
    ua_usage(&s, b, "openai", "gpt-5", 10, 1, 0, 0, at + 4000000);
    ua_settle(&s);
    reads_agree(&s, "a task with fresh rows");
    ck_assert_int_eq(tokens(&s), 1877 + 2200 + 3311);
    ua_task(&s, MC_EV_TASK_DISPATCHED, b, s.ws, s.agent, other, NULL, 2);
    ua_settle(&s);
    char *moved =
        mc_sprintf("SELECT count(*) FROM usage.task_usage WHERE runtime_id = '%s'", other);
    ck_assert_int_eq(th_sql_int(moved), 2);
    reads_agree(&s, "moved away");
    ck_assert_int_eq(tokens(&s), 1877 + 2200);
    ua_rollup();
    reads_agree(&s, "moved away, rolled up");
    ua_task(&s, MC_EV_TASK_STARTED, b, s.ws, s.agent, s.runtime, NULL, 3);
    ua_usage(&s, b, "openai", "gpt-5", 20, 2, 0, 0, at + 5000000);
    ua_settle(&s);
    ck_assert_int_eq(th_sql_int(moved), 0);
    reads_agree(&s, "moved back with a newer report");
    ck_assert_int_eq(tokens(&s), 1877 + 2200 + 3322);
    ua_rollup();
    reads_agree(&s, "moved back, rolled up");

    /* A move written by hand (the trigger's, not the ingester's), with the rows not rolled up:
     * runtime_id follows, and the delta log takes nothing for it (no sum changed). Its buckets
     * are queued under both runtimes, as the ingester queues them for a move. */
    ua_usage(&s, a, "openai", "gpt-5", 2500, 250, 0, 0, at + 6000000);
    ua_settle(&s);
    int64_t logged = th_sql_int("SELECT count(*) FROM usage.task_usage_delta");
    char *sql = mc_sprintf(
        "SELECT usage.enqueue_task_buckets(ARRAY['%s', '%s']::uuid[], ARRAY['%s', '%s']::uuid[], "
        "ARRAY['%s', '%s']::uuid[], ARRAY['%s', '%s']::uuid[]); UPDATE usage.task_attribution SET "
        "runtime_id = '%s', version = 9 WHERE task_id = '%s'",
        a, a, s.ws, s.ws, s.runtime, other, s.agent, s.agent, other, a);
    th_sql(sql);
    free(sql);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), logged);
    ck_assert_int_eq(th_sql_int(moved), 1);
    reads_agree(&s, "moved by hand");
    ck_assert_int_eq(tokens(&s), 1877 + 3322);
    ua_rollup();
    reads_agree(&s, "moved by hand, rolled up");
    free(moved);
    ua_stop(&s);
}
END_TEST

TCase *ua_case_moved(void)
{
    TCase *tc = tcase_create("moved");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, rows_follow_their_attribution);
    return tc;
}
