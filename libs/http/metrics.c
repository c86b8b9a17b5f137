/* metrics.c: a process-wide Prometheus registry of counters, gauges and histograms. */
#include "mc_http.h"
#include "mc_common.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { COUNTER, GAUGE, HISTOGRAM };

struct mc_metric {
    enum kind kind;
    char *name;
    char *help;
    char *labels;
    _Atomic double value;
    double (*fn)(void *);
    void (*family)(void *ctx, mc_series_emit emit, void *sink);
    void *ctx;
    double *bounds;
    size_t nbounds;
    _Atomic uint64_t *buckets; /* nbounds + 1, the last being +Inf */
    _Atomic uint64_t count;
    _Atomic double sum;
    struct mc_metric *next;
};

const double mc_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t mc_nlatency_buckets = MC_ARRAY_LEN(mc_latency_buckets);

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mc_metric *g_head, *g_tail;

static mc_metric *add(enum kind kind, const char *name, const char *help, const char *labels)
{
    mc_metric *m = mc_calloc(1, sizeof *m);
    m->kind = kind;
    m->name = mc_strdup(name);
    m->help = mc_strdup(help);
    m->labels = labels ? mc_strdup(labels) : NULL;
    atomic_init(&m->value, 0.0);
    atomic_init(&m->sum, 0.0);
    pthread_mutex_lock(&g_mu);
    if (g_tail)
        g_tail->next = m;
    else
        g_head = m;
    g_tail = m;
    pthread_mutex_unlock(&g_mu);
    return m;
}

mc_metric *mc_counter(const char *name, const char *help, const char *labels)
{
    return add(COUNTER, name, help, labels);
}

mc_metric *mc_gauge(const char *name, const char *help, const char *labels)
{
    return add(GAUGE, name, help, labels);
}

static mc_metric *add_fn(enum kind kind, const char *name, const char *help, const char *labels,
                         double (*fn)(void *), void *ctx)
{
    mc_metric *m = add(kind, name, help, labels);
    if (m) {
        m->fn = fn;
        m->ctx = ctx;
    }
    return m;
}

mc_metric *mc_gauge_family_fn(const char *name, const char *help,
                              void (*fn)(void *ctx, mc_series_emit emit, void *sink), void *ctx)
{
    mc_metric *m = add(GAUGE, name, help, NULL);
    if (m) {
        m->family = fn;
        m->ctx = ctx;
    }
    return m;
}

mc_metric *mc_gauge_fn(const char *name, const char *help, const char *labels, double (*fn)(void *),
                       void *ctx)
{
    return add_fn(GAUGE, name, help, labels, fn, ctx);
}

mc_metric *mc_counter_fn(const char *name, const char *help, const char *labels,
                         double (*fn)(void *), void *ctx)
{
    return add_fn(COUNTER, name, help, labels, fn, ctx);
}

mc_metric *mc_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds)
{
    mc_metric *m = add(HISTOGRAM, name, help, labels);
    m->bounds = mc_calloc(nbounds, sizeof(double));
    m->buckets = mc_calloc(nbounds + 1, sizeof(*m->buckets));
    memcpy(m->bounds, bounds, nbounds * sizeof(double));
    m->nbounds = nbounds;
    return m;
}

static void atomic_add_double(_Atomic double *a, double v)
{
    double old = atomic_load(a);
    while (!atomic_compare_exchange_weak(a, &old, old + v))
        ;
}

void mc_metric_add(mc_metric *m, double v)
{
    if (m)
        atomic_add_double(&m->value, v);
}

void mc_metric_set(mc_metric *m, double v)
{
    if (m)
        atomic_store(&m->value, v);
}

void mc_metric_observe(mc_metric *m, double v)
{
    if (m == NULL || m->kind != HISTOGRAM)
        return;
    size_t i = 0;
    while (i < m->nbounds && v > m->bounds[i])
        i++;
    atomic_fetch_add(&m->buckets[i], 1);
    atomic_fetch_add(&m->count, 1);
    atomic_add_double(&m->sum, v);
}

static void fmt_num(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        fprintf(f, "%lld", (long long)v);
    else
        fprintf(f, "%.9g", v);
}

static void series(FILE *f, const char *name, const char *suffix, const char *labels,
                   const char *extra, double v)
{
    bool any = (labels && *labels) || (extra && *extra);
    fprintf(f, "%s%s", name, suffix);
    if (any)
        fprintf(f, "{%s%s%s}", labels ? labels : "",
                (labels && *labels && extra && *extra) ? "," : "", extra ? extra : "");
    fputc(' ', f);
    fmt_num(f, v);
    fputc('\n', f);
}

struct family_sink {
    FILE *f;
    const char *name;
};

static void emit_series(void *sink, const char *labels, double value)
{
    struct family_sink *s = sink;
    series(s->f, s->name, "", labels, NULL, value);
}

static void render_one(FILE *f, mc_metric *m)
{
    if (m->family) {
        struct family_sink sink = {f, m->name};
        m->family(m->ctx, emit_series, &sink);
        return;
    }
    if (m->kind != HISTOGRAM) {
        double v = m->fn ? m->fn(m->ctx) : atomic_load(&m->value);
        series(f, m->name, "", m->labels, NULL, v);
        return;
    }
    uint64_t cum = 0;
    char le[64];
    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += atomic_load(&m->buckets[i]);
        if (i < m->nbounds)
            snprintf(le, sizeof le, "le=\"%g\"", m->bounds[i]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        series(f, m->name, "_bucket", m->labels, le, (double)cum);
    }
    series(f, m->name, "_sum", m->labels, NULL, atomic_load(&m->sum));
    series(f, m->name, "_count", m->labels, NULL, (double)atomic_load(&m->count));
}

char *mc_metrics_render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&g_mu);
    /* Series sharing a name are written together under one HELP and TYPE. */
    for (mc_metric *m = g_head; m; m = m->next) {
        bool seen = false;
        for (mc_metric *p = g_head; p != m; p = p->next)
            if (strcmp(p->name, m->name) == 0)
                seen = true;
        if (seen)
            continue;
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                m->kind == COUNTER ? "counter"
                : m->kind == GAUGE ? "gauge"
                                   : "histogram");
        for (mc_metric *s = m; s; s = s->next)
            if (strcmp(s->name, m->name) == 0)
                render_one(f, s);
    }
    pthread_mutex_unlock(&g_mu);
    fclose(f);
    return buf;
}
