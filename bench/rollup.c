/* rollup.c: multica-bench-rollup, the hourly rollup tick against a full recompute, at growing
 * history sizes in one database.
 *
 *   multica-bench-rollup --db URL --sizes 1000000,3000000,10000000 [--changes 10000]
 *                        [--repeat 3] [--months 24] [--scattered R]
 *                        [--scattered-max-rows N]
 *
 * History is generated in SQL (generate_series): tasks with two usage rows each (two of six
 * provider/model pairs), attributed to one of 200 agents (20 workspaces, 100 runtimes), their
 * created_at spread evenly over the last `months` months (a golden-ratio sequence, so each
 * layer added for the next size interleaves with the previous ones), updated long ago (before
 * the watermark, stamped first: history the rollup takes as rolled up). Each
 * size is reached by adding a layer (secondary indexes dropped and rebuilt around it), then
 * VACUUM ANALYZE (what autovacuum would have done).
 *
 * Per size, `repeat` times each:
 *  - full: TRUNCATE the hourly table, then time one GROUP BY of all history into it (every
 *    bucket from scratch).
 *  - tick: stamp the watermark at now(), update the `changes` most recent rows (by created_at:
 *    running tasks are the ones reporting) with updated_at = now() in another transaction,
 *    then time one usage.rollup_task_usage_hourly() with multica.rollup_safety_lag = '0'.
 *    The first tick after the full recompute is reported on its own (tick_first): its recent
 *    buckets may have left the page cache while the recompute wrote gigabytes, where in
 *    production the scheduler's previous tick touched them five minutes before. The `repeat`
 *    ticks after it (tick) are the steady state; each still follows a CHECKPOINT, so it pays
 *    the full-page images a checkpoint between two ticks costs in production.
 *  - scattered, R times (--scattered, default 1; 0 skips it): the same with `changes` rows
 *    picked at random over the whole history (late corrections), the rollup's worst case. It
 *    is reported without a target, and at 10M rows one costs over a minute: sizes above
 *    --scattered-max-rows (0: no limit) skip it.
 * After the ticks the hourly table's token and task totals must equal ground truth's: every
 * tick adds to output_tokens, so a tick that missed its changes cannot pass for a fast one.
 * Each tick also reports, untimed, its WAL, full-page images, WAL I/O time and the blocks it
 * read from outside shared buffers with their read time (io_sql): runs of the same code differ
 * mostly by that read time. Prints one JSON line per size. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPEAT 15

/* Adds tasks [$1, $2): attribution first, then two usage rows per task. $3 is the history
 * span in months, $4 its end (fixed for the whole run, so both statements agree). Task ids
 * grow with the task number, so the primary keys load in order. */
static const char *const gen_attribution_sql =
    "WITH t AS (SELECT i, $4::timestamptz - make_interval(months => $3::int) * "
    "          (1 - ((i * 0.6180339887498949) - floor(i * 0.6180339887498949))) AS created, "
    "          abs(hashint8(i)) % 200 AS agent "
    "     FROM generate_series($1::bigint, $2::bigint - 1) AS i) "
    "INSERT INTO usage.task_attribution (task_id, workspace_id, agent_id, runtime_id, version, "
    "       updated_at) "
    "SELECT ('0195f000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, "
    "       ('00000000-0000-7000-8000-' || lpad(to_hex(agent % 20), 12, '0'))::uuid, "
    "       ('00000001-0000-7000-8000-' || lpad(to_hex(agent), 12, '0'))::uuid, "
    "       ('00000002-0000-7000-8000-' || lpad(to_hex(agent % 100), 12, '0'))::uuid, "
    "       1, created "
    "  FROM t";

