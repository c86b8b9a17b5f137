/* test_usage_decode.c: the ingester's direct UsageReported decoder agrees with the schema. */
#include "../../services/usage-ingester/usage_decode.h"
#include "harness.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages the scanner accepted (it must take the plain valid reports). */
static size_t scanned;

/* Both decoders on one message: the same verdict, and when both accept, the same event. */
static void agree(const char *what, const char *buf, size_t len)
{
    struct mc_event fast, slow;
    char reason[256] = "";
    int rf = ui_usage_decode(buf, len, &fast);
    int rs = mc_event_decode(buf, len, &slow, reason, sizeof reason);
    bool usage = rs == 0 && strcmp(slow.type, MC_EV_USAGE_REPORTED) == 0;
    ck_assert_msg((rf == 0) == usage, "%s: direct decoder %s, schema %s (%s)", what,
                  rf == 0 ? "accepts" : "refuses", usage ? "accepts" : "refuses", reason);
    /* The scanner accepts only what both accept, and reads the same row. */
    struct ui_usage row;
    if (ui_usage_scan(buf, len, &row) == 0) {
        ck_assert_msg(usage, "%s: the scanner accepts, the schema refuses (%s)", what, reason);
        struct mc_usage_reported u;
        ck_assert_int_eq(mc_usage_reported_from(&slow, &u), 0);
        ck_assert_str_eq(row.id, slow.id);
        ck_assert_mem_eq(&row.u, &u, sizeof u);
        scanned++;
    }
    if (rf == 0) {
        ck_assert_str_eq(fast.id, slow.id);
        ck_assert_str_eq(fast.type, slow.type);
        ck_assert_str_eq(fast.source, slow.source);
        ck_assert_str_eq(fast.subject, slow.subject);
        ck_assert_int_eq(fast.time_us, slow.time_us);
        ck_assert(json_equal(fast.data, slow.data));
        mc_event_clear(&fast);
    }
    mc_event_clear(&slow);
}

START_TEST(agrees_with_the_schema_over_every_example)
{
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/proto/examples/*/*/*.json", th_root());
    glob_t g;
    ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 44);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        char *buf = th_slurp(g.gl_pathv[i], &len);
        size_t before = scanned;
        agree(g.gl_pathv[i], buf, len);
        if (strstr(g.gl_pathv[i], "/usage_reported/valid/") != NULL)
            ck_assert_msg(scanned == before + 1, "%s: the scanner refuses it", g.gl_pathv[i]);
        free(buf);
    }
    globfree(&g);
}
END_TEST

