/* test_deploy.c: the deployment files and the docs agree with the code (tools/check-deploy.sh,
 * tools/check-docs.sh); `make lint` finds nothing; Grafana's read-only role can run every dashboard
 * query and nothing more; and the environment docker-compose.yml gives each program runs the real
 * stack. */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

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

/* Runs tools/<script>.sh from the project root with BIN set, its output kept in
 * <tmpdir>/<script>.log; returns the exit status and the output (caller frees). */
static int run_tool(const char *script, char *log, size_t loglen, char **out)
{
    const char *bin = getenv("MC_TEST_BIN") ? getenv("MC_TEST_BIN") : "build/bin";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && BIN='%s' tools/%s.sh 2>&1", th_root(), bin, script);
    int rc = th_run(cmd, out);
    snprintf(log, loglen, "%s/%s.log", th_tmpdir(), script);
    FILE *f = fopen(log, "w");
    if (f != NULL) {
        fputs(*out, f);
        fclose(f);
    }
    return rc;
}

static void check_script(const char *script)
{
    char log[600], *out = NULL;
    int rc = run_tool(script, log, sizeof log, &out);
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

/* `make lint` (tools/lint.sh) finds nothing: CI runs only `make test`, so this is where a
 * formatting, cppcheck or shellcheck finding fails the build. */
START_TEST(lint_finds_nothing)
{
    char log[600], *out = NULL;
    int rc = run_tool("lint", log, sizeof log, &out);
    size_t len = strlen(out);
    ck_assert_msg(rc == 0, "make lint failed (full output in %s):\n%s", log,
                  len > 3000 ? out + len - 3000 : out);
    ck_assert_msg(strstr(out, "shell scripts clean") != NULL, "no summary line in %s", log);
    free(out);
}
END_TEST

/* psql as `url`, ON_ERROR_STOP, with extra arguments; returns the exit status. */
static int psql(const char *url, const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "psql '%s' -X -q -v ON_ERROR_STOP=1 %s 2>&1", url, args);
    return th_run(cmd, out);
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
    int rc = th_run(cmd, &out);
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

/* Reads a file of K=V lines into a NULL-terminated array for th_spawn, adding `extra` entries
 * last (putenv: later entries win). Every entry is a heap copy; env_free releases them once
 * th_spawn has returned (the child has its own copy of the memory). */
static char **env_file(const char *path, const char *const *extra)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "open %s", path);
    size_t n = 0, cap = 64;
    char **env = calloc(cap, sizeof *env);
    ck_assert_ptr_nonnull(env);
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strchr(line, '=') == NULL)
            continue;
        ck_assert_uint_lt(n, cap - 8);
        env[n++] = strdup(line);
    }
    fclose(f);
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        env[n++] = strdup(extra[i]);
    env[n] = NULL;
    return env;
}

