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

/* ---- a batch's events of one task folded into one row change (issue 17) ---- */

enum { FOLD_TASKS = 12, FOLD_ROUNDS = 40, FOLD_MAX_EVENTS = 6 };

static unsigned fold_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) & 0x7fff;
}

struct fold_case {
    char pre[FOLD_TASKS * 1024]; /* the rows and task tokens before the batch (SQL) */
    char *events[FOLD_TASKS * FOLD_MAX_EVENTS];
    int n;
};

/* Random rows, some claimed and holding task tokens, and random events for them: versions out
 * of order, repeated and in runs, every status, optional lease, result, reason and time. */
static void fold_case_make(struct fold_case *fc, unsigned seed)
{
    static const char *kinds[][2] = {
        {"queued", "queued"},       {"waiting", "queued"},      {"dispatched", "dispatched"},
        {"started", "running"},     {"completed", "completed"}, {"failed", "failed"},
        {"cancelled", "cancelled"}, {"progress", "running"},
    };
    char *per[FOLD_TASKS][FOLD_MAX_EVENTS];
    int count[FOLD_TASKS], next[FOLD_TASKS], left = 0;
    size_t at = 0;
    fc->pre[0] = '\0';
    fc->n = 0;
    for (int t = 0; t < FOLD_TASKS; t++) {
        char task[40];
        snprintf(task, sizeof task, "00000000-0000-7000-8000-0000000f%04x", t);
        if (fold_rand(&seed) % 3 != 0) {
            /* Drawn one by one: the order of a call's arguments is unspecified in C. */
            unsigned version = fold_rand(&seed) % 5, attempt = fold_rand(&seed) % 3;
            bool lease = fold_rand(&seed) % 2, failure = fold_rand(&seed) % 2,
                 started = fold_rand(&seed) % 2, claimed = fold_rand(&seed) % 2,
                 reported = claimed && fold_rand(&seed) % 2;
            at += (size_t)snprintf(
                fc->pre + at, sizeof fc->pre - at,
                "INSERT INTO gateway.tasks (task_id, workspace_id, agent_id, runtime_id, status, "
                "version, attempt, lease_until, failure_reason, started_at, claimed_at, "
                "claim_until, claimed_by, reported) VALUES ('%s', "
                "'00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-0000000000b3', "
                "'00000000-0000-7000-8000-0000000000b4', 'dispatched', %u, %u, %s, %s, %s, %s, "
                "%s, %s, %s);",
                task, version, attempt, lease ? "'2000-01-02T00:00:00Z'" : "NULL",
                failure ? "'old failure'" : "NULL", started ? "'2000-01-01T01:00:00Z'" : "NULL",
                claimed ? "'2000-01-01T02:00:00Z'" : "NULL",
                claimed ? "'2000-01-01T03:00:00Z'" : "NULL", claimed ? "'daemon-1'" : "NULL",
                reported ? "'completed'" : "NULL");
            if (fold_rand(&seed) % 2)
                at += (size_t)snprintf(
                    fc->pre + at, sizeof fc->pre - at,
                    "INSERT INTO gateway.task_tokens (token_hash, task_id, workspace_id, agent_id, "
                    "user_id, expires_at) VALUES (encode(sha256('%s'::bytea), 'hex'), '%s', "
                    "'00000000-0000-7000-8000-0000000000b1', "
                    "'00000000-0000-7000-8000-0000000000b3', "
                    "'00000000-0000-7000-8000-0000000000d1', '2100-01-01');",
                    task, task);
        }
        count[t] = 1 + (int)(fold_rand(&seed) % FOLD_MAX_EVENTS);
        next[t] = 0;
        left += count[t];
        unsigned version = fold_rand(&seed) % 4;
        for (int i = 0; i < count[t]; i++) {
            version = fold_rand(&seed) % 2 ? version + 1 : 1 + fold_rand(&seed) % 7;
            const char **k = kinds[fold_rand(&seed) % 8];
            char extra[256] = "";
            size_t x = 0;
            unsigned r = fold_rand(&seed);
            if (r & 1)
                x += (size_t)snprintf(extra + x, sizeof extra - x,
                                      ",\"lease_until\":\"2000-02-0%uT00:00:00Z\"", 1 + r % 9);
            if (r & 2)
                x += (size_t)snprintf(extra + x, sizeof extra - x, ",\"result\":\"r%u\"", r % 97);
            if (r & 4)
                x +=
                    (size_t)snprintf(extra + x, sizeof extra - x, ",\"reason\":\"why %u\"", r % 89);
            if (r & 8)
                x += (size_t)snprintf(extra + x, sizeof extra - x,
                                      ",\"at\":\"2000-03-01T00:%02u:00Z\"", r % 60);
            if (r & 16)
                snprintf(extra + x, sizeof extra - x, ",\"attempt\":%u", r % 4);
            unsigned minute = fold_rand(&seed) % 60, runtime = 4 + fold_rand(&seed) % 2;
            ck_assert_int_ge(
                asprintf(&per[t][i],
                         "{\"type\":\"multica.task.%s.v1\",\"time\":\"2000-01-01T00:%02u:00Z\","
                         "\"data\":{\"task_id\":\"%s\",\"workspace_id\":"
                         "\"00000000-0000-7000-8000-0000000000b1\",\"agent_id\":"
                         "\"00000000-0000-7000-8000-0000000000b3\",\"runtime_id\":"
                         "\"00000000-0000-7000-8000-0000000000b%u\",\"status\":\"%s\","
                         "\"version\":%u%s}}",
                         k[0], minute, task, runtime, k[1], version, extra),
                0);
        }
    }
    /* The tasks' events interleaved, each task's in its own order. */
    while (left > 0) {
        int t = (int)(fold_rand(&seed) % FOLD_TASKS);
        if (next[t] == count[t])
            continue;
        fc->events[fc->n++] = per[t][next[t]++];
        left--;
    }
}

