/* test_usage_api_changes.c: the gateway keeps a busy runtime's unfolded changes priced and
 * summed (usage_daily_cache.c, usage.usage_fresh_parts, migration 0027) and on the next read
 * prices only those logged by a transaction from its last boundary on. What such a cache could
 * get wrong, each step read in three zones, every answer byte for byte the SQL read's and equal
 * to task_usage's (?source=raw): a newer report (only it priced again), a transaction that took
 * its id before another and commits after it, a task moved away by hand and one moved in with
 * their changes only in the log (no bucket queued), a price change for a model whose only
 * changes since the last run are in the log (no bucket queued either), and the fold. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char other[] = "f9000000-0000-7000-8000-0000000000aa";

static int64_t tokens(struct ua_stack *s)
{
    return ua_tokens_of(ua_get(s, "/api/runtimes/%s/usage?days=30", s->runtime));
}

static int64_t field(struct ua_stack *s, const char *name)
{
    json_t *rows = ua_get(s, "/api/runtimes/%s/usage?days=30", s->runtime);
    int64_t n = ua_sum(rows, name);
    json_decref(rows);
    return n;
}

static void exec_on(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

START_TEST(kept_changes_stay_exact)
{
    struct ua_stack s;
    ua_start(&s);
    int64_t at = mc_now_wall_us() - 2 * 3600 * 1000000LL;
    int64_t day_before = at - 24 * 3600 * 1000000LL;
    char a[MC_UUID_STRLEN], b[MC_UUID_STRLEN], c[MC_UUID_STRLEN], d[MC_UUID_STRLEN],
        f[MC_UUID_STRLEN];
    tu_uuid(a, 0xf9000000, 1);
    tu_uuid(b, 0xf9000000, 2);
    tu_uuid(c, 0xf9000000, 3);
    tu_uuid(d, 0xf9000000, 4);
    tu_uuid(f, 0xf9000000, 5);
    /* History of both models, rolled up, so that the kept rows know their pairs (a pair they do
     * not know sends a read to today's statement, which keeps nothing). omega-test has no price
     * yet, and its history is a day old: a price from an hour before `at` queues no bucket. */
    ua_task(&s, MC_EV_TASK_QUEUED, c, s.ws, s.agent, s.runtime, NULL, 1);
    ua_usage(&s, c, "openai", "gpt-5", 1000, 100, 0, 0, at);
    ua_usage(&s, c, "openai", "omega-test", 10, 1, 0, 0, day_before);
    ua_task(&s, MC_EV_TASK_QUEUED, a, s.ws, s.agent, s.runtime, NULL, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, b, s.ws, s.agent, s.runtime, NULL, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, d, s.ws, s.agent, s.runtime, NULL, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, f, s.ws, s.agent, other, NULL, 1);
    ua_settle(&s);
    ua_rollup();
    ua_reads_agree(&s, other, "rolled up");
    ck_assert_int_eq(tokens(&s), 1111);

    /* Unfolded changes: the first read prices them, the next only what came since. */
    ua_usage(&s, a, "openai", "gpt-5", 2000, 200, 0, 0, at + 1000000);
    ua_usage(&s, a, "openai", "omega-test", 50, 5, 0, 0, at + 1000000);
    ua_settle(&s);
    ua_reads_agree(&s, other, "changes not folded");
    ck_assert_int_eq(tokens(&s), 1111 + 2255);
    double served = ua_kept_reads(&s, "changes");
    ua_usage(&s, a, "openai", "gpt-5", 2100, 210, 0, 0, at + 2000000);
    ua_settle(&s);
    ua_reads_agree(&s, other, "a newer report");
    ck_assert_int_eq(tokens(&s), 1111 + 2365);
    ck_assert_msg(ua_kept_reads(&s, "changes") > served, "no read used the changes it kept");

    /* Out of order: a transaction takes its id, writes a row of d and stays open while a later
     * one (the ingester's) commits. Reads meanwhile see the later one's change, not the
     * earlier's; once it commits, the next read must price it, though the later change's
     * transaction is past it. */
    PGconn *late = PQconnectdb(th_db_url_as("multica_usage"));
    ck_assert_int_eq(PQstatus(late), CONNECTION_OK);
    exec_on(late, "BEGIN");
    exec_on(late, "SELECT pg_current_xact_id()");
    char *sql = mc_sprintf(
        "INSERT INTO usage.task_usage (task_id, provider, model, input_tokens, output_tokens, "
        "cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at, runtime_id) "
        "VALUES ('%s', 'openai', 'gpt-5', 700, 70, 0, 0, now(), "
        "to_timestamp(%lld / 1e6), now(), '%s')",
        d, (long long)(at + 3000000), s.runtime);
    exec_on(late, sql);
    free(sql);
    ua_usage(&s, b, "openai", "gpt-5", 3000, 300, 0, 0, at + 4000000);
    ua_settle(&s);
    ua_reads_agree(&s, other, "a later transaction committed first");
    ck_assert_int_eq(tokens(&s), 1111 + 2365 + 3300);
    exec_on(late, "COMMIT");
    PQfinish(late);
    ua_reads_agree(&s, other, "the earlier transaction committed last");
    ck_assert_int_eq(tokens(&s), 1111 + 2365 + 3300 + 770);

    /* Moves by hand, their changes only in the log and no bucket queued (nothing of them is
     * in the rollup): b's leave the runtime, f's come in. */
    sql = mc_sprintf("UPDATE usage.task_attribution SET runtime_id = '%s', version = 9 "
                     "WHERE task_id = '%s'",
                     other, b);
    th_sql(sql);
    free(sql);
    ua_reads_agree(&s, other, "moved away by hand");
    ck_assert_int_eq(tokens(&s), 1111 + 2365 + 770);
    ua_usage(&s, f, "openai", "gpt-5", 900, 90, 0, 0, at + 5000000);
    ua_settle(&s);
    ua_reads_agree(&s, other, "changes of another runtime");
    sql = mc_sprintf("UPDATE usage.task_attribution SET runtime_id = '%s', version = 9 "
                     "WHERE task_id = '%s'",
                     s.runtime, f);
    th_sql(sql);
    free(sql);
    ua_reads_agree(&s, other, "moved in by hand");
    ck_assert_int_eq(tokens(&s), 1111 + 2365 + 770 + 990);

    /* A price for omega-test from an hour before its changes: no bucket of it is queued (its
     * history is older), only its changes in the log are priced differently. */
    int64_t unpriced = field(&s, "unpriced_tokens");
    ck_assert_int_ge(unpriced, 55);
    char from[40], body[1024];
    mc_format_rfc3339(at - 3600 * 1000000LL, from, sizeof from);
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"prices\":[{\"provider\":\"openai\",\"model\":"
             "\"omega-test\",\"effective_from\":\"%s\",\"input_ticks_per_mtok\":10000000000,"
             "\"output_ticks_per_mtok\":20000000000,\"cache_read_ticks_per_mtok\":0,"
             "\"cache_write_ticks_per_mtok\":0}]}",
             s.ws, from);
    ck_assert_int_eq(ua_call(&s, s.token, "PUT", body, NULL, "/api/pricing"), 200);
    ua_reads_agree(&s, other, "omega-test priced");
    ck_assert_int_eq(field(&s, "unpriced_tokens"), unpriced - 55);

    /* Folded and rolled up: the changes go from the log, the kept sums with them. */
    ua_rollup();
    ua_reads_agree(&s, other, "rolled up again");
    ck_assert_int_eq(tokens(&s), 1111 + 2365 + 770 + 990);
    ua_usage(&s, a, "openai", "gpt-5", 2200, 220, 0, 0, at + 6000000);
    ua_settle(&s);
    ua_reads_agree(&s, other, "a change after the fold");
    ck_assert_int_eq(tokens(&s), 1111 + 2475 + 770 + 990);
    ua_stop(&s);
}
END_TEST

