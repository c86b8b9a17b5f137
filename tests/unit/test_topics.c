/* test_topics.c: topic and group names under KAFKA_PREFIX, and the one topic definition. */
#include "harness.h"
#include "mc_kafka.h"

#include <stdio.h>
#include <string.h>

START_TEST(prefix_names_topics_and_groups)
{
    ck_assert_int_eq(mc_kafka_set_prefix(""), 0);
    ck_assert_ptr_eq(mc_topic(MC_TOPIC_USAGE_EVENTS), MC_TOPIC_USAGE_EVENTS);
    ck_assert(mc_topic_is("multica.usage.events", MC_TOPIC_USAGE_EVENTS));

    ck_assert_int_eq(mc_kafka_set_prefix("t1-2."), 0);
    ck_assert_str_eq(mc_kafka_prefix(), "t1-2.");
    const char *full = mc_topic(MC_TOPIC_USAGE_EVENTS);
    ck_assert_str_eq(full, "t1-2.multica.usage.events");
    /* Interned: callers may keep the pointer. */
    ck_assert_ptr_eq(mc_topic(MC_TOPIC_USAGE_EVENTS), full);
    ck_assert_str_eq(mc_topic("multica-usage-ingester"), "t1-2.multica-usage-ingester");
    ck_assert(mc_topic_is("t1-2.multica.usage.events", MC_TOPIC_USAGE_EVENTS));
    ck_assert(!mc_topic_is("multica.usage.events", MC_TOPIC_USAGE_EVENTS));
    ck_assert(!mc_topic_is("t1-2.multica.usage.dlq", MC_TOPIC_USAGE_EVENTS));
    ck_assert(!mc_topic_is("t1-2.multica.usage.events.x", MC_TOPIC_USAGE_EVENTS));
    ck_assert(!mc_topic_is("t9-2.multica.usage.events", MC_TOPIC_USAGE_EVENTS));

    /* A new prefix renames everything asked for afterwards. */
    ck_assert_int_eq(mc_kafka_set_prefix("other_"), 0);
    ck_assert_str_eq(mc_topic(MC_TOPIC_USAGE_EVENTS), "other_multica.usage.events");
    ck_assert_int_eq(mc_kafka_set_prefix(NULL), 0);
    ck_assert_str_eq(mc_kafka_prefix(), "");
    ck_assert_str_eq(mc_topic(MC_TOPIC_USAGE_EVENTS), "multica.usage.events");
}
END_TEST

START_TEST(prefix_rejects_what_kafka_does_not_allow)
{
    const char *bad[] = {"has space.", "a/b.", "ü.", "semi;colon", "star*"};
    ck_assert_int_eq(mc_kafka_set_prefix("kept."), 0);
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++)
        ck_assert_msg(mc_kafka_set_prefix(bad[i]) == MC_EINVAL, "accepted '%s'", bad[i]);
    char longest[101], too_long[102];
    memset(longest, 'p', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'p', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    ck_assert_int_eq(mc_kafka_set_prefix(too_long), MC_EINVAL);
    /* A refused prefix leaves the previous one in place. */
    ck_assert_str_eq(mc_kafka_prefix(), "kept.");
    ck_assert_int_eq(mc_kafka_set_prefix(longest), 0);
    ck_assert_uint_eq(strlen(mc_kafka_prefix()), 100);
    ck_assert_int_eq(mc_kafka_set_prefix(""), 0);
}
END_TEST

START_TEST(instance_id_length)
{
    char id[251];
    memset(id, 'i', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    ck_assert_int_eq(mc_kafka_set_instance_id(id), MC_EINVAL); /* 250 bytes */
    id[249] = '\0';
    ck_assert_int_eq(mc_kafka_set_instance_id(id), 0);
    ck_assert_int_eq(mc_kafka_set_instance_id(""), 0);
}
END_TEST

/* Every topic of mc_kafka.h has exactly one definition, and each definition carries what
 * `multica-migrate topics` applies: a cleanup policy and the size limit the producers enforce. */
START_TEST(every_topic_has_one_definition)
{
    const char *names[] = {MC_TOPIC_TASK_COMMANDS,       MC_TOPIC_TASK_EVENTS,
                           MC_TOPIC_RUNTIME_EVENTS,      MC_TOPIC_USAGE_EVENTS,
                           MC_TOPIC_USAGE_DLQ,           MC_TOPIC_USAGE_HOURLY,
                           MC_TOPIC_SCHEDULER_EXECUTIONS};
    ck_assert_uint_eq(mc_ntopic_defs, MC_ARRAY_LEN(names));
    char max_bytes[64];
    snprintf(max_bytes, sizeof max_bytes, "max.message.bytes=%d", MC_KAFKA_MAX_MESSAGE_BYTES);
    for (size_t i = 0; i < MC_ARRAY_LEN(names); i++) {
        int found = 0;
        for (size_t j = 0; j < mc_ntopic_defs; j++)
            found += strcmp(mc_topic_defs[j].name, names[i]) == 0;
        ck_assert_msg(found == 1, "%s defined %d times", names[i], found);
    }
    for (size_t j = 0; j < mc_ntopic_defs; j++) {
        const struct mc_topic_def *d = &mc_topic_defs[j];
        ck_assert_int_ge(d->partitions, 1);
        ck_assert_msg(strstr(d->configs, "cleanup.policy=") != NULL, "%s", d->name);
        ck_assert_msg(strstr(d->configs, max_bytes) != NULL, "%s: %s", d->name, d->configs);
        ck_assert(d->purpose != NULL && d->purpose[0] != '\0');
        bool compacted = strstr(d->configs, "cleanup.policy=compact") != NULL;
        ck_assert_msg(compacted == (strcmp(d->name, MC_TOPIC_USAGE_HOURLY) == 0), "%s", d->name);
    }
}
END_TEST

Suite *suite_topics(void)
{
    Suite *s = suite_create("topics");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, prefix_names_topics_and_groups);
    tcase_add_test(tc, prefix_rejects_what_kafka_does_not_allow);
    tcase_add_test(tc, instance_id_length);
    tcase_add_test(tc, every_topic_has_one_definition);
    suite_add_tcase(s, tc);
    return s;
}
