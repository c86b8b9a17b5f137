/* partitions.c: the ingester's partition table and the offsets stored in Postgres.
 *
 * The database, not Kafka, says where to resume: on assignment each partition is positioned
 * at usage.consumer_offsets.next_offset (or the beginning when the database has never applied
 * anything from it), so a batch applied before a crash is never applied again and one that
 * was not applied is never skipped.
 *
 * This file owns the table: every write happens here, under parts_mu, because the HTTP thread
 * reads the table for the lag gauge; the poll thread, the only writer, reads it without the
 * lock. It knows nothing of batches (usage_batch.c builds on it, never the reverse). */
#include "ingester.h"
#include "mc_log.h"

#include <stdlib.h>
#include <string.h>

struct ui_part *ui_part_find(struct ui_ingester *ing, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < ing->nparts; i++)
        if (ing->parts[i].partition == partition && strcmp(ing->parts[i].topic, topic) == 0)
            return &ing->parts[i];
    return NULL;
}

static struct ui_part *part_get(struct ui_ingester *ing, const char *topic, int32_t partition)
{
    struct ui_part *p = ui_part_find(ing, topic, partition);
    if (p != NULL)
        return p;
    if (ing->nparts == ing->capparts) {
        size_t cap = ing->capparts ? ing->capparts * 2 : 16;
        ing->parts = mc_realloc(ing->parts, cap * sizeof *ing->parts);
        ing->capparts = cap;
    }
    p = &ing->parts[ing->nparts++];
    memset(p, 0, sizeof *p);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    p->expected = -1;
    p->batch_next = -1;
    p->applying_next = -1;
    p->lane = (int)(partition % ing->nlanes);
    return p;
}

/* Reads every stored offset of the group and writes them into the table for the given
 * partitions (-1 where none is stored). */
static int load_offsets(struct ui_ingester *ing, const rd_kafka_topic_partition_list_t *parts)
{
    PGresult *r = NULL;
    const char *params[] = {ing->group};
    int rc = mc_db_exec(ing->db, UI_LOAD_OFFSETS, 1, params, &r);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&ing->parts_mu);
    for (int i = 0; i < parts->cnt; i++) {
        struct ui_part *p = part_get(ing, parts->elems[i].topic, parts->elems[i].partition);
        p->expected = -1;
        for (int row = 0; row < PQntuples(r); row++) {
            if (strcmp(PQgetvalue(r, row, 0), p->topic) == 0 &&
                atoi(PQgetvalue(r, row, 1)) == p->partition)
                p->expected = strtoll(PQgetvalue(r, row, 2), NULL, 10);
        }
        p->floor = p->expected;
        p->batch_next = -1;
        p->applying_next = -1;
        p->assigned = true;
        p->blocked_until = 0;
    }
    pthread_mutex_unlock(&ing->parts_mu);
    PQclear(r);
    return 0;
}

/* A stored offset beyond the end of its partition means the topic was deleted and created
 * again (or the broker lost data): start that partition from its beginning: a report applied
 * again changes nothing and task events deduplicate by id, so nothing counts twice. */
static void check_beyond_end(struct ui_ingester *ing, struct ui_part *p)
{
    int64_t lo = 0, hi = 0;
    if (p->expected <= 0 ||
        rd_kafka_query_watermark_offsets(mc_consumer_handle(ing->consumer), p->topic, p->partition,
                                         &lo, &hi, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (p->expected > hi) {
        mc_log_warn(json_pack("{ss si sI sI}", "topic", p->topic, "partition", p->partition,
                              "stored_offset", (json_int_t)p->expected, "log_end", (json_int_t)hi),
                    "stored offset is beyond the end of the partition; reading it from the start");
        pthread_mutex_lock(&ing->parts_mu);
        p->floor = 0;
        pthread_mutex_unlock(&ing->parts_mu);
    }
}

int ui_partitions_load(struct ui_ingester *ing, rd_kafka_topic_partition_list_t *parts)
{
    int rc = load_offsets(ing, parts);
    if (rc != 0)
        return rc;
    for (int i = 0; i < parts->cnt; i++) {
        struct ui_part *p = ui_part_find(ing, parts->elems[i].topic, parts->elems[i].partition);
        check_beyond_end(ing, p);
        parts->elems[i].offset = p->floor >= 0 ? p->floor : RD_KAFKA_OFFSET_BEGINNING;
    }
    return 0;
}

void ui_partitions_revoked(struct ui_ingester *ing, const rd_kafka_topic_partition_list_t *parts)
{
    pthread_mutex_lock(&ing->parts_mu);
    for (int i = 0; i < parts->cnt; i++) {
        struct ui_part *p = ui_part_find(ing, parts->elems[i].topic, parts->elems[i].partition);
        if (p != NULL)
            p->assigned = false;
    }
    pthread_mutex_unlock(&ing->parts_mu);
}

void ui_part_batched(struct ui_ingester *ing, struct ui_part *p, int64_t next)
{
    pthread_mutex_lock(&ing->parts_mu);
    p->batch_next = next;
    pthread_mutex_unlock(&ing->parts_mu);
}

void ui_parts_sealed(struct ui_ingester *ing, int lane)
{
    pthread_mutex_lock(&ing->parts_mu);
    for (size_t i = 0; i < ing->nparts; i++) {
        struct ui_part *p = &ing->parts[i];
        if (p->batch_next < 0 || p->lane != lane)
            continue;
        p->applying_next = p->batch_next;
        p->batch_next = -1;
    }
    pthread_mutex_unlock(&ing->parts_mu);
}

void ui_parts_forget(struct ui_ingester *ing, int lane, bool applying)
{
    pthread_mutex_lock(&ing->parts_mu);
    for (size_t i = 0; i < ing->nparts; i++) {
        if (lane >= 0 && ing->parts[i].lane != lane)
            continue;
        if (applying)
            ing->parts[i].applying_next = -1;
        else
            ing->parts[i].batch_next = -1;
    }
    pthread_mutex_unlock(&ing->parts_mu);
}

void ui_parts_applied(struct ui_ingester *ing, int lane, rd_kafka_topic_partition_list_t **done)
{
    pthread_mutex_lock(&ing->parts_mu);
    for (size_t i = 0; i < ing->nparts; i++) {
        struct ui_part *p = &ing->parts[i];
        if (p->applying_next < 0 || p->lane != lane)
            continue;
        p->expected = p->floor = p->applying_next;
        p->block_backoff_ms = 0;
        mc_offsets_done(done, p->topic, p->partition, p->expected);
    }
    pthread_mutex_unlock(&ing->parts_mu);
}

void ui_part_block(struct ui_ingester *ing, size_t index, const char *error)
{
    int64_t now = mc_now_mono_ms();
    pthread_mutex_lock(&ing->parts_mu);
    struct ui_part *p = &ing->parts[index];
    if (p->blocked_until <= now) {
        p->block_backoff_ms = p->block_backoff_ms ? p->block_backoff_ms * 2 : 1000;
        if (p->block_backoff_ms > 30000)
            p->block_backoff_ms = 30000;
        p->blocked_until = now + p->block_backoff_ms;
        mc_log_warn(json_pack("{ss si ss sI}", "topic", p->topic, "partition", p->partition,
                              "error", error, "retry_in_ms", (json_int_t)p->block_backoff_ms),
                    "dead letter not accepted by the DLQ; this partition waits");
    }
    pthread_mutex_unlock(&ing->parts_mu);
}

static rd_kafka_topic_partition_list_t *assigned_list(struct ui_ingester *ing)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ing->nparts + 1);
    for (size_t i = 0; i < ing->nparts; i++) {
        struct ui_part *p = &ing->parts[i];
        if (p->assigned)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                p->floor >= 0 ? p->floor : RD_KAFKA_OFFSET_BEGINNING;
    }
    return l;
}

