/* test_dispatch_fairness.c: dispatch by priority then age, the aging bound under a stream of
 * urgent tasks, the runtime, agent and workspace caps, and the reasons a task waits, from SQL,
 * through the service, and through the gateway's API. */
#include "dispatch_util.h"
#include "gateway_client.h"
#include "mc_proto.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WS2 "0195f1c2-0000-7000-8000-0000000000b2"

/* ---- SQL: the functions called directly, so each rule is checked without timing ---- */

static void sql_request(unsigned long task, unsigned long agent, unsigned long rt, const char *ws,
                        const char *issue, int prio, int agent_max)
{
    char t[MC_UUID_STRLEN], a[MC_UUID_STRLEN], r[MC_UUID_STRLEN], sql[640];
    dt_task_id(t, task);
    dt_agent_id(a, agent);
    dt_rt_id(r, rt);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.request_task('%s', '%s', '%s', '%s', %s, 't', %d, %d, "
             "now()) WHERE outcome = 'applied'",
             t, ws, a, r, issue ? issue : "NULL", prio, agent_max);
    ck_assert_int_eq(th_sql_int(sql), 1);
}

static void sql_runtime(unsigned long rt, const char *ws, int max)
{
    char r[MC_UUID_STRLEN], sql[256];
    dt_rt_id(r, rt);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dispatch.runtime_seen('%s', '%s', %d, now())",
             r, ws, max);
    th_sql_int(sql);
}

/* One round with an hour of aging (none in effect) and the given workspace cap; returns how
 * many tasks it dispatched. */
static int64_t sql_round(int workspace_max)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.dispatch_round('90 s', '150 s', 100, '1 hour', %d)",
             workspace_max);
    return th_sql_int(sql);
}

/* note_waits with no notice delay; returns how many TaskWaiting it emitted. */
static int64_t sql_note(int workspace_max, const char *notice)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.note_waits('150 s', '1 hour', %d, '%s', 100) "
             "WHERE outcome = 'applied' AND event = 'waiting'",
             workspace_max, notice);
    return th_sql_int(sql);
}

static void sql_finish(unsigned long task, unsigned long rt)
{
    char t[MC_UUID_STRLEN], r[MC_UUID_STRLEN], sql[512];
    dt_task_id(t, task);
    dt_rt_id(r, rt);
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM dispatch.start_task('%s', '%s')) + (SELECT count(*) "
             "FROM dispatch.finish_task('%s', '%s', 'completed', 'ok', NULL))",
             t, r, t, r);
    ck_assert_int_eq(th_sql_int(sql), 2);
}

static void expect_status(unsigned long task, const char *status, const char *reason)
{
    char t[MC_UUID_STRLEN], sql[512];
    dt_task_id(t, task);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND status = "
             "'%s' AND wait_reason IS NOT DISTINCT FROM %s%s%s",
             t, status, reason ? "'" : "", reason ? reason : "NULL", reason ? "'" : "");
    ck_assert_msg(th_sql_int(sql) == 1, "task %lu: not %s with reason %s", task, status,
                  reason ? reason : "none");
}

/* The dispatched task among some, for a runtime of capacity one. */
static unsigned long sql_dispatched_of(const unsigned long *tasks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char t[MC_UUID_STRLEN];
        dt_task_id(t, tasks[i]);
        if (dt_task_int(t, "(status = 'dispatched')::int") == 1)
            return tasks[i];
    }
    ck_abort_msg("none of the tasks is dispatched");
    return 0;
}

