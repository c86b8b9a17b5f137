/* main.c: multica-migrate, the operator's migration tool for every schema slice.
 *
 *   multica-migrate [up]     [--schema S] [--target N]   create roles/schemas, apply migrations
 *   multica-migrate down     --schema S [--steps N]      revert the newest N migrations of S
 *   multica-migrate status                               applied vs. compiled-in versions
 *   multica-migrate topics   [--partitions N] [--list]   create the Kafka topics (topics.c)
 *
 * DATABASE_URL is an administrator's URL (a superuser, or a role that may create roles and
 * is a member of the slice roles). Each slice is migrated as its owner role (SET ROLE), so
 * the objects belong to that role. With --no-set-role the URL's own role is used (a service
 * migrating its own slice). MULTICA_<SLICE>_DB_PASSWORD sets the password of a role this
 * tool creates (for example MULTICA_USAGE_DB_PASSWORD). */
#include "mc_common.h"
#include "mc_config.h"
#include "mc_db.h"
#include "mc_log.h"
#include "migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_ROLE_EXISTS, S_CREATE_ROLE_SQL, S_ALTER_PASSWORD_SQL, S_CAN_CREATE_ROLES, S_NSTMTS };

static const struct mc_db_stmt stmts[] = {
    [S_ROLE_EXISTS] = {"role_exists",
                       "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1"},
    /* format() quotes the name as an identifier and the password as a literal. */
    [S_CREATE_ROLE_SQL] =
        {"create_role_sql",
         "SELECT CASE WHEN $2::text IS NULL "
         "THEN format('CREATE ROLE %I LOGIN', $1::text) "
         "ELSE format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text) END"},
    [S_ALTER_PASSWORD_SQL] =
        {"alter_password_sql",
         "SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)"},
    [S_CAN_CREATE_ROLES] = {"can_create_roles",
                            "SELECT rolsuper OR rolcreaterole FROM pg_catalog.pg_roles "
                            "WHERE rolname = current_user"},
};
MC_STATIC_ASSERT_LEN(stmts, S_NSTMTS);

