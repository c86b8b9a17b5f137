/* command_loop.c: the consumer of task commands and runtime events: batch, apply, commit.
 *
 * A batch is applied in one transaction and its Kafka offsets are committed only after that
 * transaction committed, so a crash in between redelivers commands the state machine already
 * holds, which change nothing. While the database is unreachable the partitions are paused and
 * the batch is kept, then applied when it answers again. */
#include "dispatcher.h"
#include "mc_log.h"

#include <stdlib.h>
#include <string.h>

static void batch_add(struct td_batch *b, const rd_kafka_message_t *m)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->msgs = mc_realloc(b->msgs, b->cap * sizeof *b->msgs);
    }
    td_command_decode(&b->msgs[b->n], m);
    if (b->n++ == 0)
        b->started_ms = mc_now_mono_ms();
}

/* Forgets the first k messages (applied or given up on). */
static void batch_drop(struct td_batch *b, size_t k)
{
    for (size_t i = 0; i < k; i++)
        td_command_clear(&b->msgs[i]);
    if (k < b->n)
        memmove(b->msgs, b->msgs + k, (b->n - k) * sizeof *b->msgs);
    b->n -= k;
    b->started_ms = mc_now_mono_ms();
}

void td_batch_free(struct td_batch *b)
{
    batch_drop(b, b->n);
    free(b->msgs);
    memset(b, 0, sizeof *b);
}

/* Commits, per partition, the offset after the last of the first k messages; synchronously
 * when the partitions are about to change hands or the process to stop. A command redelivered
 * after a refused commit changes nothing. */
static void commit_offsets(struct td_dispatcher *td, size_t k, bool sync)
{
    rd_kafka_topic_partition_list_t *done = NULL;
    for (size_t i = 0; i < k; i++) {
        const struct td_msg *m = &td->batch.msgs[i];
        mc_offsets_done(&done, m->topic, m->partition, m->offset + 1);
    }
    mc_consumer_commit(td->consumer, &done, !sync);
}

/* Messages [from, to) of the batch. */
struct range {
    const struct td_batch *batch;
    size_t from, to;
};

/* The range's commands in one call (one round trip for the batch, not one per command). */
static int apply_commands(mc_db *db, struct td_tx *tx, void *arg)
{
    const struct range *r = arg;
    struct td_cmds cmds;
    td_cmds_init(&cmds);
    for (size_t i = r->from; i < r->to; i++)
        td_command_add(&r->batch->msgs[i], &cmds, tx);
    int rc = td_cmds_apply(db, &cmds, tx);
    td_cmds_free(&cmds);
    return rc;
}

/* Applies messages [from, to) of the batch in one transaction. Two replicas' batches can lock
 * the same rows in opposite orders (a move of an agent against reports on its tasks); the
 * database breaks such a deadlock by failing one of them, which the runner simply runs again. */
static int apply_range(struct td_dispatcher *td, struct td_tx *tx, size_t from, size_t to)
{
    struct range r = {&td->batch, from, to};
    return td_tx_run(td, td->db, "commands", apply_commands, &r, tx);
}

/* After the whole batch failed on an SQL error, applies it one command at a time, so that a
 * command the database refuses (a fault of ours, logged at error) cannot hold up the ones
 * behind it. Stops at a lost connection; what was applied is committed and dropped. */
static int apply_one_by_one(struct td_dispatcher *td, struct td_tx *tx, bool sync)
{
    size_t i = 0;
    int rc = 0;
    while (i < td->batch.n) {
        rc = apply_range(td, tx, i, i + 1);
        if (rc == MC_EDBCONN)
            break;
        if (rc != 0) {
            const struct td_msg *m = &td->batch.msgs[i];
            MC_LOG_ERROR_AT(json_pack("{ss si sI ss ss}", "topic", m->topic, "partition",
                                      (int)m->partition, "offset", (json_int_t)m->offset,
                                      "sqlstate", mc_db_sqlstate(td->db), "error",
                                      mc_db_errmsg(td->db)),
                            "command skipped: applying it failed");
            mc_metric_add(td->m.db_errors, 1);
            rc = 0;
        }
        i++;
    }
    commit_offsets(td, i, sync);
    batch_drop(&td->batch, i);
    return rc;
}

