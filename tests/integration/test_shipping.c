/* test_shipping.c: what an operator meets before running anything: --help and --version of
 * every binary, the version outside git, make install and make help, the clang build, and the
 * metrics every service exports (request metrics by route, process_*, multica_build_info). */
#include "gateway_client.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static const char *const binaries[] = {
    "api-gateway", "task-dispatcher", "usage-ingester", "rollup-scheduler",
    "migrate",     "backfill-usage",  "daemon-sim",
};

/* The version the build was stamped with (BUILD/gen/mc_version.h). */
static void built_version(char *version, size_t vlen, char *commit, size_t clen)
{
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/gen/mc_version.h",
             getenv("MC_TEST_BUILD") ? getenv("MC_TEST_BUILD") : "build");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    while (fgets(line, sizeof line, f) != NULL) {
        sscanf(line, "#define MC_BUILD_VERSION \"%255[^\"]\"", version);
        sscanf(line, "#define MC_BUILD_COMMIT \"%255[^\"]\"", commit);
    }
    fclose(f);
    (void)vlen;
    (void)clen;
}

/* The variables tools/env-vars.sh finds for a binary, space-separated (heap). */
static char *vars_of(const char *bin)
{
    const char *scopes = strcmp(bin, "migrate") == 0          ? "migrate|topics"
                         : strcmp(bin, "backfill-usage") == 0 ? "backfill-usage"
                         : strcmp(bin, "daemon-sim") == 0     ? "daemon-sim"
                                                              : NULL;
    char cmd[1024], *out = NULL, services[96];
    snprintf(services, sizeof services, "service|%s", bin);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && tools/env-vars.sh | awk -F'\\t' '$1 ~ /^(%s)$/ { print $2 }' | "
             "sort -u | tr '\\n' ' '",
             th_root(), scopes ? scopes : services);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    return out;
}

