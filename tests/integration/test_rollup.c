/* test_rollup.c: the hourly rollup and the in-process scheduler against a real Postgres and
 * Apache Kafka: rollup equals the raw answer under random workloads, replicas run each plan
 * exactly once, a killed runner's plan is retried, concurrent callers never double count, late
 * invalidations survive, the backfill is exact and idempotent, the Kafka topics rebuild the
 * hourly table, and the daily level follows every write of the hourly table. */
#include "harness.h"
#include "mc_db.h"
#include "mc_proto.h"
#include "usage_gen.h"
#include "gateway_client.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Daily totals per (runtime, provider, model) in a time zone, from both sides. */
static int64_t daily_mismatches(const char *tz)
{
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "WITH raw AS (SELECT a.runtime_id, u.provider, u.model, "
        "(date_trunc('hour', u.created_at, 'UTC') AT TIME ZONE '%s')::date AS day, "
        "sum(u.input_tokens + u.output_tokens + u.cache_read_tokens + u.cache_write_tokens) t "
        "FROM usage.task_usage u JOIN usage.task_attribution a ON a.task_id = u.task_id "
        "AND a.deleted_at IS NULL GROUP BY 1, 2, 3, 4), "
        "rolled AS (SELECT runtime_id, provider, model, (bucket_hour AT TIME ZONE '%s')::date, "
        "sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) "
        "FROM usage.task_usage_hourly GROUP BY 1, 2, 3, 4) "
        "SELECT count(*) FROM ((TABLE raw EXCEPT ALL TABLE rolled) UNION ALL "
        "(TABLE rolled EXCEPT ALL TABLE raw)) d",
        tz, tz);
    return th_sql_int(sql);
}

/* New sessions of the current test database use no safety lag (scheduler processes too). */
static void no_safety_lag(void)
{
    th_sql("DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET multica.rollup_safety_lag = %L', "
           "current_database(), '0'); END$$");
}

static int64_t run_rollup(void)
{
    th_sql("SET multica.rollup_safety_lag = '0'");
    return th_sql_int("SELECT usage.rollup_task_usage_hourly()");
}

/* ---- random workload through the real ingester ---- */

struct task_state {
    char id[MC_UUID_STRLEN];
    int64_t version; /* 0: no attribution yet */
    int runtime, agent;
    bool deleted;
    int64_t last_report[2];
    int64_t totals[2];
};

#define N_TASKS    160
#define N_RUNTIMES 4
#define N_AGENTS   6

static void ids(char *out, unsigned prefix, int n)
{
    tu_uuid(out, prefix, (unsigned long)n);
}

/* One phase of random operations; returns how many usage and task events it sent. */
static void random_phase(mc_producer *p, struct task_state *tasks, uint64_t *seed, int64_t now_us,
                         size_t *nusage, size_t *ntask)
{
    char *usage[400], *events[100];
    size_t nu = 0, nt = 0;
    static const char *const provs[] = {"anthropic", "openai"};
    static const char *const mods[] = {"claude-sonnet-4", "gpt-5"};
    for (int op = 0; op < 300 && nu < 400 && nt < 100; op++) {
        struct task_state *t = &tasks[tu_rand(seed) % N_TASKS];
        int kind = (int)(tu_rand(seed) % 100);
        char ws[MC_UUID_STRLEN], ag[MC_UUID_STRLEN], rt[MC_UUID_STRLEN];
        if (kind < 70) {
            int k = (int)(tu_rand(seed) % 2);
            int64_t at;
            if (t->last_report[k] == 0)
                at = now_us - (int64_t)(tu_rand(seed) % (20ULL * 86400)) * 1000000;
            else if (kind < 6)
                at = t->last_report[k] - 1000000; /* a late, older report: must change nothing */
            else
                at = t->last_report[k] + 1000000 + (int64_t)(tu_rand(seed) % 3600) * 1000000;
            int64_t add = (int64_t)(tu_rand(seed) % 1000);
            int64_t total = kind < 6 ? t->totals[k] / 2 : t->totals[k] + add;
            usage[nu++] = tu_usage_event(t->id, provs[k], mods[k], total, total / 2, total * 3,
                                         total / 4, at);
            if (kind >= 6) {
                t->last_report[k] = at;
                t->totals[k] = total;
            }
        } else if (!t->deleted) {
            const char *type = MC_EV_TASK_QUEUED;
            if (t->version == 0) {
                t->agent = (int)(tu_rand(seed) % N_AGENTS);
                t->runtime = (int)(tu_rand(seed) % N_RUNTIMES);
            } else if (kind < 92) {
                type = MC_EV_TASK_REASSIGNED;
                t->runtime = (t->runtime + 1) % N_RUNTIMES;
            } else {
                type = MC_EV_TASK_DELETED;
                t->deleted = true;
            }
            t->version++;
            ids(ws, 0xb0000001, t->agent / 2); /* the workspace is the agent's */
            ids(ag, 0xb0000002, t->agent);
            ids(rt, 0xb0000003, t->runtime);
            events[nt++] = tu_task_event(type, t->id, ws, ag, rt, NULL, t->version);
        }
    }
    tu_send(p, MC_TOPIC_USAGE_EVENTS, usage, NULL, nu);
    tu_send(p, MC_TOPIC_TASK_EVENTS, events, NULL, nt);
    for (size_t i = 0; i < nu; i++)
        free(usage[i]);
    for (size_t i = 0; i < nt; i++)
        free(events[i]);
    *nusage += nu;
    *ntask += nt;
}

/* Members and runtimes the gateway needs to answer usage reads for the synthetic ids. */
static void seed_gateway(void)
{
    th_sql("INSERT INTO gateway.users (id, email) VALUES "
           "('b0000009-0000-7000-8000-000000000001', 'reader@example.com')");
    th_sql("INSERT INTO gateway.workspaces (id, name) SELECT ('b0000001-0000-7000-8000-' || "
           "lpad(to_hex(g), 12, '0'))::uuid, 'w' || g FROM generate_series(0, 2) g");
    th_sql("INSERT INTO gateway.members (workspace_id, user_id, role) SELECT id, "
           "'b0000009-0000-7000-8000-000000000001', 'member' FROM gateway.workspaces");
    th_sql("INSERT INTO gateway.runtimes (id, workspace_id, name) SELECT "
           "('b0000003-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, "
           "'b0000001-0000-7000-8000-000000000000', 'r' || g FROM generate_series(0, 3) g");
}

/* Every usage read answers the same from the rollup and from task_usage: Multica's runtime
 * and dashboard reads, and ours by agent, runtime, project and model. */
static void reads_agree(const char *base, const char *token, const char *const *zones, size_t nz)
{
    static const char *const runtime_reads[] = {"usage", "usage/by-agent", "usage/by-hour"};
    static const char *const groups[] = {"agent", "runtime", "project", "model"};
    char path[512];
    for (size_t z = 0; z < nz; z++) {
        char *paths[N_RUNTIMES * 3 + 3 * 6];
        size_t n = 0;
        for (int k = 0; k < N_RUNTIMES; k++) {
            char id[MC_UUID_STRLEN];
            ids(id, 0xb0000003, k);
            for (int e = 0; e < 3; e++)
                paths[n++] =
                    mc_sprintf("/api/runtimes/%s/%s?days=30&tz=%s", id, runtime_reads[e], zones[z]);
        }
        for (int w = 0; w < 3; w++) {
            char id[MC_UUID_STRLEN];
            ids(id, 0xb0000001, w);
            for (int g = 0; g < 4; g++)
                paths[n++] = mc_sprintf("/api/workspaces/%s/usage?days=30&tz=%s&group_by=%s", id,
                                        zones[z], groups[g]);
            paths[n++] =
                mc_sprintf("/api/dashboard/usage/daily?workspace_id=%s&tz=%s", id, zones[z]);
            paths[n++] =
                mc_sprintf("/api/dashboard/usage/by-agent?workspace_id=%s&tz=%s", id, zones[z]);
        }
        for (size_t i = 0; i < n; i++) {
            json_t *a = NULL, *b = NULL;
            snprintf(path, sizeof path, "%s", paths[i]);
            ck_assert_int_eq(tg_call(base, "GET", path, token, NULL, &a), 200);
            strncat(path, "&source=raw", sizeof path - strlen(path) - 1);
            ck_assert_int_eq(tg_call(base, "GET", path, token, NULL, &b), 200);
            json_t *ra = json_is_array(a) ? a : json_object_get(a, "rows");
            json_t *rb = json_is_array(b) ? b : json_object_get(b, "rows");
            ck_assert_msg(json_equal(ra, rb), "%s: rollup and raw differ", path);
            json_decref(a);
            json_decref(b);
            free(paths[i]);
        }
    }
}

