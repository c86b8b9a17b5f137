/* http.c: the ulfius server every service runs, with health, readiness and metrics routes. */
#include "mc_http.h"
#include "mc_common.h"
#include "mc_log.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHECKS     8
#define MAX_BODY_BYTES (1024 * 1024)

struct mc_http {
    struct _u_instance inst;
    struct sockaddr_in addr; /* ulfius keeps a pointer to it, so it lives here */
    unsigned port;
    bool started;
    mc_dbhealth *dbh;
    struct mc_health_check checks[MAX_CHECKS];
    size_t nchecks;
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

static int cb_not_found(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)ud;
    mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "no route for %s %s", req->http_verb,
                  req->http_url);
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
    ulfius_add_endpoint_by_val(&h->inst, "GET", "/health", NULL, 0, cb_health, h);
    ulfius_add_endpoint_by_val(&h->inst, "GET", "/healthz", NULL, 0, cb_healthz, h);
    ulfius_add_endpoint_by_val(&h->inst, "GET", "/readyz", NULL, 0, cb_healthz, h);
    ulfius_add_endpoint_by_val(&h->inst, "GET", "/metrics", NULL, 0, cb_metrics, h);
    ulfius_set_default_endpoint(&h->inst, cb_not_found, h);
    return h;
}

void mc_http_add_checks(mc_http *h, const struct mc_health_check *checks, size_t n)
{
    for (size_t i = 0; i < n && h->nchecks < MAX_CHECKS; i++)
        h->checks[h->nchecks++] = checks[i];
}

int mc_http_add_routes(mc_http *h, const struct mc_http_route *routes, size_t n, void *user_data)
{
    for (size_t i = 0; i < n; i++) {
        if (ulfius_add_endpoint_by_val(&h->inst, routes[i].method, NULL, routes[i].path,
                                       routes[i].priority, routes[i].handler, user_data) != U_OK) {
            mc_log_error(json_pack("{ss ss}", "method", routes[i].method, "path", routes[i].path),
                         "cannot register route");
            return MC_EINVAL;
        }
    }
    return 0;
}

struct _u_instance *mc_http_instance(mc_http *h)
{
    return &h->inst;
}

int mc_http_start(mc_http *h)
{
    if (ulfius_start_framework(&h->inst) != U_OK) {
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
    free(h);
}

unsigned mc_http_port(const mc_http *h)
{
    return h->port;
}
