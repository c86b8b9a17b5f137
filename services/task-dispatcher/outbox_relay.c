/* outbox_relay.c: dispatch.outbox produced to multica.task.events by the shared relay.
 *
 * Every state-machine transaction writes its task events into dispatch.outbox before it
 * commits (td_tx_run); the relay of libs/outbox produces them keyed by task id, one replica at
 * a time (MC_LOCK_DISPATCH_RELAY), in seq order. Per-task order holds because a task's changes
 * enter the outbox in version order: each holds the task's row lock until it commits.
 * Consumers keep the highest version per task, so an event produced twice is harmless. */
#include "dispatcher.h"

/* Wait after a round that found less than a full batch: commits kick the relay at once, so
 * this only bounds the delay for rows another replica wrote while this one held the lock. */
#define IDLE_WAIT_MS 50

void td_relay_new(struct td_dispatcher *td)
{
    td->relay_def = (struct mc_outbox_def){
        .app = "task-dispatcher-relay",
        .stmts = td_stmts,
        .nstmts = td_nstmts,
        .lock_stmt = TD_OUTBOX_LOCK,
        .fetch_stmt = TD_OUTBOX_FETCH,
        .delete_stmt = TD_OUTBOX_DELETE,
        .backlog_stmt = TD_OUTBOX_BACKLOG,
        .topic = MC_TOPIC_TASK_EVENTS,
        .batch_max = td->cfg.outbox_batch_max,
        .idle_ms = IDLE_WAIT_MS,
        .drain_ms = td->svc->cfg.shutdown_grace / 2,
        .published = td->m.published,
        .errors = td->m.relay_errors,
        .backlog = td->m.backlog,
    };
    td->relay = mc_outbox_new(td->svc->cfg.database_url, &td->relay_def, td->producer);
}
