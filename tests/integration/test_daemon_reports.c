/* test_daemon_reports.c: Multica's daemon protocol, what the daemon reports about a task: a
 * cancel reaches a running task through the status poll, a task can fail before it started,
 * complete, fail and cancel-ack answer 2xx when repeated (and send one command), a deleted
 * task's status poll says "task not found", the magic phrases appear nowhere else, an
 * agent run's task token works in its own workspace only and dies with its task, a refused
 * daemon token is refused first on the routes that check it in their own SQL call, issues
 * created at once get their workspace's numbers in sequence, and message batches stored in
 * one group come to what each would alone. */
#include "daemon_util.h"
#include "mc_kafka.h"
#include "mc_proto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL_UUID "00000000-0000-0000-0000-000000000000"

static void claim_one(struct dp *p, const char *task, char token[64])
{
    json_t *tasks = NULL;
    ck_assert_int_eq(dp_claim(p, 1, &tasks), 200);
    ck_assert_uint_eq(json_array_size(tasks), 1);
    ck_assert_str_eq(tg_str(json_array_get(tasks, 0), "id"), task);
    if (token != NULL)
        snprintf(token, 64, "%s", tg_str(json_array_get(tasks, 0), "auth_token"));
    json_decref(tasks);
}

static int64_t transitions(const char *task, const char *to)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND to_status = "
             "'%s'",
             task, to);
    return th_sql_int(sql);
}

/* The task's log version of its events of the given type (the last one), by SQL. */
static int64_t logged_version(const char *task, const char *type)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(max(version), -1) FROM gateway.task_event_log WHERE task_id = "
             "'%s' AND type = 'multica.task.%s.v1'",
             task, type);
    return th_sql_int(sql);
}

/* A running task's one progress report: in the task's progress and on the WebSocket log, with
 * the version of its start, which the task's row keeps (the read model's version is that of the
 * last change of state, not of every event). */
static void progress_leaves_the_task_row(struct dp *p, const char *task)
{
    char sql[256], path[128];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.task_event_log WHERE task_id = '%s' AND type = "
             "'multica.task.progress.v1'",
             task);
    ck_assert_int_eq(th_sql_wait(sql, 1, 30000), 1);
    snprintf(path, sizeof path, "/api/tasks/%s", task);
    json_t *out = NULL;
    ck_assert_int_eq(tg_call(p->base, "GET", path, p->alice, NULL, &out), 200);
    json_t *t = json_object_get(out, "task");
    ck_assert_str_eq(tg_str(t, "status"), "running");
    ck_assert_int_eq(json_integer_value(json_object_get(t, "version")),
                     logged_version(task, "started"));
    /* A report is no change of state: its event carries the start's version (issue 17). */
    ck_assert_int_eq(logged_version(task, "progress"), logged_version(task, "started"));
    json_t *progress = json_object_get(out, "progress");
    ck_assert_uint_eq(json_array_size(progress), 1);
    ck_assert_ptr_nonnull(strstr(tg_str(json_array_get(progress, 0), "text"), "Launching"));
    json_decref(out);
}

