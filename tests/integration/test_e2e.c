/* test_e2e.c: the whole product over HTTP and WebSocket with every service running, daemons
 * played by multica-daemon-sim speaking Multica's daemon protocol: a task's life from
 * assignment to usage in the dashboards, 1,000 tasks across 10 runtimes with two dispatchers,
 * and the reclaim of a task from a daemon that went silent. */
#include "gateway_client.h"
#include "mc_kafka.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Starts a simulated daemon in ws (its runtime id in runtime) with the suite's pace. */
static pid_t start_sim(const char *base, const char *pat, const char *ws, const char *name,
                       const char *extra_arg, char runtime[37])
{
    char daemon[37], *args;
    mc_uuid_v7(daemon);
    args = mc_sprintf("--work-ms 60 --chunks 2 --heartbeat-ms 1000 --poll-ms 1000 "
                      "--max-concurrency 2 %s",
                      extra_arg ? extra_arg : "");
    pid_t pid = tg_start_sim(base, pat, ws, daemon, args, name, runtime);
    free(args);
    return pid;
}

/* A workspace of alice's with a personal access token for her daemons. */
static void workspace(const char *base, const char *alice, const char *name, char ws[37],
                      char **pat)
{
    tg_workspace(base, alice, name, ws);
    *pat = tg_pat(base, alice);
}

