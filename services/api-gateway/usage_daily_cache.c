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
 * The runtime's unfolded changes (usage.usage_delta_parts) are kept too, priced and summed into
 * the same groups, so that a busy runtime's read prices only the changes it has not seen (each
 * change was attributed and priced on every read: about 2 ms at 300 changes, docs/PERFORMANCE.md,
 * read10). Their position is the transaction that logged them (logged_xid, migration 0027) and
 * a read's boundary its snapshot's oldest running transaction: below it no change can still
 * commit, so a read keeps the sums of the changes below its boundary (struct kept_delta) and the
 * next asks usage.usage_fresh_parts only for those from that boundary on. The kept sums hold
 * while the entry (rollup revision, pairs) is the same, the price catalogue's revision and the
 * hours taken whole are the same (a move, a deletion or a price change queues or re-prices
 * what they cover), and none of the changes below the boundary went (their count: a fold or a
 * recompute deletes changes, a move restamps them, so the count only falls); otherwise the
 * read asks for every change again. Kept per read parameters (runtime, user, token, ?tz, days),
 * the newest boundary only.
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
#define MAX_DELTAS  1024

/* Columns of GW_USAGE_DAILY_FRESH and GW_USAGE_DAILY_FILL. */
enum {
    R_RUNTIME = 3,
    R_SINCE,
    R_UTC_DAY,
    R_REVISION,
    R_MARK,
    R_BOUNDARY,
    R_N_BEFORE,
    R_N_SETTLED,
    R_SETTLED,
    R_DAY,
    R_PROVIDER,
    R_MODEL,
    R_MEASURES
};
enum { F_REVISION, F_UTC_DAY, F_DAY, F_PROVIDER, F_MODEL, F_RANK, F_MEASURES };

struct group {
    long day;
    int pair; /* index in the entry's pairs (their order in the database's collation) */
    struct gw_usage_sums sums;
};

struct entry {
    char *key;
    unsigned long long id; /* this fill, among all the cache made */
    long long revision;
    int npairs, ngroups;
    char **provider, **model; /* [npairs] */
    struct group *groups;     /* date descending, then pair */
    char *json;               /* the answer of these groups alone (nothing fresh), built once */
    size_t json_len;
    size_t bytes;
    unsigned long long used; /* the cache's clock when last read */
    int refs;                /* readers, and 1 while in the cache */
};

/* A runtime's unfolded changes logged below boundary, summed into the groups of one entry
 * (pairs by its index), for one set of read parameters. Immutable once kept, replaced whole. */
struct kept_delta {
    char *params;                /* the read's $1..$5 */
    char *key;                   /* the entry's key, */
    unsigned long long entry_id; /* and the entry, its groups' pairs are of */
    char *mark;                  /* price revision and hours taken whole (R_MARK) */
    char *boundary;              /* the xid8 below which they are all here */
    unsigned long long boundary_v;
    long long n_settled; /* how many changes that is (R_N_SETTLED) */
    int ngroups;
    struct group *groups; /* date descending, then pair */
    unsigned long long used;
    int refs;
};

struct gw_usage_cache {
    pthread_mutex_t mu;
    struct entry *e[MAX_ENTRIES];
    int n;
    size_t bytes;
    unsigned long long clock, fills;
    struct kept_delta *d[MAX_DELTAS];
    int nd;
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
        free(e->json);
        free(e->key);
    }
    free(e);
}

static void delta_free(struct kept_delta *d)
{
    if (d) {
        free(d->params);
        free(d->key);
        free(d->mark);
        free(d->boundary);
        free(d->groups);
    }
    free(d);
}

void gw_usage_cache_free(struct gw_usage_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->n; i++)
        entry_free(c->e[i]);
    for (int i = 0; i < c->nd; i++)
        delta_free(c->d[i]);
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
    e->id = __atomic_add_fetch(&c->fills, 1, __ATOMIC_RELAXED);
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

