/* test_daemon_progress.c: progress kept in the gateway and the reports' group commits (issue
 * 17): a report is stored and logged by the gateway, after the task's start and in seq order,
 * once per seq; the dispatcher hears of it only as a liveness mark every few seconds, whose
 * echo is not logged twice; reports sent at once, applied together, each get their own answer;
 * and the log's two writers (the projection, a progress report) never make a listener that
 * reads past the last seq it saw skip or reorder an event, whichever of them logs first. */
#include "daemon_util.h"

#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t count(const char *fmt, const char *task)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, task);
    return th_sql_int(sql);
}

#define LOGGED_PROGRESS                                                                            \
    "SELECT count(*) FROM gateway.task_event_log WHERE task_id = '%s' AND type = "                 \
    "'multica.task.progress.v1'"
#define MARKS                                                                                      \
    "SELECT count(*) FROM dispatch.task_transitions WHERE task_id = '%s' AND event = 'progress'"

static void progress(struct dp *p, const char *task, int step)
{
    char body[128];
    snprintf(body, sizeof body, "{\"summary\":\"step %d\",\"step\":%d,\"total\":9}", step, step);
    ck_assert_int_eq(dp_report(p, task, "progress", body, NULL), 200);
}

static void claimed_task(struct dp *p, const char *title, char task[37])
{
    json_t *tasks = NULL;
    dp_task(p, title, task, NULL);
    ck_assert_int_eq(dp_claim(p, 1, &tasks), 200);
    ck_assert_uint_eq(json_array_size(tasks), 1);
    json_decref(tasks);
}

START_TEST(progress_is_logged_by_the_gateway_and_marked_for_the_dispatcher_every_few_seconds)
{
    struct dp p;
    dp_setup(&p, NULL);
    char task[37];
    claimed_task(&p, "Long run", task);
    ck_assert_int_eq(dp_report(&p, task, "start", NULL, NULL), 200);
    /* Reported before the start reached the read model, or after: logged after the start. */
    progress(&p, task, 1);
    ck_assert(dp_wait_status(&p, task, 200, "\"running\"", 30000));
    progress(&p, task, 1); /* the same seq again, and a lower one: no-ops, as before */
    progress(&p, task, 0);
    ck_assert_int_eq(count(LOGGED_PROGRESS, task), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM gateway.task_progress WHERE task_id = '%s'", task),
                     1);
    /* Within 5 s of the start the dispatcher needs no mark. */
    ck_assert_int_eq(count(MARKS, task), 0);
    /* Later (the start set back 10 s) a report is marked, once for the next 5 s. */
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE gateway.tasks SET started_at = started_at - interval '10 seconds' WHERE "
             "task_id = '%s'",
             task);
    th_sql(sql);
    progress(&p, task, 2);
    progress(&p, task, 3);
    snprintf(sql, sizeof sql, MARKS, task);
    ck_assert_int_eq(th_sql_wait(sql, 1, 30000), 1);
    snprintf(sql, sizeof sql,
             "SELECT last_progress_seq FROM dispatch.agent_task_queue WHERE task_id = '%s'", task);
    ck_assert_int_eq(th_sql_int(sql), 2);
    /* The completion comes back after the mark's echo: the log holds each report once, in seq
     * order after the start, all at the start's version, and the completion past it. */
    ck_assert_int_eq(dp_report(&p, task, "complete", "{\"output\":\"done\"}", NULL), 200);
    ck_assert(dp_wait_status(&p, task, 200, "\"completed\"", 30000));
    ck_assert_int_eq(count(MARKS, task), 1);
    ck_assert_int_eq(count(LOGGED_PROGRESS, task), 3);
    ck_assert_int_eq(
        count("SELECT (string_agg(split_part(type, '.', 3) || ':' || progress_seq, "
              "' ' ORDER BY seq) = 'started:-1 progress:1 progress:2 progress:3')::int "
              "FROM gateway.task_event_log WHERE task_id = '%s' AND type IN "
              "('multica.task.started.v1', 'multica.task.progress.v1')",
              task),
        1);
    ck_assert_int_eq(count("SELECT count(DISTINCT version) FROM gateway.task_event_log WHERE "
                           "task_id = '%s' AND type IN ('multica.task.started.v1', "
                           "'multica.task.progress.v1')",
                           task),
                     1);
    dp_free(&p);
}
END_TEST

struct racer {
    struct dp *p;
    const char *task;
    const char *what;
    int status;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    r->status = dp_report(r->p, r->task, r->what, r->what[0] == 'p' ? "{\"step\":1}" : NULL, NULL);
    return NULL;
}

