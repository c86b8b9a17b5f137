/* topics.c: `multica-migrate topics`, which creates the Kafka topics from their one
 * definition (mc_topic_defs) for the local stack, the tests, docker-compose's topic-init and
 * the chart's topics Job.
 *
 *   multica-migrate topics [--partitions N] [--replication-factor N] [--wait SECONDS]
 *   multica-migrate topics --list
 *
 * KAFKA_BROKERS (required), KAFKA_PREFIX and KAFKA_CONFIG (TLS, SASL) are read as by the
 * services. Idempotent: existing topics keep their partitions and get the definition's
 * settings, keeping settings an operator added. */
#include "mc_common.h"
#include "mc_kafka.h"
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_brokers, *g_prefix;

/* KAFKA_CONFIG is read by libs/kafka itself (getenv): listed for --help, never loaded here. */
const struct mc_config_var mg_topics_vars[] = {
    {"KAFKA_BROKERS", MC_CFG_STRING, NULL, 0, 0, &g_brokers, "Kafka bootstrap servers"},
    {"KAFKA_PREFIX", MC_CFG_STRING, "", 0, 0, &g_prefix,
     "prefix of every topic name, as the services use it"},
    {"KAFKA_CONFIG", MC_CFG_STRING, "", 0, 0, NULL,
     "extra librdkafka settings, k=v,k=v (TLS and SASL to Kafka)"},
};
const size_t mg_ntopics_vars = MC_ARRAY_LEN(mg_topics_vars);

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("topics: %s\n", line);
    fflush(stdout);
}

static int list(void)
{
    printf("# name\tpartitions\tconfigs\tpurpose\n");
    for (size_t i = 0; i < mc_ntopic_defs; i++)
        printf("%s\t%d\t%s\t%s\n", mc_topic_defs[i].name, mc_topic_defs[i].partitions,
               mc_topic_defs[i].configs, mc_topic_defs[i].purpose);
    return 0;
}

static int positive(const char *flag, const char *text, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 1 || v > 100000) {
        fprintf(stderr, "multica-migrate: %s: must be a positive integer, got '%s'\n", flag, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int mg_topics(int argc, char **argv)
{
    int partitions = 0, replication = 1, wait_s = 120;
    /* Flags come alone (--list) or with one value, so the index moves by one or two. */
    for (int i = 0; i < argc; i += 2) {
        if (strcmp(argv[i], "--list") == 0)
            return list();
        int *dest = strcmp(argv[i], "--partitions") == 0           ? &partitions
                    : strcmp(argv[i], "--replication-factor") == 0 ? &replication
                    : strcmp(argv[i], "--wait") == 0               ? &wait_s
                                                                   : NULL;
        if (dest == NULL || i + 1 >= argc) {
            fprintf(stderr, "usage: multica-migrate topics [--partitions N] "
                            "[--replication-factor N] [--wait SECONDS] | --list\n");
            return 2;
        }
        if (positive(argv[i], argv[i + 1], dest) != 0)
            return 2;
    }
    char err[512];
    if (mc_config_load(mg_topics_vars, 2, err, sizeof err) != 0) {
        fprintf(stderr, "multica-migrate: %s\n", err);
        return 2;
    }
    const char *brokers = g_brokers;
    if (mc_kafka_set_prefix(g_prefix) != 0) {
        fprintf(stderr, "multica-migrate: KAFKA_PREFIX: only letters, digits, '.', '_' and '-'\n");
        return 2;
    }
    /* The broker may still be starting (Compose starts both at once): retry until --wait. */
    int64_t deadline = mc_now_mono_ms() + (int64_t)wait_s * 1000;
    for (;;) {
        int rc = mc_kafka_ensure_topics(brokers, partitions, replication, print_line, NULL, err,
                                        sizeof err);
        if (rc == 0) {
            printf("topics: all %zu topics ready\n", mc_ntopic_defs);
            return 0;
        }
        if (rc != MC_ETIMEDOUT || mc_now_mono_ms() >= deadline) {
            fprintf(stderr, "multica-migrate: topics: %s\n", err);
            return 1;
        }
        fprintf(stderr, "multica-migrate: topics: %s; retrying\n", err);
        mc_sleep_ms_interruptible(2000, NULL);
    }
}
