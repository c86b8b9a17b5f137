/* usage_api_util.c: the usage API suite's shared stack, events, rollup and reads. */
#include "usage_api_util.h"

#include "mc_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t g_sent_usage, g_sent_task;

void ua_start(struct ua_stack *s)
{
    memset(s, 0, sizeof *s);
    g_sent_usage = g_sent_task = 0;
    th_db_new();
    th_sql("DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET multica.rollup_safety_lag = %L', "
           "current_database(), '0'); END$$");
    s->brokers = th_broker_start(3);
    const char *extra[] = {"PRICING_ADMIN_EMAILS=root@example.com, admin@example.com", NULL};
    s->base = tg_start(s->brokers, extra, NULL);
    s->ingester_port = th_free_port();
    tu_start_ingester(s->brokers, s->ingester_port, "ingester", NULL);
    s->token = tg_login(s->base, "alice@example.com");
    tg_setup_workspace(s->base, s->token, "acme", s->ws, s->runtime, &s->rt_token, s->agent);
    s->producer = tu_producer(s->brokers);
}

void ua_stop(struct ua_stack *s)
{
    mc_producer_free(s->producer, 1000);
    free(s->token);
    free(s->rt_token);
}

void ua_task(struct ua_stack *s, const char *type, const char *task, const char *ws,
             const char *agent, const char *runtime, const char *issue, int64_t version)
{
    char *v = tu_task_event(type, task, ws, agent, runtime, issue, version);
    tu_send(s->producer, MC_TOPIC_TASK_EVENTS, &v, NULL, 1);
    free(v);
    g_sent_task++;
}

void ua_usage(struct ua_stack *s, const char *task, const char *provider, const char *model,
              int64_t in, int64_t out, int64_t cache_read, int64_t cache_write, int64_t at_us)
{
    char *v = tu_usage_event(task, provider, model, in, out, cache_read, cache_write, at_us);
    tu_send(s->producer, MC_TOPIC_USAGE_EVENTS, &v, NULL, 1);
    free(v);
    g_sent_usage++;
}

static bool outbox_empty(void *arg)
{
    (void)arg;
    return th_sql_int("SELECT count(*) FROM gateway.outbox") == 0;
}

void ua_settle(struct ua_stack *s)
{
    (void)s;
    /* What the gateway wrote (IssueProjectChanged) is on the usage topic once the outbox is
     * empty; count it with the usage events this test sent. */
    ck_assert(th_eventually(outbox_empty, NULL, 30000));
    int64_t issues =
        th_sql_int_or("SELECT coalesce(sum(project_version), 0) FROM gateway.issues", 0);
    ck_assert(tu_wait_applied(MC_TOPIC_USAGE_EVENTS, (int64_t)g_sent_usage + issues, 60000));
    ck_assert(tu_wait_applied(MC_TOPIC_TASK_EVENTS, (int64_t)g_sent_task, 60000));
}

int64_t ua_rollup(void)
{
    th_sql("SET multica.rollup_safety_lag = '0'");
    int64_t changed = 0;
    for (int i = 0; i < 400; i++) {
        changed += th_sql_int("SELECT usage.rollup_task_usage_hourly()");
        if (th_sql_int("SELECT count(*) FROM usage.rollup_state WHERE watermark > now() - "
                       "interval '1 minute'") == 1)
            break;
    }
    return changed;
}

static int vcall(struct ua_stack *s, const char *token, const char *method, const char *body,
                 json_t **out, const char *fmt, va_list ap)
{
    char path[1024];
    vsnprintf(path, sizeof path, fmt, ap);
    return tg_call(s->base, method, path, token, body, out);
}

int ua_call(struct ua_stack *s, const char *token, const char *method, const char *body,
            json_t **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int status = vcall(s, token, method, body, out, fmt, ap);
    va_end(ap);
    return status;
}

json_t *ua_get(struct ua_stack *s, const char *fmt, ...)
{
    json_t *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    int status = vcall(s, s->token, "GET", NULL, &out, fmt, ap);
    va_end(ap);
    ck_assert_msg(status == 200 && out != NULL, "GET %s: %d %s", fmt, status,
                  out ? json_dumps(out, JSON_COMPACT) : "");
    return out;
}