void ui_partitions_rewind(struct ui_ingester *ing, bool pause)
{
    rd_kafka_t *rk = mc_consumer_handle(ing->consumer);
    rd_kafka_topic_partition_list_t *l = assigned_list(ing);
    rd_kafka_topic_partition_list_t *hold = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_t *go = rd_kafka_topic_partition_list_new(l->cnt + 1);
    for (int i = 0; i < l->cnt; i++) {
        struct ui_part *p = ui_part_find(ing, l->elems[i].topic, l->elems[i].partition);
        rd_kafka_topic_partition_list_add(pause || p->blocked_until > 0 ? hold : go,
                                          l->elems[i].topic, l->elems[i].partition);
    }
    if (hold->cnt > 0)
        rd_kafka_pause_partitions(rk, hold);
    if (l->cnt > 0)
        mc_consumer_seek(ing->consumer, l);
    if (go->cnt > 0)
        rd_kafka_resume_partitions(rk, go);
    rd_kafka_topic_partition_list_destroy(go);
    rd_kafka_topic_partition_list_destroy(hold);
    rd_kafka_topic_partition_list_destroy(l);
}

void ui_partitions_unblock(struct ui_ingester *ing)
{
    int64_t now = mc_now_mono_ms();
    rd_kafka_topic_partition_list_t *l = NULL;
    pthread_mutex_lock(&ing->parts_mu);
    for (size_t i = 0; i < ing->nparts; i++) {
        struct ui_part *p = &ing->parts[i];
        if (p->blocked_until == 0 || p->blocked_until > now)
            continue;
        p->blocked_until = 0;
        if (!p->assigned)
            continue;
        if (l == NULL)
            l = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
            p->floor >= 0 ? p->floor : RD_KAFKA_OFFSET_BEGINNING;
    }
    pthread_mutex_unlock(&ing->parts_mu);
    if (l == NULL)
        return;
    /* Nothing of these partitions is in a batch (their messages were skipped), so they start
     * again exactly at the stored offset. */
    mc_consumer_seek(ing->consumer, l);
    rd_kafka_resume_partitions(mc_consumer_handle(ing->consumer), l);
    rd_kafka_topic_partition_list_destroy(l);
}

int ui_partitions_resync(struct ui_ingester *ing)
{
    rd_kafka_topic_partition_list_t *l = assigned_list(ing);
    int rc = load_offsets(ing, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; rc == 0 && i < ing->nparts; i++)
        if (ing->parts[i].assigned)
            check_beyond_end(ing, &ing->parts[i]);
    if (rc == 0)
        ui_partitions_rewind(ing, false);
    return rc;
}

double ui_partitions_lag(void *ctx)
{
    struct ui_ingester *ing = ctx;
    rd_kafka_t *rk = mc_consumer_handle(ing->consumer);
    double lag = 0;
    pthread_mutex_lock(&ing->parts_mu);
    for (size_t i = 0; i < ing->nparts; i++) {
        struct ui_part *p = &ing->parts[i];
        int64_t lo = 0, hi = 0;
        if (!p->assigned ||
            rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        int64_t at = p->floor >= 0 ? p->floor : lo;
        if (hi > at)
            lag += (double)(hi - at);
    }
    pthread_mutex_unlock(&ing->parts_mu);
    return lag;
}
