/* dispatch_util.c: what the dispatch test files share (ids, a dispatcher process, commands,
 * reading task events back, metrics and logs), and the dispatch suite made of their cases. */
#include "dispatch_util.h"
#include "mc_proto.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void dt_rt_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000001, n);
}
void dt_agent_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000002, n);
}
void dt_issue_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000003, n);
}
void dt_task_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000004, n);
}

const char *dt_brokers;
mc_producer *dt_prod;

/* ---- processes ---- */

/* Starts a dispatcher on the current test database and waits until it has joined the consumer
 * group, so that the timers a test runs start from when its commands are consumed; extra:
 * "K=V" entries, NULL-terminated. */
void dt_start_dispatcher(struct dispatcher *d, const char *name, const char *const *extra)
{
    char *env[24];
    int n = 0;
    d->port = th_free_port();
    snprintf(d->name, sizeof d->name, "%s", name);
    env[n++] = mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_dispatch"));
    env[n++] = mc_sprintf("KAFKA_BROKERS=%s", dt_brokers);
    env[n++] = mc_sprintf("HTTP_PORT=%d", d->port);
    env[n++] = mc_sprintf("HTTP_BIND=127.0.0.1");
    env[n++] = mc_sprintf("KAFKA_CONFIG=session.timeout.ms=6000,heartbeat.interval.ms=500");
    env[n++] = mc_sprintf("LOG_LEVEL=info");
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        env[n++] = mc_sprintf("%s", extra[i]);
    env[n] = NULL;
    d->pid = th_spawn(th_bin("multica-task-dispatcher"), (const char *const *)env, name);
    for (int i = 0; i < n; i++)
        free(env[i]);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", d->port);
    ck_assert_int_eq(th_wait_http_ok(url, 30000), 200);
    ck_assert(dt_log_has_within(d->name, "partitions assigned", NULL, NULL, 30000));
}

/* SIGTERM must end the service promptly with status 0 (under ASan: no leak, no UB report). */
void dt_stop_dispatcher(struct dispatcher *d)
{
    int status = th_stop(d->pid, SIGTERM, 20000);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s did not exit cleanly (status %d)", d->name, status);
}

void dt_setup(int partitions)
{
    th_db_new();
    dt_brokers = th_broker_start(partitions);
    dt_prod = tu_producer(dt_brokers);
}

void dt_teardown_producer(void)
{
    mc_producer_free(dt_prod, 5000);
    dt_prod = NULL;
}

/* ---- commands ---- */

void dt_send_event(const char *topic, const char *type, const char *subject, json_t *data)
{
    char *v = mc_event_encode(type, "test", subject, data, NULL);
    ck_assert_msg(v != NULL, "cannot encode %s", type);
    tu_send(dt_prod, topic, &v, NULL, 1);
    free(v);
}

void dt_runtime_event(const char *type, const char *runtime, int max)
{
    json_t *d = json_pack("{ss ss}", "runtime_id", runtime, "workspace_id", WS);
    if (max > 0)
        json_object_set_new(d, "max_concurrency", json_integer(max));
    dt_send_event(MC_TOPIC_RUNTIME_EVENTS, type, runtime, d);
}

void dt_heartbeat(const char *runtime, int max)
{
    dt_runtime_event(MC_EV_RUNTIME_HEARTBEAT, runtime, max);
}

void dt_request(const char *task, const char *agent, const char *runtime, const char *issue,
                int agent_max)
{
    dt_request_prio(task, agent, runtime, issue, agent_max, 2);
}

void dt_request_prio(const char *task, const char *agent, const char *runtime, const char *issue,
                     int agent_max, int priority)
{
    json_t *d = json_pack("{ss ss ss ss s:s? ss si}", "task_id", task, "workspace_id", WS,
                          "agent_id", agent, "runtime_id", runtime, "issue_id", issue, "title",
                          "fix the flaky test", "priority", priority);
    if (agent_max > 0)
        json_object_set_new(d, "agent_max_concurrent_tasks", json_integer(agent_max));
    dt_send_event(MC_TOPIC_TASK_COMMANDS, MC_EV_TASK_REQUESTED, task, d);
}

void dt_report(const char *type, const char *task, const char *runtime, int seq, const char *text)
{
    json_t *d = json_pack("{ss ss}", "task_id", task, "runtime_id", runtime);
    if (strcmp(type, MC_EV_TASK_PROGRESS_REPORTED) == 0) {
        json_object_set_new(d, "seq", json_integer(seq));
        json_object_set_new(d, "text", json_string(text));
    } else if (strcmp(type, MC_EV_TASK_COMPLETION_REPORTED) == 0) {
        json_object_set_new(d, "result", json_string(text));
    } else if (strcmp(type, MC_EV_TASK_FAILURE_REPORTED) == 0) {
        json_object_set_new(d, "reason", json_string(text));
    }
    dt_send_event(MC_TOPIC_TASK_COMMANDS, type, task, d);
}

/* ---- observing ---- */

bool dt_sql_becomes(const char *sql, int64_t want, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    int64_t got = th_sql_int(sql);
    while (got != want && mc_now_mono_ms() < deadline) {
        usleep(50 * 1000);
        got = th_sql_int(sql);
    }
    if (got != want)
        fprintf(stderr, "sql_becomes: %s: %lld, wanted %lld\n", sql, (long long)got,
                (long long)want);
    return got == want;
}

void dt_wait_task(const char *task, const char *status, int64_t version, int timeout_ms)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND "
             "status = '%s' AND (%lld = 0 OR version = %lld)",
             task, status, (long long)version, (long long)version);
    ck_assert_msg(dt_sql_becomes(sql, 1, timeout_ms), "task %s never became %s (v%lld)", task,
                  status, (long long)version);
}

