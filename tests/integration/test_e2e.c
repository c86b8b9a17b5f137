/* test_e2e.c: the whole product over HTTP and WebSocket with every service running: a task's
 * life from assignment to usage in the dashboards, 1,000 tasks across 10 runtimes with two
 * dispatchers, and the reclaim of a task from a daemon that went silent. */
#include "gateway_client.h"
#include "mc_kafka.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Polls a task until it reaches status (or the timeout passes); returns the task JSON. */
static json_t *wait_task(const char *base, const char *token, const char *task, const char *status,
                         int timeout_ms)
{
    char path[128];
    snprintf(path, sizeof path, "/api/tasks/%s", task);
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    json_t *out = NULL;
    while (mc_now_mono_ms() < deadline) {
        json_decref(out);
        out = NULL;
        if (tg_call(base, "GET", path, token, NULL, &out) == 200 &&
            strcmp(tg_str(json_object_get(out, "task"), "status"), status) == 0)
            return out;
        usleep(100 * 1000);
    }
    ck_abort_msg("task %s did not reach %s: %s", task, status,
                 out ? json_dumps(out, JSON_COMPACT) : "(no answer)");
    return NULL;
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
    char ws[37], runtime[37], agent[37];
    char *rt_token;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &rt_token, agent);
    char path[256], body[256];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/workspaces/%s/issues", ws);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, "{\"title\":\"Fix the build\"}", &out),
                     201);
    char issue[37];
    snprintf(issue, sizeof issue, "%s", tg_str(out, "id"));
    json_decref(out);
    /* A second client watches the issue before anything happens. */
    char url[256];
    snprintf(url, sizeof url, "%s/api/ws", base);
    mc_wsclient *watcher = mc_wsclient_open(url, alice);
    ck_assert_ptr_nonnull(watcher);
    json_t *sub = json_pack("{ss ss}", "type", "subscribe", "issue_id", issue);
    ck_assert_int_eq(mc_wsclient_send(watcher, sub), 0);
    json_decref(sub);
    tg_start_sim(base, runtime, rt_token, "daemon", "--tasks 1");
    snprintf(path, sizeof path, "/api/issues/%s/assign", issue);
    snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", agent);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, body, &out), 200);
    char task[37];
    snprintf(task, sizeof task, "%s", tg_str(out, "task_id"));
    json_decref(out);
    json_t *done = wait_task(base, alice, task, "completed", 60000);
    json_t *t = json_object_get(done, "task");
    ck_assert_str_eq(tg_str(t, "runtime_id"), runtime);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(t, "completed_at")));
    ck_assert_uint_eq(json_array_size(json_object_get(done, "progress")), 2);
    json_decref(done);
    /* The watcher saw every event of the task, in order. */
    const char *expected[] = {"queued",   "dispatched", "started",
                              "progress", "progress",   "completed"};
    size_t seen = 0;
    long long last_version = 0, last_seq = 0;
    int64_t deadline = mc_now_mono_ms() + 10000;
    while (seen < 6 && mc_now_mono_ms() < deadline) {
        json_t *m = mc_wsclient_next(watcher, 500);
        if (m == NULL)
            continue;
        if (strcmp(json_string_value(json_object_get(m, "type")), "event") == 0) {
            json_t *ev = json_object_get(m, "event");
            char want[64];
            snprintf(want, sizeof want, "multica.task.%s.v1", expected[seen]);
            ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), want);
            long long v =
                json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
            long long s = json_integer_value(json_object_get(m, "seq"));
            ck_assert_int_gt(v, last_version);
            ck_assert_int_gt(s, last_seq);
            last_version = v;
            last_seq = s;
            seen++;
        }
        json_decref(m);
    }
    ck_assert_uint_eq(seen, 6);
    mc_wsclient_close(watcher);
    /* A client reconnecting with the last seq it saw gets what it missed, and only that. */
    watcher = mc_wsclient_open(url, alice);
    ck_assert_ptr_nonnull(watcher);
    sub = json_pack("{ss ss sI}", "type", "subscribe", "issue_id", issue, "since",
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
    free(rt_token);
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
    json_t *out = NULL;
    ck_assert_int_eq(tg_call(base, "POST", "/api/workspaces", alice, "{\"name\":\"fleet\"}", &out),
                     201);
    char ws[37], path[256], body[512];
    snprintf(ws, sizeof ws, "%s", tg_str(out, "id"));
    json_decref(out);
    char agents[RUNTIMES][37];
    for (int r = 0; r < RUNTIMES; r++) {
        snprintf(path, sizeof path, "/api/workspaces/%s/runtime-tokens", ws);
        ck_assert_int_eq(tg_call(base, "POST", path, alice, NULL, &out), 201);
        snprintf(body, sizeof body,
                 "{\"registration_token\":\"%s\",\"name\":\"r%d\",\"max_concurrency\":%d}",
                 tg_str(out, "registration_token"), r, CAPACITY);
        json_decref(out);
        ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/register", NULL, body, &out), 201);
        char runtime[37], name[32];
        snprintf(runtime, sizeof runtime, "%s", tg_str(out, "runtime_id"));
        snprintf(name, sizeof name, "daemon-%d", r);
        tg_start_sim(base, runtime, tg_str(out, "runtime_token"), name, "--chunks 1 --work-ms 20");
        json_decref(out);
        snprintf(path, sizeof path, "/api/workspaces/%s/agents", ws);
        snprintf(body, sizeof body,
                 "{\"name\":\"agent-%d\",\"provider\":\"claude\",\"runtime_id\":\"%s\","
                 "\"max_concurrent_tasks\":%d}",
                 r, runtime, CAPACITY);
        ck_assert_int_eq(tg_call(base, "POST", path, alice, body, &out), 201);
        snprintf(agents[r], 37, "%s", tg_str(out, "id"));
        json_decref(out);
    }
    for (int i = 0; i < TASKS; i++) {
        snprintf(path, sizeof path, "/api/workspaces/%s/issues", ws);
        snprintf(body, sizeof body, "{\"title\":\"task %d\"}", i);
        ck_assert_int_eq(tg_call(base, "POST", path, alice, body, &out), 201);
        snprintf(path, sizeof path, "/api/issues/%s/assign", tg_str(out, "id"));
        json_decref(out);
        snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", agents[i % RUNTIMES]);
        ck_assert_int_eq(tg_call(base, "POST", path, alice, body, NULL), 200);
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
    free(alice);
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
    char ws[37], rt_a[37], agent[37], path[256], body[512];
    char *tok_a;
    tg_setup_workspace(base, alice, "acme", ws, rt_a, &tok_a, agent);
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/workspaces/%s/runtime-tokens", ws);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, NULL, &out), 201);
    snprintf(body, sizeof body, "{\"registration_token\":\"%s\",\"name\":\"b\"}",
             tg_str(out, "registration_token"));
    json_decref(out);
    ck_assert_int_eq(tg_call(base, "POST", "/api/daemon/register", NULL, body, &out), 201);
    char rt_b[37];
    snprintf(rt_b, sizeof rt_b, "%s", tg_str(out, "runtime_id"));
    tg_start_sim(base, rt_b, tg_str(out, "runtime_token"), "daemon-b", "--tasks 1");
    json_decref(out);
    /* Daemon A takes the task and then says nothing: no start, no heartbeat. */
    tg_start_sim(base, rt_a, tok_a, "daemon-a", "--silent");
    snprintf(path, sizeof path, "/api/workspaces/%s/issues", ws);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, "{\"title\":\"x\"}", &out), 201);
    snprintf(path, sizeof path, "/api/issues/%s/assign", tg_str(out, "id"));
    json_decref(out);
    snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", agent);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, body, &out), 200);
    char task[37];
    snprintf(task, sizeof task, "%s", tg_str(out, "task_id"));
    json_decref(out);
    json_decref(wait_task(base, alice, task, "dispatched", 30000));
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
    ck_assert_int_eq(tg_call(base, "PATCH", path, alice, body, NULL), 200);
    json_t *done = wait_task(base, alice, task, "completed", 60000);
    ck_assert_str_eq(tg_str(json_object_get(done, "task"), "runtime_id"), rt_b);
    json_decref(done);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND "
             "event = 'reassigned'",
             task);
    ck_assert_int_ge(th_sql_int(sql), 1);
    free(alice);
    free(tok_a);
}
END_TEST

