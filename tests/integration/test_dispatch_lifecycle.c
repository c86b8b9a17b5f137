/* test_dispatch_lifecycle.c: a task from request to its end: versions one to four, reports
 * accepted only from the runtime holding the task, idempotent progress, refused and malformed
 * commands, and cancelling with and without deletion. */
#include "dispatch_util.h"
#include "mc_proto.h"

#include <stdlib.h>
#include <string.h>

static void cancel(const char *task, bool del)
{
    json_t *d =
        json_pack("{ss ss sb}", "task_id", task, "reason", "issue unassigned", "delete", del);
    dt_send_event(MC_TOPIC_TASK_COMMANDS, MC_EV_TASK_CANCEL_REQUESTED, task, d);
}

START_TEST(lifecycle_versions_one_to_four)
{
    dt_setup(4);
    struct dispatcher d;
    dt_start_dispatcher(&d, "dispatcher", NULL);
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], issue[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_agent_id(agent, 1);
    dt_issue_id(issue, 1);
    dt_task_id(task, 1);
    dt_heartbeat(rt, 2);
    dt_request(task, agent, rt, issue, 1);
    dt_request(task, agent, rt, issue, 1); /* the gateway retried: a known task id is a no-op */
    dt_wait_task(task, "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    dt_wait_task(task, "running", 3, 20000);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "opened PR #42");
    dt_wait_task(task, "completed", 4, 20000);

    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND "
             "completed_at IS NOT NULL AND started_at IS NOT NULL AND dispatched_at IS NOT NULL "
             "AND completed_at >= started_at AND result = 'opened PR #42' AND attempt = 1 AND "
             "lease_until IS NULL AND workspace_id = '%s' AND issue_id = '%s'",
             task, WS, issue);
    ck_assert_int_eq(th_sql_int(sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT (string_agg(coalesce(from_status, '-') || '>' || to_status || ':' || "
             "version, ',' ORDER BY version) = '->queued:1,queued>dispatched:2,"
             "dispatched>running:3,running>completed:4')::int FROM dispatch.task_transitions "
             "WHERE task_id = '%s'",
             task);
    ck_assert_int_eq(th_sql_int(sql), 1);

    json_t *all = dt_all_events();
    json_t *evs = dt_events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 4);
    dt_expect_event(evs, 0, MC_EV_TASK_QUEUED, 1, "queued", rt);
    dt_expect_event(evs, 1, MC_EV_TASK_DISPATCHED, 2, "dispatched", rt);
    dt_expect_event(evs, 2, MC_EV_TASK_STARTED, 3, "running", rt);
    dt_expect_event(evs, 3, MC_EV_TASK_COMPLETED, 4, "completed", rt);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 0), "issue_id"), issue);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 0), "agent_id"), agent);
    ck_assert_int_eq(dt_dint(json_array_get(evs, 1), "attempt"), 1);
    ck_assert_ptr_nonnull(dt_dstr(json_array_get(evs, 1), "lease_until"));
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 3), "result"), "opened PR #42");

    ck_assert(dt_metric(&d, "multica_dispatcher_commands_total{type=\"task_requested\"}") == 2);
    ck_assert(dt_metric(&d, "multica_dispatcher_commands_total{type=\"runtime_heartbeat\"}") == 1);
    ck_assert(dt_metric(&d, "multica_dispatcher_dispatches_total") == 1);
    ck_assert(dt_metric(&d, "multica_dispatcher_transitions_total{to=\"completed\"}") == 1);
    ck_assert(dt_metric(&d, "multica_dispatcher_dispatch_latency_seconds_count") == 1);
    ck_assert(dt_metric(&d, "multica_dispatcher_events_published_total") == 4);
    ck_assert(dt_metric(&d, "multica_dispatcher_outbox_backlog") >= 0);
    json_decref(evs);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