START_TEST(a_task_from_assignment_to_the_usage_dashboard)
{
    th_db_new();
    th_sql("DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET multica.rollup_safety_lag = %L', "
           "current_database(), '0'); END$$");
    const char *brokers = th_broker_start(3);
    const char *base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher", NULL);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37], issue[37], task[37], path[256];
    char *pat;
    json_t *out = NULL;
    workspace(base, alice, "acme", ws, &pat);
    start_sim(base, pat, ws, "daemon", "--tasks 1", runtime);
    tg_agent(base, alice, ws, "acme-agent", runtime, 1, agent);
    tg_issue(base, alice, ws, "Fix the build", issue);
    /* A second client watches the issue before anything happens. */
    char url[256];
    snprintf(url, sizeof url, "%s/api/ws", base);
    mc_wsclient *watcher = tg_ws_watch(base, alice, "issue_id", issue);
    usleep(200 * 1000);
    ck_assert_int_eq(tg_assign(base, alice, issue, agent, task), 200);
    ck_assert_uint_eq(strlen(task), 36);
    json_t *done = tg_wait_task(base, alice, task, "completed", 60000);
    json_t *t = json_object_get(done, "task");
    ck_assert_str_eq(tg_str(t, "runtime_id"), runtime);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(t, "completed_at")));
    ck_assert_uint_eq(json_array_size(json_object_get(done, "progress")), 2);
    json_decref(done);
    /* The watcher saw every event of the task, in order. */
    const char *expected[] = {"queued",   "dispatched", "started",
                              "progress", "progress",   "completed"};
    size_t seen = 0, streamed = 0;
    long long last_version = 0, last_seq = 0;
    int64_t deadline = mc_now_mono_ms() + 10000;
    while ((seen < 6 || streamed < 2) && mc_now_mono_ms() < deadline) {
        json_t *m = mc_wsclient_next(watcher, 500);
        if (m == NULL)
            continue;
        /* What the agent streamed reaches the watcher too, between the task's events. */
        if (strcmp(json_string_value(json_object_get(m, "type")), "task_message") == 0) {
            json_t *msg = json_object_get(m, "message");
            ck_assert_str_eq(tg_str(msg, "task_id"), task);
            ck_assert_str_eq(tg_str(msg, "issue_id"), issue);
            ck_assert_str_eq(tg_str(msg, "type"), "text");
            ck_assert_int_eq(json_integer_value(json_object_get(msg, "seq")),
                             (json_int_t)streamed + 1);
            streamed++;
        }
        if (strcmp(json_string_value(json_object_get(m, "type")), "event") == 0) {
            json_t *ev = json_object_get(m, "event");
            char want[64];
            snprintf(want, sizeof want, "multica.task.%s.v1", expected[seen]);
            ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), want);
            long long v =
                json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
            long long s = json_integer_value(json_object_get(m, "seq"));
            /* Progress is no change of state: it carries the start's version. */
            if (strcmp(expected[seen], "progress") == 0)
                ck_assert_int_eq(v, last_version);
            else
                ck_assert_int_gt(v, last_version);
            ck_assert_int_gt(s, last_seq);
            last_version = v;
            last_seq = s;
            seen++;
        }
        json_decref(m);
    }
    ck_assert_uint_eq(seen, 6);
    ck_assert_uint_eq(streamed, 2);
    mc_wsclient_close(watcher);
    /* A client reconnecting with the last seq it saw gets what it missed, and only that. */
    watcher = mc_wsclient_open(url, alice);
    ck_assert_ptr_nonnull(watcher);
    json_t *sub = json_pack("{ss ss sI}", "type", "subscribe", "issue_id", issue, "since",
                            (json_int_t)(last_seq - 2));
    ck_assert_int_eq(mc_wsclient_send(watcher, sub), 0);
    json_decref(sub);
    int replayed = 0;
    json_t *m;
    while ((m = mc_wsclient_next(watcher, 2000)) != NULL) {
        if (strcmp(json_string_value(json_object_get(m, "type")), "event") == 0) {
            ck_assert_int_gt(json_integer_value(json_object_get(m, "seq")), last_seq - 2);
            replayed++;
        }
        json_decref(m);
        if (replayed == 2)
            break;
    }
    ck_assert_int_eq(replayed, 2);
    mc_wsclient_close(watcher);
    /* The usage reached task_usage with its attribution, and the dashboards after a rollup. */
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT input_tokens FROM usage.task_usage WHERE task_id = '%s'",
             task);
    int64_t in = 0;
    for (int i = 0; i < 100 && (in = th_sql_int_or(sql, -1)) != 2000; i++)
        usleep(100 * 1000);
    ck_assert_int_eq(in, 2000);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage.task_attribution WHERE task_id = '%s' AND runtime_id = "
             "'%s' AND workspace_id = '%s'",
             task, runtime, ws);
    ck_assert_int_eq(th_sql_int(sql), 1);
    th_sql("SET multica.rollup_safety_lag = '0'");
    th_sql_int("SELECT usage.rollup_task_usage_hourly()");
    snprintf(path, sizeof path, "/api/runtimes/%s/usage?days=1", runtime);
    ck_assert_int_eq(tg_call(base, "GET", path, alice, NULL, &out), 200);
    json_t *row = json_array_get(out, 0); /* Multica's shape: the rows themselves */
    ck_assert_ptr_nonnull(row);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "input_tokens")), 2000);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "task_count")), 1);
    json_decref(out);
    /* Everything the services produced matches the schemas. */
    const char *topics[] = {MC_TOPIC_TASK_COMMANDS, MC_TOPIC_TASK_EVENTS, MC_TOPIC_RUNTIME_EVENTS,
                            MC_TOPIC_USAGE_EVENTS};
    for (size_t i = 0; i < 4; i++) {
        json_t *msgs = th_consume_all(brokers, topics[i]);
        ck_assert_uint_gt(json_array_size(msgs), 0);
        th_capture(msgs);
        json_decref(msgs);
    }
    free(alice);
    free(pat);
}
END_TEST

