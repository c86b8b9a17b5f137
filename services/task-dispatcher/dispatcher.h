/* dispatcher.h: state shared by the task-dispatcher's command loop, dispatch loop and relay. */
#ifndef TD_DISPATCHER_H
#define TD_DISPATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "mc_common.h"
#include "mc_db.h"
#include "mc_http.h"
#include "mc_kafka.h"
#include "mc_outbox.h"
#include "mc_proto.h"
#include "mc_service.h"

/* Prepared statements (statements.c). The state-machine ones each call one dispatch.*
 * function returning dispatch.task_change rows. */
enum td_stmt {
    TD_REQUEST_TASK,
    TD_START_TASK,
    TD_REPORT_PROGRESS,
    TD_FINISH_TASK,
    TD_CANCEL_TASK,
    TD_CHANGE_AGENT_RUNTIME,
    TD_UPSERT_AGENT,
    TD_RUNTIME_SEEN,
    TD_RUNTIME_OFFLINE,
    TD_APPLY_COMMANDS,
    TD_DISPATCH_ROUND,
    TD_NOTE_WAITS,
    TD_EXPIRE_LEASES,
    TD_TIME_OUT_RUNNING,
    TD_EXPIRE_QUEUED,
    TD_SWEEP_SILENT_RUNTIMES,
    TD_OUTBOX_WRITE,
    TD_OUTBOX_LOCK,
    TD_OUTBOX_FETCH,
    TD_OUTBOX_DELETE,
    TD_OUTBOX_BACKLOG,
    TD_NSTMTS
};
extern const struct mc_db_stmt td_stmts[];
extern const size_t td_nstmts;

/* Settings read from the environment (main.c declares the table). */
struct td_settings {
    char *group;
    int64_t dispatch_interval_ms;
    int64_t lease_ms;
    int64_t running_timeout_ms;
    int64_t max_attempts;
    int64_t queued_ttl_ms;
    int64_t online_window_ms;
    int64_t batch_max;
    int64_t batch_wait_ms;
    int64_t outbox_batch_max;
    int64_t aging_ms;
    int64_t workspace_max;
    int64_t wait_notice_ms;
};

/* Statuses a transition can lead to, for the transitions counter (deleted included). */
enum { TD_NSTATUS = 7 };
extern const char *const td_statuses[TD_NSTATUS];

/* Why a command was refused, for the refused counter; td_refusals names each (the reason the
 * state machine returns, and the metric's label). */
enum td_refusal {
    TD_REFUSED_ILLEGAL,
    TD_REFUSED_RUNTIME,
    TD_REFUSED_UNKNOWN,
    TD_REFUSED_DELETED,
    TD_NREFUSALS
};
extern const char *const td_refusals[TD_NREFUSALS];

/* Command types the dispatcher consumes (commands.c keeps the table in this order). */
enum { TD_NCOMMANDS = 10 };

struct td_metrics {
    mc_metric *commands[TD_NCOMMANDS];
    mc_metric *commands_invalid;
    mc_metric *transitions[TD_NSTATUS];
    mc_metric *illegal;
    mc_metric *refused[TD_NREFUSALS];
    mc_metric *dispatches;
    mc_metric *requeues;
    mc_metric *dispatch_latency;
    mc_metric *backlog;
    mc_metric *published;
    mc_metric *relay_errors;
    mc_metric *batch_seconds;
    mc_metric *db_errors;
};

/* One consumed command, decoded as it arrives: ev.root is NULL when it failed validation, and
 * reason then says why. */
struct td_msg {
    char topic[64];
    int32_t partition;
    int64_t offset;
    struct mc_event ev;
    char *reason;
};

/* Commands consumed and not yet applied. */
struct td_batch {
    struct td_msg *msgs;
    size_t n, cap;
    int64_t started_ms;
};

struct td_dispatcher {
    struct mc_service *svc;
    struct td_settings cfg;
    struct td_metrics m;
    mc_db *db; /* the command loop's connection; the other threads open their own */
    mc_consumer *consumer;
    mc_producer *producer;
    struct td_batch batch;
    struct mc_outage outage;     /* database unreachable: partitions paused, batch kept */
    struct mc_worker dispatcher; /* the dispatch loop, kicked after each command batch */
    struct mc_outbox_def relay_def;
    mc_outbox *relay; /* dispatch.outbox to multica.task.events */
};

/* ---- task_changes.c: one transaction's applied changes, events and metrics ---- */

/* What one transaction produced: the task events for the outbox and the metric updates,
 * which are applied only once it has committed. */
struct td_tx {
    struct mc_pgarr keys, payloads;
    size_t nevents;
    uint32_t transitions[TD_NSTATUS];
    uint32_t refused[TD_NREFUSALS];
    uint32_t dispatches, requeues;
    uint32_t commands[TD_NCOMMANDS], invalid;
    double *waits; /* seconds queued, one per dispatch */
    size_t nwaits, capwaits;
    json_t *notes; /* info lines (refusals, skipped messages) to log once committed */
};
void td_tx_init(struct td_tx *tx);
void td_tx_free(struct td_tx *tx);

