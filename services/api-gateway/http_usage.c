/* http_usage.c: daemons report token usage; each entry becomes one UsageReported event.
 *
 *   POST /api/daemon/tasks/{task_id}/usage   {"usage": [{provider, model, input_tokens,
 *                                              output_tokens, cache_read_tokens,
 *                                              cache_write_tokens, cost_usd_ticks?}, ...]}
 *                                             (a bare list works too)
 *   POST /api/daemon/usage                   [{task_id, provider, model, ...}, ...]
 *
 * Totals are cumulative for the task so far (Multica's daemon reports once, after the run, one
 * entry per model). cost_usd_ticks, the agent CLI's own price in 1e-10 USD, travels with the
 * event when given. The gateway answers 202 only once the broker has acknowledged every event
 * (503 when it cannot), so an accepted report is never lost. Usage is taken from members of
 * the task's workspace and attributed to the runtime holding the task: 409 when the task is
 * unknown here, 403 when the caller is not a member of its workspace. The batch route is this
 * gateway's own (Multica's daemon reports per task). */
#include "gateway.h"
#include "mc_log.h"
#include "mc_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const token_fields[] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                           "cache_write_tokens"};

/* One validation failure: the field path and a sentence. */
struct problem {
    char field[96];
    char message[160];
};

static int fail(struct problem *p, const char *prefix, const char *field, const char *msg)
{
    snprintf(p->field, sizeof p->field, "%s%s", prefix, field);
    snprintf(p->message, sizeof p->message, "%s", msg);
    return -1;
}

static int check_name(const json_t *entry, const char *key, size_t max, const char *prefix,
                      struct problem *p)
{
    const json_t *v = json_object_get(entry, key);
    char msg[64];
    if (v == NULL)
        return fail(p, prefix, key, "is required");
    if (!json_is_string(v))
        return fail(p, prefix, key, "must be a string");
    size_t len = mc_utf8_len(json_string_value(v));
    snprintf(msg, sizeof msg, "must be 1 to %zu characters", max);
    if (len == 0 || len > max)
        return fail(p, prefix, key, msg);
    return 0;
}

/* The task_id of an entry of the batch route. */
static const char *entry_task(const json_t *entry, const char *prefix, struct problem *p)
{
    const json_t *t = json_object_get(entry, "task_id");
    if (t == NULL) {
        fail(p, prefix, "task_id", "is required");
        return NULL;
    }
    if (!json_is_string(t) || !mc_uuid_valid(json_string_value(t))) {
        fail(p, prefix, "task_id", "must be a UUID");
        return NULL;
    }
    return json_string_value(t);
}

/* Reads the count token_fields[i] of an entry into *n. */
static int read_count(const json_t *entry, size_t i, const char *prefix, struct problem *p,
                      int64_t *n)
{
    const json_t *v = json_object_get(entry, token_fields[i]);
    bool optional = i >= 2; /* providers without a prompt cache report no cache counts */
    if (v == NULL && optional)
        return 0;
    if (v == NULL)
        return fail(p, prefix, token_fields[i], "is required");
    if (mc_json_int64(v, n) != 0 || *n < 0 || *n > MC_TOKENS_MAX)
        return fail(p, prefix, token_fields[i],
                    "must be an integer between 0 and 10000000000 (the most tokens of one kind a "
                    "report may carry)");
    return 0;
}

