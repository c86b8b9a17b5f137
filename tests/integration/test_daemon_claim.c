/* test_daemon_claim.c: Multica's daemon protocol as the contract describes it, claims first:
 * a claim never hands out more than max_tasks, each task carries what the daemon checks (a
 * mat_ token, agent.id = agent_id, a registered runtime), a claim answer that was lost is
 * offered again once its lease ends (prepare-lease renews it), and a restarted daemon gets its
 * orphans back (unstarted) or failed (running). */
#include "daemon_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks one claimed task as the daemon does before running it. */
static void check_task(const struct dp *p, const json_t *t)
{
    ck_assert_str_eq(tg_str(t, "runtime_id"), p->runtime);
    ck_assert_str_eq(tg_str(t, "workspace_id"), p->ws);
    ck_assert_str_eq(tg_str(t, "agent_id"), p->agent);
    const json_t *agent = json_object_get(t, "agent");
    ck_assert_str_eq(tg_str(agent, "id"), p->agent);
    ck_assert_str_eq(tg_str(agent, "name"), "Claude");
    ck_assert_str_eq(tg_str(agent, "instructions"), "Be brief.");
    const char *token = tg_str(t, "auth_token");
    ck_assert_uint_eq(strlen(token), 44);
    ck_assert_int_eq(strncmp(token, "mat_", 4), 0);
    ck_assert_uint_eq(strspn(token + 4, "0123456789abcdef"), 40);
    ck_assert_uint_eq(strlen(tg_str(t, "issue_id")), 36);
}

static bool has(const json_t *tasks, const char *id)
{
    for (size_t i = 0; i < json_array_size(tasks); i++)
        if (strcmp(tg_str(json_array_get(tasks, i), "id"), id) == 0)
            return true;
    return false;
}

START_TEST(claims_honour_max_tasks_and_a_lost_answer_is_offered_again)
{
    struct dp p;
    const char *extra[] = {"CLAIM_LEASE=2s", NULL};
    dp_setup(&p, extra);
    char tasks[5][37];
    for (int i = 0; i < 5; i++) {
        char title[32];
        snprintf(title, sizeof title, "task %d", i);
        dp_task(&p, title, tasks[i], NULL);
    }
    /* 2, 2, then the last one: never more than asked, never one twice. */
    json_t *a = NULL, *b = NULL, *c = NULL, *none = NULL;
    ck_assert_int_eq(dp_claim(&p, 2, &a), 200);
    ck_assert_uint_eq(json_array_size(a), 2);
    ck_assert_int_eq(dp_claim(&p, 2, &b), 200);
    ck_assert_uint_eq(json_array_size(b), 2);
    int64_t t0 = mc_now_mono_ms();
    ck_assert_int_eq(dp_claim(&p, 10, &c), 200);
    ck_assert_uint_eq(json_array_size(c), 1);
    ck_assert_int_eq(dp_claim(&p, 10, &none), 200);
    ck_assert_int_lt(mc_now_mono_ms() - t0, 5000); /* the daemon waits 5 s for an answer */
    ck_assert_uint_eq(json_array_size(none), 0);
    json_decref(none);
    json_t *all = json_array();
    json_array_extend(all, a);
    json_array_extend(all, b);
    json_array_extend(all, c);
    for (int i = 0; i < 5; i++) {
        ck_assert_msg(has(all, tasks[i]), "task %d was never handed out", i);
        check_task(&p, json_array_get(all, (size_t)i));
    }
    ck_assert_int_eq(th_sql_int("SELECT count(DISTINCT task_id) FROM gateway.task_tokens"), 5);
    /* The daemon starts the last three; the first answer (a) was "lost". One of the lost ones
     * is still being prepared: prepare-lease keeps its claim. */
    for (size_t i = 0; i < json_array_size(b); i++)
        ck_assert_int_eq(dp_report(&p, tg_str(json_array_get(b, i), "id"), "start", NULL, NULL),
                         200);
    ck_assert_int_eq(dp_report(&p, tg_str(json_array_get(c, 0), "id"), "start", NULL, NULL), 200);
    const char *kept = tg_str(json_array_get(a, 0), "id");
    const char *lost = tg_str(json_array_get(a, 1), "id");
    char path[256], url[300], auth[128];
    snprintf(path, sizeof path, "/api/daemon/runtimes/%s/tasks/%s/prepare-lease", p.runtime, kept);
    snprintf(url, sizeof url, "%s%s", p.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", p.pat);
    const char *headers[] = {auth, NULL};
    usleep(1200 * 1000);
    ck_assert_int_eq(th_http("POST", url, headers, "{}", NULL), 200);
    usleep(1200 * 1000); /* the lost one's lease has ended, the kept one's not */
    json_t *again = NULL;
    ck_assert_int_eq(dp_claim(&p, 10, &again), 200);
    ck_assert_uint_eq(json_array_size(again), 1);
    ck_assert_str_eq(tg_str(json_array_get(again, 0), "id"), lost);
    check_task(&p, json_array_get(again, 0));
    /* Handed out again with a new token. */
    ck_assert_str_ne(tg_str(json_array_get(again, 0), "auth_token"),
                     tg_str(json_array_get(a, 1), "auth_token"));
    json_decref(again);
    ck_assert_int_eq(dp_report(&p, lost, "start", NULL, NULL), 200); /* this answer arrived */
    usleep(2200 * 1000);
    ck_assert_int_eq(dp_claim(&p, 10, &again), 200);
    ck_assert_uint_eq(json_array_size(again), 1);
    ck_assert_str_eq(tg_str(json_array_get(again, 0), "id"), kept);
    json_decref(again);
    /* A task not claimed cannot be prepared; a started one is nobody's to claim again. */
    snprintf(url, sizeof url, "%s/api/daemon/runtimes/%s/tasks/%s/prepare-lease", p.base, p.runtime,
             tg_str(json_array_get(c, 0), "id"));
    ck_assert_int_eq(th_http("POST", url, headers, "{}", NULL), 409);
    /* The per-runtime claim (the daemon's fallback) answers null when there is nothing. */
    snprintf(path, sizeof path, "/api/daemon/runtimes/%s/tasks/claim", p.runtime);
    json_t *out = NULL;
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.pat, "{}", &out), 200);
    ck_assert(json_is_null(json_object_get(out, "task")));
    json_decref(out);
    /* Bad claims are refused by name. */
    ck_assert_int_eq(dp_claim(&p, 0, NULL), 400);
    ck_assert_int_eq(tg_call(p.base, "POST", "/api/daemon/tasks/claim", p.pat,
                             "{\"runtime_ids\":[\"nope\"],\"max_tasks\":1}", NULL),
                     400);
    /* Another user's daemon sees none of these. */
    char *bob = tg_login(p.base, "bob@example.com");
    char *bob_pat = tg_pat(p.base, bob);
    char body[256];
    snprintf(body, sizeof body, "{\"runtime_ids\":[\"%s\"],\"max_tasks\":5}", p.runtime);
    ck_assert_int_eq(tg_call(p.base, "POST", "/api/daemon/tasks/claim", bob_pat, body, &out), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "tasks")), 0);
    json_decref(out);
    json_decref(all);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    free(bob);
    free(bob_pat);
    dp_free(&p);
}
END_TEST