static void env_free(char **env)
{
    for (size_t i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* The environment docker-compose.yml gives migrate and each service (as `docker-compose
 * config` resolves it with a .env from deploy/init-env.sh) starts the real binaries against
 * this run's Postgres and the run's Kafka broker: migrate creates the schemas on an empty database,
 * and every service logs in as its own role with the password migrate set, becomes healthy and
 * stops cleanly. Only the addresses are changed (postgres:5432, kafka:9092, the HTTP port);
 * the role passwords are the roles' names so the shared test cluster keeps working. */
START_TEST(compose_environment_runs_the_stack)
{
    const char *admin = th_db_new_empty();
    const char *brokers = th_broker_start(6);
    int pgport = 0;
    char dbname[128] = "";
    ck_assert_int_eq(sscanf(strrchr(admin, ':') + 1, "%d/%127s", &pgport, dbname), 2);

    char script[600], cmd[2048], *out = NULL;
    snprintf(script, sizeof script, "%s/compose-env.sh", th_tmpdir());
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fputs("set -eu\n"
          "root=$1 dir=$2 db=$3 pgport=$4 brokers=$5\n"
          "\"$root/deploy/init-env.sh\" \"$dir/compose.env\" >/dev/null\n"
          "sed -i -e \"s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=postgres/\" \\\n"
          "    -e \"s/^POSTGRES_DB=.*/POSTGRES_DB=$db/\" \\\n"
          "    -e 's/^MULTICA_\\([A-Z]*\\)_DB_PASSWORD=.*/MULTICA_\\1_DB_PASSWORD=multica_\\L\\1/' "
          "\\\n"
          "    \"$dir/compose.env\"\n"
          "env -i PATH=\"$PATH\" HOME=\"$dir\" docker-compose --project-directory \"$root\" \\\n"
          "    -f \"$root/docker-compose.yml\" --env-file \"$dir/compose.env\" config "
          ">\"$dir/compose.yml\"\n"
          "yq . \"$dir/compose.yml\" >\"$dir/compose.json\"\n"
          "for s in migrate api-gateway task-dispatcher usage-ingester rollup-scheduler; do\n"
          "    jq -r --arg s \"$s\" '.services[$s].environment | to_entries[] | "
          "\"\\(.key)=\\(.value)\"' \\\n"
          "        \"$dir/compose.json\" | sed -e \"s|@postgres:5432/|@127.0.0.1:$pgport/|\" \\\n"
          "        -e \"s|^KAFKA_BROKERS=kafka:9092\\$|KAFKA_BROKERS=$brokers|\" >\"$dir/env.$s\"\n"
          "done\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "bash '%s' '%s' '%s' '%s' %d '%s' 2>&1", script, th_root(),
             th_tmpdir(), dbname, pgport, brokers);
    ck_assert_msg(th_run(cmd, &out) == 0, "resolving the compose environment: %s", out);
    free(out);

    char path[700];
    snprintf(path, sizeof path, "%s/env.migrate", th_tmpdir());
    char **env = env_file(path, NULL);
    pid_t pid = th_spawn(th_bin("multica-migrate"), (const char *const *)env, "compose-migrate");
    env_free(env);
    int st = th_wait_exit(pid, 120000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "migrate with the compose environment failed (see %s/compose-migrate.log)",
                  th_tmpdir());
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_namespace WHERE nspname IN "
                                "('gateway', 'dispatch', 'usage', 'scheduler')"),
                     4);

    static const char *const names[] = {"api-gateway", "task-dispatcher", "usage-ingester",
                                        "rollup-scheduler"};
    pid_t pids[4];
    char urls[4][128];
    char ports[4][32];
    for (int i = 0; i < 4; i++) {
        int port = th_free_port();
        snprintf(ports[i], sizeof ports[i], "HTTP_PORT=%d", port);
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/healthz", port);
        const char *extra[] = {ports[i], NULL};
        char bin[128], log[128];
        snprintf(path, sizeof path, "%s/env.%s", th_tmpdir(), names[i]);
        snprintf(bin, sizeof bin, "multica-%s", names[i]);
        snprintf(log, sizeof log, "compose-%s", names[i]);
        env = env_file(path, extra);
        pids[i] = th_spawn(th_bin(bin), (const char *const *)env, log);
        env_free(env);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(th_wait_http_ok(urls[i], 60000) == 200,
                      "%s is not healthy with the compose environment (see %s/compose-%s.log)",
                      names[i], th_tmpdir(), names[i]);
        char *body = NULL;
        ck_assert_int_eq(th_http("GET", urls[i], NULL, NULL, &body), 200);
        ck_assert_msg(strstr(body, "\"kafka\":\"ok\"") != NULL, "%s: %s", names[i], body);
        free(body);
    }
    for (int i = 0; i < 4; i++) {
        st = th_stop(pids[i], SIGTERM, 20000);
        ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "%s did not stop cleanly on SIGTERM", names[i]);
    }
}
END_TEST

Suite *suite_deploy(void)
{
    Suite *s = suite_create("deploy");
    TCase *tc = tcase_create("checks");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, deployment_files_agree_with_the_code);
    tcase_add_test(tc, docs_agree_with_the_code);
    tcase_add_test(tc, lint_finds_nothing);
    tcase_add_test(tc, grafana_role_runs_the_dashboard_and_nothing_else);
    tcase_add_test(tc, compose_environment_runs_the_stack);
    suite_add_tcase(s, tc);
    return s;
}
