/* outbox_relay.c: produces dispatch.outbox to multica.task.events, in order, at least once.
 *
 * Each round is one transaction: take the relay's advisory lock (pg_try_advisory_xact_lock, so
 * only one replica relays at a time and rounds follow each other), read the oldest rows with
 * FOR UPDATE SKIP LOCKED, produce them keyed by task id and wait for the broker's
 * acknowledgements, delete them, commit. A crash between the acknowledgement and the commit
 * produces those events again; consumers keep the highest version per task, so that is
 * harmless. Per-task order holds because a task's changes enter the outbox in version order
 * (each holds the task's row lock until it commits) and rounds never overlap. */
#include "dispatcher.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_WAIT_MS   50
#define BUSY_WAIT_MS   200 /* another replica holds the relay lock */
#define ERROR_WAIT_MS  1000
#define GAUGE_EVERY_MS 1000

/* One round. Returns 0 (with *sent rows produced, possibly none), MC_ECONFLICT when another
 * replica is relaying, or the database or Kafka error (nothing deleted). */
static int relay_round(struct td_dispatcher *td, mc_db *db, int *sent)
{
    PGresult *lock = NULL, *rows = NULL;
    struct mc_kmsg *msgs = NULL;
    struct mc_pgarr seqs = {0};
    char limit[24];
    *sent = 0;
    int rc = mc_db_begin(db);
    if (rc != 0 || (rc = mc_db_exec(db, TD_OUTBOX_LOCK, 0, NULL, &lock)) != 0)
        goto cleanup;
    if (mc_db_value(lock) == NULL || strcmp(mc_db_value(lock), "t") != 0) {
        rc = MC_ECONFLICT;
        goto cleanup;
    }
    snprintf(limit, sizeof limit, "%lld", (long long)td->cfg.outbox_batch_max);
    const char *params[] = {limit};
    if ((rc = mc_db_exec(db, TD_OUTBOX_FETCH, 1, params, &rows)) != 0)
        goto cleanup;
    int n = PQntuples(rows);
    if (n == 0)
        goto cleanup;
    msgs = calloc((size_t)n, sizeof *msgs);
    if (msgs == NULL) {
        rc = MC_ENOMEM;
        goto cleanup;
    }
    for (int i = 0; i < n; i++) {
        msgs[i] = (struct mc_kmsg){.topic = MC_TOPIC_TASK_EVENTS,
                                   .key = PQgetvalue(rows, i, 1),
                                   .keylen = (size_t)PQgetlength(rows, i, 1),
                                   .value = PQgetvalue(rows, i, 2),
                                   .len = (size_t)PQgetlength(rows, i, 2)};
        mc_pgarr_add_raw(&seqs, PQgetvalue(rows, i, 0));
    }
    if ((rc = mc_producer_send(td->producer, msgs, (size_t)n)) != 0) {
        const char *why = "unknown";
        for (int i = 0; i < n; i++)
            if (msgs[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                why = rd_kafka_err2name(msgs[i].err);
                break;
            }
        mc_metric_add(td->m.relay_errors, 1);
        mc_log_warn(json_pack("{si ss}", "events", n, "error", why),
                    "task events not acknowledged; they stay in the outbox");
        goto cleanup;
    }
    const char *del[] = {mc_pgarr_str(&seqs)};
    if ((rc = mc_db_exec(db, TD_OUTBOX_DELETE, 1, del, NULL)) != 0 || (rc = mc_db_commit(db)) != 0)
        goto cleanup;
    *sent = n;
    mc_metric_add(td->m.published, n);
cleanup:
    mc_db_rollback(db); /* ends the round when it did not commit; releases the lock */
    PQclear(lock);
    PQclear(rows);
    free(msgs);
    mc_pgarr_free(&seqs);
    return rc;
}

static void update_backlog(struct td_dispatcher *td, mc_db *db)
{
    PGresult *r = NULL;
    if (mc_db_exec(db, TD_OUTBOX_BACKLOG, 0, NULL, &r) == 0 && mc_db_value(r) != NULL)
        mc_metric_set(td->m.backlog, atof(mc_db_value(r)));
    PQclear(r);
}

/* At shutdown: relay what this replica (and the others) left, within the grace period. */
static void drain(struct td_dispatcher *td, mc_db *db)
{
    int64_t deadline = mc_now_mono_ms() + td->svc->cfg.shutdown_grace / 2;
    int sent = 0;
    while (relay_round(td, db, &sent) == 0 && sent > 0 && mc_now_mono_ms() < deadline)
        ;
}

static void *relay_main(void *arg)
{
    struct td_dispatcher *td = arg;
    int64_t gauge_at = 0, warned_at = 0;
    int rc = 0;
    mc_db *db = mc_db_new(td->svc->cfg.database_url, td_stmts, td_nstmts, "task-dispatcher-relay");
    if (db == NULL) {
        MC_LOG_ERROR_AT(NULL, "out of memory starting the outbox relay");
        mc_service_request_stop();
        goto cleanup;
    }
    while (!atomic_load(&td->relay_stop)) {
        int sent = 0;
        rc = relay_round(td, db, &sent);
        int64_t now = mc_now_mono_ms();
        if (now - gauge_at >= GAUGE_EVERY_MS) {
            gauge_at = now;
            update_backlog(td, db);
        }
        if (rc == MC_EDB && now - warned_at >= 5000) {
            warned_at = now;
            mc_log_warn(
                json_pack("{ss ss}", "sqlstate", mc_db_sqlstate(db), "error", mc_db_errmsg(db)),
                "outbox relay round failed");
        }
        if (rc == 0 && sent >= td->cfg.outbox_batch_max)
            continue;
        td_signal_wait(&td->relay_kick, rc == 0              ? IDLE_WAIT_MS
                                        : rc == MC_ECONFLICT ? BUSY_WAIT_MS
                                                             : ERROR_WAIT_MS);
    }
    /* With the broker or the database away, draining would only wait for the same error. */
    if (rc == 0 || rc == MC_ECONFLICT)
        drain(td, db);
    update_backlog(td, db);
cleanup:
    mc_db_free(db);
    return NULL;
}

int td_relay_start(struct td_dispatcher *td)
{
    int rc = pthread_create(&td->relay_thread, NULL, relay_main, td) == 0 ? 0 : MC_ENOMEM;
    td->relay_running = rc == 0;
    return rc;
}

void td_relay_join(struct td_dispatcher *td)
{
    if (td->relay_running) {
        atomic_store(&td->relay_stop, 1);
        td_signal_kick(&td->relay_kick);
        pthread_join(td->relay_thread, NULL);
        td->relay_running = false;
    }
}