START_TEST(reports_only_from_the_holder_and_progress_is_idempotent)
{
    dt_setup(2);
    struct dispatcher d;
    dt_start_dispatcher(&d, "dispatcher", NULL);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    dt_rt_id(r1, 1);
    dt_rt_id(r2, 2);
    dt_agent_id(agent, 1);
    dt_task_id(task, 1);
    dt_heartbeat(r1, 1);
    dt_heartbeat(r2, 1);
    dt_request(task, agent, r1, NULL, 0);
    dt_wait_task(task, "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, task, r2, 0, NULL); /* not the holder */
    dt_report(MC_EV_TASK_START_REPORTED, task, r1, 0, NULL);
    dt_report(MC_EV_TASK_START_REPORTED, task, r1, 0, NULL); /* start twice: illegal */
    dt_report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 1, "cloning");
    dt_report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 1, "cloning"); /* duplicate */
    dt_report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 0, "late");    /* older */
    dt_report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 2, "testing");
    dt_report(MC_EV_TASK_PROGRESS_REPORTED, task, r2, 3, "intruder");
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, task, r2, 0, "not mine");
    dt_report(MC_EV_TASK_FAILURE_REPORTED, task, r1, 0, "tests failed");
    dt_wait_task(task, "failed", 6, 20000);
    ck_assert_int_eq(dt_task_int(task, "last_progress_seq"), 2);
    ck_assert_int_eq(dt_task_int(task, "(completed_at IS NOT NULL)::int"), 1);
    ck_assert_int_eq(dt_task_int(task, "(failure_reason = 'tests failed')::int"), 1);

    json_t *all = dt_all_events();
    json_t *evs = dt_events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 6);
    dt_expect_event(evs, 0, MC_EV_TASK_QUEUED, 1, "queued", r1);
    ck_assert(
        json_is_null(json_object_get(json_object_get(json_array_get(evs, 0), "data"), "issue_id")));
    dt_expect_event(evs, 1, MC_EV_TASK_DISPATCHED, 2, "dispatched", r1);
    dt_expect_event(evs, 2, MC_EV_TASK_STARTED, 3, "running", r1);
    dt_expect_event(evs, 3, MC_EV_TASK_PROGRESS, 4, "running", r1);
    ck_assert_int_eq(dt_dint(json_array_get(evs, 3), "seq"), 1);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 3), "text"), "cloning");
    dt_expect_event(evs, 4, MC_EV_TASK_PROGRESS, 5, "running", r1);
    ck_assert_int_eq(dt_dint(json_array_get(evs, 4), "seq"), 2);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 4), "text"), "testing");
    dt_expect_event(evs, 5, MC_EV_TASK_FAILED, 6, "failed", r1);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 5), "reason"), "tests failed");

    ck_assert(
        dt_metric(&d, "multica_dispatcher_refused_commands_total{reason=\"runtime_mismatch\"}") ==
        3);
    ck_assert(dt_metric(&d, "multica_dispatcher_illegal_transitions_total") == 1);
    ck_assert_int_eq(dt_log_lines(d.name, "held by another runtime", task, r2), 3);
    ck_assert_int_eq(dt_log_lines(d.name, "illegal transition refused", task,
                                  "\"from\":\"running\",\"to\":\"running\""),
                     1);
    json_decref(evs);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