START_TEST(a_cancel_reaches_a_running_task_through_the_status_poll)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37], issue[37];
    dp_task(&p, "long job", task, issue);
    claim_one(&p, task, NULL);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 200);
    ck_assert(dp_wait_status(&p, task, 200, "\"running\"", 30000));
    /* A member cancels it; the daemon's next status poll says so. */
    char path[256];
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/tasks/%s/cancel", task);
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.alice, NULL, &out), 202);
    ck_assert(json_is_true(json_object_get(out, "cancel_requested")));
    json_decref(out);
    ck_assert(dp_wait_status(&p, task, 200, "\"cancelled\"", 30000));
    /* The daemon stops the agent and acknowledges, as often as its retries make it. */
    ck_assert_int_eq(dp_report(&p, task, "cancel-ack", NULL, NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "cancel-ack", "{\"branch_name\":\"x\"}", NULL), 200);
    /* A late completion changes nothing and is not an error for the daemon. */
    ck_assert_int_eq(dp_report(&p, task, "complete", "{\"output\":\"late\"}", NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "fail", "{\"error\":\"late\"}", NULL), 200);
    usleep(1000 * 1000);
    ck_assert(dp_wait_status(&p, task, 200, "\"cancelled\"", 1000));
    ck_assert_int_eq(transitions(task, "completed"), 0);
    ck_assert_int_eq(transitions(task, "failed"), 0);
    /* Cancelling what already ended is refused; so is a task of another issue's route. */
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.alice, NULL, NULL), 409);
    char other[37];
    dp_task(&p, "second", other, NULL);
    snprintf(path, sizeof path, "/api/issues/%s/tasks/%s/cancel", issue, other);
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.alice, NULL, NULL), 404);
    /* The issue's own route cancels a dispatched task the daemon never claimed. */
    char third[37], issue3[37];
    dp_task(&p, "third", third, issue3);
    snprintf(path, sizeof path, "/api/issues/%s/tasks/%s/cancel", issue3, third);
    ck_assert_int_eq(tg_call(p.base, "POST", path, p.alice, NULL, NULL), 202);
    ck_assert(dp_wait_status(&p, third, 200, "\"cancelled\"", 30000));
    dp_free(&p);
}
END_TEST

START_TEST(a_task_fails_before_it_started_and_stays_failed)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37];
    dp_task(&p, "the daemon cannot run this", task, NULL);
    claim_one(&p, task, NULL);
    /* The daemon fails it without starting it (its runtime is unknown to it, say). */
    ck_assert_int_eq(dp_report(&p, task, "fail",
                               "{\"error\":\"runtime is not registered by this daemon\","
                               "\"failure_reason\":\"runtime_offline\"}",
                               NULL),
                     200);
    ck_assert_int_eq(dp_report(&p, task, "fail", "{\"error\":\"again\"}", NULL), 200);
    ck_assert(dp_wait_queue(task, "failed", 30000));
    ck_assert(dp_wait_status(&p, task, 200, "\"failed\"", 30000));
    /* Failed for good: not dispatched again, and the reason says why. */
    usleep(1500 * 1000);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND event = "
             "'dispatched'",
             task);
    ck_assert_int_eq(th_sql_int(sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM dispatch.agent_task_queue WHERE task_id = '%s' AND "
             "failure_reason = 'runtime_offline: runtime is not registered by this daemon'",
             task);
    ck_assert_int_eq(th_sql_int(sql), 1);
    ck_assert_int_eq(dp_report(&p, task, "complete", "{\"output\":\"no\"}", NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 409);
    ck_assert_int_eq(transitions(task, "completed"), 0);
    dp_free(&p);
}
END_TEST

/* Counts the commands of a type about task on multica.task.commands. */
static size_t commands(const struct dp *p, const char *task, const char *type)
{
    json_t *all = th_consume_all(p->brokers, MC_TOPIC_TASK_COMMANDS);
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(all); i++) {
        const char *v = json_string_value(json_object_get(json_array_get(all, i), "value"));
        n += v && strstr(v, task) && strstr(v, type);
    }
    th_capture(all);
    json_decref(all);
    return n;
}