START_TEST(rollup_equals_raw_under_random_workloads)
{
    th_db_new();
    seed_gateway();
    const char *brokers = th_broker_start(3);
    tu_start_ingester(brokers, th_free_port(), "ingester", NULL);
    const char *base = tg_start(brokers, NULL, NULL);
    char *reader = tg_login(base, "reader@example.com");
    mc_producer *p = tu_producer(brokers);
    struct task_state *tasks = calloc(N_TASKS, sizeof *tasks);
    for (int i = 0; i < N_TASKS; i++)
        ids(tasks[i].id, 0xb0000000, i);
    uint64_t seed = 20261121;
    size_t nusage = 0, ntask = 0;
    int rollups = 0;
    const char *zones[] = {"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata",
                           "Pacific/Chatham"};
    for (int phase = 0; phase < 10; phase++) {
        random_phase(p, tasks, &seed, mc_now_wall_us(), &nusage, &ntask);
        ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)nusage, 60000));
        ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, (int64_t)ntask, 60000));
        if (tu_rand(&seed) % 3 == 0 && phase != 9)
            continue; /* rollups happen at random points, not after every change */
        run_rollup();
        rollups++;
        ck_assert_int_eq(tu_rollup_mismatches(), 0);
        for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++)
            ck_assert_msg(daily_mismatches(zones[z]) == 0, "daily totals differ in %s", zones[z]);
        reads_agree(base, reader, zones, sizeof zones / sizeof zones[0]);
        /* A second run right after changes nothing: the rollup is idempotent. */
        ck_assert_int_eq(run_rollup(), 0);
    }
    ck_assert_int_ge(rollups, 3);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly"), 50);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_attribution WHERE deleted_at IS "
                                "NOT NULL"),
                     0);
    /* The reads hold real rows, export as CSV, and refuse bad parameters by name. */
    char path[512], rt[MC_UUID_STRLEN], ws[MC_UUID_STRLEN];
    ids(rt, 0xb0000003, 0);
    ids(ws, 0xb0000001, 0);
    json_t *out = NULL;
    snprintf(path, sizeof path, "/api/runtimes/%s/usage?days=30", rt);
    ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), 200);
    size_t rows = json_array_size(out);
    ck_assert_uint_gt(rows, 0);
    json_decref(out);
    snprintf(path, sizeof path, "/api/workspaces/%s/usage?days=30", ws);
    ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), 200);
    ck_assert_str_eq(tg_str(out, "tz"), "UTC");
    json_decref(out);
    snprintf(path, sizeof path, "/api/runtimes/%s/usage?days=30", rt);
    char url[600], *csv = NULL, auth[1100];
    snprintf(url, sizeof url, "%s%s&format=csv", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", reader);
    const char *headers[] = {auth, NULL};
    ck_assert_int_eq(th_http("GET", url, headers, NULL, &csv), 200);
    ck_assert_msg(strncmp(csv, "date,provider,model,input_tokens,output_tokens,", 47) == 0, "%s",
                  csv);
    size_t lines = 0;
    for (const char *c = csv; *c; c++)
        lines += *c == '\n';
    ck_assert_uint_eq(lines, rows + 1);
    free(csv);
    /* Our workspace read is strict; Multica's reads read a bad days as the default and an
     * unknown zone as none, as Multica does (test_usage_reads.c checks the answers). */
    const char *bad[][2] = {{"days=0", "days"},         {"days=366", "days"},
                            {"days=abc", "days"},       {"tz=Mars/Olympus", "tz"},
                            {"source=cache", "source"}, {"format=xml", "format"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/api/workspaces/%s/usage?%s", ws, bad[i][0]);
        ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), 400);
        ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), bad[i][1]);
        json_decref(out);
        snprintf(path, sizeof path, "/api/runtimes/%s/usage?%s", rt, bad[i][0]);
        ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), i < 4 ? 200 : 400);
        json_decref(out);
    }
    /* A zone with blanks around it is the zone (known_tz trims it), not a 500. */
    snprintf(path, sizeof path, "/api/workspaces/%s/usage?days=30&tz=%%20Asia/Kolkata%%20", ws);
    ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), 200);
    ck_assert_str_eq(tg_str(out, "tz"), "Asia/Kolkata");
    json_decref(out);
    snprintf(path, sizeof path, "/api/runtimes/%s/usage?days=30&tz=%%20Asia/Kolkata%%20", rt);
    ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), 200);
    json_decref(out);
    snprintf(path, sizeof path, "/api/workspaces/%s/usage?group_by=team", ws);
    ck_assert_int_eq(tg_call(base, "GET", path, reader, NULL, &out), 400);
    ck_assert_str_eq(tg_str(json_object_get(out, "error"), "field"), "group_by");
    json_decref(out);
    free(reader);
    mc_producer_free(p, 1000);
    free(tasks);
}
END_TEST

/* ---- direct SQL workloads ---- */

/* Inserts n tasks with attribution and one usage row each, created (and updated) at random
 * times within the last `days` days. */
static void insert_history(int n, int days, unsigned prefix)
{
    char sql[2048];
    snprintf(
        sql, sizeof sql,
        "WITH t AS (SELECT g, ('%08x-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid id, "
        "now() - interval '10 minutes' - (random() * %d) * interval '1 day' AS at "
        "FROM generate_series(1, %d) g), "
        "a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, "
        "runtime_id, version) SELECT id, ('b0000001-0000-7000-8000-' || lpad(to_hex(g %% 3), 12, "
        "'0'))::uuid, ('b0000002-0000-7000-8000-' || lpad(to_hex(g %% 5), 12, '0'))::uuid, "
        "('b0000003-0000-7000-8000-' || lpad(to_hex(g %% 4), 12, '0'))::uuid, 1 FROM t) "
        "INSERT INTO usage.task_usage SELECT id, (ARRAY['anthropic','openai'])[1 + g %% 2], "
        "(ARRAY['m1','m2','m3'])[1 + g %% 3], g %% 1000, g %% 500, g %% 3000, g %% 100, at, at, "
        "at FROM t",
        prefix, days, n);
    th_sql(sql);
}

static pid_t start_scheduler(const char *brokers, const char *name, const char *extra);

/* Two rows that bypassed validation (as rows accepted before the bound did) whose sum does not
 * fit a bigint, in the bucket of workspace b0000001-...-9 under model 'huge'. */
static void insert_overflowing_bucket(void)
{
    th_sql("INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, "
           "version) SELECT ('c0000090-0000-7000-8000-00000000000' || g)::uuid, "
           "'b0000001-0000-7000-8000-000000000009', 'b0000002-0000-7000-8000-000000000009', "
           "'b0000003-0000-7000-8000-000000000009', 1 FROM generate_series(1, 2) g");
    th_sql(
        "INSERT INTO usage.task_usage SELECT ('c0000090-0000-7000-8000-00000000000' || g)::uuid, "
        "'openai', 'huge', 4611686018427387904, 1, 0, 0, now() - interval '20 minutes', "
        "now() - interval '20 minutes', now() - interval '20 minutes' "
        "FROM generate_series(1, 2) g");
}

