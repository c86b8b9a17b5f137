/* mc_proto.h: CloudEvents envelopes and event bodies, checked against the JSON Schemas of
 * proto/schemas (compiled into the binary), so the C codecs and the published contract
 * cannot drift apart. */
#ifndef MC_PROTO_H
#define MC_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mc_common.h"

/* Largest event a decoder accepts; bigger payloads are rejected before parsing. */
#define MC_EVENT_MAX_BYTES (64 * 1024)

/* The most tokens of one kind (input, output, cache read, cache write) one usage report may
 * carry: 10^10. The largest context windows hold about 10^6 tokens, and a long agent session
 * that re-reads its prompt cache every turn reaches 10^8 to 10^9 cache-read tokens; ten times
 * that leaves room while keeping every sum the product computes (an hour bucket, a 90-day
 * read) far inside a signed 64-bit integer. The JSON Schema's token_count says the same. */
#define MC_TOKENS_MAX 10000000000LL

/* Event types (CloudEvents "type"). */
#define MC_EV_USAGE_REPORTED          "multica.usage.reported.v1"
#define MC_EV_USAGE_REJECTED          "multica.usage.rejected.v1"
#define MC_EV_USAGE_HOUR_CHANGED      "multica.usage.hour_changed.v1"
#define MC_EV_CRON_EXECUTION_FINISHED "multica.scheduler.execution_finished.v1"
#define MC_EV_ISSUE_PROJECT_CHANGED   "multica.issue.project_changed.v1"

#define MC_EV_TASK_REQUESTED           "multica.task.requested.v1"
#define MC_EV_TASK_START_REPORTED      "multica.task.start_reported.v1"
#define MC_EV_TASK_PROGRESS_REPORTED   "multica.task.progress_reported.v1"
#define MC_EV_TASK_COMPLETION_REPORTED "multica.task.completion_reported.v1"
#define MC_EV_TASK_FAILURE_REPORTED    "multica.task.failure_reported.v1"
#define MC_EV_TASK_CANCEL_REQUESTED    "multica.task.cancel_requested.v1"
#define MC_EV_AGENT_RUNTIME_CHANGED    "multica.agent.runtime_changed.v1"

#define MC_EV_TASK_QUEUED     "multica.task.queued.v1"
#define MC_EV_TASK_WAITING    "multica.task.waiting.v1"
#define MC_EV_TASK_DISPATCHED "multica.task.dispatched.v1"
#define MC_EV_TASK_STARTED    "multica.task.started.v1"
#define MC_EV_TASK_PROGRESS   "multica.task.progress.v1"
#define MC_EV_TASK_COMPLETED  "multica.task.completed.v1"
#define MC_EV_TASK_FAILED     "multica.task.failed.v1"
#define MC_EV_TASK_CANCELLED  "multica.task.cancelled.v1"
#define MC_EV_TASK_REQUEUED   "multica.task.requeued.v1"
#define MC_EV_TASK_REASSIGNED "multica.task.reassigned.v1"
#define MC_EV_TASK_DELETED    "multica.task.deleted.v1"

#define MC_EV_RUNTIME_REGISTERED "multica.runtime.registered.v1"
#define MC_EV_RUNTIME_HEARTBEAT  "multica.runtime.heartbeat.v1"
#define MC_EV_RUNTIME_OFFLINE    "multica.runtime.offline.v1"

/* One known event type: its CloudEvents type, the schema file describing the whole message,
 * and the topic it travels on. */
struct mc_event_type {
    const char *type;
    const char *schema;
    const char *topic;
};

extern const struct mc_event_type mc_event_types[];
extern const size_t mc_nevent_types;

/* Returns the registry entry for a CloudEvents type, or NULL when unknown. */
const struct mc_event_type *mc_event_type_find(const char *type);

/* A decoded event. The string fields point into root and live as long as it does. */
struct mc_event {
    json_t *root;
    const char *id;
    const char *type;
    const char *source;
    const char *subject;
    const char *time;
    int64_t time_us;
    json_t *data; /* borrowed from root */
};

/* Decodes and validates one message: size, JSON, the envelope, a known type, and the type's
 * schema. Returns 0, or MC_EINVAL with reason holding one sentence that names the field
 * (for example "data.input_tokens: must be >= 0"). On success mc_event_clear releases ev. */
int mc_event_decode(const void *buf, size_t len, struct mc_event *ev, char *reason,
                    size_t reasonlen);

void mc_event_clear(struct mc_event *ev);

/* Builds a message of the given type with a fresh UUIDv7 id and the current time, taking
 * ownership of data, and validates it against the type's schema (a failure here is our bug
 * and is logged with its reason). Returns a heap string for the caller to free, or NULL.
 * id_out, when not NULL, receives the event id. */
char *mc_event_encode(const char *type, const char *source, const char *subject, json_t *data,
                      char id_out[MC_UUID_STRLEN]);

/* Validates instance against the named schema file (for example "envelope.schema.json").
 * Returns 0, MC_EINVAL with reason, or MC_ENOTFOUND for an unknown schema. */
int mc_schema_validate(const char *schema, const json_t *instance, char *reason, size_t reasonlen);

/* Every schema compiled in: name and text (generated from proto/schemas). */
struct mc_schema_file {
    const char *name;
    const char *text;
};
extern const struct mc_schema_file mc_schema_files[];
extern const size_t mc_nschema_files;

/* ---- typed bodies ---- */

#define MC_PROVIDER_MAX 64
#define MC_MODEL_MAX    128

/* UsageReported: cumulative token totals of one task for one provider and model. */
struct mc_usage_reported {
    char task_id[MC_UUID_STRLEN];
    char runtime_id[MC_UUID_STRLEN]; /* "" when absent */
    char provider[MC_PROVIDER_MAX * 4 + 1];
    char model[MC_MODEL_MAX * 4 + 1];
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;
    int64_t cost_usd_ticks; /* -1 when the report carried no cost */
    char reported_at[40];
};

/* Reads a validated UsageReported body; the provider is lowercased. Returns 0 or MC_EINVAL. */
int mc_usage_reported_from(const struct mc_event *ev, struct mc_usage_reported *out);

/* The attribution every task event carries. */
struct mc_task_attr {
    char task_id[MC_UUID_STRLEN];
    char workspace_id[MC_UUID_STRLEN];
    char agent_id[MC_UUID_STRLEN];
    char runtime_id[MC_UUID_STRLEN];
    char issue_id[MC_UUID_STRLEN]; /* "" when the task has no issue */
    int64_t version;
    bool deleted;   /* TaskDeleted */
    bool completed; /* TaskCompleted */
};

/* Reads the attribution of a validated task event. Returns 0 or MC_EINVAL. */
int mc_task_attr_from(const struct mc_event *ev, struct mc_task_attr *out);

/* IssueProjectChanged: the project an issue belongs to from now on, by per-issue version. */
struct mc_issue_project {
    char issue_id[MC_UUID_STRLEN];
    char workspace_id[MC_UUID_STRLEN];
    char project_id[MC_UUID_STRLEN]; /* "" when the issue has no project any more */
    int64_t version;
};

/* Reads a validated IssueProjectChanged body. Returns 0 or MC_EINVAL. */
int mc_issue_project_from(const struct mc_event *ev, struct mc_issue_project *out);

#endif
