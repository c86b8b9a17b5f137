/* test_deploy.c: the deployment files and the docs agree with the code (tools/check-deploy.sh,
 * tools/check-docs.sh), and Grafana's read-only role can run every dashboard query and
 * nothing more, against a freshly migrated database. */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs a shell command with stderr folded into stdout; returns the exit status (-1 when it
 * did not exit normally) and the output (heap string, caller frees). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            char *bigger = realloc(buf, cap * 2);
            ck_assert_ptr_nonnull(bigger);
            buf = bigger;
            cap *= 2;
        }
    }
    buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The FAIL lines of a check script's output (they name what disagrees), for the message. */
static char *fail_lines(const char *out)
{
    size_t cap = strlen(out) + 1;
    char *res = calloc(cap, 1);
    bool in_fail = false;
    for (const char *line = out; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line + 1) : strlen(line);
        /* a FAIL line and the indented detail lines right after it */
        in_fail = strncmp(line, "FAIL", 4) == 0 || (in_fail && strncmp(line, "     ", 5) == 0);
        if (in_fail)
            strncat(res, line, len);
        line = end ? end + 1 : NULL;
    }
    return res;
}

static void check_script(const char *script)
{
    const char *bin = getenv("MC_TEST_BIN") ? getenv("MC_TEST_BIN") : "build/bin";
    char cmd[1024], log[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && BIN='%s' tools/%s.sh 2>&1", th_root(), bin, script);
    char *out = NULL;
    int rc = run(cmd, &out);
    snprintf(log, sizeof log, "%s/%s.log", th_tmpdir(), script);
    FILE *f = fopen(log, "w");
    if (f != NULL) {
        fputs(out, f);
        fclose(f);
    }
    char *fails = fail_lines(out);
    ck_assert_msg(rc == 0, "tools/%s.sh exited %d (full output in %s):\n%s", script, rc, log,
                  fails);
    ck_assert_msg(strstr(out, " 0 failed") != NULL, "no summary line in %s", log);
    free(fails);
    free(out);
}

START_TEST(deployment_files_agree_with_the_code)
{
    check_script("check-deploy");
}
END_TEST

START_TEST(docs_agree_with_the_code)
{
    check_script("check-docs");
}
END_TEST

/* psql as `url`, ON_ERROR_STOP, with extra arguments; returns the exit status. */
static int psql(const char *url, const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "psql '%s' -X -q -v ON_ERROR_STOP=1 %s 2>&1", url, args);
    return run(cmd, out);
}

START_TEST(grafana_role_runs_the_dashboard_and_nothing_else)
{
    const char *admin = th_db_new();
    char args[1024], *out = NULL;
    snprintf(
        args, sizeof args,
        "-v role=multica_grafana -v password=grafana-test -f '%s/deploy/grafana/readonly-role.sql'",
        th_root());
    /* Twice: the script is idempotent (compose runs it at every `up`). */
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(psql(admin, args, &out) == 0, "readonly-role.sql: %s", out);
        free(out);
    }
    th_sql("INSERT INTO usage.task_usage_hourly (workspace_id, runtime_id, agent_id, provider, "
           "model, bucket_hour, input_tokens, output_tokens, cache_read_tokens, "
           "cache_write_tokens, task_count) VALUES (gen_random_uuid(), gen_random_uuid(), "
           "gen_random_uuid(), 'anthropic', 'claude', date_trunc('hour', now()), 10, 20, 0, 0, 1)");

    char url[512];
    const char *at = strchr(admin + strlen("postgres://"), '@');
    snprintf(url, sizeof url, "postgres://multica_grafana:grafana-test%s", at);

    /* Every SQL panel, with Grafana's time macro replaced by the last 7 days. */
    char script[600], cmd[2048];
    snprintf(script, sizeof script, "%s/dashboard-queries.sh", th_tmpdir());
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fputs("set -o pipefail\n"
          "jq -r '.. | objects | select(has(\"rawSql\")) | .rawSql + \";\"' \"$1\" |\n"
          "  sed -E \"s/[$]__timeFilter[(]([a-z_]+)[)]/\\1 >= now() - interval '7 days'/g\" |\n"
          "  psql \"$2\" -X -v ON_ERROR_STOP=1 -f -\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "bash '%s' '%s/deploy/grafana/dashboards/multica-usage.json' '%s' 2>&1", script,
             th_root(), url);
    int rc = run(cmd, &out);
    ck_assert_msg(rc == 0, "dashboard queries as multica_grafana: %s", out);
    ck_assert_msg(strstr(out, "anthropic") != NULL, "the provider panel did not see the row: %s",
                  out);
    ck_assert_msg(strstr(out, "lag_seconds") != NULL, "%s", out);
    free(out);

    ck_assert_int_ne(psql(url, "-c 'DELETE FROM usage.task_usage_hourly'", &out), 0);
    ck_assert_msg(strstr(out, "read-only transaction") != NULL, "%s", out);
    free(out);
    ck_assert_int_ne(psql(url, "-c 'SELECT count(*) FROM usage.task_usage'", &out), 0);
    ck_assert_msg(strstr(out, "permission denied") != NULL, "%s", out);
    free(out);
    ck_assert_int_ne(psql(url, "-c 'SELECT count(*) FROM gateway.runtimes'", &out), 0);
    ck_assert_msg(strstr(out, "permission denied") != NULL, "%s", out);
    free(out);
}
END_TEST

Suite *suite_deploy(void)
{
    Suite *s = suite_create("deploy");
    TCase *tc = tcase_create("checks");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, deployment_files_agree_with_the_code);
    tcase_add_test(tc, docs_agree_with_the_code);
    tcase_add_test(tc, grafana_role_runs_the_dashboard_and_nothing_else);
    suite_add_tcase(s, tc);
    return s;
}
