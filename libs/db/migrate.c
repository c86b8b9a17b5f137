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
    M_INDEX_STATE,
    M_DROP_INDEX_SQL,
    M_RECHECKSUM,
    M_FN_CHECKSUMS,
    M_FN_RECORD,
    M_FN_FORGET,
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
    /* Whether a relation of that name exists in the schema ($1, or the runner's own), is an
     * index, and is valid. */
    [M_INDEX_STATE] = {"mig_index_state",
                       "SELECT c.relkind = 'i', coalesce(i.indisvalid, false) "
                       "FROM pg_catalog.pg_class c "
                       "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                       "LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid "
                       "WHERE n.nspname = coalesce($1, current_schema()) AND c.relname = $2"},
    [M_RECHECKSUM] = {"mig_rechecksum",
                      "UPDATE schema_migrations SET checksum = $2 WHERE version = $1"},
    [M_FN_CHECKSUMS] = {"mig_fn_checksums", "SELECT name, checksum FROM schema_functions"},
    [M_FN_RECORD] = {"mig_fn_record",
                     "INSERT INTO schema_functions (name, checksum) VALUES ($1, $2) "
                     "ON CONFLICT (name) DO UPDATE SET checksum = $2, applied_at = now()"},
    [M_FN_FORGET] = {"mig_fn_forget", "DELETE FROM schema_functions"},
    /* format() quotes the names as identifiers. */
    [M_DROP_INDEX_SQL] = {"mig_drop_index_sql",
                          "SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I.%I', "
                          "coalesce($1, current_schema()), $2::text)"},
};
MC_STATIC_ASSERT_LEN(migrate_stmts, M_NSTMTS);

/* A CREATE INDEX CONCURRENTLY that was interrupted (a crash, a cancelled deploy, a duplicate
 * key) leaves an invalid index behind, and "IF NOT EXISTS" would then take it for done: the
 * index would never be built. Before a no-transaction migration runs, every index it creates
 * with IF NOT EXISTS that exists and is invalid is dropped (concurrently), as Multica's own
 * runner does; a relation of that name that is not an index stops the migration. */
static int drop_invalid_indexes(mc_db *db, const char *sql, char *err, size_t errlen)
{
    static const char *const marker = "INDEX CONCURRENTLY IF NOT EXISTS ";
    for (const char *p = strcasestr(sql, marker); p != NULL; p = strcasestr(p + 1, marker)) {
        char name[64] = "", table[130] = "", schema[64] = "";
        if (sscanf(p + strlen(marker), "%63[A-Za-z0-9_] ON %129[A-Za-z0-9_.]", name, table) != 2)
            continue;
        const char *dot = strchr(table, '.');
        if (dot != NULL)
            snprintf(schema, sizeof schema, "%.*s", (int)(dot - table), table);
        const char *params[] = {schema[0] ? schema : NULL, name};
        PGresult *r = NULL;
        int rc = mc_db_exec(db, M_INDEX_STATE, 2, params, &r);
        if (rc != 0)
            return rc;
        bool exists = PQntuples(r) == 1;
        bool is_index = exists && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        bool valid = exists && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        PQclear(r);
        if (exists && !is_index) {
            snprintf(err, errlen, "relation %s exists and is not an index", name);
            return MC_ESTATE;
        }
        if (!exists || valid)
            continue;
        if ((rc = mc_db_exec(db, M_DROP_INDEX_SQL, 2, params, &r)) == 0) {
            char *drop = mc_strdup(mc_db_value(r));
            rc = mc_db_exec_sql(db, drop, NULL);
            free(drop);
        }
        PQclear(r);
        if (rc != 0)
            return rc;
        mc_log_warn(json_pack("{ss ss}", "index", name, "schema", schema[0] ? schema : "(own)"),
                    "removed an invalid index left by an interrupted build; building it again");
    }
    return 0;
}

/* Created unqualified: the runner's search_path is the slice's schema alone. */
static const char *create_table_sql = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                      " version integer PRIMARY KEY,"
                                      " slug text NOT NULL,"
                                      " checksum text NOT NULL,"
                                      " no_transaction boolean NOT NULL DEFAULT false,"
                                      " applied_at timestamptz NOT NULL DEFAULT now());"
                                      "CREATE TABLE IF NOT EXISTS schema_functions ("
                                      " name text PRIMARY KEY,"
                                      " checksum text NOT NULL,"
                                      " applied_at timestamptz NOT NULL DEFAULT now());"
                                      "COMMENT ON TABLE schema_functions IS 'The text of each SQL "
                                      "function file applied (functions/<name>.sql), by checksum: "
                                      "a file is applied again when its text changes.';"
                                      "COMMENT ON COLUMN schema_functions.name IS 'The function "
                                      "file''s name (without .sql).';"
                                      "COMMENT ON COLUMN schema_functions.checksum IS 'FNV-1a of "
                                      "the text applied.';"
                                      "COMMENT ON COLUMN schema_functions.applied_at IS 'When it "
                                      "was last applied.'";

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

