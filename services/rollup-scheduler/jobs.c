/* jobs.c: the scheduled jobs, one line each, and the hourly usage rollup job. */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

/* Set from configuration in main before the first tick. */
int64_t rs_rollup_interval_ms;

const struct rs_job rs_jobs[] = {
    {"rollup_task_usage_hourly", &rs_rollup_interval_ms, rs_job_rollup},
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

int rs_job_rollup(struct rs_ctx *ctx, mc_db *db, json_t **result)
{
    (void)ctx;
    char *before = NULL, *changed = NULL, *after = NULL;
    int rc;
    if ((rc = scalar(db, RS_WATERMARK, &before)) != 0 ||
        (rc = scalar(db, RS_ROLLUP, &changed)) != 0 || (rc = scalar(db, RS_WATERMARK, &after)) != 0)
        goto cleanup;
    *result =
        json_pack("{sI si s:s? s:s?}", "changed_buckets",
                  (json_int_t)strtoll(changed ? changed : "0", NULL, 10), "lock_id", MC_LOCK_ROLLUP,
                  /* the lock the rollup function takes, for operators */ "watermark_before",
                  before, "watermark_after", after);
cleanup:
    free(before);
    free(changed);
    free(after);
    return rc;
}
