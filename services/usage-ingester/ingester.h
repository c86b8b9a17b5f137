/* ingester.h: state shared by the usage-ingester's consumer loop, batch and partition table. */
#ifndef UI_INGESTER_H
#define UI_INGESTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mc_common.h"
#include "mc_db.h"
#include "mc_http.h"
#include "mc_kafka.h"
#include "mc_service.h"

/* Prepared statements of the ingester. */
enum { UI_APPLY_BATCH, UI_LOAD_OFFSETS, UI_PRUNE_EVENTS, UI_MISSING_BY_RUNTIME, UI_NSTMTS };
extern const struct mc_db_stmt ui_stmts[];
extern const size_t ui_nstmts;

/* One partition this process has been assigned. expected is the next offset the database
 * holds for it (-1 when it holds none yet): the batch that advances it must name it. floor is
 * where consumption starts: normally expected, 0 when the stored offset lies beyond the end of
 * the partition (the topic was recreated). */
struct ui_part {
    char topic[64];
    int32_t partition;
    int64_t expected;
    int64_t floor;
    int64_t batch_next;    /* next offset after this partition's messages in the open batch */
    int64_t applying_next; /* the same for the batch the database is applying, or -1 */
    bool assigned;
    /* Paused until then (monotonic ms; 0 when not) because the DLQ refused its rejections,
     * and the wait before the next attempt, doubling to 30 s. */
    int64_t blocked_until;
    int64_t block_backoff_ms;
    int lane; /* the apply lane that owns it: partition mod INGEST_APPLY_LANES */
};

/* Messages of a batch, kept as array literals for usage.apply_batch, and (once sealed) the
 * offsets it advances. */
struct ui_batch {
    struct mc_pgarr u_ids, u_tasks, u_prov, u_model, u_in, u_out, u_cr, u_cw, u_cost, u_rep;
    struct mc_pgarr t_ids, t_tasks, t_ws, t_agent, t_rt, t_issue, t_ver, t_del, t_done;
    struct mc_pgarr i_ids, i_issue, i_ws, i_project, i_ver;
    struct mc_pgarr o_topics, o_parts, o_expected, o_next;
    size_t nusage, ntask, nissue, nmessages;
    /* Rejected messages, produced to the DLQ before the batch commits, and the index in the
     * partition table of the partition each came from (-1 when unknown). */
    struct mc_kmsg *dlq;
    char **dlq_values;
    ptrdiff_t *dlq_from;
    size_t ndlq, capdlq;
    int64_t started_ms;
};

/* An apply lane: a database thread with its own connection, and the batches of the
 * partitions it owns (partition mod INGEST_APPLY_LANES, on every topic). One batch at a time
 * is applied there while the poll loop decodes the next one, so decoding (this process) and
 * applying (Postgres) overlap instead of taking turns, and the lanes' batches are applied by
 * as many backends at once. The loop hands a sealed batch over (UI_APPLYING), the thread
 * applies it (UI_APPLIED), and the loop reads the outcome (back to UI_IDLE) before it hands
 * that lane the next batch. Lane 0's connection is also the loop's (offsets, pruning, the
 * missing-usage gauge), used by the loop only while lane 0 is idle: a connection is only
 * ever used by one thread. Each batch stores the offsets of its own lane's partitions only,
 * so exactly-once holds per partition as with one lane. */
enum ui_apply_state { UI_IDLE, UI_APPLYING, UI_APPLIED };
struct ui_applier {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum ui_apply_state state;
    bool quit, started;
    int rc;          /* outcome of the last batch */
    PGresult *res;   /* its result on success */
    size_t dlq_sent; /* rejections it produced to the DLQ */
    int64_t started_ms;
};

struct ui_lane {
    struct ui_ingester *ing;
    int index;
    mc_db *db;                /* lane 0: the ingester's own */
    struct ui_batch batch;    /* open: filled by the poll loop */
    struct ui_batch applying; /* sealed: with the lane's database thread */
    struct ui_applier ap;
    /* Messages of the lane's partitions consumed while its open batch was full and its
     * previous batch still applying, not yet decoded, oldest first (stash[head..n)): the
     * consumer's queue hands out long runs of one partition, so the loop keeps reading for
     * the other lanes instead of waiting for this one. */
    rd_kafka_message_t **stash;
    size_t head, n, cap;
};

struct ui_ingester {
    struct mc_service *svc;
    char *group;
    int64_t batch_max;
    int64_t batch_wait_ms;
    int64_t retention_ms;
    int64_t nlanes;
    mc_db *db; /* lane 0's connection, the loop's while lane 0 is idle */
    mc_consumer *consumer;
    mc_producer *dlq_producer;
    /* The partition table (partitions.c). Only the poll thread writes it, always under parts_mu,
     * because the HTTP thread reads it for the lag gauge; the poll thread reads it unlocked. */
    pthread_mutex_t parts_mu;
    struct ui_part *parts;
    size_t nparts, capparts;
    struct ui_lane *lanes;   /* nlanes of them */
    struct mc_outage outage; /* the database refused a batch: partitions paused and rewound */
    int64_t next_prune_ms;
    /* completed tasks without usage per runtime, as /metrics last saw them (missing_usage.c) */
    struct {
        pthread_mutex_t mu;
        char (*runtime)[MC_UUID_STRLEN];
        int64_t *count;
        size_t n;
        int64_t next_ms;
    } missing;
    struct {
        mc_metric *consumed_usage, *consumed_task, *rows, *attribution, *batches, *latency, *dlq,
            *fenced, *db_errors, *skipped, *gaps;
    } m;
};

/* partitions.c: the partition table and the stored offsets; below the batch, knowing nothing
 * of it. */
