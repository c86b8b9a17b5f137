/* test_service.c: every service binary: configuration errors, /healthz shape, 503 while
 * Postgres is down and recovery, migrations out of date, clean exit on SIGTERM. */
#include "harness.h"
#include "mc_db.h"
#include "mc_kafka.h"
#include "usage_gen.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *const services[][2] = {
    {"multica-api-gateway", "multica_gateway"},
    {"multica-task-dispatcher", "multica_dispatch"},
    {"multica-usage-ingester", "multica_usage"},
    {"multica-rollup-scheduler", "multica_scheduler"},
};

static pid_t start_service(int i, const char *brokers, int port, const char *extra)
{
    static char env[7][512];
    snprintf(env[0], sizeof env[0], "DATABASE_URL=%s", th_db_url_as(services[i][1]));
    snprintf(env[1], sizeof env[1], "KAFKA_BROKERS=%s", brokers);
    snprintf(env[2], sizeof env[2], "HTTP_PORT=%d", port);
    snprintf(env[3], sizeof env[3], "HTTP_BIND=127.0.0.1");
    snprintf(env[4], sizeof env[4], "%s", extra ? extra : "LOG_LEVEL=info");
    snprintf(env[5], sizeof env[5], "APP_ENV=development");
    const char *envp[] = {env[0], env[1], env[2], env[3], env[4], env[5], NULL};
    return th_spawn(th_bin(services[i][0]), envp, services[i][0]);
}

START_TEST(configuration_error_names_the_variable)
{
    th_db_new();
    for (int i = 0; i < 4; i++) {
        pid_t pid = start_service(i, "127.0.0.1:1", 1, "HTTP_PORT=abc");
        int status = th_wait_exit(pid, 10000);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 2,
                      "%s did not exit with 2", services[i][0]);
        char path[700], line[1024] = "";
        snprintf(path, sizeof path, "%s/%s.log", th_tmpdir(), services[i][0]);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        fclose(f);
        ck_assert_msg(strstr(line, "HTTP_PORT: must be an integer in 1..65535, got 'abc'"), "%s",
                      line);
        unlink(path);
    }
}
END_TEST

START_TEST(healthz_follows_postgres_and_sigterm_is_clean)
{
    th_db_new();
    const char *brokers = th_broker_start(1);
    int ports[4];
    pid_t pids[4];
    char url[4][128];
    for (int i = 0; i < 4; i++) {
        ports[i] = th_free_port();
        pids[i] = start_service(i, brokers, ports[i], NULL);
        snprintf(url[i], sizeof url[i], "http://127.0.0.1:%d/healthz", ports[i]);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(th_wait_http_ok(url[i], 30000), 200);
        /* The three services that consume report their consumer once it exists (the gateway
         * starts its projection after it serves HTTP); the scheduler only produces. */
        bool consumes = strstr(services[i][0], "scheduler") == NULL;
        const char *want = consumes ? "{\"status\":\"ok\",\"checks\":{\"db\":\"ok\","
                                      "\"migrations\":\"ok\",\"kafka\":\"ok\","
                                      "\"consumer\":\"ok\"}}"
                                    : "{\"status\":\"ok\",\"checks\":{\"db\":\"ok\","
                                      "\"migrations\":\"ok\",\"kafka\":\"ok\"}}";
        char *body = NULL;
        for (int k = 0; k < 100; k++) {
            free(body);
            body = NULL;
            ck_assert_int_eq(th_http("GET", url[i], NULL, NULL, &body), 200);
            if (strcmp(body, want) == 0)
                break;
            usleep(100 * 1000);
        }
        ck_assert_str_eq(body, want);
        free(body);
    }
    th_postgres_stop_now();
    for (int i = 0; i < 4; i++) {
        char *body = NULL;
        int status = 0;
        for (int k = 0; k < 50 && status != 503; k++) {
            free(body);
            body = NULL;
            status = th_http("GET", url[i], NULL, NULL, &body);
            if (status != 503)
                usleep(100 * 1000);
        }
        ck_assert_int_eq(status, 503);
        ck_assert_msg(strstr(body, "\"status\":\"not_ready\"") && strstr(body, "\"db\":\"error\""),
                      "%s", body);
        free(body);
        /* Liveness stays up: a database outage must not get the pod restarted. */
        char live[128];
        snprintf(live, sizeof live, "http://127.0.0.1:%d/health", ports[i]);
        ck_assert_int_eq(th_http("GET", live, NULL, NULL, NULL), 200);
    }
    th_postgres_start_now();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(th_wait_http_ok(url[i], 30000), 200);
    for (int i = 0; i < 4; i++) {
        int64_t t0 = mc_now_mono_ms();
        int status = th_stop(pids[i], SIGTERM, 10000);
        ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "%s did not exit cleanly", services[i][0]);
        ck_assert_int_lt(mc_now_mono_ms() - t0, 5000);
    }
}
END_TEST