START_TEST(a_run_reports_once_and_its_task_token_lives_as_long_as_it)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37], issue[37], mat[64], path[256];
    dp_task(&p, "Fix the build", task, issue);
    claim_one(&p, task, mat);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 200);
    ck_assert(dp_wait_status(&p, task, 200, "\"running\"", 30000));
    /* The agent's own multica calls: its issue, a comment as the agent, who it runs as. */
    snprintf(path, sizeof path, "/api/issues/%s", issue);
    json_t *out = NULL;
    ck_assert_int_eq(tg_call(p.base, "GET", path, mat, NULL, &out), 200);
    ck_assert_str_eq(tg_str(out, "title"), "Fix the build");
    ck_assert_str_eq(tg_str(out, "identifier"), "ACM-1");
    json_decref(out);
    ck_assert_int_eq(tg_call(p.base, "GET", "/api/issues/ACM-1", mat, NULL, NULL), 200);
    snprintf(path, sizeof path, "/api/issues/%s/comments", issue);
    ck_assert_int_eq(tg_call(p.base, "POST", path, mat, "{\"content\":\"Done: it builds.\"}", &out),
                     201);
    ck_assert_str_eq(tg_str(out, "author_type"), "agent");
    ck_assert_str_eq(tg_str(out, "author_id"), p.agent);
    ck_assert_str_eq(tg_str(out, "source_task_id"), task);
    json_decref(out);
    ck_assert_int_eq(tg_call(p.base, "GET", "/api/me", mat, NULL, NULL), 200);
    /* ...within its workspace only, and never a person's business. */
    char *bob = tg_login(p.base, "bob@example.com");
    json_t *ws = NULL;
    ck_assert_int_eq(tg_call(p.base, "POST", "/api/workspaces", bob, "{\"name\":\"Bob\"}", &ws),
                     201);
    snprintf(path, sizeof path, "/api/issues?workspace_id=%s", tg_str(ws, "id"));
    ck_assert_int_eq(tg_call(p.base, "GET", path, mat, NULL, NULL), 404);
    ck_assert_int_eq(tg_call(p.base, "POST", "/api/tokens", mat, "{}", NULL), 403);
    ck_assert_int_eq(tg_call(p.base, "GET", "/api/daemon/workspaces", mat, NULL, NULL), 403);
    json_decref(ws);
    free(bob);
    /* What the run streams and reports. */
    ck_assert_int_eq(dp_report(&p, task, "progress",
                               "{\"summary\":\"Launching claude\",\"step\":1,\"total\":2}", NULL),
                     200);
    progress_leaves_the_task_row(&p, task);
    const char *batch = "{\"messages\":[{\"seq\":1,\"type\":\"text\",\"content\":\"Looking\"},"
                        "{\"seq\":2,\"type\":\"tool_use\",\"tool\":\"Bash\",\"input\":"
                        "{\"command\":\"make\"}},{\"seq\":3,\"type\":\"tool_result\",\"tool\":"
                        "\"Bash\",\"output\":\"ok\"}]}";
    ck_assert_int_eq(dp_report(&p, task, "messages", batch, NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "messages", batch, NULL), 200); /* kept once */
    ck_assert_int_eq(dp_report(&p, task, "messages", "{\"messages\":[{\"seq\":\"x\"}]}", NULL),
                     400);
    ck_assert_int_eq(
        dp_report(&p, task, "session", "{\"session_id\":\"sess-1\",\"work_dir\":\"/w/1\"}", NULL),
        200);
    ck_assert_int_eq(
        dp_report(&p, task, "usage",
                  "{\"usage\":[{\"provider\":\"claude\",\"model\":\"claude-sonnet-4-5\","
                  "\"input_tokens\":2000,\"output_tokens\":200,\"cache_read_tokens\":"
                  "7000,\"cache_write_tokens\":300,\"cost_usd_ticks\":123000000}]}",
                  NULL),
        202);
    /* Complete, and complete again: the daemon retries when it lost an answer. */
    /* The output names the nil UUID, which stands for the runtime in the command the
     * gateway builds: only the command's runtime_id member is replaced, never the text. */
    const char *done = "{\"output\":\"It builds now. \\\"runtime_id\\\":\\\"" NIL_UUID "\\\"\"}";
    ck_assert_int_eq(dp_report(&p, task, "complete", done, NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "complete", done, NULL), 200);
    ck_assert(dp_wait_status(&p, task, 200, "\"completed\"", 30000));
    /* The change of state after the progress takes its own version, past the progress's. */
    snprintf(path, sizeof path, "/api/tasks/%s", task);
    ck_assert_int_eq(tg_call(p.base, "GET", path, p.alice, NULL, &out), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(out, "task"), "version")),
                     logged_version(task, "completed"));
    ck_assert_int_gt(logged_version(task, "completed"), logged_version(task, "progress"));
    json_decref(out);
    ck_assert_int_eq(dp_report(&p, task, "complete", "{\"output\":\"again\"}", NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "fail", "{\"error\":\"late\"}", NULL), 200);
    ck_assert_int_eq(dp_report(&p, task, "cancel-ack", NULL, NULL), 200);
    ck_assert_int_eq(transitions(task, "completed"), 1);
    ck_assert_int_eq(transitions(task, "failed"), 0);
    ck_assert_uint_eq(commands(&p, task, MC_EV_TASK_COMPLETION_REPORTED), 1);
    ck_assert_uint_eq(commands(&p, task, MC_EV_TASK_FAILURE_REPORTED), 0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM gateway.tasks WHERE task_id = '%s' AND result = 'It builds "
             "now. \"runtime_id\":\"" NIL_UUID
             "\"' AND session_id = 'sess-1' AND work_dir = '/w/1'",
             task);
    ck_assert_int_eq(th_sql_int(sql), 1);
    snprintf(path, sizeof path, "/api/tasks/%s/messages", task);
    ck_assert_int_eq(tg_call(p.base, "GET", path, p.alice, NULL, &out), 200);
    ck_assert_uint_eq(json_array_size(out), 3);
    ck_assert_str_eq(tg_str(json_array_get(out, 1), "tool"), "Bash");
    json_decref(out);
    snprintf(sql, sizeof sql,
             "SELECT cost_usd_ticks FROM usage.task_usage WHERE task_id = '%s' AND input_tokens = "
             "2000",
             task);
    ck_assert_int_eq(th_sql_wait(sql, 123000000, 30000), 123000000);
    /* The reads report that cost as the daemon gave it: nothing re-prices it. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM usage.task_attribution WHERE task_id = '%s' AND issue_id = "
             "'%s'",
             task, issue);
    ck_assert_int_eq(th_sql_wait(sql, 1, 30000), 1);
    snprintf(path, sizeof path, "/api/issues/%s/usage", issue);
    ck_assert_int_eq(tg_call(p.base, "GET", path, p.alice, NULL, &out), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "cost_usd_ticks")), 123000000);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "total_cost_usd_ticks")), 123000000);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "uncosted_input_tokens")), 0);
    json_decref(out);
    /* The task ended: its token is gone with it. */
    snprintf(path, sizeof path, "/api/issues/%s", issue);
    ck_assert_int_eq(tg_call(p.base, "GET", path, mat, NULL, NULL), 401);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM gateway.task_tokens WHERE task_id = '%s'",
             task);
    ck_assert_int_eq(th_sql_int(sql), 0);
    dp_free(&p);
}
END_TEST

