/* harness.h: what the test suites share: a private Postgres and Apache Kafka for the run
 * (topics and groups under a prefix per test), child processes that die with the test, and
 * small HTTP, SQL and Kafka helpers. */
#ifndef MC_TEST_HARNESS_H
#define MC_TEST_HARNESS_H

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "mc_common.h"
#include "mc_kafka.h"

/* Every suite constructor, listed once in main.c. Unit suites (tests/unit) first: they need
 * no Postgres, broker or service binary. */
Suite *suite_common(void);
Suite *suite_config(void);
Suite *suite_secrets(void);
Suite *suite_topics(void);
Suite *suite_http(void);
Suite *suite_proto(void);
Suite *suite_usage_decode(void);
Suite *suite_metrics(void);
Suite *suite_migrate(void);
Suite *suite_kafka(void);
Suite *suite_service(void);
Suite *suite_ingest(void);
Suite *suite_gateway_usage(void);
Suite *suite_rollup(void);
Suite *suite_auth(void);
Suite *suite_routes(void);
Suite *suite_e2e(void);
Suite *suite_daemon(void);
Suite *suite_official_cli(void);
Suite *suite_websocket(void);
Suite *suite_web(void);
Suite *suite_usage_api(void);
Suite *suite_dispatch(void);
Suite *suite_deploy(void);
Suite *suite_shipping(void);
/* The shipping suite's case for docs/openapi.yaml (test_openapi.c). */
TCase *tcase_openapi(void);
Suite *suite_broker(void);
Suite *suite_devstack(void);
Suite *suite_contract(void);

/* ---- the run ---- */

/* Starts the run-wide Postgres (once, from main). Returns 0 or -1 with a message on stderr. */
int th_start_postgres(void);
void th_stop_postgres(void);

/* Stops and restarts the run-wide Postgres (for outage tests). */
void th_postgres_stop_now(void);
void th_postgres_start_now(void);

/* Path of a built binary: th_bin("multica-usage-ingester"). Static storage. */
const char *th_bin(const char *name);

/* Project root (for tools/ and proto/). */
const char *th_root(void);

/* The whole file at path, NUL-terminated (the caller frees it), its size in *len; fails the
 * test when it cannot be read. */
char *th_slurp(const char *path, size_t *len);

/* A directory private to the current test for logs and files; created on first use. */
const char *th_tmpdir(void);

/* ---- databases ---- */

/* Creates a fresh database from the migrated template, named after the test; returns its
 * administrator URL (static storage until the next call). */
const char *th_db_new(void);

/* Creates an empty database (no migrations) and returns its administrator URL. */
const char *th_db_new_empty(void);

/* URL of the database last created by th_db_new, logged in as the given role
 * ("multica_usage", ...). Static storage, one slot per role. */
const char *th_db_url_as(const char *role);

/* URL of the pg_cron database (crontest, created once per run from the template) for a role
 * or "postgres". Static storage. */
const char *th_cron_db_url(const char *role);

/* An administrator connection to the last created database (closed at test end). */
PGconn *th_pg(void);

/* Runs SQL (constant text from the test) and returns row 0 column 0 as a number; fails the
 * test on an error. */
int64_t th_sql_int(const char *sql);

/* Like th_sql_int, but returns fallback when the query yields no row or NULL. */
int64_t th_sql_int_or(const char *sql, int64_t fallback);

/* Polls th_sql_int_or(sql, -1) until it is want or timeout_ms passes; returns the last value. */
int64_t th_sql_wait(const char *sql, int64_t want, int timeout_ms);

/* Runs SQL and fails the test on error. */
void th_sql(const char *sql);

/* ---- processes ---- */

/* Starts a binary with extra environment entries ("K=V", NULL-terminated), output appended
 * to <tmpdir>/<logname>.log. The child is killed when the test process exits. */
pid_t th_spawn(const char *bin, const char *const *env, const char *logname);

/* Same, with arguments: argv[0] is the binary, NULL-terminated. */
pid_t th_spawn_argv(const char *const *argv, const char *const *env, const char *logname);

/* Sends sig and waits up to timeout_ms for the exit; returns the exit status (as from
 * waitpid) or -1 on timeout. */
int th_stop(pid_t pid, int sig, int timeout_ms);

/* Waits for a child to exit without signalling it; same return as th_stop. */
int th_wait_exit(pid_t pid, int timeout_ms);

/* ---- broker ---- */

/* Starts the run-wide Apache Kafka broker (once, from main; tools/kafka). Returns 0 or -1. */
int th_start_kafka(void);
void th_stop_kafka(void);

/* The run-wide broker's bootstrap address. */
const char *th_kafka_bootstrap(void);

/* Gives this test its own topics (every topic of the definition, with the given partition
 * count) and consumer groups under a prefix of its own, exported as KAFKA_PREFIX to every
 * process the test spawns; returns the bootstrap address (static storage). The topics are
 * deleted when the test ends. */
const char *th_broker_start(int partitions);

/* Outages of the run-wide broker: a clean stop (SIGTERM), a crash (SIGKILL), and a start
 * on the same port with the same log directory, as a production broker restarts. */
void th_broker_stop_now(void);
void th_broker_kill_now(void);
void th_broker_start_now(void);

/* Deletes one topic (base name) of this test. Returns 0 or MC_EKAFKA. */
int th_topic_delete(const char *topic);

/* Runs one of Kafka's own command-line tools against the run's broker (tools/kafka tool ...,
 * arguments from fmt) and returns what it printed on stdout (heap string). */
char *th_kafka_tool(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Produces raw messages and fails the test if any is not delivered. */
void th_produce(const char *brokers, const char *topic, const char *key, const void *value,
                size_t len);

/* Reads every message currently in topic (all partitions, from the beginning) and returns
 * them as a JSON array of {"key","value","partition","offset","content_type","tombstone"}
 * (value as a string, "" for a tombstone; content_type the header or null). Topic names here
 * and in th_produce are base names: the test's prefix is added. */
json_t *th_consume_all(const char *brokers, const char *topic);

/* Writes each message value of a th_consume_all array under $MC_TEST_TMP/captured, where
 * the contract suite validates them with the standard JSON Schema validator. */
void th_capture(const json_t *messages);

/* ---- http ---- */

int th_free_port(void);

/* Performs a request; returns the status (0 when the server is unreachable) and, when body_out
 * is not NULL, the response body (heap string, caller frees). headers: "K: V" strings. */
int th_http(const char *method, const char *url, const char *const *headers, const char *body,
            char **body_out);

/* Polls url until it answers 200 or timeout_ms passes; returns the last status. */
int th_wait_http_ok(const char *url, int timeout_ms);

/* Runs a shell command through popen: returns its exit status (-1 when it did not exit
 * normally) and what it printed on stdout (heap string, caller frees; stderr as the command
 * redirects it). */
int th_run(const char *cmd, char **out);

/* Polls until pred(arg) is true or timeout_ms passes; returns the predicate's last value. */
bool th_eventually(bool (*pred)(void *), void *arg, int timeout_ms);

#endif
