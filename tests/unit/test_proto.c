/* test_proto.c: envelope decoding, the schema-driven codecs against proto/ examples, and the
 * standard-validator check of examples and of every message captured from the services. */
#include "harness.h"
#include "mc_proto.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static size_t check_examples(const char *kind, bool expect_ok)
{
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/proto/examples/*/%s/*.json", th_root(), kind);
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        char *buf = th_slurp(g.gl_pathv[i], &len);
        struct mc_event ev;
        char reason[256] = "";
        int rc = mc_event_decode(buf, len, &ev, reason, sizeof reason);
        if (expect_ok)
            ck_assert_msg(rc == 0, "%s rejected: %s", g.gl_pathv[i], reason);
        else
            ck_assert_msg(rc == MC_EINVAL && reason[0] != '\0', "%s accepted", g.gl_pathv[i]);
        mc_event_clear(&ev);
        free(buf);
    }
    size_t n = g.gl_pathc;
    globfree(&g);
    return n;
}

START_TEST(codecs_accept_exactly_the_valid_examples)
{
    ck_assert_uint_ge(check_examples("valid", true), 14);
    ck_assert_uint_ge(check_examples("invalid", false), 30);
}
END_TEST

static void expect_reject(const char *text, const char *reason_prefix)
{
    struct mc_event ev;
    char reason[256] = "";
    ck_assert_int_eq(mc_event_decode(text, strlen(text), &ev, reason, sizeof reason), MC_EINVAL);
    ck_assert_msg(strncmp(reason, reason_prefix, strlen(reason_prefix)) == 0,
                  "reason '%s' does not start with '%s'", reason, reason_prefix);
}

#define USAGE_OK                                                                                   \
    "{\"specversion\":\"1.0\",\"id\":\"0195f1c3-1111-7222-8333-444455556666\","                    \
    "\"type\":\"multica.usage.reported.v1\",\"source\":\"t\","                                     \
    "\"subject\":\"0195f1c2-7a3b-7c4d-8e5f-0123456789ab\",\"time\":\"2026-11-21T10:00:00Z\","      \
    "\"data\":{\"task_id\":\"0195f1c2-7a3b-7c4d-8e5f-0123456789ab\",\"provider\":\"OpenAI\","      \
    "\"model\":\"gpt\",\"input_tokens\":1,\"output_tokens\":2,\"cache_read_tokens\":3,"            \
    "\"cache_write_tokens\":%s,\"reported_at\":\"2026-11-21T10:00:00Z\"}}"

START_TEST(envelope_rejects_with_reason)
{
    char buf[2048];
    expect_reject("", "(message): is empty");
    expect_reject("{\"specversion\":", "(message): invalid JSON");
    expect_reject("[1,2]", "(message): must be a JSON object");
    expect_reject("{\"specversion\":\"1.0\",\"specversion\":\"1.0\"}", "(message): invalid JSON");
    expect_reject("{\"specversion\":\"1.0\"}", "id: is required");
    snprintf(buf, sizeof buf, USAGE_OK, "-5");
    expect_reject(buf, "data.cache_write_tokens: must be >= 0");
    snprintf(buf, sizeof buf, USAGE_OK, "\"5\"");
    expect_reject(buf, "data.cache_write_tokens: must be of type integer");
    snprintf(buf, sizeof buf, USAGE_OK, "99999999999999999999");
    expect_reject(buf, "(message): invalid JSON");
    snprintf(buf, sizeof buf, USAGE_OK, "4");
    char *unknown = strstr(buf, "usage.reported");
    memcpy(unknown, "usage.reportex", 14);
    expect_reject(buf, "type: unknown event type 'multica.usage.reportex.v1'");
}
END_TEST

START_TEST(oversize_is_rejected_before_parsing)
{
    size_t n = 1024 * 1024;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    big[0] = '{';
    big[n - 1] = '}';
    struct mc_event ev;
    char reason[256];
    ck_assert_int_eq(mc_event_decode(big, n, &ev, reason, sizeof reason), MC_EINVAL);
    ck_assert_msg(strstr(reason, "over the 65536-byte limit") != NULL, "%s", reason);
    free(big);
}
END_TEST

START_TEST(encode_decode_round_trip)
{
    char id[MC_UUID_STRLEN];
    json_t *data =
        json_pack("{ss ss ss sI sI sI sI ss}", "task_id", "0195f1c2-7a3b-7c4d-8e5f-0123456789ab",
                  "provider", "Anthropic", "model", "claude", "input_tokens", (json_int_t)10,
                  "output_tokens", (json_int_t)20, "cache_read_tokens", (json_int_t)30,
                  "cache_write_tokens", (json_int_t)40, "reported_at", "2026-11-21T10:00:00.5Z");
    char *text = mc_event_encode(MC_EV_USAGE_REPORTED, "test",
                                 "0195f1c2-7a3b-7c4d-8e5f-0123456789ab", data, id);
    ck_assert_ptr_nonnull(text);
    struct mc_event ev;
    char reason[256];
    ck_assert_int_eq(mc_event_decode(text, strlen(text), &ev, reason, sizeof reason), 0);
    ck_assert_str_eq(ev.id, id);
    struct mc_usage_reported u;
    ck_assert_int_eq(mc_usage_reported_from(&ev, &u), 0);
    ck_assert_str_eq(u.provider, "anthropic"); /* providers are stored lowercase */
    ck_assert_int_eq(u.cache_write_tokens, 40);
    ck_assert_int_eq(mc_task_attr_from(&ev, &(struct mc_task_attr){0}), MC_EINVAL);
    mc_event_clear(&ev);
    free(text);
}
END_TEST

