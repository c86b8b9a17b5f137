/* usage_daily_rows.c: a runtime's daily usage read (rollup) grouped, summed and written as JSON
 * in one pass over the rows Postgres gives, byte for byte the text gateway.runtime_usage_daily
 * writes (json_agg of to_json rows).
 *
 * Why here and not in SQL: Postgres grouped ~372 rows into ~186 groups, summed 13 numerics
 * each and ran json_agg(to_json(...)), which looks up each column's type and output function
 * for every row; sending the sorted rows instead costs it about 0.45 ms less a read, and this
 * pass about 0.15 ms (docs/PERFORMANCE.md, branch read5). The rows come sorted by the read's
 * order (date DESC, provider, model, in the database's collation), so a group is a run of
 * equal keys and one pass sums it in 128-bit integers: each value fits a bigint
 * (usage.usage_row), and a run is far below 2^64 values. The sums and the writer are shared with
 * the read kept in memory (usage_daily_cache.c), which adds sums of groups. */
#include "gateway.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns of GW_USAGE_DAILY from ROW_DAY on: the day (days since 2000-01-01), provider
 * (lower-cased), model, then usage.usage_row's twelve measures in its order. */
enum { ROW_RUNTIME = 3, ROW_DAY, ROW_PROVIDER, ROW_MODEL, ROW_MEASURES };
enum { M_IN, M_OUT, M_CREAD, M_CWRITE, M_TASKS, M_COST, M_UIN, M_UOUT, M_UCREAD, M_UCWRITE, M_EST };

/* The JSON keys in the order of gateway.runtime_usage_daily's row, each with its sum:
 * a measure, or -1 for total_cost_usd_ticks (reported plus estimated cost, per row). */
static const struct {
    const char *key;
    int m;
} fields[] = {
    {",\"input_tokens\":", M_IN},
    {",\"output_tokens\":", M_OUT},
    {",\"cache_read_tokens\":", M_CREAD},
    {",\"cache_write_tokens\":", M_CWRITE},
    {",\"cost_usd_ticks\":", M_COST},
    {",\"uncosted_input_tokens\":", M_UIN},
    {",\"uncosted_output_tokens\":", M_UOUT},
    {",\"uncosted_cache_read_tokens\":", M_UCREAD},
    {",\"uncosted_cache_write_tokens\":", M_UCWRITE},
    {",\"estimated_cost_usd_ticks\":", M_EST},
    {",\"total_cost_usd_ticks\":", -1},
    {",\"unpriced_tokens\":", GW_USAGE_MEASURES - 1},
    {",\"task_count\":", M_TASKS},
};

/* The answer is appended to a buffer sized once (struct gw_usage_json): with stdio (fprintf
 * per value) and 128-bit division for every digit, a 372-row read took 530 us, now about 150. */
static void put_n(struct gw_usage_json *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->failed = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put(struct gw_usage_json *o, const char *s)
{
    put_n(o, s, strlen(s));
}

static void put_i128(struct gw_usage_json *o, __int128 v)
{
    char buf[48], *p = buf + sizeof buf;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    for (; u > UINT64_MAX; u /= 10) /* 128-bit division is slow: only above 64 bits */
        *--p = (char)('0' + (int)(u % 10));
    uint64_t w = (uint64_t)u;
    do {
        *--p = (char)('0' + (int)(w % 10));
        w /= 10;
    } while (w);
    if (v < 0)
        *--p = '-';
    put_n(o, p, (size_t)(buf + sizeof buf - p));
}

/* A JSON string as Postgres' escape_json writes it. */
static void put_string(struct gw_usage_json *o, const char *s)
{
    put_n(o, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= ' ' && c != '"' && c != '\\')
            continue;
        put_n(o, run, (size_t)(s - run));
        run = s + 1;
        char esc[8];
        switch (c) {
        case '\0':
            put_n(o, "\"", 1);
            return;
        case '\b':
            put(o, "\\b");
            break;
        case '\f':
            put(o, "\\f");
            break;
        case '\n':
            put(o, "\\n");
            break;
        case '\r':
            put(o, "\\r");
            break;
        case '\t':
            put(o, "\\t");
            break;
        case '"':
            put(o, "\\\"");
            break;
        case '\\':
            put(o, "\\\\");
            break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
            put(o, esc);
        }
    }
}