START_TEST(reports_sent_at_once_each_get_their_own_answer)
{
    struct dp p;
    dp_setup(&p, NULL);
    enum { N = 4 };
    char tasks[N][37];
    for (int i = 0; i < N; i++)
        claimed_task(&p, "Together", tasks[i]);
    /* Starts, then a progress and a second start each, all at once: whatever the batches. */
    for (int round = 0; round < 2; round++) {
        struct racer r[2 * N];
        pthread_t th[2 * N];
        for (int i = 0; i < 2 * N; i++) {
            r[i] = (struct racer){&p, tasks[i % N],
                                  round == 0 ? "start" : (i < N ? "progress" : "start"), 0};
            ck_assert_int_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
        }
        for (int i = 0; i < 2 * N; i++) {
            pthread_join(th[i], NULL);
            ck_assert_int_eq(r[i].status, 200);
        }
    }
    for (int i = 0; i < N; i++) {
        ck_assert(dp_wait_status(&p, tasks[i], 200, "\"running\"", 30000));
        ck_assert_int_eq(count("SELECT count(*) FROM dispatch.task_transitions WHERE task_id = "
                               "'%s' AND event = 'started'",
                               tasks[i]),
                         1);
        char sql[256];
        snprintf(sql, sizeof sql, LOGGED_PROGRESS, tasks[i]);
        ck_assert_int_eq(th_sql_wait(sql, 1, 30000), 1);
    }
    /* An unknown task is refused. */
    ck_assert_int_eq(dp_report(&p, "00000000-0000-7000-8000-000000000001", "start", NULL, NULL),
                     404);
    dp_free(&p);
}
END_TEST

/* ---- the log's writers against a listener (SQL only, no stack) ---- */

#define W_TASK  "00000000-0000-7000-8000-0000000000a1" /* running, reports progress */
#define W_OTHER "00000000-0000-7000-8000-0000000000a2" /* the projection's other task */
#define W_IDS                                                                                      \
    "\"workspace_id\":\"00000000-0000-7000-8000-0000000000b1\",\"issue_id\":\""                    \
    "00000000-0000-7000-8000-0000000000b2\",\"agent_id\":\"00000000-0000-7000-"                    \
    "8000-0000000000b3\",\"runtime_id\":\"00000000-0000-7000-8000-0000000000b4\""

/* A task event as the dispatcher publishes it (the fields the projection reads). */
static char *task_event(const char *task, const char *type, const char *status, int version)
{
    char *e = NULL;
    ck_assert_int_ge(asprintf(&e,
                              "{\"type\":\"multica.task.%s.v1\",\"time\":\"2000-01-01T00:00:00Z\","
                              "\"data\":{\"task_id\":\"%s\"," W_IDS ",\"status\":\"%s\","
                              "\"version\":%d,\"attempt\":1}}",
                              type, task, status, version),
                     0);
    return e;
}

static PGconn *connect_db(const char *url)
{
    PGconn *c = PQconnectdb(url);
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    return c;
}

static void ok(PGconn *c, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

#define PROJECT  "SELECT gateway.project_task_event($1::jsonb)"
#define PROGRESS "SELECT gateway.report_progress($1::uuid, 'multica.task.commands', $2)"

/* What a listener does (ws.c, GW_LOG_SINCE): the rows past the last seq it saw, in seq order;
 * appends "type:progress_seq" of each to seen. */
static void listen_once(PGconn *l, long long *last, char *seen, size_t size)
{
    char from[24];
    snprintf(from, sizeof from, "%lld", *last);
    const char *p[] = {from};
    PGresult *r = PQexecParams(l,
                               "SELECT seq, split_part(type, '.', 3) || ':' || progress_seq "
                               "FROM gateway.task_event_log WHERE seq > $1 ORDER BY seq",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++) {
        *last = atoll(PQgetvalue(r, i, 0));
        size_t n = strlen(seen);
        snprintf(seen + n, size - n, "%s%s", n ? " " : "", PQgetvalue(r, i, 1));
    }
    PQclear(r);
}

/* A write to the log: a statement and its parameters. */
struct write {
    const char *sql;
    int n;
    const char *p[2];
};

/* first logs in an open transaction; second, on its own connection, writes to the log
 * meanwhile (autocommit) and may commit before first; the listener reads throughout. Every
 * row logged meanwhile must reach it, first's before second's: what a second writer committing
 * a later seq first would break (the listener reads past it and never sees first's). */
static void race_writers(const char *url, PGconn *a, const struct write *first, PGconn *b,
                         const struct write *second, const char *want)
{
    PGconn *l = connect_db(url);
    long long last = th_sql_int("SELECT coalesce(max(seq), 0) FROM gateway.task_event_log");
    char seen[256] = "";
    ok(a, "BEGIN", 0, NULL);
    ok(a, first->sql, first->n, first->p);
    ck_assert_int_eq(PQsendQueryParams(b, second->sql, second->n, NULL, second->p, NULL, NULL, 0),
                     1);
    for (int i = 0; i < 10; i++) {
        usleep(50 * 1000);
        listen_once(l, &last, seen, sizeof seen);
    }
    ok(a, "COMMIT", 0, NULL);
    PGresult *r;
    while ((r = PQgetResult(b)) != NULL) {
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(b));
        PQclear(r);
    }
    listen_once(l, &last, seen, sizeof seen);
    ck_assert_str_eq(seen, want);
    PQfinish(l);
}

