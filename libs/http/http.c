/* http.c: the ulfius server every service runs: health, readiness and metrics routes, route
 * tables with their guard, the header budget and the terminal 404/405 handler. */
#include "mc_http.h"
#include "http_internal.h"
#include "mc_common.h"
#include "mc_log.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CHECKS     8
#define MAX_BODY_BYTES (1024 * 1024)

/* The request line and headers a request may bring; beyond it the answer is a JSON 431 (414
 * when the URL alone is over it). 32 KiB is about what libmicrohttpd's default 32 KiB of
 * connection memory let through before, so no request that worked stops working. */
#define MAX_HEADER_BYTES (32 * 1024)

/* libmicrohttpd's memory per connection (its default is 32 KiB). It answers a request whose
 * headers do not fit with its own HTML page (0.9.75 has no hook for that page), so it is set
 * well above MAX_HEADER_BYTES: headers up to about 120 KiB reach cb_checks and get our JSON
 * 431. It costs that much per open connection once used (libmicrohttpd zeroes the pool
 * between keep-alive requests): 128 MiB for a thousand connections. */
#define CONNECTION_MEMORY (128 * 1024)

/* A registered row with what its callback needs (ulfius passes one pointer). */
struct binding {
    const struct mc_http_route *route;
    mc_http_guard guard;
    void *user_data;
};

struct mc_http {
    struct _u_instance inst;
    struct route_metrics **route_sets; /* one per mc_http_add_routes call (reqmetrics.c) */
    size_t nroute_sets;
    struct sockaddr_in addr; /* ulfius keeps a pointer to it, so it lives here */
    unsigned port;
    bool started;
    mc_dbhealth *dbh;
    struct mc_health_check checks[MAX_CHECKS];
    size_t nchecks;
    struct binding routes[MC_HTTP_MAX_ROUTES]; /* every row, in registration order */
    size_t nroutes;
};

void mc_http_json(struct _u_response *resp, unsigned status, json_t *body)
{
    ulfius_set_json_body_response(resp, status, body);
    json_decref(body);
}

void mc_http_error(struct _u_response *resp, unsigned status, const char *code, const char *field,
                   const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    json_t *err = json_pack("{ss ss}", "code", code, "message", msg ? msg : code);
    if (field != NULL)
        json_object_set_new(err, "field", json_string(field));
    mc_http_json(resp, status, json_pack("{so}", "error", err));
    free(msg);
}

json_t *mc_http_body(const struct _u_request *req, struct _u_response *resp, unsigned accept)
{
    if (req->binary_body == NULL || req->binary_body_length == 0) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_JSON, NULL, "request body is empty");
        return NULL;
    }
    if (req->binary_body_length > MAX_BODY_BYTES) {
        mc_http_error(resp, 413, MC_HTTP_TOO_LARGE, NULL, "request body is over %d bytes",
                      MAX_BODY_BYTES);
        return NULL;
    }
    json_error_t e;
    json_t *body =
        json_loadb(req->binary_body, req->binary_body_length, JSON_REJECT_DUPLICATES, &e);
    if (body == NULL && json_error_code(&e) == json_error_numeric_overflow) {
        /* An integer beyond int64 is valid JSON; read numbers as reals so the handler's
         * validation can name the field that holds it instead of failing the whole body. */
        body = json_loadb(req->binary_body, req->binary_body_length,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e);
    }
    if (body == NULL) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_JSON, NULL, "invalid JSON at byte %d: %s",
                      e.position, e.text);
        return NULL;
    }
    bool ok = (json_is_object(body) && (accept & MC_BODY_OBJECT)) ||
              (json_is_array(body) && (accept & MC_BODY_ARRAY));
    if (!ok) {
        mc_http_error(resp, 400, MC_HTTP_INVALID_JSON, NULL, "request body must be a JSON %s",
                      accept == MC_BODY_ARRAY    ? "array"
                      : accept == MC_BODY_OBJECT ? "object"
                                                 : "object or array");
        json_decref(body);
        return NULL;
    }
    return body;
}

int mc_json_int64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (!json_is_real(v))
        return MC_EINVAL;
    double x = json_real_value(v);
    if (x != (double)(int64_t)x || x >= 9007199254740992.0 || x <= -9007199254740992.0)
        return MC_EINVAL;
    *out = (int64_t)x;
    return 0;
}

