/* missing_usage.c: completed tasks without any usage report, counted per runtime for /metrics.
 *
 * usage.apply_batch keeps task_attribution.usage_missing true exactly for the completed tasks
 * that have no usage row (a daemon that lost its report, Multica's #8221), so the count is a
 * scan of a partial index over those tasks alone. The poll loop refreshes it every
 * MISSING_EVERY_MS between batches (the connection is the loop's then), and /metrics serves
 * the last snapshot as multica_usage_missing_tasks{runtime_id}. */
#include "ingester.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MISSING_EVERY_MS 5000

static void emit_missing(void *ctx, mc_series_emit emit, void *sink)
{
    struct ui_ingester *ing = ctx;
    pthread_mutex_lock(&ing->missing.mu);
    for (size_t i = 0; i < ing->missing.n; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "runtime_id=\"%s\"", ing->missing.runtime[i]);
        emit(sink, labels, (double)ing->missing.count[i]);
    }
    pthread_mutex_unlock(&ing->missing.mu);
}

void ui_missing_init(struct ui_ingester *ing)
{
    pthread_mutex_init(&ing->missing.mu, NULL);
    mc_gauge_family_fn("multica_usage_missing_tasks",
                       "Completed tasks without any usage report, per runtime (until one arrives).",
                       emit_missing, ing);
}

void ui_missing_refresh(struct ui_ingester *ing)
{
    int64_t now = mc_now_mono_ms();
    if (now < ing->missing.next_ms)
        return;
    ing->missing.next_ms = now + MISSING_EVERY_MS;
    PGresult *r = NULL;
    if (mc_db_exec(ing->db, UI_MISSING_BY_RUNTIME, 0, NULL, &r) != 0) {
        PQclear(r);
        return; /* the last snapshot stays; the next batch notices an outage */
    }
    size_t n = (size_t)PQntuples(r);
    char(*runtime)[MC_UUID_STRLEN] = mc_calloc(n, sizeof *runtime);
    int64_t *count = mc_calloc(n, sizeof *count);
    for (size_t i = 0; i < n; i++) {
        snprintf(runtime[i], MC_UUID_STRLEN, "%s", PQgetvalue(r, (int)i, 0));
        count[i] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
    }
    PQclear(r);
    pthread_mutex_lock(&ing->missing.mu);
    free(ing->missing.runtime);
    free(ing->missing.count);
    ing->missing.runtime = runtime;
    ing->missing.count = count;
    ing->missing.n = n;
    pthread_mutex_unlock(&ing->missing.mu);
}

void ui_missing_free(struct ui_ingester *ing)
{
    free(ing->missing.runtime);
    free(ing->missing.count);
    pthread_mutex_destroy(&ing->missing.mu);
}
