/* test_daemon_ws.c: /api/daemon/ws as Multica's daemon uses it: each daemon:heartbeat is
 * acknowledged (runtime_gone for a runtime that does not exist), daemon:task_available arrives
 * when a task is dispatched to one of its runtimes (and again while a task waits unclaimed),
 * and only to daemons whose user may use the runtime. Also the suite's constructor. */
#include "daemon_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TCase *dp_case_claim(void);
TCase *dp_case_reports(void);
TCase *dp_case_progress(void);

static void heartbeat(mc_wsclient *ws, const char *runtime)
{
    json_t *hb = json_pack("{ss s{ss sb}}", "type", "daemon:heartbeat", "payload", "runtime_id",
                           runtime, "supports_batch_import", 1);
    ck_assert_int_eq(mc_wsclient_send(ws, hb), 0);
    json_decref(hb);
}

START_TEST(the_daemon_socket_acks_heartbeats_and_wakes_the_daemon)
{
    struct dp p;
    dp_setup(&p, NULL);
    char url[512];
    snprintf(url, sizeof url, "%s/api/daemon/ws?runtime_ids=%s", p.base, p.runtime);
    mc_wsclient *ws = mc_wsclient_open(url, p.pat);
    ck_assert_ptr_nonnull(ws);
    /* Heartbeats are acknowledged like the HTTP ones, and a runtime that is gone says so. */
    heartbeat(ws, p.runtime);
    json_t *ack = tg_ws_next(ws, "daemon:heartbeat_ack", 5000);
    ck_assert_ptr_nonnull(ack);
    json_t *payload = json_object_get(ack, "payload");
    ck_assert_str_eq(tg_str(payload, "runtime_id"), p.runtime);
    ck_assert_str_eq(tg_str(payload, "status"), "ok");
    ck_assert_ptr_null(json_object_get(payload, "runtime_gone"));
    /* No rpc-v1: the daemon keeps claiming over HTTP. */
    ck_assert_ptr_null(json_object_get(payload, "server_capabilities"));
    json_decref(ack);
    heartbeat(ws, "0195f1c2-0000-7000-8000-00000000dead");
    ack = tg_ws_next(ws, "daemon:heartbeat_ack", 5000);
    ck_assert_ptr_nonnull(ack);
    ck_assert(json_is_true(json_object_get(json_object_get(ack, "payload"), "runtime_gone")));
    json_decref(ack);
    /* An assignment wakes the daemon about a second later, not at its 30 s poll. */
    int64_t t0 = mc_now_mono_ms();
    char task[37];
    dp_task(&p, "wake up", task, NULL);
    json_t *wake = tg_ws_next(ws, "daemon:task_available", 10000);
    ck_assert_ptr_nonnull(wake);
    ck_assert_int_lt(mc_now_mono_ms() - t0, 5000);
    payload = json_object_get(wake, "payload");
    ck_assert_str_eq(tg_str(payload, "runtime_id"), p.runtime);
    ck_assert_str_eq(tg_str(payload, "task_id"), task);
    json_decref(wake);
    /* A task nobody claims is announced again (the sweep), until it is claimed. */
    wake = tg_ws_next(ws, "daemon:task_available", 12000);
    ck_assert_ptr_nonnull(wake);
    json_decref(wake);
    json_t *tasks = NULL;
    ck_assert_int_eq(dp_claim(&p, 5, &tasks), 200);
    ck_assert_uint_eq(json_array_size(tasks), 1);
    json_decref(tasks);
    /* A daemon that names runtimes it may not use hears nothing of them. */
    char *bob = tg_login(p.base, "bob@example.com");
    char *bob_pat = tg_pat(p.base, bob);
    mc_wsclient *other = mc_wsclient_open(url, bob_pat);
    ck_assert_ptr_nonnull(other);
    char second[37];
    dp_task(&p, "not bob's", second, NULL);
    wake = tg_ws_next(ws, "daemon:task_available", 10000);
    ck_assert_ptr_nonnull(wake);
    json_decref(wake);
    ck_assert_ptr_null(tg_ws_next(other, "daemon:task_available", 1000));
    ck_assert(mc_wsclient_open_p(ws));
    mc_wsclient_close(other);
    mc_wsclient_close(ws);
    free(bob);
    free(bob_pat);
    dp_free(&p);
}
END_TEST

Suite *suite_daemon(void)
{
    Suite *s = suite_create("daemon");
    suite_add_tcase(s, dp_case_claim());
    suite_add_tcase(s, dp_case_reports());
    suite_add_tcase(s, dp_case_progress());
    TCase *tc = tcase_create("websocket");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, the_daemon_socket_acks_heartbeats_and_wakes_the_daemon);
    suite_add_tcase(s, tc);
    return s;
}