START_TEST(two_log_writers_never_make_a_listener_skip_or_reorder_an_event)
{
    th_db_new();
    char url[256];
    snprintf(url, sizeof url, "%s", th_db_url_as("multica_gateway"));
    PGconn *projection = connect_db(url), *reports = connect_db(url);
    char *ev[4] = {task_event(W_TASK, "dispatched", "dispatched", 1),
                   task_event(W_TASK, "started", "running", 2),
                   task_event(W_OTHER, "dispatched", "dispatched", 1),
                   task_event(W_OTHER, "started", "running", 2)};
    for (int i = 0; i < 2; i++)
        ok(projection, PROJECT, 1, (const char *[]){ev[i]});
    /* The projection logs first, a progress report comes meanwhile; then the other way. */
    struct write project = {PROJECT, 1, {ev[2]}},
                 report = {PROGRESS, 2, {W_TASK, "{\"data\":{\"seq\":1,\"text\":\"one\"}}"}};
    race_writers(url, projection, &project, reports, &report, "dispatched:-1 progress:1");
    project.p[0] = ev[3];
    report.p[1] = "{\"data\":{\"seq\":2,\"text\":\"two\"}}";
    race_writers(url, reports, &report, projection, &project, "progress:2 started:-1");
    for (int i = 0; i < 4; i++)
        free(ev[i]);
    PQfinish(projection);
    PQfinish(reports);
}
END_TEST

/* Every writer of the log holds its lock, so a row is tested for and then inserted (no ON
 * CONFLICT): a replayed batch of the projection, the same progress logged again by the report
 * writer or by the projection after a start, write no second row and raise nothing. */
START_TEST(replayed_events_and_reports_are_logged_once)
{
    th_db_new();
    char url[256];
    snprintf(url, sizeof url, "%s", th_db_url_as("multica_gateway"));
    PGconn *c = connect_db(url);
    char *ev[2] = {task_event(W_TASK, "dispatched", "dispatched", 1),
                   task_event(W_TASK, "started", "running", 2)};
    char *batch = NULL;
    ck_assert_int_ge(asprintf(&batch, "[%s,%s]", ev[0], ev[1]), 0);
    ok(c, PROJECT, 1, (const char *[]){batch});
    ok(c, PROGRESS, 2, (const char *[]){W_TASK, "{\"data\":{\"seq\":1,\"text\":\"one\"}}"});
    ck_assert_int_eq(
        count("SELECT count(*) FROM gateway.task_event_log WHERE task_id = '%s'", W_TASK), 3);
    ok(c, PROJECT, 1, (const char *[]){batch}); /* the batch again, as after a rebalance */
    ok(c, PROJECT, 1, (const char *[]){ev[1]});
    ok(c, "SELECT gateway.log_reported_progress(ARRAY[$1::uuid], ARRAY[1::bigint])", 1,
       (const char *[]){W_TASK});
    ok(c, "SELECT gateway.log_progress($1::uuid)", 1, (const char *[]){W_TASK});
    PGresult *r = PQexec(c, "SELECT string_agg(split_part(type, '.', 3) || ':' || progress_seq, "
                            "' ' ORDER BY seq) FROM gateway.task_event_log");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "dispatched:-1 started:-1 progress:1");
    PQclear(r);
    free(batch);
    for (int i = 0; i < 2; i++)
        free(ev[i]);
    PQfinish(c);
}
END_TEST

TCase *dp_case_progress(void)
{
    TCase *tc = tcase_create("progress");
    tcase_set_timeout(tc, 120);
    tcase_add_test(
        tc, progress_is_logged_by_the_gateway_and_marked_for_the_dispatcher_every_few_seconds);
    tcase_add_test(tc, reports_sent_at_once_each_get_their_own_answer);
    tcase_add_test(tc, two_log_writers_never_make_a_listener_skip_or_reorder_an_event);
    tcase_add_test(tc, replayed_events_and_reports_are_logged_once);
    return tc;
}
