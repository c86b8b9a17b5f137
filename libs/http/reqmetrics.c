/* reqmetrics.c: request counts and latency by route pattern and status, for every route a
 * service registers (multica_http_requests_total, multica_http_request_duration_seconds). */
#include "http_internal.h"
#include "mc_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Distinct (method, status) pairs one route answers with; a route rarely has more than five. */
#define MAX_STATUSES 16

struct status_series {
    int status;
    char method[16]; /* a route registered for "*" answers several methods */
    mc_metric *count;
    mc_metric *seconds;
};

struct route_one {
    const struct mc_http_route *route;
    void *user_data;
    int (*call)(const struct _u_request *, struct _u_response *, void *);
    void *call_ctx;
    pthread_mutex_t mu; /* taken only to add a status */
    _Atomic size_t n;   /* published slots of by_status */
    struct status_series by_status[MAX_STATUSES];
};

struct route_metrics {
    size_t n;
    struct route_one *routes;
};

struct route_metrics *mc_http_route_metrics_new(const struct mc_http_route *routes, size_t n,
                                                void *user_data)
{
    struct route_metrics *rm = mc_calloc(1, sizeof *rm);
    rm->routes = mc_calloc(n ? n : 1, sizeof *rm->routes);
    rm->n = n;
    for (size_t i = 0; i < n; i++) {
        rm->routes[i].route = &routes[i];
        rm->routes[i].user_data = user_data;
        pthread_mutex_init(&rm->routes[i].mu, NULL);
    }
    return rm;
}

void mc_http_route_metrics_free(struct route_metrics *rm)
{
    if (rm == NULL)
        return;
    /* The metrics stay registered (the registry lives as long as the process). */
    for (size_t i = 0; i < rm->n; i++)
        pthread_mutex_destroy(&rm->routes[i].mu);
    free(rm->routes);
    free(rm);
}

void *mc_http_route_metrics_at(struct route_metrics *rm, size_t i)
{
    return &rm->routes[i];
}

void mc_http_route_metrics_bind(struct route_metrics *rm, size_t i,
                                int (*call)(const struct _u_request *, struct _u_response *,
                                            void *),
                                void *ctx)
{
    rm->routes[i].call = call;
    rm->routes[i].call_ctx = ctx;
}

static bool same(const struct status_series *s, const char *method, int status)
{
    return s->status == status && strncmp(s->method, method, sizeof s->method - 1) == 0;
}

static struct status_series *series_for(struct route_one *r, const char *method, int status)
{
    size_t n = atomic_load_explicit(&r->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (same(&r->by_status[i], method, status))
            return &r->by_status[i];
    struct status_series *s = NULL;
    pthread_mutex_lock(&r->mu);
    n = atomic_load_explicit(&r->n, memory_order_relaxed);
    for (size_t i = 0; i < n && s == NULL; i++)
        if (same(&r->by_status[i], method, status))
            s = &r->by_status[i];
    if (s == NULL && n < MAX_STATUSES) {
        char labels[512];
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",status=\"%d\"", method,
                 r->route->path, status);
        s = &r->by_status[n];
        s->status = status;
        snprintf(s->method, sizeof s->method, "%s", method);
        s->count =
            mc_counter("multica_http_requests_total",
                       "HTTP requests answered, by method, route pattern and status.", labels);
        s->seconds = mc_histogram("multica_http_request_duration_seconds",
                                  "Time from the first callback of a request to its answer, by "
                                  "method, route pattern and status.",
                                  labels, mc_latency_buckets, mc_nlatency_buckets);
        atomic_store_explicit(&r->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&r->mu);
    return s;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ulfius runs every callback of a request on one thread (a thread per connection), the first
 * with callback_position 0: the request's start is kept per thread from there. */
static _Thread_local const struct _u_request *t_req;
static _Thread_local int64_t t_start;

int mc_http_measured(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    struct route_one *r = ud;
    if (req->callback_position == 0 || req != t_req) {
        t_req = req;
        t_start = now_ns();
    }
    int ret = r->call != NULL ? r->call(req, resp, r->call_ctx)
                              : r->route->handler(req, resp, r->user_data);
    if (ret == U_CALLBACK_CONTINUE || ret == U_CALLBACK_IGNORE)
        return ret;
    /* The request is answered: by this route's pattern (for a request the authentication
     * callback refuses, the pattern it is registered on, /api/ and anything below). */
    int status = ret == U_CALLBACK_UNAUTHORIZED ? 401
                 : ret == U_CALLBACK_ERROR      ? 500
                                                : (int)resp->status;
    struct status_series *s = series_for(r, req->http_verb ? req->http_verb : "?", status);
    if (s != NULL) {
        mc_metric_add(s->count, 1);
        mc_metric_observe(s->seconds, (double)(now_ns() - t_start) / 1e9);
    }
    t_req = NULL;
    return ret;
}
