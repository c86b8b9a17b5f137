/* test_migrate.c: libs/db against a real Postgres: the migration runner (up, re-run, down,
 * concurrent runners, the no-transaction file, a failing file, every slice's down files), the
 * transaction runner's retries, and the named constants (advisory-lock ids, SQLSTATEs)
 * against the SQL files and the C sources. */
#include "harness.h"
#include "mc_db.h"

#include <ctype.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void up_all(const char *url)
{
    for (size_t i = 0; i < mc_nslices; i++) {
        char err[512] = "";
        ck_assert_msg(mc_migrate_up(url, &mc_slices[i], -1, true, err, sizeof err) == 0, "%s: %s",
                      mc_slices[i].schema, err);
    }
}

static int64_t applied(const char *schema)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.schema_migrations", schema);
    return th_sql_int(sql);
}

START_TEST(up_records_and_rerun_is_a_no_op)
{
    const char *url = th_db_new_empty();
    up_all(url);
    for (size_t i = 0; i < mc_nslices; i++)
        ck_assert_int_eq(applied(mc_slices[i].schema), (int64_t)mc_slices[i].count);
    int64_t stamp = th_sql_int("SELECT extract(epoch FROM max(applied_at))*1000000 "
                               "FROM usage.schema_migrations");
    up_all(url);
    ck_assert_int_eq(th_sql_int("SELECT extract(epoch FROM max(applied_at))*1000000 "
                                "FROM usage.schema_migrations"),
                     stamp);
    /* Objects belong to the slice's own role. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_namespace WHERE nspname = 'usage' "
                                "AND pg_get_userbyid(nspowner) = 'multica_usage'"),
                     1);
    int v = 0;
    char err[256];
    ck_assert_int_eq(mc_migrate_current(url, mc_slice_find("usage"), &v, err, sizeof err), 0);
    ck_assert_int_eq(v, mc_slice_latest(mc_slice_find("usage")));
}
END_TEST

START_TEST(every_slice_goes_down_and_up_again)
{
    const char *url = th_db_new_empty();
    up_all(url);
    for (size_t i = 0; i < mc_nslices; i++) {
        const struct mc_slice *s = &mc_slices[i];
        char err[512] = "";
        ck_assert_msg(mc_migrate_down(url, s, 1, true, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(applied(s->schema), (int64_t)s->count - 1);
        ck_assert_msg(mc_migrate_down(url, s, (int)s->count, true, err, sizeof err) == 0, "%s: %s",
                      s->schema, err);
        ck_assert_int_eq(applied(s->schema), 0);
    }
    up_all(url);
    for (size_t i = 0; i < mc_nslices; i++)
        ck_assert_int_eq(applied(mc_slices[i].schema), (int64_t)mc_slices[i].count);
}
END_TEST

START_TEST(concurrent_runners_apply_once)
{
    const char *url = th_db_new_empty();
    enum { RUNNERS = 4 };
    pid_t pids[RUNNERS];
    for (int r = 0; r < RUNNERS; r++) {
        pids[r] = fork();
        ck_assert_int_ge(pids[r], 0);
        if (pids[r] == 0) {
            int rc = 0;
            for (size_t i = 0; i < mc_nslices; i++) {
                char err[512];
                if (mc_migrate_up(url, &mc_slices[i], -1, true, err, sizeof err) != 0) {
                    fprintf(stderr, "runner %d: %s\n", r, err);
                    rc = 1;
                }
            }
            _exit(rc);
        }
    }
    for (int r = 0; r < RUNNERS; r++) {
        int status;
        ck_assert_int_eq(waitpid(pids[r], &status, 0), pids[r]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "runner %d failed", r);
    }
    for (size_t i = 0; i < mc_nslices; i++)
        ck_assert_int_eq(applied(mc_slices[i].schema), (int64_t)mc_slices[i].count);
}
END_TEST

static const struct mc_migration test_migrations[] = {
    {1, "table", "CREATE TABLE mctest.t (x integer);", "DROP TABLE mctest.t;"},
    {2, "index_concurrently",
     "-- mc:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_x ON mctest.t (x)",
     "-- mc:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS mctest.t_x"},
};
static const struct mc_slice test_slice = {"mctest", "postgres", test_migrations, 2, NULL, 0};

START_TEST(no_transaction_file_runs_outside_a_transaction)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    ck_assert_msg(mc_migrate_up(url, &test_slice, -1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_index i JOIN pg_class c ON "
                                "c.oid = i.indexrelid WHERE c.relname = 't_x' AND i.indisvalid"),
                     1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM mctest.schema_migrations "
                                "WHERE version = 2 AND no_transaction"),
                     1);
    ck_assert_msg(mc_migrate_down(url, &test_slice, 1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class WHERE relname = 't_x'"), 0);
    /* The same statement inside a transaction is refused by Postgres, which is why the marker
     * exists: the runner really did run it outside one. */
    PGresult *r = PQexec(th_pg(), "BEGIN; CREATE INDEX CONCURRENTLY t_y ON mctest.t (x); COMMIT;");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
}
END_TEST

