/* test_usage_api_views.c: every view of usage adds up to the raw rows, tokens and cost, under
 * random workloads: by day in five time zones (half-hour and 45-minute offsets among them),
 * by agent, runtime, project, model, issue and the workspace total, from the rollup and from
 * task_usage alike. The workloads go through the real paths: usage and task events through
 * the broker and the ingester, projects and issue moves through the API (IssueProjectChanged),
 * price changes through PUT /api/pricing, and some rows carry a daemon-reported cost. Multica
 * shipped a leaderboard larger than its total (its #6194): here no view may differ from the
 * rows by a token or a tick. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TASKS    90
#define N_AGENTS   4
#define N_RUNTIMES 3
#define N_PROJECTS 3
#define N_ISSUES   8

static const char *const zones[] = {"UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata",
                                    "Pacific/Chatham"};
static const char *const providers[] = {"anthropic", "openai", "google", "acme"};
static const char *const models[] = {"claude-sonnet-4-5-20250929", "gpt-5", "gemini-2.5-pro",
                                     "mystery"};

struct world {
    struct ua_stack s;
    char ws2[MC_UUID_STRLEN], rt2[MC_UUID_STRLEN], agent2[MC_UUID_STRLEN];
    char runtimes[N_RUNTIMES][MC_UUID_STRLEN];
    char agents[N_AGENTS][MC_UUID_STRLEN];
    char projects[N_PROJECTS][MC_UUID_STRLEN];
    char issues[N_ISSUES][MC_UUID_STRLEN];
    struct {
        char id[MC_UUID_STRLEN];
        int64_t version, last_at[4], totals[4];
        int runtime, agent, issue; /* issue -1: none */
        bool other_ws, deleted, completed;
    } tasks[N_TASKS];
};

/* A SQL answer that is one JSON text. */
static json_t *sql_json(const char *sql)
{
    PGresult *r = PQexec(th_pg(), sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(th_pg()));
    json_t *j = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, NULL);
    PQclear(r);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* The raw rows of the workspace with their cost (each row priced on its own, TU_PRICED_ROWS),
 * grouped by an expression: {key: [tokens, cost]} where key is the group's text (or "none"). */
static json_t *truth(const char *ws, const char *key, const char *where)
{
    char *sql = mc_sprintf(
        "SELECT coalesce(json_object_agg(k, json_build_array(t, c)), '{}')::text FROM (SELECT "
        "coalesce((%s)::text, 'none') AS k, sum(u.input_tokens + u.output_tokens + "
        "u.cache_read_tokens + u.cache_write_tokens)::bigint AS t, sum(c.cost_usd_ticks + "
        "c.estimated_cost_usd_ticks)::bigint AS c FROM usage.task_usage u JOIN "
        "usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL LEFT JOIN "
        "usage.issue_projects ip ON ip.issue_id = a.issue_id" TU_PRICED_ROWS
        "WHERE a.workspace_id = '%s' AND %s GROUP BY 1) g",
        key, ws, where ? where : "true");
    json_t *j = sql_json(sql);
    free(sql);
    return j;
}

/* Folds rows of a read into {key: [tokens, cost]} by the given fields ("date|provider|model"),
 * or into {"all": [...]} without fields. */
static json_t *fold(const json_t *rows, const char *const *fields, size_t nfields)
{
    json_t *out = json_object();
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r)
    {
        char key[256] = "all"; /* no fields: one total, as truth(..., "'all'", ...) */
        if (nfields > 0)
            key[0] = '\0';
        for (size_t f = 0; f < nfields; f++) {
            const json_t *v = json_object_get(r, fields[f]);
            char part[128];
            if (json_is_string(v))
                snprintf(part, sizeof part, "%s", json_string_value(v));
            else if (json_is_integer(v))
                snprintf(part, sizeof part, "%lld", (long long)json_integer_value(v));
            else
                snprintf(part, sizeof part, "none");
            strncat(key, f ? "|" : "", sizeof key - strlen(key) - 1);
            strncat(key, part, sizeof key - strlen(key) - 1);
        }
        json_t *cur = json_object_get(out, key);
        int64_t t = ua_tokens(r) + (cur ? json_integer_value(json_array_get(cur, 0)) : 0);
        int64_t c = json_integer_value(json_object_get(r, "total_cost_usd_ticks")) +
                    (cur ? json_integer_value(json_array_get(cur, 1)) : 0);
        json_object_set_new(out, key, json_pack("[II]", (json_int_t)t, (json_int_t)c));
    }
    return out;
}

