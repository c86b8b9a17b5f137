/* test_dispatch.c: the task-dispatcher against a real Postgres and Apache Kafka: the task
 * lifecycle and its versions, refused and malformed commands, lease expiry, runtimes going
 * offline or silent, running timeout and queued TTL, reassignment, deletion, two dispatchers
 * sharing 200 tasks within capacity, and the state machine's SQL rules. */
#include "harness.h"
#include "mc_proto.h"
#include "usage_gen.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define WS "0195f1c2-0000-7000-8000-0000000000b1"

/* Deterministic ids: runtimes, agents, issues and tasks each have their own prefix. */
static void rt_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000001, n);
}
static void agent_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000002, n);
}
static void issue_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000003, n);
}
static void task_id(char out[MC_UUID_STRLEN], unsigned long n)
{
    tu_uuid(out, 0xd0000004, n);
}

static const char *g_brokers;
static mc_producer *g_prod;

/* ---- processes ---- */

struct dispatcher {
    pid_t pid;
    int port;
    char name[32];
};

static bool log_has_within(const char *name, const char *n1, const char *n2, const char *n3,
                           int timeout_ms);

/* Starts a dispatcher on the current test database and waits until it has joined the consumer
 * group, so that the timers a test runs start from when its commands are consumed; extra:
 * "K=V" entries, NULL-terminated. */
static void start_dispatcher(struct dispatcher *d, const char *name, const char *const *extra)
{
    char *env[24];
    int n = 0;
    d->port = th_free_port();
    snprintf(d->name, sizeof d->name, "%s", name);
    env[n++] = mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_dispatch"));
    env[n++] = mc_sprintf("KAFKA_BROKERS=%s", g_brokers);
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
    ck_assert(log_has_within(d->name, "partitions assigned", NULL, NULL, 30000));
}

/* SIGTERM must end the service promptly with status 0 (under ASan: no leak, no UB report). */
static void stop_dispatcher(struct dispatcher *d)
{
    int status = th_stop(d->pid, SIGTERM, 20000);
    ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s did not exit cleanly (status %d)", d->name, status);
}

static void setup(int partitions)
{
    th_db_new();
    g_brokers = th_broker_start(partitions);
    g_prod = tu_producer(g_brokers);
}

static void teardown_producer(void)
{
    mc_producer_free(g_prod, 5000);
    g_prod = NULL;
}

/* ---- commands ---- */

/* Encodes and sends one message keyed by its subject. */
static void send_event(const char *topic, const char *type, const char *subject, json_t *data)
{
    char *v = mc_event_encode(type, "test", subject, data, NULL);
    ck_assert_msg(v != NULL, "cannot encode %s", type);
    tu_send(g_prod, topic, &v, NULL, 1);
    free(v);
}

static void runtime_event(const char *type, const char *runtime, int max)
{
    json_t *d = json_pack("{ss ss}", "runtime_id", runtime, "workspace_id", WS);
    if (max > 0)
        json_object_set_new(d, "max_concurrency", json_integer(max));
    send_event(MC_TOPIC_RUNTIME_EVENTS, type, runtime, d);
}

static void heartbeat(const char *runtime, int max)
{
    runtime_event(MC_EV_RUNTIME_HEARTBEAT, runtime, max);
}

static void request(const char *task, const char *agent, const char *runtime, const char *issue,
                    int agent_max)
{
    json_t *d = json_pack("{ss ss ss ss s:s? ss si}", "task_id", task, "workspace_id", WS,
                          "agent_id", agent, "runtime_id", runtime, "issue_id", issue, "title",
                          "fix the flaky test", "priority", 2);
    if (agent_max > 0)
        json_object_set_new(d, "agent_max_concurrent_tasks", json_integer(agent_max));
    send_event(MC_TOPIC_TASK_COMMANDS, MC_EV_TASK_REQUESTED, task, d);
}

/* A report from a runtime: start, progress (seq, text), completion (text = result) or failure
 * (text = reason). */
static void report(const char *type, const char *task, const char *runtime, int seq,
                   const char *text)
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
    send_event(MC_TOPIC_TASK_COMMANDS, type, task, d);
}

static void cancel(const char *task, bool del)
{
    json_t *d =
        json_pack("{ss ss sb}", "task_id", task, "reason", "issue unassigned", "delete", del);
    send_event(MC_TOPIC_TASK_COMMANDS, MC_EV_TASK_CANCEL_REQUESTED, task, d);
}

/* ---- observing ---- */

/* Polls an SQL count until it equals want. */
static bool sql_becomes(const char *sql, int64_t want, int timeout_ms)
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

/* Waits until the task has the status (and, when version > 0, the version). */
static void wait_task(const char *task, const char *status, int64_t version, int timeout_ms)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND "
             "status = '%s' AND (%lld = 0 OR version = %lld)",
             task, status, (long long)version, (long long)version);
    ck_assert_msg(sql_becomes(sql, 1, timeout_ms), "task %s never became %s (v%lld)", task, status,
                  (long long)version);
}

