#!/bin/sh
# create-topics.sh: creates every Multica-C topic with Kafka's own CLI (run inside the
# apache/kafka image by Compose's topic-init service and by the chart's topics Job).
# Idempotent: existing topics keep their partitions; their declared configs are (re)applied,
# so an upgrade that adds a setting (compaction, retention) reaches existing topics too.
#
#   BOOTSTRAP_SERVERS   host:port list (required)
#   PARTITIONS          partitions of each new topic (default 6); also the ceiling for useful
#                       usage-ingester replicas
#   REPLICATION_FACTOR  replicas of each new topic (default 1)
#   COMMAND_CONFIG      optional client properties file (TLS/SASL) for the Kafka CLI
#   KAFKA_BIN           where kafka-topics.sh lives (default /opt/kafka/bin)
#   WAIT_SECONDS        how long to wait for the broker (default 120)
#
# The topic list is libs/kafka/kafka.c's mc_topics; tools/check-deploy.sh compares the two.
set -eu

: "${BOOTSTRAP_SERVERS:?BOOTSTRAP_SERVERS is required}"
PARTITIONS=${PARTITIONS:-6}
REPLICATION_FACTOR=${REPLICATION_FACTOR:-1}
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
WAIT_SECONDS=${WAIT_SECONDS:-120}

# topic and its configs (comma-separated, "-" for none)
TOPICS='
multica.task.commands -
multica.task.events -
multica.runtime.events -
multica.usage.events -
multica.usage.dlq retention.ms=2592000000,max.message.bytes=8388608
multica.usage.hourly cleanup.policy=compact,min.compaction.lag.ms=60000
multica.scheduler.executions -
'

kafka_topics() {
    if [ -n "${COMMAND_CONFIG:-}" ]; then
        "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" \
            --command-config "$COMMAND_CONFIG" "$@" </dev/null
    else
        "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" "$@" </dev/null
    fi
}

kafka_configs() {
    if [ -n "${COMMAND_CONFIG:-}" ]; then
        "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" \
            --command-config "$COMMAND_CONFIG" "$@" </dev/null
    else
        "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" "$@" </dev/null
    fi
}

waited=0
until kafka_topics --list >/dev/null 2>&1; do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
        echo "create-topics: no broker answered at $BOOTSTRAP_SERVERS within ${WAIT_SECONDS}s" >&2
        exit 1
    fi
    sleep 2
    waited=$((waited + 2))
done

echo "$TOPICS" | while read -r topic configs; do
    [ -n "$topic" ] || continue
    if [ "$configs" = - ]; then
        kafka_topics --create --if-not-exists --topic "$topic" \
            --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR"
    else
        # --config takes one key=value each; the list is comma-separated above.
        set -- --create --if-not-exists --topic "$topic" \
            --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR"
        for kv in $(echo "$configs" | tr ',' ' '); do
            set -- "$@" --config "$kv"
        done
        kafka_topics "$@"
        kafka_configs --alter --entity-type topics --entity-name "$topic" --add-config "$configs"
    fi
    have=$(kafka_topics --describe --topic "$topic" | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)
    if [ -n "$have" ] && [ "$have" -lt "$PARTITIONS" ]; then
        echo "create-topics: $topic has $have partitions, fewer than PARTITIONS=$PARTITIONS;" \
            "left as it is (see docs/SELF_HOSTING_ADVANCED.md, Topics and partitions)" >&2
    fi
    note=
    [ "$configs" = - ] || note=", $configs"
    echo "create-topics: $topic ready (${have:-?} partitions$note)"
done
echo "create-topics: all topics ready"