/* The calls of usage.usage_delta_parts this backend counted and has not reported yet (its
 * pending counts, which a transaction block does not report: the difference of two reads in
 * one is the calls between them). */
static int64_t delta_parts_calls(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                            "WHERE schemaname = 'usage' AND funcname = 'usage_delta_parts'");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    int64_t n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* One call of usage.usage_fresh_parts for the runtime's 30 days in UTC from boundary after
 * ("0": every change), in a transaction of its own on the administrator's connection with
 * functions counted: *boundary the read's boundary, *settled the input tokens of its rows of
 * settled changes (rows priced this call), *rows how many rows of changes, *priced how often it
 * called usage.usage_delta_parts (the statement that collects and prices the changes). */
static void fresh_parts(struct ua_stack *s, const char *after, char *boundary, size_t len,
                        int64_t *settled, int *rows, int64_t *priced)
{
    PGconn *c = th_pg();
    exec_on(c, "BEGIN");
    exec_on(c, "SET LOCAL track_functions = 'all'");
    int64_t before = delta_parts_calls(c);
    char *sql = mc_sprintf(
        "SELECT f.boundary, f.settled, f.input_tokens FROM usage.usage_fresh_parts('%s', "
        "((now() AT TIME ZONE 'UTC')::date - 30)::timestamp AT TIME ZONE 'UTC', 'UTC', '%s') f",
        s->runtime, after);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    free(sql);
    int n = PQntuples(r);
    ck_assert_int_ge(n, 1);
    /* The last row is the marks' alone. */
    ck_assert_msg(PQgetisnull(r, n - 1, 1), "the last row is not the marks' row");
    snprintf(boundary, len, "%s", PQgetvalue(r, n - 1, 0));
    *settled = 0;
    *rows = n - 1;
    for (int i = 0; i < n - 1; i++)
        if (strcmp(PQgetvalue(r, i, 1), "t") == 0)
            *settled += strtoll(PQgetvalue(r, i, 2), NULL, 10);
    PQclear(r);
    *priced = delta_parts_calls(c) - before;
    exec_on(c, "COMMIT");
}