static int64_t task_int(const char *task, const char *column)
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
static json_t *events_on_topic(int *redelivered)
{
    ck_assert(sql_becomes("SELECT count(*) FROM dispatch.outbox", 0, 20000));
    json_t *msgs = th_consume_all(g_brokers, MC_TOPIC_TASK_EVENTS);
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

static json_t *all_events(void)
{
    return events_on_topic(NULL);
}

/* The events of one task, in order (new array). */
static json_t *events_of(const json_t *all, const char *task)
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

static const char *dstr(const json_t *ev, const char *key)
{
    return json_string_value(json_object_get(json_object_get(ev, "data"), key));
}

static int64_t dint(const json_t *ev, const char *key)
{
    const json_t *v = json_object_get(json_object_get(ev, "data"), key);
    ck_assert_msg(json_is_integer(v), "data.%s is not an integer", key);
    return json_integer_value(v);
}

/* Checks event i of evs: type, version, status, and the attribution. */
static void expect_event(const json_t *evs, size_t i, const char *type, int64_t version,
                         const char *status, const char *runtime)
{
    ck_assert_msg(i < json_array_size(evs), "event %zu missing (have %zu)", i,
                  json_array_size(evs));
    const json_t *ev = json_array_get(evs, i);
    ck_assert_str_eq(json_string_value(json_object_get(ev, "type")), type);
    ck_assert_int_eq(dint(ev, "version"), version);
    ck_assert_str_eq(dstr(ev, "status"), status);
    ck_assert_str_eq(dstr(ev, "workspace_id"), WS);
    ck_assert_str_eq(dstr(ev, "runtime_id"), runtime);
    ck_assert_ptr_nonnull(dstr(ev, "agent_id"));
    ck_assert_ptr_nonnull(dstr(ev, "at"));
}

/* The value of one series on a dispatcher's /metrics, or -1 when it is absent. */
static double metric(const struct dispatcher *d, const char *series)
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

/* Number of lines of a process's log holding every needle. */
static int log_lines(const char *name, const char *n1, const char *n2, const char *n3)
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

static bool log_has_within(const char *name, const char *n1, const char *n2, const char *n3,
                           int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    while (log_lines(name, n1, n2, n3) == 0 && mc_now_mono_ms() < deadline)
        usleep(50 * 1000);
    return log_lines(name, n1, n2, n3) > 0;
}

/* ---- tests ---- */

START_TEST(lifecycle_versions_one_to_four)
{
    setup(4);
    struct dispatcher d;
    start_dispatcher(&d, "dispatcher", NULL);
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], issue[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    rt_id(rt, 1);
    agent_id(agent, 1);
    issue_id(issue, 1);
    task_id(task, 1);
    heartbeat(rt, 2);
    request(task, agent, rt, issue, 1);
    request(task, agent, rt, issue, 1); /* the gateway retried: a known task id is a no-op */
    wait_task(task, "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    wait_task(task, "running", 3, 20000);
    report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "opened PR #42");
    wait_task(task, "completed", 4, 20000);

    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND "
             "completed_at IS NOT NULL AND started_at IS NOT NULL AND dispatched_at IS NOT NULL "
             "AND completed_at >= started_at AND result = 'opened PR #42' AND attempt = 1 AND "
             "lease_until IS NULL AND workspace_id = '%s' AND issue_id = '%s'",
             task, WS, issue);
    ck_assert_int_eq(th_sql_int(sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT (string_agg(coalesce(from_status, '-') || '>' || to_status || ':' || "
             "version, ',' ORDER BY version) = '->queued:1,queued>dispatched:2,"
             "dispatched>running:3,running>completed:4')::int FROM dispatch.task_transitions "
             "WHERE task_id = '%s'",
             task);
    ck_assert_int_eq(th_sql_int(sql), 1);

    json_t *all = all_events();
    json_t *evs = events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 4);
    expect_event(evs, 0, MC_EV_TASK_QUEUED, 1, "queued", rt);
    expect_event(evs, 1, MC_EV_TASK_DISPATCHED, 2, "dispatched", rt);
    expect_event(evs, 2, MC_EV_TASK_STARTED, 3, "running", rt);
    expect_event(evs, 3, MC_EV_TASK_COMPLETED, 4, "completed", rt);
    ck_assert_str_eq(dstr(json_array_get(evs, 0), "issue_id"), issue);
    ck_assert_str_eq(dstr(json_array_get(evs, 0), "agent_id"), agent);
    ck_assert_int_eq(dint(json_array_get(evs, 1), "attempt"), 1);
    ck_assert_ptr_nonnull(dstr(json_array_get(evs, 1), "lease_until"));
    ck_assert_str_eq(dstr(json_array_get(evs, 3), "result"), "opened PR #42");

    ck_assert(metric(&d, "multica_dispatcher_commands_total{type=\"task_requested\"}") == 2);
    ck_assert(metric(&d, "multica_dispatcher_commands_total{type=\"runtime_heartbeat\"}") == 1);
    ck_assert(metric(&d, "multica_dispatcher_dispatches_total") == 1);
    ck_assert(metric(&d, "multica_dispatcher_transitions_total{to=\"completed\"}") == 1);
    ck_assert(metric(&d, "multica_dispatcher_dispatch_latency_seconds_count") == 1);
    ck_assert(metric(&d, "multica_dispatcher_events_published_total") == 4);
    ck_assert(metric(&d, "multica_dispatcher_outbox_backlog") >= 0);
    json_decref(evs);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(reports_only_from_the_holder_and_progress_is_idempotent)
{
    setup(2);
    struct dispatcher d;
    start_dispatcher(&d, "dispatcher", NULL);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    rt_id(r1, 1);
    rt_id(r2, 2);
    agent_id(agent, 1);
    task_id(task, 1);
    heartbeat(r1, 1);
    heartbeat(r2, 1);
    request(task, agent, r1, NULL, 0);
    wait_task(task, "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, task, r2, 0, NULL); /* not the holder */
    report(MC_EV_TASK_START_REPORTED, task, r1, 0, NULL);
    report(MC_EV_TASK_START_REPORTED, task, r1, 0, NULL); /* start twice: illegal */
    report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 1, "cloning");
    report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 1, "cloning"); /* duplicate */
    report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 0, "late");    /* older */
    report(MC_EV_TASK_PROGRESS_REPORTED, task, r1, 2, "testing");
    report(MC_EV_TASK_PROGRESS_REPORTED, task, r2, 3, "intruder");
    report(MC_EV_TASK_COMPLETION_REPORTED, task, r2, 0, "not mine");
    report(MC_EV_TASK_FAILURE_REPORTED, task, r1, 0, "tests failed");
    wait_task(task, "failed", 6, 20000);
    ck_assert_int_eq(task_int(task, "last_progress_seq"), 2);
    ck_assert_int_eq(task_int(task, "(completed_at IS NOT NULL)::int"), 1);
    ck_assert_int_eq(task_int(task, "(failure_reason = 'tests failed')::int"), 1);

    json_t *all = all_events();
    json_t *evs = events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 6);
    expect_event(evs, 0, MC_EV_TASK_QUEUED, 1, "queued", r1);
    ck_assert(
        json_is_null(json_object_get(json_object_get(json_array_get(evs, 0), "data"), "issue_id")));
    expect_event(evs, 1, MC_EV_TASK_DISPATCHED, 2, "dispatched", r1);
    expect_event(evs, 2, MC_EV_TASK_STARTED, 3, "running", r1);
    expect_event(evs, 3, MC_EV_TASK_PROGRESS, 4, "running", r1);
    ck_assert_int_eq(dint(json_array_get(evs, 3), "seq"), 1);
    ck_assert_str_eq(dstr(json_array_get(evs, 3), "text"), "cloning");
    expect_event(evs, 4, MC_EV_TASK_PROGRESS, 5, "running", r1);
    ck_assert_int_eq(dint(json_array_get(evs, 4), "seq"), 2);
    ck_assert_str_eq(dstr(json_array_get(evs, 4), "text"), "testing");
    expect_event(evs, 5, MC_EV_TASK_FAILED, 6, "failed", r1);
    ck_assert_str_eq(dstr(json_array_get(evs, 5), "reason"), "tests failed");

    ck_assert(
        metric(&d, "multica_dispatcher_refused_commands_total{reason=\"runtime_mismatch\"}") == 3);
    ck_assert(metric(&d, "multica_dispatcher_illegal_transitions_total") == 1);
    ck_assert_int_eq(log_lines(d.name, "held by another runtime", task, r2), 3);
    ck_assert_int_eq(log_lines(d.name, "illegal transition refused", task,
                               "\"from\":\"running\",\"to\":\"running\""),
                     1);
    json_decref(evs);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(illegal_transition_and_malformed_commands_are_refused)
{
    setup(2);
    struct dispatcher d;
    start_dispatcher(&d, "dispatcher", NULL);
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN], ghost[MC_UUID_STRLEN];
    rt_id(rt, 1);
    agent_id(agent, 1);
    task_id(task, 1);
    task_id(ghost, 99);
    request(task, agent, rt, NULL, 0); /* its runtime never registered: it stays queued */
    wait_task(task, "queued", 1, 20000);
    /* Garbage, a task event where commands belong, and a report missing its runtime. */
    char *bad[3];
    bad[0] = mc_strdup("{\"specversion\":\"1.0\",");
    bad[1] = tu_task_event(MC_EV_TASK_COMPLETED, task, WS, agent, rt, NULL, 9);
    char *valid = mc_event_encode(MC_EV_TASK_START_REPORTED, "test", task,
                                  json_pack("{ss ss}", "task_id", task, "runtime_id", rt), NULL);
    char *cut = strstr(valid, ",\"runtime_id\"");
    ck_assert_ptr_nonnull(cut);
    bad[2] = mc_sprintf("%.*s%s", (int)(cut - valid), valid, strstr(cut, "}"));
    free(valid);
    const char *keys[] = {task, task, task};
    tu_send(g_prod, MC_TOPIC_TASK_COMMANDS, bad, keys, 3);
    report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "done"); /* queued -> completed */
    report(MC_EV_TASK_START_REPORTED, ghost, rt, 0, NULL);       /* unknown task */
    ck_assert(log_has_within(d.name, "illegal transition refused", task,
                             "\"from\":\"queued\",\"to\":\"completed\"", 20000));
    ck_assert(log_has_within(d.name, "unknown task", ghost, NULL, 20000));
    ck_assert_int_eq(log_lines(d.name, "\"level\":\"info\"", "illegal transition refused", task),
                     1);
    ck_assert_int_eq(log_lines(d.name, "message skipped", "invalid JSON", NULL), 1);
    ck_assert_int_eq(log_lines(d.name, "message skipped", "is not something the dispatcher", NULL),
                     1);
    ck_assert_int_eq(log_lines(d.name, "message skipped", "runtime_id", "is required"), 1);
    /* Nothing changed, and nothing was logged as our fault. */
    ck_assert_int_eq(task_int(task, "version"), 1);
    ck_assert_int_eq(task_int(task, "(status = 'queued' AND completed_at IS NULL)::int"), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 1);
    ck_assert_int_eq(log_lines(d.name, "\"level\":\"error\"", NULL, NULL), 0);
    ck_assert(metric(&d, "multica_dispatcher_illegal_transitions_total") == 1);
    ck_assert(metric(&d, "multica_dispatcher_commands_invalid_total") == 3);
    ck_assert(metric(&d, "multica_dispatcher_refused_commands_total{reason=\"unknown_task\"}") ==
              1);
    /* The consumer went on: once its runtime shows up the task is dispatched. */
    heartbeat(rt, 1);
    wait_task(task, "dispatched", 2, 20000);
    json_t *all = all_events();
    ck_assert_uint_eq(json_array_size(all), 2);
    json_decref(all);
    for (int i = 0; i < 3; i++)
        free(bad[i]);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(lease_expiry_requeues_and_redelivers)
{
    setup(2);
    struct dispatcher d;
    const char *extra[] = {"DISPATCH_LEASE=3s", NULL};
    start_dispatcher(&d, "dispatcher", extra);
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], task[MC_UUID_STRLEN];
    rt_id(rt, 1);
    agent_id(agent, 1);
    task_id(task, 1);
    heartbeat(rt, 1);
    request(task, agent, rt, NULL, 0);
    wait_task(task, "dispatched", 2, 20000);
    int64_t t0 = mc_now_mono_ms();
    /* The daemon never starts it: the lease runs out, the task is requeued and, its runtime
     * being online, dispatched again at once. */
    wait_task(task, "dispatched", 4, 20000);
    ck_assert_int_ge(mc_now_mono_ms() - t0, 2000);
    ck_assert_int_eq(task_int(task, "attempt"), 2);
    report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    report(MC_EV_TASK_COMPLETION_REPORTED, task, rt, 0, "done");
    wait_task(task, "completed", 6, 20000);
    json_t *all = all_events();
    json_t *evs = events_of(all, task);
    ck_assert_uint_eq(json_array_size(evs), 6);
    expect_event(evs, 1, MC_EV_TASK_DISPATCHED, 2, "dispatched", rt);
    ck_assert_int_eq(dint(json_array_get(evs, 1), "attempt"), 1);
    expect_event(evs, 2, MC_EV_TASK_REQUEUED, 3, "queued", rt);
    ck_assert_str_eq(dstr(json_array_get(evs, 2), "reason"), "lease_expired");
    ck_assert_int_eq(dint(json_array_get(evs, 2), "attempt"), 2);
    expect_event(evs, 3, MC_EV_TASK_DISPATCHED, 4, "dispatched", rt);
    ck_assert_int_eq(dint(json_array_get(evs, 3), "attempt"), 2);
    ck_assert_str_ne(dstr(json_array_get(evs, 3), "lease_until"),
                     dstr(json_array_get(evs, 1), "lease_until"));
    expect_event(evs, 5, MC_EV_TASK_COMPLETED, 6, "completed", rt);
    ck_assert(metric(&d, "multica_dispatcher_requeues_total") == 1);
    ck_assert(metric(&d, "multica_dispatcher_dispatches_total") == 2);
    json_decref(evs);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(runtime_offline_or_silent_requeues_dispatched_tasks)
{
    setup(2);
    struct dispatcher d;
    const char *extra[] = {"RUNTIME_ONLINE_WINDOW=5s", NULL};
    start_dispatcher(&d, "dispatcher", extra);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], a1[MC_UUID_STRLEN], a2[MC_UUID_STRLEN];
    char t1[MC_UUID_STRLEN], t2[MC_UUID_STRLEN], t3[MC_UUID_STRLEN];
    rt_id(r1, 1);
    rt_id(r2, 2);
    agent_id(a1, 1);
    agent_id(a2, 2);
    task_id(t1, 1);
    task_id(t2, 2);
    task_id(t3, 3);
    heartbeat(r1, 2);
    heartbeat(r2, 1);
    request(t1, a1, r1, NULL, 2);
    request(t2, a1, r1, NULL, 2);
    request(t3, a2, r2, NULL, 1);
    wait_task(t1, "dispatched", 2, 20000);
    wait_task(t2, "dispatched", 2, 20000);
    wait_task(t3, "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, t2, r1, 0, NULL);
    wait_task(t2, "running", 3, 20000);
    /* r1 says goodbye (right after a heartbeat, so that silence cannot be what takes it
     * down): its dispatched task goes back to the queue and stays there while r1 is offline;
     * the running one is left to finish or time out. */
    heartbeat(r1, 2);
    runtime_event(MC_EV_RUNTIME_OFFLINE, r1, 0);
    wait_task(t1, "queued", 3, 20000);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.runtimes WHERE runtime_id = '%s' AND offline_at IS "
             "NOT NULL",
             r1);
    ck_assert_int_eq(th_sql_int(sql), 1);
    /* r2 just stops sending heartbeats: past the online window it counts as gone. */
    wait_task(t3, "queued", 3, 20000);
    usleep(1000 * 1000);
    ck_assert_int_eq(task_int(t1, "version"), 3);
    ck_assert_int_eq(task_int(t2, "(status = 'running')::int"), 1);
    /* r1 comes back and gets its task again. */
    heartbeat(r1, 2);
    wait_task(t1, "dispatched", 4, 20000);
    ck_assert_int_eq(task_int(t1, "attempt"), 2);
    json_t *all = all_events();
    json_t *e1 = events_of(all, t1), *e3 = events_of(all, t3);
    expect_event(e1, 2, MC_EV_TASK_REQUEUED, 3, "queued", r1);
    ck_assert_str_eq(dstr(json_array_get(e1, 2), "reason"), "runtime_offline");
    expect_event(e1, 3, MC_EV_TASK_DISPATCHED, 4, "dispatched", r1);
    expect_event(e3, 2, MC_EV_TASK_REQUEUED, 3, "queued", r2);
    ck_assert_str_eq(dstr(json_array_get(e3, 2), "reason"), "runtime_silent");
    ck_assert_uint_eq(json_array_size(e3), 3);
    json_decref(e1);
    json_decref(e3);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(running_timeout_requeues_then_fails_and_queued_tasks_expire)
{
    setup(2);
    struct dispatcher d;
    const char *extra[] = {"RUNNING_TIMEOUT=2s", "MAX_ATTEMPTS=2", "QUEUED_TTL=3s", NULL};
    start_dispatcher(&d, "dispatcher", extra);
    char rt[MC_UUID_STRLEN], nowhere[MC_UUID_STRLEN], a1[MC_UUID_STRLEN], a2[MC_UUID_STRLEN];
    char task[MC_UUID_STRLEN], stale[MC_UUID_STRLEN];
    rt_id(rt, 1);
    rt_id(nowhere, 9);
    agent_id(a1, 1);
    agent_id(a2, 2);
    task_id(task, 1);
    task_id(stale, 2);
    heartbeat(rt, 1);
    request(task, a1, rt, NULL, 0);
    request(stale, a2, nowhere, NULL, 0); /* no runtime will ever take it */
    wait_task(task, "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    wait_task(task, "running", 3, 20000);
    /* Silent (no progress, no heartbeat) for 2 s: requeued with attempts left, redispatched. */
    wait_task(task, "dispatched", 5, 20000);
    ck_assert_int_eq(task_int(task, "attempt"), 2);
    /* The queued one expired meanwhile. */
    wait_task(stale, "cancelled", 2, 20000);
    ck_assert_int_eq(task_int(stale, "(completed_at IS NOT NULL)::int"), 1);
    /* Progress keeps a running task alive past the timeout... */
    report(MC_EV_TASK_START_REPORTED, task, rt, 0, NULL);
    wait_task(task, "running", 6, 20000);
    for (int i = 1; i <= 3; i++) {
        usleep(900 * 1000);
        report(MC_EV_TASK_PROGRESS_REPORTED, task, rt, i, "still working");
    }
    wait_task(task, "running", 9, 20000);
    /* ...and silence on the last attempt fails it. */
    wait_task(task, "failed", 10, 20000);
    ck_assert_int_eq(task_int(task, "(completed_at IS NOT NULL AND failure_reason = "
                                    "'running_timeout')::int"),
                     1);
    json_t *all = all_events();
    json_t *evs = events_of(all, task), *st = events_of(all, stale);
    ck_assert_uint_eq(json_array_size(evs), 10);
    expect_event(evs, 3, MC_EV_TASK_REQUEUED, 4, "queued", rt);
    ck_assert_str_eq(dstr(json_array_get(evs, 3), "reason"), "running_timeout");
    ck_assert_int_eq(dint(json_array_get(evs, 3), "attempt"), 2);
    expect_event(evs, 9, MC_EV_TASK_FAILED, 10, "failed", rt);
    ck_assert_str_eq(dstr(json_array_get(evs, 9), "reason"), "running_timeout");
    ck_assert_uint_eq(json_array_size(st), 2);
    expect_event(st, 1, MC_EV_TASK_CANCELLED, 2, "cancelled", nowhere);
    ck_assert_str_eq(dstr(json_array_get(st, 1), "reason"), "expired");
    json_decref(evs);
    json_decref(st);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(agent_runtime_change_reassigns_unfinished_tasks)
{
    setup(3);
    struct dispatcher d;
    start_dispatcher(&d, "dispatcher", NULL);
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], t[4][MC_UUID_STRLEN];
    rt_id(r1, 1);
    rt_id(r2, 2);
    agent_id(agent, 1);
    for (int i = 0; i < 4; i++)
        task_id(t[i], (unsigned long)i);
    heartbeat(r1, 3);
    /* t0 finishes on r1; then t1..t3 arrive: the agent runs two at a time, so t3 waits. */
    request(t[0], agent, r1, NULL, 2);
    wait_task(t[0], "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, t[0], r1, 0, NULL);
    report(MC_EV_TASK_COMPLETION_REPORTED, t[0], r1, 0, "done");
    wait_task(t[0], "completed", 4, 20000);
    for (int i = 1; i < 4; i++)
        request(t[i], agent, r1, NULL, 2);
    wait_task(t[1], "dispatched", 2, 20000);
    wait_task(t[2], "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, t[1], r1, 0, NULL);
    wait_task(t[1], "running", 3, 20000);
    ck_assert_int_eq(task_int(t[3], "version"), 1);
    /* The agent moves to r2 (not online yet, so the moved tasks stay queued). */
    json_t *data = json_pack("{ss ss ss ss}", "agent_id", agent, "workspace_id", WS, "runtime_id",
                             r2, "old_runtime_id", r1);
    send_event(MC_TOPIC_TASK_COMMANDS, MC_EV_AGENT_RUNTIME_CHANGED, agent, data);
    wait_task(t[1], "queued", 4, 20000);
    wait_task(t[2], "queued", 3, 20000);
    wait_task(t[3], "queued", 2, 20000);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE runtime_id = '%s'", r2);
    ck_assert_int_eq(th_sql_int(sql), 3);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE event = 'reassigned' AND "
             "old_runtime_id = '%s' AND runtime_id = '%s' AND to_status = 'queued'",
             r1, r2);
    ck_assert_int_eq(th_sql_int(sql), 3);
    ck_assert_int_eq(task_int(t[0], "version"), 4);
    /* The old runtime's late report is refused; the new one gets the tasks. */
    report(MC_EV_TASK_COMPLETION_REPORTED, t[1], r1, 0, "late");
    ck_assert(log_has_within(d.name, "held by another runtime", t[1], r1, 20000));
    heartbeat(r2, 3);
    wait_task(t[1], "dispatched", 5, 20000);
    wait_task(t[2], "dispatched", 4, 20000);
    ck_assert_int_eq(task_int(t[3], "version"), 2);
    json_t *all = all_events();
    int reassigned = 0;
    for (int i = 1; i < 4; i++) {
        json_t *evs = events_of(all, t[i]);
        json_t *last = NULL;
        size_t k;
        json_t *ev;
        json_array_foreach(evs, k, ev)
        {
            if (strcmp(json_string_value(json_object_get(ev, "type")), MC_EV_TASK_REASSIGNED) == 0)
                last = ev;
        }
        ck_assert_ptr_nonnull(last);
        ck_assert_str_eq(dstr(last, "old_runtime_id"), r1);
        ck_assert_str_eq(dstr(last, "runtime_id"), r2);
        ck_assert_str_eq(dstr(last, "status"), "queued");
        ck_assert_str_eq(dstr(last, "reason"), "agent_runtime_changed");
        reassigned++;
        json_decref(evs);
    }
    ck_assert_int_eq(reassigned, 3);
    json_t *e0 = events_of(all, t[0]);
    ck_assert_uint_eq(json_array_size(e0), 4); /* finished tasks stay where they ran */
    json_decref(e0);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(cancel_with_delete_emits_task_deleted)
{
    setup(2);
    struct dispatcher d;
    start_dispatcher(&d, "dispatcher", NULL);
    char rt[MC_UUID_STRLEN], nowhere[MC_UUID_STRLEN], agent[MC_UUID_STRLEN];
    char queued[MC_UUID_STRLEN], done[MC_UUID_STRLEN], kept[MC_UUID_STRLEN];
    rt_id(rt, 1);
    rt_id(nowhere, 9);
    agent_id(agent, 1);
    task_id(queued, 1);
    task_id(done, 2);
    task_id(kept, 3);
    heartbeat(rt, 1);
    request(done, agent, rt, NULL, 0);
    wait_task(done, "dispatched", 2, 20000);
    report(MC_EV_TASK_START_REPORTED, done, rt, 0, NULL);
    report(MC_EV_TASK_COMPLETION_REPORTED, done, rt, 0, "done");
    wait_task(done, "completed", 4, 20000);
    char a2[MC_UUID_STRLEN];
    agent_id(a2, 2);
    request(queued, a2, nowhere, NULL, 0);
    request(kept, a2, nowhere, NULL, 0);
    wait_task(queued, "queued", 1, 20000);
    wait_task(kept, "queued", 1, 20000);
    cancel(queued, true); /* unfinished: cancelled, then deleted */
    cancel(kept, false);  /* unassigned only */
    cancel(done, false);  /* finished: cannot be cancelled */
    cancel(done, true);   /* but can be deleted */
    cancel(done, true);   /* once */
    wait_task(queued, "cancelled", 3, 20000);
    wait_task(kept, "cancelled", 2, 20000);
    wait_task(done, "completed", 5, 20000);
    report(MC_EV_TASK_START_REPORTED, queued, nowhere, 0, NULL);
    ck_assert(log_has_within(d.name, "the task was deleted", queued, NULL, 20000));
    ck_assert_int_eq(task_int(queued, "(deleted_at IS NOT NULL AND completed_at IS NOT NULL)::int"),
                     1);
    ck_assert_int_eq(task_int(done, "(deleted_at IS NOT NULL)::int"), 1);
    ck_assert_int_eq(task_int(kept, "(deleted_at IS NULL)::int"), 1);
    ck_assert_int_eq(log_lines(d.name, "illegal transition refused", done,
                               "\"from\":\"completed\",\"to\":\"cancelled\""),
                     1);
    json_t *all = all_events();
    json_t *eq = events_of(all, queued), *ed = events_of(all, done), *ek = events_of(all, kept);
    ck_assert_uint_eq(json_array_size(eq), 3);
    expect_event(eq, 1, MC_EV_TASK_CANCELLED, 2, "cancelled", nowhere);
    ck_assert_str_eq(dstr(json_array_get(eq, 1), "reason"), "issue unassigned");
    expect_event(eq, 2, MC_EV_TASK_DELETED, 3, "deleted", nowhere);
    ck_assert_uint_eq(json_array_size(ed), 5);
    expect_event(ed, 4, MC_EV_TASK_DELETED, 5, "deleted", rt);
    ck_assert_uint_eq(json_array_size(ek), 2);
    expect_event(ek, 1, MC_EV_TASK_CANCELLED, 2, "cancelled", nowhere);
    json_decref(eq);
    json_decref(ed);
    json_decref(ek);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

START_TEST(postgres_outage_pauses_and_loses_nothing)
{
    setup(3);
    struct dispatcher d;
    start_dispatcher(&d, "dispatcher", NULL);
    enum { N = 12 };
    char rt[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], t[N][MC_UUID_STRLEN];
    rt_id(rt, 1);
    agent_id(agent, 1);
    heartbeat(rt, N / 2);
    for (int i = 0; i < N; i++) {
        task_id(t[i], (unsigned long)i);
        request(t[i], agent, rt, NULL, N / 2);
    }
    ck_assert(sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                          "'dispatched'",
                          N / 2, 20000));
    /* Every request is in (a real broker hands the partitions' messages over in several
     * fetches, so the first dispatches may come before the last requests). */
    ck_assert(sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue", N, 20000));
    /* Which half went out depends on the order the partitions were consumed in. */
    bool first[N];
    for (int i = 0; i < N; i++)
        first[i] = task_int(t[i], "(status = 'dispatched')::int") == 1;
    /* The database goes away while the daemons report: the reports wait in the paused batch
     * and in Kafka, and are applied once it is back. */
    th_postgres_stop_now();
    for (int i = 0; i < N; i++) {
        if (first[i]) {
            report(MC_EV_TASK_START_REPORTED, t[i], rt, 0, NULL);
            report(MC_EV_TASK_COMPLETION_REPORTED, t[i], rt, 0, "done");
        }
    }
    ck_assert(log_has_within(d.name, "consumption paused", NULL, NULL, 20000));
    usleep(2000 * 1000);
    th_postgres_start_now();
    PQreset(th_pg()); /* the test's own connection died with the server */
    ck_assert(log_has_within(d.name, "consumption resumed", NULL, NULL, 30000));
    ck_assert(sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                          "'completed'",
                          N / 2, 30000));
    /* The freed capacity goes to the other half. */
    for (int i = 0; i < N; i++) {
        if (!first[i]) {
            wait_task(t[i], "dispatched", 2, 20000);
            report(MC_EV_TASK_START_REPORTED, t[i], rt, 0, NULL);
            report(MC_EV_TASK_COMPLETION_REPORTED, t[i], rt, 0, "done");
        }
    }
    ck_assert(sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                          "'completed' AND version = 4",
                          N, 30000));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 4 * N);
    /* A relay round cut off by the outage is produced again: at least once, never a change
     * that did not happen. */
    int redelivered = 0;
    json_t *all = events_on_topic(&redelivered);
    ck_assert_uint_eq(json_array_size(all), 4 * N);
    ck_assert_int_le(redelivered, 3 * N);
    json_decref(all);
    ck_assert_int_eq(log_lines(d.name, "illegal transition refused", NULL, NULL), 0);
    teardown_producer();
    stop_dispatcher(&d);
}
END_TEST

/* ---- two dispatchers, 200 tasks, 4 runtimes of capacity 2 ---- */

enum { CAP_TASKS = 200, CAP_RUNTIMES = 4, CAP_AGENTS = 8, CAP_ISSUES = 5, CAP_MAX = 2 };

/* A simulated fleet of daemons: it reads task events and, for every TaskDispatched, reports
 * the start at once and the completion a little later, as the holding runtime. */
struct fleet {
    pthread_t thread;
    atomic_int stop;
    int dispatch_versions[CAP_TASKS]; /* distinct TaskDispatched versions seen per task */
    int64_t dispatched_version[CAP_TASKS];
    int completions[CAP_TASKS];
    int send_errors;
    atomic_int completed_seen;
};

struct pending {
    char task[MC_UUID_STRLEN];
    char runtime[MC_UUID_STRLEN];
    int64_t due;
};

static char *fleet_command(const char *type, const char *task, const char *runtime)
{
    json_t *d = json_pack("{ss ss}", "task_id", task, "runtime_id", runtime);
    if (strcmp(type, MC_EV_TASK_COMPLETION_REPORTED) == 0)
        json_object_set_new(d, "result", json_string("ok"));
    return mc_event_encode(type, "test-fleet", task, d, NULL);
}

static void fleet_send(mc_producer *p, struct fleet *f, char **values, const char **keys, size_t n)
{
    if (n == 0)
        return;
    struct mc_kmsg m[64];
    for (size_t i = 0; i < n; i++)
        m[i] = (struct mc_kmsg){.topic = MC_TOPIC_TASK_COMMANDS,
                                .key = keys[i],
                                .keylen = 36,
                                .value = values[i],
                                .len = strlen(values[i])};
    if (mc_producer_send(p, m, n) != 0)
        f->send_errors++;
    for (size_t i = 0; i < n; i++)
        free(values[i]);
}

static void *fleet_main(void *arg)
{
    struct fleet *f = arg;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", mc_topic("test-fleet"), err, sizeof err);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    mc_producer *p = mc_producer_new(g_brokers, "test-fleet", 30000, err, sizeof err);
    if (rk == NULL || p == NULL) {
        f->send_errors++;
        return NULL;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < 8; i++)
        rd_kafka_topic_partition_list_add(parts, mc_topic(MC_TOPIC_TASK_EVENTS), i)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    static struct pending pend[1024];
    size_t npend = 0;
    uint64_t seed = 5;
    while (!atomic_load(&f->stop)) {
        char *values[64];
        const char *keys[64];
        size_t n = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 5);
        if (m != NULL && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
            const char *type = json_string_value(json_object_get(ev, "type"));
            json_t *data = json_object_get(ev, "data");
            const char *task = json_string_value(json_object_get(data, "task_id"));
            const char *rt = json_string_value(json_object_get(data, "runtime_id"));
            int64_t version = json_integer_value(json_object_get(data, "version"));
            unsigned long idx = task ? strtoul(task + 24, NULL, 16) : CAP_TASKS;
            if (type && idx < CAP_TASKS && strcmp(type, MC_EV_TASK_DISPATCHED) == 0 &&
                f->dispatched_version[idx] != version) {
                f->dispatched_version[idx] = version;
                f->dispatch_versions[idx]++;
                keys[n] = task;
                values[n++] = fleet_command(MC_EV_TASK_START_REPORTED, task, rt);
                fleet_send(p, f, values, keys, n);
                n = 0;
                if (npend < MC_ARRAY_LEN(pend)) {
                    struct pending *q = &pend[npend++];
                    snprintf(q->task, sizeof q->task, "%s", task);
                    snprintf(q->runtime, sizeof q->runtime, "%s", rt);
                    q->due = mc_now_mono_ms() + 10 + (int64_t)(tu_rand(&seed) % 60);
                }
            } else if (type && idx < CAP_TASKS && strcmp(type, MC_EV_TASK_COMPLETED) == 0) {
                if (f->completions[idx]++ == 0)
                    atomic_fetch_add(&f->completed_seen, 1);
            }
            json_decref(ev);
        }
        if (m != NULL)
            rd_kafka_message_destroy(m);
        int64_t now = mc_now_mono_ms();
        for (size_t i = 0; i < npend && n < 64;) {
            if (pend[i].due <= now) {
                keys[n] = pend[i].task;
                values[n++] =
                    fleet_command(MC_EV_TASK_COMPLETION_REPORTED, pend[i].task, pend[i].runtime);
                i++;
            } else {
                i++;
            }
        }
        fleet_send(p, f, values, keys, n);
        /* Drop what was sent (keys pointed into pend until the send returned). */
        size_t k = 0;
        for (size_t i = 0; i < npend; i++)
            if (pend[i].due > now)
                pend[k++] = pend[i];
        npend = k;
    }
    mc_producer_free(p, 5000);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

/* Samples the queue while the fleet works: the most active tasks ever seen on one runtime,
 * for one agent, and for one (agent, issue). */
struct sampler {
    pthread_t thread;
    atomic_int stop;
    char url[256];
    int64_t max_runtime, max_agent, max_issue, samples;
};

static void *sampler_main(void *arg)
{
    struct sampler *s = arg;
    PGconn *c = PQconnectdb(s->url);
    const char *sql =
        "WITH a AS (SELECT runtime_id, agent_id, issue_id FROM dispatch.agent_task_queue "
        "WHERE status IN ('dispatched', 'running')) "
        "SELECT (SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM a GROUP BY runtime_id) x),"
        " (SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM a GROUP BY agent_id) y),"
        " (SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM a WHERE issue_id IS NOT NULL "
        "GROUP BY agent_id, issue_id) z)";
    while (!atomic_load(&s->stop) && PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            int64_t v[3];
            for (int i = 0; i < 3; i++)
                v[i] = strtoll(PQgetvalue(r, 0, i), NULL, 10);
            s->max_runtime = v[0] > s->max_runtime ? v[0] : s->max_runtime;
            s->max_agent = v[1] > s->max_agent ? v[1] : s->max_agent;
            s->max_issue = v[2] > s->max_issue ? v[2] : s->max_issue;
            s->samples++;
        }
        PQclear(r);
        usleep(5 * 1000);
    }
    PQfinish(c);
    return NULL;
}