START_TEST(a_thousand_tasks_across_ten_runtimes_with_two_dispatchers)
{
    enum { RUNTIMES = 10, TASKS = 1000, CAPACITY = 2 };
    th_db_new();
    const char *brokers = th_broker_start(6);
    const char *base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher-1", NULL);
    tg_start_dispatcher(brokers, "dispatcher-2", NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], path[256], body[512];
    char *pat;
    workspace(base, alice, "fleet", ws, &pat);
    /* Each daemon has CAPACITY slots and one agent allowed CAPACITY tasks at once. */
    char agents[RUNTIMES][37];
    for (int r = 0; r < RUNTIMES; r++) {
        char runtime[37], name[32];
        snprintf(name, sizeof name, "daemon-%d", r);
        start_sim(base, pat, ws, name, "--chunks 1 --work-ms 20", runtime);
        snprintf(name, sizeof name, "agent-%d", r);
        tg_agent(base, alice, ws, name, runtime, CAPACITY, agents[r]);
    }
    /* Each issue is created assigned: one request, as `multica issue create --assignee`. */
    snprintf(path, sizeof path, "/api/issues?workspace_id=%s", ws);
    for (int i = 0; i < TASKS; i++) {
        snprintf(body, sizeof body,
                 "{\"title\":\"task %d\",\"assignee_type\":\"agent\",\"assignee_id\":\"%s\"}", i,
                 agents[i % RUNTIMES]);
        ck_assert_int_eq(tg_call(base, "POST", path, alice, body, NULL), 201);
    }
    int64_t deadline = mc_now_mono_ms() + 240000;
    int64_t completed = 0;
    while (mc_now_mono_ms() < deadline) {
        completed = th_sql_int("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                               "'completed'");
        if (completed >= TASKS)
            break;
        usleep(500 * 1000);
    }
    ck_assert_int_eq(completed, TASKS);
    /* Exactly once: one completion per task, and nothing failed or was requeued. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions WHERE to_status = "
                                "'completed'"),
                     TASKS);
    ck_assert_int_eq(
        th_sql_int("SELECT count(*) FROM (SELECT task_id FROM dispatch.task_transitions "
                   "WHERE event = 'dispatched' GROUP BY task_id HAVING count(*) > 1) d"),
        0);
    /* Capacity: replaying the transitions log, no runtime ever held more than its capacity. */
    ck_assert_int_le(th_sql_int("WITH d AS (SELECT runtime_id, at, id, CASE WHEN event = "
                                "'dispatched' THEN 1 WHEN to_status IN ('completed', 'failed', "
                                "'cancelled') OR event = 'requeued' THEN -1 ELSE 0 END AS delta "
                                "FROM dispatch.task_transitions) SELECT coalesce(max(active), 0) "
                                "FROM (SELECT sum(delta) OVER (PARTITION BY runtime_id ORDER BY "
                                "at, id) AS active FROM d) s"),
                     CAPACITY);
    /* The read model agrees once the last events are projected (it follows asynchronously). */
    deadline = mc_now_mono_ms() + 30000;
    while (th_sql_int("SELECT count(*) FROM gateway.tasks WHERE status = 'completed'") < TASKS &&
           mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM gateway.tasks WHERE status = 'completed'"),
                     TASKS);
    /* Each task was handed out once, with one task token. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM gateway.tasks WHERE claimed_at IS NOT NULL"),
                     TASKS);
    free(alice);
    free(pat);
}
END_TEST

START_TEST(a_silent_daemon_s_task_is_reclaimed_by_another_runtime)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    const char *base = tg_start(brokers, NULL, NULL);
    const char *fast[] = {"DISPATCH_LEASE=2s", "RUNTIME_ONLINE_WINDOW=3s", NULL};
    tg_start_dispatcher(brokers, "dispatcher", fast);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], rt_a[37], rt_b[37], agent[37], issue[37], task[37], path[256], body[512];
    char *pat;
    workspace(base, alice, "acme", ws, &pat);
    start_sim(base, pat, ws, "daemon-b", "--tasks 1", rt_b);
    /* Daemon A claims the task and then says nothing: no start, no heartbeat. */
    start_sim(base, pat, ws, "daemon-a", "--silent", rt_a);
    tg_agent(base, alice, ws, "acme-agent", rt_a, 1, agent);
    tg_issue(base, alice, ws, "x", issue);
    ck_assert_int_eq(tg_assign(base, alice, issue, agent, task), 200);
    json_decref(tg_wait_task(base, alice, task, "dispatched", 30000));
    /* The lease runs out: the task goes back to the queue. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND "
             "event = 'requeued'",
             task);
    int64_t deadline = mc_now_mono_ms() + 30000;
    while (th_sql_int(sql) == 0 && mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    ck_assert_int_ge(th_sql_int(sql), 1);
    /* The agent moves to runtime B, which completes the task. */
    snprintf(path, sizeof path, "/api/agents/%s", agent);
    snprintf(body, sizeof body, "{\"runtime_id\":\"%s\"}", rt_b);
    ck_assert_int_eq(tg_call(base, "PUT", path, alice, body, NULL), 200);
    json_t *done = tg_wait_task(base, alice, task, "completed", 60000);
    ck_assert_str_eq(tg_str(json_object_get(done, "task"), "runtime_id"), rt_b);
    json_decref(done);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND "
             "event = 'reassigned'",
             task);
    ck_assert_int_ge(th_sql_int(sql), 1);
    free(alice);
    free(pat);
}
END_TEST

