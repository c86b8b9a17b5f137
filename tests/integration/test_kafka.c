/* test_kafka.c: produce/consume through Apache Kafka with a consumer group of two members
 * (committing with mc_offsets_done and mc_consumer_commit), a producer facing a broker outage,
 * and the gathering of offsets to commit. */
#include "harness.h"
#include "mc_kafka.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_MESSAGES 600

struct member {
    mc_consumer *c;
    atomic_int *total;
    int seen[N_MESSAGES];
    int partitions_seen[6];
    int count;
};

static void *consume(void *arg)
{
    struct member *m = arg;
    int64_t deadline = mc_now_mono_ms() + 60000;
    while (atomic_load(m->total) < N_MESSAGES && mc_now_mono_ms() < deadline) {
        rd_kafka_message_t *msg = mc_consumer_poll(m->c, 100);
        if (msg == NULL)
            continue;
        int idx = atoi((const char *)msg->payload);
        m->seen[idx]++;
        m->partitions_seen[msg->partition] = 1;
        m->count++;
        atomic_fetch_add(m->total, 1);
        rd_kafka_topic_partition_list_t *done = NULL;
        mc_offsets_done_msg(&done, msg);
        mc_consumer_commit(m->c, &done, true);
        rd_kafka_message_destroy(msg);
    }
    return NULL;
}

START_TEST(group_of_two_shares_partitions)
{
    const char *brokers = th_broker_start(6);
    setenv("KAFKA_CONFIG", "session.timeout.ms=6000,heartbeat.interval.ms=500", 1);
    char err[512];
    const char *topics[] = {MC_TOPIC_USAGE_EVENTS};
    atomic_int total = 0;
    struct member *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    a->total = b->total = &total;
    a->c = mc_consumer_new(brokers, "t-group", topics, 1, NULL, err, sizeof err);
    b->c = mc_consumer_new(brokers, "t-group", topics, 1, NULL, err, sizeof err);
    ck_assert_msg(a->c && b->c, "%s", err);
    /* Let both members join before producing so the assignment is shared from the start. */
    for (int i = 0; i < 40; i++) {
        mc_consumer_poll(a->c, 100);
        mc_consumer_poll(b->c, 100);
    }
    mc_producer *p = mc_producer_new(brokers, "t-producer", 10000, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    struct mc_kmsg *msgs = calloc(N_MESSAGES, sizeof *msgs);
    char(*vals)[16] = calloc(N_MESSAGES, 16);
    for (int i = 0; i < N_MESSAGES; i++) {
        snprintf(vals[i], 16, "%d", i);
        msgs[i] = (struct mc_kmsg){.topic = MC_TOPIC_USAGE_EVENTS,
                                   .key = vals[i],
                                   .keylen = strlen(vals[i]),
                                   .value = vals[i],
                                   .len = strlen(vals[i])};
    }
    ck_assert_int_eq(mc_producer_send(p, msgs, N_MESSAGES), 0);
    int partitions_used[6] = {0};
    for (int i = 0; i < N_MESSAGES; i++) {
        ck_assert_int_ge(msgs[i].offset, 0);
        partitions_used[msgs[i].partition] = 1;
    }
    for (int k = 0; k < 6; k++)
        ck_assert_msg(partitions_used[k], "partition %d got no message", k);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, consume, a);
    pthread_create(&tb, NULL, consume, b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_int_eq(atomic_load(&total), N_MESSAGES);
    for (int i = 0; i < N_MESSAGES; i++)
        ck_assert_msg(a->seen[i] + b->seen[i] == 1, "message %d seen %d times", i,
                      a->seen[i] + b->seen[i]);
    ck_assert_int_gt(a->count, 0);
    ck_assert_int_gt(b->count, 0);
    for (int k = 0; k < 6; k++)
        ck_assert_msg(!(a->partitions_seen[k] && b->partitions_seen[k]),
                      "partition %d consumed by both members", k);
    mc_producer_free(p, 1000);
    mc_consumer_close(a->c);
    mc_consumer_close(b->c);
    free(a);
    free(b);
    free(msgs);
    free(vals);
}
END_TEST

START_TEST(producer_reports_an_outage_and_recovers)
{
    const char *brokers = th_broker_start(1);
    char err[512];
    mc_producer *p = mc_producer_new(brokers, "t-outage", 2000, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    struct mc_kmsg m = {
        .topic = MC_TOPIC_USAGE_EVENTS, .key = "k", .keylen = 1, .value = "v", .len = 1};
    ck_assert_int_eq(mc_producer_send(p, &m, 1), 0);
    th_broker_stop_now();
    usleep(300 * 1000);
    ck_assert_int_eq(mc_producer_send(p, &m, 1), MC_EKAFKA);
    ck_assert_int_ne(m.err, RD_KAFKA_RESP_ERR_NO_ERROR);
    th_broker_start_now();
    int rc = MC_EKAFKA;
    for (int i = 0; i < 10 && rc != 0; i++)
        rc = mc_producer_send(p, &m, 1);
    ck_assert_int_eq(rc, 0);
    mc_producer_free(p, 1000);
}
END_TEST

START_TEST(offsets_done_keep_the_next_offset_per_partition)
{
    rd_kafka_topic_partition_list_t *done = NULL;
    mc_offsets_done(&done, "t", 0, 10);
    mc_offsets_done(&done, "t", 0, 7); /* lower: changes nothing */
    mc_offsets_done(&done, "t", 1, 3);
    mc_offsets_done(&done, "u", 0, 5);
    mc_offsets_done(&done, "t", 0, 12);
    ck_assert_ptr_nonnull(done);
    ck_assert_int_eq(done->cnt, 3);
    ck_assert_int_eq(rd_kafka_topic_partition_list_find(done, "t", 0)->offset, 12);
    ck_assert_int_eq(rd_kafka_topic_partition_list_find(done, "t", 1)->offset, 3);
    ck_assert_int_eq(rd_kafka_topic_partition_list_find(done, "u", 0)->offset, 5);
    rd_kafka_topic_partition_list_destroy(done);
}
END_TEST

Suite *suite_kafka(void)
{
    Suite *s = suite_create("kafka");
    TCase *tc = tcase_create("broker");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, group_of_two_shares_partitions);
    tcase_add_test(tc, producer_reports_an_outage_and_recovers);
    suite_add_tcase(s, tc);
    TCase *offsets = tcase_create("offsets");
    tcase_add_test(offsets, offsets_done_keep_the_next_offset_per_partition);
    suite_add_tcase(s, offsets);
    return s;
}