START_TEST(two_dispatchers_keep_capacity_and_dispatch_each_task_once)
{
    const char *admin = th_db_new();
    g_brokers = th_broker_start(8);
    g_prod = tu_producer(g_brokers);
    struct dispatcher d[2];
    start_dispatcher(&d[0], "dispatcher-0", NULL);
    start_dispatcher(&d[1], "dispatcher-1", NULL);
    static struct fleet f;
    memset(&f, 0, sizeof f);
    static struct sampler s;
    memset(&s, 0, sizeof s);
    snprintf(s.url, sizeof s.url, "%s", admin);
    ck_assert_int_eq(pthread_create(&f.thread, NULL, fleet_main, &f), 0);
    ck_assert_int_eq(pthread_create(&s.thread, NULL, sampler_main, &s), 0);
    char rts[CAP_RUNTIMES][MC_UUID_STRLEN];
    for (int r = 0; r < CAP_RUNTIMES; r++) {
        rt_id(rts[r], (unsigned long)r);
        runtime_event(MC_EV_RUNTIME_REGISTERED, rts[r], CAP_MAX);
    }
    /* 8 agents, two per runtime, each allowed 2 at once: the runtime's capacity is what
     * binds. Each agent's 25 tasks share 5 issues, so the one-per-issue rule binds too. */
    char *values[CAP_TASKS];
    for (int i = 0; i < CAP_TASKS; i++) {
        char task[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], issue[MC_UUID_STRLEN];
        int a = i % CAP_AGENTS;
        task_id(task, (unsigned long)i);
        agent_id(agent, (unsigned long)a);
        issue_id(issue, (unsigned long)(a * CAP_ISSUES + (i / CAP_AGENTS) % CAP_ISSUES));
        json_t *data = json_pack("{ss ss ss ss ss si}", "task_id", task, "workspace_id", WS,
                                 "agent_id", agent, "runtime_id", rts[a % CAP_RUNTIMES], "issue_id",
                                 issue, "agent_max_concurrent_tasks", CAP_MAX);
        values[i] = mc_event_encode(MC_EV_TASK_REQUESTED, "test", task, data, NULL);
        ck_assert_ptr_nonnull(values[i]);
    }
    tu_send(g_prod, MC_TOPIC_TASK_COMMANDS, values, NULL, CAP_TASKS);
    for (int i = 0; i < CAP_TASKS; i++)
        free(values[i]);
    bool done = sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
                            "'completed'",
                            CAP_TASKS, 90000);
    int64_t deadline = mc_now_mono_ms() + 20000;
    while (atomic_load(&f.completed_seen) < CAP_TASKS && mc_now_mono_ms() < deadline)
        usleep(50 * 1000);
    atomic_store(&f.stop, 1);
    atomic_store(&s.stop, 1);
    pthread_join(f.thread, NULL);
    pthread_join(s.thread, NULL);
    ck_assert_msg(done, "not every task completed");

    /* Capacity, sampled while it ran and replayed from the transitions log. */
    ck_assert_int_gt(s.samples, 50);
    ck_assert_int_le(s.max_runtime, CAP_MAX);
    ck_assert_int_eq(s.max_runtime, CAP_MAX); /* the runtimes were really kept full */
    ck_assert_int_le(s.max_agent, CAP_MAX);
    ck_assert_int_le(s.max_issue, 1);
    ck_assert_int_le(
        th_sql_int("SELECT coalesce(max(active), 0) FROM ("
                   " SELECT sum(CASE WHEN to_status = 'dispatched' THEN 1"
                   "  WHEN from_status IN ('dispatched', 'running') AND to_status NOT "
                   "IN ('dispatched', 'running') THEN -1 ELSE 0 END)"
                   "  OVER (PARTITION BY coalesce(old_runtime_id, runtime_id) ORDER BY "
                   "at, id) AS active FROM dispatch.task_transitions) s"),
        CAP_MAX);
    /* Each task dispatched once, started once, completed once: versions 1..4, nothing else. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM (SELECT task_id FROM "
                                "dispatch.task_transitions GROUP BY task_id HAVING "
                                "string_agg(event, ',' ORDER BY version) = "
                                "'queued,dispatched,started,completed' AND max(version) = 4) s"),
                     CAP_TASKS);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 4 * CAP_TASKS);
    ck_assert_int_eq(f.send_errors, 0);
    for (int i = 0; i < CAP_TASKS; i++) {
        ck_assert_msg(f.dispatch_versions[i] == 1, "task %d dispatched %d times", i,
                      f.dispatch_versions[i]);
        ck_assert_msg(f.completions[i] == 1, "task %d: %d TaskCompleted seen", i, f.completions[i]);
    }
    /* The replicas shared the work and together dispatched exactly 200 times. */
    double n0 = metric(&d[0], "multica_dispatcher_dispatches_total");
    double n1 = metric(&d[1], "multica_dispatcher_dispatches_total");
    ck_assert_msg(n0 + n1 == CAP_TASKS, "dispatches %g + %g", n0, n1);
    json_t *all = all_events();
    ck_assert_uint_eq(json_array_size(all), 4 * CAP_TASKS);
    json_decref(all);
    teardown_producer();
    stop_dispatcher(&d[0]);
    stop_dispatcher(&d[1]);
}
END_TEST