START_TEST(an_invalid_index_left_by_an_interrupted_build_is_built_again)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    ck_assert_msg(mc_migrate_up(url, &test_slice, 1, false, err, sizeof err) == 0, "%s", err);
    /* An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index under the name the
     * migration creates (here: a unique build that meets a duplicate). */
    th_sql("INSERT INTO mctest.t VALUES (1), (1)");
    PGresult *r = PQexec(th_pg(), "CREATE UNIQUE INDEX CONCURRENTLY t_x ON mctest.t (x)");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    ck_assert_int_eq(
        th_sql_int("SELECT count(*) FROM pg_index i JOIN pg_class c ON "
                   "c.oid = i.indexrelid WHERE c.relname = 't_x' AND NOT i.indisvalid"),
        1);
    /* IF NOT EXISTS alone would take it for done; the runner drops it and builds it again. */
    ck_assert_msg(mc_migrate_up(url, &test_slice, -1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_index i JOIN pg_class c ON "
                                "c.oid = i.indexrelid WHERE c.relname = 't_x' AND i.indisvalid "
                                "AND NOT i.indisunique"),
                     1);
}
END_TEST

START_TEST(a_relation_in_the_way_of_an_index_stops_the_migration)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    ck_assert_msg(mc_migrate_up(url, &test_slice, 1, false, err, sizeof err) == 0, "%s", err);
    th_sql("CREATE TABLE mctest.t_x (y integer)");
    ck_assert_int_ne(mc_migrate_up(url, &test_slice, -1, false, err, sizeof err), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM mctest.schema_migrations"), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class WHERE relname = 't_x' AND "
                                "relkind = 'r'"),
                     1);
}
END_TEST

/* Functions live in one file each and follow the binary: applied after the migrations, again
 * only when their text changed, and all again after a down. */
static const struct mc_migration fn_migrations[] = {
    {1, "table", "CREATE TABLE mcfn.t (x integer);", "DROP TABLE mcfn.t;"},
};
static const struct mc_sql_function fn_v1[] = {
    {"twice", "CREATE OR REPLACE FUNCTION mcfn.twice(p integer) RETURNS integer "
              "LANGUAGE sql AS $$ SELECT p * 2 $$;"},
    /* Refers to a function created by a later file: bodies are not checked at creation. */
    {"count_t", "CREATE OR REPLACE FUNCTION mcfn.count_t() RETURNS integer "
                "LANGUAGE sql AS $$ SELECT mcfn.zzz_one() * count(*)::integer FROM mcfn.t $$;"},
    {"zzz_one", "CREATE OR REPLACE FUNCTION mcfn.zzz_one() RETURNS integer "
                "LANGUAGE sql AS $$ SELECT 1 $$;"},
};
static const struct mc_sql_function fn_v2[] = {
    {"twice", "CREATE OR REPLACE FUNCTION mcfn.twice(p integer) RETURNS integer "
              "LANGUAGE sql AS $$ SELECT p + p + 0 $$;"},
    {"count_t", "CREATE OR REPLACE FUNCTION mcfn.count_t() RETURNS integer "
                "LANGUAGE sql AS $$ SELECT mcfn.zzz_one() * count(*)::integer FROM mcfn.t $$;"},
    {"zzz_one", "CREATE OR REPLACE FUNCTION mcfn.zzz_one() RETURNS integer "
                "LANGUAGE sql AS $$ SELECT 1 $$;"},
};
static const struct mc_slice fn_slice_v1 = {"mcfn", "postgres", fn_migrations, 1, fn_v1, 3};
static const struct mc_slice fn_slice_v2 = {"mcfn", "postgres", fn_migrations, 1, fn_v2, 3};

