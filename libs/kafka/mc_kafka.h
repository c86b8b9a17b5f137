/* mc_kafka.h: librdkafka producer and consumer wrappers used by every service. */
#ifndef MC_KAFKA_H
#define MC_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Topic names of ARCHITECTURE.md section 3. */
#define MC_TOPIC_TASK_COMMANDS        "multica.task.commands"
#define MC_TOPIC_TASK_EVENTS          "multica.task.events"
#define MC_TOPIC_RUNTIME_EVENTS       "multica.runtime.events"
#define MC_TOPIC_USAGE_EVENTS         "multica.usage.events"
#define MC_TOPIC_USAGE_DLQ            "multica.usage.dlq"
#define MC_TOPIC_USAGE_HOURLY         "multica.usage.hourly"
#define MC_TOPIC_SCHEDULER_EXECUTIONS "multica.scheduler.executions"

/* The one definition of the topics: `multica-migrate topics` creates them from it for the
 * local stack, the tests, docker-compose's topic-init and the chart's topics Job alike.
 * configs are topic-level settings, comma-separated key=value. */
struct mc_topic_def {
    const char *name;
    int partitions;
    const char *configs;
    const char *purpose;
};
extern const struct mc_topic_def mc_topic_defs[];
extern const size_t mc_ntopic_defs;

/* Largest record any topic takes (max.message.bytes of every topic in mc_topic_defs); the
 * producers refuse larger ones locally instead of waiting for the broker's refusal. */
#define MC_KAFKA_MAX_MESSAGE_BYTES 1048576

/* The CloudEvents Kafka protocol binding, structured mode: every event travels with this
 * content-type header. */
#define MC_KAFKA_CONTENT_TYPE "application/cloudevents+json; charset=UTF-8"

/* ---- names ---- */

/* Sets the prefix (KAFKA_PREFIX) put before every topic and consumer-group name, so that
 * several deployments (or test cases) can share one cluster. Call once at start, before any
 * producer or consumer exists. Returns 0, or MC_EINVAL when the prefix holds a character
 * Kafka does not allow in a topic name ([A-Za-z0-9._-]) or is longer than 100 bytes. */
int mc_kafka_set_prefix(const char *prefix);
const char *mc_kafka_prefix(void);

/* The name on the broker of a topic or group given by its base name (prefix + base).
 * Static storage that lives as long as the process. */
const char *mc_topic(const char *base);

/* True when name (as the broker knows it) is the topic base. */
bool mc_topic_is(const char *name, const char *base);

/* ---- topics ---- */

/* Creates every topic of mc_topic_defs (with the prefix) that does not exist, and applies
 * the definition's settings to those that do, keeping any other setting an operator gave
 * them. partitions > 0 overrides the definition's count for new topics; an existing topic
 * with fewer partitions than asked is reported in report (never shrunk or grown).
 * report (may be NULL) receives one line per topic. Returns 0, MC_ETIMEDOUT when the broker did
 * not answer (worth retrying), MC_EKAFKA when it refused, MC_EINVAL for a bad definition or
 * KAFKA_CONFIG; err says why. */
int mc_kafka_ensure_topics(const char *brokers, int partitions, int replication,
                           void (*report)(void *ctx, const char *line), void *ctx, char *err,
                           size_t errlen);

/* Deletes every topic of mc_topic_defs under the current prefix (tests). Returns 0 or
 * MC_EKAFKA. */
int mc_kafka_delete_topics(const char *brokers, int timeout_ms);

/* Extra librdkafka settings for tests and operators: KAFKA_CONFIG="k=v,k=v" is applied
 * after the defaults, so anything librdkafka supports can be set without a rebuild. */

/* ---- producer ---- */

typedef struct mc_producer mc_producer;

/* An idempotent producer (acks=all) with a background thread serving delivery reports.
 * message_timeout_ms bounds how long a send may wait for the broker. Returns NULL with err
 * filled when the configuration is refused. */
mc_producer *mc_producer_new(const char *brokers, const char *client_id, int message_timeout_ms,
                             char *err, size_t errlen);

/* Flushes for up to flush_ms, logs how many messages were left undelivered, frees. NULL ok. */
void mc_producer_free(mc_producer *p, int flush_ms);

/* One message of a synchronous send; err is filled in per message (0 when delivered). */
struct mc_kmsg {
    const char *topic; /* base name: the prefix is added */
    const char *key;
    size_t keylen;
    const void *value; /* NULL with len 0 produces a tombstone */
    size_t len;
    int32_t partition; /* out: where it landed */
    int64_t offset;    /* out */
    rd_kafka_resp_err_t err;
};

/* Produces n messages and waits until the broker has acknowledged or refused every one of
 * them. The record timestamp is the produce time. Returns 0 when all were delivered,
 * MC_EKAFKA when any was refused (see each message's err), MC_EINVAL for bad arguments. */
int mc_producer_send(mc_producer *p, struct mc_kmsg *msgs, size_t n);

/* The underlying handle, for metadata requests. */
rd_kafka_t *mc_producer_handle(mc_producer *p);

