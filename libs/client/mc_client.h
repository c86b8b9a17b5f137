/* mc_client.h: a small client of the Multica API: JSON over HTTP and a WebSocket with an
 * incoming-message queue. Used by the daemon simulator and the end-to-end tests. */
#ifndef MC_CLIENT_H
#define MC_CLIENT_H

#include <jansson.h>

/* Sends a request (body may be NULL) with an optional bearer token. Returns the HTTP status
 * (0 when the server is unreachable); *out, when not NULL, receives the parsed JSON body (or
 * NULL when it is not JSON), for the caller to decref. */
int mc_client_request(const char *method, const char *url, const char *bearer, const char *body,
                      json_t **out);

/* mc_client_request against base + path (for example "http://127.0.0.1:8080" and
 * "/api/workspaces"). */
int mc_client_call(const char *base, const char *method, const char *path, const char *bearer,
                   const char *body, json_t **out);

typedef struct mc_wsclient mc_wsclient;

/* Opens ws://host:port/path (url given as http://...), authenticating with bearer. Returns
 * NULL when the handshake fails. Incoming text messages are queued until read. */
mc_wsclient *mc_wsclient_open(const char *http_url, const char *bearer);

/* The next queued message (parsed JSON, caller decrefs), waiting up to timeout_ms; NULL on
 * timeout or when the connection is closed and the queue is empty. */
json_t *mc_wsclient_next(mc_wsclient *c, int timeout_ms);

/* Sends a JSON value (borrowed) as a text message. Returns 0 or MC_EIO. */
int mc_wsclient_send(mc_wsclient *c, const json_t *msg);

/* True while the connection is open. */
int mc_wsclient_open_p(mc_wsclient *c);

/* Closes and frees; NULL ok. */
void mc_wsclient_close(mc_wsclient *c);

#endif
