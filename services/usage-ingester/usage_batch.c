/* usage_batch.c: accumulates consumed messages and applies them in one transaction.
 *
 * A batch is one call of usage.apply_batch: the offsets it covers, the usage reports and the
 * task events travel together, so the rows and the position they correspond to commit or roll
 * back as one. Messages that fail validation go to multica.usage.dlq first; their offsets are
 * part of the batch, so a rejected message is neither lost nor rejected twice (barring a crash
 * between the DLQ write and the commit, when the DLQ may hold it twice). */
#include "ingester.h"
#include "mc_auth.h"
#include "mc_log.h"
#include "mc_proto.h"
#include "usage_decode.h"

#include <orcania.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct mc_db_stmt ui_stmts[] = {
    [UI_APPLY_BATCH] = {"ui_apply_batch",
                        "SELECT usage_rows, attribution_rows FROM usage.apply_batch("
                        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
                        "$15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, "
                        "$29)"},
    [UI_LOAD_OFFSETS] = {"ui_load_offsets",
                         "SELECT topic, partition, next_offset FROM usage.consumer_offsets "
                         "WHERE group_id = $1"},
    [UI_PRUNE_EVENTS] = {"ui_prune_events",
                         "SELECT usage.prune_processed_events($1::interval, $2)"},
    [UI_MISSING_BY_RUNTIME] = {"ui_missing_by_runtime",
                               "SELECT runtime_id, count(*) FROM usage.task_attribution "
                               "WHERE usage_missing GROUP BY 1 ORDER BY 1"},
};
const size_t ui_nstmts = MC_ARRAY_LEN(ui_stmts);
MC_STATIC_ASSERT_LEN(ui_stmts, UI_NSTMTS);

/* How much of a rejected message a dead letter keeps (see reject). */
#define DLQ_KEEP_BYTES 65536
#define DLQ_KEEP_KEY   1024
#define DLQ_REASON_MAX 1024

#define ARRAYS(b)                                                                                  \
    &(b)->u_ids, &(b)->u_tasks, &(b)->u_prov, &(b)->u_model, &(b)->u_in, &(b)->u_out, &(b)->u_cr,  \
        &(b)->u_cw, &(b)->u_cost, &(b)->u_rep, &(b)->t_ids, &(b)->t_tasks, &(b)->t_ws,             \
        &(b)->t_agent, &(b)->t_rt, &(b)->t_issue, &(b)->t_ver, &(b)->t_del, &(b)->t_done,          \
        &(b)->i_ids, &(b)->i_issue, &(b)->i_ws, &(b)->i_project, &(b)->i_ver
#define OFFSET_ARRAYS(b) &(b)->o_topics, &(b)->o_parts, &(b)->o_expected, &(b)->o_next

void ui_batch_init(struct ui_batch *b)
{
    memset(b, 0, sizeof *b);
}

static void drop_dlq(struct ui_batch *b)
{
    for (size_t i = 0; i < b->ndlq; i++) {
        free(b->dlq_values[i]);
        free((char *)b->dlq[i].key);
    }
    b->ndlq = 0;
}

static void empty(struct ui_batch *b)
{
    struct mc_pgarr *arrays[] = {ARRAYS(b), OFFSET_ARRAYS(b)};
    for (size_t i = 0; i < MC_ARRAY_LEN(arrays); i++)
        mc_pgarr_reset(arrays[i]);
    drop_dlq(b);
    b->nusage = b->ntask = b->nissue = b->nmessages = 0;
    b->started_ms = 0;
}

static void drop_stash(struct ui_lane *lane)
{
    for (size_t i = lane->head; i < lane->n; i++)
        rd_kafka_message_destroy(lane->stash[i]);
    lane->head = lane->n = 0;
}

void ui_batch_reset(struct ui_ingester *ing)
{
    for (int64_t i = 0; i < ing->nlanes; i++) {
        empty(&ing->lanes[i].batch);
        drop_stash(&ing->lanes[i]);
    }
    ui_parts_forget(ing, -1, false);
}

