/* test_official_cli.c: the official `multica` CLI and daemon against this stack, unchanged.
 *
 * When MULTICA_CLI names Multica's binary (v0.4.32 was the one read for the contract), this
 * starts the gateway, dispatcher and ingester, logs the CLI in with a personal access token
 * (`multica login --token`, a private HOME and profile), starts `multica daemon` in the
 * foreground with the fake claude (tests/fake-agents/claude) first on PATH, creates an agent
 * and an assigned issue with the CLI, and watches the daemon register, claim, run the fake
 * agent (which reads its issue and comments with the task token), stream its messages, report
 * usage (task_usage, then task_usage_hourly after the scheduler's first tick) and complete;
 * the issue commands (list, get, status, comment list and add) work with the person's token;
 * then a cancel through the CLI stops a running task through the daemon's status poll, and
 * stopping the daemon takes its runtime offline. Without MULTICA_CLI it says why it skips. */
#include "gateway_client.h"
#include "usage_gen.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cli {
    const char *bin, *base;
    char home[512], path[4096], profile[32];
};

/* Runs the CLI with arguments (a shell fragment from fmt) in the test's HOME and PATH; returns
 * its exit status and what it printed on stdout (heap string). */
static int run(const struct cli *c, char **out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int run(const struct cli *c, char **out, const char *fmt, ...)
{
    char *args = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&args, fmt, ap) < 0)
        args = NULL;
    va_end(ap);
    char *cmd =
        mc_sprintf("env HOME='%s' PATH='%s' IS_SANDBOX=1 '%s' %s --profile %s 2>>'%s/cli.log'",
                   c->home, c->path, c->bin, args, c->profile, th_tmpdir());
    free(args);
    FILE *f = popen(cmd, "r");
    free(cmd);
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    int status = pclose(f);
    if (out != NULL)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *run_json(const struct cli *c, const char *args)
{
    char *out = NULL;
    int rc = run(c, &out, "%s", args);
    ck_assert_msg(rc == 0, "multica %s exited %d: %s", args, rc, out);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "multica %s printed no JSON: %s", args, out);
    free(out);
    return j;
}

/* Sets up HOME, PATH (the fake claude first) and the profile, and logs the CLI in. */
static void login(struct cli *c, const char *pat)
{
    snprintf(c->home, sizeof c->home, "%s/home", th_tmpdir());
    char bin[600];
    snprintf(bin, sizeof bin, "%s/bin", th_tmpdir());
    char *cmd = mc_sprintf("mkdir -p '%s' '%s' && ln -sf '%s/tests/fake-agents/claude' '%s/claude'",
                           c->home, bin, th_root(), bin);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    snprintf(c->path, sizeof c->path, "%s:%s", bin, getenv("PATH"));
    snprintf(c->profile, sizeof c->profile, "mct%d", (int)getpid() % 100000);
    char *out = NULL;
    ck_assert_int_eq(run(c, &out, "login --token %s --server-url %s", pat, c->base), 0);
    free(out);
}

static pid_t start_daemon(const struct cli *c)
{
    char *home = mc_sprintf("HOME=%s", c->home), *path = mc_sprintf("PATH=%s", c->path);
    const char *env[] = {home,
                         path,
                         "IS_SANDBOX=1", /* the fake claude runs as root here, as in a container */
                         "MULTICA_DAEMON_AUTO_UPDATE=false",
                         "MULTICA_GC_ENABLED=false",
                         "MULTICA_DAEMON_HEARTBEAT_INTERVAL=5s",
                         "FAKE_CLAUDE_SLOW_SECONDS=90",
                         NULL};
    char profile[64];
    snprintf(profile, sizeof profile, "%s", c->profile);
    const char *argv[] = {c->bin, "daemon", "start", "--foreground", "--profile", profile, NULL};
    pid_t pid = th_spawn_argv(argv, env, "multica-daemon");
    free(home);
    free(path);
    return pid;
}