START_TEST(a_bucket_that_cannot_be_stored_is_quarantined_and_the_rest_goes_on)
{
    th_db_new();
    no_safety_lag();
    insert_history(300, 1, 0xc0000009);
    insert_overflowing_bucket();
    /* Before the quarantine every run failed with "bigint out of range", so the watermark
     * stopped for every workspace. */
    ck_assert_int_gt(run_rollup(), 0);
    ck_assert_int_eq(th_sql_int("SELECT usage.rollup_quarantined()"), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.rollup_quarantine WHERE model = "
                                "'huge' AND input_tokens = 9223372036854775808 AND task_count = 2"),
                     1);
    ck_assert_int_eq(
        th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE model = 'huge'"), 0);
    /* Every other bucket equals the raw rows, and the watermark moved. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM ((SELECT * FROM (" TU_RAW_BUCKETS
                                ") r WHERE r.model <> 'huge' EXCEPT ALL " TU_ROLLUP_BUCKETS
                                ") UNION ALL (" TU_ROLLUP_BUCKETS
                                " EXCEPT ALL SELECT * FROM (" TU_RAW_BUCKETS
                                ") r WHERE r.model <> 'huge')) d"),
                     0);
    ck_assert_int_eq(
        th_sql_int("SELECT count(*) FROM usage.rollup_state WHERE watermark >= (SELECT "
                   "max(updated_at) FROM usage.task_usage WHERE model = 'huge')"),
        1);
    /* The scheduler records it with the run (a success for everyone else) and exports it. */
    const char *brokers = th_broker_start(1);
    setenv("SCHEDULER_TICK", "250ms", 1);
    int port = th_free_port();
    char extra[64];
    snprintf(extra, sizeof extra, "HTTP_PORT=%d", port);
    pid_t s = start_scheduler(brokers, "quarantine", extra);
    unsetenv("SCHEDULER_TICK");
    int64_t deadline = mc_now_mono_ms() + 20000;
    while (th_sql_int("SELECT count(*) FROM scheduler.sys_cron_executions WHERE status = "
                      "'SUCCESS'") == 0 &&
           mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM scheduler.sys_cron_executions WHERE "
                                "status = 'SUCCESS' AND (result->>'quarantined_buckets')::int = 1 "
                                "AND (result->>'advisory_lock_id')::int = 4246"),
                     1);
    char url[128], *metrics = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    ck_assert_int_eq(th_http("GET", url, NULL, NULL, &metrics), 200);
    ck_assert_msg(strstr(metrics, "multica_usage_rollup_quarantined_buckets 1\n"), "%s", metrics);
    free(metrics);
    th_stop(s, SIGTERM, 10000);
    /* One of the rows goes (its task deleted): the bucket fits again and leaves the
     * quarantine at the next run. */
    th_sql("SELECT usage.enqueue_task_buckets(ARRAY['c0000090-0000-7000-8000-000000000001'::uuid], "
           "ARRAY['b0000001-0000-7000-8000-000000000009'::uuid], "
           "ARRAY['b0000003-0000-7000-8000-000000000009'::uuid], "
           "ARRAY['b0000002-0000-7000-8000-000000000009'::uuid])");
    th_sql("DELETE FROM usage.task_usage WHERE task_id = 'c0000090-0000-7000-8000-000000000001'");
    run_rollup();
    ck_assert_int_eq(th_sql_int("SELECT usage.rollup_quarantined()"), 0);
    ck_assert_int_eq(th_sql_int("SELECT input_tokens FROM usage.task_usage_hourly WHERE model = "
                                "'huge'"),
                     4611686018427387904LL);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
}
END_TEST