bool ui_batch_full(const struct ui_ingester *ing, const struct ui_lane *lane)
{
    const struct ui_batch *b = &lane->batch;
    return (int64_t)(b->nusage + b->ntask + b->ndlq) >= ing->batch_max;
}

void ui_lane_stash(struct ui_lane *lane, rd_kafka_message_t *msg)
{
    if (lane->n == lane->cap) {
        if (lane->head > 0) {
            memmove(lane->stash, lane->stash + lane->head,
                    (lane->n - lane->head) * sizeof *lane->stash);
            lane->n -= lane->head;
            lane->head = 0;
        } else {
            lane->cap = lane->cap ? lane->cap * 2 : 1024;
            lane->stash = mc_realloc(lane->stash, lane->cap * sizeof *lane->stash);
        }
    }
    lane->stash[lane->n++] = msg;
}

void ui_lane_unstash(struct ui_ingester *ing, struct ui_lane *lane)
{
    while (lane->head < lane->n && !ui_batch_full(ing, lane)) {
        rd_kafka_message_t *m = lane->stash[lane->head++];
        ui_batch_add(ing, m);
        rd_kafka_message_destroy(m);
    }
    if (lane->head == lane->n)
        lane->head = lane->n = 0;
}

/* Forgets the batch the lane's database thread had (after its outcome was read). */
static void drop_applying(struct ui_ingester *ing, struct ui_lane *lane)
{
    empty(&lane->applying);
    ui_parts_forget(ing, lane->index, true);
}

void ui_batch_free(struct ui_batch *b)
{
    struct mc_pgarr *arrays[] = {ARRAYS(b), OFFSET_ARRAYS(b)};
    for (size_t i = 0; i < MC_ARRAY_LEN(arrays); i++)
        mc_pgarr_free(arrays[i]);
    drop_dlq(b);
    free(b->dlq);
    free(b->dlq_values);
    free(b->dlq_from);
    memset(b, 0, sizeof *b);
}

static char *base64(const void *data, size_t len)
{
    struct _o_datum d = {0, NULL};
    if (len == 0)
        return mc_strdup("");
    if (!o_base64_encode_alloc(data, len, &d))
        return NULL;
    char *out = mc_strndup((const char *)d.data, d.size);
    o_free(d.data);
    return out;
}

/* Queues a rejection for the DLQ: the reason, where the message came from, and its bytes.
 * A dead letter must always fit the DLQ topic (max.message.bytes is 1 MiB, and the base64 of a
 * message near that size is 4/3 of it): only the first DLQ_KEEP_BYTES of the original and
 * DLQ_KEEP_KEY of its key travel, with the whole original's size and SHA-256. */
