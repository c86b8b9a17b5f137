/* usage_daily_cache.c: the runtime's daily usage read (rollup) with the rollup's part kept in
 * memory, and the rows it has not reached added on every read.
 *
 * Why: the read's cost was the rollup's rows of the whole window, about 3 ms of Postgres a
 * read, for rows that change only when the rollup writes. What is kept, per (runtime, zone,
 * window start, UTC date), is those rows grouped and summed as if no hour were fresh
 * (usage.usage_rollup_window), with the value of usage.rollup_revision read in the same
 * snapshot; the revision is raised in the transaction of every statement that changes the
 * rollup's tables, so equal revisions mean equal rollup rows. Every read runs one statement
 * (GW_USAGE_DAILY_FRESH: one round trip, one snapshot, read-only) giving the revision and, for
 * the hours the rollup has not reached, their buckets negated and task_usage's rows: the kept
 * groups plus these are usage.usage_rows' rows, so the answer is byte for byte the uncached
 * one, for a runtime reporting all the time (rows past the watermark) as for a quiet one.
 *
 * Groups are ordered as the answer is (date descending, then provider and model in the
 * database's collation): the kept rows carry each (provider, model)'s rank in that order, and a
 * fresh group orders by the rank of its pair. A pair the kept rows do not have (a model first
 * used since the rollup's last run) has no rank here: that read goes to today's statement,
 * until the rollup reaches it.
 *
 * Bounded: at most MAX_ENTRIES entries and MAX_BYTES of groups, the least recently used
 * going first. A 30-day entry of a runtime with 12 (provider, model) pairs is about 372 groups
 * (170 kB); a 365-day one at most 4,400 (2 MB): 64 MB holds 380 of the former. Entries are
 * immutable once kept and counted (refs), so readers use them outside the lock. */
#include "gateway.h"

#include "mc_log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 1024
#define MAX_BYTES   ((size_t)64 << 20)
#define ATTEMPTS    3 /* reads of the fresh rows before today's statement answers */

/* Columns of GW_USAGE_DAILY_FRESH and GW_USAGE_DAILY_FILL. */
enum { R_RUNTIME = 3, R_SINCE, R_UTC_DAY, R_REVISION, R_DAY, R_PROVIDER, R_MODEL, R_MEASURES };
enum { F_REVISION, F_UTC_DAY, F_DAY, F_PROVIDER, F_MODEL, F_RANK, F_MEASURES };

struct group {
    long day;
    int pair; /* index in the entry's pairs (their order in the database's collation) */
    struct gw_usage_sums sums;
};

struct entry {
    char *key;
    long long revision;
    int npairs, ngroups;
    char **provider, **model; /* [npairs] */
    struct group *groups;     /* date descending, then pair */
    size_t bytes;
    unsigned long long used; /* the cache's clock when last read */
    int refs;                /* readers, and 1 while in the cache */
};

struct gw_usage_cache {
    pthread_mutex_t mu;
    struct entry *e[MAX_ENTRIES];
    int n;
    size_t bytes;
    unsigned long long clock;
};