static int64_t fn_applied_at(const char *name)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT extract(epoch FROM applied_at) * 1000000 FROM mcfn.schema_functions "
             "WHERE name = '%s'",
             name);
    return th_sql_int(sql);
}

START_TEST(functions_are_applied_once_and_again_when_they_change)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    ck_assert_msg(mc_migrate_up(url, &fn_slice_v1, -1, false, err, sizeof err) == 0, "%s", err);
    th_sql("INSERT INTO mcfn.t VALUES (1), (2)");
    ck_assert_int_eq(th_sql_int("SELECT mcfn.twice(21)"), 42);
    ck_assert_int_eq(th_sql_int("SELECT mcfn.count_t()"), 2);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM mcfn.schema_functions"), 3);
    int64_t twice = fn_applied_at("twice"), one = fn_applied_at("zzz_one");
    /* Unchanged text: nothing is applied again. */
    ck_assert_msg(mc_migrate_up(url, &fn_slice_v1, -1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(fn_applied_at("twice"), twice);
    /* A new binary whose file changed: that function, and only it, is applied again. */
    ck_assert_msg(mc_migrate_up(url, &fn_slice_v2, -1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_gt(fn_applied_at("twice"), twice);
    ck_assert_int_eq(fn_applied_at("zzz_one"), one);
    ck_assert_int_eq(th_sql_int("SELECT (position('+' IN prosrc) > 0)::int FROM pg_proc WHERE "
                                "proname = 'twice'"),
                     1);
    /* A down may drop functions: the next up applies them all again. */
    th_sql("DROP FUNCTION mcfn.twice(integer)");
    ck_assert_msg(mc_migrate_down(url, &fn_slice_v2, 1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM mcfn.schema_functions"), 0);
    ck_assert_msg(mc_migrate_up(url, &fn_slice_v2, -1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT mcfn.twice(4)"), 8);
}
END_TEST

/* A migration rewritten after databases applied it (its functions moved out) names the
 * checksum it replaces; such a database records the new checksum instead of warning. */
static const struct mc_migration rewritten_v1[] = {
    {1, "table", "CREATE TABLE mcrw.t (x integer);\n-- a function used to be here\n",
     "DROP TABLE mcrw.t;"},
};
static const struct mc_migration rewritten_v2[] = {
    {1, "table", "-- mc:replaces-checksum e7d2112dec10a85a\nCREATE TABLE mcrw.t (x integer);\n",
     "DROP TABLE mcrw.t;"},
};
static const struct mc_slice rw_slice_v1 = {"mcrw", "postgres", rewritten_v1, 1, NULL, 0};
static const struct mc_slice rw_slice_v2 = {"mcrw", "postgres", rewritten_v2, 1, NULL, 0};

START_TEST(a_rewritten_migration_records_its_new_checksum)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    ck_assert_msg(mc_migrate_up(url, &rw_slice_v1, -1, false, err, sizeof err) == 0, "%s", err);
    /* The test's v2 names v1's checksum, as a real rewrite does. */
    PGresult *r = PQexec(th_pg(), "SELECT checksum FROM mcrw.schema_migrations");
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "e7d2112dec10a85a");
    PQclear(r);
    ck_assert_msg(mc_migrate_up(url, &rw_slice_v2, -1, false, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM mcrw.schema_migrations WHERE "
                                "checksum <> 'e7d2112dec10a85a'"),
                     1);
}
END_TEST

static const struct mc_migration broken_migrations[] = {
    {1, "ok", "CREATE TABLE mcbroken.a (x integer);", "DROP TABLE mcbroken.a;"},
    {2, "broken", "CREATE TABLE mcbroken.b (x integer); SELECT 1/0;", "DROP TABLE mcbroken.b;"},
};
static const struct mc_slice broken_slice = {"mcbroken", "postgres", broken_migrations, 2, NULL, 0};

START_TEST(failing_file_rolls_back_and_names_itself)
{
    const char *url = th_db_new_empty();
    char err[512] = "";
    ck_assert_int_eq(mc_migrate_up(url, &broken_slice, -1, false, err, sizeof err), MC_EDB);
    ck_assert_msg(strstr(err, "mcbroken/0002_broken.up.sql") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "22012") != NULL, "SQLSTATE missing: %s", err);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM mcbroken.schema_migrations"), 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_class WHERE relname = 'b' AND "
                                "relnamespace = 'mcbroken'::regnamespace"),
                     0);
}
END_TEST

/* ---- the transaction runner (mc_db_run_tx) ---- */

enum { T_FAIL, T_INSERT, T_NSTMTS };
static const struct mc_db_stmt tx_stmts[] = {
    [T_FAIL] = {"t_fail", "SELECT public.tx_fail($1)"},
    [T_INSERT] = {"t_insert", "INSERT INTO public.tx_rows VALUES ($1::integer)"},
};
MC_STATIC_ASSERT_LEN(tx_stmts, T_NSTMTS);

/* A body that writes a row, then fails with code on its first `failures` attempts. */
struct flaky {
    int attempts, failures;
    const char *code;
    int own_error; /* returned instead of failing in SQL, when not 0 */
};

static int flaky_body(mc_db *db, void *arg)
{
    struct flaky *f = arg;
    char n[16];
    snprintf(n, sizeof n, "%d", ++f->attempts);
    const char *pi[] = {n};
    int rc = mc_db_exec(db, T_INSERT, 1, pi, NULL);
    if (rc != 0 || f->attempts > f->failures)
        return rc;
    if (f->own_error != 0)
        return f->own_error;
    const char *pf[] = {f->code};
    return mc_db_exec(db, T_FAIL, 1, pf, NULL);
}

static mc_db *tx_db(void)
{
    const char *url = th_db_new();
    th_sql("CREATE TABLE public.tx_rows (n integer)");
    th_sql("CREATE FUNCTION public.tx_fail(code text) RETURNS void LANGUAGE plpgsql AS "
           "$$ BEGIN RAISE EXCEPTION 'failing on purpose' USING ERRCODE = code; END $$");
    return mc_db_new(url, tx_stmts, T_NSTMTS, "test-tx");
}

START_TEST(serialization_failures_and_deadlocks_run_the_transaction_again)
{
    mc_db *db = tx_db();
    struct flaky twice = {.failures = 2, .code = MC_SQLSTATE_SERIALIZATION_FAILURE};
    ck_assert_int_eq(mc_db_run_tx(db, "test", flaky_body, &twice), 0);
    ck_assert_int_eq(twice.attempts, 3);
    /* Only the attempt that committed left its row. */
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM public.tx_rows"), 1);
    ck_assert_int_eq(th_sql_int("SELECT n FROM public.tx_rows"), 3);

    th_sql("DELETE FROM public.tx_rows");
    struct flaky always = {.failures = 1000, .code = MC_SQLSTATE_DEADLOCK_DETECTED};
    ck_assert_int_eq(mc_db_run_tx(db, "test", flaky_body, &always), MC_EDB);
    ck_assert_int_eq(always.attempts, MC_DB_TX_ATTEMPTS);
    ck_assert(mc_db_failed_with(db, MC_SQLSTATE_DEADLOCK_DETECTED));
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM public.tx_rows"), 0);
    mc_db_free(db);
}
END_TEST

START_TEST(other_errors_end_the_transaction_at_once)
{
    mc_db *db = tx_db();
    struct flaky sql = {.failures = 1000, .code = "23505"}; /* unique_violation */
    ck_assert_int_eq(mc_db_run_tx(db, "test", flaky_body, &sql), MC_EDB);
    ck_assert_int_eq(sql.attempts, 1);
    ck_assert_str_eq(mc_db_sqlstate(db), "23505");
    struct flaky own = {.failures = 1000, .own_error = MC_ECONFLICT};
    ck_assert_int_eq(mc_db_run_tx(db, "test", flaky_body, &own), MC_ECONFLICT);
    ck_assert_int_eq(own.attempts, 1);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM public.tx_rows"), 0);
    /* The connection is usable afterwards: nothing was left open. */
    struct flaky fine = {.failures = 0};
    ck_assert_int_eq(mc_db_run_tx(db, "test", flaky_body, &fine), 0);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM public.tx_rows"), 1);
    mc_db_free(db);
}
END_TEST

/* ---- the pool's on-connect hook (mc_db_pool_on_connect) ---- */

/* Writes a row (1: the hook succeeds) or fails in SQL (the failing hook), counting its runs. */
struct hook_count {
    int runs;
    bool fail;
};

static int count_hook(mc_db *db, void *arg)
{
    struct hook_count *h = arg;
    h->runs++;
    const char *p[] = {"1"};
    if (h->fail) {
        const char *pf[] = {"23505"};
        return mc_db_exec(db, T_FAIL, 1, pf, NULL);
    }
    return mc_db_exec(db, T_INSERT, 1, p, NULL);
}

START_TEST(the_pool_runs_its_hook_once_on_each_new_connection)
{
    const char *url = th_db_new();
    th_sql("CREATE TABLE public.tx_rows (n integer)");
    th_sql("CREATE FUNCTION public.tx_fail(code text) RETURNS void LANGUAGE plpgsql AS "
           "$$ BEGIN RAISE EXCEPTION 'failing on purpose' USING ERRCODE = code; END $$");
    struct hook_count h = {0};
    mc_db_pool *pool = mc_db_pool_new(url, tx_stmts, T_NSTMTS, "test-pool-hook", 2);
    mc_db_pool_on_connect(pool, count_hook, &h);
    /* Opening the pool connects both handles and runs the hook on each, before any caller. */
    ck_assert_int_eq(mc_db_pool_open(pool), 2);
    ck_assert_int_eq(h.runs, 2);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM public.tx_rows"), 2);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = 'test-pool-hook'"),
                     2);
    ck_assert_int_eq(mc_db_pool_open(pool), 0);
    /* Callers find them ready: no further run however often they are taken. */
    for (int i = 0; i < 5; i++) {
        mc_db *a = mc_db_pool_acquire(pool, 1000, NULL);
        mc_db *b = mc_db_pool_acquire(pool, 1000, NULL);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        mc_db_pool_release(pool, a);
        mc_db_pool_release(pool, b);
    }
    ck_assert_int_eq(h.runs, 2);
    /* A connection lost and opened again is a new session: the hook runs on it once more. */
    th_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
           "WHERE application_name = 'test-pool-hook'");
    mc_db *a = mc_db_pool_acquire(pool, 1000, NULL);
    ck_assert_ptr_nonnull(a);
    const char *p[] = {"2"};
    ck_assert_int_eq(mc_db_exec(a, T_INSERT, 1, p, NULL), MC_EDBCONN); /* finds it gone */
    mc_db_pool_release(pool, a);
    a = mc_db_pool_acquire(pool, 1000, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(h.runs, 3);
    ck_assert_int_eq(mc_db_exec(a, T_INSERT, 1, p, NULL), 0);
    mc_db_pool_release(pool, a);
    ck_assert_int_eq(th_sql_int("SELECT count(*) FROM public.tx_rows WHERE n = 1"), 3);
    /* A hook failing in SQL does not fail the acquire and is not run again on that connection. */
    th_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
           "WHERE application_name = 'test-pool-hook'");
    h.fail = true;
    a = mc_db_pool_acquire(pool, 1000, NULL);
    ck_assert_int_eq(mc_db_exec(a, T_INSERT, 1, p, NULL), MC_EDBCONN);
    mc_db_pool_release(pool, a);
    int before = h.runs;
    for (int i = 0; i < 3; i++) {
        a = mc_db_pool_acquire(pool, 1000, NULL);
        ck_assert_ptr_nonnull(a);
        ck_assert_int_eq(mc_db_exec(a, T_INSERT, 1, p, NULL), 0);
        mc_db_pool_release(pool, a);
    }
    ck_assert_int_eq(h.runs, before + 1);
    mc_db_pool_free(pool);
}
END_TEST

