/* migrate.c: the per-schema migration runner (up, down, current) behind an advisory lock. */
#include "mc_db.h"
#include "mc_common.h"
#include "mc_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_TX_MARKER "-- mc:no-transaction"

enum {
    M_LOCK,
    M_UNLOCK,
    M_SET_ROLE,
    M_SET_PATH,
    M_SCHEMA_EXISTS,
    M_APPLIED,
    M_RECORD,
    M_UNRECORD,
    M_TABLE_EXISTS,
    M_NSTMTS
};

static const struct mc_db_stmt migrate_stmts[] = {
    /* MC_LOCK_MIGRATIONS is the class of every migration lock; the schema's hash the object. */
    [M_LOCK] = {"mig_lock",
                "SELECT pg_try_advisory_lock(" MC_STR(MC_LOCK_MIGRATIONS) ", hashtext($1))"},
    [M_UNLOCK] = {"mig_unlock",
                  "SELECT pg_advisory_unlock(" MC_STR(MC_LOCK_MIGRATIONS) ", hashtext($1))"},
    [M_SET_ROLE] = {"mig_set_role", "SELECT set_config('role', $1, false)"},
    [M_SET_PATH] = {"mig_set_path", "SELECT set_config('search_path', $1, false)"},
    [M_SCHEMA_EXISTS] = {"mig_schema_exists",
                         "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1"},
    [M_APPLIED] = {"mig_applied",
                   "SELECT version, checksum FROM schema_migrations ORDER BY version"},
    [M_RECORD] = {"mig_record", "INSERT INTO schema_migrations (version, slug, checksum, "
                                "no_transaction) VALUES ($1, $2, $3, $4)"},
    [M_UNRECORD] = {"mig_unrecord", "DELETE FROM schema_migrations WHERE version = $1"},
    [M_TABLE_EXISTS] = {"mig_table_exists",
                        "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 "
                        "AND tablename = 'schema_migrations'"},
};
MC_STATIC_ASSERT_LEN(migrate_stmts, M_NSTMTS);

/* Created unqualified: the runner's search_path is the slice's schema alone. */
static const char *create_table_sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                      " version integer PRIMARY KEY,"
                                      " slug text NOT NULL,"
                                      " checksum text NOT NULL,"
                                      " no_transaction boolean NOT NULL DEFAULT false,"
                                      " applied_at timestamptz NOT NULL DEFAULT now())";

const struct mc_slice *mc_slice_find(const char *schema)
{
    for (size_t i = 0; i < mc_nslices; i++)
        if (strcmp(mc_slices[i].schema, schema) == 0)
            return &mc_slices[i];
    return NULL;
}

int mc_slice_latest(const struct mc_slice *slice)
{
    return slice->count ? slice->migrations[slice->count - 1].version : 0;
}

bool mc_migration_no_tx(const char *sql)
{
    return sql != NULL && strncmp(sql, NO_TX_MARKER, strlen(NO_TX_MARKER)) == 0;
}

static void checksum(const char *text, char out[17])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: a stable fingerprint, not security */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

static int fail(mc_db *db, int rc, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s%s%s", what, rc == MC_EDB ? mc_db_sqlstate(db) : "",
             rc == MC_EDB ? " " : "",
             rc == MC_EDB || rc == MC_EDBCONN ? mc_db_errmsg(db) : mc_strerror(rc));
    return rc;
}

static int count_of(mc_db *db, int stmt, const char *param, long *out)
{
    PGresult *r = NULL;
    const char *p[] = {param};
    int rc = mc_db_exec(db, stmt, 1, p, &r);
    if (rc == 0)
        *out = strtol(mc_db_value(r), NULL, 10);
    PQclear(r);
    return rc;
}

/* Opens a connection for slice, takes the schema's lock, makes sure the schema and its
 * schema_migrations table exist and leaves search_path on the schema. */
