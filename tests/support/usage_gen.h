/* usage_gen.h: building usage and task events, running ingesters, and checking task_usage
 * against expected rows, for the ingestion and rollup suites. */
#ifndef MC_TEST_USAGE_GEN_H
#define MC_TEST_USAGE_GEN_H

#include "harness.h"
#include "mc_kafka.h"

/* A UsageReported message (fresh event id); reported_at is microseconds since the epoch. */
char *tu_usage_event(const char *task, const char *provider, const char *model, int64_t in,
                     int64_t out, int64_t cache_read, int64_t cache_write, int64_t reported_at);

/* A task event of the given type (MC_EV_TASK_*) with the given attribution and version. */
char *tu_task_event(const char *type, const char *task, const char *workspace, const char *agent,
                    const char *runtime, const char *issue, int64_t version);

/* A producer for the test (idempotent, synchronous sends). */
mc_producer *tu_producer(const char *brokers);

/* Sends n messages to topic, each keyed by keys[i] (or by the message's subject when keys is
 * NULL); fails the test unless every one is acknowledged. */
void tu_send(mc_producer *p, const char *topic, char **values, const char *const *keys, size_t n);

/* Starts an ingester against the current test database. extra: more "K=V" entries or NULL. */
pid_t tu_start_ingester(const char *brokers, int port, const char *name, const char *extra);

/* Waits until the ingesters have applied `total` messages of topic (sum of stored offsets).
 * Returns true when they have. */
bool tu_wait_applied(const char *topic, int64_t total, int timeout_ms);

/* Expected task_usage contents: add rows, then count the rows that differ from the table. */
void tu_expect_reset(void);
void tu_expect_row(const char *task, const char *provider, const char *model, int64_t in,
                   int64_t out, int64_t cache_read, int64_t cache_write);
int64_t tu_expect_mismatches(void);

/* Deterministic UUIDs for tests: prefix (8 hex digits) and a number. */
void tu_uuid(char out[MC_UUID_STRLEN], unsigned prefix, unsigned long n);

/* A small deterministic generator (xorshift) so failures reproduce. */
uint64_t tu_rand(uint64_t *state);

#endif