/* ---- named constants: the advisory-lock registry and the SQLSTATE names ---- */

static const struct mc_advisory_lock *lock_entry(long id)
{
    for (size_t i = 0; i < mc_nadvisory_locks; i++)
        if (mc_advisory_locks[i].id == id)
            return &mc_advisory_locks[i];
    return NULL;
}

/* What the walk found: the registry entries SQL takes, and every disagreement. */
static struct {
    bool sql_has[16];
    char errors[4096];
} g_found;

static void disagree(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void disagree(const char *fmt, ...)
{
    size_t len = strlen(g_found.errors);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_found.errors + len, sizeof g_found.errors - len, fmt, ap);
    va_end(ap);
}

/* True when path lies in a folder named folder (migrations/usage/..., for the usage schema). */
static bool in_folder(const char *path, const char *folder)
{
    char part[64];
    snprintf(part, sizeof part, "/%s/", folder);
    return strstr(path, part) != NULL;
}

/* Every advisory-lock call: in SQL its id must be registered for the file's schema; in C it
 * must be spelled by name (MC_STR(MC_LOCK_...)), never as a number. */
static void scan_locks(const char *path, const char *text, bool sql)
{
    for (const char *p = strstr(text, "advisory_"); p != NULL; p = strstr(p + 1, "advisory_")) {
        const char *open = p;
        while (isalnum((unsigned char)*open) || *open == '_')
            open++;
        const char *lock = strstr(p, "lock");
        if (*open != '(' || lock == NULL || lock > open)
            continue;
        const char *arg = open + 1;
        while (*arg == ' ')
            arg++;
        long id = isdigit((unsigned char)*arg) ? strtol(arg, NULL, 10) : -1;
        const struct mc_advisory_lock *e = id >= 0 ? lock_entry(id) : NULL;
        if (!sql && id >= 0)
            disagree("%s: advisory lock %ld written as a number; use its MC_LOCK_ name\n", path,
                     id);
        else if (sql && e == NULL)
            disagree("%s: advisory lock %ld is not in mc_advisory_locks\n", path, id);
        else if (sql && (e->schema == NULL || !in_folder(path, e->schema)))
            disagree("%s: advisory lock %ld is registered for another schema\n", path, id);
        else if (sql)
            g_found.sql_has[e - mc_advisory_locks] = true;
    }
}