START_TEST(illegal_transition_and_malformed_commands_are_refused)
{
    dt_setup(2);
    struct dispatcher d;
    dt_start_dispatcher(&d, "dispatcher", NULL);
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN], ghost[MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_agent_id(agent, 1);
    dt_task_id(task, 1);
    dt_task_id(ghost, 99);
    dt_request(task, agent, rt, NULL, 0); /* its runtime never registered: it stays queued */
    dt_wait_task(task, "queued", 1, 20000);
    /* Garbage, a task event where commands belong, and a report missing its runtime. */
    char *bad[3];
    bad[0] = mc_strdup("{\"specversion\":\"1.0\",");
    bad[1] = tu_task_event(MC_EV_TASK_COMPLETED, task, WS, agent, rt, NULL, 9);
    char *valid = mc_event_encode(MC_EV_TASK_START_REPORTED, "test", task,
                                  json_pack("{ss ss}", "task_id", task, "runtime_id", rt), NULL);
    char *cut = strstr(valid, ",\"runtime_id\"");
    ck_assert_ptr_nonnull(cut);
    bad[2] = mc_sprintf("%.*s%s", (int)(cut - valid), valid, strstr(cut, "}"));
    free(valid);
    const char *keys[] = {task, task, task};
    tu_send(dt_prod, MC_TOPIC_TASK_COMMANDS, bad, keys, 3);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "done"); /* queued -> completed */
    dt_report(MC_EV_TASK_START_REPORTED, ghost, rt, 0, NULL);       /* unknown task */
    ck_assert(dt_log_has_within(d.name, "illegal transition refused", task,
                                "\"from\":\"queued\",\"to\":\"completed\"", 20000));
    ck_assert(dt_log_has_within(d.name, "unknown task", ghost, NULL, 20000));
    ck_assert_int_eq(dt_log_lines(d.name, "\"level\":\"info\"", "illegal transition refused", task),
                     1);
    ck_assert_int_eq(dt_log_lines(d.name, "message skipped", "invalid JSON", NULL), 1);
    ck_assert_int_eq(
        dt_log_lines(d.name, "message skipped", "is not something the dispatcher", NULL), 1);
    ck_assert_int_eq(dt_log_lines(d.name, "message skipped", "runtime_id", "is required"), 1);
    /* Nothing changed, and nothing was logged as our fault. */
    ck_assert_int_eq(dt_task_int(task, "version"), 1);
    ck_assert_int_eq(dt_task_int(task, "(status = 'queued' AND completed_at IS NULL)::int"), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 1);
    ck_assert_int_eq(dt_log_lines(d.name, "\"level\":\"error\"", NULL, NULL), 0);
    ck_assert(dt_metric(&d, "multica_dispatcher_illegal_transitions_total") == 1);
    ck_assert(dt_metric(&d, "multica_dispatcher_commands_invalid_total") == 3);
    ck_assert(dt_metric(&d, "multica_dispatcher_refused_commands_total{reason=\"unknown_task\"}") ==
              1);
    /* The consumer went on: once its runtime shows up the task is dispatched. */
    dt_heartbeat(rt, 1);
    dt_wait_task(task, "dispatched", 2, 20000);
    json_t *all = dt_all_events();
    ck_assert_uint_eq(json_array_size(all), 2);
    json_decref(all);
    for (int i = 0; i < 3; i++)
        free(bad[i]);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