int64_t dt_task_int(const char *task, const char *column)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM dispatch.agent_task_queue WHERE task_id = '%s'",
             column, task);
    return th_sql_int(sql);
}

/* Every task event on the topic, once the outbox is empty, decoded; captured for the contract
 * suite. Checks that each message is keyed by its task and that each task's events appear in
 * strictly increasing version order (the per-key order the relay promises). When redelivered
 * is not NULL, an event produced again (same task, version and event id: the relay lost the
 * deletion of a round the broker had acknowledged) is counted there and left out. */
json_t *dt_events_on_topic(int *redelivered)
{
    ck_assert(dt_sql_becomes("SELECT count(*) FROM dispatch.outbox", 0, 20000));
    json_t *msgs = th_consume_all(dt_brokers, MC_TOPIC_TASK_EVENTS);
    th_capture(msgs);
    json_t *out = json_array(), *last = json_object(), *ids = json_object();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *v = json_string_value(json_object_get(m, "value"));
        struct mc_event ev;
        char reason[256], key[128];
        ck_assert_msg(mc_event_decode(v, strlen(v), &ev, reason, sizeof reason) == 0, "%s: %s",
                      reason, v);
        const char *task = json_string_value(json_object_get(ev.data, "task_id"));
        ck_assert_str_eq(json_string_value(json_object_get(m, "key")), task);
        ck_assert_str_eq(ev.subject, task);
        ck_assert_str_eq(ev.source, "task-dispatcher");
        json_int_t version = json_integer_value(json_object_get(ev.data, "version"));
        json_int_t prev = json_integer_value(json_object_get(last, task));
        snprintf(key, sizeof key, "%s/%lld", task, (long long)version);
        const char *seen = json_string_value(json_object_get(ids, key));
        if (redelivered != NULL && seen != NULL) {
            ck_assert_str_eq(seen, ev.id);
            (*redelivered)++;
        } else {
            ck_assert_msg(version > prev, "task %s: version %lld after %lld", task,
                          (long long)version, (long long)prev);
            json_object_set_new(last, task, json_integer(version));
            json_object_set_new(ids, key, json_string(ev.id));
            json_array_append(out, ev.root);
        }
        mc_event_clear(&ev);
    }
    json_decref(ids);
    json_decref(last);
    json_decref(msgs);
    return out;
}

json_t *dt_all_events(void)
{
    return dt_events_on_topic(NULL);
}

json_t *dt_events_of(const json_t *all, const char *task)
{
    json_t *out = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        const char *t = json_string_value(json_object_get(json_object_get(ev, "data"), "task_id"));
        if (strcmp(t, task) == 0)
            json_array_append(out, ev);
    }
    return out;
}

const char *dt_dstr(const json_t *ev, const char *key)
{
    return json_string_value(json_object_get(json_object_get(ev, "data"), key));
}

int64_t dt_dint(const json_t *ev, const char *key)
{
    const json_t *v = json_object_get(json_object_get(ev, "data"), key);
    ck_assert_msg(json_is_integer(v), "data.%s is not an integer", key);
    return json_integer_value(v);
}

void dt_expect_event(const json_t *evs, size_t i, const char *type, int64_t version,
                     const char *status, const char *runtime)
{
    ck_assert_msg(i < json_array_size(evs), "event %zu missing (have %zu)", i,
                  json_array_size(evs));
    const json_t *ev = json_array_get(evs, i);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), type);
    ck_assert_int_eq(dt_dint(ev, "version"), version);
    ck_assert_str_eq(dt_dstr(ev, "status"), status);
    ck_assert_str_eq(dt_dstr(ev, "workspace_id"), WS);
    ck_assert_str_eq(dt_dstr(ev, "runtime_id"), runtime);
    ck_assert_ptr_nonnull(dt_dstr(ev, "agent_id"));
    ck_assert_ptr_nonnull(dt_dstr(ev, "at"));
}

double dt_metric(const struct dispatcher *d, const char *series)
{
    char url[128], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", d->port);
    ck_assert_int_eq(th_http("GET", url, NULL, NULL, &body), 200);
    double v = -1;
    size_t len = strlen(series);
    for (const char *line = body; line != NULL && *line != '\0';) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ') {
            v = strtod(line + len + 1, NULL);
            break;
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    free(body);
    return v;
}

int dt_log_lines(const char *name, const char *n1, const char *n2, const char *n3)
{
    char path[700], line[8192];
    snprintf(path, sizeof path, "%s/%s.log", th_tmpdir(), name);
    FILE *f = fopen(path, "r");
    int count = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strstr(line, n1) && (!n2 || strstr(line, n2)) && (!n3 || strstr(line, n3)))
            count++;
    if (f != NULL)
        fclose(f);
    return count;
}

bool dt_log_has_within(const char *name, const char *n1, const char *n2, const char *n3,
                       int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    while (dt_log_lines(name, n1, n2, n3) == 0 && mc_now_mono_ms() < deadline)
        usleep(50 * 1000);
    return dt_log_lines(name, n1, n2, n3) > 0;
}

/* One suite, one case per file, so CK_RUN_SUITE=dispatch runs them all and CK_RUN_CASE one
 * behaviour. */
Suite *suite_dispatch(void)
{
    Suite *s = suite_create("dispatch");
    suite_add_tcase(s, dt_case_sql());
    suite_add_tcase(s, dt_case_sets());
    suite_add_tcase(s, dt_case_lifecycle());
    suite_add_tcase(s, dt_case_reclaim());
    suite_add_tcase(s, dt_case_outage());
    suite_add_tcase(s, dt_case_capacity());
    suite_add_tcase(s, dt_case_fairness());
    return s;
}