/* True when a migration's text asks to run outside a transaction. */
static bool migration_no_tx(const char *sql)
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
/* A migration file rewritten after databases applied it (its functions moved to functions/)
 * names the checksum it replaces: a database holding exactly that one records the new text
 * instead of warning at every start. True when sql declares old. */
static bool replaces(const char *sql, const char *old)
{
    static const char *const marker = "-- mc:replaces-checksum ";
    for (const char *p = strstr(sql, marker); p != NULL; p = strstr(p + 1, marker))
        if (strncmp(p + strlen(marker), old, 16) == 0)
            return true;
    return false;
}

static int read_applied(mc_db *db, const struct mc_slice *slice, bool *applied, int *max_version,
                        bool repair)
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
            const char *stored = PQgetvalue(r, i, 1);
            if (strcmp(sum, stored) == 0)
                continue;
            if (repair && replaces(slice->migrations[k].up, stored)) {
                const char *params[] = {PQgetvalue(r, i, 0), sum};
                int urc = mc_db_exec(db, M_RECHECKSUM, 2, params, NULL);
                mc_log_info(json_pack("{ss si sb}", "schema", slice->schema, "version", v,
                                      "recorded", urc == 0),
                            "applied migration was rewritten; its new checksum is recorded");
                continue;
            }
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
    if (!no_tx)
        return mc_db_run_tx(db, "migration", apply_file, &f);
    char err[256] = "";
    int rc = drop_invalid_indexes(db, sql, err, sizeof err);
    if (rc != 0) {
        if (err[0])
            mc_log_error(json_pack("{ss}", "error", err), "migration stopped");
        return rc;
    }
    return apply_file(db, &f);
}

/* Applies the slice's function files whose text the database does not hold yet, each in its
 * own transaction with its checksum. Bodies are not checked at creation (as pg_dump restores
 * them), so the files' order does not matter; a call finds any mistake. */
/* One function file and its checksum record, in the transaction of mc_db_run_tx. */
static int apply_function(mc_db *db, void *arg)
{
    int rc = mc_db_exec_sql(db, "SET LOCAL check_function_bodies = off", NULL);
    if (rc == 0)
        rc = apply_file(db, arg);
    return rc;
}

static int apply_functions(mc_db *db, const struct mc_slice *slice, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, M_FN_CHECKSUMS, 0, NULL, &r);
    if (rc != 0)
        return fail(db, rc, err, errlen, "read schema_functions");
    int applied = 0;
    for (size_t k = 0; k < slice->nfunctions && rc == 0; k++) {
        const struct mc_sql_function *f = &slice->functions[k];
        char sum[17];
        checksum(f->sql, sum);
        bool current = false;
        for (int i = 0; i < PQntuples(r) && !current; i++)
            current =
                strcmp(PQgetvalue(r, i, 0), f->name) == 0 && strcmp(PQgetvalue(r, i, 1), sum) == 0;
        if (current)
            continue;
        const char *params[] = {f->name, sum};
        struct file_run run = {f->sql, M_FN_RECORD, 2, params};
        rc = mc_db_run_tx(db, "function", apply_function, &run);
        if (rc != 0) {
            char what[200];
            snprintf(what, sizeof what, "%s/functions/%s.sql", slice->schema, f->name);
            fail(db, rc, err, errlen, what);
        } else {
            applied++;
        }
    }
    PQclear(r);
    if (applied > 0)
        mc_log_info(json_pack("{ss si}", "schema", slice->schema, "functions", applied),
                    "functions applied");
    return rc;
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
    if ((rc = read_applied(db, slice, applied, &max_version, true)) != 0) {
        fail(db, rc, err, errlen, "read schema_migrations");
        goto cleanup;
    }
    for (size_t k = 0; k < slice->count; k++) {
        const struct mc_migration *m = &slice->migrations[k];
        if (applied[k] || (target >= 0 && m->version > target))
            continue;
        bool no_tx = migration_no_tx(m->up);
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
    /* Functions follow the binary, once its migrations are all in. */
    if (target < 0 || target >= mc_slice_latest(slice))
        rc = apply_functions(db, slice, err, errlen);
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
    if ((rc = read_applied(db, slice, applied, &max_version, true)) != 0) {
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
        rc = run_file(db, m->down, migration_no_tx(m->down), M_UNRECORD, 1, params);
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
    /* A down file may drop functions: the next up applies every function file again. */
    if (rc == 0 && (rc = mc_db_exec(db, M_FN_FORGET, 0, NULL, NULL)) != 0)
        fail(db, rc, err, errlen, "forget schema_functions");
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
        (rc = read_applied(db, slice, applied, version, false)) != 0)
        fail(db, rc, err, errlen, "read schema_migrations");
cleanup:
    mc_db_free(db);
    free(applied);
    return rc;
}
