/* main.c: multica-backfill-usage, rebuilds task_usage_hourly from all of task_usage.
 *
 *   multica-backfill-usage [--from TIME] [--to TIME] [--sleep-between-slices=DURATION] [--dry-run]
 *
 * Walks task_usage in monthly slices (by updated_at) through
 * usage.rollup_task_usage_hourly_window, printing one line per slice, then stamps the rollup
 * watermark at the end of the range so the scheduled rollup resumes from there. Every slice
 * replaces buckets with their ground truth, so the command is safe to re-run and to run while
 * the scheduler runs (recomputations are serialised in the database). DATABASE_URL is the
 * usage slice's role (multica_usage) or an administrator. TIME is RFC 3339 or YYYY-MM-DD
 * (UTC); --from defaults to the oldest task_usage row, --to to now() - 5 minutes. */
#include "mc_common.h"
#include "mc_config.h"
#include "mc_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B_UTC, B_RANGE, B_SLICES, B_COUNT, B_WINDOW, B_STAMP, B_NSTMTS };

static const struct mc_db_stmt stmts[] = {
    [B_UTC] = {"bf_utc", "SELECT set_config('timezone', 'UTC', false)"},
    [B_RANGE] = {"bf_range",
                 "SELECT coalesce($1::timestamptz, (SELECT min(updated_at) FROM usage.task_usage), "
                 "now() - interval '5 minutes'), "
                 "coalesce($2::timestamptz, now() - interval '5 minutes')"},
    /* Month boundaries in UTC (the session time zone is set to UTC first). */
    [B_SLICES] =
        {"bf_slices",
         "SELECT greatest(s, $1::timestamptz), least(s + interval '1 month', $2::timestamptz) "
         "FROM generate_series(date_trunc('month', $1::timestamptz), "
         "$2::timestamptz - interval '1 microsecond', interval '1 month') AS s "
         "WHERE $1::timestamptz < $2::timestamptz ORDER BY s"},
    [B_COUNT] = {"bf_count", "SELECT count(*) FROM usage.task_usage "
                             "WHERE updated_at >= $1 AND updated_at < $2"},
    [B_WINDOW] = {"bf_window", "SELECT usage.rollup_task_usage_hourly_window($1, $2)"},
    [B_STAMP] = {"bf_stamp", "SELECT usage.stamp_rollup_watermark($1)"},
};
MC_STATIC_ASSERT_LEN(stmts, B_NSTMTS);

static char *g_url;
static const struct mc_config_var vars[] = {
    {"DATABASE_URL", MC_CFG_STRING, NULL, 0, 0, &g_url,
     "the usage role's (multica_usage) or an administrator's database URL"},
};

#define SYNOPSIS                                                                                   \
    "multica-backfill-usage [--from TIME] [--to TIME] [--sleep-between-slices=DURATION] "          \
    "[--dry-run]\n       multica-backfill-usage --help | --version"

static void usage(void)
{
    fprintf(stderr, "usage: " SYNOPSIS "\n");
}

static const struct mc_config_usage cli = {
    "multica-backfill-usage", SYNOPSIS,
    "Rebuilds usage.task_usage_hourly from all of usage.task_usage in monthly slices, then "
    "stamps the rollup watermark (docs/USAGE_ROLLUP.md)."};

static const char *value_of(const char *arg, const char *name, int *i, int argc, char **argv)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int fail(mc_db *db, const char *what)
{
    fprintf(stderr, "multica-backfill-usage: %s: %s %s\n", what, mc_db_sqlstate(db),
            mc_db_errmsg(db));
    return 1;
}

