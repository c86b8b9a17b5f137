/* test_dispatch_sql.c: the dispatch slice's state-machine functions called directly from SQL
 * (no broker, no service): ordering by event time, capacity and per-issue rules, refusals,
 * and a documented, correctly owned schema. */
#include "dispatch_util.h"

#include <stdio.h>

/* Runs a state-machine call and returns how many rows had the given outcome. */
static int64_t outcome_count(const char *outcome, const char *call)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE outcome = '%s'", call, outcome);
    return th_sql_int(sql);
}

START_TEST(state_machine_rules_in_sql)
{
    th_db_new();
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], issue[MC_UUID_STRLEN];
    char t[4][MC_UUID_STRLEN], call[512], sql[512];
    dt_rt_id(r1, 1);
    dt_rt_id(r2, 2);
    dt_agent_id(agent, 1);
    dt_issue_id(issue, 1);
    for (int i = 0; i < 4; i++)
        dt_task_id(t[i], (unsigned long)i);
    /* The agent moved to r2 a minute ago; a TaskRequested sent before that (naming r1) but
     * consumed after it lands on r2, and a stale AgentRuntimeChanged moves nothing back. */
    snprintf(call, sizeof call,
             "dispatch.change_agent_runtime('%s', '%s', '%s', now() - interval '1 minute')", agent,
             WS, r2);
    ck_assert_int_eq(outcome_count("applied", call), 0);
    snprintf(call, sizeof call,
             "dispatch.request_task('%s', '%s', '%s', '%s', '%s', 't', 0, 3, "
             "now() - interval '2 minutes')",
             t[0], WS, agent, r1, issue);
    ck_assert_int_eq(outcome_count("applied", call), 1);
    ck_assert_int_eq(dt_task_int(t[0], "(runtime_id = '"
                                       "d0000001-0000-7000-8000-000000000002"
                                       "')::int"),
                     1);
    snprintf(call, sizeof call,
             "dispatch.change_agent_runtime('%s', '%s', '%s', now() - interval '10 minutes')",
             agent, WS, r1);
    ck_assert_int_eq(outcome_count("applied", call), 0);
    /* A stale TaskRequested did not lower the agent's concurrency either (still 1). */
    ck_assert_int_eq(th_sql_int("SELECT max_concurrent_tasks FROM dispatch.agents"), 1);
    /* Three more tasks for the same agent, two on the same issue. */
    for (int i = 1; i < 4; i++) {
        snprintf(call, sizeof call,
                 "dispatch.request_task('%s', '%s', '%s', '%s', %s, 't', 0, 2, now())", t[i], WS,
                 agent, r2, i == 1 ? "'d0000003-0000-7000-8000-000000000001'" : "NULL");
        ck_assert_int_eq(outcome_count("applied", call), 1);
    }
    ck_assert_int_eq(th_sql_int("SELECT max_concurrent_tasks FROM dispatch.agents"), 2);
    /* Runtime r2 with capacity 5: the agent's limit (2) binds and the second task on the
     * issue waits; an offline event older than the heartbeat changes nothing. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dispatch.runtime_seen('%s', '%s', 5, now())",
             r2, WS);
    ck_assert_int_eq(th_sql_int(sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.runtime_offline('%s', '%s', now() - interval '1 "
             "hour')",
             r2, WS);
    ck_assert_int_eq(th_sql_int(sql), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.runtimes WHERE offline_at IS NULL"),
                     1);
    snprintf(call, sizeof call, "dispatch.dispatch_tasks('90 seconds', '150 seconds', 100)");
    ck_assert_int_eq(outcome_count("applied", call), 2);
    ck_assert_int_eq(dt_task_int(t[0], "(status = 'dispatched')::int"), 1);
    ck_assert_int_eq(dt_task_int(t[1], "(status = 'queued')::int"), 1); /* same issue as t0 */
    ck_assert_int_eq(dt_task_int(t[2], "(status = 'dispatched')::int"), 1);
    ck_assert_int_eq(dt_task_int(t[3], "(status = 'queued')::int"), 1); /* agent at its limit */
    /* Every change is in the log with its version; the outbox is the service's to fill. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 6);
    /* Illegal moves are refused and change nothing. */
    snprintf(call, sizeof call, "dispatch.finish_task('%s', '%s', 'completed', 'x', NULL)", t[3],
             r2);
    ck_assert_int_eq(outcome_count("refused", call), 1);
    snprintf(call, sizeof call, "dispatch.start_task('%s', '%s')", t[0], r1);
    ck_assert_int_eq(outcome_count("refused", call), 1);
    ck_assert_int_eq(dt_task_int(t[3], "version"), 1);
    /* Every table and column of the slice is documented. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                "c.relnamespace WHERE n.nspname = 'dispatch' AND c.relkind = 'r' "
                                "AND c.relname <> 'schema_migrations' AND "
                                "obj_description(c.oid, 'pg_class') IS NULL"),
                     0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = "
                                "a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'dispatch' AND c.relkind IN ('r', 'c') AND "
                                "c.relname <> 'schema_migrations' AND a.attnum > 0 AND NOT "
                                "a.attisdropped AND col_description(c.oid, a.attnum) IS NULL"),
                     0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                "c.relnamespace WHERE n.nspname = 'dispatch' AND c.relkind = 'r' "
                                "AND pg_get_userbyid(c.relowner) <> 'multica_dispatch'"),
                     0);
}
END_TEST

/* dispatch.apply_commands applies a batch in order, each command by its function, and tags
 * each row with its command's position; an op it does not know fails the whole call. */
