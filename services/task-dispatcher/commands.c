/* commands.c: decodes task commands and runtime events and applies each with one SQL call.
 *
 * Every command is idempotent in the state machine itself: a known task id, a progress
 * sequence number already seen, a second start or completion, or a runtime event older than
 * the newest applied one change nothing, so a redelivered batch is harmless. */
#include "dispatcher.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*apply_fn)(mc_db *db, const struct mc_event *ev, struct td_tx *tx);

static const char *str(const struct mc_event *ev, const char *key)
{
    return json_string_value(json_object_get(ev->data, key));
}

/* Formats an optional integer field of the body into buf; NULL (SQL NULL) when absent. */
static const char *int_param(const struct mc_event *ev, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(ev->data, key);
    if (!json_is_integer(v))
        return NULL;
    snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    return buf;
}

/* When a runtime event happened: its own "at" when the gateway set one, else the envelope's. */
static const char *event_time(const struct mc_event *ev)
{
    const char *at = str(ev, "at");
    return at ? at : ev->time;
}

static int task_requested(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    char prio[24], max[24];
    const char *params[] = {str(ev, "task_id"),
                            str(ev, "workspace_id"),
                            str(ev, "agent_id"),
                            str(ev, "runtime_id"),
                            str(ev, "issue_id"),
                            str(ev, "title"),
                            int_param(ev, "priority", prio, sizeof prio),
                            int_param(ev, "agent_max_concurrent_tasks", max, sizeof max),
                            ev->time};
    return td_tx_apply(db, TD_REQUEST_TASK, 9, params, NULL, tx);
}

static int start_reported(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    const char *params[] = {str(ev, "task_id"), str(ev, "runtime_id")};
    return td_tx_apply(db, TD_START_TASK, 2, params, params[1], tx);
}

static int progress_reported(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    char seq[24];
    const char *params[] = {str(ev, "task_id"), str(ev, "runtime_id"),
                            int_param(ev, "seq", seq, sizeof seq), str(ev, "text")};
    return td_tx_apply(db, TD_REPORT_PROGRESS, 4, params, params[1], tx);
}

static int completion_reported(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    const char *params[] = {str(ev, "task_id"), str(ev, "runtime_id"), "completed",
                            str(ev, "result"), NULL};
    return td_tx_apply(db, TD_FINISH_TASK, 5, params, params[1], tx);
}

static int failure_reported(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    const char *params[] = {str(ev, "task_id"), str(ev, "runtime_id"), "failed", NULL,
                            str(ev, "reason")};
    return td_tx_apply(db, TD_FINISH_TASK, 5, params, params[1], tx);
}

static int cancel_requested(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    bool del = json_is_true(json_object_get(ev->data, "delete"));
    const char *params[] = {str(ev, "task_id"), str(ev, "reason"), del ? "true" : "false"};
    return td_tx_apply(db, TD_CANCEL_TASK, 3, params, NULL, tx);
}

static int agent_runtime_changed(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    const char *params[] = {str(ev, "agent_id"), str(ev, "workspace_id"), str(ev, "runtime_id"),
                            ev->time};
    return td_tx_apply(db, TD_CHANGE_AGENT_RUNTIME, 4, params, NULL, tx);
}

static int runtime_seen(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    char max[24];
    const char *params[] = {str(ev, "runtime_id"), str(ev, "workspace_id"),
                            int_param(ev, "max_concurrency", max, sizeof max), event_time(ev)};
    return td_tx_apply(db, TD_RUNTIME_SEEN, 4, params, NULL, tx);
}

static int runtime_offline(mc_db *db, const struct mc_event *ev, struct td_tx *tx)
{
    const char *params[] = {str(ev, "runtime_id"), str(ev, "workspace_id"), event_time(ev)};
    return td_tx_apply(db, TD_RUNTIME_OFFLINE, 3, params, NULL, tx);
}

