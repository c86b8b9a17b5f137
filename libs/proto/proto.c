/* proto.c: the event-type registry, CloudEvents encode/decode, and typed event bodies. */
#include "mc_proto.h"
#include "mc_kafka.h"
#include "mc_log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct mc_event_type mc_event_types[] = {
    {MC_EV_USAGE_REPORTED, "usage_reported.schema.json", MC_TOPIC_USAGE_EVENTS},
    {MC_EV_USAGE_REJECTED, "usage_rejected.schema.json", MC_TOPIC_USAGE_DLQ},
    {MC_EV_USAGE_HOUR_CHANGED, "usage_hour_changed.schema.json", MC_TOPIC_USAGE_HOURLY},
    {MC_EV_CRON_EXECUTION_FINISHED, "cron_execution_finished.schema.json",
     MC_TOPIC_SCHEDULER_EXECUTIONS},
    {MC_EV_ISSUE_PROJECT_CHANGED, "issue_project_changed.schema.json", MC_TOPIC_USAGE_EVENTS},
    {MC_EV_TASK_REQUESTED, "task_requested.schema.json", MC_TOPIC_TASK_COMMANDS},
    {MC_EV_TASK_START_REPORTED, "task_start_reported.schema.json", MC_TOPIC_TASK_COMMANDS},
    {MC_EV_TASK_PROGRESS_REPORTED, "task_progress_reported.schema.json", MC_TOPIC_TASK_COMMANDS},
    {MC_EV_TASK_COMPLETION_REPORTED, "task_completion_reported.schema.json",
     MC_TOPIC_TASK_COMMANDS},
    {MC_EV_TASK_FAILURE_REPORTED, "task_failure_reported.schema.json", MC_TOPIC_TASK_COMMANDS},
    {MC_EV_TASK_CANCEL_REQUESTED, "task_cancel_requested.schema.json", MC_TOPIC_TASK_COMMANDS},
    {MC_EV_AGENT_RUNTIME_CHANGED, "agent_runtime_changed.schema.json", MC_TOPIC_TASK_COMMANDS},
    {MC_EV_TASK_QUEUED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_WAITING, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_DISPATCHED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_STARTED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_PROGRESS, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_COMPLETED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_FAILED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_CANCELLED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_REQUEUED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_REASSIGNED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_TASK_DELETED, "task_event.schema.json", MC_TOPIC_TASK_EVENTS},
    {MC_EV_RUNTIME_REGISTERED, "runtime_event.schema.json", MC_TOPIC_RUNTIME_EVENTS},
    {MC_EV_RUNTIME_HEARTBEAT, "runtime_event.schema.json", MC_TOPIC_RUNTIME_EVENTS},
    {MC_EV_RUNTIME_OFFLINE, "runtime_event.schema.json", MC_TOPIC_RUNTIME_EVENTS},
};
const size_t mc_nevent_types = MC_ARRAY_LEN(mc_event_types);

const struct mc_event_type *mc_event_type_find(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < mc_nevent_types; i++)
        if (strcmp(mc_event_types[i].type, type) == 0)
            return &mc_event_types[i];
    return NULL;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

void mc_event_clear(struct mc_event *ev)
{
    if (ev == NULL)
        return;
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}

int mc_event_decode(const void *buf, size_t len, struct mc_event *ev, char *reason,
                    size_t reasonlen)
{
    memset(ev, 0, sizeof *ev);
    if (buf == NULL || len == 0) {
        snprintf(reason, reasonlen, "(message): is empty");
        return MC_EINVAL;
    }
    if (len > MC_EVENT_MAX_BYTES) {
        snprintf(reason, reasonlen, "(message): is %zu bytes, over the %d-byte limit", len,
                 MC_EVENT_MAX_BYTES);
        return MC_EINVAL;
    }
    json_error_t e;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    if (root == NULL) {
        snprintf(reason, reasonlen, "(message): invalid JSON at byte %d: %s", e.position, e.text);
        return MC_EINVAL;
    }
    if (!json_is_object(root)) {
        snprintf(reason, reasonlen, "(message): must be a JSON object");
        json_decref(root);
        return MC_EINVAL;
    }
    /* Every type's schema includes the envelope's (allOf, checked by the proto tests), so a
     * known type is validated once; the envelope alone names what is wrong with the rest. */
    int rc;
    const struct mc_event_type *t = mc_event_type_find(str(root, "type"));
    if (t == NULL) {
        if ((rc = mc_schema_validate("envelope.schema.json", root, reason, reasonlen)) != 0)
            goto fail;
        snprintf(reason, reasonlen, "type: unknown event type '%s'", str(root, "type"));
        rc = MC_EINVAL;
        goto fail;
    }
    if ((rc = mc_schema_validate(t->schema, root, reason, reasonlen)) != 0)
        goto fail;
    ev->root = root;
    ev->id = str(root, "id");
    ev->type = str(root, "type");
    ev->source = str(root, "source");
    ev->subject = str(root, "subject");
    ev->time = str(root, "time");
    ev->data = json_object_get(root, "data");
    if (mc_parse_rfc3339(ev->time, &ev->time_us) != 0) {
        snprintf(reason, reasonlen, "time: must be an RFC 3339 timestamp");
        rc = MC_EINVAL;
        goto fail;
    }
    return 0;
fail:
    json_decref(root);
    memset(ev, 0, sizeof *ev);
    return rc == MC_ENOTFOUND ? MC_EINVAL : rc;
}