static void reject(struct ui_ingester *ing, struct ui_batch *b, const rd_kafka_message_t *msg,
                   const char *reason)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    size_t len = msg->payload ? msg->len : 0;
    size_t keep = len < DLQ_KEEP_BYTES ? len : DLQ_KEEP_BYTES;
    size_t keylen = msg->key ? (msg->key_len < DLQ_KEEP_KEY ? msg->key_len : DLQ_KEEP_KEY) : 0;
    char sha[65] = "";
    mc_auth_sha256_hex(msg->payload ? msg->payload : "", len, sha);
    char *orig = base64(msg->payload, keep);
    char *key = msg->key ? base64(msg->key, keylen) : NULL;
    char short_reason[DLQ_REASON_MAX + 1];
    snprintf(short_reason, sizeof short_reason, "%s", reason);
    json_t *data =
        json_pack("{ss ss si sI s:s? ss sI ss sb}", "reason", short_reason, "topic", topic,
                  "partition", (int)msg->partition, "offset", (json_int_t)msg->offset, "key_base64",
                  key, "original_base64", orig ? orig : "", "original_bytes", (json_int_t)len,
                  "original_sha256", sha, "truncated", keep < len);
    free(orig);
    free(key);
    char subject[96];
    snprintf(subject, sizeof subject, "%s/%d/%lld", topic, (int)msg->partition,
             (long long)msg->offset);
    char *value = mc_event_encode(MC_EV_USAGE_REJECTED, "usage-ingester", subject, data, NULL);
    if (value == NULL) {
        MC_LOG_ERROR_AT(NULL, "cannot encode a DLQ event");
        return;
    }
    if (b->ndlq == b->capdlq) {
        b->capdlq = b->capdlq ? b->capdlq * 2 : 16;
        b->dlq = mc_realloc(b->dlq, b->capdlq * sizeof *b->dlq);
        b->dlq_values = mc_realloc(b->dlq_values, b->capdlq * sizeof *b->dlq_values);
        b->dlq_from = mc_realloc(b->dlq_from, b->capdlq * sizeof *b->dlq_from);
    }
    char *kcopy = msg->key != NULL ? mc_strndup(msg->key, keylen) : NULL;
    b->dlq_values[b->ndlq] = value;
    b->dlq[b->ndlq] = (struct mc_kmsg){.topic = MC_TOPIC_USAGE_DLQ,
                                       .key = kcopy,
                                       .keylen = keylen,
                                       .value = value,
                                       .len = strlen(value)};
    struct ui_part *from = ui_part_find(ing, topic, msg->partition);
    b->dlq_from[b->ndlq] = from ? from - ing->parts : -1;
    b->ndlq++;
    mc_log_info(json_pack("{ss ss si sI}", "reason", short_reason, "topic", topic, "partition",
                          (int)msg->partition, "offset", (json_int_t)msg->offset),
                "message rejected to the DLQ");
}

/* A report's event id is not sent: usage.apply_batch keeps no dedup row for reports (a
 * replay is a no-op by itself), so u_ids stays empty. */
static void add_usage(struct ui_batch *b, const struct mc_usage_reported *u)
{
    mc_pgarr_add_raw(&b->u_tasks, u->task_id);
    mc_pgarr_add_text(&b->u_prov, u->provider);
    mc_pgarr_add_text(&b->u_model, u->model);
    mc_pgarr_add_int(&b->u_in, u->input_tokens);
    mc_pgarr_add_int(&b->u_out, u->output_tokens);
    mc_pgarr_add_int(&b->u_cr, u->cache_read_tokens);
    mc_pgarr_add_int(&b->u_cw, u->cache_write_tokens);
    if (u->cost_usd_ticks >= 0)
        mc_pgarr_add_int(&b->u_cost, u->cost_usd_ticks);
    else
        mc_pgarr_add_raw(&b->u_cost, "NULL");
    mc_pgarr_add_raw(&b->u_rep, u->reported_at);
    b->nusage++;
}

static void add_usage_event(struct ui_batch *b, const struct mc_event *ev)
{
    struct mc_usage_reported u;
    mc_usage_reported_from(ev, &u);
    add_usage(b, &u);
}

static void add_task(struct ui_batch *b, const struct mc_event *ev)
{
    struct mc_task_attr a;
    mc_task_attr_from(ev, &a);
    mc_pgarr_add_raw(&b->t_ids, ev->id);
    mc_pgarr_add_raw(&b->t_tasks, a.task_id);
    mc_pgarr_add_raw(&b->t_ws, a.workspace_id);
    mc_pgarr_add_raw(&b->t_agent, a.agent_id);
    mc_pgarr_add_raw(&b->t_rt, a.runtime_id);
    mc_pgarr_add_raw(&b->t_issue, a.issue_id[0] ? a.issue_id : "NULL");
    mc_pgarr_add_int(&b->t_ver, a.version);
    mc_pgarr_add_raw(&b->t_del, a.deleted ? "t" : "f");
    mc_pgarr_add_raw(&b->t_done, a.completed ? "t" : "f");
    b->ntask++;
}