struct ui_part *ui_part_find(struct ui_ingester *ing, const char *topic, int32_t partition);
/* Reads the stored offsets of newly assigned partitions into the table and sets each entry's
 * offset to where consumption starts. Returns 0 or the database error. */
int ui_partitions_load(struct ui_ingester *ing, rd_kafka_topic_partition_list_t *parts);
/* Marks revoked partitions as no longer assigned. */
void ui_partitions_revoked(struct ui_ingester *ing, const rd_kafka_topic_partition_list_t *parts);
/* Re-reads the stored offsets of every assigned partition and seeks to them. */
int ui_partitions_resync(struct ui_ingester *ing);
/* Seeks every assigned partition to its expected offset and pauses them (pause) or resumes
 * them; partitions waiting for the DLQ stay paused either way. */
void ui_partitions_rewind(struct ui_ingester *ing, bool pause);
/* Resumes the partitions whose wait for the DLQ is over, from their stored offsets. */
void ui_partitions_unblock(struct ui_ingester *ing);
double ui_partitions_lag(void *ctx);
/* What the batch does to the table: a message of p added to the open batch (next: the offset
 * after it); the open batch sealed (its partitions' ends become the applying ones); a batch
 * forgotten (the open one, or the applying one when applying); the applying batch committed
 * (the stored offsets advance, and *done gathers them for Kafka); the partition at index
 * made to wait for the DLQ with a growing backoff (error: why the DLQ refused). */
void ui_part_batched(struct ui_ingester *ing, struct ui_part *p, int64_t next);
void ui_parts_sealed(struct ui_ingester *ing, int lane);
/* lane: -1 for every lane. */
void ui_parts_forget(struct ui_ingester *ing, int lane, bool applying);
void ui_parts_applied(struct ui_ingester *ing, int lane, rd_kafka_topic_partition_list_t **done);
void ui_part_block(struct ui_ingester *ing, size_t index, const char *error);

/* usage_batch.c: the batches, built on the partition table. */
void ui_batch_init(struct ui_batch *b);
/* Empties the open batch and the stash of every lane (the partitions are read again from
 * their stored offsets next). */
void ui_batch_reset(struct ui_ingester *ing);
void ui_batch_free(struct ui_batch *b);
/* Adds one consumed message (valid or not) to the open batch of its partition's lane. */
void ui_batch_add(struct ui_ingester *ing, const rd_kafka_message_t *msg);
/* Creates the lanes (lane 0 on ing->db, the others on connections of their own) and starts
 * their database threads; stop ends the threads and frees the lanes. Start returns 0 or
 * MC_ENOMEM. */
int ui_lanes_start(struct ui_ingester *ing, const char *database_url);
void ui_lanes_stop(struct ui_ingester *ing);
/* True when the lane's open batch holds INGEST_BATCH_MAX rows. */
bool ui_batch_full(const struct ui_ingester *ing, const struct ui_lane *lane);
/* Keeps a consumed message of the lane for later (the stash takes it over); unstash decodes
 * the stashed messages into the open batch, oldest first, until it is full. */
void ui_lane_stash(struct ui_lane *lane, rd_kafka_message_t *msg);
void ui_lane_unstash(struct ui_ingester *ing, struct ui_lane *lane);
/* Seals the lane's open batch (with the offsets of its partitions) and hands it to the lane's
 * database thread, which produces its rejections to the DLQ, then applies it in one database
 * call. Only when the lane applies nothing (ui_batch_complete first) and its open batch is
 * not empty. */
void ui_batch_dispatch(struct ui_ingester *ing, struct ui_lane *lane);
/* True while a batch is with the lane's database thread (applying, or applied and not yet
 * read); ui_batches_applying: with any lane's. */
bool ui_batch_applying(struct ui_lane *lane);
bool ui_batches_applying(struct ui_ingester *ing);
/* True when the lane's database thread is done and ui_batch_complete will not wait. */
bool ui_batch_applied(struct ui_lane *lane);
/* Waits for the batch with the lane's database thread, if any, and takes its outcome: on
 * success the stored offsets of its partitions advance and Kafka's copy is committed. Returns
 * 0 (also when nothing was being applied), MC_ECONFLICT when another consumer had applied the
 * range (the batch is dropped; the caller drops the open ones and resynchronises the
 * partitions), MC_ESTATE when the DLQ refused some dead letters (the batch is dropped and the
 * partitions they came from wait; the caller drops the open ones and rewinds the others), or
 * MC_EDB/MC_EDBCONN/MC_EKAFKA (the batch is dropped; the caller rewinds to the stored
 * offsets). */
int ui_batch_complete(struct ui_ingester *ing, struct ui_lane *lane);
/* ui_batch_complete on every lane; returns the outcome that asks the most of the caller
 * (ui_batch_worse). */
int ui_batch_complete_all(struct ui_ingester *ing);
/* Of two outcomes, the one whose recovery covers the other's: a database or Kafka error
 * (rewind and wait for the database) over a conflict (resynchronise) over refused dead
 * letters (rewind), over success. */
int ui_batch_worse(int a, int b);
/* Completes every lane's batch, then applies every open batch and every stashed message and
 * waits for them: the synchronous path for a revocation and the orderly stop. Returns as
 * ui_batch_complete_all. */
int ui_batch_flush(struct ui_ingester *ing);

/* missing_usage.c: the per-runtime count of completed tasks without usage, for /metrics.
 * Refresh runs on the loop's connection, only while lane 0 has no batch with its thread. */
void ui_missing_init(struct ui_ingester *ing);
void ui_missing_refresh(struct ui_ingester *ing);
void ui_missing_free(struct ui_ingester *ing);
/* rebalance.c: the consumer's rebalance hooks. */
int ui_on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts);
void ui_on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts);

/* consumer_loop.c */
int ui_run(struct ui_ingester *ing);

#endif