/* Days since 2000-01-01 as "YYYY-MM-DD" (the proleptic Gregorian calendar, as Postgres). */
static void put_date(struct gw_usage_json *o, long days)
{
    long z = days + 10957 + 719468; /* days since 0000-03-01 */
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp < 10 ? mp + 3 : mp - 9;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "\"%04ld-%02ld-%02ld\"", yoe + era * 400 + (m <= 2), m, d);
    put_n(o, buf, (size_t)n);
}

/* A bigint as Postgres writes it (digits, perhaps a minus), without strtoll's locale and
 * range checks: a fifth of the time of a read's ~4,500 values. */
static __int128 bigint_value(const char *s)
{
    bool neg = *s == '-';
    uint64_t u = 0;
    for (s += neg; *s >= '0' && *s <= '9'; s++)
        u = u * 10 + (uint64_t)(*s - '0');
    return neg ? -(__int128)u : (__int128)u;
}

static bool same_key(const PGresult *r, int a, int b)
{
    for (int c = ROW_DAY; c < ROW_MEASURES; c++)
        if (strcmp(PQgetvalue(r, a, c), PQgetvalue(r, b, c)) != 0)
            return false;
    return true;
}

void gw_usage_sums_row(struct gw_usage_sums *s, const PGresult *r, int row, int col)
{
    __int128 v[GW_USAGE_MEASURES];
    bool isnull[GW_USAGE_MEASURES];
    for (int m = 0; m < GW_USAGE_MEASURES; m++) {
        isnull[m] = PQgetisnull(r, row, col + m);
        v[m] = isnull[m] ? 0 : bigint_value(PQgetvalue(r, row, col + m));
        if (!isnull[m]) {
            s->m[m].v += v[m];
            s->m[m].set = true;
        }
    }
    if (!isnull[M_COST] && !isnull[M_EST]) {
        s->total.v += v[M_COST] + v[M_EST];
        s->total.set = true;
    }
}

void gw_usage_sums_add(struct gw_usage_sums *s, const struct gw_usage_sums *x)
{
    for (int m = 0; m <= GW_USAGE_MEASURES; m++) {
        struct gw_usage_sum *a = m < GW_USAGE_MEASURES ? &s->m[m] : &s->total;
        const struct gw_usage_sum *b = m < GW_USAGE_MEASURES ? &x->m[m] : &x->total;
        a->v += b->v;
        a->set |= b->set;
    }
}

bool gw_usage_json_open(struct gw_usage_json *o, size_t groups)
{
    *o = (struct gw_usage_json){malloc(groups * 256 + 64), 0, groups * 256 + 64, false};
    if (o->p == NULL)
        return false;
    put_n(o, "[", 1);
    return true;
}

void gw_usage_json_group(struct gw_usage_json *o, long day, const char *provider, const char *model,
                         const char *runtime, const struct gw_usage_sums *s)
{
    if (!s->m[M_TASKS].set || s->m[M_TASKS].v <= 0)
        return; /* SQL's HAVING sum(task_count) > 0 */
    put(o, o->len > 1 ? ", {\"date\":" : "{\"date\":");
    put_date(o, day);
    put(o, ",\"provider\":");
    put_string(o, provider);
    put(o, ",\"model\":");
    put_string(o, model);
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        const struct gw_usage_sum *x = fields[k].m < 0 ? &s->total : &s->m[fields[k].m];
        put(o, fields[k].key);
        if (x->set)
            put_i128(o, x->v);
        else
            put(o, "null");
    }
    put(o, ",\"runtime_id\":");
    put_string(o, runtime);
    put_n(o, "}", 1);
}

char *gw_usage_json_close(struct gw_usage_json *o)
{
    put_n(o, "]", 1);
    if (o->failed) {
        free(o->p);
        return NULL;
    }
    o->p[o->len] = '\0';
    return o->p;
}

char *gw_usage_daily_json(const PGresult *r)
{
    int n = PQntuples(r);
    struct gw_usage_json o;
    if (!gw_usage_json_open(&o, (size_t)n))
        return NULL;
    for (int first = 0; first < n && !PQgetisnull(r, first, ROW_DAY);) {
        struct gw_usage_sums s = {0};
        int end = first;
        for (; end < n && same_key(r, first, end); end++)
            gw_usage_sums_row(&s, r, end, ROW_MEASURES);
        gw_usage_json_group(&o, strtol(PQgetvalue(r, first, ROW_DAY), NULL, 10),
                            PQgetvalue(r, first, ROW_PROVIDER), PQgetvalue(r, first, ROW_MODEL),
                            PQgetvalue(r, first, ROW_RUNTIME), &s);
        first = end;
    }
    return gw_usage_json_close(&o);
}
