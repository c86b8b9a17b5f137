/* gateway_client.h: starting a gateway in a test and talking to it as a user or a runtime. */
#ifndef MC_TEST_GATEWAY_CLIENT_H
#define MC_TEST_GATEWAY_CLIENT_H

#include "harness.h"
#include "mc_client.h"

/* Starts multica-api-gateway on a free port against the current test database, with extra
 * "K=V" settings (NULL-terminated, may be NULL), waits for /healthz, and returns its base URL
 * (static storage). The dev login code is 424242 unless extra says otherwise. */
const char *tg_start(const char *brokers, const char *const *extra, pid_t *pid);

/* Logs in with the dev code and returns the JWT (heap string). */
char *tg_login(const char *base, const char *email);

/* Request helpers returning the status; *out (may be NULL) gets the JSON body. */
int tg_call(const char *base, const char *method, const char *path, const char *token,
            const char *body, json_t **out);

/* A string member of a JSON object (asserts it exists). */
const char *tg_str(const json_t *obj, const char *key);

/* Creates a workspace, a runtime (registered with a one-time token) and an agent on it.
 * Fills ids and the runtime token (heap strings in *rt_token). */
void tg_setup_workspace(const char *base, const char *token, const char *name, char ws[37],
                        char runtime[37], char **rt_token, char agent[37]);

/* Starts multica-task-dispatcher against the current test database (extra "K=V" settings,
 * NULL-terminated, may be NULL). */
pid_t tg_start_dispatcher(const char *brokers, const char *name, const char *const *extra);

/* Starts multica-daemon-sim as runtime (its token) against the gateway at base, with extra
 * arguments (may be NULL): it runs what it is dispatched and reports usage. */
pid_t tg_start_sim(const char *base, const char *runtime, const char *token, const char *name,
                   const char *extra_arg);

#endif