START_TEST(only_a_deleted_task_or_runtime_is_not_found)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37], issue[37], path[256];
    dp_task(&p, "to be deleted", task, issue);
    claim_one(&p, task, NULL);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 200);
    ck_assert(dp_wait_status(&p, task, 200, "\"running\"", 30000));
    snprintf(path, sizeof path, "/api/issues/%s", issue);
    ck_assert_int_eq(tg_call(p.base, "DELETE", path, p.alice, NULL, NULL), 204);
    /* The daemon's next poll stops the agent; its acknowledgement is still welcome. */
    ck_assert(dp_wait_status(&p, task, 404, "task not found", 30000));
    ck_assert_int_eq(dp_report(&p, task, "cancel-ack", NULL, NULL), 200);
    ck_assert_int_eq(dp_status(&p, "0195f1c2-0000-7000-8000-00000000dead", NULL), 404);
    ck_assert(
        dp_wait_status(&p, "0195f1c2-0000-7000-8000-00000000dead", 404, "task not found", 1000));
    /* Heartbeats: the runtime is found, an unknown one is not. */
    char body[256];
    json_t *out = NULL;
    snprintf(body, sizeof body, "{\"runtime_id\":\"%s\",\"supports_batch_import\":true}",
             p.runtime);
    ck_assert_int_eq(tg_call(p.base, "POST", "/api/daemon/heartbeat", p.pat, body, &out), 200);
    ck_assert_str_eq(tg_str(out, "runtime_id"), p.runtime);
    ck_assert_str_eq(tg_str(out, "status"), "ok");
    json_decref(out);
    char url[256], auth[128], *text = NULL;
    snprintf(url, sizeof url, "%s/api/daemon/heartbeat", p.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", p.pat);
    const char *headers[] = {auth, NULL};
    ck_assert_int_eq(th_http("POST", url, headers,
                             "{\"runtime_id\":\"0195f1c2-0000-7000-8000-00000000dead\"}", &text),
                     404);
    ck_assert(dp_contains(text, "runtime not found"));
    free(text);
    /* No other 404 or 405 says either phrase, nor the one that sends the daemon's GC to its
     * legacy route. */
    struct {
        const char *method, *path;
    } unknown[] = {
        {"GET", "/api/daemon/nothing"},
        {"POST", "/api/daemon/tasks/%s/unknown"},
        {"GET", "/api/daemon/tasks/%s/gc-check"},
        {"POST", "/api/daemon/workspaces/%s/issues/gc-check"},
        {"POST", "/api/daemon/runtimes/%s/update/x/result"},
        {"POST", "/api/daemon/tasks/%s/status"},
        {"GET", "/api/daemon/tasks/%s/start"},
        {"DELETE", "/api/daemon/heartbeat"},
        {"GET", "/api/issues/%s/nothing"},
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char p_[256];
        snprintf(p_, sizeof p_, unknown[i].path, task);
        snprintf(url, sizeof url, "%s%s", p.base, p_);
        text = NULL;
        int status = th_http(unknown[i].method, url, headers, "{}", &text);
        ck_assert_msg(status == 404 || status == 405, "%s %s: %d", unknown[i].method, p_, status);
        ck_assert_msg(!dp_contains(text, "task not found") &&
                          !dp_contains(text, "runtime not found") &&
                          !dp_contains(text, "404 page not found"),
                      "%s %s: %s", unknown[i].method, p_, text);
        free(text);
    }
    dp_free(&p);
}
END_TEST