static int cb_health(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    mc_http_json(resp, 200, json_pack("{ss}", "status", "ok"));
    return U_CALLBACK_COMPLETE;
}

static int cb_healthz(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    mc_http *h = ud;
    enum mc_check_state db = MC_CHECK_UNKNOWN, mig = MC_CHECK_UNKNOWN;
    if (h->dbh != NULL)
        mc_dbhealth_check(h->dbh, &db, &mig);
    bool ok = db == MC_CHECK_OK && mig == MC_CHECK_OK;
    json_t *checks =
        json_pack("{ss ss}", "db", mc_check_state_name(db), "migrations", mc_check_state_name(mig));
    for (size_t i = 0; i < h->nchecks; i++) {
        enum mc_check_state s = h->checks[i].fn(h->checks[i].ctx);
        ok = ok && s == MC_CHECK_OK;
        json_object_set_new(checks, h->checks[i].name, json_string(mc_check_state_name(s)));
    }
    mc_http_json(resp, ok ? 200 : 503,
                 json_pack("{ss so}", "status", ok ? "ok" : "not_ready", "checks", checks));
    return U_CALLBACK_COMPLETE;
}

static int cb_metrics(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)req;
    (void)ud;
    char *text = mc_metrics_render();
    ulfius_set_string_body_response(resp, 200, text ? text : "");
    u_map_put(resp->map_header, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    free(text);
    return U_CALLBACK_COMPLETE;
}

static const struct mc_http_route builtin_routes[] = {
    {"GET", "/health", MC_HTTP_PUBLIC, cb_health},
    {"GET", "/healthz", MC_HTTP_PUBLIC, cb_healthz},
    {"GET", "/readyz", MC_HTTP_PUBLIC, cb_healthz},
    {"GET", "/metrics", MC_HTTP_PUBLIC, cb_metrics},
};

/* Sums what a request's URL and headers take, as a client sent them ("Name: value\r\n"). */
static size_t header_bytes(const struct _u_request *req)
{
    size_t n = strlen(req->http_url);
    const char **keys = u_map_enum_keys(req->map_header);
    for (size_t i = 0; keys != NULL && keys[i] != NULL; i++) {
        ssize_t len = u_map_get_length(req->map_header, keys[i]);
        n += strlen(keys[i]) + 4 + (len > 0 ? (size_t)len : 0);
    }
    return n;
}

static int cb_checks(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)ud;
    if (strlen(req->http_url) > MAX_HEADER_BYTES) {
        mc_http_error(resp, 414, MC_HTTP_TOO_LARGE, NULL, "the URL is over %d bytes",
                      MAX_HEADER_BYTES);
        return U_CALLBACK_COMPLETE;
    }
    if (header_bytes(req) > MAX_HEADER_BYTES) {
        mc_http_error(resp, 431, MC_HTTP_TOO_LARGE, NULL,
                      "the request line and headers are over %d bytes", MAX_HEADER_BYTES);
        return U_CALLBACK_COMPLETE;
    }
    return U_CALLBACK_CONTINUE;
}

/* A row: its guard when the row needs a credential, then its handler. Binding the guard to
 * the row ulfius matched (rather than to a path prefix) means authentication is decided by the
 * same match that picks the handler. */
static int cb_route(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const struct binding *b = ud;
    if (b->route->credential != MC_HTTP_PUBLIC) {
        int rc = b->guard(req, resp, b->user_data, b->route->credential);
        if (rc != U_CALLBACK_CONTINUE)
            return rc;
    }
    return b->route->handler(req, resp, b->user_data);
}

/* The next segment of a path; empty segments are skipped, as ulfius skips them. */
static size_t next_segment(const char **p, const char **seg)
{
    *p += strspn(*p, "/");
    *seg = *p;
    size_t n = strcspn(*p, "/");
    *p += n;
    return n;
}

/* Whether path matches an ulfius url_format, by ulfius' rules: ":name" (or "@name") matches
 * one segment, a last "*" segment matches the rest, other segments match exactly. */