/* A read from a boundary with no change logged since (a quiet runtime, or a busy one whose
 * changes the gateway keeps) skips the pricing statement, and only then: a change logged after
 * the boundary is read and priced on the next call, a change moved in by hand (restamped by
 * its mover's transaction) too, and the gateway's answers stay task_usage's. */
START_TEST(nothing_new_skips_pricing)
{
    struct ua_stack s;
    ua_start(&s);
    int64_t at = mc_now_wall_us() - 2 * 3600 * 1000000LL;
    char a[MC_UUID_STRLEN], f[MC_UUID_STRLEN];
    tu_uuid(a, 0xf9100000, 1);
    tu_uuid(f, 0xf9100000, 2);
    ua_task(&s, MC_EV_TASK_QUEUED, a, s.ws, s.agent, s.runtime, NULL, 1);
    ua_task(&s, MC_EV_TASK_QUEUED, f, s.ws, s.agent, other, NULL, 1);
    ua_usage(&s, a, "openai", "gpt-5", 1000, 100, 0, 0, at);
    ua_settle(&s);
    ua_rollup();
    ua_usage(&s, a, "openai", "gpt-5", 1500, 150, 0, 0, at + 1000000);
    ua_settle(&s);

    char b0[32], b1[32], b2[32];
    int64_t settled, priced;
    int rows;
    /* Every change: the one logged change (500 more tokens in place) priced and settled. */
    fresh_parts(&s, "0", b0, sizeof b0, &settled, &rows, &priced);
    ck_assert_int_eq(priced, 1);
    ck_assert_int_eq(settled, 500);
    /* From that boundary: nothing new, nothing priced, no row but the marks'. */
    fresh_parts(&s, b0, b1, sizeof b1, &settled, &rows, &priced);
    ck_assert_int_eq(priced, 0);
    ck_assert_int_eq(rows, 0);
    ua_reads_agree(&s, other, "nothing new");

    /* A newer report: read from the old boundary, it is priced. */
    ua_usage(&s, a, "openai", "gpt-5", 2000, 200, 0, 0, at + 2000000);
    ua_settle(&s);
    fresh_parts(&s, b1, b2, sizeof b2, &settled, &rows, &priced);
    ck_assert_int_eq(priced, 1);
    ck_assert_int_eq(settled, 500);
    fresh_parts(&s, b2, b1, sizeof b1, &settled, &rows, &priced);
    ck_assert_int_eq(priced, 0);
    ck_assert_int_eq(rows, 0);
    ua_reads_agree(&s, other, "a newer report");

    /* A change of another runtime's task, moved in by hand: restamped, it is new here. */
    ua_usage(&s, f, "openai", "gpt-5", 700, 70, 0, 0, at + 3000000);
    ua_settle(&s);
    fresh_parts(&s, b1, b2, sizeof b2, &settled, &rows, &priced);
    ck_assert_int_eq(priced, 0);
    char *sql = mc_sprintf("UPDATE usage.task_attribution SET runtime_id = '%s', version = 9 "
                           "WHERE task_id = '%s'",
                           s.runtime, f);
    th_sql(sql);
    free(sql);
    fresh_parts(&s, b2, b1, sizeof b1, &settled, &rows, &priced);
    ck_assert_int_eq(priced, 1);
    ck_assert_int_eq(settled, 700);
    ua_reads_agree(&s, other, "moved in by hand");
    ck_assert_int_eq(tokens(&s), 2200 + 770);
    ua_stop(&s);
}
END_TEST

TCase *ua_case_changes(void)
{
    TCase *tc = tcase_create("changes");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, kept_changes_stay_exact);
    tcase_add_test(tc, nothing_new_skips_pricing);
    return tc;
}
