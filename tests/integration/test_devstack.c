/* test_devstack.c: `make run` (tools/devstack.sh) tells the truth: a port held by another
 * process stops the start before anything runs, a part that fails to start takes down what
 * that start brought up, and what a good start brings up serves the web page and the usage
 * reads behind it. Each case starts its own stack on free ports in its own folder. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* The environment of a private stack: its folder and free ports for every part. */
static void stack_env(char *buf, size_t len, int gateway_port)
{
    int kafka = 0;
    /* Kafka's controller listens on the next port: two free in a row. */
    for (int i = 0; i < 50 && kafka == 0; i++) {
        int p = th_free_port();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons((uint16_t)(p + 1))};
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0)
            kafka = p;
        close(fd);
    }
    snprintf(buf, len,
             "MULTICA_RUN_DIR='%s/run' BIN='%s' GATEWAY_PORT=%d DISPATCHER_PORT=%d "
             "INGESTER_PORT=%d SCHEDULER_PORT=%d DEV_PG_PORT=%d KAFKA_PORT=%d "
             "KAFKA_DIR='%s/run/kafka' KAFKA_LOG='%s/run/logs/kafka.log' DEV_PG_DIR='%s/run/pg'",
             th_tmpdir(), getenv("MC_TEST_BIN"), gateway_port, th_free_port(), th_free_port(),
             th_free_port(), th_free_port(), kafka, th_tmpdir(), th_tmpdir(), th_tmpdir());
}

/* Runs devstack.sh VERB with env; returns its exit status, output in <tmpdir>/VERB.out. */
static int devstack(const char *env, const char *verb, const char *extra)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s %s/tools/devstack.sh %s > %s/%s.out 2>&1", env,
             extra ? extra : "", th_root(), verb, th_tmpdir(), verb);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool output_has(const char *verb, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -qF -- '%s' %s/%s.out", needle, th_tmpdir(), verb);
    return system(cmd) == 0;
}

/* Nothing of the stack runs: status says every part is stopped. */
static void assert_all_stopped(const char *env)
{
    devstack(env, "status", NULL);
    const char *parts[] = {"api-gateway: stopped",    "task-dispatcher: stopped",
                           "usage-ingester: stopped", "rollup-scheduler: stopped",
                           "kafka: stopped",          "postgres: stopped"};
    for (size_t i = 0; i < MC_ARRAY_LEN(parts); i++)
        ck_assert_msg(output_has("status", parts[i]), "after a failed start, not '%s'", parts[i]);
}

START_TEST(a_port_answered_by_another_process_stops_the_start)
{
    /* Another process holds the gateway's port and even answers its health check, as a
     * second stack or an old gateway would: the start must not claim success. */
    int port = th_free_port();
    char impostor[512];
    snprintf(impostor, sizeof impostor,
             "import http.server\n"
             "class H(http.server.BaseHTTPRequestHandler):\n"
             "    def do_GET(self):\n"
             "        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')\n"
             "    def log_message(self, *a): pass\n"
             "http.server.HTTPServer(('127.0.0.1', %d), H).serve_forever()\n",
             port);
    const char *argv[] = {"/usr/bin/python3", "-c", impostor, NULL};
    th_spawn_argv(argv, NULL, "impostor");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    ck_assert_int_eq(th_wait_http_ok(url, 10000), 200);
    char env[2048];
    stack_env(env, sizeof env, port);
    ck_assert_int_ne(devstack(env, "start", NULL), 0);
    ck_assert(!output_has("start", "Multica-C is running"));
    ck_assert(output_has("start", "GATEWAY_PORT"));
    assert_all_stopped(env);
}
END_TEST

/* A request to the stack make run started; returns its status, and the body in out (freed by
 * the caller) when out is not NULL. No assertion here: the stack must be stopped first. */
static int call(const char *base, const char *method, const char *path, const char *token,
                const char *body, char **out)
{
    char url[512], auth[1200];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    char *text = NULL;
    int status = th_http(method, url, headers, body, &text);
    if (out)
        *out = text;
    else
        free(text);
    return status;
}

/* The gateway make run started serves the page, its script and the CLI's sign-in page, and, to
 * a user signed in with the dev code, the reads the page draws. Returns what went wrong, or
 * NULL. */
static const char *page_and_reads_are_served(int port, char why[512])
{
    char base[64], *text = NULL;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    static const char *const files[][2] = {
        {"/", "/assets/app.js"}, {"/login", "/assets/app.js"}, {"/assets/app.js", "cli_callback"}};
    for (size_t i = 0; i < MC_ARRAY_LEN(files); i++) {
        int status = call(base, "GET", files[i][0], NULL, NULL, &text);
        bool ok = status == 200 && text && strstr(text, files[i][1]);
        free(text);
        if (!ok) {
            snprintf(why, 512, "GET %s: %d, or without %s", files[i][0], status, files[i][1]);
            return why;
        }
    }
    call(base, "POST", "/api/auth/send-code", NULL, "{\"email\":\"dev@example.com\"}", NULL);
    call(base, "POST", "/api/auth/verify-code", NULL,
         "{\"email\":\"dev@example.com\",\"code\":\"424242\"}", &text);
    json_t *login = json_loads(text ? text : "", 0, NULL);
    free(text);
    char *token = mc_strdup(json_string_value(json_object_get(login, "token")));
    json_decref(login);
    call(base, "POST", "/api/workspaces", token, "{\"name\":\"dev\"}", &text);
    json_t *ws = json_loads(text ? text : "", 0, NULL);
    free(text);
    const char *id = json_string_value(json_object_get(ws, "id"));
    const char *reads[] = {"/api/dashboard/usage/daily", "/api/dashboard/usage/by-agent",
                           "/api/projects", "/api/pricing"};
    const char *failed = NULL;
    for (size_t i = 0; i < MC_ARRAY_LEN(reads) && failed == NULL; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s?workspace_id=%s", reads[i], id ? id : "none");
        int status = call(base, "GET", path, token, NULL, NULL);
        if (status != 200) {
            snprintf(why, 512, "GET %s: %d", path, status);
            failed = why;
        }
    }
    json_decref(ws);
    free(token);
    return failed;
}

START_TEST(a_part_that_fails_stops_what_the_start_brought_up)
{
    char env[2048];
    int port = th_free_port();
    stack_env(env, sizeof env, port);
    /* Postgres and Kafka start, then every service refuses its configuration. */
    ck_assert_int_ne(devstack(env, "start", "LOG_LEVEL=bogus"), 0);
    ck_assert(!output_has("start", "Multica-C is running"));
    ck_assert(output_has("start", "stopping what this run started"));
    assert_all_stopped(env);
    /* And a good start afterwards works and says so; stop takes everything down. */
    ck_assert_int_eq(devstack(env, "start", "MULTICA_DEV_VERIFICATION_CODE=424242"), 0);
    ck_assert(output_has("start", "Multica-C is running"));
    char why[512];
    const char *failed = page_and_reads_are_served(port, why);
    ck_assert_int_eq(devstack(env, "stop", NULL), 0);
    ck_assert_msg(failed == NULL, "make run: %s", failed);
    assert_all_stopped(env);
}
END_TEST

Suite *suite_devstack(void)
{
    Suite *s = suite_create("devstack");
    TCase *tc = tcase_create("make-run");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, a_port_answered_by_another_process_stops_the_start);
    tcase_add_test(tc, a_part_that_fails_stops_what_the_start_brought_up);
    suite_add_tcase(s, tc);
    return s;
}