static bool path_matches(const char *format, const char *path)
{
    const char *f, *s;
    size_t fn;
    while ((fn = next_segment(&format, &f)) > 0) {
        if (f[0] == '*' && format[strspn(format, "/")] == '\0')
            return true;
        size_t sn = next_segment(&path, &s);
        if (sn == 0)
            return false;
        if (f[0] == ':' || f[0] == '@')
            continue;
        if (fn != sn || memcmp(f, s, fn) != 0)
            return false;
    }
    return next_segment(&path, &s) == 0;
}

/* Whether a comma-separated list already names method. */
static bool allow_has(const char *allow, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += mlen) {
        bool starts = p == allow || p[-1] == ' ';
        bool ends = p[mlen] == '\0' || p[mlen] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

static void allow_add(char *allow, size_t size, const char *method)
{
    if (allow_has(allow, method))
        return;
    size_t used = strlen(allow);
    snprintf(allow + used, size - used, "%s%s", used > 0 ? ", " : "", method);
}

/* The terminal handler: every request reaches it unless a row answered. It runs before any
 * guard (no row matched, so none ran), which is deliberate: it reads only the route table,
 * which is the public API, never an id or a row, so an anonymous 404 or 405 tells a caller
 * nothing the documentation does not; a daemon that misspells a route learns that, instead
 * of a 401 sending it to re-authenticate; and a public path (POST /api/auth/send-code) called
 * with a wrong method cannot sensibly ask for a credential. The 404 message names no path:
 * Multica's daemon reads "task not found" or "runtime not found" in a 404 body as news about
 * its task or runtime. */
static int cb_close(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    const mc_http *h = ud;
    char allow[128] = "";
    bool routed = false;
    for (size_t i = 0; i < h->nroutes; i++) {
        const struct mc_http_route *r = h->routes[i].route;
        if (!path_matches(r->path, req->url_path))
            continue;
        if (strcmp(r->method, "*") == 0 || strcasecmp(r->method, req->http_verb) == 0)
            routed = true;
        else
            allow_add(allow, sizeof allow, r->method);
    }
    if (routed) {
        MC_LOG_ERROR_AT(json_pack("{ss ss}", "method", req->http_verb, "path", req->url_path),
                        "a route handler returned without answering");
        mc_http_error(resp, 500, MC_HTTP_INTERNAL, NULL, "internal error");
        return U_CALLBACK_COMPLETE;
    }
    if (allow[0] == '\0') {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "no route has this path");
        return U_CALLBACK_COMPLETE;
    }
    u_map_put(resp->map_header, "Allow", allow);
    mc_http_error(resp, 405, MC_HTTP_BAD_METHOD, NULL, "this path takes %s", allow);
    return U_CALLBACK_COMPLETE;
}

mc_http *mc_http_new(const char *bind_addr, unsigned port, mc_dbhealth *dbh, char *err,
                     size_t errlen)
{
    mc_http *h = mc_calloc(1, sizeof *h);
    h->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (bind_addr == NULL || *bind_addr == '\0')
        bind_addr = "0.0.0.0";
    if (inet_pton(AF_INET, bind_addr, &h->addr.sin_addr) != 1) {
        snprintf(err, errlen, "HTTP_BIND: '%s' is not an IPv4 address", bind_addr);
        free(h);
        return NULL;
    }
    if (ulfius_init_instance(&h->inst, port, &h->addr, NULL) != U_OK) {
        snprintf(err, errlen, "cannot initialise the HTTP server on %s:%u", bind_addr, port);
        free(h);
        return NULL;
    }
    h->port = port;
    h->dbh = dbh;
    h->inst.network_type = U_USE_IPV4;
    h->inst.max_post_body_size = MAX_BODY_BYTES + 1;
    /* Bodies are JSON, read from binary_body; ulfius' form parsing is never used, and with it
     * a request saying "multipart/form-data" without a boundary had its connection dropped
     * with no answer (MHD_create_post_processor fails, ulfius returns MHD_NO). */
    h->inst.allowed_post_processor = U_POST_PROCESS_NONE;
    if (ulfius_add_endpoint_by_val(&h->inst, "*", "/*", NULL, MC_HTTP_PRIORITY_CHECKS, cb_checks,
                                   h) != U_OK ||
        ulfius_add_endpoint_by_val(&h->inst, "*", "/*", NULL, MC_HTTP_PRIORITY_CLOSE, cb_close,
                                   h) != U_OK ||
        mc_http_add_routes(h, builtin_routes, MC_ARRAY_LEN(builtin_routes), NULL, h) != 0) {
        snprintf(err, errlen, "cannot register the HTTP routes");
        ulfius_clean_instance(&h->inst);
        free(h);
        return NULL;
    }
    return h;
}