START_TEST(rows_beyond_the_bound_leave_the_totals_at_migration_0008)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    const struct mc_slice *usage = mc_slice_find("usage");
    ck_assert_msg(mc_migrate_up(url, usage, 7, true, err, sizeof err) == 0, "%s", err);
    th_sql("INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, "
           "version) SELECT ('c0000091-0000-7000-8000-00000000000' || g)::uuid, "
           "'b0000001-0000-7000-8000-000000000009', 'b0000002-0000-7000-8000-000000000009', "
           "'b0000003-0000-7000-8000-000000000009', 1 FROM generate_series(1, 2) g");
    th_sql(
        "INSERT INTO usage.task_usage VALUES "
        "('c0000091-0000-7000-8000-000000000001', 'openai', 'm', 9223372036854775807, 1, 0, 0, "
        "now(), now(), now()), "
        "('c0000091-0000-7000-8000-000000000002', 'openai', 'm', 5, 1, 0, 0, now(), now(), now())");
    ck_assert_msg(mc_migrate_up(url, usage, -1, true, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage"), 1);
    ck_assert_int_eq(
        th_sql_int("SELECT count(*) FROM usage.task_usage_refused WHERE input_tokens = "
                   "9223372036854775807"),
        1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 1);
}
END_TEST

START_TEST(concurrent_callers_never_double_count)
{
    th_db_new();
    insert_history(3000, 3, 0xc0000001);
    th_sql("SET multica.rollup_safety_lag = '0'");
    /* Several sessions call the window primitive and the entry point at once, while rows keep
     * changing; afterwards one quiet run must leave the table equal to the ground truth. */
    enum { CALLERS = 4 };
    pid_t pids[CALLERS + 1];
    const char *url = th_db_url_as("multica_usage");
    for (int c = 0; c <= CALLERS; c++) {
        pids[c] = fork();
        ck_assert_int_ge(pids[c], 0);
        if (pids[c] == 0) {
            PGconn *conn = PQconnectdb(url);
            int bad = PQstatus(conn) != CONNECTION_OK;
            for (int i = 0; i < 25 && !bad; i++) {
                const char *sql =
                    c == CALLERS ? "UPDATE usage.task_usage SET input_tokens = input_tokens + 1, "
                                   "updated_at = now() WHERE task_id IN (SELECT task_id FROM "
                                   "usage.task_usage ORDER BY random() LIMIT 50)"
                    : c % 2 ? "SELECT usage.rollup_task_usage_hourly_window('-infinity', now())"
                            : "SET multica.rollup_safety_lag = '0'; "
                              "SELECT usage.rollup_task_usage_hourly()";
                PGresult *r = PQexec(conn, sql);
                ExecStatusType st = PQresultStatus(r);
                bad = st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK;
                if (bad)
                    fprintf(stderr, "caller %d: %s", c, PQerrorMessage(conn));
                PQclear(r);
            }
            PQfinish(conn);
            _exit(bad);
        }
    }
    for (int c = 0; c <= CALLERS; c++) {
        int status;
        waitpid(pids[c], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "caller %d failed", c);
    }
    th_sql_int("SELECT usage.rollup_task_usage_hourly_window('-infinity', now())");
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    ck_assert_int_eq(th_sql_int("SELECT sum(task_count) FROM usage.task_usage_hourly"), 3000);
}
END_TEST

START_TEST(invalidation_during_a_run_survives_it)
{
    th_db_new();
    insert_history(200, 1, 0xc0000002);
    ck_assert_int_gt(run_rollup(), 0);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    /* The task's current bucket is already queued: the run below drains that entry, and the
     * concurrent re-enqueue must not be swallowed by it. */
    th_sql("WITH t AS (SELECT task_id, workspace_id, runtime_id, agent_id FROM "
           "usage.task_attribution ORDER BY task_id LIMIT 1) SELECT "
           "usage.enqueue_task_buckets(array_agg(task_id), array_agg(workspace_id), "
           "array_agg(runtime_id), array_agg(agent_id)) FROM t");
    /* Session A runs the rollup and has not committed yet... */
    PGconn *a = PQconnectdb(th_db_url_as("multica_usage"));
    ck_assert_int_eq(PQstatus(a), CONNECTION_OK);
    PQclear(PQexec(a, "SET multica.rollup_safety_lag = '0'"));
    PQclear(PQexec(a, "BEGIN"));
    PGresult *r = PQexec(a, "SELECT usage.rollup_task_usage_hourly()");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    /* ...when a reassignment moves a task (as the ingester does: enqueue the old bucket, move,
     * enqueue the new one), from another session. */
    PGconn *b = PQconnectdb(th_db_url_as("multica_usage"));
    const char *move =
        "WITH t AS (SELECT task_id, workspace_id, runtime_id, agent_id FROM usage.task_attribution "
        "ORDER BY task_id LIMIT 1) SELECT usage.enqueue_task_buckets(array_agg(task_id), "
        "array_agg(workspace_id), array_agg(runtime_id), array_agg(agent_id)) FROM t; "
        "UPDATE usage.task_attribution SET runtime_id = 'b0000003-0000-7000-8000-0000000000ff' "
        "WHERE task_id = (SELECT task_id FROM usage.task_attribution ORDER BY task_id LIMIT 1); "
        "WITH t AS (SELECT task_id, workspace_id, runtime_id, agent_id FROM usage.task_attribution "
        "ORDER BY task_id LIMIT 1) SELECT usage.enqueue_task_buckets(array_agg(task_id), "
        "array_agg(workspace_id), array_agg(runtime_id), array_agg(agent_id)) FROM t";
    ck_assert_int_eq(PQsendQuery(b, move), 1);
    usleep(300 * 1000);
    PQclear(PQexec(a, "COMMIT"));
    while ((r = PQgetResult(b)) != NULL) {
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
                      "%s", PQerrorMessage(b));
        PQclear(r);
    }
    /* The run that was in progress drained what it saw, not this. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 2);
    ck_assert_int_gt(tu_rollup_mismatches(), 0);
    ck_assert_int_eq(run_rollup(), 2);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 0);
    PQfinish(a);
    PQfinish(b);
}
END_TEST

/* One round of direct SQL changes of every kind the rollup must follow: corrections (with and
 * without a reported cost) anywhere in history, new rows, deleted rows, tasks moving runtime
 * and issues moving project (queued as the ingester queues them), and, every third round, a
 * price change (queued by usage.put_prices). */
static void random_sql_round(int round)
{
    char sql[1600];
    th_sql(
        "UPDATE usage.task_usage u SET output_tokens = u.output_tokens + 1 + (random() * 50)::int, "
        "cost_usd_ticks = CASE WHEN random() < 0.3 THEN (random() * 1e6)::bigint END, "
        "updated_at = now() WHERE (u.task_id, u.provider, u.model) IN (SELECT task_id, provider, "
        "model FROM usage.task_usage ORDER BY random() LIMIT 150)");
    snprintf(
        sql, sizeof sql,
        "WITH t AS (SELECT g, ('c00000f%d-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid "
        "id, now() - (random() * 60) * interval '1 day' AS at FROM generate_series(1, 40) g), "
        "a AS (INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, "
        "issue_id, version) SELECT id, 'b0000001-0000-7000-8000-000000000001', "
        "('b0000002-0000-7000-8000-' || lpad(to_hex(g %% 5), 12, '0'))::uuid, "
        "('b0000003-0000-7000-8000-' || lpad(to_hex(g %% 4), 12, '0'))::uuid, "
        "('b0000004-0000-7000-8000-' || lpad(to_hex(g %% 3), 12, '0'))::uuid, 1 FROM t) "
        "INSERT INTO usage.task_usage SELECT id, 'anthropic', (ARRAY['m1','m2','m3'])[1 + g %% 3], "
        "g * 100, g * 10, g * 1000, g, at, at, now(), CASE WHEN g %% 4 = 0 THEN g * 7 END FROM t",
        round);
    th_sql(sql);
    /* Fifteen rows go, their buckets queued first as the ingester queues a deleted task's (a
     * row deleted without that, whose task then moves before the next run, would leave its old
     * bucket to a repair: see usage.rollup_fold_deltas); then ten tasks change runtime: old
     * buckets queued, the move, new buckets queued. */
    const char *queue = "WITH t AS (SELECT task_id, workspace_id, runtime_id, agent_id FROM "
                        "usage.task_attribution WHERE task_id IN (SELECT task_id FROM mc_picked)) "
                        "SELECT usage.enqueue_task_buckets(array_agg(task_id), "
                        "array_agg(workspace_id), array_agg(runtime_id), array_agg(agent_id)) "
                        "FROM t";
    th_sql("CREATE TEMP TABLE IF NOT EXISTS mc_picked (task_id uuid, provider text, model text)");
    th_sql("TRUNCATE mc_picked");
    th_sql("INSERT INTO mc_picked SELECT task_id, provider, model FROM usage.task_usage "
           "ORDER BY random() LIMIT 15");
    th_sql(queue);
    th_sql("DELETE FROM usage.task_usage WHERE (task_id, provider, model) IN (SELECT * FROM "
           "mc_picked)");
    th_sql("TRUNCATE mc_picked");
    th_sql("INSERT INTO mc_picked SELECT task_id FROM usage.task_attribution ORDER BY random() "
           "LIMIT 10");
    th_sql(queue);
    th_sql("UPDATE usage.task_attribution SET runtime_id = ('b0000003-0000-7000-8000-' || "
           "lpad(to_hex((random() * 3)::int), 12, '0'))::uuid WHERE task_id IN (SELECT task_id "
           "FROM mc_picked)");
    th_sql(queue);
    /* An issue moves to another project. */
    char enqueue[160];
    snprintf(
        enqueue, sizeof enqueue,
        "SELECT usage.enqueue_issue_buckets(ARRAY['b0000004-0000-7000-8000-00000000000%d'::uuid])",
        round % 3);
    th_sql(enqueue);
    snprintf(sql, sizeof sql,
             "UPDATE usage.issue_projects SET project_id = CASE WHEN project_id IS NULL THEN "
             "'b0000005-0000-7000-8000-00000000000%d'::uuid END, version = version + 1 "
             "WHERE issue_id = 'b0000004-0000-7000-8000-00000000000%d'",
             round % 2, round % 3);
    th_sql(sql);
    th_sql(enqueue);
    if (round % 3 == 2) {
        snprintf(sql, sizeof sql,
                 "SELECT usage.put_prices(NULL, NULL, jsonb_build_array(jsonb_build_object("
                 "'provider', 'anthropic', 'model', 'm%d', 'effective_from', now() - "
                 "interval '%d days', 'input_ticks_per_mtok', %d, 'output_ticks_per_mtok', 7000, "
                 "'cache_read_ticks_per_mtok', 333, 'cache_write_ticks_per_mtok', 999)))",
                 1 + round % 2, 5 + round * 3, 10000 + round * 1234);
        th_sql(sql);
    }
}

/* History arrives with the logging on (no watermark yet): the first runs fold it, and the
 * result must equal raw. Caught up, the watermark is stamped: from there every run drains the
 * queue up to its start. */
static void catch_up(void)
{
    while (th_sql_int("SELECT count(*) FROM usage.task_usage_delta") > 0 ||
           th_sql_int("SELECT count(*) FROM usage.task_usage_dirty") > 0)
        run_rollup();
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    th_sql("SELECT usage.stamp_rollup_watermark(now())");
}

START_TEST(folded_changes_equal_a_full_recompute_under_random_workloads)
{
    th_db_new();
    th_sql("SELECT setseed(0.20261130)");
    insert_history(3000, 60, 0xc0000011);
    th_sql("UPDATE usage.task_attribution SET issue_id = ('b0000004-0000-7000-8000-' || "
           "lpad(to_hex(abs(hashtext(task_id::text)) % 4), 12, '0'))::uuid");
    th_sql("INSERT INTO usage.issue_projects (issue_id, workspace_id, project_id, version) "
           "SELECT ('b0000004-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, "
           "'b0000001-0000-7000-8000-000000000001', CASE WHEN g > 0 THEN "
           "('b0000005-0000-7000-8000-' || lpad(to_hex(g % 2), 12, '0'))::uuid END, 1 "
           "FROM generate_series(0, 3) g");
    th_sql("SELECT usage.put_prices(NULL, NULL, '[{\"provider\": \"anthropic\", \"model\": "
           "\"m1\", \"effective_from\": \"2020-01-01T00:00:00Z\", \"input_ticks_per_mtok\": "
           "30000, \"output_ticks_per_mtok\": 150000, \"cache_read_ticks_per_mtok\": 3000, "
           "\"cache_write_ticks_per_mtok\": 37500}]')");
    catch_up();
    for (int round = 0; round < 9; round++) {
        random_sql_round(round);
        /* Row images logged: an update in place (sign 0) is one row holding two. */
        ck_assert_int_gt(th_sql_int("SELECT coalesce(sum(CASE WHEN sign = 0 THEN 2 ELSE 1 END), "
                                    "0) FROM usage.task_usage_delta"),
                         300);
        run_rollup();
        /* Every logged change was folded or replaced, and nothing that was not logged or
         * queued is left to recompute. */
        ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
        ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 0);
        ck_assert_msg(tu_rollup_mismatches() == 0, "round %d: the fold differs from raw", round);
        /* A full recompute from the raw rows changes no bucket the runs left. */
        int64_t rev = th_sql_int("SELECT coalesce(sum(revision), 0) FROM usage.task_usage_hourly");
        ck_assert_int_eq(th_sql_int("SELECT usage.rollup_task_usage_hourly_window('-infinity', "
                                    "now())"),
                         0);
        ck_assert_int_eq(th_sql_int("SELECT coalesce(sum(revision), 0) FROM "
                                    "usage.task_usage_hourly"),
                         rev);
    }
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE "
                                "estimated_cost_usd_ticks > 0"),
                     0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE "
                                "project_id IS NOT NULL"),
                     0);
}
END_TEST

/* An update that keeps a row's key and created_at (every update of the ingester) is logged as
 * one row carrying its old values (sign 0) and folds to what the raw rows say, reported costs
 * set, changed and cleared, at catalogue prices and unpriced; an update that moves a row to
 * another hour or key is logged as the row before and after. Fails when the log pairs rows it
 * must not, misses the pairing, or the fold's arithmetic of a paired row is off. */