/* Validates one entry into an event body, which holds task_id and runtime_id (when known) too. */
static json_t *parse_entry(const json_t *entry, const char *task_id, const char *runtime_id,
                           const char *prefix, struct problem *p)
{
    if (!json_is_object(entry)) {
        /* The prefix ends with a dot ("usage[2]."); the entry itself is named without it. */
        snprintf(p->field, sizeof p->field, "%.*s", (int)strlen(prefix) - 1, prefix);
        snprintf(p->message, sizeof p->message, "must be an object");
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)entry, key, val)
    {
        bool known = strcmp(key, "provider") == 0 || strcmp(key, "model") == 0 ||
                     strcmp(key, "cost_usd_ticks") == 0 ||
                     (task_id == NULL && strcmp(key, "task_id") == 0);
        for (size_t i = 0; i < MC_ARRAY_LEN(token_fields); i++)
            known = known || strcmp(key, token_fields[i]) == 0;
        if (!known) {
            fail(p, prefix, key, "is not a known field");
            return NULL;
        }
    }
    if (task_id == NULL) {
        task_id = entry_task(entry, prefix, p);
        if (task_id == NULL)
            return NULL;
    }
    if (check_name(entry, "provider", MC_PROVIDER_MAX, prefix, p) != 0)
        return NULL;
    if (check_name(entry, "model", MC_MODEL_MAX, prefix, p) != 0)
        return NULL;
    char now[40];
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    char task[MC_UUID_STRLEN];
    snprintf(task, sizeof task, "%s", task_id);
    for (char *c = task; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'F' ? *c + 32 : *c);
    json_t *body = json_pack("{ss s:s* sO sO ss}", "task_id", task, "runtime_id", runtime_id,
                             "provider", json_object_get(entry, "provider"), "model",
                             json_object_get(entry, "model"), "reported_at", now);
    for (size_t i = 0; i < MC_ARRAY_LEN(token_fields); i++) {
        int64_t n = 0;
        if (read_count(entry, i, prefix, p, &n) != 0) {
            json_decref(body);
            return NULL;
        }
        json_object_set_new(body, token_fields[i], json_integer(n));
    }
    const json_t *cost = json_object_get(entry, "cost_usd_ticks");
    int64_t ticks = -1;
    if (cost != NULL && !json_is_null(cost) && (mc_json_int64(cost, &ticks) != 0 || ticks < 0)) {
        fail(p, prefix, "cost_usd_ticks", "must be an integer >= 0 (1e-10 USD)");
        json_decref(body);
        return NULL;
    }
    if (ticks >= 0)
        json_object_set_new(body, "cost_usd_ticks", json_integer(ticks));
    return body;
}

/* The list of entries: the body itself, or its "usage" member. */
static const json_t *entries_of(const json_t *body)
{
    return json_is_array(body) ? body : json_object_get(body, "usage");
}

/* Produces the encoded events; fills delivered[i]. Returns 0 when all were delivered. */
static int produce(struct gw_ctx *ctx, char **values, char (*keys)[MC_UUID_STRLEN], size_t n,
                   bool *delivered)
{
    struct mc_kmsg *msgs = mc_calloc(n, sizeof *msgs);
    for (size_t i = 0; i < n; i++)
        msgs[i] = (struct mc_kmsg){.topic = MC_TOPIC_USAGE_EVENTS,
                                   .key = keys[i],
                                   .keylen = strlen(keys[i]),
                                   .value = values[i],
                                   .len = strlen(values[i])};
    int rc = mc_producer_send(ctx->producer, msgs, n);
    for (size_t i = 0; i < n; i++) {
        delivered[i] = msgs[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!delivered[i]) {
            mc_metric_add(ctx->m.produce_failures, 1);
            mc_log_warn(json_pack("{ss}", "error", rd_kafka_err2str(msgs[i].err)),
                        "usage event not acknowledged by the broker");
        }
    }
    free(msgs);
    return rc;
}

/* 0 when the caller may report usage for task (filling runtime, the task's holder), else the
 * HTTP status refusing it (409 unknown task, 403 not a member of its workspace, 401 a refused
 * token, already answered: the token is checked in the same call), or 503 when the database
 * cannot answer. */
