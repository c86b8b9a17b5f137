/* test_dispatch_reclaim.c: work taken back from where it stalled: lease expiry, runtimes
 * going offline or silent, the running timeout and the queued TTL, and reassignment when an
 * agent moves to another runtime. */
#include "dispatch_util.h"
#include "mc_proto.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(lease_expiry_requeues_and_redelivers)
{
    dt_setup(2);
    struct dispatcher d;
    const char *extra[] = {"DISPATCH_LEASE=3s", NULL};
    dt_start_dispatcher(&d, "dispatcher", extra);
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_agent_id(agent, 1);
    dt_task_id(task, 1);
    dt_heartbeat(rt, 1);
    dt_request(task, agent, rt, NULL, 0);
    dt_wait_task(task, "dispatched", 2, 20000);
    int64_t t0 = mc_now_mono_ms();
    /* The daemon never starts it: the lease runs out, the task is requeued and, its runtime
     * being online, dispatched again at once. */
    dt_wait_task(task, "dispatched", 4, 20000);
    ck_assert_int_ge(mc_now_mono_ms() - t0, 2000);
    ck_assert_int_eq(dt_task_int(task, "attempt"), 2);
    dt_report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "done");
    dt_wait_task(task, "completed", 6, 20000);
    json_t *all = dt_all_events();
    json_t *evs = dt_events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 6);
    dt_expect_event(evs, 1, MC_EV_TASK_DISPATCHED, 2, "dispatched", rt);
    ck_assert_int_eq(dt_dint(json_array_get(evs, 1), "attempt"), 1);
    dt_expect_event(evs, 2, MC_EV_TASK_REQUEUED, 3, "queued", rt);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 2), "reason"), "lease_expired");
    ck_assert_int_eq(dt_dint(json_array_get(evs, 2), "attempt"), 2);
    dt_expect_event(evs, 3, MC_EV_TASK_DISPATCHED, 4, "dispatched", rt);
    ck_assert_int_eq(dt_dint(json_array_get(evs, 3), "attempt"), 2);
    ck_assert_str_ne(dt_dstr(json_array_get(evs, 3), "lease_until"),
                     dt_dstr(json_array_get(evs, 1), "lease_until"));
    dt_expect_event(evs, 5, MC_EV_TASK_COMPLETED, 6, "completed", rt);
    ck_assert(dt_metric(&d, "multica_dispatcher_requeues_total") == 1);
    ck_assert(dt_metric(&d, "multica_dispatcher_dispatches_total") == 2);
    json_decref(evs);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

START_TEST(runtime_offline_or_silent_requeues_dispatched_tasks)
{
    dt_setup(2);
    struct dispatcher d;
    const char *extra[] = {"RUNTIME_ONLINE_WINDOW=5s", NULL};
    dt_start_dispatcher(&d, "dispatcher", extra);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], a1[MC_UUID_STRLEN], a2[MC_UUID_STRLEN];
    char t1[MC_UUID_STRLEN], t2[MC_UUID_STRLEN], t3[MC_UUID_STRLEN];
    dt_rt_id(r1, 1);
    dt_rt_id(r2, 2);
    dt_agent_id(a1, 1);
    dt_agent_id(a2, 2);
    dt_task_id(t1, 1);
    dt_task_id(t2, 2);
    dt_task_id(t3, 3);
    dt_heartbeat(r1, 2);
    dt_heartbeat(r2, 1);
    dt_request(t1, a1, r1, NULL, 2);
    dt_request(t2, a1, r1, NULL, 2);
    dt_request(t3, a2, r2, NULL, 1);
    dt_wait_task(t1, "dispatched", 2, 20000);
    dt_wait_task(t2, "dispatched", 2, 20000);
    dt_wait_task(t3, "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, t2, r1, 0, NULL);
    dt_wait_task(t2, "running", 3, 20000);
    /* r1 says goodbye (right after a heartbeat, so that silence cannot be what takes it
     * down): its dispatched task goes back to the queue and stays there while r1 is offline;
     * the running one is left to finish or time out. */
    dt_heartbeat(r1, 2);
    dt_runtime_event(MC_EV_RUNTIME_OFFLINE, r1, 0);
    dt_wait_task(t1, "queued", 3, 20000);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.runtimes WHERE runtime_id = '%s' AND offline_at IS "
             "NOT NULL",
             r1);
    ck_assert_int_eq(th_sql_int(sql), 1);
    /* r2 just stops sending heartbeats: past the online window it counts as gone. */
    dt_wait_task(t3, "queued", 3, 20000);
    usleep(1000 * 1000);
    ck_assert_int_eq(dt_task_int(t1, "version"), 3);
    ck_assert_int_eq(dt_task_int(t2, "(status = 'running')::int"), 1);
    /* r1 comes back and gets its task again. */
    dt_heartbeat(r1, 2);
    dt_wait_task(t1, "dispatched", 4, 20000);
    ck_assert_int_eq(dt_task_int(t1, "attempt"), 2);
    json_t *all = dt_all_events();
    json_t *e1 = dt_events_of(all, t1), *e3 = dt_events_of(all, t3);
    dt_expect_event(e1, 2, MC_EV_TASK_REQUEUED, 3, "queued", r1);
    ck_assert_str_eq(dt_dstr(json_array_get(e1, 2), "reason"), "runtime_offline");
    dt_expect_event(e1, 3, MC_EV_TASK_DISPATCHED, 4, "dispatched", r1);
    dt_expect_event(e3, 2, MC_EV_TASK_REQUEUED, 3, "queued", r2);
    ck_assert_str_eq(dt_dstr(json_array_get(e3, 2), "reason"), "runtime_silent");
    ck_assert_uint_eq(json_array_size(e3), 3);
    json_decref(e1);
    json_decref(e3);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