static const char *password_for(const char *schema)
{
    char name[96];
    snprintf(name, sizeof name, "MULTICA_%s_DB_PASSWORD", schema);
    for (char *p = name; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int exec_generated(mc_db *db, int stmt, int n, const char *const *params)
{
    PGresult *r = NULL;
    int rc = mc_db_exec(db, stmt, n, params, &r);
    if (rc == 0) {
        char *sql = mc_strdup(mc_db_value(r));
        rc = mc_db_exec_sql(db, sql, NULL);
        free(sql);
    }
    PQclear(r);
    return rc;
}

/* Creates the login role of every slice that does not exist yet (roles must exist before any
 * slice migrates, because slices grant to each other's roles). */
static int ensure_roles(const char *url)
{
    mc_db *db = mc_db_new(url, stmts, MC_ARRAY_LEN(stmts), "multica-migrate");
    int rc = mc_db_ensure(db, mc_now_mono_ms() + 30000);
    PGresult *r = NULL;
    if (rc != 0) {
        fprintf(stderr, "multica-migrate: cannot connect: %s\n", mc_db_errmsg(db));
        goto cleanup;
    }
    if ((rc = mc_db_exec(db, S_CAN_CREATE_ROLES, 0, NULL, &r)) != 0)
        goto sql_error;
    bool can = mc_db_value(r) && strcmp(mc_db_value(r), "t") == 0;
    PQclear(r);
    r = NULL;
    for (size_t i = 0; i < mc_nslices; i++) {
        const char *role = mc_slices[i].owner;
        const char *pw = password_for(mc_slices[i].schema);
        const char *p1[] = {role};
        if ((rc = mc_db_exec(db, S_ROLE_EXISTS, 1, p1, &r)) != 0)
            goto sql_error;
        bool exists = strcmp(mc_db_value(r), "0") != 0;
        PQclear(r);
        r = NULL;
        if (exists && (pw == NULL || !can))
            continue;
        if (!can) {
            fprintf(stderr,
                    "multica-migrate: role %s is missing and this user may not create "
                    "roles; create it first (see docs/SELF_HOSTING_ADVANCED.md)\n",
                    role);
            rc = MC_EDB;
            goto cleanup;
        }
        const char *p2[] = {role, pw};
        if ((rc = exec_generated(db, exists ? S_ALTER_PASSWORD_SQL : S_CREATE_ROLE_SQL, 2, p2)) !=
            0)
            goto sql_error;
        if (!exists)
            mc_log_info(json_pack("{ss}", "role", role), "role created");
    }
    goto cleanup;
sql_error:
    fprintf(stderr, "multica-migrate: %s %s\n", mc_db_sqlstate(db), mc_db_errmsg(db));
cleanup:
    PQclear(r);
    mc_db_free(db);
    return rc;
}

static int status(const char *url)
{
    int rc = 0;
    printf("%-10s %-10s %-10s\n", "schema", "applied", "compiled");
    for (size_t i = 0; i < mc_nslices; i++) {
        int v = 0;
        char err[512] = "";
        int r = mc_migrate_current(url, &mc_slices[i], &v, err, sizeof err);
        if (r != 0) {
            fprintf(stderr, "multica-migrate: %s: %s\n", mc_slices[i].schema, err);
            rc = 1;
            continue;
        }
        int latest = mc_slice_latest(&mc_slices[i]);
        printf("%-10s %-10d %-10d%s\n", mc_slices[i].schema, v, latest,
               v < latest ? "  (pending)" : "");
    }
    return rc;
}

static char *g_url, *g_log_level;

/* The settings of up, down and status; topics has its own (topics.c). */
static const struct mc_config_var vars[] = {
    {"DATABASE_URL", MC_CFG_STRING, NULL, 0, 0, &g_url,
     "administrator URL of the Multica database (a superuser or a role that may create roles)"},
    {"LOG_LEVEL", MC_CFG_STRING, "info", 0, 0, &g_log_level, "error, warning, info or debug"},
};

#define SYNOPSIS                                                                                   \
    "multica-migrate [up|down|status] [--schema S] [--target N] [--steps N] [--no-set-role]\n"     \
    "       multica-migrate topics [--partitions N] [--replication-factor N] [--wait SECONDS] | "  \
    "--list\n"                                                                                     \
    "       multica-migrate --help | --version"

static void usage(void)
{
    fprintf(stderr, "usage: " SYNOPSIS "\n");
}

/* --help lists both tables and the role passwords, whose names come from the slices. */
static int command_line(int argc, char **argv)
{
    static char names[8][64];
    struct mc_config_var pw[8];
    size_t n = 0;
    for (; n < mc_nslices && n < MC_ARRAY_LEN(pw); n++) {
        snprintf(names[n], sizeof names[n], "MULTICA_%s_DB_PASSWORD", mc_slices[n].schema);
        for (char *p = names[n]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        pw[n] = (struct mc_config_var){names[n],
                                       MC_CFG_STRING,
                                       "",
                                       0,
                                       0,
                                       NULL,
                                       "password given to the slice's login role (up); empty "
                                       "creates the role without a password"};
    }
    const struct mc_config_usage u = {
        "multica-migrate", SYNOPSIS,
        "Creates the login roles and schemas and applies the migrations compiled into it (up, "
        "down, status), or creates the Kafka topics from their one definition (topics)."};
    const struct mc_config_table tables[] = {
        {"up, down and status", vars, MC_ARRAY_LEN(vars)},
        {"up: role passwords", pw, n},
        {"topics", mg_topics_vars, mg_ntopics_vars},
    };
    return mc_config_cli(argc, argv, &u, tables, MC_ARRAY_LEN(tables));
}

int main(int argc, char **argv)
{
    const char *cmd = "up", *schema = NULL;
    int target = -1, steps = 1;
    bool set_role = true;
    int i = 1;
    if (command_line(argc, argv))
        return 0;
    if (argc > 1 && argv[1][0] != '-')
        cmd = argv[i++];
    if (strcmp(cmd, "topics") == 0)
        return mg_topics(argc - i, argv + i);
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc)
            schema = argv[++i];
        else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
            target = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-set-role") == 0)
            set_role = false;
        else {
            usage();
            return 2;
        }
    }
    char cfg_err[512];
    if (mc_config_load(vars, MC_ARRAY_LEN(vars), cfg_err, sizeof cfg_err) != 0) {
        fprintf(stderr, "multica-migrate: %s\n", cfg_err);
        return 2;
    }
    const char *url = g_url;
    if (mc_log_init("multica-migrate", g_log_level) != 0) {
        fprintf(stderr, "multica-migrate: LOG_LEVEL: must be error, warning, info or debug\n");
        return 2;
    }
    if (schema != NULL && mc_slice_find(schema) == NULL) {
        fprintf(stderr, "multica-migrate: --schema: unknown slice '%s'\n", schema);
        return 2;
    }
    if (strcmp(cmd, "status") == 0)
        return status(url);
    if (strcmp(cmd, "down") == 0) {
        if (schema == NULL) {
            fprintf(stderr, "multica-migrate: down needs --schema\n");
            return 2;
        }
        char err[1024];
        if (mc_migrate_down(url, mc_slice_find(schema), steps, set_role, err, sizeof err) != 0) {
            fprintf(stderr, "multica-migrate: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "up") != 0) {
        usage();
        return 2;
    }
    if (set_role && ensure_roles(url) != 0)
        return 1;
    for (size_t k = 0; k < mc_nslices; k++) {
        if (schema != NULL && strcmp(schema, mc_slices[k].schema) != 0)
            continue;
        char err[1024];
        if (mc_migrate_up(url, &mc_slices[k], target, set_role, err, sizeof err) != 0) {
            fprintf(stderr, "multica-migrate: %s\n", err);
            return 1;
        }
    }
    mc_log_close();
    return 0;
}