/* The daemon's per-task routes check its token in their own SQL call, one round trip per
 * report: a refused token is still refused first, with the guard's answer (401, field
 * Authorization), whatever the task id or the body; a valid one reaches the route's own
 * checks; a revoked one is refused on the very next report. */
START_TEST(a_refused_token_is_refused_first_on_the_daemon_task_routes)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37];
    dp_task(&p, "guarded", task, NULL);
    static const char *const dead = "0195f1c2-0000-7000-8000-00000000dead";
    struct {
        const char *method, *path, *body;
        int valid; /* what the daemon's own token gets, on the unknown task dead */
    } routes[] = {
        {"GET", "/api/daemon/tasks/%s/status", NULL, 404},
        {"POST", "/api/daemon/tasks/%s/start", "{}", 404},
        {"POST", "/api/daemon/tasks/%s/progress", "{\"step\":-1}", 404},
        {"POST", "/api/daemon/tasks/%s/complete", "{\"output\":\"x\"}", 404},
        {"POST", "/api/daemon/tasks/%s/fail", "not json", 400},
        {"POST", "/api/daemon/tasks/%s/cancel-ack", NULL, 404},
        {"POST", "/api/daemon/tasks/%s/messages", "{\"messages\":7}", 400},
        {"POST", "/api/daemon/tasks/%s/usage", "[]", 400},
        {"POST", "/api/daemon/tasks/claim", "{\"runtime_ids\":[],\"max_tasks\":1}", 200},
        {"POST", "/api/daemon/claim", "{\"runtime_ids\":[\"x\"],\"max_tasks\":1}", 400},
    };
    const char *ids[] = {dead, "not-a-uuid", task};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
            char path[256];
            json_t *out = NULL;
            snprintf(path, sizeof path, routes[i].path, ids[k]);
            int status = tg_call(p.base, routes[i].method, path, "mul_unknown0000000000",
                                 routes[i].body, &out);
            ck_assert_msg(status == 401, "%s %s: %d", routes[i].method, path, status);
            ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "Authorization");
            ck_assert_str_eq(tg_str(json_object_get(out, "error"), "message"),
                             "invalid, expired or revoked token");
            json_decref(out);
        }
        char path[256];
        snprintf(path, sizeof path, routes[i].path, dead);
        int status = tg_call(p.base, routes[i].method, path, p.pat, routes[i].body, NULL);
        ck_assert_msg(status == routes[i].valid, "%s %s with the daemon's token: %d",
                      routes[i].method, path, status);
    }
    ck_assert_int_eq(dp_status(&p, task, NULL), 200);
    /* Revoked: the next report is refused. */
    json_t *tokens = NULL;
    ck_assert_int_eq(tg_call(p.base, "GET", "/api/tokens", p.alice, NULL, &tokens), 200);
    for (size_t i = 0; i < json_array_size(tokens); i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/tokens/%s", tg_str(json_array_get(tokens, i), "id"));
        ck_assert_int_lt(tg_call(p.base, "DELETE", path, p.alice, NULL, NULL), 300);
    }
    json_decref(tokens);
    ck_assert_int_eq(dp_status(&p, task, NULL), 401);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 401);
    ck_assert_int_eq(dp_claim(&p, 1, NULL), 401);
    dp_free(&p);
}
END_TEST