int64_t ua_sum(const json_t *rows, const char *field)
{
    int64_t total = 0;
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r)
    {
        const json_t *v = json_object_get(r, field);
        ck_assert_msg(json_is_number(v), "row %zu has no number %s", i, field);
        total += json_is_integer(v) ? json_integer_value(v) : (int64_t)json_real_value(v);
    }
    return total;
}

int64_t ua_tokens(const json_t *row)
{
    static const char *const kinds[] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                        "cache_write_tokens"};
    int64_t total = 0;
    for (size_t i = 0; i < MC_ARRAY_LEN(kinds); i++)
        total += json_integer_value(json_object_get(row, kinds[i]));
    return total;
}

/* The runtime's daily read is grouped, summed and written by the gateway from the rows
 * (usage_daily_rows.c), from rollup rows it keeps (usage_daily_cache.c): its body must be byte
 * for byte the text of
 * gateway.runtime_usage_daily, which the SQL reads (and ?source=raw) write. */
void ua_daily_is_sqls(struct ua_stack *s, const char *tz, int days, const char *when)
{
    char *url = mc_sprintf("%s/api/runtimes/%s/usage?days=%d&tz=%s", s->base, s->runtime, days, tz);
    char *auth = mc_sprintf("Authorization: Bearer %s", s->token);
    const char *headers[] = {auth, NULL};
    char *body = NULL;
    ck_assert_int_eq(th_http("GET", url, headers, NULL, &body), 200);
    ck_assert_ptr_null(strstr(body, "$read$"));
    char *sql = mc_sprintf("SELECT (gateway.runtime_usage_daily('%s', %d, '%s', false) = "
                           "$read$%s$read$)::int",
                           s->runtime, days, tz, body);
    ck_assert_msg(th_sql_int(sql) == 1, "%s: %s, %d days: the gateway's text is not SQL's: %s",
                  when, tz, days, body);
    free(sql);
    free(body);
    free(auth);
    free(url);
}

Suite *suite_usage_api(void)
{
    Suite *s = suite_create("usage_api");
    suite_add_tcase(s, ua_case_views());
    suite_add_tcase(s, ua_case_pricing());
    suite_add_tcase(s, ua_case_projects());
    suite_add_tcase(s, ua_case_reads());
    suite_add_tcase(s, ua_case_fresh());
    suite_add_tcase(s, ua_case_kept());
    suite_add_tcase(s, ua_case_moved());
    suite_add_tcase(s, ua_case_deltas());
    suite_add_tcase(s, ua_case_changes());
    return s;
}

int64_t ua_tokens_of(json_t *rows)
{
    int64_t t = 0;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        t += ua_tokens(r);
    }
    json_decref(rows);
    return t;
}

void ua_reads_agree(struct ua_stack *s, const char *other_runtime, const char *when)
{
    static const char *const zones[] = {"UTC", "Asia/Kathmandu", "America/St_Johns"};
    const char *runtimes[] = {s->runtime, other_runtime};
    for (size_t z = 0; z < MC_ARRAY_LEN(zones); z++) {
        for (size_t r = 0; r < MC_ARRAY_LEN(runtimes); r++) {
            char *sql = mc_sprintf("SELECT (gateway.runtime_usage_daily('%s', 30, '%s', false) = "
                                   "gateway.runtime_usage_daily('%s', 30, '%s', true))::int",
                                   runtimes[r], zones[z], runtimes[r], zones[z]);
            ck_assert_msg(th_sql_int(sql) == 1, "%s: %s in %s differs from task_usage", when,
                          runtimes[r], zones[z]);
            free(sql);
        }
        ua_daily_is_sqls(s, zones[z], 30, when);
        ua_daily_is_sqls(s, zones[z], 30, when);
    }
}

double ua_kept_reads(struct ua_stack *s, const char *result)
{
    char *url = mc_sprintf("%s/metrics", s->base), *body = NULL;
    ck_assert_int_eq(th_http("GET", url, NULL, NULL, &body), 200);
    char *needle = mc_sprintf("multica_gateway_usage_kept_reads_total{result=\"%s\"} ", result);
    const char *at = strstr(body, needle);
    ck_assert_msg(at != NULL, "no %s in /metrics", needle);
    double v = strtod(at + strlen(needle), NULL);
    free(needle);
    free(body);
    free(url);
    return v;
}
