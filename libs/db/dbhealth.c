/* dbhealth.c: the "db" and "migrations" checks of /healthz over a dedicated connection. */
#include "mc_db.h"
#include "mc_common.h"
#include "mc_log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MS 1000

struct mc_dbhealth {
    pthread_mutex_t mu;
    mc_db *db;
    struct mc_db_stmt stmts[2];
    char *version_sql;
    int expected;
    int64_t checked_at;
    enum mc_check_state db_state;
    enum mc_check_state mig_state;
};

const char *mc_check_state_name(enum mc_check_state s)
{
    switch (s) {
    case MC_CHECK_OK:
        return "ok";
    case MC_CHECK_ERROR:
        return "error";
    case MC_CHECK_OUT_OF_DATE:
        return "out_of_date";
    default:
        return "unknown";
    }
}

mc_dbhealth *mc_dbhealth_new(const char *url, const struct mc_slice *slice, const char *app)
{
    mc_dbhealth *h = mc_calloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    /* The schema name is a compile-time constant of the slice table. */
    h->version_sql =
        mc_sprintf("SELECT coalesce(max(version), 0) FROM %s.schema_migrations", slice->schema);
    h->stmts[0] = (struct mc_db_stmt){"health_ping", "SELECT 1"};
    h->stmts[1] = (struct mc_db_stmt){"health_version", h->version_sql};
    h->expected = mc_slice_latest(slice);
    h->db = mc_db_new(url, h->stmts, 2, app);
    h->db_state = MC_CHECK_UNKNOWN;
    h->mig_state = MC_CHECK_UNKNOWN;
    return h;
}

void mc_dbhealth_free(mc_dbhealth *h)
{
    if (h == NULL)
        return;
    mc_db_free(h->db);
    free(h->version_sql);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static void refresh(mc_dbhealth *h)
{
    PGresult *r = NULL;
    if (mc_db_exec(h->db, 0, 0, NULL, NULL) != 0) {
        h->db_state = MC_CHECK_ERROR;
        h->mig_state = MC_CHECK_UNKNOWN;
        return;
    }
    h->db_state = MC_CHECK_OK;
    int rc = mc_db_exec(h->db, 1, 0, NULL, &r);
    if (rc == 0) {
        int have = atoi(mc_db_value(r) ? mc_db_value(r) : "0");
        h->mig_state = have >= h->expected ? MC_CHECK_OK : MC_CHECK_OUT_OF_DATE;
    } else if (rc == MC_EDB && mc_db_failed_with(h->db, MC_SQLSTATE_UNDEFINED_TABLE)) {
        h->mig_state = MC_CHECK_OUT_OF_DATE; /* no schema_migrations yet: nothing applied */
    } else {
        h->mig_state = rc == MC_EDBCONN ? MC_CHECK_UNKNOWN : MC_CHECK_ERROR;
        if (rc == MC_EDBCONN)
            h->db_state = MC_CHECK_ERROR;
    }
    PQclear(r);
}

void mc_dbhealth_check(mc_dbhealth *h, enum mc_check_state *db, enum mc_check_state *migrations)
{
    pthread_mutex_lock(&h->mu);
    int64_t now = mc_now_mono_ms();
    if (h->checked_at == 0 || now - h->checked_at >= CACHE_MS) {
        refresh(h);
        h->checked_at = now;
    }
    *db = h->db_state;
    *migrations = h->mig_state;
    pthread_mutex_unlock(&h->mu);
}