static void add_issue(struct ui_batch *b, const struct mc_event *ev)
{
    struct mc_issue_project ip;
    mc_issue_project_from(ev, &ip);
    mc_pgarr_add_raw(&b->i_ids, ev->id);
    mc_pgarr_add_raw(&b->i_issue, ip.issue_id);
    mc_pgarr_add_raw(&b->i_ws, ip.workspace_id);
    mc_pgarr_add_raw(&b->i_project, ip.project_id[0] ? ip.project_id : "NULL");
    mc_pgarr_add_int(&b->i_ver, ip.version);
    b->nissue++;
}

void ui_batch_add(struct ui_ingester *ing, const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    struct ui_part *p = ui_part_find(ing, topic, msg->partition);
    if (p == NULL || !p->assigned || p->blocked_until > 0) {
        /* Not ours, or waiting for the DLQ: read again from the stored offset later. */
        mc_metric_add(ing->m.skipped, 1);
        return;
    }
    struct ui_batch *b = &ing->lanes[p->lane].batch;
    /* Already applied or being applied (redelivered after a seek): the stored offset, or the
     * end of the batch with the database thread, is past it. */
    int64_t from = p->batch_next >= 0      ? p->batch_next
                   : p->applying_next >= 0 ? p->applying_next
                                           : p->floor;
    if (from >= 0 && msg->offset < from) {
        mc_metric_add(ing->m.skipped, 1);
        return;
    }
    /* A hole in the offsets of a plain topic means the broker deleted messages (retention)
     * before this group applied them: nothing can bring them back, but it must not pass
     * silently. */
    if (p->batch_next < 0 && msg->offset > (from >= 0 ? from : 0)) {
        int64_t lost = msg->offset - (from >= 0 ? from : 0);
        mc_metric_add(ing->m.gaps, (double)lost);
        mc_log_error(json_pack("{ss si sI sI}", "topic", topic, "partition", (int)msg->partition,
                               "from", (json_int_t)(from >= 0 ? from : 0), "missing",
                               (json_int_t)lost),
                     "messages were deleted by the broker before they were applied");
    }
    if (b->nmessages == 0)
        b->started_ms = mc_now_mono_ms();
    b->nmessages++;
    ui_part_batched(ing, p, msg->offset + 1);

    bool usage_topic = mc_topic_is(topic, MC_TOPIC_USAGE_EVENTS);
    mc_metric_add(usage_topic ? ing->m.consumed_usage : ing->m.consumed_task, 1);
    struct mc_event ev;
    char reason[512];
    size_t len = msg->payload ? msg->len : 0;
    /* Nearly every message here is a well-formed UsageReported: scanned in one pass (no JSON
     * tree), or failing that checked directly on its tree, it skips the schema walk; anything
     * else takes the schema's way, which has the last word. */
    struct ui_usage row;
    if (usage_topic && ui_usage_scan(msg->payload, len, &row) == 0) {
        add_usage(b, &row.u);
        return;
    }
    if (usage_topic && ui_usage_decode(msg->payload, len, &ev) == 0) {
        add_usage_event(b, &ev);
        mc_event_clear(&ev);
        return;
    }
    if (mc_event_decode(msg->payload, len, &ev, reason, sizeof reason) != 0) {
        reject(ing, b, msg, reason);
        return;
    }
    const struct mc_event_type *t = mc_event_type_find(ev.type);
    if (!mc_topic_is(topic, t->topic)) {
        snprintf(reason, sizeof reason, "type: %s does not belong on %s", ev.type, topic);
        reject(ing, b, msg, reason);
    } else if (strcmp(ev.type, MC_EV_ISSUE_PROJECT_CHANGED) == 0) {
        add_issue(b, &ev);
    } else if (usage_topic) {
        add_usage_event(b, &ev);
    } else {
        add_task(b, &ev);
    }
    mc_event_clear(&ev);
}