char *mc_event_encode(const char *type, const char *source, const char *subject, json_t *data,
                      char id_out[MC_UUID_STRLEN])
{
    char id[MC_UUID_STRLEN], now[40], reason[256];
    mc_uuid_v7(id);
    mc_format_rfc3339(mc_now_wall_us(), now, sizeof now);
    json_t *root = json_pack("{ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", id, "type",
                             type, "source", source, "subject", subject, "time", now,
                             "datacontenttype", "application/json", "data", data);
    if (root == NULL)
        return NULL;
    const struct mc_event_type *t = mc_event_type_find(type);
    if (t == NULL || mc_schema_validate(t->schema, root, reason, sizeof reason) != 0) {
        MC_LOG_ERROR_AT(
            json_pack("{ss ss}", "type", type, "reason", t ? reason : "unknown event type"),
            "refusing to produce an event that breaks its schema");
        json_decref(root);
        return NULL;
    }
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (out != NULL && id_out != NULL)
        memcpy(id_out, id, MC_UUID_STRLEN);
    return out;
}

static void copy_str(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src ? src : "");
}

int mc_usage_reported_from(const struct mc_event *ev, struct mc_usage_reported *out)
{
    if (ev == NULL || ev->type == NULL || strcmp(ev->type, MC_EV_USAGE_REPORTED) != 0)
        return MC_EINVAL;
    const json_t *d = ev->data;
    memset(out, 0, sizeof *out);
    copy_str(out->task_id, sizeof out->task_id, str(d, "task_id"));
    copy_str(out->runtime_id, sizeof out->runtime_id, str(d, "runtime_id"));
    copy_str(out->provider, sizeof out->provider, str(d, "provider"));
    copy_str(out->model, sizeof out->model, str(d, "model"));
    copy_str(out->reported_at, sizeof out->reported_at, str(d, "reported_at"));
    /* Providers are stored lowercase, so "OpenAI" and "openai" are one row. */
    for (char *p = out->provider; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    out->input_tokens = json_integer_value(json_object_get(d, "input_tokens"));
    out->output_tokens = json_integer_value(json_object_get(d, "output_tokens"));
    out->cache_read_tokens = json_integer_value(json_object_get(d, "cache_read_tokens"));
    out->cache_write_tokens = json_integer_value(json_object_get(d, "cache_write_tokens"));
    const json_t *cost = json_object_get(d, "cost_usd_ticks");
    out->cost_usd_ticks = json_is_integer(cost) ? json_integer_value(cost) : -1;
    return 0;
}

int mc_task_attr_from(const struct mc_event *ev, struct mc_task_attr *out)
{
    const struct mc_event_type *t = ev ? mc_event_type_find(ev->type) : NULL;
    if (t == NULL || strcmp(t->topic, MC_TOPIC_TASK_EVENTS) != 0)
        return MC_EINVAL;
    const json_t *d = ev->data;
    memset(out, 0, sizeof *out);
    copy_str(out->task_id, sizeof out->task_id, str(d, "task_id"));
    copy_str(out->workspace_id, sizeof out->workspace_id, str(d, "workspace_id"));
    copy_str(out->agent_id, sizeof out->agent_id, str(d, "agent_id"));
    copy_str(out->runtime_id, sizeof out->runtime_id, str(d, "runtime_id"));
    copy_str(out->issue_id, sizeof out->issue_id, str(d, "issue_id"));
    out->version = json_integer_value(json_object_get(d, "version"));
    out->deleted = strcmp(ev->type, MC_EV_TASK_DELETED) == 0;
    out->completed = strcmp(ev->type, MC_EV_TASK_COMPLETED) == 0;
    return 0;
}

int mc_issue_project_from(const struct mc_event *ev, struct mc_issue_project *out)
{
    if (ev == NULL || ev->type == NULL || strcmp(ev->type, MC_EV_ISSUE_PROJECT_CHANGED) != 0)
        return MC_EINVAL;
    const json_t *d = ev->data;
    memset(out, 0, sizeof *out);
    copy_str(out->issue_id, sizeof out->issue_id, str(d, "issue_id"));
    copy_str(out->workspace_id, sizeof out->workspace_id, str(d, "workspace_id"));
    copy_str(out->project_id, sizeof out->project_id, str(d, "project_id"));
    out->version = json_integer_value(json_object_get(d, "version"));
    return 0;
}