START_TEST(running_timeout_requeues_then_fails_and_queued_tasks_expire)
{
    dt_setup(2);
    struct dispatcher d;
    const char *extra[] = {"RUNNING_TIMEOUT=2s", "MAX_ATTEMPTS=2", "QUEUED_TTL=3s", NULL};
    dt_start_dispatcher(&d, "dispatcher", extra);
    char rt[MC_UUID_STRLEN], nowhere[MC_UUID_STRLEN], a1[MC_UUID_STRLEN], a2[MC_UUID_STRLEN];
    char task[MC_UUID_STRLEN], stale[MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_rt_id(nowhere, 9);
    dt_agent_id(a1, 1);
    dt_agent_id(a2, 2);
    dt_task_id(task, 1);
    dt_task_id(stale, 2);
    dt_heartbeat(rt, 1);
    dt_request(task, a1, rt, NULL, 0);
    dt_request(stale, a2, nowhere, NULL, 0); /* no runtime will ever take it */
    dt_wait_task(task, "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    dt_wait_task(task, "running", 3, 20000);
    /* Silent (no progress, no heartbeat) for 2 s: requeued with attempts left, redispatched. */
    dt_wait_task(task, "dispatched", 5, 20000);
    ck_assert_int_eq(dt_task_int(task, "attempt"), 2);
    /* The queued one expired meanwhile. */
    dt_wait_task(stale, "cancelled", 2, 20000);
    ck_assert_int_eq(dt_task_int(stale, "(completed_at IS NOT NULL)::int"), 1);
    /* Progress keeps a running task alive past the timeout... */
    dt_report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    dt_wait_task(task, "running", 6, 20000);
    for (int i = 1; i <= 3; i++) {
        usleep(900 * 1000);
        dt_report(MC_EV_TASK_PROGRESS_REPORTED, task, rt, i, "still working");
    }
    dt_wait_task(task, "running", 9, 20000);
    /* ...and silence on the last attempt fails it. */
    dt_wait_task(task, "failed", 10, 20000);
    ck_assert_int_eq(dt_task_int(task, "(completed_at IS NOT NULL AND failure_reason = "
                                       "'running_timeout')::int"),
                     1);
    json_t *all = dt_all_events();
    json_t *evs = dt_events_of(all, task), *st = dt_events_of(all, stale);
    ck_assert_uint_eq(json_array_size(evs), 10);
    dt_expect_event(evs, 3, MC_EV_TASK_REQUEUED, 4, "queued", rt);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 3), "reason"), "running_timeout");
    ck_assert_int_eq(dt_dint(json_array_get(evs, 3), "attempt"), 2);
    dt_expect_event(evs, 9, MC_EV_TASK_FAILED, 10, "failed", rt);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 9), "reason"), "running_timeout");
    ck_assert_uint_eq(json_array_size(st), 2);
    dt_expect_event(st, 1, MC_EV_TASK_CANCELLED, 2, "cancelled", nowhere);
    ck_assert_str_eq(dt_dstr(json_array_get(st, 1), "reason"), "expired");
    json_decref(evs);
    json_decref(st);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