/* Seals the lane's open batch: the offsets of the lane's partitions it touched, as four
 * arrays. The lane applies nothing, so each of its partitions' stored offset is the one the
 * database holds (another lane's batch never names them). */
static void seal(struct ui_ingester *ing, struct ui_lane *lane)
{
    struct ui_batch *b = &lane->batch;
    for (size_t i = 0; i < ing->nparts; i++) {
        const struct ui_part *p = &ing->parts[i];
        if (p->batch_next < 0 || p->lane != lane->index)
            continue;
        mc_pgarr_add_text(&b->o_topics, p->topic);
        mc_pgarr_add_int(&b->o_parts, p->partition);
        if (p->expected >= 0)
            mc_pgarr_add_int(&b->o_expected, p->expected);
        else
            mc_pgarr_add_raw(&b->o_expected, "NULL");
        mc_pgarr_add_int(&b->o_next, p->batch_next);
    }
    ui_parts_sealed(ing, lane->index);
}

/* The batch with its offsets: one call of usage.apply_batch, its own transaction. */
static int apply_batch(mc_db *db, void *arg)
{
    struct ui_lane *lane = arg;
    struct ui_batch *b = &lane->applying;
    const char *params[29] = {lane->ing->group, mc_pgarr_str(&b->o_topics),
                              mc_pgarr_str(&b->o_parts), mc_pgarr_str(&b->o_expected),
                              mc_pgarr_str(&b->o_next)};
    struct mc_pgarr *arrays[] = {ARRAYS(b)};
    for (size_t i = 0; i < MC_ARRAY_LEN(arrays); i++)
        params[5 + i] = mc_pgarr_str(arrays[i]);
    PQclear(lane->ap.res);
    lane->ap.res = NULL;
    return mc_db_exec(db, UI_APPLY_BATCH, 29, params, &lane->ap.res);
}

/* On the lane's database thread: the DLQ first, then the batch. Two transactions that touch
 * the same rows in different orders can deadlock (two ingesters applying overlapping tasks
 * after a rebalance; two lanes whose batches share an attribution row or a dirty bucket, when
 * a task's usage and its task events sit on partitions of different lanes); Postgres rolls
 * one back and the runner applies it again, so neither update is lost. */
static void apply(struct ui_lane *lane)
{
    struct ui_ingester *ing = lane->ing;
    struct ui_batch *b = &lane->applying;
    struct ui_applier *ap = &lane->ap;
    ap->res = NULL;
    ap->dlq_sent = 0;
    if (b->ndlq > 0) {
        ap->rc = mc_producer_send(ing->dlq_producer, b->dlq, b->ndlq);
        if (ap->rc != 0)
            return; /* the messages keep their err: ui_batch_complete reads which failed */
        ap->dlq_sent = b->ndlq;
        drop_dlq(b);
    }
    ap->rc = mc_db_run_tx(lane->db, "usage batch", apply_batch, lane);
}

static void *applier_main(void *arg)
{
    struct ui_lane *lane = arg;
    struct ui_applier *ap = &lane->ap;
    pthread_mutex_lock(&ap->mu);
    for (;;) {
        while (ap->state != UI_APPLYING && !ap->quit)
            pthread_cond_wait(&ap->cv, &ap->mu);
        if (ap->quit)
            break;
        pthread_mutex_unlock(&ap->mu);
        apply(lane);
        pthread_mutex_lock(&ap->mu);
        ap->state = UI_APPLIED;
        pthread_cond_broadcast(&ap->cv);
    }
    pthread_mutex_unlock(&ap->mu);
    return NULL;
}

static int applier_start(struct ui_lane *lane)
{
    struct ui_applier *ap = &lane->ap;
    pthread_mutex_init(&ap->mu, NULL);
    pthread_cond_init(&ap->cv, NULL);
    ap->state = UI_IDLE;
    if (pthread_create(&ap->thread, NULL, applier_main, lane) != 0) {
        pthread_cond_destroy(&ap->cv);
        pthread_mutex_destroy(&ap->mu);
        return MC_ENOMEM;
    }
    ap->started = true;
    return 0;
}

