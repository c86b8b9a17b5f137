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
#define MC_HTTP_BAD_METHOD    "method_not_allowed"

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

/* Callback priorities, named as Glewlwyd names its own: ulfius runs every callback whose method
 * and path match a request in ascending priority until one completes. */
#define MC_HTTP_PRIORITY_CHECKS 0u          /* what every request passes first: the header budget */
#define MC_HTTP_PRIORITY_ROUTES 1u          /* row i of all rows registered is at ROUTES + i */
#define MC_HTTP_PRIORITY_CLOSE  0x7fffffffu /* the terminal handler: 404, or 405 with Allow */

/* What a route needs from its caller, read by the service's guard (mc_http_add_routes).
 * MC_HTTP_PUBLIC (0) is the only value the library knows: no guard runs. A service names its
 * other values (the gateway's enum gw_credential). */
#define MC_HTTP_PUBLIC 0

typedef int (*mc_http_handler)(const struct _u_request *, struct _u_response *, void *);

/* Decides whether the caller may use a route that needs credential: returns
 * U_CALLBACK_CONTINUE to let the route's handler run, or U_CALLBACK_COMPLETE after answering
 * (401, 503) itself. */
typedef int (*mc_http_guard)(const struct _u_request *, struct _u_response *, void *user_data,
                             int credential);

/* A row of a service's static route table: everything about a route in one line. The guard
 * runs for the row ulfius matched, then its handler, which returns U_CALLBACK_COMPLETE. When
 * two rows match one request (a literal segment where another row has a parameter), the row
 * registered first wins: put the literal row first. */
struct mc_http_route {
    const char *method; /* "GET", "POST", ... or "*" for any */
    const char *path;   /* ulfius format: "/api/tasks/:task_id/usage" */
    int credential;     /* MC_HTTP_PUBLIC or a value the service's guard knows */
    mc_http_handler handler;
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

/* Registers a route table (borrowed: it must outlive h); user_data is passed to guard and to
 * every handler. guard may be NULL only when every row is MC_HTTP_PUBLIC. Requests no row
 * matches get the library's terminal handler: a JSON 404, or a 405 with Allow when the path
 * has rows for other methods. Returns 0 or MC_EINVAL (a bad row, or more than
 * MC_HTTP_MAX_ROUTES rows in all), logged with the row. */
#define MC_HTTP_MAX_ROUTES 256
int mc_http_add_routes(mc_http *h, const struct mc_http_route *routes, size_t n,
                       mc_http_guard guard, void *user_data);

int mc_http_start(mc_http *h);

/* Stops accepting connections and waits for in-flight requests; then frees. NULL ok. */
void mc_http_free(mc_http *h);

/* ---- metrics (process-wide registry, Prometheus text format) ---- */

typedef struct mc_metric mc_metric;

/* Registers a counter, gauge or histogram. labels is a preformatted label set without
 * braces (for example "topic=\"multica.usage.events\"") or NULL. Never NULL.
 * Registration takes a lock; updates are lock-free. */
mc_metric *mc_counter(const char *name, const char *help, const char *labels);
mc_metric *mc_gauge(const char *name, const char *help, const char *labels);
mc_metric *mc_histogram(const char *name, const char *help, const char *labels,
                        const double *bounds, size_t nbounds);

/* A gauge, or a counter that only grows (CPU seconds), computed at scrape time by fn(ctx). */
mc_metric *mc_gauge_fn(const char *name, const char *help, const char *labels,
                       double (*fn)(void *ctx), void *ctx);
mc_metric *mc_counter_fn(const char *name, const char *help, const char *labels,
                         double (*fn)(void *ctx), void *ctx);

/* A gauge family whose series are known only at scrape time (one per runtime, say): fn calls
 * emit(sink, labels, value) once per series, labels preformatted without braces
 * ("runtime_id=\"...\""). fn runs under the registry's lock: it must not register metrics. */
typedef void (*mc_series_emit)(void *sink, const char *labels, double value);
mc_metric *mc_gauge_family_fn(const char *name, const char *help,
                              void (*fn)(void *ctx, mc_series_emit emit, void *sink), void *ctx);

void mc_metric_add(mc_metric *m, double v);     /* counters and gauges */
void mc_metric_set(mc_metric *m, double v);     /* gauges */
void mc_metric_observe(mc_metric *m, double v); /* histograms */

/* Renders every registered metric; the caller frees the string. */
char *mc_metrics_render(void);

/* Latency buckets in seconds suitable for request and batch timings. */
extern const double mc_latency_buckets[];
extern const size_t mc_nlatency_buckets;

#endif