START_TEST(unassigning_cancels_and_deleting_the_issue_deletes_the_usage)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    const char *base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher", NULL);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37], path[256], body[256];
    char *rt_token;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &rt_token, agent);
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/workspaces/%s/issues", ws);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, "{\"title\":\"x\"}", &out), 201);
    char issue[37];
    snprintf(issue, sizeof issue, "%s", tg_str(out, "id"));
    json_decref(out);
    /* Assigned (no daemon runs: the task waits, dispatched), then unassigned: cancelled. */
    snprintf(path, sizeof path, "/api/issues/%s/assign", issue);
    snprintf(body, sizeof body, "{\"agent_id\":\"%s\"}", agent);
    ck_assert_int_eq(tg_call(base, "POST", path, alice, body, &out), 200);
    char first[37];
    snprintf(first, sizeof first, "%s", tg_str(out, "task_id"));
    json_decref(out);
    json_decref(wait_task(base, alice, first, "dispatched", 30000));
    ck_assert_int_eq(tg_call(base, "POST", path, alice, "{}", NULL), 200);
    json_decref(wait_task(base, alice, first, "cancelled", 30000));
    /* Assigned again: the runtime starts it and reports usage. */
    ck_assert_int_eq(tg_call(base, "POST", path, alice, body, &out), 200);
    char second[37];
    snprintf(second, sizeof second, "%s", tg_str(out, "task_id"));
    json_decref(out);
    json_decref(wait_task(base, alice, second, "dispatched", 30000));
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/start", second);
    ck_assert_int_eq(tg_call(base, "POST", path, rt_token, NULL, NULL), 202);
    snprintf(path, sizeof path, "/api/daemon/tasks/%s/usage", second);
    ck_assert_int_eq(tg_call(base, "POST", path, rt_token,
                             "[{\"provider\":\"openai\",\"model\":\"gpt-5\","
                             "\"input_tokens\":10,\"output_tokens\":20}]",
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
    free(rt_token);
}
END_TEST

Suite *suite_e2e(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("product");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, a_task_from_assignment_to_the_usage_dashboard);
    tcase_add_test(tc, a_silent_daemon_s_task_is_reclaimed_by_another_runtime);
    tcase_add_test(tc, unassigning_cancels_and_deleting_the_issue_deletes_the_usage);
    tcase_add_test(tc, a_thousand_tasks_across_ten_runtimes_with_two_dispatchers);
    suite_add_tcase(s, tc);
    return s;
}