START_TEST(unassigning_keeps_the_run_and_deleting_the_issue_deletes_the_usage)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    const char *base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher", NULL);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37], issue[37], path[256], body[256];
    char *pat;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &pat, agent);
    json_t *out = NULL;
    tg_issue(base, alice, ws, "x", issue);
    /* Assigned (no daemon claims: the task waits, dispatched), then unassigned: as in Multica
     * (its #4963), a change of assignee does not interrupt the run. */
    char second[37];
    ck_assert_int_eq(tg_assign(base, alice, issue, agent, second), 200);
    json_decref(tg_wait_task(base, alice, second, "dispatched", 30000));
    char none[37];
    ck_assert_int_eq(tg_assign(base, alice, issue, NULL, none), 200);
    ck_assert_str_eq(none, "");
    usleep(1500 * 1000);
    json_decref(tg_wait_task(base, alice, second, "dispatched", 1000));
    /* Assigned again to the agent whose run is under way: no second, unaware run. */
    char again[37];
    ck_assert_int_eq(tg_assign(base, alice, issue, agent, again), 200);
    ck_assert_str_eq(again, "");
    /* The daemon claims it, starts it and reports usage. */
    snprintf(body, sizeof body, "{\"daemon_id\":\"d\",\"runtime_ids\":[\"%s\"],\"max_tasks\":5}",
             runtime);
    ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/tasks/claim", pat, body, &out), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "tasks")), 1);
    ck_assert_str_eq(tg_str(json_array_get(json_object_get(out, "tasks"), 0), "id"), second);
    json_decref(out);
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/start", second);
    ck_assert_int_eq(tg_call(base, "POST", path, pat, "{}", NULL), 200);
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/usage", second);
    ck_assert_int_eq(tg_call(base, "POST", path, pat,
                             "{\"usage\":[{\"provider\":\"openai\",\"model\":\"gpt-5\","
                             "\"input_tokens\":10,\"output_tokens\":20}]}",
                             NULL),
                     202);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM usage.task_usage WHERE task_id = '%s'", second);
    int64_t deadline = mc_now_mono_ms() + 30000;
    while (th_sql_int(sql) == 0 && mc_now_mono_ms() < deadline)
        usleep(100 * 1000);
    ck_assert_int_eq(th_sql_int(sql), 1);
    /* Deleting the issue deletes its tasks, and their usage with them. */
    snprintf(path, sizeof path, "/api/issues/%s", issue);
    ck_assert_int_eq(tg_call(base, "DELETE", path, alice, NULL, NULL), 204);
    ck_assert_int_eq(tg_call(base, "GET", path, alice, NULL, NULL), 404);
    deadline = mc_now_mono_ms() + 30000;
    while (th_sql_int(sql) != 0 && mc_now_mono_ms() < deadline)
        usleep(100 * 1000);
    ck_assert_int_eq(th_sql_int(sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage.task_attribution WHERE task_id = '%s' AND deleted_at IS "
             "NOT NULL",
             second);
    ck_assert_int_eq(th_sql_int(sql), 1);
    free(alice);
    free(pat);
}
END_TEST

