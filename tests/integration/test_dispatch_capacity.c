/* test_dispatch_capacity.c: two dispatchers share 200 tasks among four runtimes of capacity
 * two, with a simulated fleet of daemons answering: capacity, the agent limit and one task per
 * issue hold throughout, and each task is dispatched exactly once. */
#include "dispatch_util.h"
#include "mc_proto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    rd_kafka_conf_set(conf, "bootstrap.servers", dt_brokers, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", mc_topic("test-fleet"), err, sizeof err);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    mc_producer *p = mc_producer_new(dt_brokers, "test-fleet", 30000, err, sizeof err);
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
    dt_brokers = th_broker_start(8);
    dt_prod = tu_producer(dt_brokers);
    struct dispatcher d[2];
    /* Each task's lifecycle is counted exactly below: no TaskWaiting (the fairness case's
     * business) however long the tail of the queue waits on a slow machine. */
    const char *quiet[] = {"DISPATCH_WAIT_NOTICE=24h", NULL};
    dt_start_dispatcher(&d[0], "dispatcher-0", quiet);
    dt_start_dispatcher(&d[1], "dispatcher-1", quiet);
    static struct fleet f;
    memset(&f, 0, sizeof f);
    static struct sampler s;
    memset(&s, 0, sizeof s);
    snprintf(s.url, sizeof s.url, "%s", admin);
    ck_assert_int_eq(pthread_create(&f.thread, NULL, fleet_main, &f), 0);
    ck_assert_int_eq(pthread_create(&s.thread, NULL, sampler_main, &s), 0);
    char rts[CAP_RUNTIMES][MC_UUID_STRLEN];
    for (int r = 0; r < CAP_RUNTIMES; r++) {
        dt_rt_id(rts[r], (unsigned long)r);
        dt_runtime_event(MC_EV_RUNTIME_REGISTERED, rts[r], CAP_MAX);
    }
    /* 8 agents, two per runtime, each allowed 2 at once: the runtime's capacity is what
     * binds. Each agent's 25 tasks share 5 issues, so the one-per-issue rule binds too. */
    char *values[CAP_TASKS];
    for (int i = 0; i < CAP_TASKS; i++) {
        char task[MC_UUID_STRLEN], agent[MC_UUID_STRLEN], issue[MC_UUID_STRLEN];
        int a = i % CAP_AGENTS;
        dt_task_id(task, (unsigned long)i);
        dt_agent_id(agent, (unsigned long)a);
        dt_issue_id(issue, (unsigned long)(a * CAP_ISSUES + (i / CAP_AGENTS) % CAP_ISSUES));
        json_t *data = json_pack("{ss ss ss ss ss si}", "task_id", task, "workspace_id", WS,
                                 "agent_id", agent, "runtime_id", rts[a % CAP_RUNTIMES], "issue_id",
                                 issue, "agent_max_concurrent_tasks", CAP_MAX);
        values[i] = mc_event_encode(MC_EV_TASK_REQUESTED, "test", task, data, NULL);
        ck_assert_ptr_nonnull(values[i]);
    }
    tu_send(dt_prod, MC_TOPIC_TASK_COMMANDS, values, NULL, CAP_TASKS);
    for (int i = 0; i < CAP_TASKS; i++)
        free(values[i]);
    bool done = dt_sql_becomes("SELECT count(*) FROM dispatch.agent_task_queue WHERE status = "
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
    double n0 = dt_metric(&d[0], "multica_dispatcher_dispatches_total");
    double n1 = dt_metric(&d[1], "multica_dispatcher_dispatches_total");
    ck_assert_msg(n0 + n1 == CAP_TASKS, "dispatches %g + %g", n0, n1);
    json_t *all = dt_all_events();
    ck_assert_uint_eq(json_array_size(all), 4 * CAP_TASKS);
    json_decref(all);
    dt_teardown_producer();
    dt_stop_dispatcher(&d[0]);
    dt_stop_dispatcher(&d[1]);
}
END_TEST

TCase *dt_case_capacity(void)
{
    TCase *tc = tcase_create("capacity");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, two_dispatchers_keep_capacity_and_dispatch_each_task_once);
    return tc;
}