/* Queues an info line (fields stolen) to be logged once tx commits: a command retried after a
 * rollback is then reported once. */
void td_tx_note(struct td_tx *tx, const char *msg, json_t *fields);

/* Runs state-machine statement stmt in the caller's open transaction. Each applied change
 * becomes a task event (validated by mc_event_encode) queued in tx; each refusal is logged at
 * info (reporter, the runtime a report came from, may be NULL). Returns 0, MC_EDB/MC_EDBCONN
 * from the database, or MC_EINVAL when an event cannot be encoded (our bug, logged). */
int td_tx_apply(mc_db *db, int stmt, int nparams, const char *const *params, const char *reporter,
                struct td_tx *tx);

/* Runs a batch of commands, cmds (the JSON array dispatch.apply_commands takes), in one call,
 * as td_tx_apply runs one; reporters[k] is the reporter of command k (NULL: none). */
int td_tx_apply_batch(mc_db *db, const char *cmds, const char *const *reporters, size_t n,
                      struct td_tx *tx);

/* The work of one transaction: state-machine calls (td_tx_apply) queuing their events in tx. */
typedef int (*td_tx_work)(mc_db *db, struct td_tx *tx, void *ctx);

/* Runs work in one transaction (mc_db_run_tx, so a deadlock or serialization failure runs it
 * again) together with the dispatch.outbox write of the events it queued; once committed,
 * applies tx's metrics, logs its notes and wakes the relay. tx starts empty for every attempt
 * and afterwards describes the committed transaction (nevents) until the next run. Returns 0
 * or the error (everything rolled back). */
int td_tx_run(struct td_dispatcher *td, mc_db *db, const char *name, td_tx_work work, void *ctx,
              struct td_tx *tx);

/* ---- commands.c ---- */

/* Registers the per-type command counters. */
void td_commands_register_metrics(struct td_dispatcher *td);

/* Decodes a consumed message into msg (see struct td_msg). */
void td_command_decode(struct td_msg *msg, const rd_kafka_message_t *m);
void td_command_clear(struct td_msg *msg);

/* Records the agents the TaskRequested and AgentRuntimeChanged of messages [0, n) describe,
 * each in a transaction of its own (other messages: nothing), each distinct description once:
 * an agent described again the same way (its time aside) would write nothing, the batch's
 * transaction compares the times itself (dispatch.request_tasks falls back to
 * dispatch.request_task, which records the agent again). Run for a whole batch before the
 * batch's transaction, it keeps two replicas' batches from creating the same new agents in
 * opposite orders, which would deadlock them. Stops at a lost connection. Returns 0 or the
 * last call's database error. */
int td_command_describe_agents(mc_db *db, const struct td_msg *msgs, size_t n);

/* A batch of commands gathered for one dispatch.apply_commands call. */
struct td_cmds {
    json_t *list;           /* [{"op": ..., "p": [...]}] */
    const char **reporters; /* per command: the runtime a report came from, or NULL */
    int *kinds;             /* per command: its row in the command table (for its counter) */
    size_t n, cap;
};
void td_cmds_init(struct td_cmds *c);
void td_cmds_free(struct td_cmds *c);

/* Adds one decoded message to cmds. A malformed or unexpected message is logged at info and
 * counted in tx instead (it is skipped). */
void td_command_add(const struct td_msg *msg, struct td_cmds *cmds, struct td_tx *tx);

/* Applies cmds in the caller's open transaction in one call and counts them by type. Returns
 * database errors and MC_EINVAL as td_tx_apply does. */
int td_cmds_apply(mc_db *db, const struct td_cmds *cmds, struct td_tx *tx);

/* ---- command_loop.c ---- */

/* Rebalance hooks for the command consumer. */
int td_on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts);
void td_on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts);

/* Consumes multica.task.commands and multica.runtime.events until a stop is requested, then
 * applies what it holds and returns 0. */
int td_run_commands(struct td_dispatcher *td);
void td_batch_free(struct td_batch *b);

/* ---- dispatch_loop.c ---- */

/* Starts the thread that sweeps timers and dispatches every DISPATCH_INTERVAL or when kicked
 * (td->dispatcher); it stops when a stop is requested. Returns 0 or MC_ENOMEM. */
int td_dispatch_start(struct td_dispatcher *td);

/* ---- outbox_relay.c ---- */

/* Creates td->relay, the shared outbox relay (mc_outbox) over dispatch.outbox: task events to
 * multica.task.events in order. main starts it once the schema is migrated; mc_outbox_free
 * drains what is left within half of SHUTDOWN_GRACE. */
void td_relay_new(struct td_dispatcher *td);

/* ---- metrics.c ---- */

void td_metrics_register(struct td_dispatcher *td);

#endif