START_TEST(an_update_in_place_is_logged_once_and_folds_exactly)
{
    th_db_new();
    th_sql("SELECT setseed(0.20261130)");
    th_sql("SELECT usage.put_prices(NULL, NULL, '[{\"provider\": \"anthropic\", \"model\": "
           "\"m1\", \"effective_from\": \"2020-01-01T00:00:00Z\", \"input_ticks_per_mtok\": "
           "30000, \"output_ticks_per_mtok\": 150000, \"cache_read_ticks_per_mtok\": 3000, "
           "\"cache_write_ticks_per_mtok\": 37500}, {\"provider\": \"openai\", \"model\": "
           "\"m2\", \"effective_from\": \"2020-01-01T00:00:00Z\", \"input_ticks_per_mtok\": "
           "12345, \"output_ticks_per_mtok\": 99999, \"cache_read_ticks_per_mtok\": 777, "
           "\"cache_write_ticks_per_mtok\": 1}]')");
    insert_history(600, 30, 0xc0000021);
    th_sql("UPDATE usage.task_usage SET cost_usd_ticks = g * 11 FROM (SELECT task_id, "
           "row_number() OVER (ORDER BY task_id) g FROM usage.task_usage) r "
           "WHERE r.task_id = usage.task_usage.task_id AND r.g % 3 = 0");
    catch_up();
    /* 300 rows change in place, their reported cost set, changed or cleared at random. */
    th_sql("CREATE TEMP TABLE mc_before AS SELECT * FROM usage.task_usage "
           "ORDER BY task_id LIMIT 300");
    th_sql("UPDATE usage.task_usage u SET input_tokens = u.input_tokens + 7, "
           "output_tokens = u.output_tokens * 2, cache_read_tokens = u.cache_read_tokens + 1, "
           "cache_write_tokens = u.cache_write_tokens + 3, cost_usd_ticks = CASE WHEN "
           "random() < 0.5 THEN (random() * 1e6)::bigint END, updated_at = now() "
           "FROM mc_before b WHERE (u.task_id, u.provider, u.model) = "
           "(b.task_id, b.provider, b.model)");
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 300);
    /* Each logged row holds the row as it is and, in old_*, as it was. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta x "
                                "JOIN mc_before b USING (task_id, provider, model, created_at) "
                                "JOIN usage.task_usage u USING (task_id, provider, model) "
                                "WHERE x.sign = 0 "
                                "AND (x.old_input_tokens, x.old_output_tokens, "
                                "x.old_cache_read_tokens, x.old_cache_write_tokens) = "
                                "(b.input_tokens, b.output_tokens, b.cache_read_tokens, "
                                "b.cache_write_tokens) "
                                "AND x.old_cost_usd_ticks IS NOT DISTINCT FROM b.cost_usd_ticks "
                                "AND (x.input_tokens, x.output_tokens, x.cache_read_tokens, "
                                "x.cache_write_tokens) = (u.input_tokens, u.output_tokens, "
                                "u.cache_read_tokens, u.cache_write_tokens) "
                                "AND x.cost_usd_ticks IS NOT DISTINCT FROM u.cost_usd_ticks"),
                     300);
    /* Ten rows move three hours on and ten change model: each is logged before and after. */
    th_sql("UPDATE usage.task_usage SET created_at = created_at + interval '3 hours', "
           "output_tokens = output_tokens + 5, updated_at = now() WHERE task_id IN "
           "(SELECT task_id FROM usage.task_usage ORDER BY task_id DESC LIMIT 10)");
    th_sql("UPDATE usage.task_usage SET model = 'm2', input_tokens = input_tokens + 1, "
           "updated_at = now() WHERE model = 'm3' AND task_id IN (SELECT task_id FROM "
           "usage.task_usage WHERE model = 'm3' ORDER BY task_id DESC LIMIT 10 OFFSET 10)");
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta WHERE sign = -1"), 20);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta WHERE sign = 1"), 20);
    run_rollup();
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_delta"), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_dirty"), 0);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    /* A full recompute changes no bucket: every part (uncosted tokens of each kind too). */
    int64_t rev = th_sql_int("SELECT coalesce(sum(revision), 0) FROM usage.task_usage_hourly");
    ck_assert_int_eq(th_sql_int("SELECT usage.rollup_task_usage_hourly_window('-infinity', now())"),
                     0);
    ck_assert_int_eq(th_sql_int("SELECT coalesce(sum(revision), 0) FROM usage.task_usage_hourly"),
                     rev);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE "
                                "estimated_cost_usd_ticks > 0"),
                     0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE "
                                "cost_usd_ticks > 0"),
                     0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE "
                                "unpriced_tokens > 0"),
                     0);
}
END_TEST

/* ---- the scheduler ---- */

/* Daily rows that differ from a computation from scratch of task_usage_hourly: days missing or
 * extra, a day's sums stored when one passes a bigint or missing when all fit, or any of its
 * 25 x 12 running sums off. */
#define DAILY_DIFFERENCES                                                                          \
    "WITH hv AS (SELECT h.workspace_id, h.runtime_id, h.agent_id, h.provider, h.model, "           \
    "h.project_id, (h.bucket_hour AT TIME ZONE 'UTC')::date AS day, "                              \
    "extract(hour FROM h.bucket_hour AT TIME ZONE 'UTC')::int AS j, x.m, x.v "                     \
    "FROM usage.task_usage_hourly h CROSS JOIN LATERAL unnest(ARRAY[h.input_tokens, "              \
    "h.output_tokens, h.cache_read_tokens, h.cache_write_tokens, h.task_count, h.cost_usd_ticks, " \
    "h.uncosted_input_tokens, h.uncosted_output_tokens, h.uncosted_cache_read_tokens, "            \
    "h.uncosted_cache_write_tokens, h.estimated_cost_usd_ticks, h.unpriced_tokens]::numeric[]) "   \
    "WITH ORDINALITY AS x(v, m)), "                                                                \
    "want AS (SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day, g.r, "  \
    "hv.m, sum(CASE WHEN hv.j <= g.r - 2 THEN hv.v ELSE 0 END) AS v FROM hv "                      \
    "CROSS JOIN generate_series(1, 25) AS g(r) GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9), "              \
    "wday AS (SELECT workspace_id, runtime_id, agent_id, provider, model, project_id, day, "       \
    "max(v) > 9223372036854775807 AS over FROM want GROUP BY 1, 2, 3, 4, 5, 6, 7) "                \
    "SELECT (SELECT count(*) FROM wday w WHERE NOT EXISTS (SELECT 1 "                              \
    "FROM usage.task_usage_daily d "                                                               \
    "WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day) "                \
    "= (w.workspace_id, w.runtime_id, w.agent_id, w.provider, w.model, w.day) "                    \
    "AND d.project_id IS NOT DISTINCT FROM w.project_id AND (d.cum IS NULL) = w.over)) "           \
    "+ (SELECT count(*) FROM usage.task_usage_daily d WHERE NOT EXISTS (SELECT 1 FROM wday w "     \
    "WHERE (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, d.day) "                \
    "= (w.workspace_id, w.runtime_id, w.agent_id, w.provider, w.model, w.day) "                    \
    "AND d.project_id IS NOT DISTINCT FROM w.project_id)) "                                        \
    "+ (SELECT count(*) FROM want w JOIN usage.task_usage_daily d "                                \
    "USING (workspace_id, runtime_id, agent_id, provider, model, day) "                            \
    "WHERE d.project_id IS NOT DISTINCT FROM w.project_id AND d.cum IS NOT NULL "                  \
    "AND d.cum[w.r][w.m] IS DISTINCT FROM w.v) "                                                   \
    "+ (SELECT count(*) FROM usage.task_usage_daily WHERE cum IS NOT NULL "                        \
    "AND (array_length(cum, 1), array_length(cum, 2)) IS DISTINCT FROM (25, 12))"

/* Random writes of the hourly table itself, each statement as a writer might issue it: the
 * daily level must follow every one (its triggers add each statement's changes to the days it
 * touched, and recompute the days they cannot add to). */