/* ---- consumer ---- */

typedef struct mc_consumer mc_consumer;

/* Hooks run on the polling thread during a rebalance. on_assign may set each partition's
 * offset (leave RD_KAFKA_OFFSET_INVALID to use the group's committed offset); returning
 * nonzero makes the consumer retry the assignment hook after a pause (for example while the
 * database is unreachable), as long as keep_trying() says so. on_revoke runs before the
 * partitions are released, so a service can finish its batch first. */
struct mc_consumer_hooks {
    int (*on_assign)(void *ctx, rd_kafka_topic_partition_list_t *parts);
    void (*on_revoke)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    bool (*keep_trying)(void *ctx);
    void *ctx;
};

/* A consumer in group `group` subscribed to topics (both base names: the prefix is added),
 * with automatic commits and automatic offset storing off (services commit only after their
 * database transaction). Returns NULL with err filled on failure. */
mc_consumer *mc_consumer_new(const char *brokers, const char *group, const char *const *topics,
                             size_t ntopics, const struct mc_consumer_hooks *hooks, char *err,
                             size_t errlen);

/* Polls once. Returns a message to hand back with rd_kafka_message_destroy, or NULL on
 * timeout. Partition EOF and transient errors are logged and swallowed. */
rd_kafka_message_t *mc_consumer_poll(mc_consumer *c, int timeout_ms);

/* Committing consumed offsets, the one way every consumer does it: gather what is finished
 * with mc_offsets_done (per partition, the next offset to read: the one after the last message
 * finished), then mc_consumer_commit once the service's own work for them is done (for the
 * ingester: after the database commit that holds the true offsets), which is also what counts
 * as progress below. */

/* Notes in *done (a list created on first use) that the messages of topic/partition before
 * next are finished; a next lower than one already noted for the partition changes nothing. */
void mc_offsets_done(rd_kafka_topic_partition_list_t **done, const char *topic, int32_t partition,
                     int64_t next);
/* The same for one consumed message: everything up to and including it is finished. */
void mc_offsets_done_msg(rd_kafka_topic_partition_list_t **done, const rd_kafka_message_t *m);

/* Commits *done to the group and releases the list (*done becomes NULL; a NULL or empty list
 * commits nothing). It counts as progress at once; the commit itself, when async, goes out at
 * most once a second per consumer, merged with what was finished since the last one (the next
 * commit or poll sends it when the second is up; a revocation and mc_consumer_close send it at
 * once); when not async, what is pending goes now, synchronously. A refusal is logged at
 * warning: those messages are delivered again after a rebalance or restart, which every
 * consumer here absorbs. Returns 0 or MC_EKAFKA (a synchronous commit refused). */
int mc_consumer_commit(mc_consumer *c, rd_kafka_topic_partition_list_t **done, bool async);

/* Pauses (or resumes) fetching from every partition assigned to this member: while what the
 * service writes to is away, nothing more is fetched, and the group keeps the member. */
void mc_consumer_pause(mc_consumer *c, bool pause);

/* What readiness and metrics say about a consumer: partitions assigned to this member,
 * messages in them the service has not finished with (from the watermarks of the last fetch),
 * and idle_ms, the longest time a partition with messages waiting has gone without progress
 * (its assignment, or a commit that moved it); 0 when nothing waits. */
struct mc_consumer_state {
    int assigned;
    int64_t lag;
    int64_t idle_ms;
};
void mc_consumer_progress(mc_consumer *c, struct mc_consumer_state *out);

/* Static group membership (KAFKA_GROUP_INSTANCE_ID; "" for dynamic): a member restarted with
 * the same id gets its partitions back at once instead of after the session timeout of the
 * one that died. Ids must be unique within a group. Call before creating consumers. Returns
 * 0 or MC_EINVAL (longer than 249 bytes). */
int mc_kafka_set_instance_id(const char *id);

/* Moves the fetch position of the given partitions (offset set per entry). */
int mc_consumer_seek(mc_consumer *c, rd_kafka_topic_partition_list_t *parts);

/* Leaves the group and frees: rd_kafka_consumer_close, then rd_kafka_destroy. NULL ok. */
void mc_consumer_close(mc_consumer *c);

rd_kafka_t *mc_consumer_handle(mc_consumer *c);

/* ---- health ---- */

/* True when a broker answered a metadata request within timeout_ms. */
bool mc_kafka_reachable(rd_kafka_t *rk, int timeout_ms);

/* A configuration with what every client shares: bootstrap servers, client id, reconnect
 * backoff, the largest message, and librdkafka's logs and errors through mc_log. The caller
 * adds its own settings, then mc_kafka_apply_env. NULL with err filled when refused. */
rd_kafka_conf_t *mc_kafka_conf_new(const char *brokers, const char *client_id, char *err,
                                   size_t errlen);

/* Applies KAFKA_CONFIG ("k=v,k=v") from the environment to conf. Returns 0 or MC_EINVAL. */
int mc_kafka_apply_env(rd_kafka_conf_t *conf, char *err, size_t errlen);

#endif