/* q at an opening quote: a five-character SQLSTATE such as "40001" or "MCF01" follows. */
static bool quotes_a_code(const char *q)
{
    return strspn(q + 1, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5 && q[6] == '"' &&
           strcspn(q + 1, "0123456789") < 5;
}

/* A C line about a state (an SQLSTATE compared or set) names the code (MC_SQLSTATE_...)
 * instead of quoting it. */
static void scan_sqlstates(const char *path, const char *text)
{
    const char *line = text;
    while (*line != '\0') {
        const char *end = strchrnul(line, '\n');
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(end - line), line);
        if (strcasestr(buf, "state") != NULL && strstr(buf, "#define MC_SQLSTATE_") == NULL)
            for (const char *q = strchr(buf, '"'); q != NULL; q = strchr(q + 1, '"'))
                if (quotes_a_code(q))
                    disagree("%s: SQLSTATE %.5s quoted; use its MC_SQLSTATE_ name\n", path, q + 1);
        line = *end ? end + 1 : end;
    }
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    const char *base = path + ftw->base;
    if (type == FTW_D && (strcmp(base, "build") == 0 || base[0] == '.') && ftw->level > 0)
        return FTW_SKIP_SUBTREE;
    size_t len = strlen(path);
    bool sql = len > 4 && strcmp(path + len - 4, ".sql") == 0;
    bool c = len > 2 && (strcmp(path + len - 2, ".c") == 0 || strcmp(path + len - 2, ".h") == 0) &&
             (strstr(path, "/libs/") || strstr(path, "/services/") || strstr(path, "/tools/"));
    if (type != FTW_F || (!sql && !c))
        return FTW_CONTINUE;
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    scan_locks(path, text, sql);
    if (c)
        scan_sqlstates(path, text);
    return FTW_CONTINUE;
}

