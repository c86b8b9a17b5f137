/* test_web.c: the web page end to end in headless Chromium (tests/web/e2e.mjs through
 * tools/web-test.sh): every service runs, a workspace has priced usage over many days, and the
 * browser signs in, checks every chart number against the API, watches a task this test
 * drives move to completed over the WebSocket, and signs the multica CLI in through /login.
 * WEB_SCREENSHOTS=<dir> keeps the page's screenshots there (make screenshots: docs/images). */
#include "usage_api_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Usage of the agent over the last 12 days in three models, one row with a reported cost. */
static void seed_usage(const char *ws, const char *runtime, const char *agent)
{
    char *sql = mc_sprintf(
        "WITH t AS (SELECT g, ('d0000001-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid id, "
        "now() - interval '20 minutes' - (g %% 12) * interval '1 day' - (g %% 7) * interval "
        "'1 hour' AS at FROM generate_series(1, 60) g), "
        "a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, "
        "version) SELECT id, '%s', '%s', '%s', 1 FROM t) "
        "INSERT INTO usage.task_usage (task_id, provider, model, input_tokens, output_tokens, "
        "cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at, "
        "cost_usd_ticks) SELECT id, (ARRAY['anthropic','openai','google'])[1 + g %% 3], "
        "(ARRAY['claude-sonnet-4-5-20250929','gpt-5','gemini-2.5-pro'])[1 + g %% 3], "
        "20000 + g * 731, 3000 + g * 97, 50000 + g * 1301, g * 211, at, at, now(), "
        "CASE WHEN g = 7 THEN 1234567890 END FROM t",
        ws, agent, runtime);
    th_sql(sql);
    free(sql);
    ck_assert_int_gt(ua_rollup(), 0);
}

static bool file_exists(void *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(the_page_signs_in_shows_usage_and_watches_a_task)
{
    struct ua_stack s;
    ua_start(&s);
    tg_start_dispatcher(s.brokers, "dispatcher", NULL);
    const char *base = s.base, *ws = s.ws;
    seed_usage(ws, s.runtime, s.agent);
    /* A second workspace, empty, for the page's workspace picker. */
    ck_assert_int_eq(
        tg_call(base, "POST", "/api/workspaces", s.token, "{\"name\":\"Empty\"}", NULL), 201);

    char *ready = mc_sprintf("%s/web-ready", th_tmpdir());
    const char *shots = getenv("WEB_SCREENSHOTS");
    char *env[] = {
        mc_sprintf("BASE=%s", base),
        mc_sprintf("EMAIL=alice@example.com"),
        mc_sprintf("CODE=424242"),
        mc_sprintf("WORKSPACE=%s", ws),
        mc_sprintf("TZ_ID=Asia/Kolkata"),
        mc_sprintf("READY_FILE=%s", ready),
        mc_sprintf("WEB_TEST_DIR=%s/web-test", getenv("MC_TEST_BUILD")),
        mc_sprintf("SHOTS=%s", shots ? shots : ""),
        NULL,
    };
    char *script = mc_sprintf("%s/tools/web-test.sh", th_root());
    const char *argv[] = {script, NULL};
    pid_t web = th_spawn_argv(argv, (const char *const *)env, "web");
    /* The first run installs playwright-core from the registry (npm ci) before the browser. */
    ck_assert_msg(th_eventually(file_exists, ready, 240000),
                  "the page did not get to watching tasks; see %s/web.log", th_tmpdir());

    /* Now the page watches: a daemon registers a runtime of its own, an agent there is
     * assigned an issue, and the task runs from assignment to completion. */
    char daemon[MC_UUID_STRLEN], runtime[MC_UUID_STRLEN], agent[MC_UUID_STRLEN];
    char issue[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    mc_uuid_v7(daemon);
    tg_start_sim(base, s.rt_token, ws, daemon,
                 "--tasks 1 --work-ms 300 --chunks 2 --heartbeat-ms 1000 --poll-ms 500", "daemon",
                 runtime);
    tg_agent(base, s.token, ws, "watched-agent", runtime, 1, agent);
    tg_issue(base, s.token, ws, "Watch me", issue);
    ck_assert_int_eq(tg_assign(base, s.token, issue, agent, task), 200);
    ck_assert_uint_eq(strlen(task), 36);

    int status = th_wait_exit(web, 180000);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the browser test failed (status %d); see %s/web.log", status, th_tmpdir());
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(script);
    free(ready);
    ua_stop(&s);
}
END_TEST

Suite *suite_web(void)
{
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("page");
    tcase_set_timeout(tc, 480);
    tcase_add_test(tc, the_page_signs_in_shows_usage_and_watches_a_task);
    suite_add_tcase(s, tc);
    return s;
}