static const char *const gen_usage_sql =
    "WITH t AS (SELECT i, $4::timestamptz - make_interval(months => $3::int) * "
    "          (1 - ((i * 0.6180339887498949) - floor(i * 0.6180339887498949))) AS created, "
    "          abs(hashint8(i * 3 + 1)) % 6 AS pair "
    "     FROM generate_series($1::bigint, $2::bigint - 1) AS i), "
    "pairs(n, provider, model) AS (VALUES "
    "     (0, 'anthropic', 'claude-sonnet-4-5-20250929'), (1, 'anthropic', "
    "'claude-opus-4-1-20250805'), "
    "     (2, 'openai', 'gpt-5-codex'), (3, 'openai', 'gpt-5-mini-2025-08-07'), "
    "     (4, 'google', 'gemini-2.5-pro'), (5, 'google', 'gemini-2.5-flash')) "
    "INSERT INTO usage.task_usage (task_id, provider, model, input_tokens, output_tokens, "
    "       cache_read_tokens, cache_write_tokens, reported_at, created_at, updated_at) "
    "SELECT ('0195f000-0000-7000-8000-' || lpad(to_hex(t.i), 12, '0'))::uuid, p.provider, "
    "       p.model, "
    "       500 + (random() * 150000)::bigint, 50 + (random() * 16000)::bigint, "
    "       (random() * 600000)::bigint, (random() * 40000)::bigint, "
    "       t.created + k * interval '1 second', t.created + k * interval '1 second', "
    "       t.created + interval '10 minutes' "
    "  FROM t CROSS JOIN generate_series(0, 1) AS k "
    "  JOIN pairs p ON p.n = (t.pair + k * 3) % 6";

/* The baseline: every bucket from scratch in one GROUP BY over all of history, inserted in
 * key order (twice as fast as unordered here) into the empty hourly table, with the same
 * project and cost the rollup computes (the catalogue's segments for every workspace and
 * model, usage.row_cost per row). The rollup's own window
 * primitive over '-infinity'..now() does the same work through per-hour range scans and is
 * much slower than this, so this is the stricter baseline. Returns the number of buckets. */
static const char *const full_sql =
    "WITH seg AS ("
    " SELECT s.* FROM (SELECT array_agg(w) AS w, array_agg(p) AS p, array_agg(m) AS m "
    "   FROM (SELECT DISTINCT workspace_id AS w FROM usage.task_attribution) ws, "
    "        (SELECT DISTINCT provider AS p, model AS m FROM usage.task_usage) pm) k "
    " CROSS JOIN LATERAL usage.price_segments(k.w, k.p, k.m) s), "
    "ins AS ("
    " INSERT INTO usage.task_usage_hourly (workspace_id, runtime_id, agent_id, project_id, "
    "        provider, model, bucket_hour, input_tokens, output_tokens, cache_read_tokens, "
    "        cache_write_tokens, task_count, cost_usd_ticks, uncosted_input_tokens, "
    "        uncosted_output_tokens, uncosted_cache_read_tokens, uncosted_cache_write_tokens, "
    "        estimated_cost_usd_ticks, unpriced_tokens) "
    " SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id, u.provider, u.model, "
    "        date_trunc('hour', u.created_at, 'UTC'), sum(u.input_tokens), sum(u.output_tokens), "
    "        sum(u.cache_read_tokens), sum(u.cache_write_tokens), count(*), "
    "        sum(c.cost_usd_ticks), sum(c.uncosted_input_tokens), sum(c.uncosted_output_tokens), "
    "        sum(c.uncosted_cache_read_tokens), sum(c.uncosted_cache_write_tokens), "
    "        sum(c.estimated_cost_usd_ticks), sum(c.unpriced_tokens) "
    "   FROM usage.task_usage u "
    "   JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL "
    "   LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id "
    "   LEFT JOIN seg s ON s.workspace_id = a.workspace_id AND s.provider = u.provider "
    "        AND s.model = u.model AND u.created_at >= s.valid_from "
    "        AND (s.valid_until IS NULL OR u.created_at < s.valid_until) "
    "  CROSS JOIN LATERAL usage.row_cost(u.input_tokens, u.output_tokens, u.cache_read_tokens, "
    "        u.cache_write_tokens, u.cost_usd_ticks, s.input_ticks_per_mtok, "
    "        s.output_ticks_per_mtok, s.cache_read_ticks_per_mtok, s.cache_write_ticks_per_mtok) c "
    "  GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 5, 6, 7, 4 "
    " RETURNING 1) "
    "SELECT count(*) FROM ins";

