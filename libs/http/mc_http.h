/* mc_http.h: the HTTP layer every service shares (ulfius), with /health, /healthz, /readyz,
 * /metrics, one JSON error shape, and a Prometheus metrics registry. */
#ifndef MC_HTTP_H
#define MC_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <ulfius.h>

#include "mc_db.h"

/* ---- error codes of the JSON error body (one registry for every service) ---- */
#define MC_HTTP_INVALID_FIELD "invalid_field"
#define MC_HTTP_INVALID_JSON  "invalid_json"
#define MC_HTTP_UNAUTHORIZED  "unauthorized"
#define MC_HTTP_FORBIDDEN     "forbidden"
#define MC_HTTP_NOT_FOUND     "not_found"
#define MC_HTTP_CONFLICT      "conflict"
#define MC_HTTP_RATE_LIMITED  "rate_limited"
#define MC_HTTP_UNAVAILABLE   "unavailable"
#define MC_HTTP_INTERNAL      "internal"
#define MC_HTTP_TOO_LARGE     "too_large"

/* Writes {"error":{"code":..,"field":..,"message":..}} with status; field may be NULL. */
void mc_http_error(struct _u_response *resp, unsigned status, const char *code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes body (stolen) as JSON with status. */
void mc_http_json(struct _u_response *resp, unsigned status, json_t *body);

/* Parses the request body as a JSON object and/or array, as accept (MC_BODY_* flags) allows. On
 * failure answers 400 itself and returns NULL. The caller decrefs. A body holding an integer beyond
 * int64 is read with every number as a real, so validators that want integers reject that field by
 * name. */
#define MC_BODY_OBJECT 1u
#define MC_BODY_ARRAY  2u
json_t *mc_http_body(const struct _u_request *req, struct _u_response *resp, unsigned accept);

/* Reads an integer from a request body value: a JSON integer, or a number with no fraction
 * below 2^53 (JSON does not tell 1 from 1.0, and a body with an integer beyond int64 is read
 * as reals by mc_http_body). Returns 0 or MC_EINVAL. */
int mc_json_int64(const json_t *v, int64_t *out);

/* A route of a service's static table. Handlers return U_CALLBACK_COMPLETE (or CONTINUE for
 * callbacks that chain). priority orders callbacks that match the same path (lower first),
 * so an authentication callback on "/api/..." (a wildcard path) at priority 0 runs before
 * handlers at priority 1. */
struct mc_http_route {
    const char *method; /* "GET", "POST", ... or "*" */
    const char *path;   /* ulfius format: "/api/tasks/:task_id/usage" */
    unsigned priority;
    int (*handler)(const struct _u_request *, struct _u_response *, void *);
};

/* One extra health check (beside db and migrations), evaluated on each /healthz. */
struct mc_health_check {
    const char *name;
    enum mc_check_state (*fn)(void *ctx);
    void *ctx;
};

typedef struct mc_http mc_http;

/* Creates a server on bind_addr:port (bind_addr NULL or "0.0.0.0" for every interface). It
 * serves /health, /healthz, /readyz and /metrics from the start; dbh may be NULL (then the db
 * and migrations checks read "unknown"). Returns NULL with err filled. */
mc_http *mc_http_new(const char *bind_addr, unsigned port, mc_dbhealth *dbh, char *err,
                     size_t errlen);

/* Adds a health check; the table is borrowed. */
void mc_http_add_checks(mc_http *h, const struct mc_health_check *checks, size_t n);

/* Registers a route table; user_data is passed to every handler. Returns 0 or MC_EINVAL. */
int mc_http_add_routes(mc_http *h, const struct mc_http_route *routes, size_t n, void *user_data);

/* The ulfius instance, for settings such as websocket limits. */
struct _u_instance *mc_http_instance(mc_http *h);

int mc_http_start(mc_http *h);

/* Stops accepting connections and waits for in-flight requests; then frees. NULL ok. */
void mc_http_free(mc_http *h);

/* The port actually bound (useful when port 0 was asked for). */
unsigned mc_http_port(const mc_http *h);

/* ---- metrics (process-wide registry, Prometheus text format) ---- */

typedef struct mc_metric mc_metric;

/* Registers a counter, gauge or histogram. labels is a preformatted label set without
 * braces (for example "topic=\"multica.usage.events\"") or NULL. Never NULL.
 * Registration takes a lock; updates are lock-free. */
mc_metric *mc_counter(const char *name, const char *help, const char *labels);
mc_metric *mc_gauge(const char *name, const char *help, const char *labels);
mc_metric *mc_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds);

/* A gauge computed at scrape time by fn(ctx). */
mc_metric *mc_gauge_fn(const char *name, const char *help, const char *labels,
                       double (*fn)(void *ctx), void *ctx);

void mc_metric_add(mc_metric *m, double v);     /* counters and gauges */
void mc_metric_set(mc_metric *m, double v);     /* gauges */
void mc_metric_observe(mc_metric *m, double v); /* histograms */
double mc_metric_value(const mc_metric *m);

/* Renders every registered metric; the caller frees the string. */
char *mc_metrics_render(void);

/* Latency buckets in seconds suitable for request and batch timings. */
extern const double mc_latency_buckets[];
extern const size_t mc_nlatency_buckets;

#endif