/* A valid report with one field replaced (value NULL: removed), or the envelope's. */
static void variant(const char *field, const char *json_value, bool in_data)
{
    char path[600];
    size_t len;
    snprintf(path, sizeof path, "%s/proto/examples/usage_reported/valid/with_cost.json", th_root());
    char *buf = th_slurp(path, &len);
    json_t *root = json_loadb(buf, len, 0, NULL);
    ck_assert_ptr_nonnull(root);
    json_t *obj = in_data ? json_object_get(root, "data") : root;
    if (json_value == NULL) {
        json_object_del(obj, field);
    } else {
        json_t *v = json_loads(json_value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        ck_assert_msg(v != NULL, "%s", json_value);
        json_object_set_new(obj, field, v);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    char what[300];
    snprintf(what, sizeof what, "%s.%s = %s", in_data ? "data" : "(envelope)", field,
             json_value ? json_value : "(absent)");
    agree(what, text, strlen(text));
    free(text);
    json_decref(root);
    free(buf);
}

/* A JSON string of n copies of unit (a character or an escape). */
static char *json_string_of(const char *unit, int n)
{
    size_t len = strlen(unit);
    char *out = malloc(len * (size_t)n + 3);
    out[0] = '"';
    for (int i = 0; i < n; i++)
        memcpy(out + 1 + len * (size_t)i, unit, len);
    strcpy(out + 1 + len * (size_t)n, "\"");
    return out;
}

START_TEST(agrees_with_the_schema_over_variants)
{
    static const char *const uuid_fields[] = {"task_id", "runtime_id"};
    static const char *const uuids[] = {"\"0195f1c2-7a3b-7c4d-8e5f-0123456789ab\"",
                                        "\"0195F1C2-7A3B-7C4D-8E5F-0123456789AB\"",
                                        "\"0195f1c2-7a3b-7c4d-8e5f-0123456789a\"",
                                        "\"0195f1c2-7a3b-7c4d-8e5f-0123456789abc\"",
                                        "\"0195f1c2+7a3b-7c4d-8e5f-0123456789ab\"",
                                        "\"0195f1c2-7a3b-7c4d-8e5f-0123456789ag\"",
                                        "\"0195f1c2-7a3b-7c4d-8e5f-0123456789ab\\u0000\"",
                                        "null",
                                        "17",
                                        NULL};
    for (size_t f = 0; f < MC_ARRAY_LEN(uuid_fields); f++)
        for (size_t i = 0; i < MC_ARRAY_LEN(uuids); i++)
            variant(uuid_fields[f], uuids[i], true);
    static const char *const count_fields[] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                               "cache_write_tokens", "cost_usd_ticks"};
    static const char *const counts[] = {
        "0",    "1",    "10000000000",         "10000000001",          "-1",  "1.0", "1.5", "\"5\"",
        "null", "true", "9223372036854775807", "-9223372036854775808", "1e3", NULL};
    for (size_t f = 0; f < MC_ARRAY_LEN(count_fields); f++)
        for (size_t i = 0; i < MC_ARRAY_LEN(counts); i++)
            variant(count_fields[f], counts[i], true);
    static const char *const text_fields[] = {"provider", "model"};
    static const char *const texts[] = {
        "\"\"", "\"a\"", "\"OpenAI\"", "\"a\\u0000b\"", "42", "null", NULL,
    };
    for (size_t f = 0; f < MC_ARRAY_LEN(text_fields); f++) {
        for (size_t i = 0; i < MC_ARRAY_LEN(texts); i++)
            variant(text_fields[f], texts[i], true);
        /* Either side of each bound, in ASCII and in two-byte characters: the schema counts
         * code points. */
        for (int bound = 64; bound <= 128; bound += 64)
            for (int n = bound; n <= bound + 1; n++)
                for (int wide = 0; wide <= 1; wide++) {
                    char *text = json_string_of(wide ? "\\u00e9" : "a", n);
                    variant(text_fields[f], text, true);
                    free(text);
                }
    }
    static const char *const times[] = {"\"2026-11-21T10:15:30Z\"",
                                        "\"2026-11-21T10:15:30.123456789Z\"",
                                        "\"2026-11-21T10:15:30.1234567891Z\"",
                                        "\"2026-11-21T10:15:30.Z\"",
                                        "\"2026-11-21T10:15:30+02:00\"",
                                        "\"2026-11-21T10:15:30-0200\"",
                                        "\"2026-11-21t10:15:30Z\"",
                                        "\"2026-11-21 10:15:30Z\"",
                                        "\"2026-11-21T10:15:30\"",
                                        "\"2026-13-41T25:61:61Z\"",
                                        "\"2026-11-21T10:15:30z\"",
                                        "\"2026-11-21T10:15:30Z \"",
                                        "\"2026-11-21T10:15:30Z\\u0000\"",
                                        "\"26-11-21T10:15:30Z\"",
                                        "1700000000",
                                        NULL};
    for (size_t i = 0; i < MC_ARRAY_LEN(times); i++) {
        variant("reported_at", times[i], true);
        variant("time", times[i], false);
    }
    variant("unknown", "1", true);
    variant("unknown", "1", false);
    static const char *const envelope[][2] = {
        {"specversion", "\"1.0\""},
        {"specversion", "\"1.1\""},
        {"specversion", "1.0"},
        {"specversion", NULL},
        {"type", "\"multica.usage.reported.v2\""},
        {"type", "\"multica.usage.reported.v1\\u0000\""},
        {"type", "\"" MC_EV_TASK_COMPLETED "\""},
        {"type", NULL},
        {"id", "\"0195F1C3-1111-7222-8333-444455556666\""},
        {"id", NULL},
        {"source", "\"\""},
        {"source", NULL},
        {"subject", "\"\""},
        {"subject", "[]"},
        {"datacontenttype", "\"application/json\""},
        {"datacontenttype", "\"text/plain\""},
        {"datacontenttype", NULL},
        {"data", "{}"},
        {"data", "[]"},
        {"data", NULL},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(envelope); i++)
        variant(envelope[i][0], envelope[i][1], false);
}
END_TEST

START_TEST(agrees_on_what_is_not_json)
{
    static const char *const texts[] = {
        "",
        "null",
        "[]",
        "{",
        "{\"type\":\"multica.usage.reported.v1\"}",
        "{\"type\":\"multica.usage.reported.v1\",\"type\":\"multica.usage.reported.v1\"}"};
    for (size_t i = 0; i < MC_ARRAY_LEN(texts); i++)
        agree(texts[i], texts[i], strlen(texts[i]));
    ck_assert_int_eq(ui_usage_decode(NULL, 0, &(struct mc_event){0}), MC_EINVAL);
}
END_TEST

Suite *suite_usage_decode(void)
{
    Suite *s = suite_create("usage_decode");
    TCase *tc = tcase_create("agreement");
    tcase_add_test(tc, agrees_with_the_schema_over_every_example);
    tcase_add_test(tc, agrees_with_the_schema_over_variants);
    tcase_add_test(tc, agrees_on_what_is_not_json);
    suite_add_tcase(s, tc);
    return s;
}