static const char *const hourly_writes[] = {
    /* updates that change sums, a few hours of many days */
    "UPDATE usage.task_usage_hourly SET output_tokens = output_tokens + (random() * 1000)::int, "
    "task_count = task_count + 1, cost_usd_ticks = cost_usd_ticks + 3 WHERE random() < 0.15",
    /* deletes: every hour of one day (the day empties), and a few hours anywhere */
    "DELETE FROM usage.task_usage_hourly WHERE (bucket_hour AT TIME ZONE 'UTC')::date = "
    "(SELECT (bucket_hour AT TIME ZONE 'UTC')::date FROM usage.task_usage_hourly "
    "ORDER BY random() LIMIT 1)",
    "DELETE FROM usage.task_usage_hourly WHERE random() < 0.05",
    /* inserts and replacements in one statement (the UPDATE trigger fires, then the INSERT's) */
    "INSERT INTO usage.task_usage_hourly AS h (workspace_id, runtime_id, agent_id, provider, "
    "model, project_id, bucket_hour, input_tokens, output_tokens, cache_read_tokens, "
    "cache_write_tokens, task_count, cost_usd_ticks, unpriced_tokens) SELECT k.w, k.r, k.a, "
    "'anthropic', k.m, k.p, date_trunc('hour', now(), 'UTC') - (g * 36 + floor(random() * "
    "36)) * interval '1 hour', (random() * 5000)::bigint, 7, 1, 2, 1, 0, 5 FROM (SELECT "
    "DISTINCT workspace_id w, runtime_id r, agent_id a, model m, project_id p FROM "
    "usage.task_usage_hourly) k, generate_series(0, 7) g "
    "ON CONFLICT ON CONSTRAINT task_usage_hourly_key DO UPDATE "
    "SET input_tokens = EXCLUDED.input_tokens, task_count = h.task_count + 1",
    /* values near the bound: the hours of a day past a bigint together, then back */
    "UPDATE usage.task_usage_hourly h SET input_tokens = 9223372036854775000 FROM (SELECT "
    "workspace_id, runtime_id, agent_id, model, project_id, (bucket_hour AT TIME ZONE "
    "'UTC')::date AS day FROM usage.task_usage_hourly ORDER BY random() LIMIT 1) k WHERE "
    "(h.workspace_id, h.runtime_id, h.agent_id, h.model, (h.bucket_hour AT TIME ZONE "
    "'UTC')::date) = (k.workspace_id, k.runtime_id, k.agent_id, k.model, k.day) AND "
    "h.project_id IS NOT DISTINCT FROM k.project_id",
    "UPDATE usage.task_usage_hourly SET input_tokens = 9 WHERE input_tokens > 4611686018427387904 "
    "AND random() < 0.5",
    /* every hour of the days past the bound replaced, and hours 0 and 1 inserted where they
     * are missing, in one statement: the UPDATE trigger recomputes those days (new hours
     * included), the INSERT trigger must not add the new hours again */
    "INSERT INTO usage.task_usage_hourly AS h (workspace_id, runtime_id, agent_id, provider, "
    "model, project_id, bucket_hour, input_tokens, output_tokens, cache_read_tokens, "
    "cache_write_tokens, task_count) SELECT d.workspace_id, d.runtime_id, d.agent_id, "
    "d.provider, d.model, d.project_id, t.at, 5, 1, 1, 1, 1 FROM usage.task_usage_daily d, "
    "generate_series(0, 23) g, LATERAL (SELECT (d.day + g * interval '1 hour') AT TIME ZONE "
    "'UTC' AS at) t WHERE d.cum IS NULL AND (g < 2 OR EXISTS (SELECT 1 FROM "
    "usage.task_usage_hourly x WHERE (x.workspace_id, x.runtime_id, x.agent_id, x.provider, "
    "x.model, x.bucket_hour) = (d.workspace_id, d.runtime_id, d.agent_id, d.provider, d.model, "
    "t.at) AND x.project_id IS NOT DISTINCT FROM d.project_id)) "
    "ON CONFLICT ON CONSTRAINT task_usage_hourly_key DO UPDATE SET input_tokens = 5",
    /* buckets moving to other hours and days (where their key has no bucket yet) */
    "UPDATE usage.task_usage_hourly h SET bucket_hour = h.bucket_hour + interval '400 days 5 "
    "hours' WHERE h.ctid IN (SELECT ctid FROM usage.task_usage_hourly ORDER BY random() LIMIT 5) "
    "AND NOT EXISTS (SELECT 1 FROM usage.task_usage_hourly x WHERE (x.workspace_id, "
    "x.runtime_id, x.agent_id, x.provider, x.model, x.bucket_hour) = (h.workspace_id, "
    "h.runtime_id, h.agent_id, h.provider, h.model, h.bucket_hour + interval '400 days 5 "
    "hours') AND x.project_id IS NOT DISTINCT FROM h.project_id)",
};

