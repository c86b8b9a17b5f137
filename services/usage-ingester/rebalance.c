/* rebalance.c: the ingester's rebalance hooks: finish the batches, then move the partitions.
 *
 * They sit above both the partition table and the batches: an assignment first makes sure
 * every lane's database thread is done, then positions the new partitions at their
 * stored offsets; a revocation finishes the batches while the partitions are still ours. */
#include "ingester.h"
#include "mc_log.h"

int ui_on_assign(void *ctx, rd_kafka_topic_partition_list_t *parts)
{
    struct ui_ingester *ing = ctx;
    /* A revocation always comes first and finishes every batch; this only makes sure no
     * database thread is applying (lane 0's connection is read just below). The outcomes do
     * not matter here: the offsets are read back from the database. */
    if (ui_batch_complete_all(ing) != 0)
        ui_batch_reset(ing);
    int rc = ui_partitions_load(ing, parts);
    if (rc != 0) {
        mc_log_warn(json_pack("{ss}", "error", mc_db_errmsg(ing->db)),
                    "cannot read stored offsets; retrying the assignment");
        return rc;
    }
    ing->outage.active = false; /* the new positions are the stored offsets */
    return 0;
}

void ui_on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct ui_ingester *ing = ctx;
    /* Finish every lane's batch being applied and its open one while the partitions are still
     * ours;
     * if that fails the next owner starts from the stored offsets, so dropping them loses
     * nothing. */
    if (ui_batch_flush(ing) != 0)
        ui_batch_reset(ing);
    ui_partitions_revoked(ing, parts);
}