START_TEST(a_restarted_daemon_gets_its_orphans_back_or_failed)
{
    struct dp p;
    dp_setup(&p, NULL);
    char started[37], waiting[37];
    dp_task(&p, "started before the crash", started, NULL);
    dp_task(&p, "claimed before the crash", waiting, NULL);
    json_t *tasks = NULL;
    ck_assert_int_eq(dp_claim(&p, 5, &tasks), 200);
    ck_assert_uint_eq(json_array_size(tasks), 2);
    json_decref(tasks);
    ck_assert_int_eq(dp_report(&p, started, "start", NULL, NULL), 200);
    ck_assert(dp_wait_queue(started, "running", 30000));
    /* The daemon comes back (registering again keeps its runtime) and recovers orphans. */
    char runtime[37];
    tg_register(p.base, p.pat, p.ws, "daemon-1", runtime);
    ck_assert_str_eq(runtime, p.runtime);
    char path[256];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/daemon/runtimes/%s/recover-orphans", p.runtime);
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.pat, "{}", &out), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "orphaned")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "released")), 1);
    json_decref(out);
    /* The one it never started is offered at once; the one it ran failed with it. */
    ck_assert_int_eq(dp_claim(&p, 5, &tasks), 200);
    ck_assert_uint_eq(json_array_size(tasks), 1);
    ck_assert_str_eq(tg_str(json_array_get(tasks, 0), "id"), waiting);
    json_decref(tasks);
    ck_assert(dp_wait_status(&p, started, 200, "\"failed\"", 30000));
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND to_status = "
             "'failed' AND reason LIKE 'orphaned%%'",
             started);
    ck_assert_int_eq(th_sql_int(sql), 1);
    /* A runtime the caller cannot see has no orphans to recover. */
    snprintf(path, sizeof path, "/api/daemon/runtimes/%s/recover-orphans",
             "0195f1c2-0000-7000-8000-00000000dead");
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.pat, "{}", NULL), 404);
    dp_free(&p);
}
END_TEST

TCase *dp_case_claim(void)
{
    TCase *tc = tcase_create("claim");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, claims_honour_max_tasks_and_a_lost_answer_is_offered_again);
    tcase_add_test(tc, a_restarted_daemon_gets_its_orphans_back_or_failed);
    return tc;
}