START_TEST(daily_level_equals_its_hours_after_random_hourly_writes)
{
    th_db_new();
    th_sql("SELECT setseed(0.5)");
    th_sql("INSERT INTO usage.task_usage_hourly (workspace_id, runtime_id, agent_id, provider, "
           "model, project_id, bucket_hour, input_tokens, output_tokens, cache_read_tokens, "
           "cache_write_tokens, task_count, cost_usd_ticks, estimated_cost_usd_ticks) "
           "SELECT ('b1000001-0000-7000-8000-' || lpad(to_hex(k % 2), 12, '0'))::uuid, "
           "('b1000002-0000-7000-8000-' || lpad(to_hex(k % 3), 12, '0'))::uuid, "
           "('b1000003-0000-7000-8000-' || lpad(to_hex(k), 12, '0'))::uuid, 'anthropic', "
           "(ARRAY['m1', 'm2'])[1 + k % 2], CASE WHEN k % 3 > 0 THEN "
           "('b1000004-0000-7000-8000-' || lpad(to_hex(k % 3), 12, '0'))::uuid END, "
           "date_trunc('hour', now(), 'UTC') - h * interval '1 hour', (random() * 100000)::bigint, "
           "h, 2 * h, 3, 1 + h % 4, h % 7, 11 FROM generate_series(0, 5) k, "
           "generate_series(0, 24 * 10) h WHERE random() < 0.6");
    ck_assert_int_eq(th_sql_int(DAILY_DIFFERENCES), 0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_daily"), 50);
    int64_t overflowed = 0, emptied = 0;
    size_t n = sizeof hourly_writes / sizeof hourly_writes[0];
    for (int round = 0; round < 40; round++) {
        int64_t days = th_sql_int("SELECT count(*) FROM usage.task_usage_daily");
        th_sql(hourly_writes[(size_t)round % n]);
        ck_assert_msg(th_sql_int(DAILY_DIFFERENCES) == 0, "round %d (%s): the daily level differs",
                      round, hourly_writes[(size_t)round % n]);
        overflowed += th_sql_int("SELECT count(*) FROM usage.task_usage_daily WHERE cum IS NULL");
        if (th_sql_int("SELECT count(*) FROM usage.task_usage_daily") < days)
            emptied++;
    }
    /* The rounds reached the bound and emptied days. */
    ck_assert_int_gt(overflowed, 0);
    ck_assert_int_gt(emptied, 0);
    th_sql("TRUNCATE usage.task_usage_hourly");
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.task_usage_daily"), 0);
}
END_TEST

static pid_t start_scheduler(const char *brokers, const char *name, const char *extra)
{
    char *env[] = {
        mc_sprintf("DATABASE_URL=%s", th_db_url_as("multica_scheduler")),
        mc_sprintf("KAFKA_BROKERS=%s", brokers),
        mc_sprintf("HTTP_PORT=%d", th_free_port()),
        mc_sprintf("HTTP_BIND=127.0.0.1"),
        mc_sprintf("RUNNER_ID=%s", name),
        mc_sprintf("%s", extra ? extra : "LOG_LEVEL=info"),
        NULL,
    };
    pid_t pid = th_spawn(th_bin("multica-rollup-scheduler"), (const char *const *)env, name);
    for (int i = 0; env[i]; i++)
        free(env[i]);
    return pid;
}

static void run_replicas(int n)
{
    th_db_new();
    no_safety_lag();
    insert_history(500, 2, 0xc0000003);
    const char *brokers = th_broker_start(2);
    pid_t pids[3];
    for (int i = 0; i < n; i++) {
        char name[32], extra[128];
        snprintf(name, sizeof name, "replica-%d", i);
        snprintf(extra, sizeof extra, "ROLLUP_INTERVAL=2s");
        setenv("SCHEDULER_TICK", "250ms", 1);
        pids[i] = start_scheduler(brokers, name, extra);
    }
    unsetenv("SCHEDULER_TICK");
    /* Which replica wins a plan depends on where its ticks fall, so one replica could win
     * every plan. To see the others take over, the winner of the second plan is stopped
     * (cleanly) once it has run it; the rest must go on running each plan exactly once. */
    int64_t t0 = mc_now_mono_ms();
    int stopped = -1;
    if (n > 1) {
        ck_assert_int_eq(th_sql_wait("SELECT least(count(*), 2) FROM "
                                     "scheduler.sys_cron_executions WHERE status = 'SUCCESS'",
                                     2, 10000),
                         2);
        stopped = (int)th_sql_int("SELECT substring(runner_id FROM 'replica-([0-9]+)')::int "
                                  "FROM scheduler.sys_cron_executions WHERE status = 'SUCCESS' "
                                  "ORDER BY plan_time DESC LIMIT 1");
        ck_assert_int_ne(th_stop(pids[stopped], SIGTERM, 10000), -1);
    }
    usleep((useconds_t)(13000 - (mc_now_mono_ms() - t0)) * 1000);
    for (int i = 0; i < n; i++)
        if (i != stopped)
            ck_assert_int_ne(th_stop(pids[i], SIGTERM, 10000), -1);
    int64_t plans =
        th_sql_int("SELECT count(DISTINCT plan_time) FROM scheduler.sys_cron_executions");
    ck_assert_int_ge(plans, 5);
    /* One row per plan, all SUCCESS on the first attempt, and consecutive: none skipped. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM scheduler.sys_cron_executions"), plans);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM scheduler.sys_cron_executions "
                                "WHERE status = 'SUCCESS' AND attempt = 1"),
                     plans);
    ck_assert_int_eq(
        th_sql_int("SELECT extract(epoch FROM max(plan_time) - min(plan_time))::int / 2 "
                   "+ 1 FROM scheduler.sys_cron_executions"),
        plans);
    if (n > 1)
        ck_assert_int_gt(th_sql_int("SELECT count(DISTINCT runner_id) FROM "
                                    "scheduler.sys_cron_executions"),
                         1);
    /* The job ran once per plan: one CronExecutionFinished per row, and the work was done. */
    json_t *execs = th_consume_all(brokers, MC_TOPIC_SCHEDULER_EXECUTIONS);
    ck_assert_int_eq((int64_t)json_array_size(execs), plans);
    th_capture(execs);
    json_decref(execs);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
}

START_TEST(two_replicas_run_each_plan_once)
{
    run_replicas(2);
}
END_TEST

START_TEST(three_replicas_run_each_plan_once)
{
    run_replicas(3);
}
END_TEST

START_TEST(killed_runner_plan_is_taken_over_as_attempt_2)
{
    th_db_new();
    no_safety_lag();
    const char *brokers = th_broker_start(1);
    /* Hold the rollup state row so the run blocks inside the rollup, then kill the runner. */
    PGconn *holder = PQconnectdb(th_db_url_as("multica_usage"));
    PQclear(PQexec(holder, "BEGIN"));
    PGresult *r = PQexec(holder, "SELECT * FROM usage.rollup_state FOR UPDATE");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    const char *cfg = "ROLLUP_INTERVAL=1h";
    setenv("SCHEDULER_LEASE", "1s", 1);
    setenv("SCHEDULER_RETRY_BACKOFF", "1s,1s", 1);
    setenv("SCHEDULER_TICK", "300ms", 1);
    pid_t a = start_scheduler(brokers, "runner-a", cfg);
    int64_t deadline = mc_now_mono_ms() + 20000;
    while (th_sql_int("SELECT count(*) FROM scheduler.sys_cron_executions WHERE status = "
                      "'RUNNING'") == 0 &&
           mc_now_mono_ms() < deadline)
        usleep(100 * 1000);
    int64_t plan = th_sql_int("SELECT id FROM scheduler.sys_cron_executions WHERE "
                              "status = 'RUNNING' AND runner_id = 'runner-a'");
    ck_assert_int_gt(plan, 0);
    kill(a, SIGKILL);
    th_wait_exit(a, 5000);
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    pid_t b = start_scheduler(brokers, "runner-b", cfg);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM scheduler.sys_cron_executions WHERE id = %lld AND status = "
             "'SUCCESS'",
             (long long)plan);
    deadline = mc_now_mono_ms() + 30000;
    while (th_sql_int(sql) == 0 && mc_now_mono_ms() < deadline)
        usleep(200 * 1000);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM scheduler.sys_cron_executions WHERE id = %lld AND status = "
             "'SUCCESS' AND attempt = 2 AND runner_id = 'runner-b'",
             (long long)plan);
    ck_assert_int_eq(th_sql_int(sql), 1);
    th_stop(b, SIGTERM, 10000);
    unsetenv("SCHEDULER_LEASE");
    unsetenv("SCHEDULER_RETRY_BACKOFF");
    unsetenv("SCHEDULER_TICK");
}
END_TEST

START_TEST(backfill_over_24_months_is_exact_and_idempotent)
{
    th_db_new();
    insert_history(20000, 730, 0xc0000004);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' %s --sleep-between-slices=1ms > %s/backfill.out",
             th_db_url_as("multica_usage"), th_bin("multica-backfill-usage"), th_tmpdir());
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    ck_assert_int_ge(th_sql_int("SELECT count(DISTINCT date_trunc('month', bucket_hour)) FROM "
                                "usage.task_usage_hourly"),
                     24);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.rollup_state WHERE watermark > now() "
                                "- interval '10 minutes'"),
                     0);
    int64_t revisions = th_sql_int("SELECT sum(revision) FROM usage.task_usage_hourly");
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(th_sql_int("SELECT sum(revision) FROM usage.task_usage_hourly"), revisions);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    /* A dry run reports and writes nothing. */
    snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' %s --dry-run | grep -q 'rows in range'",
             th_db_url_as("multica_usage"), th_bin("multica-backfill-usage"));
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(kafka_topics_rebuild_the_hourly_table)
{
    th_db_new();
    no_safety_lag();
    insert_history(1500, 3, 0xc0000005);
    const char *brokers = th_broker_start(3);
    setenv("SCHEDULER_TICK", "300ms", 1);
    pid_t s = start_scheduler(brokers, "publisher", "ROLLUP_INTERVAL=1s");
    unsetenv("SCHEDULER_TICK");
    usleep(2500 * 1000);
    /* Changes after the first runs: corrections, a deletion of all of one runtime's usage. */
    th_sql("UPDATE usage.task_usage SET output_tokens = output_tokens + 7, updated_at = now() "
           "WHERE task_id IN (SELECT task_id FROM usage.task_usage LIMIT 300)");
    th_sql("WITH t AS (SELECT task_id, workspace_id, runtime_id, agent_id FROM "
           "usage.task_attribution WHERE runtime_id = 'b0000003-0000-7000-8000-000000000001') "
           "SELECT usage.enqueue_task_buckets(array_agg(task_id), array_agg(workspace_id), "
           "array_agg(runtime_id), array_agg(agent_id)) FROM t");
    th_sql("DELETE FROM usage.task_usage WHERE task_id IN (SELECT task_id FROM "
           "usage.task_attribution WHERE runtime_id = 'b0000003-0000-7000-8000-000000000001')");
    usleep(3000 * 1000);
    th_stop(s, SIGTERM, 10000);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM usage.hourly_outbox"), 0);
    ck_assert_int_eq(tu_rollup_mismatches(), 0);
    /* Fold the compacted topic like a dashboard would: highest revision per key wins. */
    json_t *msgs = th_consume_all(brokers, MC_TOPIC_USAGE_HOURLY);
    ck_assert_uint_gt(json_array_size(msgs), 100);
    th_sql("CREATE TEMP TABLE replay (k text PRIMARY KEY, revision bigint, deleted boolean, "
           "workspace_id uuid, runtime_id uuid, agent_id uuid, provider text, model text, "
           "bucket_hour timestamptz, input_tokens bigint, output_tokens bigint, "
           "cache_read_tokens bigint, cache_write_tokens bigint, task_count integer, "
           "project_id uuid, cost_usd_ticks bigint, uncosted_input_tokens bigint, "
           "estimated_cost_usd_ticks bigint, unpriced_tokens bigint)");
    size_t i;
    json_t *m;
    int deletions = 0;
    json_t *events = json_array();
    json_array_foreach(msgs, i, m)
    {
        /* A bucket that emptied is a tombstone: its key with a null value and no header, so
         * that compaction removes the key. The fold resets the revision, since a bucket that
         * comes back starts its revisions again. */
        if (json_is_true(json_object_get(m, "tombstone"))) {
            ck_assert(json_is_null(json_object_get(m, "content_type")));
            char *sql = mc_sprintf("INSERT INTO replay (k, revision, deleted) VALUES ('%s', -1, "
                                   "true) ON CONFLICT (k) DO UPDATE SET revision = -1, "
                                   "deleted = true",
                                   json_string_value(json_object_get(m, "key")));
            th_sql(sql);
            free(sql);
            deletions++;
            continue;
        }
        json_array_append(events, m);
        struct mc_event ev;
        char reason[256];
        const char *v = json_string_value(json_object_get(m, "value"));
        ck_assert_msg(mc_event_decode(v, strlen(v), &ev, reason, sizeof reason) == 0, "%s", reason);
        json_t *d = ev.data;
        ck_assert(!json_is_true(json_object_get(d, "deleted")));
        const char *project = json_string_value(json_object_get(d, "project_id"));
        char *sql = mc_sprintf(
            "INSERT INTO replay VALUES ('%s', %lld, %s, '%s', '%s', '%s', '%s', '%s', '%s', %lld, "
            "%lld, %lld, %lld, %lld, %s%s%s, %lld, %lld, %lld, %lld) ON CONFLICT (k) DO UPDATE "
            "SET revision = EXCLUDED.revision, "
            "deleted = EXCLUDED.deleted, input_tokens = EXCLUDED.input_tokens, output_tokens = "
            "EXCLUDED.output_tokens, cache_read_tokens = EXCLUDED.cache_read_tokens, "
            "cache_write_tokens = EXCLUDED.cache_write_tokens, task_count = EXCLUDED.task_count, "
            "cost_usd_ticks = EXCLUDED.cost_usd_ticks, uncosted_input_tokens = "
            "EXCLUDED.uncosted_input_tokens, estimated_cost_usd_ticks = "
            "EXCLUDED.estimated_cost_usd_ticks, unpriced_tokens = EXCLUDED.unpriced_tokens "
            "WHERE replay.revision < EXCLUDED.revision",
            json_string_value(json_object_get(m, "key")),
            (long long)json_integer_value(json_object_get(d, "revision")),
            json_is_true(json_object_get(d, "deleted")) ? "true" : "false",
            json_string_value(json_object_get(d, "workspace_id")),
            json_string_value(json_object_get(d, "runtime_id")),
            json_string_value(json_object_get(d, "agent_id")),
            json_string_value(json_object_get(d, "provider")),
            json_string_value(json_object_get(d, "model")),
            json_string_value(json_object_get(d, "bucket_hour")),
            (long long)json_integer_value(json_object_get(d, "input_tokens")),
            (long long)json_integer_value(json_object_get(d, "output_tokens")),
            (long long)json_integer_value(json_object_get(d, "cache_read_tokens")),
            (long long)json_integer_value(json_object_get(d, "cache_write_tokens")),
            (long long)json_integer_value(json_object_get(d, "task_count")), project ? "'" : "",
            project ? project : "NULL", project ? "'" : "",
            (long long)json_integer_value(json_object_get(d, "cost_usd_ticks")),
            (long long)json_integer_value(json_object_get(d, "uncosted_input_tokens")),
            (long long)json_integer_value(json_object_get(d, "estimated_cost_usd_ticks")),
            (long long)json_integer_value(json_object_get(d, "unpriced_tokens")));
        th_sql(sql);
        free(sql);
        mc_event_clear(&ev);
    }
    ck_assert_int_gt(deletions, 0);
#define REPLAYED                                                                                   \
    "SELECT workspace_id, runtime_id, agent_id, project_id, provider, model, bucket_hour, "        \
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count, "             \
    "cost_usd_ticks, uncosted_input_tokens, estimated_cost_usd_ticks, unpriced_tokens FROM "       \
    "replay WHERE NOT deleted"
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM ((" REPLAYED " EXCEPT ALL " TU_ROLLUP_BUCKETS
                                ") UNION ALL (" TU_ROLLUP_BUCKETS " EXCEPT ALL " REPLAYED ")) d"),
                     0);
    th_capture(events);
    json_decref(events);
    json_decref(msgs);
}
END_TEST