static uint64_t workload_seed; /* named by every failure, to replay it (MC_TEST_SEED) */

static void same(json_t *want, json_t *got, const char *what)
{
    char *a = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
    char *b = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_msg(json_equal(want, got),
                  "seed %llu: %s differs from the raw rows:\n raw  %s\n view %s",
                  (unsigned long long)workload_seed, what, a, b);
    free(a);
    free(b);
    json_decref(want);
    json_decref(got);
}

/* A read from the rollup, checked against the same read from task_usage; returns the rows. */
static json_t *read_both(struct world *w, const char *path)
{
    json_t *a = ua_get(&w->s, "%s", path);
    json_t *b = ua_get(&w->s, "%s&source=raw", path);
    json_t *ra = json_is_array(a) ? a : json_object_get(a, "rows");
    json_t *rb = json_is_array(b) ? b : json_object_get(b, "rows");
    ck_assert_msg(json_equal(ra, rb), "%s: the rollup and task_usage answer differently", path);
    json_incref(ra);
    json_decref(a);
    json_decref(b);
    return ra;
}

static void views_add_up(struct world *w)
{
    const char *ws = w->s.ws;
    static const char *const by_day[] = {"date", "provider", "model"};
    static const char *const by_agent[] = {"agent_id"};
    static const char *const by_key[] = {"key"};
    static const char *const none[] = {NULL};
    json_t *total = truth(ws, "'all'", NULL);
    char path[512], key[512];
    for (size_t z = 0; z < MC_ARRAY_LEN(zones); z++) {
        /* By day in the zone: the local date of each row's hour. */
        snprintf(key, sizeof key,
                 "(date_trunc('hour', u.created_at, 'UTC') AT TIME ZONE '%s')::date || '|' || "
                 "u.provider || '|' || u.model",
                 zones[z]);
        snprintf(path, sizeof path, "/api/dashboard/usage/daily?workspace_id=%s&tz=%s", ws,
                 zones[z]);
        json_t *rows = read_both(w, path);
        same(truth(ws, key, NULL), fold(rows, by_day, 3), path);
        same(json_deep_copy(total), fold(rows, none, 0), path);
        json_decref(rows);
        snprintf(path, sizeof path, "/api/workspaces/%s/usage?tz=%s&group_by=model", ws, zones[z]);
        rows = read_both(w, path);
        same(json_deep_copy(total), fold(rows, none, 0), path);
        json_decref(rows);
    }
    /* By agent, by runtime (with each runtime's own by-agent and by-hour), by project, by
     * model, in UTC. */
    snprintf(path, sizeof path, "/api/dashboard/usage/by-agent?workspace_id=%s", ws);
    json_t *rows = read_both(w, path);
    same(truth(ws, "a.agent_id", NULL), fold(rows, by_agent, 1), path);
    json_decref(rows);
    json_t *per_runtime = json_object();
    for (int r = 0; r < N_RUNTIMES; r++) {
        static const char *const reads[] = {"usage", "usage/by-agent", "usage/by-hour"};
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "/api/runtimes/%s/%s?days=30", w->runtimes[r], reads[k]);
            rows = read_both(w, path);
            json_t *one = fold(rows, none, 0);
            json_t *v = json_object_get(one, "all");
            if (k == 0 && v != NULL)
                json_object_set(per_runtime, w->runtimes[r], v);
            snprintf(key, sizeof key, "a.runtime_id = '%s'", w->runtimes[r]);
            same(truth(ws, "'all'", key), one, path);
            json_decref(rows);
        }
    }
    same(truth(ws, "a.runtime_id", NULL), per_runtime, "the runtimes' reads");
    for (int p = 0; p < N_PROJECTS; p++) {
        snprintf(path, sizeof path, "/api/dashboard/usage/daily?workspace_id=%s&project_id=%s", ws,
                 w->projects[p]);
        rows = read_both(w, path);
        snprintf(key, sizeof key, "ip.project_id = '%s'", w->projects[p]);
        same(truth(ws, "'all'", key), fold(rows, none, 0), path);
        json_decref(rows);
    }
    static const char *const groups[][2] = {{"project", "ip.project_id"},
                                            {"agent", "a.agent_id"},
                                            {"runtime", "a.runtime_id"},
                                            {"model", "u.provider || '/' || u.model"}};
    for (size_t g = 0; g < MC_ARRAY_LEN(groups); g++) {
        snprintf(path, sizeof path, "/api/workspaces/%s/usage?group_by=%s", ws, groups[g][0]);
        rows = read_both(w, path);
        same(truth(ws, groups[g][1], NULL), fold(rows, by_key, 1), path);
        json_decref(rows);
    }
    /* Each issue's totals, all time. */
    for (int i = 0; i < N_ISSUES; i++) {
        json_t *u = ua_get(&w->s, "/api/issues/%s/usage", w->issues[i]);
        snprintf(key, sizeof key, "a.issue_id = '%s'", w->issues[i]);
        json_t *want = truth(ws, "'all'", key);
        json_t *v = json_object_get(want, "all");
        int64_t t = json_integer_value(json_object_get(u, "total_input_tokens")) +
                    json_integer_value(json_object_get(u, "total_output_tokens")) +
                    json_integer_value(json_object_get(u, "total_cache_read_tokens")) +
                    json_integer_value(json_object_get(u, "total_cache_write_tokens"));
        ck_assert_int_eq(t, v ? json_integer_value(json_array_get(v, 0)) : 0);
        ck_assert_int_eq(json_integer_value(json_object_get(u, "total_cost_usd_ticks")),
                         v ? json_integer_value(json_array_get(v, 1)) : 0);
        json_decref(want);
        json_decref(u);
    }
    json_decref(total);
}