START_TEST(every_binary_answers_help_and_version)
{
    char version[256] = "", commit[256] = "", expect[600];
    built_version(version, sizeof version, commit, sizeof commit);
    ck_assert_msg(version[0] && commit[0], "no version in mc_version.h");
    for (size_t i = 0; i < MC_ARRAY_LEN(binaries); i++) {
        const char *b = binaries[i];
        char cmd[1024], *out = NULL, *err = NULL, errfile[600];
        snprintf(errfile, sizeof errfile, "%s/help-%s.err", th_tmpdir(), b);
        /* A service given a reachable-looking configuration would start: --help must not. */
        char name[64];
        snprintf(name, sizeof name, "multica-%s", b);
        snprintf(cmd, sizeof cmd,
                 "env -i PATH=\"$PATH\" ASAN_OPTIONS=detect_leaks=0 "
                 "DATABASE_URL=postgres://nobody@127.0.0.1:1/x HTTP_PORT=%d "
                 "timeout 10 '%s' --help 2>'%s'",
                 th_free_port(), th_bin(name), errfile);
        ck_assert_msg(th_run(cmd, &out) == 0, "multica-%s --help did not exit 0 at once", b);
        ck_assert_msg(strncmp(out, "usage: multica-", 15) == 0, "multica-%s --help: %s", b, out);
        th_run(strcat(strcpy(cmd, "cat "), errfile), &err);
        ck_assert_msg(err[0] == '\0', "multica-%s --help wrote to stderr: %s", b, err);
        char *vars = vars_of(b);
        for (char *v = strtok(vars, " "); v != NULL; v = strtok(NULL, " "))
            ck_assert_msg(strstr(out, v) != NULL, "multica-%s --help does not list %s", b, v);
        free(vars);
        free(out);
        free(err);

        snprintf(expect, sizeof expect, "multica-%s", b);
        snprintf(cmd, sizeof cmd, "env -i ASAN_OPTIONS=detect_leaks=0 '%s' --version",
                 th_bin(expect));
        ck_assert_int_eq(th_run(cmd, &out), 0);
        snprintf(expect, sizeof expect, "multica-%s %s (commit %s)\n", b, version, commit);
        ck_assert_str_eq(out, expect);
        free(out);
    }
    /* A service refuses an argument it does not know instead of starting. */
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "env -i ASAN_OPTIONS=detect_leaks=0 '%s' --bogus 2>&1",
             th_bin("multica-usage-ingester"));
    ck_assert_int_eq(th_run(cmd, &out), 2);
    ck_assert_msg(strstr(out, "unknown argument '--bogus'") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(the_version_is_git_describe_or_unknown)
{
    char cmd[1024], *in_git = NULL, *described = NULL, *outside = NULL;
    snprintf(cmd, sizeof cmd, "make -s -C '%s' version", th_root());
    ck_assert_int_eq(th_run(cmd, &in_git), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && git describe --tags --always --dirty", th_root());
    ck_assert_int_eq(th_run(cmd, &described), 0);
    ck_assert_str_eq(in_git, described);
    /* A tarball: the same Makefile in a directory without .git. */
    snprintf(cmd, sizeof cmd, "cd '%s' && make -s -f '%s/Makefile' version", th_tmpdir(),
             th_root());
    ck_assert_int_eq(th_run(cmd, &outside), 0);
    ck_assert_str_eq(outside, "unknown\n");
    free(in_git);
    free(described);
    free(outside);
}
END_TEST

START_TEST(make_install_honours_prefix_and_destdir)
{
    char version[256] = "", commit[256] = "", cmd[2048], *out = NULL;
    built_version(version, sizeof version, commit, sizeof commit);
    char stage[600];
    snprintf(stage, sizeof stage, "%s/stage", th_tmpdir());
    /* The build's own version, so that nothing is rebuilt for the install. */
    snprintf(cmd, sizeof cmd,
             "make -s -C '%s' install BUILD='%s' DESTDIR='%s' PREFIX=/opt/multica-test "
             "VERSION='%s' COMMIT='%s' 2>&1",
             th_root(), getenv("MC_TEST_BUILD") ? getenv("MC_TEST_BUILD") : "build", stage, version,
             commit);
    ck_assert_msg(th_run(cmd, &out) == 0, "make install: %s", out);
    free(out);
    struct stat st;
    ck_assert_msg(stat("/opt/multica-test", &st) != 0, "make install wrote outside DESTDIR");
    for (size_t i = 0; i < MC_ARRAY_LEN(binaries); i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/opt/multica-test/bin/multica-%s", stage, binaries[i]);
        ck_assert_msg(stat(path, &st) == 0 && (st.st_mode & 0111) == 0111, "%s", path);
    }
    const char *files[] = {"share/doc/multica-c/LICENSE",
                           "share/doc/multica-c/README.md",
                           "share/doc/multica-c/SELF_HOSTING.md",
                           "share/multica-c/prometheus/alerts.yml",
                           "share/multica-c/grafana/multica-usage.json",
                           "share/multica-c/env.example"};
    for (size_t i = 0; i < MC_ARRAY_LEN(files); i++) {
        char path[800];
        snprintf(path, sizeof path, "%s/opt/multica-test/%s", stage, files[i]);
        ck_assert_msg(stat(path, &st) == 0 && S_ISREG(st.st_mode), "%s not installed", path);
    }
    snprintf(cmd, sizeof cmd,
             "env -i ASAN_OPTIONS=detect_leaks=0 '%s/opt/multica-test/bin/multica-migrate' "
             "--version",
             stage);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, version) != NULL, "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "head -c 200 '%s/opt/multica-test/share/doc/multica-c/LICENSE'",
             stage);
    ck_assert_int_eq(th_run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "Apache License") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(make_help_lists_the_targets)
{
    char cmd[600], *out = NULL;
    snprintf(cmd, sizeof cmd, "make -s -C '%s' help", th_root());
    ck_assert_int_eq(th_run(cmd, &out), 0);
    const char *targets[] = {"build",        "test",       "test-asan",   "install",
                             "check-deploy", "check-docs", "check-clang", "lint",
                             "run",          "stop",       "bench",       "help"};
    for (size_t i = 0; i < MC_ARRAY_LEN(targets); i++) {
        char want[64];
        snprintf(want, sizeof want, "make %-14s ", targets[i]);
        char *at = strstr(out, want);
        ck_assert_msg(at != NULL, "make help lacks %s:\n%s", targets[i], out);
        ck_assert_msg(at[strlen(want)] != '\n', "make help: %s has no description", targets[i]);
    }
    free(out);
}
END_TEST

START_TEST(the_tree_builds_warning_free_with_clang)
{
    char cmd[600], *out = NULL;
    snprintf(cmd, sizeof cmd, "make -s -C '%s' check-clang 2>&1", th_root());
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0, "make check-clang (clang -Werror) failed:\n%s", out);
    ck_assert_msg(strstr(out, "warning:") == NULL, "%s", out);
    free(out);
}
END_TEST

