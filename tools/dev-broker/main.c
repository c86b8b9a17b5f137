/* main.c: multica-dev-broker, a Kafka-protocol broker for local runs and tests, built on
 * librdkafka's mock cluster. It creates every Multica topic, writes its bootstrap address to
 * a file, and stops on SIGTERM. Services never know they talk to it: they only get
 * KAFKA_BROKERS. Not for production: everything lives in memory.
 *
 *   multica-dev-broker [--partitions N] [--brokers N] [--bootstrap-file PATH]
 *
 * SIGUSR1 takes every broker down (connections refused) and SIGUSR2 brings them back, which
 * is how tests and operators rehearse a broker outage without losing the topics. */
#include "mc_common.h"
#include "mc_kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop, g_down_request, g_up_request;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_down_request = 1;
    else if (sig == SIGUSR2)
        g_up_request = 1;
    else
        g_stop = 1;
}

static int write_file_atomically(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%s\n", text);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static void usage(void)
{
    fprintf(stderr, "usage: multica-dev-broker [--partitions N] [--brokers N] "
                    "[--bootstrap-file PATH]\n");
}

int main(int argc, char **argv)
{
    int partitions = 6, nbrokers = 1;
    const char *bootstrap_file = NULL;
    const char *env = getenv("DEV_BROKER_PARTITIONS");
    if (env && *env)
        partitions = atoi(env);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
            partitions = atoi(argv[++i]);
        else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            nbrokers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc)
            bootstrap_file = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (partitions < 1 || partitions > 1000 || nbrokers < 1 || nbrokers > 9) {
        fprintf(stderr, "multica-dev-broker: --partitions must be 1..1000 and --brokers 1..9\n");
        return 2;
    }

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "multica-dev-broker", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "multica-dev-broker: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (mc == NULL) {
        fprintf(stderr, "multica-dev-broker: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (size_t i = 0; i < mc_ntopics; i++) {
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(mc, mc_topics[i], partitions, nbrokers < 3 ? nbrokers : 3);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "multica-dev-broker: topic %s: %s\n", mc_topics[i],
                    rd_kafka_err2str(e));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    if (bootstrap_file != NULL && write_file_atomically(bootstrap_file, bootstraps) != 0) {
        perror(bootstrap_file);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("{\"msg\":\"dev broker ready\",\"bootstrap\":\"%s\",\"partitions\":%d,"
           "\"topics\":%zu}\n",
           bootstraps, partitions, mc_ntopics);
    fflush(stdout);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);

    while (!g_stop) {
        if (g_down_request) {
            g_down_request = 0;
            for (int b = 1; b <= nbrokers; b++)
                rd_kafka_mock_broker_set_down(mc, b);
            printf("{\"msg\":\"brokers down\"}\n");
            fflush(stdout);
        }
        if (g_up_request) {
            g_up_request = 0;
            for (int b = 1; b <= nbrokers; b++)
                rd_kafka_mock_broker_set_up(mc, b);
            printf("{\"msg\":\"brokers up\"}\n");
            fflush(stdout);
        }
        usleep(50 * 1000);
    }
    if (bootstrap_file != NULL)
        unlink(bootstrap_file);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    printf("{\"msg\":\"dev broker stopped\"}\n");
    return 0;
}