static unsigned holder_status(mc_db *db, struct _u_response *resp, const char *task,
                              char runtime[MC_UUID_STRLEN])
{
    PGresult *r = NULL;
    const char *hash, *user;
    gw_daemon_caller(resp, &hash, &user);
    const char *p[] = {task, user, hash};
    int rc = mc_db_exec(db, GW_TASK_USAGE_HOLDER, 3, p, &r);
    unsigned status = 0;
    if (rc == 0)
        gw_daemon_checked(resp, strcmp(PQgetvalue(r, 0, 3), "t") == 0);
    if (rc != 0)
        status = 503;
    else if (strcmp(PQgetvalue(r, 0, 3), "t") != 0)
        status = 401;
    else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        status = 409; /* not known here */
    else if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
        status = 403; /* not in a workspace of the caller's */
    else
        snprintf(runtime, MC_UUID_STRLEN, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    return status;
}

static const char *holder_message(unsigned status)
{
    return status == 409   ? "this task is not known here"
           : status == 403 ? "this task is not in a workspace of yours"
                           : "database unavailable";
}

/* Reads the request's list of entries (the body, or its "usage" member) and checks its
 * length. Answers 400 itself and returns NULL on failure; *list borrows from the result. */
static json_t *read_entries(const struct _u_request *req, struct _u_response *resp,
                            const struct gw_ctx *ctx, const json_t **list)
{
    json_t *body = mc_http_body(req, resp, MC_BODY_ARRAY | MC_BODY_OBJECT);
    if (body == NULL)
        return NULL;
    *list = entries_of(body);
    size_t n = json_array_size(*list);
    if (!json_is_array(*list) || n == 0 || n > (size_t)ctx->usage_max_entries) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, "usage",
                      "must be a list of 1 to %lld usage entries",
                      (long long)ctx->usage_max_entries);
        json_decref(body);
        return NULL;
    }
    return body;
}

static void free_values(char **values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    free(values);
}

int gw_post_task_usage(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const char *task_id = gw_uuid_param(req, resp, "task_id");
    if (task_id == NULL)
        return gw_daemon_settle(ctx, resp);
    const json_t *list = NULL;
    json_t *body = read_entries(req, resp, ctx, &list);
    if (body == NULL)
        return gw_daemon_settle(ctx, resp);
    size_t n = json_array_size(list);
    char **values = mc_calloc(n, sizeof *values);
    char(*keys)[MC_UUID_STRLEN] = mc_calloc(n, MC_UUID_STRLEN);
    char(*ids)[MC_UUID_STRLEN] = mc_calloc(n, MC_UUID_STRLEN);
    bool *delivered = mc_calloc(n, sizeof *delivered);
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL)
        goto cleanup;
    char runtime[MC_UUID_STRLEN] = "";
    unsigned refused = holder_status(db, resp, task_id, runtime);
    gw_db_release(ctx, db);
    if (refused && refused != 401) {
        mc_http_error(resp, refused,
                      refused == 503   ? MC_HTTP_UNAVAILABLE
                      : refused == 409 ? MC_HTTP_CONFLICT
                                       : MC_HTTP_FORBIDDEN,
                      "task_id", "%s", holder_message(refused));
        goto cleanup;
    }
    if (refused) /* 401, answered */
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        struct problem p;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "usage[%zu].", i);
        json_t *data = parse_entry(json_array_get(list, i), task_id, runtime, prefix, &p);
        if (data == NULL) {
            mc_metric_add(ctx->m.usage_rejected, 1);
            mc_http_error(resp, 400, MC_HTTP_INVALID_FIELD, p.field, "%s", p.message);
            goto cleanup;
        }
        snprintf(keys[i], MC_UUID_STRLEN, "%s",
                 json_string_value(json_object_get(data, "task_id")));
        values[i] = mc_event_encode(MC_EV_USAGE_REPORTED, "api-gateway", keys[i], data, ids[i]);
        if (values[i] == NULL) {
            mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "cannot encode the event");
            goto cleanup;
        }
    }
    if (produce(ctx, values, keys, n, delivered) != 0) {
        mc_http_error(resp, 503, MC_HTTP_UNAVAILABLE, NULL,
                      "the event broker did not acknowledge the report; retry");
        goto cleanup;
    }
    mc_metric_add(ctx->m.usage_accepted, (double)n);
    json_t *id_list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(id_list, json_string(ids[i]));
    mc_http_json(resp, 202, json_pack("{sI so}", "accepted", (json_int_t)n, "event_ids", id_list));
cleanup:
    free_values(values, n);
    free(keys);
    free(ids);
    free(delivered);
    json_decref(body);
    return gw_daemon_settle(ctx, resp);
}