static void applier_stop(struct ui_lane *lane)
{
    struct ui_applier *ap = &lane->ap;
    if (!ap->started)
        return;
    pthread_mutex_lock(&ap->mu);
    while (ap->state == UI_APPLYING)
        pthread_cond_wait(&ap->cv, &ap->mu);
    ap->quit = true;
    pthread_cond_broadcast(&ap->cv);
    pthread_mutex_unlock(&ap->mu);
    pthread_join(ap->thread, NULL);
    PQclear(ap->res);
    ap->res = NULL;
    pthread_cond_destroy(&ap->cv);
    pthread_mutex_destroy(&ap->mu);
    ap->started = false;
}

int ui_lanes_start(struct ui_ingester *ing, const char *database_url)
{
    ing->lanes = mc_calloc((size_t)ing->nlanes, sizeof *ing->lanes);
    for (int64_t i = 0; i < ing->nlanes; i++) {
        struct ui_lane *lane = &ing->lanes[i];
        lane->ing = ing;
        lane->index = (int)i;
        lane->db =
            i == 0 ? ing->db : mc_db_new(database_url, ui_stmts, ui_nstmts, "usage-ingester");
        ui_batch_init(&lane->batch);
        ui_batch_init(&lane->applying);
        if (applier_start(lane) != 0)
            return MC_ENOMEM;
    }
    return 0;
}

void ui_lanes_stop(struct ui_ingester *ing)
{
    for (int64_t i = 0; ing->lanes != NULL && i < ing->nlanes; i++) {
        struct ui_lane *lane = &ing->lanes[i];
        applier_stop(lane);
        drop_stash(lane);
        free(lane->stash);
        if (i > 0)
            mc_db_free(lane->db);
        ui_batch_free(&lane->batch);
        ui_batch_free(&lane->applying);
    }
    free(ing->lanes);
    ing->lanes = NULL;
}

bool ui_batch_applying(struct ui_lane *lane)
{
    if (!lane->ap.started)
        return false;
    pthread_mutex_lock(&lane->ap.mu);
    bool busy = lane->ap.state != UI_IDLE;
    pthread_mutex_unlock(&lane->ap.mu);
    return busy;
}

bool ui_batches_applying(struct ui_ingester *ing)
{
    for (int64_t i = 0; i < ing->nlanes; i++)
        if (ui_batch_applying(&ing->lanes[i]))
            return true;
    return false;
}

bool ui_batch_applied(struct ui_lane *lane)
{
    if (!lane->ap.started)
        return false;
    pthread_mutex_lock(&lane->ap.mu);
    bool done = lane->ap.state == UI_APPLIED;
    pthread_mutex_unlock(&lane->ap.mu);
    return done;
}

void ui_batch_dispatch(struct ui_ingester *ing, struct ui_lane *lane)
{
    if (lane->batch.nmessages == 0 || ui_batch_applying(lane))
        return;
    seal(ing, lane);
    /* The sealed batch goes to the thread; the emptied one it had becomes the open batch. */
    struct ui_batch sealed = lane->batch;
    lane->batch = lane->applying;
    lane->applying = sealed;
    pthread_mutex_lock(&lane->ap.mu);
    lane->ap.started_ms = mc_now_mono_ms();
    lane->ap.state = UI_APPLYING;
    pthread_cond_broadcast(&lane->ap.cv);
    pthread_mutex_unlock(&lane->ap.mu);
}

/* The dead letters of the batch did not all reach the DLQ, so the batch was not applied. The
 * partitions they came from wait (paused by ui_partitions_rewind, with a growing backoff)
 * while every other partition goes on: a DLQ that refuses one partition's rejections must not
 * stop the rest. */
