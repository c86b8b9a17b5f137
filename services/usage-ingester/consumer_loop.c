/* consumer_loop.c: the ingester's poll loop: batch by size or time, recover from outages. */
#include "ingester.h"
#include "mc_log.h"

#include <stdio.h>
#include <stdlib.h>

#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define PRUNE_LIMIT    "10000"

/* While the database does not take the batches the partitions stay paused at the stored
 * offsets; when it answers again they are repositioned there and resumed, so the batch that
 * failed is consumed and applied again, not skipped. */
static int catch_up(void *ctx)
{
    return ui_partitions_resync(ctx);
}

/* Only after ui_batch_complete_all, so nothing is with a database thread. */
static void stall(struct ui_ingester *ing, int rc)
{
    ui_batch_reset(ing);
    ui_partitions_rewind(ing, true);
    mc_outage_begin(&ing->outage, json_pack("{ss}", "error", mc_strerror(rc)));
}

/* Acts on the outcome of a batch (ui_batch_complete): the open batches follow a dropped one,
 * so they are dropped too and every partition read again from its stored offset. The other
 * lanes' batches are taken first (a success advances its partitions' stored offsets, a
 * failure adds its own recovery), so nothing is applying while the partitions move. Returns
 * true when the loop may hand the database the next batch. */
static bool settle(struct ui_ingester *ing, int rc)
{
    if (rc == 0)
        return true;
    rc = ui_batch_worse(rc, ui_batch_complete_all(ing));
    ui_batch_reset(ing);
    if (rc == MC_ESTATE) {
        /* Only the partitions whose dead letters failed wait; the others go on at once. */
        ui_partitions_rewind(ing, false);
    } else if (rc == MC_ECONFLICT) {
        if (ui_partitions_resync(ing) != 0)
            stall(ing, MC_EDBCONN);
    } else {
        stall(ing, rc);
    }
    return false;
}

static void prune(struct ui_ingester *ing)
{
    int64_t now = mc_now_mono_ms();
    if (now < ing->next_prune_ms)
        return;
    ing->next_prune_ms = now + PRUNE_EVERY_MS;
    char keep[32];
    snprintf(keep, sizeof keep, "%lld milliseconds", (long long)ing->retention_ms);
    const char *params[] = {keep, PRUNE_LIMIT};
    PGresult *r = NULL;
    if (mc_db_exec(ing->db, UI_PRUNE_EVENTS, 2, params, &r) == 0 && mc_db_value(r) &&
        atoi(mc_db_value(r)) > 0) {
        mc_log_info(json_pack("{ss}", "deleted", mc_db_value(r)), "processed event ids pruned");
        /* More may be left: come back soon rather than in ten minutes. */
        if (atoi(mc_db_value(r)) >= atoi(PRUNE_LIMIT))
            ing->next_prune_ms = now + 1000;
    }
    PQclear(r);
}

/* A lane's open batch is due: full, or waited long enough. */
static bool due(const struct ui_ingester *ing, const struct ui_lane *lane)
{
    const struct ui_batch *b = &lane->batch;
    return b->nmessages > 0 &&
           (ui_batch_full(ing, lane) || mc_now_mono_ms() - b->started_ms >= ing->batch_wait_ms);
}

/* Hands the lane its next batch (its previous one done and settled) and decodes what waited
 * in its stash into the batch after it. Returns false when the outcome dropped every open
 * batch. */
static bool next_batch(struct ui_ingester *ing, struct ui_lane *lane)
{
    if (!settle(ing, ui_batch_complete(ing, lane)))
        return false;
    ui_batch_dispatch(ing, lane);
    ui_lane_unstash(ing, lane);
    return true;
}

/* Up to this many messages of a lane wait undecoded while it applies; beyond, the loop waits
 * for the lane. */
static size_t stash_max(const struct ui_ingester *ing)
{
    return (size_t)ing->batch_max * 8;
}

/* A consumed message goes into its lane's open batch, or, while that is full and the lane
 * still applies the one before, into the lane's stash (in order: once anything is stashed,
 * the lane's later messages follow it there). Takes the message over. */
static void route(struct ui_ingester *ing, rd_kafka_message_t *m)
{
    const struct ui_part *p = ui_part_find(ing, rd_kafka_topic_name(m->rkt), m->partition);
    struct ui_lane *lane = p != NULL ? &ing->lanes[p->lane] : NULL;
    if (lane != NULL && lane->n - lane->head >= stash_max(ing) && !next_batch(ing, lane)) {
        rd_kafka_message_destroy(m); /* read again from the stored offset */
        return;
    }
    if (lane != NULL && (lane->n > lane->head || ui_batch_full(ing, lane))) {
        ui_lane_stash(lane, m);
        return;
    }
    ui_batch_add(ing, m);
    rd_kafka_message_destroy(m);
}

int ui_run(struct ui_ingester *ing)
{
    while (!mc_service_stopping()) {
        if (ing->outage.active) {
            rd_kafka_message_t *m = mc_consumer_poll(ing->consumer, MC_OUTAGE_POLL_MS);
            if (m != NULL)
                rd_kafka_message_destroy(m); /* refetched after the rewind */
            mc_outage_over(&ing->outage, ing->db, catch_up, ing);
            continue;
        }
        /* Take the outcome of every batch a database thread finished, as soon as it is in. */
        int rc = 0;
        for (int64_t i = 0; i < ing->nlanes; i++)
            if (ui_batch_applied(&ing->lanes[i]))
                rc = ui_batch_worse(rc, ui_batch_complete(ing, &ing->lanes[i]));
        if (!settle(ing, rc) && ing->outage.active)
            continue;
        if (!ui_batch_applying(&ing->lanes[0]))
            ui_missing_refresh(ing);
        ui_partitions_unblock(ing);
        int timeout = 100;
        bool open = false;
        for (int64_t i = 0; i < ing->nlanes; i++) {
            const struct ui_lane *lane = &ing->lanes[i];
            if (lane->n > lane->head)
                open = true;
            if (lane->batch.nmessages == 0)
                continue;
            open = true;
            int64_t left = lane->batch.started_ms + ing->batch_wait_ms - mc_now_mono_ms();
            if (left < timeout)
                timeout = left < 0 ? 0 : (int)left;
        }
        if (ui_batches_applying(ing) && timeout > 5)
            timeout = 5; /* come back soon for the outcome */
        rd_kafka_message_t *m = mc_consumer_poll(ing->consumer, timeout);
        if (m != NULL) {
            route(ing, m);
            open = true;
        }
        /* One batch at a time per lane: a due batch goes as soon as its lane is done with the
         * previous one; until then the loop goes on decoding for the other lanes. */
        for (int64_t i = 0; i < ing->nlanes; i++) {
            struct ui_lane *lane = &ing->lanes[i];
            if (!due(ing, lane) || (ui_batch_applying(lane) && !ui_batch_applied(lane)))
                continue;
            if (!next_batch(ing, lane))
                break; /* every open batch was dropped */
        }
        if (!open && !ui_batch_applying(&ing->lanes[0]))
            prune(ing);
    }
    /* Orderly stop: finish the batches, then leave the group. */
    if (!ing->outage.active && ui_batch_flush(ing) != 0)
        mc_log_warn(NULL, "last batch not applied; it will be consumed again after restart");
    ui_batch_reset(ing);
    return 0;
}