void mc_http_add_checks(mc_http *h, const struct mc_health_check *checks, size_t n)
{
    for (size_t i = 0; i < n && h->nchecks < MAX_CHECKS; i++)
        h->checks[h->nchecks++] = checks[i];
}

/* Registers one route: ulfius calls the measuring wrapper (reqmetrics.c), which runs the
 * binding (the credential guard, then the handler) and counts the request by route pattern. */
static int add_route(mc_http *h, const struct mc_http_route *r, mc_http_guard guard, void *ud,
                     struct route_metrics *rm, size_t i)
{
    if (h->nroutes == MC_HTTP_MAX_ROUTES) {
        mc_log_error(json_pack("{ss ss si}", "method", r->method, "path", r->path, "max",
                               MC_HTTP_MAX_ROUTES),
                     "too many routes");
        return MC_EINVAL;
    }
    if (r->credential != MC_HTTP_PUBLIC && guard == NULL) {
        mc_log_error(json_pack("{ss ss}", "method", r->method, "path", r->path),
                     "a route needs a credential but its table has no guard");
        return MC_EINVAL;
    }
    struct binding *b = &h->routes[h->nroutes];
    *b = (struct binding){.route = r, .guard = guard, .user_data = ud};
    mc_http_route_metrics_bind(rm, i, cb_route, b);
    unsigned priority = MC_HTTP_PRIORITY_ROUTES + (unsigned)h->nroutes;
    if (ulfius_add_endpoint_by_val(&h->inst, r->method, NULL, r->path, priority, mc_http_measured,
                                   mc_http_route_metrics_at(rm, i)) != U_OK) {
        mc_log_error(json_pack("{ss ss}", "method", r->method, "path", r->path),
                     "cannot register route");
        return MC_EINVAL;
    }
    h->nroutes++;
    return 0;
}

int mc_http_add_routes(mc_http *h, const struct mc_http_route *routes, size_t n,
                       mc_http_guard guard, void *user_data)
{
    struct route_metrics *rm = mc_http_route_metrics_new(routes, n, user_data);
    /* Every handler runs through the measuring wrapper (reqmetrics.c), so requests are counted
     * and timed by route pattern in this one place. */
    h->route_sets = mc_realloc(h->route_sets, (h->nroute_sets + 1) * sizeof *h->route_sets);
    h->route_sets[h->nroute_sets++] = rm;
    for (size_t i = 0; i < n; i++) {
        int rc = add_route(h, &routes[i], guard, user_data, rm, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* libmicrohttpd's own messages (a client that sent garbage, a connection it dropped). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return;
    msg[strcspn(msg, "\n")] = '\0';
    mc_log_warn(json_pack("{ss}", "source", "libmicrohttpd"), "%s", msg);
    free(msg);
}

int mc_http_start(mc_http *h)
{
    /* ulfius_start_framework with one option more, CONNECTION_MEMORY; the two ulfius
     * callbacks are required by ulfius_start_framework_with_mhd_options. */
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &h->addr},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
    if (ulfius_start_framework_with_mhd_options(&h->inst, flags, ops) != U_OK) {
        mc_log_error(json_pack("{si}", "port", h->port), "cannot start the HTTP server");
        return MC_EIO;
    }
    h->started = true;
    mc_log_info(json_pack("{si}", "port", h->port), "http listening");
    return 0;
}

void mc_http_free(mc_http *h)
{
    if (h == NULL)
        return;
    if (h->started)
        ulfius_stop_framework(&h->inst);
    ulfius_clean_instance(&h->inst);
    for (size_t i = 0; i < h->nroute_sets; i++)
        mc_http_route_metrics_free(h->route_sets[i]);
    free(h->route_sets);
    free(h);
}
