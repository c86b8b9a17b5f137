/* jobs.c: the scheduled jobs, one line each, and the hourly usage rollup job. */
#include "scheduler.h"
#include "mc_log.h"

#include <stdlib.h>
#include <string.h>

/* Set from configuration in main before the first tick. */
int64_t rs_rollup_interval_ms;

static int job_rollup(struct rs_ctx *ctx, mc_db *db, json_t **result);

const struct rs_job rs_jobs[] = {
    {"rollup_task_usage_hourly", &rs_rollup_interval_ms, job_rollup},
};
const size_t rs_njobs = MC_ARRAY_LEN(rs_jobs);

static int scalar(mc_db *db, int stmt, char **out)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, stmt, 0, NULL, &r);
    if (rc == 0)
        *out = mc_db_value(r) ? mc_strdup(mc_db_value(r)) : NULL;
    PQclear(r);
    return rc;
}

/* The result names the lock as Multica's does (advisory_lock_id), and the buckets left out
 * because their sums do not fit: the run succeeds for everyone else, and an operator sees
 * them here, in /metrics and in the MulticaRollupQuarantine alert. */
static int job_rollup(struct rs_ctx *ctx, mc_db *db, json_t **result)
{
    char *before = NULL, *changed = NULL, *after = NULL, *quarantined = NULL;
    int rc;
    if ((rc = scalar(db, RS_WATERMARK, &before)) != 0 ||
        (rc = scalar(db, RS_ROLLUP, &changed)) != 0 ||
        (rc = scalar(db, RS_WATERMARK, &after)) != 0 ||
        (rc = scalar(db, RS_QUARANTINED, &quarantined)) != 0)
        goto cleanup;
    long long q = strtoll(quarantined ? quarantined : "0", NULL, 10);
    mc_metric_set(ctx->m.quarantined, (double)q);
    if (q > 0)
        mc_log_error(json_pack("{sI}", "quarantined_buckets", (json_int_t)q),
                     "hourly buckets left out of the rollup: their sums do not fit (see "
                     "usage.rollup_quarantine)");
    *result = json_pack("{sI si s:s? s:s? sI}", "changed_buckets",
                        (json_int_t)strtoll(changed ? changed : "0", NULL, 10), "advisory_lock_id",
                        MC_LOCK_ROLLUP, "watermark_before", before, "watermark_after", after,
                        "quarantined_buckets", (json_int_t)q);
cleanup:
    free(before);
    free(changed);
    free(after);
    free(quarantined);
    return rc;
}