/* ---- the world and its random workload ---- */

static void make_world(struct world *w)
{
    ua_start(&w->s);
    struct ua_stack *s = &w->s;
    snprintf(w->runtimes[0], MC_UUID_STRLEN, "%s", s->runtime);
    char *tok = NULL;
    /* Two more runtimes in the workspace, and a second workspace whose usage must stay out. */
    for (int r = 1; r < N_RUNTIMES; r++) {
        char ws[MC_UUID_STRLEN], agent[MC_UUID_STRLEN];
        tg_setup_workspace(s->base, s->token, "scratch", ws, w->runtimes[r], &tok, agent);
        free(tok);
        char *sql = mc_sprintf("UPDATE gateway.runtimes SET workspace_id = '%s' WHERE id = '%s'",
                               s->ws, w->runtimes[r]);
        th_sql(sql);
        free(sql);
    }
    tg_setup_workspace(s->base, s->token, "other", w->ws2, w->rt2, &tok, w->agent2);
    free(tok);
    for (int a = 0; a < N_AGENTS; a++)
        tu_uuid(w->agents[a], 0xe0000002, (unsigned long)a);
    json_t *out = NULL;
    for (int p = 0; p < N_PROJECTS; p++) {
        char body[128];
        snprintf(body, sizeof body, "{\"title\":\"Project %d\"}", p);
        ck_assert_int_eq(
            ua_call(s, s->token, "POST", body, &out, "/api/projects?workspace_id=%s", s->ws), 201);
        snprintf(w->projects[p], MC_UUID_STRLEN, "%s", tg_str(out, "id"));
        json_decref(out);
    }
    for (int i = 0; i < N_ISSUES; i++) {
        char body[256];
        if (i % 4 == 3)
            snprintf(body, sizeof body, "{\"title\":\"Issue %d\"}", i);
        else
            snprintf(body, sizeof body, "{\"title\":\"Issue %d\",\"project_id\":\"%s\"}", i,
                     w->projects[i % N_PROJECTS]);
        ck_assert_int_eq(
            ua_call(s, s->token, "POST", body, &out, "/api/issues?workspace_id=%s", s->ws), 201);
        snprintf(w->issues[i], MC_UUID_STRLEN, "%s", tg_str(out, "id"));
        json_decref(out);
    }
    for (int t = 0; t < N_TASKS; t++)
        tu_uuid(w->tasks[t].id, 0xe0000000, (unsigned long)t);
}

