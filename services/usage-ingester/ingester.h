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
enum {
    UI_APPLY_BATCH,
    UI_LOAD_OFFSETS,
    UI_PRUNE_EVENTS,
};
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
    int64_t batch_next; /* next offset after this partition's messages in the open batch */
    bool assigned;
};

/* Messages of the open batch, kept as array literals for usage.apply_batch. */
struct ui_batch {
    struct mc_pgarr u_ids, u_tasks, u_prov, u_model, u_in, u_out, u_cr, u_cw, u_rep;
    struct mc_pgarr t_ids, t_tasks, t_ws, t_agent, t_rt, t_issue, t_ver, t_del;
    size_t nusage, ntask, nmessages;
    /* Rejected messages, produced to the DLQ before the batch commits. */
    struct mc_kmsg *dlq;
    char **dlq_values;
    size_t ndlq, capdlq;
    int64_t started_ms;
};

struct ui_ingester {
    struct mc_service *svc;
    char *group;
    int64_t batch_max;
    int64_t batch_wait_ms;
    int64_t retention_ms;
    mc_db *db;
    mc_consumer *consumer;
    mc_producer *dlq_producer;
    pthread_mutex_t parts_mu; /* the HTTP thread reads the table for the lag gauge */
    struct ui_part *parts;
    size_t nparts, capparts;
    struct ui_batch batch;
    bool stalled; /* database or DLQ unavailable: partitions paused, waiting to rewind */
    int64_t next_prune_ms;
    struct {
        mc_metric *consumed_usage, *consumed_task, *rows, *attribution, *batches, *latency,
            *dlq, *fenced, *db_errors, *skipped, *gaps;
    } m;
};

/* partitions.c */
int ui_partitions_on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts);
void ui_partitions_on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts);
struct ui_part *ui_part_find(struct ui_ingester *ing, const char *topic, int32_t partition);
/* Re-reads the stored offsets of every assigned partition and seeks to them. */
int ui_partitions_resync(struct ui_ingester *ing);
/* Seeks every assigned partition to its expected offset and pauses or resumes them. */
void ui_partitions_rewind(struct ui_ingester *ing, bool pause);
double ui_partitions_lag(void *ctx);

/* usage_batch.c */
void ui_batch_init(struct ui_batch *b);
void ui_batch_reset(struct ui_ingester *ing);
void ui_batch_free(struct ui_batch *b);
/* Adds one consumed message (valid or not) to the open batch. */
void ui_batch_add(struct ui_ingester *ing, const rd_kafka_message_t *msg);
/* Commits the open batch: DLQ first, then one database call with the offsets. Returns 0,
 * MC_ECONFLICT when another consumer had applied the range (the batch is dropped and the
 * partitions resynchronised), or MC_EDB/MC_EDBCONN/MC_EKAFKA (the batch is kept). */
int ui_batch_flush(struct ui_ingester *ing);

/* consumer_loop.c */
int ui_run(struct ui_ingester *ing);

#endif
