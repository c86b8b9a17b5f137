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

/* Every topic, in the order above; the dev broker and topic-init create these. */
extern const char *const mc_topics[];
extern const size_t mc_ntopics;

/* Largest message the producers accept: a rejected 1 MiB event must still fit in the DLQ
 * with its reason. */
#define MC_KAFKA_MAX_MESSAGE_BYTES (4 * 1024 * 1024)

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
    const char *topic;
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

/* A consumer in group `group` subscribed to topics, with automatic commits and automatic
 * offset storing off (services commit only after their database transaction). Returns NULL
 * with err filled on failure. */
mc_consumer *mc_consumer_new(const char *brokers, const char *group, const char *const *topics,
                             size_t ntopics, const struct mc_consumer_hooks *hooks, char *err,
                             size_t errlen);

/* Polls once. Returns a message to hand back with rd_kafka_message_destroy, or NULL on
 * timeout. Partition EOF and transient errors are logged and swallowed. */
rd_kafka_message_t *mc_consumer_poll(mc_consumer *c, int timeout_ms);

/* Commits offsets (next offsets to read) to the group, asynchronously when async. */
int mc_consumer_commit(mc_consumer *c, const rd_kafka_topic_partition_list_t *offsets, bool async);

/* Moves the fetch position of the given partitions (offset set per entry). */
int mc_consumer_seek(mc_consumer *c, rd_kafka_topic_partition_list_t *parts);

/* Leaves the group and frees: rd_kafka_consumer_close, then rd_kafka_destroy. NULL ok. */
void mc_consumer_close(mc_consumer *c);

rd_kafka_t *mc_consumer_handle(mc_consumer *c);

/* ---- health ---- */

/* True when a broker answered a metadata request within timeout_ms. */
bool mc_kafka_reachable(rd_kafka_t *rk, int timeout_ms);

/* Applies KAFKA_CONFIG ("k=v,k=v") from the environment to conf. Returns 0 or MC_EINVAL. */
int mc_kafka_apply_env(rd_kafka_conf_t *conf, char *err, size_t errlen);

#endif
