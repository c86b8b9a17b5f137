/* test_ingest_replay.c: usage reports take no dedup row, so a replayed or resent report must
 * change nothing by itself: not task_usage, the change log, the rollup queue, attribution or
 * the hourly rollup, whatever came between (newer reports, ties, attribution, a move, a
 * deletion). */
#include "harness.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <stdlib.h>
#include <string.h>

#define WS    "0195f1c2-0000-7000-8000-0000000000b1"
#define AGENT "0195f1c2-0000-7000-8000-0000000000c1"
#define RT1   "0195f1c2-0000-7000-8000-00000000000a"
#define RT2   "0195f1c2-0000-7000-8000-00000000000b"

struct stream {
    mc_producer *p;
    int64_t usage_sent, task_sent;
};

static void send_usage(struct stream *s, char **values, size_t n)
{
    tu_send(s->p, MC_TOPIC_USAGE_EVENTS, values, NULL, n);
    s->usage_sent += (int64_t)n;
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, s->usage_sent, 30000));
}

static void send_task(struct stream *s, const char *type, const char *task, const char *runtime,
                      int64_t version)
{
    char *v = tu_task_event(type, task, WS, AGENT, runtime, NULL, version);
    tu_send(s->p, MC_TOPIC_TASK_EVENTS, &v, NULL, 1);
    free(v);
    s->task_sent++;
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, s->task_sent, 30000));
}

/* Sends every report so far again, same event ids: once all in one go in reverse order (one
 * batch or a few, duplicates within a batch), once the oldest alone, and checks that nothing
 * changed. */
static void replay_changes_nothing(struct stream *s, char **sent, size_t n)
{
    char *before = tu_state_digest();
    char *reversed[16];
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++)
        reversed[i] = sent[n - 1 - i];
    send_usage(s, reversed, n);
    send_usage(s, sent, 1);
    char *after = tu_state_digest();
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
}

START_TEST(replayed_and_resent_reports_change_nothing)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    struct stream s = {.p = tu_producer(brokers)};
    char ta[MC_UUID_STRLEN], tb[MC_UUID_STRLEN], tc[MC_UUID_STRLEN], td[MC_UUID_STRLEN],
        te[MC_UUID_STRLEN];
    tu_uuid(ta, 0xa0000007, 1);
    tu_uuid(tb, 0xa0000007, 2);
    tu_uuid(tc, 0xa0000007, 3);
    tu_uuid(td, 0xa0000007, 4);
    tu_uuid(te, 0xa0000007, 5);
    int64_t at = mc_now_wall_us() - 7200LL * 1000000;
    char *u[10];
    size_t n = 0;
    /* Task A: two cumulative reports. Task B: a tie on reported_at sent greater first, in
     * its own batch, then smaller; and on a second key a tie within one send, smaller first.
     * Tasks C and D: one report each, before any attribution. */
    u[n++] = tu_usage_event(ta, "anthropic", "claude", 10, 20, 30, 40, at);
    u[n++] = tu_usage_event(ta, "anthropic", "claude", 15, 25, 35, 45, at + 1000000);
    u[n++] = tu_usage_event(tb, "anthropic", "claude", 50, 1, 1, 1, at);
    send_usage(&s, u, n);
    u[n++] = tu_usage_event(tb, "anthropic", "claude", 40, 9, 9, 9, at);
    u[n++] = tu_usage_event(tb, "openai", "gpt-5", 5, 5, 5, 5, at);
    u[n++] = tu_usage_event(tb, "openai", "gpt-5", 5, 6, 0, 0, at);
    u[n++] = tu_usage_event(tc, "anthropic", "claude", 7, 7, 7, 7, at);
    u[n++] = tu_usage_event(td, "anthropic", "claude", 3, 3, 3, 3, at);
    send_usage(&s, u + 3, n - 3);
    replay_changes_nothing(&s, u, n);

    /* Attribution arrives: A completes with usage, E completes without (usage_missing), C is
     * deleted (its usage goes), D is queued on one runtime. */
    send_task(&s, MC_EV_TASK_QUEUED, ta, RT1, 1);
    send_task(&s, MC_EV_TASK_COMPLETED, ta, RT1, 2);
    send_task(&s, MC_EV_TASK_QUEUED, te, RT1, 1);
    send_task(&s, MC_EV_TASK_COMPLETED, te, RT1, 2);
    send_task(&s, MC_EV_TASK_QUEUED, tc, RT1, 1);
    send_task(&s, MC_EV_TASK_DELETED, tc, RT1, 2);
    send_task(&s, MC_EV_TASK_QUEUED, td, RT1, 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_attribution WHERE usage_missing"),
                     1);
    replay_changes_nothing(&s, u, n);

    /* D moves to another runtime; a resend of B's smaller tie under a new event id (what a
     * retrying client produces) loses the tie as the first one did. */
    send_task(&s, MC_EV_TASK_REASSIGNED, td, RT2, 3);
    u[n++] = tu_usage_event(tb, "anthropic", "claude", 40, 9, 9, 9, at);
    replay_changes_nothing(&s, u, n);

    tu_expect_reset();
    tu_expect_row(ta, "anthropic", "claude", 15, 25, 35, 45);
    tu_expect_row(tb, "anthropic", "claude", 50, 1, 1, 1);
    tu_expect_row(tb, "openai", "gpt-5", 5, 6, 0, 0);
    tu_expect_row(td, "anthropic", "claude", 3, 3, 3, 3);
    ck_assert_int_eq(tu_expect_mismatches(), 0);
    /* The dedup table holds the task events alone. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.processed_events"), s.task_sent);

    /* The rollup folds the change log into the raw answer, and a replay after it leaves the
     * hourly table and an empty change log as they are. */
    th_sql("SET multica.rollup_safety_lag = '0'");
    th_sql_int("SELECT usage.rollup_task_usage_hourly()");
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly"), 0);
    replay_changes_nothing(&s, u, n);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);

    mc_producer_free(s.p, 1000);
    for (size_t i = 0; i < n; i++)
        free(u[i]);
}
END_TEST

TCase *ingest_case_replay(void)
{
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, replayed_and_resent_reports_change_nothing);
    return tc;
}