START_TEST(cancel_with_delete_emits_task_deleted)
{
    dt_setup(2);
    struct dispatcher d;
    dt_start_dispatcher(&d, "dispatcher", NULL);
    char rt[MC_UUID_STRLEN], nowhere[MC_UUID_STRLEN], agent[MC_UUID_STRLEN];
    char queued[MC_UUID_STRLEN], done[MC_UUID_STRLEN], kept[MC_UUID_STRLEN];
    dt_rt_id(rt, 1);
    dt_rt_id(nowhere, 9);
    dt_agent_id(agent, 1);
    dt_task_id(queued, 1);
    dt_task_id(done, 2);
    dt_task_id(kept, 3);
    dt_heartbeat(rt, 1);
    dt_request(done, agent, rt, NULL, 0);
    dt_wait_task(done, "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, done, rt, 0, NULL);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, done, rt, 0, "done");
    dt_wait_task(done, "completed", 4, 20000);
    char a2[MC_UUID_STRLEN];
    dt_agent_id(a2, 2);
    dt_request(queued, a2, nowhere, NULL, 0);
    dt_request(kept, a2, nowhere, NULL, 0);
    dt_wait_task(queued, "queued", 1, 20000);
    dt_wait_task(kept, "queued", 1, 20000);
    cancel(queued, true); /* unfinished: cancelled, then deleted */
    cancel(kept, false);  /* unassigned only */
    cancel(done, false);  /* finished: cannot be cancelled */
    cancel(done, true);   /* but can be deleted */
    cancel(done, true);   /* once */
    dt_wait_task(queued, "cancelled", 3, 20000);
    dt_wait_task(kept, "cancelled", 2, 20000);
    dt_wait_task(done, "completed", 5, 20000);
    dt_report(MC_EV_TASK_START_REPORTED, queued, nowhere, 0, NULL);
    ck_assert(dt_log_has_within(d.name, "the task was deleted", queued, NULL, 20000));
    ck_assert_int_eq(
        dt_task_int(queued, "(deleted_at IS NOT NULL AND completed_at IS NOT NULL)::int"), 1);
    ck_assert_int_eq(dt_task_int(done, "(deleted_at IS NOT NULL)::int"), 1);
    ck_assert_int_eq(dt_task_int(kept, "(deleted_at IS NULL)::int"), 1);
    ck_assert_int_eq(dt_log_lines(d.name, "illegal transition refused", done,
                                  "\"from\":\"completed\",\"to\":\"cancelled\""),
                     1);
    json_t *all = dt_all_events();
    json_t *eq = dt_events_of(all, queued), *ed = dt_events_of(all, done),
           *ek = dt_events_of(all, kept);
    ck_assert_uint_eq(json_array_size(eq), 3);
    dt_expect_event(eq, 1, MC_EV_TASK_CANCELLED, 2, "cancelled", nowhere);
    ck_assert_str_eq(dt_dstr(json_array_get(eq, 1), "reason"), "issue unassigned");
    dt_expect_event(eq, 2, MC_EV_TASK_DELETED, 3, "deleted", nowhere);
    ck_assert_uint_eq(json_array_size(ed), 5);
    dt_expect_event(ed, 4, MC_EV_TASK_DELETED, 5, "deleted", rt);
    ck_assert_uint_eq(json_array_size(ek), 2);
    dt_expect_event(ek, 1, MC_EV_TASK_CANCELLED, 2, "cancelled", nowhere);
    json_decref(eq);
    json_decref(ed);
    json_decref(ek);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

/* A daemon may fail a task it claimed and never started (Multica's daemon does when the task's
 * runtime is not one it registered, or preparing failed): the task ends failed and is not
 * dispatched again. Before, the failure was refused and the task went round until its TTL. */
START_TEST(a_dispatched_task_fails_before_it_starts)
{
    dt_setup(2);
    struct dispatcher d;
    const char *fast[] = {"DISPATCH_LEASE=1s", NULL};
    dt_start_dispatcher(&d, "dispatcher", fast);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    dt_rt_id(r1, 1);
    dt_rt_id(r2, 2);
    dt_agent_id(agent, 1);
    dt_task_id(task, 1);
    dt_heartbeat(r1, 1);
    dt_request(task, agent, r1, NULL, 0);
    dt_wait_task(task, "dispatched", 2, 20000);
    dt_report(MC_EV_TASK_COMPLETION_REPORTED, task, r1, 0, "done"); /* never started: refused */
    dt_report(MC_EV_TASK_FAILURE_REPORTED, task, r2, 0, "not mine");
    dt_report(MC_EV_TASK_FAILURE_REPORTED, task, r1, 0, "runtime_offline");
    dt_wait_task(task, "failed", 3, 20000);
    ck_assert_int_eq(dt_task_int(task, "(failure_reason = 'runtime_offline')::int"), 1);
    ck_assert_int_eq(dt_task_int(task, "(completed_at IS NOT NULL AND lease_until IS NULL)::int"),
                     1);
    /* Past the lease, with the runtime still online: nothing requeues or dispatches it. */
    dt_heartbeat(r1, 1);
    usleep(2500 * 1000);
    ck_assert_int_eq(dt_task_int(task, "version"), 3);
    json_t *all = dt_all_events();
    json_t *evs = dt_events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 3);
    dt_expect_event(evs, 2, MC_EV_TASK_FAILED, 3, "failed", r1);
    ck_assert_str_eq(dt_dstr(json_array_get(evs, 2), "reason"), "runtime_offline");
    ck_assert_int_eq(dt_log_lines(d.name, "illegal transition refused", task,
                                  "\"from\":\"dispatched\",\"to\":\"completed\""),
                     1);
    ck_assert_int_eq(dt_log_lines(d.name, "held by another runtime", task, r2), 1);
    json_decref(evs);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d);
}
END_TEST

TCase *dt_case_lifecycle(void)
{
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, lifecycle_versions_one_to_four);
    tcase_add_test(tc, reports_only_from_the_holder_and_progress_is_idempotent);
    tcase_add_test(tc, illegal_transition_and_malformed_commands_are_refused);
    tcase_add_test(tc, cancel_with_delete_emits_task_deleted);
    tcase_add_test(tc, a_dispatched_task_fails_before_it_starts);
    return tc;
}