/* One creation among many sent at once: its workspace, body and what it answered. */
struct creation {
    const char *base, *token, *ws, *body;
    int status;
    json_t *out;
};

static void *create(void *arg)
{
    struct creation *c = arg;
    char path[128];
    snprintf(path, sizeof path, "/api/issues?workspace_id=%s", c->ws);
    c->status = tg_call(c->base, "POST", path, c->token, c->body, &c->out);
    return NULL;
}

/* Creations sent at once (the issue writer's group commits, and creations with an assignee,
 * which run alone) in two workspaces: each workspace numbers its issues 1..n, each number
 * once, its counter at n, and each answer is its own issue with its key. */
START_TEST(issues_created_at_once_get_consecutive_numbers_per_workspace)
{
    struct dp p;
    dp_setup(&p, NULL);
    char other[37], body[48][160];
    tg_workspace(p.base, p.alice, "Other", other);
    enum { N = 48 };
    struct creation c[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        if (i % 12 == 4) /* an assignee: created alone, with its task */
            snprintf(body[i], sizeof body[i],
                     "{\"title\":\"race %d\",\"assignee_type\":\"agent\",\"assignee_id\":\"%s\"}",
                     i, p.agent);
        else
            snprintf(body[i], sizeof body[i], "{\"title\":\"race %d\",\"priority\":\"high\"}", i);
        c[i] = (struct creation){p.base, p.alice, i % 3 == 2 ? other : p.ws, body[i], 0, NULL};
        ck_assert_int_eq(pthread_create(&th[i], NULL, create, &c[i]), 0);
    }
    bool seen[2][N + 1] = {{false}};
    int made[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(c[i].status, 201);
        int w = c[i].ws == other;
        json_int_t n = json_integer_value(json_object_get(c[i].out, "number"));
        ck_assert_int_ge(n, 1);
        ck_assert_int_le(n, N);
        ck_assert_msg(!seen[w][n], "number %d given twice", (int)n);
        seen[w][n] = true;
        made[w]++;
        char title[32], key[32];
        snprintf(title, sizeof title, "race %d", i);
        ck_assert_str_eq(tg_str(c[i].out, "title"), title);
        ck_assert_str_eq(tg_str(c[i].out, "workspace_id"), c[i].ws);
        snprintf(key, sizeof key, "%s-%d", w ? "OTH" : "ACM", (int)n);
        ck_assert_str_eq(tg_str(c[i].out, "identifier"), key);
        ck_assert_int_eq(json_is_null(json_object_get(c[i].out, "task_id")), i % 12 != 4);
        if (i % 12 != 4)
            ck_assert_str_eq(tg_str(c[i].out, "priority"), "high");
        json_decref(c[i].out);
    }
    for (int w = 0; w < 2; w++)
        for (int n = 1; n <= made[w]; n++)
            ck_assert_msg(seen[w][n], "number %d missing in workspace %d", n, w);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT issue_counter * 1000 + (SELECT count(*) FROM gateway.issues i WHERE "
             "i.workspace_id = w.id) FROM gateway.workspaces w WHERE w.id = '%s'",
             p.ws);
    ck_assert_int_eq(th_sql_int(sql), made[0] * 1000 + made[0]);
    dp_free(&p);
}
END_TEST

