/* client.c: HTTP JSON requests over kept-alive libcurl handles, and a queued WebSocket client
 * over ulfius. */
#include "mc_client.h"
#include "mc_common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <time.h>
#include <ulfius.h>

/* Idle handles kept for reuse. A curl handle keeps its connection to the server open between
 * requests (HTTP/1.1 keep-alive, as Multica's daemon and any browser do), so a request costs
 * neither a TCP handshake nor, on the gateway, a new connection thread: opening a connection
 * per request was two thirds of the gateway's CPU in the dispatch benchmark. */
enum { POOL_MAX = 64 };
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_MAX];
static int pool_n;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static CURL *handle_take(void)
{
    pthread_once(&curl_once, curl_start);
    pthread_mutex_lock(&pool_mu);
    CURL *h = pool_n > 0 ? pool[--pool_n] : NULL;
    pthread_mutex_unlock(&pool_mu);
    if (h == NULL)
        return curl_easy_init();
    curl_easy_reset(h); /* options only: the connection stays */
    return h;
}

static void handle_give(CURL *h)
{
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_MAX) {
        pool[pool_n++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    if (h != NULL)
        curl_easy_cleanup(h);
}

struct reply {
    char *data;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct reply *r = ud;
    size_t n = size * nmemb;
    r->data = mc_realloc(r->data, r->len + n + 1);
    memcpy(r->data + r->len, ptr, n);
    r->len += n;
    r->data[r->len] = '\0';
    return n;
}

static struct curl_slist *headers(const char *bearer, const char *body)
{
    struct curl_slist *h = curl_slist_append(NULL, "Expect:"); /* no 100-continue wait */
    if (bearer != NULL) {
        char auth[1024];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    if (body != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    return h;
}

int mc_client_request(const char *method, const char *url, const char *bearer, const char *body,
                      json_t **out)
{
    if (out != NULL)
        *out = NULL;
    CURL *h = handle_take();
    if (h == NULL)
        return 0;
    struct curl_slist *hdr = headers(bearer, body);
    struct reply r = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (out != NULL && r.len > 0)
        *out = json_loadb(r.data, r.len, 0, NULL);
    free(r.data);
    curl_slist_free_all(hdr);
    handle_give(h);
    return (int)status;
}

int mc_client_call(const char *base, const char *method, const char *path, const char *bearer,
                   const char *body, json_t **out)
{
    char *url = mc_sprintf("%s%s", base, path);
    int status = mc_client_request(method, url, bearer, body, out);
    free(url);
    return status;
}

struct mc_wsclient {
    struct _u_request req;
    struct _u_response resp;
    struct _websocket_client_handler handler;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct _websocket_manager *wsm;
    json_t *queue; /* array of received messages */
    int open;
    int closing;
};

static void manage(const struct _u_request *req, struct _websocket_manager *wsm, void *ud)
{
    (void)req;
    mc_wsclient *c = ud;
    wsm->keep_messages = U_WEBSOCKET_KEEP_NONE;
    pthread_mutex_lock(&c->mu);
    c->wsm = wsm;
    c->open = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    /* The connection lives as long as this callback: wait for close. */
    while (ulfius_websocket_status(wsm) == U_WEBSOCKET_STATUS_OPEN) {
        pthread_mutex_lock(&c->mu);
        int closing = c->closing;
        pthread_mutex_unlock(&c->mu);
        if (closing) {
            ulfius_websocket_send_close_signal(wsm);
            break;
        }
        mc_sleep_ms_interruptible(50, NULL);
    }
}

static void incoming(const struct _u_request *req, struct _websocket_manager *wsm,
                     const struct _websocket_message *msg, void *ud)
{
    (void)req;
    (void)wsm;
    mc_wsclient *c = ud;
    if (msg->opcode != U_WEBSOCKET_OPCODE_TEXT)
        return;
    json_t *j = json_loadb(msg->data, msg->data_len, 0, NULL);
    if (j == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    json_array_append_new(c->queue, j);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void closed(const struct _u_request *req, struct _websocket_manager *wsm, void *ud)
{
    (void)req;
    (void)wsm;
    mc_wsclient *c = ud;
    pthread_mutex_lock(&c->mu);
    c->open = 0;
    c->wsm = NULL;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

mc_wsclient *mc_wsclient_open(const char *http_url, const char *bearer)
{
    mc_wsclient *c = mc_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->queue = json_array();
    ulfius_init_request(&c->req);
    ulfius_init_response(&c->resp);
    if (ulfius_set_websocket_request(&c->req, http_url, NULL, NULL) != U_OK)
        goto fail;
    if (bearer != NULL) {
        char auth[1024];
        snprintf(auth, sizeof auth, "Bearer %s", bearer);
        u_map_put(c->req.map_header, "Authorization", auth);
    }
    if (ulfius_open_websocket_client_connection(&c->req, manage, c, incoming, c, closed, c,
                                                &c->handler, &c->resp) != U_OK)
        goto fail;
    pthread_mutex_lock(&c->mu);
    int64_t deadline = mc_now_mono_ms() + 5000;
    while (!c->open && mc_now_mono_ms() < deadline) {
        struct timespec t;
        mc_abstime_after(50, &t);
        pthread_cond_timedwait(&c->cv, &c->mu, &t);
    }
    int open = c->open;
    pthread_mutex_unlock(&c->mu);
    if (!open) {
        mc_wsclient_close(c);
        return NULL;
    }
    return c;
fail:
    ulfius_clean_request(&c->req);
    ulfius_clean_response(&c->resp);
    json_decref(c->queue);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return NULL;
}

json_t *mc_wsclient_next(mc_wsclient *c, int timeout_ms)
{
    int64_t deadline = mc_now_mono_ms() + timeout_ms;
    json_t *out = NULL;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (json_array_size(c->queue) > 0) {
            out = json_incref(json_array_get(c->queue, 0));
            json_array_remove(c->queue, 0);
            break;
        }
        if (!c->open || mc_now_mono_ms() >= deadline)
            break;
        struct timespec t;
        mc_abstime_after(20, &t);
        pthread_cond_timedwait(&c->cv, &c->mu, &t);
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

int mc_wsclient_send(mc_wsclient *c, const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    int rc = MC_EIO;
    pthread_mutex_lock(&c->mu);
    if (c->wsm != NULL && text != NULL &&
        ulfius_websocket_send_message(c->wsm, U_WEBSOCKET_OPCODE_TEXT, strlen(text), text) == U_OK)
        rc = 0;
    pthread_mutex_unlock(&c->mu);
    free(text);
    return rc;
}

int mc_wsclient_open_p(mc_wsclient *c)
{
    pthread_mutex_lock(&c->mu);
    int open = c->open;
    pthread_mutex_unlock(&c->mu);
    return open;
}

void mc_wsclient_close(mc_wsclient *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    pthread_mutex_unlock(&c->mu);
    ulfius_websocket_client_connection_wait_close(&c->handler, 5000);
    ulfius_websocket_client_connection_close(&c->handler);
    ulfius_clean_request(&c->req);
    ulfius_clean_response(&c->resp);
    json_decref(c->queue);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