START_TEST(priority_then_age_in_sql)
{
    th_db_new();
    sql_runtime(1, WS, 1);
    /* Requested in this order (ids are the order): priorities low, urgent, high, urgent, none,
     * high. With no aging in effect, a runtime of capacity one takes them urgent (older first),
     * then high (older first), low, none. */
    const int prio[] = {1, 4, 3, 4, 0, 3};
    const unsigned long want[] = {1, 3, 2, 5, 0, 4};
    unsigned long ids[6];
    for (unsigned long i = 0; i < 6; i++) {
        ids[i] = i;
        sql_request(i, 1, 1, WS, NULL, prio[i], 10);
    }
    for (size_t k = 0; k < 6; k++) {
        ck_assert_int_eq(sql_round(0), 1);
        unsigned long got = sql_dispatched_of(ids, 6);
        ck_assert_msg(got == want[k], "dispatch %zu took task %lu, wanted %lu", k, got, want[k]);
        sql_finish(got, 1);
    }
    /* Aging: with a second per level, a none task requested 5 s before an urgent one is
     * ahead of it (5 s > 4 levels); requested 3 s before, it is not. */
    sql_request(10, 1, 1, WS, NULL, 0, 10);
    sql_request(11, 1, 1, WS, NULL, 4, 10);
    char t10[MC_UUID_STRLEN], sql[512];
    dt_task_id(t10, 10);
    snprintf(sql, sizeof sql,
             "UPDATE dispatch.agent_task_queue SET created_at = created_at - interval '5 s' "
             "WHERE task_id = '%s'",
             t10);
    th_sql(sql);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.dispatch_round('90 s', '150 s', "
                                "100, '1 s', 0)"),
                     1);
    expect_status(10, "dispatched", NULL);
    sql_finish(10, 1);
    sql_request(12, 1, 1, WS, NULL, 0, 10);
    char t12[MC_UUID_STRLEN];
    dt_task_id(t12, 12);
    snprintf(sql, sizeof sql,
             "UPDATE dispatch.agent_task_queue SET created_at = created_at - interval '3 s' "
             "WHERE task_id = '%s'",
             t12);
    th_sql(sql);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.dispatch_round('90 s', '150 s', "
                                "100, '1 s', 0)"),
                     1);
    expect_status(11, "dispatched", NULL);
    expect_status(12, "queued", NULL);
}
END_TEST

