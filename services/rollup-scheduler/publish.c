/* publish.c: what the scheduler tells Kafka: each finished run (multica.scheduler.executions)
 * and every changed hourly bucket (multica.usage.hourly, compacted, keyed by the bucket), so a
 * dashboard can follow usage from Kafka alone. */
#include "scheduler.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOURLY_PAGE 500

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

void rs_publish_execution(struct rs_ctx *ctx, const char *execution_id)
{
    PGresult *r = NULL;
    const char *p[] = {execution_id};
    if (mc_db_exec(ctx->db, RS_EXECUTION, 1, p, &r) != 0 || PQntuples(r) != 1 ||
        strcmp(PQgetvalue(r, 0, 4), "RUNNING") == 0) {
        PQclear(r);
        return;
    }
    json_t *result =
        PQgetisnull(r, 0, 12) ? json_null() : json_loads(PQgetvalue(r, 0, 12), 0, NULL);
    json_t *data =
        json_pack("{ss ss ss ss ss si ss so so so ss ss so}", "job_name", PQgetvalue(r, 0, 0),
                  "scope_kind", PQgetvalue(r, 0, 1), "scope_id", PQgetvalue(r, 0, 2), "plan_time",
                  PQgetvalue(r, 0, 3), "status", PQgetvalue(r, 0, 4), "attempt",
                  atoi(PQgetvalue(r, 0, 5)), "runner_id", PQgetvalue(r, 0, 6), "error_code",
                  text_or_null(r, 0, 7), "error_msg", text_or_null(r, 0, 8), "sqlstate",
                  text_or_null(r, 0, 9), "started_at", PQgetvalue(r, 0, 10), "finished_at",
                  PQgetvalue(r, 0, 11), "result", result ? result : json_null());
    char *value = mc_event_encode(MC_EV_CRON_EXECUTION_FINISHED, "rollup-scheduler",
                                  PQgetvalue(r, 0, 0), data, NULL);
    if (value != NULL) {
        struct mc_kmsg m = {.topic = MC_TOPIC_SCHEDULER_EXECUTIONS,
                            .key = PQgetvalue(r, 0, 0),
                            .keylen = strlen(PQgetvalue(r, 0, 0)),
                            .value = value,
                            .len = strlen(value)};
        if (mc_producer_send(ctx->producer, &m, 1) != 0)
            mc_log_warn(json_pack("{ss}", "execution", execution_id),
                        "CronExecutionFinished not delivered (the row in sys_cron_executions "
                        "is the record)");
        free(value);
    }
    PQclear(r);
}

