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
        b->msgs = realloc(b->msgs, b->cap * sizeof *b->msgs);
        if (b->msgs == NULL)
            abort();
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
 * when the partitions are about to change hands or the process to stop. */
static void commit_offsets(struct td_dispatcher *td, size_t k, bool sync)
{
    if (k == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < k; i++) {
        const struct td_msg *m = &td->batch.msgs[i];
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, m->topic, m->partition);
        if (p == NULL)
            p = rd_kafka_topic_partition_list_add(l, m->topic, m->partition);
        if (p->offset < m->offset + 1)
            p->offset = m->offset + 1;
    }
    if (mc_consumer_commit(td->consumer, l, !sync) != 0)
        mc_log_warn(NULL, "offset commit refused; the commands will be redelivered and ignored");
    rd_kafka_topic_partition_list_destroy(l);
}

/* Applies messages [from, to) of the batch in one transaction. */
static int apply_range(struct td_dispatcher *td, struct td_tx *tx, size_t from, size_t to)
{
    int rc = mc_db_begin(td->db);
    for (size_t i = from; rc == 0 && i < to; i++)
        rc = td_command_apply(td->db, &td->batch.msgs[i], tx);
    if (rc == 0) {
        rc = td_tx_commit(td, td->db, tx);
    } else {
        mc_db_rollback(td->db);
        td_tx_reset(tx);
    }
    return rc;
}

/* A deadlock or serialization failure says nothing about the command: try it again. */
static bool transient(const mc_db *db)
{
    return strcmp(mc_db_sqlstate(db), "40P01") == 0 || strcmp(mc_db_sqlstate(db), "40001") == 0;
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
        for (int tries = 0; rc == MC_EDB && transient(td->db) && tries < 3; tries++)
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
    for (size_t i = 0; i < td->batch.n && rc != MC_EDBCONN; i++)
        rc = td_command_describe_agent(td->db, &td->batch.msgs[i]);
    /* An agent the database refused to record fails its command below, where it is handled. */
    if (rc != MC_EDBCONN)
        rc = apply_range(td, &tx, 0, td->batch.n);
    /* Two replicas' batches can still lock the same rows in opposite orders (a move of an
     * agent against reports on its tasks); the database breaks such a deadlock by failing
     * one of them, which then simply goes again. */
    for (int tries = 0; rc == MC_EDB && transient(td->db) && tries < 2; tries++)
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
    td_signal_kick(&td->dispatch_kick);
cleanup:
    td_tx_free(&tx);
    return rc;
}

static void set_paused(struct td_dispatcher *td, bool pause)
{
    rd_kafka_t *rk = mc_consumer_handle(td->consumer);
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || l == NULL)
        return;
    if (l->cnt > 0) {
        if (pause)
            rd_kafka_pause_partitions(rk, l);
        else
            rd_kafka_resume_partitions(rk, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

bool td_keep_trying(void *ctx)
{
    (void)ctx;
    return !mc_service_stopping();
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
    td->stalled = false;
}

int td_run_commands(struct td_dispatcher *td)
{
    struct td_batch *b = &td->batch;
    while (!mc_service_stopping()) {
        int timeout = td->stalled ? 200 : 100;
        if (!td->stalled && b->n > 0) {
            int64_t left = b->started_ms + td->cfg.batch_wait_ms - mc_now_mono_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        rd_kafka_message_t *m = mc_consumer_poll(td->consumer, timeout);
        if (m != NULL) {
            batch_add(b, m);
            rd_kafka_message_destroy(m);
        }
        if (td->stalled) {
            if (mc_db_ensure(td->db, 0) == 0 && flush(td, false) == 0) {
                td->stalled = false;
                set_paused(td, false);
                mc_log_info(NULL, "database available again; consumption resumed");
            }
            continue;
        }
        bool due = b->n > 0 && ((int64_t)b->n >= td->cfg.batch_max ||
                                mc_now_mono_ms() - b->started_ms >= td->cfg.batch_wait_ms);
        if (due && flush(td, false) != 0) {
            mc_log_warn(json_pack("{si}", "messages", (int)b->n),
                        "database unavailable; consumption paused, the batch waits");
            td->stalled = true;
            set_paused(td, true);
        }
    }
    /* Orderly stop: apply what was consumed, then the caller leaves the group. */
    if (b->n > 0 && (td->stalled || flush(td, true) != 0))
        mc_log_warn(json_pack("{si}", "messages", (int)b->n),
                    "stopping with commands not applied; they will be consumed again");
    batch_drop(b, b->n);
    return 0;
}