static void task_event(struct world *w, int t, const char *type)
{
    char ws[MC_UUID_STRLEN];
    snprintf(ws, sizeof ws, "%s", w->tasks[t].other_ws ? w->ws2 : w->s.ws);
    const char *rt = w->tasks[t].other_ws ? w->rt2 : w->runtimes[w->tasks[t].runtime];
    const char *issue = w->tasks[t].issue >= 0 ? w->issues[w->tasks[t].issue] : NULL;
    ua_task(&w->s, type, w->tasks[t].id, ws, w->agents[w->tasks[t].agent], rt, issue,
            ++w->tasks[t].version);
}

static void random_phase(struct world *w, uint64_t *seed)
{
    int64_t now = mc_now_wall_us();
    for (int op = 0; op < 60; op++) {
        int t = (int)(tu_rand(seed) % N_TASKS);
        int kind = (int)(tu_rand(seed) % 100);
        if (w->tasks[t].deleted)
            continue;
        if (w->tasks[t].version == 0) {
            w->tasks[t].agent = (int)(tu_rand(seed) % N_AGENTS);
            w->tasks[t].runtime = (int)(tu_rand(seed) % N_RUNTIMES);
            w->tasks[t].other_ws = tu_rand(seed) % 10 == 0;
            w->tasks[t].issue = w->tasks[t].other_ws || tu_rand(seed) % 8 == 0
                                    ? -1
                                    : (int)(tu_rand(seed) % N_ISSUES);
            task_event(w, t, MC_EV_TASK_QUEUED);
        } else if (kind < 70) {
            int m = (int)(tu_rand(seed) % MC_ARRAY_LEN(models));
            int64_t at = w->tasks[t].last_at[m]
                             ? w->tasks[t].last_at[m] + 60000000
                             : now - (int64_t)(tu_rand(seed) % (19ULL * 86400)) * 1000000;
            w->tasks[t].last_at[m] = at;
            w->tasks[t].totals[m] += 100 + (int64_t)(tu_rand(seed) % 50000);
            int64_t n = w->tasks[t].totals[m];
            ua_usage(&w->s, w->tasks[t].id, providers[m], models[m], n, n / 5, n * 4, n / 9, at);
        } else if (kind < 82) {
            w->tasks[t].runtime = (w->tasks[t].runtime + 1) % N_RUNTIMES;
            task_event(w, t, MC_EV_TASK_REASSIGNED);
        } else if (kind < 88) {
            w->tasks[t].deleted = true;
            task_event(w, t, MC_EV_TASK_DELETED);
        } else if (kind < 94 && !w->tasks[t].completed) {
            w->tasks[t].completed = true;
            task_event(w, t, MC_EV_TASK_COMPLETED);
        } else {
            /* An issue moves to another project, or out of every project. */
            int i = (int)(tu_rand(seed) % N_ISSUES);
            int p = (int)(tu_rand(seed) % (N_PROJECTS + 1));
            char body[128];
            if (p == N_PROJECTS)
                snprintf(body, sizeof body, "{\"project_id\":null}");
            else
                snprintf(body, sizeof body, "{\"project_id\":\"%s\"}", w->projects[p]);
            ck_assert_int_eq(
                ua_call(&w->s, w->s.token, "PUT", body, NULL, "/api/issues/%s", w->issues[i]), 200);
        }
    }
    ua_settle(&w->s);
    /* Daemons priced some rows themselves. */
    th_sql("UPDATE usage.task_usage SET cost_usd_ticks = (input_tokens % 977) * 1000, "
           "updated_at = now() WHERE task_id IN (SELECT task_id FROM usage.task_usage "
           "ORDER BY random() LIMIT 5)");
}

