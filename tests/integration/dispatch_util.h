/* dispatch_util.h: helpers the dispatch test files share: deterministic ids, a task-dispatcher
 * process on the test's database and broker, commands as the gateway and the daemons send
 * them, and the task events, metrics and logs the tests check. */
#ifndef MC_TEST_DISPATCH_UTIL_H
#define MC_TEST_DISPATCH_UTIL_H

#include "harness.h"
#include "usage_gen.h"

#define WS "0195f1c2-0000-7000-8000-0000000000b1"

/* The test cases of the dispatch suite, one per file (test_dispatch_<case>.c). */
TCase *dt_case_sql(void);
TCase *dt_case_lifecycle(void);
TCase *dt_case_reclaim(void);
TCase *dt_case_outage(void);
TCase *dt_case_capacity(void);
TCase *dt_case_fairness(void);
TCase *dt_case_sets(void);

/* Deterministic ids: runtimes, agents, issues and tasks each have their own prefix. */
void dt_rt_id(char out[MC_UUID_STRLEN], unsigned long n);
void dt_agent_id(char out[MC_UUID_STRLEN], unsigned long n);
void dt_issue_id(char out[MC_UUID_STRLEN], unsigned long n);
void dt_task_id(char out[MC_UUID_STRLEN], unsigned long n);

/* The test's broker and producer, set by dt_setup. */
extern const char *dt_brokers;
extern mc_producer *dt_prod;

/* ---- processes ---- */

struct dispatcher {
    pid_t pid;
    int port;
    char name[32]; /* also its log's name */
};

/* Starts a dispatcher on the current test database and waits until it has joined the consumer
 * group; extra: "K=V" entries, NULL-terminated, or NULL. */
void dt_start_dispatcher(struct dispatcher *d, const char *name, const char *const *extra);

/* Stops it with SIGTERM and fails the test unless it exits promptly with status 0. */
void dt_stop_dispatcher(struct dispatcher *d);

/* A fresh database, topics with the given partition count, and a producer. */
void dt_setup(int partitions);
void dt_teardown_producer(void);

/* ---- commands ---- */

/* Encodes and sends one event keyed by its subject (data is stolen). */
void dt_send_event(const char *topic, const char *type, const char *subject, json_t *data);
/* A runtime event; max > 0 adds max_concurrency. */
void dt_runtime_event(const char *type, const char *runtime, int max);
void dt_heartbeat(const char *runtime, int max);
/* A TaskRequested; issue may be NULL; agent_max > 0 adds agent_max_concurrent_tasks. */
void dt_request(const char *task, const char *agent, const char *runtime, const char *issue,
                int agent_max);
/* The same with a priority (4 urgent .. 0 none) instead of 2. */
void dt_request_prio(const char *task, const char *agent, const char *runtime, const char *issue,
                     int agent_max, int priority);
/* A report from a runtime: start, progress (seq, text), completion (text = result) or failure
 * (text = reason). */
void dt_report(const char *type, const char *task, const char *runtime, int seq, const char *text);

/* ---- observing ---- */

/* Polls an SQL count until it equals want; true when it did within timeout_ms. */
bool dt_sql_becomes(const char *sql, int64_t want, int timeout_ms);
/* Fails the test unless the task reaches the status (and version, when > 0) in time. */
void dt_wait_task(const char *task, const char *status, int64_t version, int timeout_ms);
/* One column (or SQL expression) of the task's queue row, as a number. */
int64_t dt_task_int(const char *task, const char *column);

/* Every task event on the topic, once the outbox is empty, decoded and captured for the
 * contract suite; checks each message's key and the per-task version order. When redelivered
 * is not NULL, an event produced again (same task, version and event id) is counted there and
 * left out. The caller decrefs. */
json_t *dt_events_on_topic(int *redelivered);
json_t *dt_all_events(void);
/* The events of one task, in order (new array). */
json_t *dt_events_of(const json_t *all, const char *task);
/* A string or integer of an event's data. */
const char *dt_dstr(const json_t *ev, const char *key);
int64_t dt_dint(const json_t *ev, const char *key);
/* Checks event i of evs: type, version, status, and the attribution. */
void dt_expect_event(const json_t *evs, size_t i, const char *type, int64_t version,
                     const char *status, const char *runtime);

/* The value of one series on a dispatcher's /metrics, or -1 when it is absent. */
double dt_metric(const struct dispatcher *d, const char *series);
/* Number of lines of a process's log holding every needle (n2, n3 may be NULL). */
int dt_log_lines(const char *name, const char *n1, const char *n2, const char *n3);
/* Waits until such a line appears; true when one did within timeout_ms. */
bool dt_log_has_within(const char *name, const char *n1, const char *n2, const char *n3,
                       int timeout_ms);

#endif