/* ---- the SQL functions directly (no broker) ---- */

/* Runs a state-machine call and returns how many rows had the given outcome. */
static int64_t outcome_count(const char *outcome, const char *call)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE outcome = '%s'", call, outcome);
    return th_sql_int(sql);
}

START_TEST(state_machine_rules_in_sql)
{
    th_db_new();
    char r1[MC_UUID_STRLEN], r2[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], issue[MC_UUID_STRLEN];
    char t[4][MC_UUID_STRLEN], call[512], sql[512];
    rt_id(r1, 1);
    rt_id(r2, 2);
    agent_id(agent, 1);
    issue_id(issue, 1);
    for (int i = 0; i < 4; i++)
        task_id(t[i], (unsigned long)i);
    /* The agent moved to r2 a minute ago; a TaskRequested sent before that (naming r1) but
     * consumed after it lands on r2, and a stale AgentRuntimeChanged moves nothing back. */
    snprintf(call, sizeof call,
             "dispatch.change_agent_runtime('%s', '%s', '%s', now() - interval '1 minute')", agent,
             WS, r2);
    ck_assert_int_eq(outcome_count("applied", call), 0);
    snprintf(call, sizeof call,
             "dispatch.request_task('%s', '%s', '%s', '%s', '%s', 't', 0, 3, "
             "now() - interval '2 minutes')",
             t[0], WS, agent, r1, issue);
    ck_assert_int_eq(outcome_count("applied", call), 1);
    ck_assert_int_eq(task_int(t[0], "(runtime_id = '"
                                    "d0000001-0000-7000-8000-000000000002"
                                    "')::int"),
                     1);
    snprintf(call, sizeof call,
             "dispatch.change_agent_runtime('%s', '%s', '%s', now() - interval '10 minutes')",
             agent, WS, r1);
    ck_assert_int_eq(outcome_count("applied", call), 0);
    /* A stale TaskRequested did not lower the agent's concurrency either (still 1). */
    ck_assert_int_eq(th_sql_int("SELECT max_concurrent_tasks FROM dispatch.agents"), 1);
    /* Three more tasks for the same agent, two on the same issue. */
    for (int i = 1; i < 4; i++) {
        snprintf(call, sizeof call,
                 "dispatch.request_task('%s', '%s', '%s', '%s', %s, 't', 0, 2, now())", t[i], WS,
                 agent, r2, i == 1 ? "'d0000003-0000-7000-8000-000000000001'" : "NULL");
        ck_assert_int_eq(outcome_count("applied", call), 1);
    }
    ck_assert_int_eq(th_sql_int("SELECT max_concurrent_tasks FROM dispatch.agents"), 2);
    /* Runtime r2 with capacity 5: the agent's limit (2) binds and the second task on the
     * issue waits; an offline event older than the heartbeat changes nothing. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dispatch.runtime_seen('%s', '%s', 5, now())",
             r2, WS);
    ck_assert_int_eq(th_sql_int(sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.runtime_offline('%s', '%s', now() - interval '1 "
             "hour')",
             r2, WS);
    ck_assert_int_eq(th_sql_int(sql), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.runtimes WHERE offline_at IS NULL"),
                     1);
    snprintf(call, sizeof call, "dispatch.dispatch_tasks('90 seconds', '150 seconds', 100)");
    ck_assert_int_eq(outcome_count("applied", call), 2);
    ck_assert_int_eq(task_int(t[0], "(status = 'dispatched')::int"), 1);
    ck_assert_int_eq(task_int(t[1], "(status = 'queued')::int"), 1); /* same issue as t0 */
    ck_assert_int_eq(task_int(t[2], "(status = 'dispatched')::int"), 1);
    ck_assert_int_eq(task_int(t[3], "(status = 'queued')::int"), 1); /* agent at its limit */
    /* Every change is in the log with its version; the outbox is the service's to fill. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM dispatch.task_transitions"), 6);
    /* Illegal moves are refused and change nothing. */
    snprintf(call, sizeof call, "dispatch.finish_task('%s', '%s', 'completed', 'x', NULL)", t[3],
             r2);
    ck_assert_int_eq(outcome_count("refused", call), 1);
    snprintf(call, sizeof call, "dispatch.start_task('%s', '%s')", t[0], r1);
    ck_assert_int_eq(outcome_count("refused", call), 1);
    ck_assert_int_eq(task_int(t[3], "version"), 1);
    /* Every table and column of the slice is documented. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                "c.relnamespace WHERE n.nspname = 'dispatch' AND c.relkind = 'r' "
                                "AND c.relname <> 'schema_migrations' AND "
                                "obj_description(c.oid, 'pg_class') IS NULL"),
                     0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = "
                                "a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'dispatch' AND c.relkind IN ('r', 'c') AND "
                                "c.relname <> 'schema_migrations' AND a.attnum > 0 AND NOT "
                                "a.attisdropped AND col_description(c.oid, a.attnum) IS NULL"),
                     0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                "c.relnamespace WHERE n.nspname = 'dispatch' AND c.relkind = 'r' "
                                "AND pg_get_userbyid(c.relowner) <> 'multica_dispatch'"),
                     0);
}
END_TEST

Suite *suite_dispatch(void)
{
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("dispatcher");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, state_machine_rules_in_sql);
    tcase_add_test(tc, lifecycle_versions_one_to_four);
    tcase_add_test(tc, reports_only_from_the_holder_and_progress_is_idempotent);
    tcase_add_test(tc, illegal_transition_and_malformed_commands_are_refused);
    tcase_add_test(tc, lease_expiry_requeues_and_redelivers);
    tcase_add_test(tc, runtime_offline_or_silent_requeues_dispatched_tasks);
    tcase_add_test(tc, running_timeout_requeues_then_fails_and_queued_tasks_expire);
    tcase_add_test(tc, agent_runtime_change_reassigns_unfinished_tasks);
    tcase_add_test(tc, cancel_with_delete_emits_task_deleted);
    tcase_add_test(tc, postgres_outage_pauses_and_loses_nothing);
    tcase_add_test(tc, two_dispatchers_keep_capacity_and_dispatch_each_task_once);
    suite_add_tcase(s, tc);
    return s;
}