START_TEST(caps_and_wait_reasons_in_sql)
{
    th_db_new();
    char issue[64];
    snprintf(issue, sizeof issue, "'d0000003-0000-7000-8000-000000000001'");
    /* Runtime 1 (capacity 1): a low task, then two urgent ones, of an agent allowed 5. */
    sql_runtime(1, WS, 1);
    sql_request(1, 1, 1, WS, NULL, 1, 5);
    sql_request(2, 1, 1, WS, NULL, 4, 5);
    sql_request(3, 1, 1, WS, NULL, 4, 5);
    /* Runtime 2 (capacity 5): agent 2 allowed 1 with two tasks; agent 3 with two tasks of one
     * issue. */
    sql_runtime(2, WS, 5);
    sql_request(4, 2, 2, WS, NULL, 2, 1);
    sql_request(5, 2, 2, WS, NULL, 2, 1);
    sql_request(6, 3, 2, WS, issue, 2, 3);
    sql_request(7, 3, 2, WS, issue, 2, 3);
    /* Runtime 3 went offline; runtime 4 was never seen. */
    sql_runtime(3, WS, 5);
    char r3[MC_UUID_STRLEN], sql[512];
    dt_rt_id(r3, 3);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.runtime_offline('%s', '%s', now() + interval '1 s')",
             r3, WS);
    th_sql_int(sql);
    sql_request(8, 4, 3, WS, NULL, 4, 1);
    sql_request(9, 5, 4, WS, NULL, 4, 1);
    ck_assert_int_eq(sql_round(0), 3); /* 2, 4, 6 */
    /* Nothing is said before the notice delay. */
    ck_assert_int_eq(sql_note(0, "1 hour"), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.agent_task_queue WHERE "
                                "wait_reason IS NOT NULL"),
                     0);
    ck_assert_int_eq(sql_note(0, "0 s"), 6);
    expect_status(1, "queued", "behind_higher_priority");
    expect_status(2, "dispatched", NULL);
    expect_status(3, "queued", "runtime_full");
    expect_status(4, "dispatched", NULL);
    expect_status(5, "queued", "agent_at_capacity");
    expect_status(6, "dispatched", NULL);
    expect_status(7, "queued", "issue_busy");
    expect_status(8, "queued", "runtime_offline");
    expect_status(9, "queued", "runtime_offline");
    /* A reason that did not change is not told again; each told one is a transition. */
    ck_assert_int_eq(sql_note(0, "0 s"), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions WHERE event = "
                                "'waiting' AND from_status = 'queued' AND to_status = 'queued' "
                                "AND reason IS NOT NULL"),
                     6);
    char t1[MC_UUID_STRLEN];
    dt_task_id(t1, 1);
    ck_assert_int_eq(dt_task_int(t1, "version"), 2);
    /* The urgent task ahead of the low one runs next; then the low one only waits for room. */
    sql_finish(2, 1);
    ck_assert_int_eq(sql_round(0), 1);
    expect_status(3, "dispatched", NULL);
    ck_assert_int_eq(sql_note(0, "0 s"), 1);
    expect_status(1, "queued", "runtime_full");
    ck_assert_int_eq(dt_task_int(t1, "version"), 3);

    /* The workspace cap: workspace 2 has room for 3 on runtime 5 and its agent may run 3, but
     * the cap of 2 binds; workspace 1 already runs 3 (tasks 3, 4 and 6), so with the cap its
     * low task now waits for the workspace first. */
    sql_runtime(5, WS2, 3);
    for (unsigned long i = 20; i < 23; i++)
        sql_request(i, 6, 5, WS2, NULL, 2, 3);
    ck_assert_int_eq(sql_round(2), 2);
    expect_status(20, "dispatched", NULL);
    expect_status(21, "dispatched", NULL);
    ck_assert_int_eq(sql_note(2, "0 s"), 2);
    expect_status(22, "queued", "workspace_at_capacity");
    expect_status(1, "queued", "workspace_at_capacity");
    expect_status(5, "queued", "agent_at_capacity"); /* the agent's cap is named first */
    /* Without the cap the third goes. */
    ck_assert_int_eq(sql_round(0), 1);
    expect_status(22, "dispatched", NULL);
}
END_TEST

/* ---- the aging bound, through the service ---- */

/* Completes, as the holding runtime would, the urgent task that is dispatched (the runtime
 * holds one), once: last is the one reported before. */
static void finish_dispatched_urgent(const char *rt, char last[MC_UUID_STRLEN])
{
    PGresult *r = PQexec(th_pg(), "SELECT task_id FROM dispatch.agent_task_queue WHERE "
                                  "priority = 4 AND status = 'dispatched'");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *task = PQgetvalue(r, i, 0);
        if (strcmp(task, last) == 0)
            continue;
        dt_report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
        dt_report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "ok");
        snprintf(last, MC_UUID_STRLEN, "%s", task);
    }
    PQclear(r);
}

/* Aging: a runtime of capacity one is kept busy with urgent tasks, at least two more always
 * waiting behind the running one, while a low task (priority 1) waits. Ordered by created_at -
 * priority * DISPATCH_AGING_INTERVAL (1 s here), no urgent task requested more than (4 - 1) x
 * 1 s after the low one may go first, so the low one waits at most those 3 s plus the urgent
 * tasks requested before then (the two waiting), each a short round trip here. Without aging
 * it would wait as long as the stream lasts (the loop gives up after 20 s); without priority
 * no urgent task would pass it. */