/* Applies the batch. Returns 0 (batch applied and committed, possibly after skipping
 * commands the database refused) or MC_EDBCONN (batch kept for later). */
static int flush(struct td_dispatcher *td, bool sync)
{
    struct td_tx tx;
    td_tx_init(&tx);
    int64_t t0 = mc_now_mono_ms();
    int rc = 0;
    if (td->batch.n == 0)
        goto cleanup;
    rc = td_command_describe_agents(td->db, td->batch.msgs, td->batch.n);
    /* An agent the database refused to record fails its command below, where it is handled. */
    if (rc != MC_EDBCONN)
        rc = apply_range(td, &tx, 0, td->batch.n);
    if (rc != 0 && rc != MC_EDBCONN) {
        mc_log_warn(
            json_pack("{ss ss}", "sqlstate", mc_db_sqlstate(td->db), "error", mc_db_errmsg(td->db)),
            "batch failed; applying its commands one by one");
        rc = apply_one_by_one(td, &tx, sync);
    }
    if (rc != 0) {
        mc_metric_add(td->m.db_errors, 1);
        goto cleanup;
    }
    commit_offsets(td, td->batch.n, sync);
    batch_drop(&td->batch, td->batch.n);
    mc_metric_observe(td->m.batch_seconds, (double)(mc_now_mono_ms() - t0) / 1000.0);
    /* Completions free capacity and new tasks wait: dispatch now, not at the next tick. */
    mc_worker_kick(&td->dispatcher);
cleanup:
    td_tx_free(&tx);
    return rc;
}

int td_on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts)
{
    (void)ctx;
    (void)parts; /* the group's committed offsets are where to resume */
    return 0;
}

void td_on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct td_dispatcher *td = ctx;
    (void)parts;
    /* Finish the batch while the partitions are ours; if the database is away, the next
     * owner starts from the committed offsets, so dropping it loses nothing. */
    if (td->batch.n > 0 && flush(td, true) != 0) {
        mc_log_warn(json_pack("{si}", "messages", (int)td->batch.n),
                    "partitions revoked with a batch not applied; the next owner applies it");
        batch_drop(&td->batch, td->batch.n);
    }
    td->outage.active = false;
}

/* The end of an outage: the kept batch applied, consumption resumes. */
static int catch_up(void *ctx)
{
    struct td_dispatcher *td = ctx;
    int rc = flush(td, false);
    if (rc == 0)
        mc_consumer_pause(td->consumer, false);
    return rc;
}

int td_run_commands(struct td_dispatcher *td)
{
    struct td_batch *b = &td->batch;
    while (!mc_service_stopping()) {
        int timeout = td->outage.active ? MC_OUTAGE_POLL_MS : 100;
        if (!td->outage.active && b->n > 0) {
            int64_t left = b->started_ms + td->cfg.batch_wait_ms - mc_now_mono_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        rd_kafka_message_t *m = mc_consumer_poll(td->consumer, timeout);
        if (m != NULL) {
            batch_add(b, m);
            rd_kafka_message_destroy(m);
        }
        if (!mc_outage_over(&td->outage, td->db, catch_up, td))
            continue;
        bool due = b->n > 0 && ((int64_t)b->n >= td->cfg.batch_max ||
                                mc_now_mono_ms() - b->started_ms >= td->cfg.batch_wait_ms);
        if (due && flush(td, false) != 0) {
            mc_consumer_pause(td->consumer, true);
            mc_outage_begin(&td->outage, json_pack("{si}", "messages", (int)b->n));
        }
    }
    /* Orderly stop: apply what was consumed, then the caller leaves the group. */
    if (b->n > 0 && (td->outage.active || flush(td, true) != 0))
        mc_log_warn(json_pack("{si}", "messages", (int)b->n),
                    "stopping with commands not applied; they will be consumed again");
    batch_drop(b, b->n);
    return 0;
}