int main(int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *v;
    int64_t sleep_ms = 0;
    bool dry = false;
    const struct mc_config_table tables[] = {{"settings", vars, MC_ARRAY_LEN(vars)}};
    if (mc_config_cli(argc, argv, &cli, tables, MC_ARRAY_LEN(tables)))
        return 0;
    for (int i = 1; i < argc; i++) {
        if ((v = value_of(argv[i], "--from", &i, argc, argv)) != NULL)
            from = v;
        else if ((v = value_of(argv[i], "--to", &i, argc, argv)) != NULL)
            to = v;
        else if ((v = value_of(argv[i], "--sleep-between-slices", &i, argc, argv)) != NULL) {
            if (mc_config_parse_duration(v, &sleep_ms) != 0) {
                fprintf(stderr,
                        "multica-backfill-usage: --sleep-between-slices: must be a "
                        "duration such as 2s or 500ms, got '%s'\n",
                        v);
                return 2;
            }
        } else if (strcmp(argv[i], "--dry-run") == 0)
            dry = true;
        else {
            usage();
            return 2;
        }
    }
    char err[512];
    if (mc_config_load(vars, MC_ARRAY_LEN(vars), err, sizeof err) != 0) {
        fprintf(stderr, "multica-backfill-usage: %s\n", err);
        return 2;
    }
    mc_db *db = mc_db_new(g_url, stmts, B_NSTMTS, "multica-backfill-usage");
    if (mc_db_ensure(db, mc_now_mono_ms() + 30000) != 0) {
        fprintf(stderr, "multica-backfill-usage: cannot connect: %s\n", mc_db_errmsg(db));
        mc_db_free(db);
        return 1;
    }
    int status = 1;
    PGresult *range = NULL, *slices = NULL;
    const char *rp[] = {from, to};
    if (mc_db_exec(db, B_UTC, 0, NULL, NULL) != 0 || mc_db_exec(db, B_RANGE, 2, rp, &range) != 0) {
        status = fail(db, from || to ? "--from/--to (RFC 3339 or YYYY-MM-DD)" : "range");
        goto cleanup;
    }
    const char *lo = PQgetvalue(range, 0, 0), *hi = PQgetvalue(range, 0, 1);
    const char *sp[] = {lo, hi};
    if (mc_db_exec(db, B_SLICES, 2, sp, &slices) != 0) {
        status = fail(db, "slices");
        goto cleanup;
    }
    int n = PQntuples(slices);
    printf("backfill %s .. %s: %d monthly slice%s%s\n", lo, hi, n, n == 1 ? "" : "s",
           dry ? " (dry run)" : "");
    long long total = 0;
    for (int i = 0; i < n; i++) {
        const char *p[] = {PQgetvalue(slices, i, 0), PQgetvalue(slices, i, 1)};
        PGresult *r = NULL;
        int64_t t0 = mc_now_mono_ms();
        if (mc_db_exec(db, dry ? B_COUNT : B_WINDOW, 2, p, &r) != 0) {
            status = fail(db, "slice");
            PQclear(r);
            goto cleanup;
        }
        long long count = strtoll(mc_db_value(r), NULL, 10);
        total += count;
        printf("slice %d/%d %s .. %s: %lld %s (%.2f s)\n", i + 1, n, p[0], p[1], count,
               dry ? "rows would be scanned" : "buckets changed",
               (double)(mc_now_mono_ms() - t0) / 1000.0);
        fflush(stdout);
        PQclear(r);
        if (sleep_ms > 0 && i + 1 < n)
            mc_sleep_ms_interruptible(sleep_ms, NULL);
    }
    if (!dry) {
        PGresult *r = NULL;
        const char *p[] = {hi};
        if (mc_db_exec(db, B_STAMP, 1, p, &r) != 0) {
            status = fail(db, "stamp watermark");
            goto cleanup;
        }
        printf("done: %lld buckets changed; rollup watermark is %s\n", total, mc_db_value(r));
        PQclear(r);
    } else {
        printf("dry run: %lld rows in range; nothing written\n", total);
    }
    status = 0;
cleanup:
    PQclear(range);
    PQclear(slices);
    mc_db_free(db);
    return status;
}