/* The value of the first series of /metrics text starting with prefix, or -1. */
static double series(const char *text, const char *prefix)
{
    for (const char *line = text; line && *line;) {
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            const char *sp = strchr(line, ' ');
            return sp ? atof(sp + 1) : -1;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -1;
}

START_TEST(gateway_metrics_by_route_and_process)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    const char *base = tg_start(brokers, NULL, NULL);
    char *token = tg_login(base, "metrics@example.com");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(tg_call(base, "GET", "/api/config", NULL, NULL, NULL), 200);
    ck_assert_int_eq(tg_call(base, "GET", "/api/me", NULL, NULL, NULL), 401);
    char path[128];
    snprintf(path, sizeof path, "/api/workspaces/%s", "0190b3c4-0000-7000-8000-000000000001");
    int st = tg_call(base, "GET", path, token, NULL, NULL);
    ck_assert_msg(st == 404 || st == 403, "GET %s: %d", path, st);

    char url[256], *text = NULL;
    snprintf(url, sizeof url, "%s/metrics", base);
    ck_assert_int_eq(th_http("GET", url, NULL, NULL, &text), 200);
    ck_assert_double_eq(series(text, "multica_http_requests_total{method=\"GET\",route=\"/api/"
                                     "config\",status=\"200\"}"),
                        3);
    ck_assert_double_eq(series(text, "multica_http_request_duration_seconds_count{method=\"GET\","
                                     "route=\"/api/config\",status=\"200\"}"),
                        3);
    ck_assert_double_eq(
        series(text, "multica_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                     "config\",status=\"200\",le=\"+Inf\"}"),
        3);
    /* Refused by the route's credential guard: counted under the route's pattern. */
    ck_assert_double_eq(
        series(text,
               "multica_http_requests_total{method=\"GET\",route=\"/api/me\",status=\"401\"}"),
        1);
    /* The pattern, never the raw path with its id. */
    char pattern[128];
    snprintf(pattern, sizeof pattern,
             "multica_http_requests_total{method=\"GET\",route=\"/api/workspaces/"
             ":workspace_id\",status=\"%d\"}",
             st);
    ck_assert_double_eq(series(text, pattern), 1);
    ck_assert_msg(strstr(text, "0190b3c4-0000") == NULL, "a raw path reached a label");
    /* Process metrics, with the standard names and plausible values. */
    double rss = series(text, "process_resident_memory_bytes ");
    ck_assert_msg(rss > 1e6 && rss < 4e9, "RSS %f", rss);
    ck_assert_msg(series(text, "process_cpu_seconds_total ") > 0, "no CPU seconds");
    double fds = series(text, "process_open_fds ");
    ck_assert_msg(fds >= 3 && fds < series(text, "process_max_fds "), "open fds %f", fds);
    double start = series(text, "process_start_time_seconds ");
    double now = (double)time(NULL);
    /* Boot time (/proc/stat btime) plus the start in clock ticks, as Prometheus' own clients
     * compute it: whole seconds, and a guest's btime may be a few seconds off its clock. */
    ck_assert_msg(start > now - 600 && start <= now + 60, "start time %f, now %f", start, now);
    ck_assert_msg(strstr(text, "# TYPE process_cpu_seconds_total counter") != NULL, "%s", text);
    char version[256] = "", commit[256] = "", info[700];
    built_version(version, sizeof version, commit, sizeof commit);
    snprintf(info, sizeof info, "multica_build_info{version=\"%s\",commit=\"%s\"} 1\n", version,
             commit);
    ck_assert_msg(strstr(text, info) != NULL, "no %s", info);
    free(text);
    free(token);
}
END_TEST

Suite *suite_shipping(void)
{
    Suite *s = suite_create("shipping");
    TCase *tc = tcase_create("shipping");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_binary_answers_help_and_version);
    tcase_add_test(tc, the_version_is_git_describe_or_unknown);
    tcase_add_test(tc, make_install_honours_prefix_and_destdir);
    tcase_add_test(tc, make_help_lists_the_targets);
    tcase_add_test(tc, the_tree_builds_warning_free_with_clang);
    tcase_add_test(tc, gateway_metrics_by_route_and_process);
    suite_add_tcase(s, tc);
    return s;
}