static int open_slice(const char *url, const struct mc_slice *slice, bool as_owner, mc_db **out,
                      char *err, size_t errlen)
{
    mc_db *db = mc_db_new(url, migrate_stmts, MC_ARRAY_LEN(migrate_stmts), "multica-migrate");
    *out = db;
    int rc = mc_db_ensure(db, mc_now_mono_ms() + 30000);
    if (rc != 0)
        return fail(db, rc, err, errlen, "connect");
    const char *p[] = {slice->schema};
    /* Wait by polling, not in pg_advisory_lock: a session blocked inside a statement keeps a
     * transaction open, and CREATE INDEX CONCURRENTLY in the runner holding the lock waits for
     * every open transaction to end, so the two would deadlock. */
    for (;;) {
        PGresult *r = NULL;
        if ((rc = mc_db_exec(db, M_LOCK, 1, p, &r)) != 0)
            return fail(db, rc, err, errlen, "advisory lock");
        bool got = strcmp(mc_db_value(r), "t") == 0;
        PQclear(r);
        if (got)
            break;
        mc_sleep_ms_interruptible(100, NULL);
    }
    long exists = 0;
    if ((rc = count_of(db, M_SCHEMA_EXISTS, slice->schema, &exists)) != 0)
        return fail(db, rc, err, errlen, "schema lookup");
    if (!exists) {
        /* The schema name comes from the compiled slice table, never from input; it is still
         * quoted as an identifier. */
        char *ident = PQescapeIdentifier(mc_db_conn(db), slice->schema, strlen(slice->schema));
        char *owner = PQescapeIdentifier(mc_db_conn(db), slice->owner, strlen(slice->owner));
        char *sql = mc_sprintf("CREATE SCHEMA IF NOT EXISTS %s%s%s", ident,
                               as_owner ? " AUTHORIZATION " : "", as_owner ? owner : "");
        PQfreemem(ident);
        PQfreemem(owner);
        rc = mc_db_exec_sql(db, sql, NULL);
        free(sql);
        if (rc != 0)
            return fail(db, rc, err, errlen, "create schema");
    }
    if (as_owner) {
        const char *r[] = {slice->owner};
        if ((rc = mc_db_exec(db, M_SET_ROLE, 1, r, NULL)) != 0)
            return fail(db, rc, err, errlen, "set role");
    }
    if ((rc = mc_db_exec(db, M_SET_PATH, 1, p, NULL)) != 0)
        return fail(db, rc, err, errlen, "set search_path");
    if ((rc = mc_db_exec_sql(db, create_table_sql, NULL)) != 0)
        return fail(db, rc, err, errlen, "create schema_migrations");
    return 0;
}

static void close_slice(mc_db *db, const struct mc_slice *slice)
{
    if (db == NULL)
        return;
    if (mc_db_connected(db)) {
        mc_db_rollback(db);
        const char *p[] = {slice->schema};
        mc_db_exec(db, M_UNLOCK, 1, p, NULL);
    }
    mc_db_free(db);
}

/* Reads applied versions into a bitmap-like array indexed by position in the slice. */
static int read_applied(mc_db *db, const struct mc_slice *slice, bool *applied, int *max_version)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, M_APPLIED, 0, NULL, &r);
    if (rc != 0)
        return rc;
    *max_version = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int v = atoi(PQgetvalue(r, i, 0));
        if (v > *max_version)
            *max_version = v;
        for (size_t k = 0; k < slice->count; k++) {
            if (slice->migrations[k].version != v)
                continue;
            applied[k] = true;
            char sum[17];
            checksum(slice->migrations[k].up, sum);
            if (strcmp(sum, PQgetvalue(r, i, 1)) != 0)
                mc_log_warn(json_pack("{ss si}", "schema", slice->schema, "version", v),
                            "applied migration differs from the file in this build");
        }
    }
    PQclear(r);
    return 0;
}

/* One migration file and the statement that records (or unrecords) it. */
struct file_run {
    const char *sql;
    int record_stmt;
    int nparams;
    const char *const *params;
};

static int apply_file(mc_db *db, void *arg)
{
    const struct file_run *f = arg;
    int rc = mc_db_exec_sql(db, f->sql, NULL);
    if (rc == 0)
        rc = mc_db_exec(db, f->record_stmt, f->nparams, f->params, NULL);
    return rc;
}

static int run_file(mc_db *db, const char *sql, bool no_tx, int record_stmt, int nparams,
                    const char *const *params)
{
    struct file_run f = {sql, record_stmt, nparams, params};
    return no_tx ? apply_file(db, &f) : mc_db_run_tx(db, "migration", apply_file, &f);
}

