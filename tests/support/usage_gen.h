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

/* Starts an ingester against the current test database. extra: more "K=V" entries, separated
 * by spaces, or NULL. */
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

/* The cost parts (c.*) of each row u of usage.task_usage attributed by a (usage.task_attribution):
 * its rates looked up row by row, as the catalogue defines them (the workspace's override
 * first, an exact provider before '*', the latest effective_from not after the row's
 * created_at), then usage.row_cost. An oracle the rollup and the reads, which find the rates
 * per key with usage.price_segments, are checked against. Append after the joins of u and a. */
#define TU_PRICED_ROWS                                                                             \
    " LEFT JOIN LATERAL (SELECT e.input_ticks_per_mtok AS ri, e.output_ticks_per_mtok AS ro, "     \
    "e.cache_read_ticks_per_mtok AS rr, e.cache_write_ticks_per_mtok AS rw FROM "                  \
    "usage.model_prices e WHERE e.model = usage.model_key(u.model) AND e.provider IN "             \
    "(u.provider, '*') AND (e.workspace_id IS NULL OR e.workspace_id = a.workspace_id) AND "       \
    "e.effective_from <= u.created_at ORDER BY e.workspace_id IS NULL, e.provider = '*', "         \
    "e.effective_from DESC LIMIT 1) rate ON true CROSS JOIN LATERAL "                              \
    "usage.row_cost(u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, "  \
    "u.cost_usd_ticks, rate.ri, rate.ro, rate.rr, rate.rw) c "

/* The hourly buckets from the raw rows (the ground truth: tokens, the project of the tasks'
 * issue, and cost, each row priced on its own) and as the rollup stored them. */
#define TU_RAW_BUCKETS                                                                             \
    "SELECT a.workspace_id, a.runtime_id, a.agent_id, ip.project_id, u.provider, u.model, "        \
    "date_trunc('hour', u.created_at, 'UTC') AS bucket_hour, sum(u.input_tokens)::bigint, "        \
    "sum(u.output_tokens)::bigint, sum(u.cache_read_tokens)::bigint, "                             \
    "sum(u.cache_write_tokens)::bigint, count(*)::integer, sum(c.cost_usd_ticks)::bigint, "        \
    "sum(c.uncosted_input_tokens)::bigint, sum(c.estimated_cost_usd_ticks)::bigint, "              \
    "sum(c.unpriced_tokens)::bigint FROM usage.task_usage u "                                      \
    "JOIN usage.task_attribution a ON a.task_id = u.task_id AND a.deleted_at IS NULL "             \
    "LEFT JOIN usage.issue_projects ip ON ip.issue_id = a.issue_id " TU_PRICED_ROWS                \
    "GROUP BY 1, 2, 3, 4, 5, 6, 7"
#define TU_ROLLUP_BUCKETS                                                                          \
    "SELECT workspace_id, runtime_id, agent_id, project_id, provider, model, bucket_hour, "        \
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, task_count, "             \
    "cost_usd_ticks, uncosted_input_tokens, estimated_cost_usd_ticks, unpriced_tokens FROM "       \
    "usage.task_usage_hourly"

/* Rows of the hourly table that differ from the ground truth, both ways. */
int64_t tu_rollup_mismatches(void);

/* A digest of every table a usage report can write or queue through (task_usage, its change
 * log, the rollup queue, attribution, the hourly table), rows in full; free() it. */
char *tu_state_digest(void);

/* A small deterministic generator (xorshift) so failures reproduce. */
uint64_t tu_rand(uint64_t *state);

#endif