START_TEST(encode_refuses_what_breaks_the_schema)
{
    json_t *data = json_pack("{ss}", "task_id", "not-a-uuid");
    ck_assert_ptr_null(mc_event_encode(MC_EV_USAGE_REPORTED, "test", "x", data, NULL));
    ck_assert_ptr_null(mc_event_encode("multica.nothing.v1", "test", "x", json_object(), NULL));
}
END_TEST

START_TEST(every_registered_type_has_a_loadable_schema)
{
    for (size_t i = 0; i < mc_nevent_types; i++) {
        char reason[256] = "";
        json_t *probe = json_object();
        int rc = mc_schema_validate(mc_event_types[i].schema, probe, reason, sizeof reason);
        /* An empty object must fail on a required field, not on a missing schema. */
        ck_assert_msg(rc == MC_EINVAL && strstr(reason, "is required") != NULL, "%s: %s",
                      mc_event_types[i].schema, reason);
        json_decref(probe);
    }
}
END_TEST

/* mc_event_decode validates a known type with its schema alone, relying on every type's
 * schema including the envelope's: a type schema that dropped it would let a message without
 * an id through. */
START_TEST(every_type_schema_includes_the_envelope)
{
    for (size_t i = 0; i < mc_nevent_types; i++) {
        char reason[256] = "";
        json_t *probe = json_pack("{ss}", "type", mc_event_types[i].type);
        int rc = mc_schema_validate(mc_event_types[i].schema, probe, reason, sizeof reason);
        ck_assert_msg(rc == MC_EINVAL && strcmp(reason, "specversion: is required") == 0, "%s: %s",
                      mc_event_types[i].schema, reason);
        json_decref(probe);
    }
}
END_TEST

Suite *suite_proto(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("codecs");
    tcase_add_test(tc, codecs_accept_exactly_the_valid_examples);
    tcase_add_test(tc, envelope_rejects_with_reason);
    tcase_add_test(tc, oversize_is_rejected_before_parsing);
    tcase_add_test(tc, encode_decode_round_trip);
    tcase_add_test(tc, encode_refuses_what_breaks_the_schema);
    tcase_add_test(tc, every_registered_type_has_a_loadable_schema);
    tcase_add_test(tc, every_type_schema_includes_the_envelope);
    suite_add_tcase(s, tc);
    return s;
}

/* Runs last: the standard validator over the examples and over every message the services
 * produced during this run (the suites write them under $MC_TEST_TMP/captured). */
START_TEST(standard_validator_agrees)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/schema/validate.py %s/proto %s/captured",
             th_root(), th_root(), getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp");
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "schema check failed (see output)");
}
END_TEST

Suite *suite_contract(void)
{
    Suite *s = suite_create("contract");
    TCase *tc = tcase_create("jsonschema");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, standard_validator_agrees);
    suite_add_tcase(s, tc);
    return s;
}