static void block_dlq_sources(struct ui_ingester *ing, const struct ui_lane *lane)
{
    const struct ui_batch *b = &lane->applying;
    for (size_t i = 0; i < b->ndlq; i++)
        if (b->dlq[i].err != RD_KAFKA_RESP_ERR_NO_ERROR && b->dlq_from[i] >= 0)
            ui_part_block(ing, (size_t)b->dlq_from[i], rd_kafka_err2name(b->dlq[i].err));
}

int ui_batch_complete(struct ui_ingester *ing, struct ui_lane *lane)
{
    struct ui_applier *ap = &lane->ap;
    if (!ui_batch_applying(lane))
        return 0;
    pthread_mutex_lock(&ap->mu);
    while (ap->state != UI_APPLIED)
        pthread_cond_wait(&ap->cv, &ap->mu);
    pthread_mutex_unlock(&ap->mu);
    int rc = ap->rc;
    PGresult *r = ap->res;
    ap->res = NULL;
    bool blocked = rc == MC_EKAFKA && lane->applying.ndlq > 0;
    bool fenced = rc == MC_EDB && mc_db_failed_with(lane->db, MC_SQLSTATE_FENCED);
    if (ap->dlq_sent > 0)
        mc_metric_add(ing->m.dlq, (double)ap->dlq_sent);
    if (rc == 0) {
        mc_metric_add(ing->m.rows, atof(PQgetvalue(r, 0, 0)));
        mc_metric_add(ing->m.attribution, atof(PQgetvalue(r, 0, 1)));
        mc_metric_add(ing->m.batches, 1);
        mc_metric_observe(ing->m.latency, (double)(mc_now_mono_ms() - ap->started_ms) / 1000.0);
        /* The database holds the truth; Kafka's copy only feeds lag dashboards. */
        rd_kafka_topic_partition_list_t *done = NULL;
        ui_parts_applied(ing, lane->index, &done);
        mc_consumer_commit(ing->consumer, &done, true);
    } else if (blocked) {
        block_dlq_sources(ing, lane);
    } else if (fenced) {
        mc_metric_add(ing->m.fenced, 1);
        mc_log_warn(json_pack("{ss}", "reason", mc_db_errmsg(lane->db)),
                    "batch dropped: its range was applied by another consumer");
    } else {
        mc_metric_add(ing->m.db_errors, 1);
        mc_log_warn(json_pack("{ss ss}", "sqlstate", mc_db_sqlstate(lane->db), "error",
                              mc_db_errmsg(lane->db)),
                    "batch not applied; it will be retried");
    }
    PQclear(r);
    drop_applying(ing, lane);
    pthread_mutex_lock(&ap->mu);
    ap->state = UI_IDLE;
    pthread_mutex_unlock(&ap->mu);
    return blocked ? MC_ESTATE : fenced ? MC_ECONFLICT : rc;
}

static int severity(int rc)
{
    return rc == 0 ? 0 : rc == MC_ESTATE ? 1 : rc == MC_ECONFLICT ? 2 : 3;
}

int ui_batch_worse(int a, int b)
{
    return severity(b) > severity(a) ? b : a;
}

int ui_batch_complete_all(struct ui_ingester *ing)
{
    int rc = 0;
    for (int64_t i = 0; i < ing->nlanes; i++)
        rc = ui_batch_worse(rc, ui_batch_complete(ing, &ing->lanes[i]));
    return rc;
}

int ui_batch_flush(struct ui_ingester *ing)
{
    int rc = ui_batch_complete_all(ing);
    /* Round by round until every open batch and every stash is applied. */
    for (bool more = true; rc == 0 && more;) {
        more = false;
        for (int64_t i = 0; i < ing->nlanes; i++) {
            struct ui_lane *lane = &ing->lanes[i];
            ui_lane_unstash(ing, lane);
            if (lane->batch.nmessages > 0) {
                ui_batch_dispatch(ing, lane);
                more = true;
            }
        }
        if (more)
            rc = ui_batch_complete_all(ing);
    }
    return rc;
}
