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

TCase *dt_case_sql(void)
{
    TCase *tc = tcase_create("sql");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, state_machine_rules_in_sql);
    tcase_add_test(tc, a_command_batch_in_one_call);
    return tc;
}