START_TEST(migrations_behind_the_binary_are_reported)
{
    const char *admin = th_db_new();
    char err[512];
    const struct mc_slice *usage = mc_slice_find("usage");
    ck_assert_msg(mc_migrate_down(admin, usage, 1, true, err, sizeof err) == 0, "%s", err);
    const char *brokers = th_broker_start(1);
    int port = th_free_port();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    pid_t pid = start_service(2, brokers, port, "MIGRATE_ON_START=false");
    char *body = NULL;
    int status = 0;
    for (int k = 0; k < 100 && status != 503; k++) {
        free(body);
        body = NULL;
        status = th_http("GET", url, NULL, NULL, &body);
        usleep(100 * 1000);
    }
    ck_assert_int_eq(status, 503);
    ck_assert_msg(strstr(body, "\"migrations\":\"out_of_date\""), "%s", body);
    free(body);
    th_stop(pid, SIGTERM, 10000);
    /* With MIGRATE_ON_START (the default) the service brings its own slice up to date. */
    pid = start_service(2, brokers, port, NULL);
    ck_assert_int_eq(th_wait_http_ok(url, 30000), 200);
    th_stop(pid, SIGTERM, 10000);
}
END_TEST

static bool all_answer(void *arg)
{
    int *want = arg;
    char(*urls)[128] = (char(*)[128])(want + 1);
    for (int i = 0; i < 4; i++)
        if (th_http("GET", urls[i], NULL, NULL, NULL) != want[0])
            return false;
    return true;
}

START_TEST(a_20_second_broker_outage_is_ridden_out)
{
    th_db_new();
    const char *brokers = th_broker_start(2);
    struct {
        int want;
        char urls[4][128];
    } probe;
    for (int i = 0; i < 4; i++) {
        int port = th_free_port();
        start_service(i, brokers, port,
                      "KAFKA_CONFIG=session.timeout.ms=6000,heartbeat.interval.ms=500");
        snprintf(probe.urls[i], sizeof probe.urls[i], "http://127.0.0.1:%d/healthz", port);
    }
    probe.want = 200;
    ck_assert(th_eventually(all_answer, &probe, 30000));
    th_broker_stop_now();
    probe.want = 503;
    ck_assert_msg(th_eventually(all_answer, &probe, 15000), "a service kept answering 200");
    char *body = NULL;
    ck_assert_int_eq(th_http("GET", probe.urls[2], NULL, NULL, &body), 503);
    ck_assert_msg(strstr(body, "\"kafka\":\"error\"") && strstr(body, "\"db\":\"ok\""), "%s", body);
    free(body);
    usleep(20 * 1000 * 1000);
    th_broker_start_now();
    probe.want = 200;
    ck_assert_msg(th_eventually(all_answer, &probe, 30000), "a service did not recover");
    /* And the pipeline works again: an event produced now is applied. */
    mc_producer *p = tu_producer(brokers);
    char *ev = tu_usage_event("0195f1c2-7a3b-7c4d-8e5f-00000000c0de", "openai", "gpt-5", 1, 2, 3, 4,
                              mc_now_wall_us());
    tu_send(p, MC_TOPIC_USAGE_EVENTS, &ev, NULL, 1);
    free(ev);
    mc_producer_free(p, 1000);
    int64_t deadline = mc_now_mono_ms() + 30000;
    while (th_sql_int("SELECT count(*) FROM usage.task_usage") == 0 && mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 1);
}
END_TEST

Suite *suite_service(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, configuration_error_names_the_variable);
    tcase_add_test(tc, healthz_follows_postgres_and_sigterm_is_clean);
    tcase_add_test(tc, migrations_behind_the_binary_are_reported);
    tcase_add_test(tc, a_20_second_broker_outage_is_ridden_out);
    suite_add_tcase(s, tc);
    return s;
}