/* One message batch of a task, sent from its own thread (the message writer's groups). */
struct batch {
    struct dp *p;
    const char *task;
    int seq, status;
};

static void *send_batch(void *arg)
{
    struct batch *b = arg;
    char body[128];
    snprintf(body, sizeof body, "{\"messages\":[{\"seq\":%d,\"type\":\"text\",\"content\":\"m\"}]}",
             b->seq);
    b->status = dp_report(b->p, b->task, "messages", body, NULL);
    return NULL;
}

/* The message writer stores the batches that arrive together in one call and one commit
 * (gateway.daemon_messages_grouped): each batch comes to what it came to alone, in arrival
 * order within a task (a seq already stored is kept once, by the earlier batch), an unknown
 * token or task refuses only its own batch, and batches sent at once are each answered and
 * stored once. */
START_TEST(message_batches_stored_together_come_to_what_each_would_alone)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37], sql[1536];
    dp_task(&p, "streams", task, NULL);
    claim_one(&p, task, NULL);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 200);
    snprintf(sql, sizeof sql,
             "SELECT string_agg(g.outcome || ':' || coalesce(g.stored::text, '-'), ',') FROM "
             "(SELECT token_hash AS h, user_id AS u FROM gateway.personal_access_tokens LIMIT 1) k,"
             " gateway.daemon_messages_grouped("
             "ARRAY[k.h, 'ff', k.h, NULL, k.h],"
             "ARRAY[NULL, NULL, NULL, k.u, NULL]::uuid[],"
             "ARRAY['%s', '%s', gen_random_uuid(), '%s', '%s']::uuid[],"
             "ARRAY['[{\"seq\":1,\"type\":\"text\"},{\"seq\":2,\"type\":\"text\"}]',"
             "'[{\"seq\":9,\"type\":\"text\"}]', '[{\"seq\":8,\"type\":\"text\"}]',"
             "'[{\"seq\":2,\"type\":\"text\"},{\"seq\":3,\"type\":\"text\"}]',"
             "'[{\"seq\":1,\"type\":\"text\"}]']::jsonb[]) g",
             task, task, task, task);
    PGresult *r = PQexec(th_pg(), sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(th_pg()));
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "ok:2,unauthorized:-,not_found:-,ok:1,ok:0");
    PQclear(r);
    enum { N = 24 };
    struct batch b[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        b[i] = (struct batch){&p, task, 100 + i % (N / 2), 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, send_batch, &b[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(b[i].status, 200);
    }
    snprintf(sql, sizeof sql,
             "SELECT count(*) * 1000 + count(DISTINCT seq) FROM gateway.task_messages WHERE "
             "task_id = '%s'",
             task);
    ck_assert_int_eq(th_sql_int(sql), (3 + N / 2) * 1001);
    dp_free(&p);
}
END_TEST

TCase *dp_case_reports(void)
{
    TCase *tc = tcase_create("reports");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_cancel_reaches_a_running_task_through_the_status_poll);
    tcase_add_test(tc, a_task_fails_before_it_started_and_stays_failed);
    tcase_add_test(tc, a_run_reports_once_and_its_task_token_lives_as_long_as_it);
    tcase_add_test(tc, only_a_deleted_task_or_runtime_is_not_found);
    tcase_add_test(tc, a_refused_token_is_refused_first_on_the_daemon_task_routes);
    tcase_add_test(tc, issues_created_at_once_get_consecutive_numbers_per_workspace);
    tcase_add_test(tc, message_batches_stored_together_come_to_what_each_would_alone);
    return tc;
}