START_TEST(pg_cron_and_the_scheduler_together_never_double)
{
    /* pg_cron runs jobs only in the database named by cron.database_name: crontest, made by
     * the harness from the migrated template. */
    char url[256];
    snprintf(url, sizeof url, "%s", th_cron_db_url("multica_scheduler"));
    PGconn *c = PQconnectdb(th_cron_db_url("postgres"));
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PGresult *r;
    const char *setup[] = {
        "ALTER DATABASE crontest SET multica.rollup_safety_lag = '0'",
        "CREATE EXTENSION pg_cron",
        ("SELECT cron.schedule('rollup_task_usage_hourly', '* * * * *', "
         "'SELECT usage.rollup_task_usage_hourly()')"),
    };
    for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++) {
        r = PQexec(c, setup[i]);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                      "%s: %s", setup[i], PQerrorMessage(c));
        PQclear(r);
    }
    const char *brokers = th_broker_start(1);
    char *env[] = {
        mc_sprintf("DATABASE_URL=%s", url),         mc_sprintf("KAFKA_BROKERS=%s", brokers),
        mc_sprintf("HTTP_PORT=%d", th_free_port()), mc_sprintf("ROLLUP_INTERVAL=2s"),
        mc_sprintf("SCHEDULER_TICK=500ms"),         NULL};
    pid_t s = th_spawn(th_bin("multica-rollup-scheduler"), (const char *const *)env, "scheduler");
    for (int i = 0; env[i]; i++)
        free(env[i]);
    /* Keep changing usage for two pg_cron minutes while both schedulers roll up. */
    int64_t end = mc_now_mono_ms() + 125000;
    int round = 0;
    while (mc_now_mono_ms() < end) {
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "WITH t AS (SELECT g, ('c0000006-0000-7000-8000-' || lpad(to_hex(g + %d * 100), "
                 "12, '0'))::uuid id FROM generate_series(1, 100) g), a AS (INSERT INTO "
                 "usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, version) "
                 "SELECT id, 'b0000001-0000-7000-8000-000000000001', "
                 "'b0000002-0000-7000-8000-000000000001', 'b0000003-0000-7000-8000-000000000001', "
                 "1 FROM t) INSERT INTO usage.task_usage SELECT id, 'openai', 'gpt-5', g, g, g, g, "
                 "now(), now(), now() FROM t",
                 round++);
        r = PQexec(c, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
        PQclear(r);
        usleep(1000 * 1000);
    }
    th_stop(s, SIGTERM, 10000);
    r = PQexec(c, "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded'");
    ck_assert_int_ge(atoi(PQgetvalue(r, 0, 0)), 2);
    PQclear(r);
    r = PQexec(c, "SET multica.rollup_safety_lag = '0'; SELECT usage.rollup_task_usage_hourly()");
    PQclear(r);
    r = PQexec(c, "SELECT count(*) FROM ((" TU_RAW_BUCKETS " EXCEPT ALL " TU_ROLLUP_BUCKETS
                  ") UNION ALL (" TU_ROLLUP_BUCKETS " EXCEPT ALL " TU_RAW_BUCKETS ")) d");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    r = PQexec(c, "SELECT sum(input_tokens) = (SELECT sum(input_tokens) FROM usage.task_usage) "
                  "FROM usage.task_usage_hourly");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    PQclear(PQexec(c, "SELECT cron.unschedule('rollup_task_usage_hourly')"));
    PQfinish(c);
}
END_TEST

Suite *suite_rollup(void)
{
    Suite *s = suite_create("rollup");
    TCase *tc = tcase_create("rollup");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, rollup_equals_raw_under_random_workloads);
    tcase_add_test(tc, folded_changes_equal_a_full_recompute_under_random_workloads);
    tcase_add_test(tc, an_update_in_place_is_logged_once_and_folds_exactly);
    tcase_add_test(tc, daily_level_equals_its_hours_after_random_hourly_writes);
    tcase_add_test(tc, concurrent_callers_never_double_count);
    tcase_add_test(tc, a_bucket_that_cannot_be_stored_is_quarantined_and_the_rest_goes_on);
    tcase_add_test(tc, rows_beyond_the_bound_leave_the_totals_at_migration_0008);
    tcase_add_test(tc, invalidation_during_a_run_survives_it);
    tcase_add_test(tc, backfill_over_24_months_is_exact_and_idempotent);
    tcase_add_test(tc, two_replicas_run_each_plan_once);
    tcase_add_test(tc, three_replicas_run_each_plan_once);
    tcase_add_test(tc, killed_runner_plan_is_taken_over_as_attempt_2);
    tcase_add_test(tc, kafka_topics_rebuild_the_hourly_table);
    tcase_add_test(tc, pg_cron_and_the_scheduler_together_never_double);
    suite_add_tcase(s, tc);
    return s;
}