START_TEST(named_constants_agree_with_sql_and_c)
{
    memset(&g_found, 0, sizeof g_found);
    ck_assert_int_le(mc_nadvisory_locks, MC_ARRAY_LEN(g_found.sql_has));
    for (size_t i = 0; i < mc_nadvisory_locks; i++)
        for (size_t k = i + 1; k < mc_nadvisory_locks; k++)
            ck_assert_msg(mc_advisory_locks[i].id != mc_advisory_locks[k].id, "%s and %s share %ld",
                          mc_advisory_locks[i].name, mc_advisory_locks[k].name,
                          mc_advisory_locks[i].id);
    ck_assert_int_eq(nftw(th_root(), visit, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
    ck_assert_msg(g_found.errors[0] == '\0', "%s", g_found.errors);
    /* The other way: what the registry says SQL takes is taken there. */
    for (size_t i = 0; i < mc_nadvisory_locks; i++)
        ck_assert_msg(mc_advisory_locks[i].schema == NULL || g_found.sql_has[i],
                      "%s (%ld) is registered for %s but no SQL file there takes it",
                      mc_advisory_locks[i].name, mc_advisory_locks[i].id,
                      mc_advisory_locks[i].schema);
    /* The locks only C statements take are registered as such. */
    ck_assert_ptr_null(lock_entry(MC_LOCK_DISPATCH_RELAY)->schema);
    ck_assert_ptr_null(lock_entry(MC_LOCK_GATEWAY_RELAY)->schema);
    ck_assert_ptr_null(lock_entry(MC_LOCK_MIGRATIONS)->schema);
}
END_TEST

Suite *suite_migrate(void)
{
    Suite *s = suite_create("migrate");
    TCase *tc = tcase_create("runner");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, up_records_and_rerun_is_a_no_op);
    tcase_add_test(tc, every_slice_goes_down_and_up_again);
    tcase_add_test(tc, concurrent_runners_apply_once);
    tcase_add_test(tc, no_transaction_file_runs_outside_a_transaction);
    tcase_add_test(tc, failing_file_rolls_back_and_names_itself);
    tcase_add_test(tc, an_invalid_index_left_by_an_interrupted_build_is_built_again);
    tcase_add_test(tc, a_relation_in_the_way_of_an_index_stops_the_migration);
    tcase_add_test(tc, functions_are_applied_once_and_again_when_they_change);
    tcase_add_test(tc, a_rewritten_migration_records_its_new_checksum);
    suite_add_tcase(s, tc);
    TCase *tx = tcase_create("transactions");
    tcase_set_timeout(tx, 30);
    tcase_add_test(tx, serialization_failures_and_deadlocks_run_the_transaction_again);
    tcase_add_test(tx, other_errors_end_the_transaction_at_once);
    tcase_add_test(tx, the_pool_runs_its_hook_once_on_each_new_connection);
    suite_add_tcase(s, tx);
    TCase *reg = tcase_create("registry");
    tcase_add_test(reg, named_constants_agree_with_sql_and_c);
    suite_add_tcase(s, reg);
    return s;
}