START_TEST(a_stream_of_urgent_tasks_holds_a_low_one_back_no_longer_than_the_bound)
{
    dt_setup(2);
    struct dispatcher d;
    const char *extra[] = {"DISPATCH_AGING_INTERVAL=1s", "DISPATCH_WAIT_NOTICE=300ms", NULL};
    dt_start_dispatcher(&d, "dispatcher", extra);
    char rt[MC_UUID_STRLEN], urgent[MC_UUID_STRLEN], slow[MC_UUID_STRLEN], low[MC_UUID_STRLEN];
    char t[MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_agent_id(urgent, 1);
    dt_agent_id(slow, 2);
    dt_task_id(low, 9999);
    dt_heartbeat(rt, 1);
    unsigned long requested = 0;
    dt_task_id(t, requested++);
    dt_request_prio(t, urgent, rt, NULL, 1000, 4);
    dt_wait_task(t, "dispatched", 2, 20000);
    dt_request_prio(low, slow, rt, NULL, 1, 1);
    dt_wait_task(low, "queued", 0, 20000);
    char last[MC_UUID_STRLEN] = "";
    int64_t deadline = mc_now_mono_ms() + 20000;
    while (dt_task_int(low, "(status = 'queued')::int") == 1 && mc_now_mono_ms() < deadline) {
        int64_t taken = th_sql_int("SELECT count(*) FROM dispatch.agent_task_queue WHERE "
                                   "priority = 4 AND status <> 'queued'");
        for (int64_t waiting = (int64_t)requested - taken; waiting < 2; waiting++) {
            dt_task_id(t, requested++);
            dt_request_prio(t, urgent, rt, NULL, 1000, 4);
        }
        finish_dispatched_urgent(rt, last);
        usleep(50 * 1000);
    }
    dt_wait_task(low, "dispatched", 0, 1000);
    char sql[1024];
    /* Urgent tasks requested after the low one did pass it (priority)... */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue u, dispatch.agent_task_queue l "
             "WHERE l.task_id = '%s' AND u.priority = 4 AND u.created_at > l.created_at AND "
             "u.dispatched_at < l.dispatched_at",
             low);
    int64_t passed = th_sql_int(sql);
    ck_assert_msg(passed >= 3, "only %lld urgent tasks passed the low one", (long long)passed);
    /* ...but none requested more than 3 s after it (aging), so its wait is bounded. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue u, dispatch.agent_task_queue l "
             "WHERE l.task_id = '%s' AND u.priority = 4 AND u.created_at > l.created_at + "
             "interval '3 s' AND u.dispatched_at < l.dispatched_at",
             low);
    ck_assert_int_eq(th_sql_int(sql), 0);
    int64_t waited = dt_task_int(low, "extract(epoch FROM dispatched_at - created_at) * 1000");
    fprintf(stderr, "fairness: the low task waited %lld ms; %lld urgent tasks passed it\n",
            (long long)waited, (long long)passed);
    ck_assert_msg(waited <= 3000 + 2000, "the low task waited %lld ms", (long long)waited);
    /* Meanwhile it was told why it waited, by a valid TaskWaiting. */
    json_t *all = dt_all_events();
    json_t *evs = dt_events_of(all, low);
    bool told = false;
    for (size_t i = 0; i < json_array_size(evs); i++) {
        const json_t *ev = json_array_get(evs, i);
        if (strcmp(json_string_value(json_object_get(ev, "type")), MC_EV_TASK_WAITING) == 0) {
            dt_expect_event(evs, i, MC_EV_TASK_WAITING, (int64_t)i + 1, "queued", rt);
            told = told || strcmp(dt_dstr(ev, "reason"), "behind_higher_priority") == 0;
        }
    }
    ck_assert_msg(told, "the low task never waited behind_higher_priority");
    json_decref(evs);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

/* ---- through the gateway's API ---- */

static void issue_with_priority(const char *base, const char *token, const char *ws,
                                const char *prio, char issue[37])
{
    char body[256], path[128];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/issues?workspace_id=%s", ws);
    snprintf(body, sizeof body, "{\"title\":\"%s work\",\"priority\":\"%s\"}", prio, prio);
    ck_assert_int_eq(tg_call(base, "POST", path, token, body, &out), 201);
    snprintf(issue, 37, "%s", tg_str(out, "id"));
    json_decref(out);
}

/* Polls GET path until its JSON has wait_reason want in the task object (task != NULL: the
 * answer is {"task": ...}) or in the array element with that id. */
static bool api_reason_becomes(const char *base, const char *token, const char *path,
                               const char *task, const char *want)
{
    int64_t deadline = mc_now_mono_ms() + 20000;
    bool ok = false;
    while (!ok && mc_now_mono_ms() < deadline) {
        json_t *out = NULL;
        if (tg_call(base, "GET", path, token, NULL, &out) == 200) {
            const json_t *obj = json_object_get(out, "task");
            for (size_t i = 0; obj == NULL && i < json_array_size(out); i++)
                if (strcmp(tg_str(json_array_get(out, i), "id"), task) == 0)
                    obj = json_array_get(out, i);
            const char *got = json_string_value(json_object_get(obj, "wait_reason"));
            ok = want ? got != NULL && strcmp(got, want) == 0 : obj != NULL && got == NULL;
        }
        json_decref(out);
        if (!ok)
            usleep(100 * 1000);
    }
    return ok;
}

/* An agent allowed one task at a time is handed three issues: none, then low, then urgent.
 * The first runs; the others wait, and GET /api/tasks/{id} and the issue's task runs say
 * agent_at_capacity. The issue's priority reached the dispatcher, so when the first is done
 * the urgent one goes before the older low one. */
START_TEST(wait_reasons_and_priorities_through_the_api)
{
    th_db_new();
    dt_brokers = th_broker_start(2);
    dt_prod = tu_producer(dt_brokers);
    const char *base = tg_start(dt_brokers, NULL, NULL);
    struct dispatcher d;
    const char *extra[] = {"DISPATCH_WAIT_NOTICE=300ms", NULL};
    dt_start_dispatcher(&d, "dispatcher", extra);
    char *alice = tg_login(base, "alice@example.com");
    char ws[37], runtime[37], agent[37], *pat = NULL;
    tg_setup_workspace(base, alice, "acme", ws, runtime, &pat, agent);
    char first_issue[37], low_issue[37], urgent_issue[37], first[37], low[37], urgent[37];
    tg_issue(base, alice, ws, "first", first_issue);
    ck_assert_int_eq(tg_assign(base, alice, first_issue, agent, first), 200);
    json_decref(tg_wait_task(base, alice, first, "dispatched", 30000));
    issue_with_priority(base, alice, ws, "low", low_issue);
    ck_assert_int_eq(tg_assign(base, alice, low_issue, agent, low), 200);
    issue_with_priority(base, alice, ws, "urgent", urgent_issue);
    ck_assert_int_eq(tg_assign(base, alice, urgent_issue, agent, urgent), 200);
    dt_wait_task(urgent, "queued", 0, 20000);
    ck_assert_int_eq(dt_task_int(first, "priority"), 0);
    ck_assert_int_eq(dt_task_int(low, "priority"), 1);
    ck_assert_int_eq(dt_task_int(urgent, "priority"), 4);
    char path[160];
    snprintf(path, sizeof path, "/api/tasks/%s", low);
    ck_assert(api_reason_becomes(base, alice, path, low, "agent_at_capacity"));
    snprintf(path, sizeof path, "/api/issues/%s/task-runs", urgent_issue);
    ck_assert(api_reason_becomes(base, alice, path, urgent, "agent_at_capacity"));
    snprintf(path, sizeof path, "/api/tasks/%s", first);
    ck_assert(api_reason_becomes(base, alice, path, first, NULL));
    /* The first is done: the urgent one goes, and says no more that it waits. */
    dt_report(MC_EV_TASK_START_REPORTED, first, runtime, 0, NULL);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, first, runtime, 0, "done");
    json_decref(tg_wait_task(base, alice, urgent, "dispatched", 30000));
    snprintf(path, sizeof path, "/api/tasks/%s", urgent);
    ck_assert(api_reason_becomes(base, alice, path, urgent, NULL));
    snprintf(path, sizeof path, "/api/tasks/%s", low);
    ck_assert(api_reason_becomes(base, alice, path, low, "agent_at_capacity"));
    ck_assert_int_eq(dt_task_int(low, "(status = 'queued')::int"), 1);
    free(alice);
    free(pat);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

/* A round reads the head of the queue (64 tasks here) and reads on when the head cannot fill
 * the room: the 80 oldest tasks are one agent's, which may run one, so the two newer tasks of
 * another agent go in the same round; an urgent task behind them all goes first. */
START_TEST(a_round_reads_past_a_head_that_cannot_go)
{
    th_db_new();
    sql_runtime(1, WS, 4);
    for (unsigned long i = 0; i < 80; i++)
        sql_request(i, 1, 1, WS, NULL, 0, 1);
    sql_request(100, 2, 1, WS, NULL, 0, 10);
    sql_request(101, 2, 1, WS, NULL, 0, 10);
    sql_request(102, 3, 1, WS, NULL, 4, 10);
    ck_assert_int_eq(sql_round(0), 4);
    expect_status(0, "dispatched", NULL);
    expect_status(1, "queued", NULL);
    expect_status(100, "dispatched", NULL);
    expect_status(101, "dispatched", NULL);
    expect_status(102, "dispatched", NULL);
    ck_assert_int_eq(sql_round(0), 0);
}
END_TEST

/* Past the head, a round reads on only for an agent with room: agent 1 (allowed 10) has 70
 * tasks of one issue and then one of none; its head is held back by the issue, so the round
 * reads on and sends the 71st. Then agent 1's head is all held back and nothing lies beyond it
 * that may go (no dispatch), and an agent the head never reached (agent 2) still gets its task;
 * with both at their caps and room left on the runtime, a round dispatches nothing. */
START_TEST(a_round_reads_past_the_head_only_for_an_agent_with_room)
{
    th_db_new();
    char issue[64];
    snprintf(issue, sizeof issue, "'d0000003-0000-7000-8000-000000000002'");
    sql_runtime(1, WS, 20);
    for (unsigned long i = 0; i < 70; i++)
        sql_request(i, 1, 1, WS, issue, 0, 10);
    sql_request(70, 1, 1, WS, NULL, 0, 10);
    ck_assert_int_eq(sql_round(0), 2);
    expect_status(0, "dispatched", NULL);
    expect_status(1, "queued", NULL);
    expect_status(70, "dispatched", NULL);
    ck_assert_int_eq(sql_round(0), 0);
    for (unsigned long i = 200; i < 202; i++)
        sql_request(i, 2, 1, WS, NULL, 0, 1);
    ck_assert_int_eq(sql_round(0), 1);
    expect_status(200, "dispatched", NULL);
    expect_status(201, "queued", NULL);
    ck_assert_int_eq(sql_round(0), 0);
    sql_finish(200, 1);
    ck_assert_int_eq(sql_round(0), 1);
    expect_status(201, "dispatched", NULL);
}
END_TEST

TCase *dt_case_fairness(void)
{
    TCase *tc = tcase_create("fairness");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, priority_then_age_in_sql);
    tcase_add_test(tc, caps_and_wait_reasons_in_sql);
    tcase_add_test(tc, a_round_reads_past_a_head_that_cannot_go);
    tcase_add_test(tc, a_round_reads_past_the_head_only_for_an_agent_with_room);
    tcase_add_test(tc, a_stream_of_urgent_tasks_holds_a_low_one_back_no_longer_than_the_bound);
    tcase_add_test(tc, wait_reasons_and_priorities_through_the_api);
    return tc;
}