static const char *const recent_sql =
    "UPDATE usage.task_usage u SET output_tokens = u.output_tokens + 1, "
    "       reported_at = u.reported_at + interval '1 millisecond', updated_at = now() "
    "  FROM (SELECT task_id, provider, model FROM usage.task_usage "
    "         ORDER BY date_trunc('hour', created_at AT TIME ZONE 'UTC') DESC, created_at DESC "
    "         LIMIT $1::int) c "
    " WHERE (u.task_id, u.provider, u.model) = (c.task_id, c.provider, c.model)";

static const char *const scattered_sql =
    "UPDATE usage.task_usage u SET output_tokens = u.output_tokens + 1, "
    "       reported_at = u.reported_at + interval '1 millisecond', updated_at = now() "
    "  FROM bench_scattered c "
    " WHERE (u.task_id, u.provider, u.model) = (c.task_id, c.provider, c.model)";

/* Token and task totals of the hourly table minus those of ground truth, and the bucket
 * count difference: all 0 when every tick applied its changes (each changes output_tokens). */
static const char *const check_sql =
    "SELECT abs(h.o - r.o) + abs(h.i - r.i) + abs(h.t - r.t) FROM "
    " (SELECT coalesce(sum(output_tokens), 0) AS o, coalesce(sum(input_tokens), 0) AS i, "
    "         coalesce(sum(task_count), 0) AS t FROM usage.task_usage_hourly) h, "
    " (SELECT coalesce(sum(u.output_tokens), 0) AS o, coalesce(sum(u.input_tokens), 0) AS i, "
    "         count(*) AS t "
    "    FROM usage.task_usage u "
    "    JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL) r";

/* Where a tick's time can go besides its own CPU, read around it (pg_stat_wal is cluster-wide,
 * so the WAL writer's writes count; reads are this database's): WAL bytes, full-page images,
 * milliseconds writing and syncing WAL, blocks read from outside shared buffers and the
 * milliseconds it took. Reported, never part of a figure. */
static const char *const io_sql =
    "SELECT (pg_current_wal_lsn() - '0/0')::bigint, w.wal_fpi, "
    "       (w.wal_write_time + w.wal_sync_time)::bigint, d.blks_read, d.blk_read_time::bigint "
    "  FROM pg_stat_wal w, pg_stat_database d WHERE d.datname = current_database()";
#define IO_N 5

struct series {
    double s[MAX_REPEAT];
    long buckets[MAX_REPEAT];
    long long io[MAX_REPEAT][IO_N];
    int n;
};

/* Times one statement returning one integer. */
static double timed(PGconn *c, const char *sql, long *value)
{
    double t0 = bu_now();
    int64_t v = bu_sql_int(c, sql);
    double t = bu_now() - t0;
    if (value != NULL)
        *value = (long)v;
    return t;
}

static void print_series(const char *name, const struct series *s)
{
    printf(",\"%s_s\":[", name);
    for (int i = 0; i < s->n; i++)
        printf("%s%.4f", i ? "," : "", s->s[i]);
    printf("],\"%s_median_s\":%.4f,\"%s_buckets\":[", name, bu_median(s->s, s->n), name);
    for (int i = 0; i < s->n; i++)
        printf("%s%ld", i ? "," : "", s->buckets[i]);
    printf("]");
}

/* The counters of io_sql, once this session's statistics are flushed. */
static void io_read(PGconn *c, long long *v)
{
    bu_sql(c, "SELECT pg_stat_force_next_flush()", 0, NULL);
    PGresult *r = PQexec(c, io_sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        fprintf(stderr, "multica-bench-rollup: %s", PQerrorMessage(c));
        exit(1);
    }
    for (int i = 0; i < IO_N; i++)
        v[i] = atoll(PQgetvalue(r, 0, i));
    PQclear(r);
}