START_TEST(a_command_batch_in_one_call)
{
    th_db_new();
    char t[MC_UUID_STRLEN], r[MC_UUID_STRLEN], a[MC_UUID_STRLEN], sql[1024];
    dt_task_id(t, 1);
    dt_rt_id(r, 1);
    dt_agent_id(a, 1);
    snprintf(sql, sizeof sql,
             "SELECT string_agg(b.cmd || ':' || (b.change).outcome || ':' || (b.change).event, "
             "',' ORDER BY b.cmd) FROM dispatch.apply_commands(jsonb_build_array("
             "jsonb_build_object('op', 'runtime_seen', 'p', jsonb_build_array('%s', '%s', '2', "
             "now()::text)), "
             "jsonb_build_object('op', 'request_task', 'p', jsonb_build_array('%s', '%s', '%s', "
             "'%s', NULL, 't', '0', '1', now()::text)), "
             "jsonb_build_object('op', 'start_task', 'p', jsonb_build_array('%s', '%s')), "
             "jsonb_build_object('op', 'request_task', 'p', jsonb_build_array('%s', '%s', '%s', "
             "'%s', NULL, 't', '0', '1', now()::text)))) b",
             r, WS, t, WS, a, r, t, r, t, WS, a, r);
    /* The runtime is seen (no task row), the task queued, its start refused (not dispatched
     * yet), and the second request a duplicate. */
    PGresult *res = PQexec(th_pg(), sql);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "2:applied:queued,3:refused:started,4:noop:queued");
    PQclear(res);
    res = PQexec(th_pg(), "SELECT * FROM dispatch.apply_commands("
                          "'[{\"op\": \"no_such_op\", \"p\": []}]')");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
}
END_TEST