int gw_post_usage_batch(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct gw_ctx *ctx = ud;
    const json_t *list = NULL;
    json_t *body = read_entries(req, resp, ctx, &list);
    if (body == NULL)
        return U_CALLBACK_COMPLETE;
    size_t n = json_array_size(list), nvalid = 0;
    char **values = mc_calloc(n, sizeof *values);
    char(*keys)[MC_UUID_STRLEN] = mc_calloc(n, MC_UUID_STRLEN);
    char(*ids)[MC_UUID_STRLEN] = mc_calloc(n, MC_UUID_STRLEN);
    size_t *index = mc_calloc(n, sizeof *index);
    bool *delivered = mc_calloc(n, sizeof *delivered);
    json_t *results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results, json_pack("{sI}", "index", (json_int_t)i));
    mc_db *db = gw_db(ctx, resp);
    if (db == NULL) {
        json_decref(results);
        n = 0;
        goto cleanup;
    }
    /* Each entry stands alone: a bad one is answered with its error, the others go on. */
    for (size_t i = 0; i < n; i++) {
        struct problem p;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "usage[%zu].", i);
        json_t *data = parse_entry(json_array_get(list, i), NULL, NULL, prefix, &p);
        json_t *res = json_array_get(results, i);
        if (data == NULL) {
            mc_metric_add(ctx->m.usage_rejected, 1);
            json_object_set_new(res, "status", json_integer(400));
            json_object_set_new(res, "error",
                                json_pack("{ss ss ss}", "code", MC_HTTP_INVALID_FIELD, "field",
                                          p.field, "message", p.message));
            continue;
        }
        char runtime[MC_UUID_STRLEN] = "";
        unsigned refused =
            holder_status(db, resp, json_string_value(json_object_get(data, "task_id")), runtime);
        if (refused == 0)
            json_object_set_new(data, "runtime_id", json_string(runtime));
        if (refused) {
            json_object_set_new(res, "status", json_integer(refused));
            json_object_set_new(res, "error",
                                json_pack("{ss ss ss}", "code",
                                          refused == 409   ? MC_HTTP_CONFLICT
                                          : refused == 403 ? MC_HTTP_FORBIDDEN
                                                           : MC_HTTP_UNAVAILABLE,
                                          "field", "task_id", "message", holder_message(refused)));
            json_decref(data);
            continue;
        }
        snprintf(keys[nvalid], MC_UUID_STRLEN, "%s",
                 json_string_value(json_object_get(data, "task_id")));
        values[nvalid] =
            mc_event_encode(MC_EV_USAGE_REPORTED, "api-gateway", keys[nvalid], data, ids[nvalid]);
        if (values[nvalid] == NULL) {
            json_object_set_new(res, "status", json_integer(500));
            continue;
        }
        index[nvalid++] = i;
    }
    gw_db_release(ctx, db);
    produce(ctx, values, keys, nvalid, delivered);
    size_t accepted = 0;
    for (size_t k = 0; k < nvalid; k++) {
        json_t *res = json_array_get(results, index[k]);
        if (delivered[k]) {
            accepted++;
            json_object_set_new(res, "status", json_integer(202));
            json_object_set_new(res, "event_id", json_string(ids[k]));
        } else {
            json_object_set_new(res, "status", json_integer(503));
            json_object_set_new(res, "error",
                                json_pack("{ss ss}", "code", MC_HTTP_UNAVAILABLE, "message",
                                          "the event broker did not acknowledge it; retry"));
        }
    }
    mc_metric_add(ctx->m.usage_accepted, (double)accepted);
    mc_http_json(resp, accepted == n ? 202 : 207,
                 json_pack("{sI sI so}", "accepted", (json_int_t)accepted, "rejected",
                           (json_int_t)(n - accepted), "results", results));
cleanup:
    free_values(values, nvalid);
    free(keys);
    free(ids);
    free(index);
    free(delivered);
    json_decref(body);
    return U_CALLBACK_COMPLETE;
}