static json_int_t int_at(const PGresult *r, int row, int col)
{
    return (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* The cost parts of a bucket (columns 15 to 21 of rs_changes) join its event's data. */
static void add_cost(json_t *data, const PGresult *r, int i)
{
    static const char *const names[] = {"cost_usd_ticks",
                                        "uncosted_input_tokens",
                                        "uncosted_output_tokens",
                                        "uncosted_cache_read_tokens",
                                        "uncosted_cache_write_tokens",
                                        "estimated_cost_usd_ticks",
                                        "unpriced_tokens"};
    for (int k = 0; k < (int)MC_ARRAY_LEN(names); k++)
        json_object_set_new(data, names[k], json_integer(int_at(r, i, 15 + k)));
}

/* One page of outbox rows as events; returns the highest seq, or -1 when there is none. A
 * bucket that became empty is a tombstone (tomb[i], no value): on the compacted topic that
 * removes its key for good, where an event saying "deleted" would keep it forever. A bucket
 * of a project has the project as the last segment of its key; buckets without one keep the
 * key they had before projects existed. */
static long long page_to_events(const PGresult *r, char **values, char **keys, bool *tomb)
{
    long long max_seq = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        bool project = !PQgetisnull(r, i, 14);
        char *key = mc_sprintf("%s/%s/%s/%s/%s/%s%s%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                               PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                               PQgetvalue(r, i, 6), project ? "/" : "",
                               project ? PQgetvalue(r, i, 14) : "");
        json_t *data = json_pack(
            "{ss ss ss ss ss ss sI sI sI sI si sb sI}", "workspace_id", PQgetvalue(r, i, 1),
            "runtime_id", PQgetvalue(r, i, 2), "agent_id", PQgetvalue(r, i, 3), "provider",
            PQgetvalue(r, i, 4), "model", PQgetvalue(r, i, 5), "bucket_hour", PQgetvalue(r, i, 6),
            "input_tokens", (json_int_t)strtoll(PQgetvalue(r, i, 7), NULL, 10), "output_tokens",
            (json_int_t)strtoll(PQgetvalue(r, i, 8), NULL, 10), "cache_read_tokens",
            (json_int_t)strtoll(PQgetvalue(r, i, 9), NULL, 10), "cache_write_tokens",
            (json_int_t)strtoll(PQgetvalue(r, i, 10), NULL, 10), "task_count",
            atoi(PQgetvalue(r, i, 11)), "deleted", strcmp(PQgetvalue(r, i, 12), "t") == 0,
            "revision", (json_int_t)strtoll(PQgetvalue(r, i, 13), NULL, 10));
        json_object_set_new(data, "project_id",
                            project ? json_string(PQgetvalue(r, i, 14)) : json_null());
        add_cost(data, r, i);
        tomb[i] = strcmp(PQgetvalue(r, i, 12), "t") == 0;
        if (tomb[i])
            json_decref(data);
        else
            values[i] =
                mc_event_encode(MC_EV_USAGE_HOUR_CHANGED, "rollup-scheduler", key, data, NULL);
        keys[i] = key;
        long long seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        if (seq > max_seq)
            max_seq = seq;
    }
    return max_seq;
}

int rs_publish_hourly(struct rs_ctx *ctx)
{
    int published = 0;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", HOURLY_PAGE);
    for (;;) {
        PGresult *r = NULL;
        const char *p[] = {limit};
        if (mc_db_exec(ctx->db, RS_CHANGES, 1, p, &r) != 0 || PQntuples(r) == 0) {
            PQclear(r);
            break;
        }
        int n = PQntuples(r);
        char **values = mc_calloc((size_t)n, sizeof *values);
        char **keys = mc_calloc((size_t)n, sizeof *keys);
        struct mc_kmsg *msgs = mc_calloc((size_t)n, sizeof *msgs);
        bool *tomb = mc_calloc((size_t)n, sizeof *tomb);
        long long max_seq = page_to_events(r, values, keys, tomb);
        PQclear(r);
        int ok = 1;
        for (int i = 0; i < n; i++) {
            if (values[i] == NULL && !tomb[i]) {
                ok = 0; /* logged by the encoder: our bug, keep the rows for a fixed binary */
                break;
            }
            msgs[i] = (struct mc_kmsg){.topic = MC_TOPIC_USAGE_HOURLY,
                                       .key = keys[i],
                                       .keylen = strlen(keys[i]),
                                       .value = values[i],
                                       .len = values[i] ? strlen(values[i]) : 0};
        }
        if (ok && mc_producer_send(ctx->producer, msgs, (size_t)n) == 0) {
            char upto[24];
            snprintf(upto, sizeof upto, "%lld", max_seq);
            const char *a[] = {upto};
            if (mc_db_exec(ctx->db, RS_ACK, 1, a, NULL) != 0)
                ok = 0;
            else
                published += n;
        } else {
            ok = 0;
        }
        for (int i = 0; i < n; i++) {
            free(values[i]);
            free(keys[i]);
        }
        free(values);
        free(keys);
        free(msgs);
        free(tomb);
        if (!ok) {
            mc_log_warn(NULL, "hourly bucket changes not published; retrying next tick");
            break;
        }
        if (n < HOURLY_PAGE)
            break;
    }
    mc_metric_add(ctx->m.published, published);
    return published;
}

int rs_backoff_literal(const char *spec, char *out, size_t outlen)
{
    char *copy = mc_strdup(spec), *save = NULL;
    size_t len = 0;
    int n = 0, rc = 0;
    len += (size_t)snprintf(out + len, outlen - len, "{");
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int64_t ms;
        if (mc_config_parse_duration(tok, &ms) != 0 || len >= outlen) {
            rc = MC_EINVAL;
            break;
        }
        len += (size_t)snprintf(out + len, outlen - len, "%s\"%lld milliseconds\"", n ? "," : "",
                                (long long)ms);
        n++;
    }
    if (len < outlen)
        snprintf(out + len, outlen - len, "}");
    free(copy);
    return rc == 0 && n > 0 && len + 1 < outlen ? 0 : MC_EINVAL;
}