START_TEST(a_bad_assign_body_changes_nothing_and_backlog_starts_nothing)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    const char *base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher", NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37], issue[37], path[256], body[256];
    char *pat;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &pat, agent);
    json_t *out = NULL;
    tg_issue(base, alice, ws, "x", issue);
    char task[37];
    ck_assert_int_eq(tg_assign(base, alice, issue, agent, task), 200);
    json_decref(tg_wait_task(base, alice, task, "dispatched", 30000));
    /* A mistyped assignee is refused before anything changes: it never reads as "unassign". */
    struct {
        const char *body, *field;
    } bad[] = {
        {"{\"assignee_id\":5}", "assignee_id"},
        {"{\"assignee_type\":\"agent\",\"assignee_id\":[\"x\"]}", "assignee_id"},
        {"{\"assignee_type\":\"agent\",\"assignee_id\":null}", "assignee_id"},
        {"{\"assignee_type\":\"robot\",\"assignee_id\":\"0195f1c2-0000-7000-8000-0000000000c1\"}",
         "assignee_type"},
        {"{\"assignee_type\":\"agent\",\"assignee_id\":\"0195f1c2-0000-7000-8000-0000000000c1\"}",
         "assignee_id"},
        {"{\"status\":\"nope\"}", "status"},
    };
    snprintf(path, sizeof path, "/api/issues/%s", issue);
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(tg_call(base, "PUT", path, alice, bad[i].body, &out), 400);
        json_t *err = json_object_get(out, "error");
        ck_assert_msg(err && strcmp(tg_str(err, "field"), bad[i].field) == 0, "%s", bad[i].body);
        json_decref(out);
    }
    ck_assert_int_eq(tg_call(base, "GET", path, alice, NULL, &out), 200);
    ck_assert_str_eq(tg_str(out, "assignee_id"), agent);
    json_decref(out);
    usleep(1000 * 1000);
    json_decref(tg_wait_task(base, alice, task, "dispatched", 1000));
    /* Backlog is the parking lot (Multica's WillEnqueueRun): assigning into it starts
     * nothing; leaving it starts the assignee's run. */
    char parked[37], none[37];
    tg_issue(base, alice, ws, "parked", parked);
    snprintf(path, sizeof path, "/api/issues/%s", parked);
    ck_assert_int_eq(tg_call(base, "PUT", path, alice, "{\"status\":\"backlog\"}", NULL), 200);
    ck_assert_int_eq(tg_assign(base, alice, parked, agent, none), 200);
    ck_assert_str_eq(none, "");
    ck_assert_int_eq(tg_call(base, "PUT", path, alice, "{\"title\":\"still parked\"}", &out), 200);
    ck_assert(json_is_null(json_object_get(out, "task_id")));
    json_decref(out);
    ck_assert_int_eq(tg_call(base, "PUT", path, alice, "{\"status\":\"todo\"}", &out), 200);
    char started[37];
    snprintf(started, sizeof started, "%s", tg_str(out, "task_id"));
    json_decref(out);
    /* Queued behind the first run (the agent takes one at a time). */
    json_decref(tg_wait_task(base, alice, started, "queued", 30000));
    (void)body;
    free(alice);
    free(pat);
}
END_TEST

Suite *suite_e2e(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("product");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, a_task_from_assignment_to_the_usage_dashboard);
    tcase_add_test(tc, a_silent_daemon_s_task_is_reclaimed_by_another_runtime);
    tcase_add_test(tc, unassigning_keeps_the_run_and_deleting_the_issue_deletes_the_usage);
    tcase_add_test(tc, a_bad_assign_body_changes_nothing_and_backlog_starts_nothing);
    tcase_add_test(tc, a_thousand_tasks_across_ten_runtimes_with_two_dispatchers);
    suite_add_tcase(s, tc);
    return s;
}
