/* tx.c: the transaction runner, the SQLSTATE test, and the registry of advisory locks. */
#include "mc_db.h"
#include "mc_common.h"
#include "mc_log.h"

#include <string.h>

bool mc_db_failed_with(const mc_db *db, const char *state)
{
    return strncmp(mc_db_sqlstate(db), state, strlen(state)) == 0;
}

/* A serialization failure or deadlock is about timing, not about the work: run it again. */
static bool worth_retrying(const mc_db *db, int rc)
{
    return rc == MC_EDB && (mc_db_failed_with(db, MC_SQLSTATE_SERIALIZATION_FAILURE) ||
                            mc_db_failed_with(db, MC_SQLSTATE_DEADLOCK_DETECTED));
}

int mc_db_run_tx(mc_db *db, const char *name, mc_db_tx_body body, void *ctx)
{
    int rc = 0;
    for (int attempt = 1; attempt <= MC_DB_TX_ATTEMPTS; attempt++) {
        rc = mc_db_exec_sql(db, "BEGIN", NULL);
        if (rc == 0)
            rc = body(db, ctx);
        if (rc == 0)
            rc = mc_db_exec_sql(db, "COMMIT", NULL);
        if (rc == 0)
            return 0;
        mc_db_rollback(db);
        if (!worth_retrying(db, rc))
            return rc;
        mc_log_debug(json_pack("{ss si ss}", "transaction", name, "attempt", attempt, "sqlstate",
                               mc_db_sqlstate(db)),
                     "transaction rolled back by the database; running it again");
    }
    return rc;
}

const struct mc_advisory_lock mc_advisory_locks[] = {
    {"MC_LOCK_MIGRATIONS", MC_LOCK_MIGRATIONS, NULL,
     "the migration runner of a schema (object: hashtext of the schema), polled as a try-lock"},
    {"MC_LOCK_ROLLUP", MC_LOCK_ROLLUP, "usage",
     "usage.rollup_task_usage_hourly: a second caller returns 0 at once"},
    {"MC_LOCK_ROLLUP_RECOMPUTE", MC_LOCK_ROLLUP_RECOMPUTE, "usage",
     "recomputations of hour buckets take turns (scheduler, backfill, external cron)"},
    {"MC_LOCK_PRICES", MC_LOCK_PRICES, "usage",
     "usage.put_prices: one writer of the price catalogue, so each entry's next is settled"},
    {"MC_LOCK_DISPATCH_RELAY", MC_LOCK_DISPATCH_RELAY, NULL,
     "one replica relays dispatch.outbox at a time (object 1), per round"},
    {"MC_LOCK_GATEWAY_RELAY", MC_LOCK_GATEWAY_RELAY, NULL,
     "one replica relays gateway.outbox at a time, per round"},
    {"MC_LOCK_DISPATCH_WORKSPACE", MC_LOCK_DISPATCH_WORKSPACE, "dispatch",
     "dispatch.dispatch_round counts a workspace's active tasks under it (object: hashtext of the "
     "workspace id), taken as a try-lock when WORKSPACE_MAX_CONCURRENT_TASKS is set"},
    {"MC_LOCK_GATEWAY_LOG", MC_LOCK_GATEWAY_LOG, "gateway",
     "gateway.task_event_log has one writer at a time (the projection, progress reports), so that "
     "its seqs commit in order"},
};
const size_t mc_nadvisory_locks = MC_ARRAY_LEN(mc_advisory_locks);