struct gw_usage_cache *gw_usage_cache_new(void)
{
    struct gw_usage_cache *c = calloc(1, sizeof *c);
    if (c != NULL)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(struct entry *e)
{
    for (int i = 0; e && i < e->npairs; i++) {
        free(e->provider[i]);
        free(e->model[i]);
    }
    if (e) {
        free(e->provider);
        free(e->model);
        free(e->groups);
        free(e->key);
    }
    free(e);
}

void gw_usage_cache_free(struct gw_usage_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n; i++)
        entry_free(c->e[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void unref_locked(struct entry *e)
{
    if (--e->refs == 0)
        entry_free(e);
}

static void release(struct gw_usage_cache *c, struct entry *e)
{
    pthread_mutex_lock(&c->mu);
    unref_locked(e);
    pthread_mutex_unlock(&c->mu);
}

static void drop_locked(struct gw_usage_cache *c, int i)
{
    c->bytes -= c->e[i]->bytes;
    unref_locked(c->e[i]);
    c->e[i] = c->e[--c->n];
}

/* The entry kept for key (a reference the caller releases), or NULL. */
static struct entry *lookup(struct gw_usage_cache *c, const char *key)
{
    struct entry *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n && found == NULL; i++)
        if (strcmp(c->e[i]->key, key) == 0)
            found = c->e[i];
    if (found) {
        found->used = ++c->clock;
        found->refs++;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Keeps e in place of the entry of its key, making room; e stays referenced by the caller. */
static void keep(struct gw_usage_cache *c, struct entry *e)
{
    if (e->bytes > MAX_BYTES)
        return;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i]->key, e->key) == 0) {
            drop_locked(c, i);
            break;
        }
    while (c->n > 0 && (c->n == MAX_ENTRIES || c->bytes + e->bytes > MAX_BYTES)) {
        int lru = 0;
        for (int i = 1; i < c->n; i++)
            if (c->e[i]->used < c->e[lru]->used)
                lru = i;
        drop_locked(c, lru);
    }
    e->refs++;
    e->used = ++c->clock;
    c->e[c->n++] = e;
    c->bytes += e->bytes;
    pthread_mutex_unlock(&c->mu);
}

/* What an entry is kept for: the runtime, zone and window start of r (GW_USAGE_DAILY_FRESH),
 * and the UTC date the rollup's rows were read on (their horizon: the end of tomorrow). */
static char *key_of(const PGresult *r, const char *utc_day)
{
    return mc_sprintf("%s|%s|%s|%s", PQgetvalue(r, 0, R_RUNTIME), PQgetvalue(r, 0, 2),
                      PQgetvalue(r, 0, R_SINCE), utc_day);
}

/* An entry from GW_USAGE_DAILY_FILL's result, for the read r (GW_USAGE_DAILY_FRESH) asked
 * it for; NULL when out of memory. */
static struct entry *entry_from(const PGresult *f, const PGresult *r)
{
    int n = PQntuples(f);
    struct entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->refs = 1;
    /* Keyed by the UTC date the fill read with: a fill past UTC midnight is not the read's. */
    e->key = key_of(r, PQgetvalue(f, 0, F_UTC_DAY));
    e->revision = strtoll(PQgetvalue(f, 0, F_REVISION), NULL, 10);
    for (int i = 0; i < n && !PQgetisnull(f, i, F_RANK); i++) {
        int rank = atoi(PQgetvalue(f, i, F_RANK));
        if (rank > e->npairs)
            e->npairs = rank;
    }
    e->provider = calloc((size_t)e->npairs + 1, sizeof *e->provider);
    e->model = calloc((size_t)e->npairs + 1, sizeof *e->model);
    e->groups = malloc(((size_t)n + 1) * sizeof *e->groups);
    if (e->key == NULL || e->provider == NULL || e->model == NULL || e->groups == NULL) {
        entry_free(e);
        return NULL;
    }
    for (int i = 0; i < n && !PQgetisnull(f, i, F_DAY); i++) {
        long day = strtol(PQgetvalue(f, i, F_DAY), NULL, 10);
        int pair = atoi(PQgetvalue(f, i, F_RANK)) - 1;
        if (e->provider[pair] == NULL) {
            e->provider[pair] = strdup(PQgetvalue(f, i, F_PROVIDER));
            e->model[pair] = strdup(PQgetvalue(f, i, F_MODEL));
        }
        if (e->ngroups == 0 || e->groups[e->ngroups - 1].day != day ||
            e->groups[e->ngroups - 1].pair != pair)
            e->groups[e->ngroups++] = (struct group){.day = day, .pair = pair};
        gw_usage_sums_row(&e->groups[e->ngroups - 1].sums, f, i, F_MEASURES);
    }
    bool ok = true;
    for (int i = 0; i < e->npairs; i++)
        ok = ok && e->provider[i] != NULL && e->model[i] != NULL;
    if (!ok) {
        entry_free(e);
        return NULL;
    }
    e->bytes = sizeof *e + (size_t)e->ngroups * sizeof *e->groups + strlen(e->key) +
               64 * (size_t)e->npairs;
    return e;
}

static int pair_of(const struct entry *e, const char *provider, const char *model)
{
    for (int i = 0; i < e->npairs; i++)
        if (strcmp(e->provider[i], provider) == 0 && strcmp(e->model[i], model) == 0)
            return i;
    return -1;
}

/* Orders groups as the answer: date descending, then pair. */
static int cmp(const struct group *a, const struct group *b)
{
    if (a->day != b->day)
        return a->day > b->day ? -1 : 1;
    return (a->pair > b->pair) - (a->pair < b->pair);
}

/* The answer from e's groups and the fresh rows of r (GW_USAGE_DAILY_FRESH). Returns false
 * when a fresh row's pair is not among e's (*json NULL), true otherwise (*json NULL: out of
 * memory). */
static bool answer(const struct entry *e, const PGresult *r, char **json)
{
    *json = NULL;
    int n = PQntuples(r), nf = 0;
    struct group *fresh = malloc(((size_t)n + 1) * sizeof *fresh);
    if (fresh == NULL)
        return true;
    /* The fresh rows come in the answer's order, so their groups are runs. */
    for (int i = 0; i < n && !PQgetisnull(r, i, R_DAY); i++) {
        int pair = pair_of(e, PQgetvalue(r, i, R_PROVIDER), PQgetvalue(r, i, R_MODEL));
        if (pair < 0) {
            free(fresh);
            return false;
        }
        long day = strtol(PQgetvalue(r, i, R_DAY), NULL, 10);
        if (nf == 0 || fresh[nf - 1].day != day || fresh[nf - 1].pair != pair)
            fresh[nf++] = (struct group){.day = day, .pair = pair};
        gw_usage_sums_row(&fresh[nf - 1].sums, r, i, R_MEASURES);
    }
    const char *runtime = PQgetvalue(r, 0, R_RUNTIME);
    struct gw_usage_json o;
    if (gw_usage_json_open(&o, (size_t)(e->ngroups + nf))) {
        for (int i = 0, j = 0; i < e->ngroups || j < nf;) {
            int c = i == e->ngroups ? 1 : j == nf ? -1 : cmp(&e->groups[i], &fresh[j]);
            struct group g = c <= 0 ? e->groups[i++] : fresh[j++];
            if (c == 0)
                gw_usage_sums_add(&g.sums, &fresh[j++].sums);
            gw_usage_json_group(&o, g.day, e->provider[g.pair], e->model[g.pair], runtime, &g.sums);
        }
        *json = gw_usage_json_close(&o);
    }
    free(fresh);
    return true;
}

char *gw_usage_daily_cached(struct gw_ctx *ctx, mc_db *db, PGresult **r, const char *const *p,
                            int *rc)
{
    *rc = 0;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt > 0) {
            PQclear(*r);
            *r = NULL;
            if ((*rc = mc_db_exec(db, GW_USAGE_DAILY_FRESH, 5, p, r)) != 0)
                return NULL;
            if (PQgetisnull(*r, 0, R_REVISION))
                break; /* no longer readable: today's statement answers as it does */
        }
        const PGresult *cur = *r;
        char *key = key_of(cur, PQgetvalue(cur, 0, R_UTC_DAY));
        long long revision = strtoll(PQgetvalue(cur, 0, R_REVISION), NULL, 10);
        struct entry *e = lookup(ctx->usage_cache, key);
        bool hit = e != NULL && e->revision == revision;
        if (!hit) {
            if (e != NULL)
                release(ctx->usage_cache, e);
            e = NULL;
            PGresult *f = NULL;
            const char *fp[] = {PQgetvalue(cur, 0, R_RUNTIME), PQgetvalue(cur, 0, R_SINCE),
                                PQgetvalue(cur, 0, 2)};
            *rc = mc_db_exec(db, GW_USAGE_DAILY_FILL, 3, fp, &f);
            if (*rc == 0 && (e = entry_from(f, cur)) != NULL)
                keep(ctx->usage_cache, e);
            PQclear(f);
            mc_metric_add(ctx->m.usage_kept_fills, 1);
        }
        bool same = e != NULL && e->revision == revision && strcmp(e->key, key) == 0;
        free(key);
        if (*rc != 0 || e == NULL)
            return NULL;
        if (!same) {
            /* The rollup wrote in between, or UTC midnight passed: read the fresh rows again. */
            release(ctx->usage_cache, e);
            continue;
        }
        char *json = NULL;
        bool known = answer(e, cur, &json);
        release(ctx->usage_cache, e);
        if (!known)
            break;
        if (hit)
            mc_metric_add(ctx->m.usage_kept_hits, 1);
        return json;
    }
    /* A pair the rollup has not reached, or a rollup writing faster than this reads. */
    mc_metric_add(ctx->m.usage_kept_fallbacks, 1);
    PGresult *old = NULL;
    if ((*rc = mc_db_exec(db, GW_USAGE_DAILY, 5, p, &old)) != 0)
        return NULL;
    char *json = gw_usage_daily_json(old);
    PQclear(old);
    return json;
}

int gw_usage_warm(mc_db *db, void *arg)
{
    (void)arg;
    return mc_db_exec(db, GW_USAGE_WARM, 0, NULL, NULL);
}
