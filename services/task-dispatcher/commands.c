/* commands.c: decodes task commands and runtime events and gathers a batch of them for one
 * SQL call (dispatch.apply_commands).
 *
 * Every command is idempotent in the state machine itself: a known task id, a progress
 * sequence number already seen, a second start or completion, or a runtime event older than
 * the newest applied one change nothing, so a redelivered batch is harmless. */
#include "dispatcher.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most parameters a command passes (TaskRequested). */
#define MAX_PARAMS 9

/* A command's parameters, as its state-machine function takes them; integers are formatted
 * into ints. */
struct cmd_params {
    const char *v[MAX_PARAMS];
    char ints[2][24];
};

/* Fills p for ev; returns how many parameters. */
typedef int (*params_fn)(const struct mc_event *ev, struct cmd_params *p);

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

/* Copies n parameters into p and returns n. */
static int set(struct cmd_params *p, const char *const *v, int n)
{
    memcpy(p->v, v, (size_t)n * sizeof *v);
    return n;
}

static int task_requested(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "task_id"),
                       str(ev, "workspace_id"),
                       str(ev, "agent_id"),
                       str(ev, "runtime_id"),
                       str(ev, "issue_id"),
                       str(ev, "title"),
                       int_param(ev, "priority", p->ints[0], sizeof p->ints[0]),
                       int_param(ev, "agent_max_concurrent_tasks", p->ints[1], sizeof p->ints[1]),
                       ev->time};
    return set(p, v, 9);
}

static int start_reported(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "task_id"), str(ev, "runtime_id")};
    return set(p, v, 2);
}

static int progress_reported(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "task_id"), str(ev, "runtime_id"),
                       int_param(ev, "seq", p->ints[0], sizeof p->ints[0]), str(ev, "text")};
    return set(p, v, 4);
}

static int completion_reported(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "task_id"), str(ev, "runtime_id"), "completed", str(ev, "result"),
                       NULL};
    return set(p, v, 5);
}

static int failure_reported(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "task_id"), str(ev, "runtime_id"), "failed", NULL,
                       str(ev, "reason")};
    return set(p, v, 5);
}

static int cancel_requested(const struct mc_event *ev, struct cmd_params *p)
{
    bool del = json_is_true(json_object_get(ev->data, "delete"));
    const char *v[] = {str(ev, "task_id"), str(ev, "reason"), del ? "true" : "false"};
    return set(p, v, 3);
}

static int agent_runtime_changed(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "agent_id"), str(ev, "workspace_id"), str(ev, "runtime_id"),
                       ev->time};
    return set(p, v, 4);
}

static int runtime_seen(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "runtime_id"), str(ev, "workspace_id"),
                       int_param(ev, "max_concurrency", p->ints[0], sizeof p->ints[0]),
                       event_time(ev)};
    return set(p, v, 4);
}

static int runtime_offline(const struct mc_event *ev, struct cmd_params *p)
{
    const char *v[] = {str(ev, "runtime_id"), str(ev, "workspace_id"), event_time(ev)};
    return set(p, v, 3);
}

/* What the dispatcher consumes, where each type must arrive, its metric label, the op of
 * dispatch.apply_commands that applies it, and whether its second parameter is the runtime
 * that reported it (named when a report is refused). */
