/* test_migrate.c: the migration runner against a real Postgres: up, re-run, down, concurrent
 * runners, the no-transaction file, a failing file, and every slice's down files. */
#include "harness.h"
#include "mc_db.h"

#include <stdio.h>
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
    return s;
}