/* What the dispatcher consumes, where each type must arrive, and its metric label. */
static const struct {
    const char *type;
    const char *topic;
    const char *label;
    apply_fn apply;
} commands[] = {
    {MC_EV_TASK_REQUESTED, MC_TOPIC_TASK_COMMANDS, "task_requested", task_requested},
    {MC_EV_TASK_START_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_start_reported", start_reported},
    {MC_EV_TASK_PROGRESS_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_progress_reported",
     progress_reported},
    {MC_EV_TASK_COMPLETION_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_completion_reported",
     completion_reported},
    {MC_EV_TASK_FAILURE_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_failure_reported",
     failure_reported},
    {MC_EV_TASK_CANCEL_REQUESTED, MC_TOPIC_TASK_COMMANDS, "task_cancel_requested",
     cancel_requested},
    {MC_EV_AGENT_RUNTIME_CHANGED, MC_TOPIC_TASK_COMMANDS, "agent_runtime_changed",
     agent_runtime_changed},
    {MC_EV_RUNTIME_REGISTERED, MC_TOPIC_RUNTIME_EVENTS, "runtime_registered", runtime_seen},
    {MC_EV_RUNTIME_HEARTBEAT, MC_TOPIC_RUNTIME_EVENTS, "runtime_heartbeat", runtime_seen},
    {MC_EV_RUNTIME_OFFLINE, MC_TOPIC_RUNTIME_EVENTS, "runtime_offline", runtime_offline},
};
MC_STATIC_ASSERT_LEN(commands, TD_NCOMMANDS);

void td_commands_register_metrics(struct td_dispatcher *td)
{
    for (size_t i = 0; i < TD_NCOMMANDS; i++) {
        char labels[96];
        snprintf(labels, sizeof labels, "type=\"%s\"", commands[i].label);
        td->m.commands[i] = mc_counter("multica_dispatcher_commands_total",
                                       "Commands and runtime events applied, by type.", labels);
    }
    td->m.commands_invalid =
        mc_counter("multica_dispatcher_commands_invalid_total",
                   "Messages skipped because they failed validation or do not belong here.", NULL);
}

void td_command_decode(struct td_msg *msg, const rd_kafka_message_t *m)
{
    char reason[512];
    snprintf(msg->topic, sizeof msg->topic, "%s", rd_kafka_topic_name(m->rkt));
    msg->partition = m->partition;
    msg->offset = m->offset;
    msg->reason = NULL;
    if (mc_event_decode(m->payload, m->payload ? m->len : 0, &msg->ev, reason, sizeof reason) != 0)
        msg->reason = mc_strdup(reason);
}

void td_command_clear(struct td_msg *msg)
{
    mc_event_clear(&msg->ev);
    free(msg->reason);
    msg->reason = NULL;
}

int td_command_describe_agent(mc_db *db, const struct td_msg *msg)
{
    const struct mc_event *ev = &msg->ev;
    bool task_cmd = ev->root != NULL && mc_topic_is(msg->topic, MC_TOPIC_TASK_COMMANDS);
    bool requested = task_cmd && strcmp(ev->type, MC_EV_TASK_REQUESTED) == 0;
    bool moved = task_cmd && strcmp(ev->type, MC_EV_AGENT_RUNTIME_CHANGED) == 0;
    char max[24];
    int rc = 0;
    if (requested || moved) {
        const char *params[] = {
            str(ev, "agent_id"), str(ev, "workspace_id"), str(ev, "runtime_id"),
            requested ? int_param(ev, "agent_max_concurrent_tasks", max, sizeof max) : NULL,
            ev->time};
        rc = mc_db_exec(db, TD_UPSERT_AGENT, 5, params, NULL);
    }
    return rc;
}

/* A message we cannot use is the sender's fault: say why at info and move on. */
static void skip(struct td_tx *tx, const struct td_msg *msg, const char *reason)
{
    tx->invalid++;
    td_tx_note(tx, "message skipped",
               json_pack("{ss ss si sI}", "reason", reason, "topic", msg->topic, "partition",
                         (int)msg->partition, "offset", (json_int_t)msg->offset));
}

int td_command_apply(mc_db *db, const struct td_msg *msg, struct td_tx *tx)
{
    const struct mc_event *ev = &msg->ev;
    char reason[256];
    int rc = 0;
    size_t i = 0;
    if (ev->root == NULL) {
        skip(tx, msg, msg->reason ? msg->reason : "(message): not decoded");
        goto cleanup;
    }
    while (i < TD_NCOMMANDS && strcmp(commands[i].type, ev->type) != 0)
        i++;
    if (i == TD_NCOMMANDS || !mc_topic_is(msg->topic, commands[i].topic)) {
        snprintf(reason, sizeof reason, "type: %s is not something the dispatcher takes from %s",
                 ev->type, msg->topic);
        skip(tx, msg, reason);
        goto cleanup;
    }
    rc = commands[i].apply(db, ev, tx);
    if (rc == 0)
        tx->commands[i]++;
cleanup:
    return rc;
}
