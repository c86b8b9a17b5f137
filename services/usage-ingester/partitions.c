/* partitions.c: the ingester's assigned partitions and their offsets stored in Postgres.
 *
 * The database, not Kafka, says where to resume: on assignment each partition is positioned
 * at usage.consumer_offsets.next_offset (or the beginning when the database has never applied
 * anything from it), so a batch applied before a crash is never applied again and one that
 * was not applied is never skipped. */
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
        struct ui_part *np = realloc(ing->parts, cap * sizeof *np);
        if (np == NULL)
            abort();
        ing->parts = np;
        ing->capparts = cap;
    }
    p = &ing->parts[ing->nparts++];
    memset(p, 0, sizeof *p);
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    p->expected = -1;
    p->batch_next = -1;
    p->applying_next = -1;
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
 * again (or the broker lost data): start that partition from its beginning, where event-id
 * deduplication keeps replayed events from counting twice. */
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
        p->floor = 0;
    }
}

int ui_partitions_on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts)
{
    struct ui_ingester *ing = ctx;
    /* A revocation always comes first and finishes every batch; this only makes sure the
     * database thread is not using the connection. Its outcome does not matter here: the
     * offsets are read back from the database just below. */
    if (ui_batch_applying(ing) && ui_batch_complete(ing) != 0)
        ui_batch_reset(ing);
    int rc = load_offsets(ing, parts);
    if (rc != 0) {
        mc_log_warn(json_pack("{ss}", "error", mc_db_errmsg(ing->db)),
                    "cannot read stored offsets; retrying the assignment");
        return rc;
    }
    for (int i = 0; i < parts->cnt; i++) {
        struct ui_part *p = ui_part_find(ing, parts->elems[i].topic, parts->elems[i].partition);
        check_beyond_end(ing, p);
        parts->elems[i].offset = p->floor >= 0 ? p->floor : RD_KAFKA_OFFSET_BEGINNING;
    }
    ing->stalled = false;
    return 0;
}

void ui_partitions_on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct ui_ingester *ing = ctx;
    /* Finish the batch being applied and the open one while the partitions are still ours;
     * if that fails the next owner starts from the stored offsets, so dropping them loses
     * nothing. */
    if (ui_batch_flush(ing) != 0)
        ui_batch_reset(ing);
    pthread_mutex_lock(&ing->parts_mu);
    for (int i = 0; i < parts->cnt; i++) {
        struct ui_part *p = ui_part_find(ing, parts->elems[i].topic, parts->elems[i].partition);
        if (p != NULL)
            p->assigned = false;
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