START_TEST(agent_runtime_change_reassigns_unfinished_tasks)
{
    dt_setup(3);
    struct dispatcher d;
    dt_start_dispatcher(&d, "dispatcher", NULL);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], t[4][MC_UUID_STRLEN];
    dt_rt_id(r1, 1);
    dt_rt_id(r2, 2);
    dt_agent_id(agent, 1);
    for (int i = 0; i < 4; i++)
        dt_task_id(t[i], (unsigned long)i);
    dt_heartbeat(r1, 3);
    /* t0 finishes on r1; then t1..t3 arrive: the agent runs two at a time, so t3 waits. */
    dt_request(t[0], agent, r1, NULL, 2);
    dt_wait_task(t[0], "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, t[0], r1, 0, NULL);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, t[0], r1, 0, "done");
    dt_wait_task(t[0], "completed", 4, 20000);
    for (int i = 1; i < 4; i++)
        dt_request(t[i], agent, r1, NULL, 2);
    dt_wait_task(t[1], "dispatched", 2, 20000);
    dt_wait_task(t[2], "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, t[1], r1, 0, NULL);
    dt_wait_task(t[1], "running", 3, 20000);
    ck_assert_int_eq(dt_task_int(t[3], "version"), 1);
    /* The agent moves to r2 (not online yet, so the moved tasks stay queued). */
    json_t *data = json_pack("{ss ss ss ss}", "agent_id", agent, "workspace_id", WS, "runtime_id",
                             r2, "old_runtime_id", r1);
    dt_send_event(MC_TOPIC_TASK_COMMANDS, MC_EV_AGENT_RUNTIME_CHANGED, agent, data);
    dt_wait_task(t[1], "queued", 4, 20000);
    dt_wait_task(t[2], "queued", 3, 20000);
    dt_wait_task(t[3], "queued", 2, 20000);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE runtime_id = '%s'", r2);
    ck_assert_int_eq(th_sql_int(sql), 3);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE event = 'reassigned' AND "
             "old_runtime_id = '%s' AND runtime_id = '%s' AND to_status = 'queued'",
             r1, r2);
    ck_assert_int_eq(th_sql_int(sql), 3);
    ck_assert_int_eq(dt_task_int(t[0], "version"), 4);
    /* The old runtime's late report is refused; the new one gets the tasks. */
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, t[1], r1, 0, "late");
    ck_assert(dt_log_has_within(d.name, "held by another runtime", t[1], r1, 20000));
    dt_heartbeat(r2, 3);
    dt_wait_task(t[1], "dispatched", 5, 20000);
    dt_wait_task(t[2], "dispatched", 4, 20000);
    ck_assert_int_eq(dt_task_int(t[3], "version"), 2);
    json_t *all = dt_all_events();
    int reassigned = 0;
    for (int i = 1; i < 4; i++) {
        json_t *evs = dt_events_of(all, t[i]);
        json_t *last = NULL;
        size_t k;
        json_t *ev;
        json_array_foreach(evs, k, ev)
        {
            if (strcmp(json_string_value(json_object_get(ev, "type")), MC_EV_TASK_REASSIGNED) == 0)
                last = ev;
        }
        ck_assert_ptr_nonnull(last);
        ck_assert_str_eq(dt_dstr(last, "old_runtime_id"), r1);
        ck_assert_str_eq(dt_dstr(last, "runtime_id"), r2);
        ck_assert_str_eq(dt_dstr(last, "status"), "queued");
        ck_assert_str_eq(dt_dstr(last, "reason"), "agent_runtime_changed");
        reassigned++;
        json_decref(evs);
    }
    ck_assert_int_eq(reassigned, 3);
    json_t *e0 = dt_events_of(all, t[0]);
    ck_assert_uint_eq(json_array_size(e0), 4); /* finished tasks stay where they ran */
    json_decref(e0);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

TCase *dt_case_reclaim(void)
{
    TCase *tc = tcase_create("reclaim");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, lease_expiry_requeues_and_redelivers);
    tcase_add_test(tc, runtime_offline_or_silent_requeues_dispatched_tasks);
    tcase_add_test(tc, running_timeout_requeues_then_fails_and_queued_tasks_expire);
    tcase_add_test(tc, agent_runtime_change_reassigns_unfinished_tasks);
    return tc;
}