static void print_io(const char *name, const struct series *s)
{
    static const char *const keys[IO_N] = {"wal_mb", "wal_fpi", "wal_io_ms", "blks_read",
                                           "read_ms"};
    for (int k = 0; k < IO_N; k++) {
        printf(",\"%s_%s\":[", name, keys[k]);
        for (int i = 0; i < s->n; i++) {
            if (k == 0)
                printf("%s%.1f", i ? "," : "", (double)s->io[i][k] / 1048576.0);
            else
                printf("%s%lld", i ? "," : "", s->io[i][k]);
        }
        printf("]");
    }
}

static void tick(PGconn *c, const char *change_sql, long changes, struct series *out)
{
    char n[32];
    snprintf(n, sizeof n, "%ld", changes);
    const char *p[] = {n};
    /* The watermark sits just before the changes, which commit in their own transaction
     * (now() is the transaction start, so the tick's window [watermark, now()) holds them). */
    bu_sql(c, "SELECT usage.stamp_rollup_watermark(now())", 0, NULL);
    /* The scheduler publishes and acknowledges the outbox every tick; start each tick from an
     * empty one, as it would. */
    bu_sql(c, "TRUNCATE usage.hourly_outbox", 0, NULL);
    bu_sql(c, change_sql, change_sql == recent_sql ? 1 : 0, change_sql == recent_sql ? p : NULL);
    bu_sql(c, "CHECKPOINT", 0, NULL);
    long long before[IO_N];
    io_read(c, before);
    out->s[out->n] = timed(c, "SELECT usage.rollup_task_usage_hourly()", &out->buckets[out->n]);
    io_read(c, out->io[out->n]);
    for (int i = 0; i < IO_N; i++)
        out->io[out->n][i] -= before[i];
    out->n++;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *sizes = NULL;
    long changes = 10000;
    int repeat = 3, months = 24, scattered = 1;
    long scattered_max = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            url = argv[i + 1];
        else if (strcmp(argv[i], "--sizes") == 0)
            sizes = argv[i + 1];
        else if (strcmp(argv[i], "--changes") == 0)
            changes = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--months") == 0)
            months = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--scattered") == 0)
            scattered = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--scattered-max-rows") == 0)
            scattered_max = atol(argv[i + 1]);
    }
    if (url == NULL || sizes == NULL || changes <= 0 || repeat < 1 || repeat > MAX_REPEAT ||
        months < 1 || scattered < 0 || scattered > MAX_REPEAT) {
        fprintf(stderr, "usage: multica-bench-rollup --db URL --sizes N,N,N [--changes N] "
                        "[--repeat R] [--months M] [--scattered R] [--scattered-max-rows N]\n");
        return 2;
    }
    PGconn *c = bu_connect(url);
    bu_sql(c, "SET multica.rollup_safety_lag = '0'", 0, NULL);
    /* For the ticks' I/O figures (io_sql); the bench connects as a superuser. */
    bu_sql(c, "SET track_io_timing = on", 0, NULL);
    bu_sql(c, "SET track_wal_io_timing = on", 0, NULL);
    /* History is loaded with an updated_at before the watermark, as a backfill would leave
     * it: the rollup takes it as rolled up (the full recompute below puts it in the hourly
     * table), so the load logs no changes for the tick to fold. */
    bu_sql(c, "SELECT usage.stamp_rollup_watermark(now())", 0, NULL);
    PGresult *anchor = PQexec(c, "SELECT now() - interval '1 hour'");
    char end[64];
    snprintf(end, sizeof end, "%s", PQgetvalue(anchor, 0, 0));
    PQclear(anchor);
    long tasks = 0;
    char *list = strdup(sizes);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long rows = atol(tok);
        long want_tasks = rows / 2;
        if (want_tasks <= tasks) {
            fprintf(stderr, "multica-bench-rollup: sizes must grow\n");
            return 2;
        }
        char from[32], to[32], m[16];
        snprintf(from, sizeof from, "%ld", tasks);
        snprintf(to, sizeof to, "%ld", want_tasks);
        snprintf(m, sizeof m, "%d", months);
        const char *p[] = {from, to, m, end};
        double t0 = bu_now();
        /* Bulk load: the secondary indexes of task_usage are dropped and built again after the
         * layer (their exact definitions, read from the catalog), as one would load 10M rows. */
        PGresult *defs = PQexec(c, "SELECT indexname, indexdef FROM pg_indexes WHERE "
                                   "schemaname = 'usage' AND tablename = 'task_usage' AND "
                                   "indexname <> 'task_usage_pkey'");
        if (PQresultStatus(defs) != PGRES_TUPLES_OK) {
            fprintf(stderr, "multica-bench-rollup: %s", PQerrorMessage(c));
            return 1;
        }
        for (int i = 0; i < PQntuples(defs); i++) {
            const char *name[] = {PQgetvalue(defs, i, 0)};
            PGresult *drop = PQexecParams(c, "SELECT format('DROP INDEX usage.%I', $1::text)", 1,
                                          NULL, name, NULL, NULL, 0);
            bu_sql(c, PQgetvalue(drop, 0, 0), 0, NULL);
            PQclear(drop);
        }
        bu_sql(c, gen_attribution_sql, 4, p);
        bu_sql(c, gen_usage_sql, 4, p);
        for (int i = 0; i < PQntuples(defs); i++)
            bu_sql(c, PQgetvalue(defs, i, 1), 0, NULL);
        PQclear(defs);
        bu_sql(c, "VACUUM ANALYZE usage.task_usage", 0, NULL);
        bu_sql(c, "VACUUM ANALYZE usage.task_attribution", 0, NULL);
        double gen = bu_now() - t0;
        tasks = want_tasks;
        long have = (long)bu_sql_int(c, "SELECT count(*) FROM usage.task_usage");

        struct series full = {0}, first = {0}, recent = {0}, scat = {0};
        for (int r = 0; r < repeat; r++) {
            bu_sql(c, "TRUNCATE usage.task_usage_hourly", 0, NULL);
            bu_sql(c, "CHECKPOINT", 0, NULL);
            full.s[full.n] = timed(c, full_sql, &full.buckets[full.n]);
            full.n++;
        }
        tick(c, recent_sql, changes, &first);
        for (int r = 0; r < repeat; r++)
            tick(c, recent_sql, changes, &recent);
        bool scatter = scattered > 0 && (scattered_max <= 0 || have <= scattered_max);
        if (scatter) {
            char n[32];
            snprintf(n, sizeof n, "%ld", changes);
            const char *pn[] = {n};
            bu_sql(c, "DROP TABLE IF EXISTS bench_scattered", 0, NULL);
            bu_sql(c,
                   "CREATE TEMP TABLE bench_scattered AS SELECT task_id, provider, model "
                   "FROM usage.task_usage ORDER BY random() LIMIT $1::int",
                   1, pn);
            for (int r = 0; r < scattered; r++)
                tick(c, scattered_sql, changes, &scat);
        }
        double t1 = bu_now();
        long diff = (long)bu_sql_int(c, check_sql);
        double check = bu_now() - t1;
        long hours = (long)bu_sql_int(c, "SELECT count(DISTINCT bucket_hour) FROM "
                                         "usage.task_usage_hourly");
        printf("{\"rows\":%ld,\"tasks\":%ld,\"changes\":%ld,\"hours\":%ld,\"generate_s\":%.2f",
               have, tasks, changes, hours, gen);
        print_series("full", &full);
        print_series("tick_first", &first);
        print_io("tick_first", &first);
        print_series("tick", &recent);
        print_io("tick", &recent);
        if (scatter) {
            print_series("scattered", &scat);
            print_io("scattered", &scat);
        }
        printf(",\"check_s\":%.2f,\"check_differences\":%ld,\"ok\":%s}\n", check, diff,
               diff == 0 ? "true" : "false");
        fflush(stdout);
        if (diff != 0) {
            fprintf(stderr,
                    "multica-bench-rollup: the hourly table differs from ground truth "
                    "in %ld rows\n",
                    diff);
            return 1;
        }
    }
    free(list);
    PQfinish(c);
    return 0;
}