static const struct {
    const char *type;
    const char *topic;
    const char *label;
    const char *op;
    params_fn params;
    bool reported;
} commands[] = {
    {MC_EV_TASK_REQUESTED, MC_TOPIC_TASK_COMMANDS, "task_requested", "request_task", task_requested,
     false},
    {MC_EV_TASK_START_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_start_reported", "start_task",
     start_reported, true},
    {MC_EV_TASK_PROGRESS_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_progress_reported",
     "report_progress", progress_reported, true},
    {MC_EV_TASK_COMPLETION_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_completion_reported",
     "finish_task", completion_reported, true},
    {MC_EV_TASK_FAILURE_REPORTED, MC_TOPIC_TASK_COMMANDS, "task_failure_reported", "finish_task",
     failure_reported, true},
    {MC_EV_TASK_CANCEL_REQUESTED, MC_TOPIC_TASK_COMMANDS, "task_cancel_requested", "cancel_task",
     cancel_requested, false},
    {MC_EV_AGENT_RUNTIME_CHANGED, MC_TOPIC_TASK_COMMANDS, "agent_runtime_changed",
     "change_agent_runtime", agent_runtime_changed, false},
    {MC_EV_RUNTIME_REGISTERED, MC_TOPIC_RUNTIME_EVENTS, "runtime_registered", "runtime_seen",
     runtime_seen, false},
    {MC_EV_RUNTIME_HEARTBEAT, MC_TOPIC_RUNTIME_EVENTS, "runtime_heartbeat", "runtime_seen",
     runtime_seen, false},
    {MC_EV_RUNTIME_OFFLINE, MC_TOPIC_RUNTIME_EVENTS, "runtime_offline", "runtime_offline",
     runtime_offline, false},
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

/* The description of an agent a message carries: its five parameters for
 * dispatch.upsert_agent (max NULL for a move), or false when it carries none. */
static bool agent_description(const struct td_msg *msg, const char *params[5], char *max,
                              size_t maxlen)
{
    const struct mc_event *ev = &msg->ev;
    bool task_cmd = ev->root != NULL && mc_topic_is(msg->topic, MC_TOPIC_TASK_COMMANDS);
    bool requested = task_cmd && strcmp(ev->type, MC_EV_TASK_REQUESTED) == 0;
    bool moved = task_cmd && strcmp(ev->type, MC_EV_AGENT_RUNTIME_CHANGED) == 0;
    if (!requested && !moved)
        return false;
    params[0] = str(ev, "agent_id");
    params[1] = str(ev, "workspace_id");
    params[2] = str(ev, "runtime_id");
    params[3] = requested ? int_param(ev, "agent_max_concurrent_tasks", max, maxlen) : NULL;
    params[4] = ev->time;
    return true;
}

static bool same_param(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int td_command_describe_agents(mc_db *db, const struct td_msg *msgs, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc != MC_EDBCONN; i++) {
        const char *p[5];
        char max[24];
        if (!agent_description(&msgs[i], p, max, sizeof max))
            continue;
        /* An earlier message of the batch described the agent the same way (its time aside):
         * once recorded, upsert_agent finds these values and writes nothing. */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const char *q[5];
            char qmax[24];
            seen = agent_description(&msgs[j], q, qmax, sizeof qmax) && same_param(p[0], q[0]) &&
                   same_param(p[1], q[1]) && same_param(p[2], q[2]) && same_param(p[3], q[3]);
        }
        if (!seen)
            rc = mc_db_exec(db, TD_UPSERT_AGENT, 5, p, NULL);
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

void td_cmds_init(struct td_cmds *c)
{
    memset(c, 0, sizeof *c);
    c->list = json_array();
}

void td_cmds_free(struct td_cmds *c)
{
    json_decref(c->list);
    free(c->reporters);
    free(c->kinds);
    memset(c, 0, sizeof *c);
}

static void cmds_push(struct td_cmds *c, size_t kind, const struct mc_event *ev)
{
    struct cmd_params p;
    int n = commands[kind].params(ev, &p);
    json_t *args = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(args, p.v[i] ? json_string(p.v[i]) : json_null());
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->reporters = mc_realloc(c->reporters, c->cap * sizeof *c->reporters);
        c->kinds = mc_realloc(c->kinds, c->cap * sizeof *c->kinds);
    }
    /* The reporter points into the message's body, which outlives the batch's call. */
    c->reporters[c->n] = commands[kind].reported ? p.v[1] : NULL;
    c->kinds[c->n] = (int)kind;
    c->n++;
    json_array_append_new(c->list, json_pack("{ss so}", "op", commands[kind].op, "p", args));
}

void td_command_add(const struct td_msg *msg, struct td_cmds *cmds, struct td_tx *tx)
{
    const struct mc_event *ev = &msg->ev;
    char reason[256];
    size_t i = 0;
    if (ev->root == NULL) {
        skip(tx, msg, msg->reason ? msg->reason : "(message): not decoded");
        return;
    }
    while (i < TD_NCOMMANDS && strcmp(commands[i].type, ev->type) != 0)
        i++;
    if (i == TD_NCOMMANDS || !mc_topic_is(msg->topic, commands[i].topic)) {
        snprintf(reason, sizeof reason, "type: %s is not something the dispatcher takes from %s",
                 ev->type, msg->topic);
        skip(tx, msg, reason);
        return;
    }
    cmds_push(cmds, i, ev);
}

int td_cmds_apply(mc_db *db, const struct td_cmds *cmds, struct td_tx *tx)
{
    if (cmds->n == 0)
        return 0;
    char *text = json_dumps(cmds->list, JSON_COMPACT);
    if (text == NULL)
        return MC_ENOMEM;
    int rc = td_tx_apply_batch(db, text, cmds->reporters, cmds->n, tx);
    free(text);
    for (size_t k = 0; rc == 0 && k < cmds->n; k++)
        tx->commands[cmds->kinds[k]]++;
    return rc;
}
