/* test_devstack.c: `make run` (tools/devstack.sh) tells the truth: a port held by another
 * process stops the start before anything runs, and a part that fails to start takes down
 * what that start brought up. Each case starts its own stack on free ports in its own folder. */
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

START_TEST(a_part_that_fails_stops_what_the_start_brought_up)
{
    char env[2048];
    stack_env(env, sizeof env, th_free_port());
    /* Postgres and Kafka start, then every service refuses its configuration. */
    ck_assert_int_ne(devstack(env, "start", "LOG_LEVEL=bogus"), 0);
    ck_assert(!output_has("start", "Multica-C is running"));
    ck_assert(output_has("start", "stopping what this run started"));
    assert_all_stopped(env);
    /* And a good start afterwards works and says so; stop takes everything down. */
    ck_assert_int_eq(devstack(env, "start", NULL), 0);
    ck_assert(output_has("start", "Multica-C is running"));
    ck_assert_int_eq(devstack(env, "stop", NULL), 0);
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