int mc_migrate_up(const char *url, const struct mc_slice *slice, int target, bool as_owner,
                  char *err, size_t errlen)
{
    mc_db *db = NULL;
    bool *applied = mc_calloc(slice->count + 1, sizeof(bool));
    int max_version = 0;
    int rc = open_slice(url, slice, as_owner, &db, err, errlen);
    if (rc != 0)
        goto cleanup;
    if ((rc = read_applied(db, slice, applied, &max_version)) != 0) {
        fail(db, rc, err, errlen, "read schema_migrations");
        goto cleanup;
    }
    for (size_t k = 0; k < slice->count; k++) {
        const struct mc_migration *m = &slice->migrations[k];
        if (applied[k] || (target >= 0 && m->version > target))
            continue;
        bool no_tx = mc_migration_no_tx(m->up);
        char version[16], sum[17];
        snprintf(version, sizeof version, "%d", m->version);
        checksum(m->up, sum);
        const char *params[] = {version, m->slug, sum, no_tx ? "true" : "false"};
        int64_t t0 = mc_now_mono_ms();
        rc = run_file(db, m->up, no_tx, M_RECORD, 4, params);
        if (rc != 0) {
            char what[160];
            snprintf(what, sizeof what, "%s/%04d_%s.up.sql", slice->schema, m->version, m->slug);
            fail(db, rc, err, errlen, what);
            goto cleanup;
        }
        mc_log_info(json_pack("{ss si ss sb sI}", "schema", slice->schema, "version", m->version,
                              "slug", m->slug, "no_transaction", no_tx, "ms",
                              (json_int_t)(mc_now_mono_ms() - t0)),
                    "migration applied");
    }
cleanup:
    close_slice(db, slice);
    free(applied);
    return rc;
}

int mc_migrate_down(const char *url, const struct mc_slice *slice, int steps, bool as_owner,
                    char *err, size_t errlen)
{
    mc_db *db = NULL;
    bool *applied = mc_calloc(slice->count + 1, sizeof(bool));
    int max_version = 0;
    int rc = open_slice(url, slice, as_owner, &db, err, errlen);
    if (rc != 0)
        goto cleanup;
    if ((rc = read_applied(db, slice, applied, &max_version)) != 0) {
        fail(db, rc, err, errlen, "read schema_migrations");
        goto cleanup;
    }
    for (size_t k = slice->count; k-- > 0 && steps > 0;) {
        const struct mc_migration *m = &slice->migrations[k];
        if (!applied[k])
            continue;
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version};
        rc = run_file(db, m->down, mc_migration_no_tx(m->down), M_UNRECORD, 1, params);
        if (rc != 0) {
            char what[160];
            snprintf(what, sizeof what, "%s/%04d_%s.down.sql", slice->schema, m->version, m->slug);
            fail(db, rc, err, errlen, what);
            goto cleanup;
        }
        mc_log_info(json_pack("{ss si ss}", "schema", slice->schema, "version", m->version, "slug",
                              m->slug),
                    "migration reverted");
        steps--;
    }
cleanup:
    close_slice(db, slice);
    free(applied);
    return rc;
}

int mc_migrate_current(const char *url, const struct mc_slice *slice, int *version, char *err,
                       size_t errlen)
{
    mc_db *db = mc_db_new(url, migrate_stmts, MC_ARRAY_LEN(migrate_stmts), "multica-migrate");
    bool *applied = mc_calloc(slice->count + 1, sizeof(bool));
    int rc = mc_db_ensure(db, mc_now_mono_ms() + 10000);
    long exists = 0;
    *version = 0;
    if (rc != 0) {
        fail(db, rc, err, errlen, "connect");
        goto cleanup;
    }
    if ((rc = count_of(db, M_TABLE_EXISTS, slice->schema, &exists)) != 0 || !exists) {
        if (rc)
            fail(db, rc, err, errlen, "table lookup");
        goto cleanup;
    }
    const char *p[] = {slice->schema};
    if ((rc = mc_db_exec(db, M_SET_PATH, 1, p, NULL)) != 0 ||
        (rc = read_applied(db, slice, applied, version)) != 0)
        fail(db, rc, err, errlen, "read schema_migrations");
cleanup:
    mc_db_free(db);
    free(applied);
    return rc;
}