/* Applies the batch cmds (a JSON array) for good. */
static void apply_batch(const char *cmds)
{
    const char *params[] = {cmds};
    PGresult *res = PQexecParams(th_pg(), "SELECT count(*) FROM dispatch.apply_commands($1)", 1,
                                 NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
}

/* Applies the batch cmds (a JSON array) in a transaction it rolls back; returns (malloc'd) its
 * change rows and what it left in the queue and the transition log. */
static char *batch_effect(const char *cmds)
{
    const char *params[] = {cmds};
    PGresult *res = PQexec(th_pg(), "BEGIN");
    PQclear(res);
    res = PQexecParams(
        th_pg(),
        "WITH b AS (SELECT b.cmd, (b.change).* FROM dispatch.apply_commands($1::jsonb) b) "
        "SELECT (SELECT string_agg(concat_ws(':', b.cmd, b.outcome, b.event, b.reason, "
        "b.version, b.status, b.from_status, b.seq, b.text, b.result, b.attempt), ',' "
        "ORDER BY b.cmd) FROM b) || ' | ' || (SELECT string_agg(concat_ws(':', q.task_id, "
        "q.status, q.version, q.last_progress_seq, q.result, q.failure_reason, "
        "q.lease_until IS NULL, q.started_at IS NULL, q.completed_at IS NULL), ',' ORDER BY "
        "q.task_id) FROM dispatch.agent_task_queue q) || ' | ' || (SELECT "
        "string_agg(concat_ws(':', t.task_id, t.from_status, t.to_status, t.event, t.version, "
        "t.reason), ',' ORDER BY t.task_id, t.version) FROM dispatch.task_transitions t)",
        1, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    char *out = mc_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    res = PQexec(th_pg(), "ROLLBACK");
    PQclear(res);
    return out;
}

/* A batch's start, progress and finish reports, each on a task no other command names, go as
 * sets (dispatch.apply_reports); an agent move or a runtime going offline in the batch sends
 * every command through its own function. Both give the same change rows, rows and log: here
 * the same batch with and without an offline runtime that holds no task. */
START_TEST(reports_as_sets_give_what_one_by_one_gives)
{
    th_db_new();
    char rt[MC_UUID_STRLEN], other[MC_UUID_STRLEN], a[MC_UUID_STRLEN], t[8][MC_UUID_STRLEN];
    char cmds[4096], batch[4096], forced[8192];
    dt_rt_id(rt, 1);
    dt_rt_id(other, 2);
    dt_agent_id(a, 1);
    for (int i = 0; i < 8; i++)
        dt_task_id(t[i], (unsigned long)i + 1);
    int n = snprintf(cmds, sizeof cmds,
                     "[{\"op\": \"runtime_seen\", \"p\": [\"%s\", \"%s\", \"8\", \"%s\"]}", rt, WS,
                     "2026-01-01T00:00:00Z");
    for (int i = 0; i < 5; i++)
        n += snprintf(cmds + n, sizeof cmds - (size_t)n,
                      ", {\"op\": \"request_task\", \"p\": [\"%s\", \"%s\", \"%s\", \"%s\", null, "
                      "\"t\", \"0\", \"8\", \"2026-01-01T00:00:00Z\"]}",
                      t[i], WS, a, rt);
    snprintf(cmds + n, sizeof cmds - (size_t)n, "]");
    apply_batch(cmds);
    ck_assert_int_eq(th_sql_int("WITH u AS (UPDATE dispatch.runtimes SET last_seen_at = now() "
                                "RETURNING 1) SELECT count(*) FROM u"),
                     1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.dispatch_round('90 s', '150 s', "
                                "500, '5 min', 0)"),
                     5);
    /* Tasks 1-3 running (3 with progress 5), 4 and 5 dispatched, 6 unknown. Task 5 is named
     * twice in the batch, so its two commands go one by one, in order, in both. */
    snprintf(cmds, sizeof cmds,
             "[{\"op\": \"start_task\", \"p\": [\"%s\", \"%s\"]}, "
             "{\"op\": \"start_task\", \"p\": [\"%s\", \"%s\"]}, "
             "{\"op\": \"start_task\", \"p\": [\"%s\", \"%s\"]}, "
             "{\"op\": \"report_progress\", \"p\": [\"%s\", \"%s\", \"5\", \"x\"]}]",
             t[0], rt, t[1], rt, t[2], rt, t[2], rt);
    apply_batch(cmds);
    n = snprintf(batch, sizeof batch,
                 "[{\"op\": \"report_progress\", \"p\": [\"%s\", \"%s\", \"1\", \"first\"]}, "
                 "{\"op\": \"report_progress\", \"p\": [\"%s\", \"%s\", \"4\", \"old\"]}, "
                 "{\"op\": \"finish_task\", \"p\": [\"%s\", \"%s\", \"completed\", \"PR\", null]}, "
                 "{\"op\": \"finish_task\", \"p\": [\"%s\", \"%s\", \"failed\", null, \"no\"]}, "
                 "{\"op\": \"start_task\", \"p\": [\"%s\", \"%s\"]}, "
                 "{\"op\": \"report_progress\", \"p\": [\"%s\", \"%s\", \"1\", \"early\"]}, "
                 "{\"op\": \"start_task\", \"p\": [\"%s\", \"%s\"]}",
                 t[0], rt, t[2], rt, t[1], rt, t[3], rt, t[4], other, t[4], rt, t[5], rt);
    snprintf(
        forced, sizeof forced,
        "%s, {\"op\": \"runtime_offline\", \"p\": [\"%s\", \"%s\", \"2026-01-01T00:00:00Z\"]}]",
        batch, other, WS);
    snprintf(batch + n, sizeof batch - (size_t)n, "]");
    char *as_sets = batch_effect(batch);
    char *one_by_one = batch_effect(forced);
    ck_assert_str_eq(as_sets, one_by_one);
    /* The outcomes themselves: progress, a duplicate, a completion, a failure before the
     * start, a runtime mismatch, progress before the start, an unknown task. */
    ck_assert_ptr_nonnull(strstr(as_sets, "1:applied:progress:4:running:running:1:first:1,"
                                          "2:noop:progress:duplicate:4:running:running:1,"
                                          "3:applied:completed:4:completed:running:PR:1,"
                                          "4:applied:failed:no:3:failed:dispatched:1,"
                                          "5:refused:started:runtime_mismatch:2:running:"
                                          "dispatched:1,6:refused:progress:illegal_transition:2:"
                                          "running:dispatched:1,7:refused:started:unknown_task:"
                                          "running | "));
    free(as_sets);
    free(one_by_one);
}
END_TEST

TCase *dt_case_sql(void)
{
    TCase *tc = tcase_create("sql");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, state_machine_rules_in_sql);
    tcase_add_test(tc, a_command_batch_in_one_call);
    tcase_add_test(tc, reports_as_sets_give_what_one_by_one_gives);
    return tc;
}