START_TEST(the_official_daemon_runs_a_task_and_stops_a_cancelled_one)
{
    const char *bin = getenv("MULTICA_CLI");
    if (bin == NULL || *bin == '\0') {
        fprintf(stderr, "official_cli: skipped: MULTICA_CLI is not set (point it at Multica's "
                        "`multica` binary to run the official daemon against this stack)\n");
        return;
    }
    th_db_new();
    th_sql("DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET multica.rollup_safety_lag = %L', "
           "current_database(), '0'); END$$");
    const char *brokers = th_broker_start(2);
    struct cli c = {.bin = bin};
    c.base = tg_start(brokers, NULL, NULL);
    tg_start_dispatcher(brokers, "dispatcher", NULL);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    char *alice = tg_login(c.base, "alice@example.com");
    ck_assert_int_eq(tg_call(c.base, "POST", "/api/workspaces", alice, "{\"name\":\"Acme\"}", NULL),
                     201);
    char *pat = tg_pat(c.base, alice);
    login(&c, pat);
    pid_t daemon = start_daemon(&c);
    /* It registers a claude runtime in the workspace. */
    json_t *runtimes = NULL;
    const char *runtime = NULL;
    for (int i = 0; i < 150 && runtime == NULL; i++) {
        json_decref(runtimes);
        usleep(200 * 1000);
        runtimes = run_json(&c, "runtime list --output json");
        runtime = json_string_value(json_object_get(json_array_get(runtimes, 0), "id"));
    }
    ck_assert_msg(runtime != NULL, "the daemon registered no runtime");
    ck_assert_str_eq(tg_str(json_array_get(runtimes, 0), "provider"), "claude");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "agent create --name Claude --runtime-id %s --output json", runtime);
    json_t *agent = run_json(&c, cmd);
    /* An issue assigned to the agent runs: the fake claude reads it and comments. */
    json_t *issue =
        run_json(&c, "issue create --title 'Fix the build' --assignee Claude --output json");
    const char *key = tg_str(issue, "identifier");
    const char *task = tg_str(issue, "task_id");
    json_decref(tg_wait_task(c.base, alice, task, "completed", 60000));
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.comments WHERE author_type = 'agent' AND "
             "source_task_id = '%s' AND body = 'Fake Claude finished: Fix the build'",
             task);
    ck_assert_msg(th_sql_wait(sql, 1, 10000) == 1, "the agent's comment is missing: %s", sql);
    snprintf(cmd, sizeof cmd, "issue comment list %s --output json", key);
    json_t *comments = run_json(&c, cmd);
    ck_assert_uint_eq(json_array_size(comments), 1);
    ck_assert_str_eq(tg_str(json_array_get(comments, 0), "author_type"), "agent");
    json_decref(comments);
    /* The issue commands a person uses, with the personal access token. */
    snprintf(cmd, sizeof cmd, "issue comment add %s --content 'Thanks!' --output json", key);
    json_t *mine = run_json(&c, cmd);
    ck_assert_str_eq(tg_str(mine, "author_type"), "member");
    json_decref(mine);
    snprintf(cmd, sizeof cmd, "issue status %s done --output json", key);
    json_decref(run_json(&c, cmd));
    snprintf(cmd, sizeof cmd, "issue get %s --output json", key);
    json_t *got = run_json(&c, cmd);
    ck_assert_str_eq(tg_str(got, "status"), "done");
    ck_assert_str_eq(tg_str(got, "title"), "Fix the build");
    json_decref(got);
    json_t *list = run_json(&c, "issue list --output json");
    ck_assert_int_eq(json_integer_value(json_object_get(list, "total")), 1);
    ck_assert_str_eq(tg_str(json_array_get(json_object_get(list, "issues"), 0), "identifier"), key);
    json_decref(list);
    /* Its messages were streamed and stored, and its usage reported and rolled up. */
    snprintf(sql, sizeof sql,
             "SELECT (count(*) >= 4)::int FROM gateway.task_messages WHERE task_id = '%s'", task);
    ck_assert_msg(th_sql_wait(sql, 1, 10000) == 1, "messages missing: %s", sql);
    snprintf(sql, sizeof sql,
             "SELECT input_tokens + output_tokens + cache_read_tokens + cache_write_tokens FROM "
             "usage.task_usage WHERE task_id = '%s' AND provider = 'claude' AND model = "
             "'claude-sonnet-4-5'",
             task);
    ck_assert_int_eq(th_sql_wait(sql, 9500, 30000), 9500);
    char *env[] = {mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_scheduler")),
                   mc_sprintf("KAFKA_BROKERS=%s", brokers),
                   mc_sprintf("HTTP_PORT=%d", th_free_port()), mc_sprintf("HTTP_BIND=127.0.0.1"),
                   NULL};
    th_spawn(th_bin("multica-rollup-scheduler"), (const char *const *)env, "scheduler");
    for (int i = 0; env[i]; i++)
        free(env[i]);
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(input_tokens), 0) FROM usage.task_usage_hourly WHERE agent_id = "
             "'%s'",
             tg_str(agent, "id"));
    ck_assert_int_eq(th_sql_wait(sql, 2000, 60000), 2000);
    /* A slow run, cancelled with the CLI: the daemon's status poll stops the agent. */
    json_t *slow = run_json(
        &c, "issue create --title 'Refactor everything [slow]' --assignee Claude --output json");
    const char *slow_task = tg_str(slow, "task_id");
    json_decref(tg_wait_task(c.base, alice, slow_task, "running", 60000));
    snprintf(sql, sizeof sql,
             "SELECT (count(*) >= 3)::int FROM gateway.task_messages WHERE task_id = '%s' AND "
             "content LIKE 'still working%%'",
             slow_task);
    ck_assert_int_eq(th_sql_wait(sql, 1, 30000), 1); /* it is streaming while it works */
    snprintf(cmd, sizeof cmd, "issue cancel-task %s --output json", slow_task);
    json_decref(run_json(&c, cmd));
    json_decref(tg_wait_task(c.base, alice, slow_task, "cancelled", 30000));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.tasks WHERE task_id = '%s' AND reported = 'cancel_ack'",
             slow_task);
    ck_assert_int_eq(th_sql_wait(sql, 1, 30000), 1);
    /* Stopping the daemon takes its runtime offline. */
    int status = th_stop(daemon, SIGTERM, 30000);
    ck_assert_msg(status != -1, "the daemon did not stop");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.runtimes WHERE id = '%s' AND offline_at "
             "IS NOT NULL",
             runtime);
    ck_assert_int_eq(th_sql_wait(sql, 1, 10000), 1);
    json_decref(slow);
    json_decref(issue);
    json_decref(agent);
    json_decref(runtimes);
    free(pat);
    free(alice);
}
END_TEST

Suite *suite_official_cli(void)
{
    Suite *s = suite_create("official_cli");
    TCase *tc = tcase_create("official");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, the_official_daemon_runs_a_task_and_stops_a_cancelled_one);
    suite_add_tcase(s, tc);
    return s;
}