static char *answer(const struct entry *e, const struct group *fresh, int nf, const char *runtime);

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
    /* A quiet runtime's read adds nothing to these groups: its answer is this text, built
     * once here rather than on every read. */
    e->json = answer(e, NULL, 0, PQgetvalue(r, 0, R_RUNTIME));
    if (e->json == NULL) {
        entry_free(e);
        return NULL;
    }
    e->json_len = strlen(e->json);
    e->bytes = sizeof *e + (size_t)e->ngroups * sizeof *e->groups + strlen(e->key) +
               64 * (size_t)e->npairs + e->json_len;
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

/* The read's parameters a kept_delta answers: $1..$5 of GW_USAGE_DAILY_FRESH. */
static char *params_of(const char *const *p)
{
    return mc_sprintf("%s|%s|%s|%s|%s", p[0], p[1] ? p[1] : "-", p[2] ? p[2] : "-",
                      p[3] ? p[3] : "-", p[4]);
}

static void delta_release(struct gw_usage_cache *c, struct kept_delta *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    if (--d->refs == 0)
        delta_free(d);
    pthread_mutex_unlock(&c->mu);
}

/* The changes kept for params (a reference the caller releases), or NULL. */
static struct kept_delta *delta_lookup(struct gw_usage_cache *c, const char *params)
{
    struct kept_delta *found = NULL;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->nd && found == NULL; i++)
        if (strcmp(c->d[i]->params, params) == 0)
            found = c->d[i];
    if (found) {
        found->used = ++c->clock;
        found->refs++;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Keeps d in place of the changes kept for its params (the least recently used going when
 * full); the caller's reference is handed over. */
static void delta_keep(struct gw_usage_cache *c, struct kept_delta *d)
{
    pthread_mutex_lock(&c->mu);
    int at = -1;
    for (int i = 0; i < c->nd && at < 0; i++)
        if (strcmp(c->d[i]->params, d->params) == 0)
            at = i;
    if (at < 0 && c->nd == MAX_DELTAS) {
        at = 0;
        for (int i = 1; i < c->nd; i++)
            if (c->d[i]->used < c->d[at]->used)
                at = i;
    }
    if (at < 0) {
        at = c->nd++;
    } else if (--c->d[at]->refs == 0) {
        delta_free(c->d[at]);
    }
    d->used = ++c->clock;
    c->d[at] = d;
    pthread_mutex_unlock(&c->mu);
}

const char *gw_usage_daily_after(struct gw_ctx *ctx, const char *const *p, char *buf, size_t len)
{
    snprintf(buf, len, "0");
    char *params = params_of(p);
    struct kept_delta *d = params ? delta_lookup(ctx->usage_cache, params) : NULL;
    if (d != NULL)
        snprintf(buf, len, "%s", d->boundary);
    delta_release(ctx->usage_cache, d);
    free(params);
    return buf;
}

/* Merges two runs of groups in the answer's order into out (room for na + nb), summing the
 * groups of the same key. Returns how many. */
static int merge(const struct group *a, int na, const struct group *b, int nb, struct group *out)
{
    int n = 0;
    for (int i = 0, j = 0; i < na || j < nb;) {
        int c = i == na ? 1 : j == nb ? -1 : cmp(&a[i], &b[j]);
        out[n] = c <= 0 ? a[i++] : b[j++];
        if (c == 0)
            gw_usage_sums_add(&out[n].sums, &b[j++].sums);
        n++;
    }
    return n;
}

/* The fresh rows of r (GW_USAGE_DAILY_FRESH) as groups of e's pairs: those of changes below
 * the read's boundary (settled, kept after it) into *settled, the others (this read's only)
 * into *other, each a run in the answer's order. Returns false when a row's pair is not
 * among e's; true otherwise (the arrays NULL: out of memory). */
static bool fresh_groups(const struct entry *e, const PGresult *r, struct group **settled, int *ns,
                         struct group **other, int *no)
{
    int n = PQntuples(r);
    *ns = *no = 0;
    *settled = malloc(((size_t)n + 1) * sizeof **settled);
    *other = malloc(((size_t)n + 1) * sizeof **other);
    if (*settled == NULL || *other == NULL) {
        free(*settled);
        free(*other);
        *settled = *other = NULL;
        return true;
    }
    /* The fresh rows come in the answer's order, so their groups are runs. */
    for (int i = 0; i < n && !PQgetisnull(r, i, R_DAY); i++) {
        int pair = pair_of(e, PQgetvalue(r, i, R_PROVIDER), PQgetvalue(r, i, R_MODEL));
        if (pair < 0) {
            free(*settled);
            free(*other);
            *settled = *other = NULL;
            return false;
        }
        long day = strtol(PQgetvalue(r, i, R_DAY), NULL, 10);
        bool kept = strcmp(PQgetvalue(r, i, R_SETTLED), "t") == 0;
        struct group *g = kept ? *settled : *other;
        int *ng = kept ? ns : no;
        if (*ng == 0 || g[*ng - 1].day != day || g[*ng - 1].pair != pair)
            g[(*ng)++] = (struct group){.day = day, .pair = pair};
        gw_usage_sums_row(&g[*ng - 1].sums, r, i, R_MEASURES);
    }
    return true;
}

/* Whether d's sums hold for the read r (GW_USAGE_DAILY_FRESH, asked from d's boundary) with
 * entry e: the same entry, key, catalogue revision and hours taken whole, a boundary not
 * behind d's, and every change d counted still there. */
static bool delta_holds(const struct kept_delta *d, const struct entry *e, const char *key,
                        const PGresult *r, const char *after)
{
    return d != NULL && d->entry_id == e->id && strcmp(d->key, key) == 0 &&
           strcmp(d->boundary, after) == 0 && strcmp(d->mark, PQgetvalue(r, 0, R_MARK)) == 0 &&
           strtoull(PQgetvalue(r, 0, R_BOUNDARY), NULL, 10) >= d->boundary_v &&
           strtoll(PQgetvalue(r, 0, R_N_BEFORE), NULL, 10) == d->n_settled;
}

/* The kept changes after the read r: d's (NULL: none) and r's settled groups; NULL when out of
 * memory. */
static struct kept_delta *delta_next(const struct kept_delta *d, const struct group *s, int ns,
                                     const struct entry *e, const char *params, const char *key,
                                     const PGresult *r)
{
    struct kept_delta *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    int nd = d ? d->ngroups : 0;
    x->refs = 1;
    x->params = strdup(params);
    x->key = strdup(key);
    x->entry_id = e->id;
    x->mark = strdup(PQgetvalue(r, 0, R_MARK));
    x->boundary = strdup(PQgetvalue(r, 0, R_BOUNDARY));
    x->boundary_v = strtoull(x->boundary ? x->boundary : "0", NULL, 10);
    x->n_settled = strtoll(PQgetvalue(r, 0, R_N_SETTLED), NULL, 10);
    x->groups = malloc(((size_t)nd + (size_t)ns + 1) * sizeof *x->groups);
    if (x->params == NULL || x->key == NULL || x->mark == NULL || x->boundary == NULL ||
        x->groups == NULL) {
        delta_free(x);
        return NULL;
    }
    x->ngroups = merge(d ? d->groups : NULL, nd, s, ns, x->groups);
    return x;
}

/* The answer from e's groups and the fresh ones (in the answer's order): e's own text when
 * there is no fresh one (the runtime is e's: it is in e's key). */
static char *answer(const struct entry *e, const struct group *fresh, int nf, const char *runtime)
{
    if (nf == 0 && e->json != NULL) {
        char *copy = malloc(e->json_len + 1);
        if (copy != NULL)
            memcpy(copy, e->json, e->json_len + 1);
        return copy;
    }
    char *json = NULL;
    struct gw_usage_json o;
    if (gw_usage_json_open(&o, (size_t)(e->ngroups + nf))) {
        for (int i = 0, j = 0; i < e->ngroups || j < nf;) {
            int c = i == e->ngroups ? 1 : j == nf ? -1 : cmp(&e->groups[i], &fresh[j]);
            struct group g = c <= 0 ? e->groups[i++] : fresh[j++];
            if (c == 0)
                gw_usage_sums_add(&g.sums, &fresh[j++].sums);
            gw_usage_json_group(&o, g.day, e->provider[g.pair], e->model[g.pair], runtime, &g.sums);
        }
        json = gw_usage_json_close(&o);
    }
    return json;
}

/* The answer of the read r with entry e (its revision and key r's): e's groups, the changes kept
 * for params when they hold (else r must hold every change: after "0"), and r's fresh rows;
 * the changes below r's boundary kept for the next read. Returns false when r's rows are only
 * the newer changes and the kept ones do not hold (*json NULL: ask again from "0"), or when a
 * fresh row's pair is not among e's (*json NULL, *unknown); true otherwise (*json NULL: out of
 * memory). */
static bool answer_with_changes(struct gw_ctx *ctx, const struct entry *e, const char *key,
                                const char *params, const PGresult *r, const char *after,
                                char **json, bool *unknown)
{
    struct gw_usage_cache *c = ctx->usage_cache;
    *json = NULL;
    *unknown = false;
    struct kept_delta *d = delta_lookup(c, params);
    bool holds = delta_holds(d, e, key, r, after);
    if (holds)
        mc_metric_add(ctx->m.usage_kept_changes, 1);
    if (!holds && strcmp(after, "0") != 0) {
        delta_release(c, d);
        return false;
    }
    struct group *s = NULL, *o = NULL, *fresh = NULL;
    int ns = 0, no = 0;
    if (!fresh_groups(e, r, &s, &ns, &o, &no)) {
        delta_release(c, d);
        *unknown = true;
        return false;
    }
    struct kept_delta *next = s ? delta_next(holds ? d : NULL, s, ns, e, params, key, r) : NULL;
    delta_release(c, d);
    if (next != NULL &&
        (fresh = malloc(((size_t)next->ngroups + (size_t)no + 1) * sizeof *fresh)) != NULL) {
        int nf = merge(next->groups, next->ngroups, o, no, fresh);
        *json = answer(e, fresh, nf, PQgetvalue(r, 0, R_RUNTIME));
    }
    if (next != NULL && *json != NULL)
        delta_keep(c, next);
    else
        delta_free(next);
    free(fresh);
    free(s);
    free(o);
    return true;
}

char *gw_usage_daily_cached(struct gw_ctx *ctx, mc_db *db, PGresult **r, const char *const *p,
                            int *rc)
{
    *rc = 0;
    char *params = params_of(p);
    if (params == NULL)
        return NULL;
    /* The read's parameters with the boundary it asks from (p[5]); "0" once the kept changes
     * do not hold. */
    const char *q[] = {p[0], p[1], p[2], p[3], p[4], p[5]};
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        if (attempt > 0) {
            PQclear(*r);
            *r = NULL;
            if ((*rc = mc_db_exec(db, GW_USAGE_DAILY_FRESH, 6, q, r)) != 0) {
                free(params);
                return NULL;
            }
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
        if (*rc != 0 || e == NULL) {
            free(key);
            free(params);
            return NULL;
        }
        if (!same) {
            /* The rollup wrote in between, or UTC midnight passed: read the fresh rows again. */
            free(key);
            release(ctx->usage_cache, e);
            continue;
        }
        char *json = NULL;
        bool unknown = false;
        bool answered = answer_with_changes(ctx, e, key, params, cur, q[5], &json, &unknown);
        free(key);
        release(ctx->usage_cache, e);
        if (unknown)
            break;
        if (!answered) {
            /* The kept changes do not hold (a fold, a move, a price change, another entry):
             * read every change again. */
            q[5] = "0";
            continue;
        }
        if (hit)
            mc_metric_add(ctx->m.usage_kept_hits, 1);
        free(params);
        return json;
    }
    free(params);
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