static void fold_reset(const struct fold_case *fc)
{
    th_sql("TRUNCATE gateway.tasks, gateway.task_tokens, gateway.task_event_log, "
           "gateway.task_progress");
    th_sql(fc->pre);
}

#define FOLD_TASK_ROWS                                                                             \
    "SELECT to_jsonb(t) - 'updated_at' - 'requested_at' AS r FROM gateway.tasks t UNION ALL "      \
    "SELECT to_jsonb(k) - 'created_at' FROM gateway.task_tokens k UNION ALL "                      \
    "SELECT jsonb_build_object('n', row_number() OVER (ORDER BY seq), 'task', task_id, 'v', "      \
    "version, 'p', progress_seq, 'type', type, 'event', event) FROM gateway.task_event_log"

START_TEST(a_batch_changes_each_task_row_as_its_events_one_by_one_would)
{
    th_db_new();
    th_sql("INSERT INTO gateway.users (id, email) VALUES "
           "('00000000-0000-7000-8000-0000000000d1', 'fold@example.com')");
    PGconn *c = connect_db(th_db_url_as("multica_gateway"));
    int64_t changed = 0;
    for (int round = 0; round < FOLD_ROUNDS; round++) {
        struct fold_case fc;
        fold_case_make(&fc, 7919u * (unsigned)round + 1);
        size_t len = 3;
        for (int i = 0; i < fc.n; i++)
            len += strlen(fc.events[i]) + 1;
        char *batch = malloc(len), *at = batch;
        *at++ = '[';
        for (int i = 0; i < fc.n; i++)
            at += sprintf(at, "%s%s", i ? "," : "", fc.events[i]);
        strcpy(at, "]");
        fold_reset(&fc);
        ok(c, PROJECT, 1, (const char *[]){batch});
        th_sql("DROP TABLE IF EXISTS fold_batch; CREATE TABLE fold_batch AS " FOLD_TASK_ROWS);
        fold_reset(&fc);
        for (int i = 0; i < fc.n; i++)
            ok(c, PROJECT, 1, (const char *[]){fc.events[i]});
        th_sql("DROP TABLE IF EXISTS fold_single; CREATE TABLE fold_single AS " FOLD_TASK_ROWS);
        PGresult *r =
            PQexec(th_pg(), "SELECT 'batch: ' || r::text FROM (SELECT r FROM fold_batch EXCEPT ALL "
                            "SELECT r FROM fold_single) a UNION ALL SELECT 'one by one: ' "
                            "|| r::text FROM (SELECT r FROM fold_single EXCEPT ALL SELECT r FROM "
                            "fold_batch) b ORDER BY 1");
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(th_pg()));
        ck_assert_msg(PQntuples(r) == 0, "round %d: %d rows differ, the first: %.600s", round,
                      PQntuples(r), PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
        PQclear(r);
        /* What the batch changed, so that a generator that changes nothing fails the test. */
        changed += th_sql_int("SELECT count(*) FROM gateway.tasks WHERE version > 0");
        for (int i = 0; i < fc.n; i++)
            free(fc.events[i]);
        free(batch);
    }
    ck_assert_int_gt(changed, FOLD_ROUNDS * FOLD_TASKS / 2);
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
    tcase_add_test(tc, a_batch_changes_each_task_row_as_its_events_one_by_one_would);
    return tc;
}
