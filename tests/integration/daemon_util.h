/* daemon_util.h: what the daemon-protocol tests share: a stack (gateway, dispatcher,
 * ingester), a workspace with a runtime registered as Multica's daemon registers it and an
 * agent on it, and the daemon's calls (claim, task reports, status). */
#ifndef MC_TEST_DAEMON_UTIL_H
#define MC_TEST_DAEMON_UTIL_H

#include "gateway_client.h"

struct dp {
    const char *brokers, *base;
    char *alice; /* a session token of the workspace's owner */
    char *pat;   /* her personal access token: the daemon's credential */
    char ws[37], runtime[37], agent[37];
};

/* Starts the gateway (with extra settings, may be NULL), a dispatcher and an ingester on a
 * fresh database, and sets up the workspace, runtime and agent (max_concurrent_tasks 5). */
void dp_setup(struct dp *p, const char *const *gateway_extra);
void dp_free(struct dp *p);

/* Creates an issue assigned to the agent and waits until its task is dispatched; fills the
 * task and (may be NULL) issue ids. */
void dp_task(struct dp *p, const char *title, char task[37], char issue[37]);

/* POST /api/daemon/tasks/claim for the runtime with max_tasks; returns the status, *tasks
 * (may be NULL) the "tasks" array (caller decrefs). */
int dp_claim(struct dp *p, int max_tasks, json_t **tasks);

/* POST /api/daemon/tasks/{task}/{what} with body (NULL: {}) as the daemon; returns the status
 * and, when out is not NULL, the raw body (heap string). */
int dp_report(struct dp *p, const char *task, const char *what, const char *body, char **out);

/* GET /api/daemon/tasks/{task}/status: the status code, and the raw body in *out (heap). */
int dp_status(struct dp *p, const char *task, char **out);

/* Polls the status route until it answers code with a body containing want (NULL: any);
 * returns whether it did within timeout_ms. */
bool dp_wait_status(struct dp *p, const char *task, int code, const char *want, int timeout_ms);

/* Waits until the dispatcher's queue shows the task in status. */
bool dp_wait_queue(const char *task, const char *status, int timeout_ms);

/* Whether text contains needle, ignoring case (how the daemon reads 404 bodies). */
bool dp_contains(const char *text, const char *needle);

#endif
