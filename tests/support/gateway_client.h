/* gateway_client.h: starting a gateway in a test and talking to it as a person, as a daemon
 * (Multica's protocol, with a personal access token) or as an agent run (a task token). */
#ifndef MC_TEST_GATEWAY_CLIENT_H
#define MC_TEST_GATEWAY_CLIENT_H

#include "harness.h"
#include "mc_client.h"

#include <jwt.h>

/* Starts multica-api-gateway on a free port against the current test database, with extra
 * "K=V" settings (NULL-terminated, may be NULL), waits for /healthz, and returns its base URL
 * (static storage). The dev login code is 424242 unless extra says otherwise. */
const char *tg_start(const char *brokers, const char *const *extra, pid_t *pid);

/* Logs in with the dev code and returns the JWT (heap string). */
char *tg_login(const char *base, const char *email);

/* Creates a personal access token (mul_...) with a session token; returns it (heap string). */
char *tg_pat(const char *base, const char *session);

/* A session JWT as the gateway signs them (iss multica), for user sub, expiring at exp (Unix
 * seconds), signed with secret under alg (JWT_ALG_NONE: unsigned). Heap string. */
char *tg_jwt(const char *secret, const char *sub, long exp, jwt_alg_t alg);

/* Creates a workspace named name; fills its id. */
void tg_workspace(const char *base, const char *token, const char *name, char ws[37]);

/* The next WebSocket message of type, waiting up to timeout_ms (others are skipped); NULL if
 * none came. The caller decrefs. */
json_t *tg_ws_next(mc_wsclient *ws, const char *type, int timeout_ms);

/* Opens the gateway's WebSocket as token and subscribes to scope ("workspace_id", "issue_id")
 * id; asserts both worked. */
mc_wsclient *tg_ws_watch(const char *base, const char *token, const char *scope, const char *id);

/* Request helpers returning the status; *out (may be NULL) gets the JSON body. */
int tg_call(const char *base, const char *method, const char *path, const char *token,
            const char *body, json_t **out);

/* A string member of a JSON object (asserts it exists). */
const char *tg_str(const json_t *obj, const char *key);

/* Registers a runtime of provider claude for daemon daemon_id in ws, as the daemon does; fills
 * its id. */
void tg_register(const char *base, const char *pat, const char *ws, const char *daemon_id,
                 char runtime[37]);

/* Creates an agent on runtime; fills its id. */
void tg_agent(const char *base, const char *token, const char *ws, const char *name,
              const char *runtime, int max_concurrent_tasks, char agent[37]);

/* Creates an issue in ws; fills its id. */
void tg_issue(const char *base, const char *token, const char *ws, const char *title,
              char issue[37]);

/* Creates a project in ws; fills its id. */
void tg_project(const char *base, const char *token, const char *ws, const char *title,
                char project[37]);

/* Assigns an issue to an agent (PUT /api/issues/{id}; agent NULL unassigns) and returns the
 * status; fills task (may be NULL) with the task the assignment started ("" for none). */
int tg_assign(const char *base, const char *token, const char *issue, const char *agent,
              char task[37]);

/* Creates a workspace, a personal access token, a runtime registered with it by a daemon, and
 * an agent on the runtime. Fills the ids and the token (heap string in *pat). */
void tg_setup_workspace(const char *base, const char *token, const char *name, char ws[37],
                        char runtime[37], char **pat, char agent[37]);

/* Starts multica-daemon-sim as daemon daemon_id in ws with extra arguments (a string for the
 * shell, may be NULL), logging to name, and returns its pid once its runtime exists (its id in
 * runtime). */
pid_t tg_start_sim(const char *base, const char *pat, const char *ws, const char *daemon_id,
                   const char *extra_args, const char *name, char runtime[37]);

/* Starts a task dispatcher on the current test database with extra "K=V" settings (may be
 * NULL), logging to name. */
pid_t tg_start_dispatcher(const char *brokers, const char *name, const char *const *extra);

/* Polls GET /api/tasks/{task} until the task reaches status (fails the test after timeout_ms);
 * returns the task JSON for the caller to decref. */
json_t *tg_wait_task(const char *base, const char *token, const char *task, const char *status,
                     int timeout_ms);

#endif