/* Prices change during the workload: the default for one model from 7 days ago (by an
 * administrator of the catalogue), the workspace's own price for another from 10 days ago. */
static void change_prices(struct world *w, int round)
{
    char *admin = tg_login(w->s.base, "admin@example.com");
    char from7[40], from10[40], body[1024];
    mc_format_rfc3339(mc_now_wall_us() - 7LL * 86400 * 1000000, from7, sizeof from7);
    mc_format_rfc3339(mc_now_wall_us() - 10LL * 86400 * 1000000, from10, sizeof from10);
    snprintf(body, sizeof body,
             "{\"prices\":[{\"provider\":\"*\",\"model\":\"gpt-5\",\"effective_from\":\"%s\","
             "\"input_ticks_per_mtok\":%d0000000000,\"output_ticks_per_mtok\":90000000000,"
             "\"cache_read_ticks_per_mtok\":1000000000,\"cache_write_ticks_per_mtok\":0}]}",
             from7, 2 + round);
    ck_assert_int_eq(ua_call(&w->s, admin, "PUT", body, NULL, "/api/pricing"), 200);
    snprintf(body, sizeof body,
             "{\"workspace_id\":\"%s\",\"prices\":[{\"provider\":\"anthropic\",\"model\":"
             "\"claude-sonnet-4-5\",\"effective_from\":\"%s\",\"input_ticks_per_mtok\":%d,"
             "\"output_ticks_per_mtok\":7,\"cache_read_ticks_per_mtok\":1,"
             "\"cache_write_ticks_per_mtok\":3}]}",
             w->s.ws, from10, 1000000 * (round + 1));
    ck_assert_int_eq(ua_call(&w->s, w->s.token, "PUT", body, NULL, "/api/pricing"), 200);
    free(admin);
}

/* The workloads: one per seed, each in a world of its own. MC_TEST_SEED replaces the first
 * (to explore, or to replay a failure: every failure names its seed). */
static const uint64_t seeds[] = {20261129, 424242};

START_TEST(every_view_adds_up_to_the_raw_rows)
{
    struct world *w = calloc(1, sizeof *w);
    make_world(w);
    uint64_t seed = seeds[_i];
    const char *chosen = getenv("MC_TEST_SEED");
    if (_i == 0 && chosen && *chosen)
        seed = strtoull(chosen, NULL, 10);
    workload_seed = seed;
    int checks = 0;
    for (int phase = 0; phase < 6; phase++) {
        random_phase(w, &seed);
        if (phase == 2 || phase == 4)
            change_prices(w, phase);
        if (tu_rand(&seed) % 3 == 0 && phase != 5)
            continue; /* views are checked at random points, not after every change */
        ua_rollup();
        views_add_up(w);
        checks++;
    }
    ck_assert_int_ge(checks, 3);
    /* The workload reached every dimension the views split by. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT project_id) FROM usage.task_usage_hourly WHERE workspace_id "
             "= '%s'",
             w->s.ws);
    ck_assert_int_ge(th_sql_int(sql), N_PROJECTS);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_usage_hourly WHERE project_id IS "
                                "NULL"),
                     0);
    ck_assert_int_gt(th_sql_int("SELECT sum(cost_usd_ticks) FROM usage.task_usage_hourly"), 0);
    ck_assert_int_gt(th_sql_int("SELECT sum(estimated_cost_usd_ticks) FROM "
                                "usage.task_usage_hourly"),
                     0);
    ck_assert_int_gt(th_sql_int("SELECT sum(unpriced_tokens) FROM usage.task_usage_hourly"), 0);
    ck_assert_int_gt(th_sql_int("SELECT count(*) FROM usage.task_attribution WHERE deleted_at IS "
                                "NOT NULL"),
                     0);
    ua_stop(&w->s);
    free(w);
}
END_TEST

TCase *ua_case_views(void)
{
    TCase *tc = tcase_create("views");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, every_view_adds_up_to_the_raw_rows, 0, (int)MC_ARRAY_LEN(seeds));
    return tc;
}
