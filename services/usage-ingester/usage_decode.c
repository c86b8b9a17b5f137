/* usage_decode.c: a UsageReported decoder that checks the schema's fixed fields directly.
 *
 * Walking usage_reported.schema.json for every event (six regular expressions, a $ref chase
 * per field) cost the ingester most of its CPU per row. The schema stays the contract: this
 * decoder only ever says yes when the schema would (tests/unit/test_usage_decode.c holds the
 * two in agreement over proto/examples and a set of invalid variants), and whatever it
 * refuses goes through mc_event_decode, whose verdict and reason stand. */
#include "usage_decode.h"

#include <string.h>

static const char *const ENVELOPE_KEYS[] = {
    "specversion", "id", "type", "source", "subject", "time", "datacontenttype", "data"};
static const char *const DATA_KEYS[] = {
    "task_id",       "runtime_id",        "provider",           "model",          "input_tokens",
    "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd_ticks", "reported_at"};
static const char *const TOKEN_KEYS[] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                         "cache_write_tokens"};

static bool only_keys(const json_t *obj, const char *const *keys, size_t n)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known)
            return false;
    }
    return true;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* envelope.schema.json#/$defs/uuid: lowercase canonical form, nothing after it. */
static bool is_uuid(const json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || json_string_length(v) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* envelope.schema.json#/$defs/timestamp: its pattern, then its date-time format. */
static bool is_timestamp(const json_t *v, int64_t *us)
{
    const char *s = json_string_value(v);
    if (s == NULL)
        return false;
    size_t n = json_string_length(v), i = 19;
    if (n < 20 || strlen(s) != n || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) ||
        s[7] != '-' || !is_digits(s + 8, 2) || s[10] != 'T' || !is_digits(s + 11, 2) ||
        s[13] != ':' || !is_digits(s + 14, 2) || s[16] != ':' || !is_digits(s + 17, 2))
        return false;
    if (s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f || i - f > 9)
            return false;
    }
    bool zone = (i + 1 == n && s[i] == 'Z') ||
                (i + 6 == n && (s[i] == '+' || s[i] == '-') && is_digits(s + i + 1, 2) &&
                 s[i + 3] == ':' && is_digits(s + i + 4, 2));
    return zone && mc_parse_rfc3339(s, us) == 0;
}

/* A string of min..max code points, without NUL inside (the schema's lengths count code
 * points; a NUL would make the C string the rest of the code sees shorter than the JSON). */
static bool is_text(const json_t *v, size_t min, size_t max)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != json_string_length(v))
        return false;
    size_t n = mc_utf8_len(s);
    return n >= min && n <= max;
}

/* The schema's const: the whole JSON string, not a C prefix of it. */
static bool is_const(const json_t *v, const char *want)
{
    const char *s = json_string_value(v);
    return s != NULL && json_string_length(v) == strlen(want) && strcmp(s, want) == 0;
}

static bool is_count(const json_t *v, json_int_t max)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 &&
           (max < 0 || json_integer_value(v) <= max);
}

static bool data_ok(const json_t *d)
{
    if (!json_is_object(d) || !only_keys(d, DATA_KEYS, MC_ARRAY_LEN(DATA_KEYS)))
        return false;
    const json_t *rt = json_object_get(d, "runtime_id");
    const json_t *cost = json_object_get(d, "cost_usd_ticks");
    int64_t us;
    if (!is_uuid(json_object_get(d, "task_id")) || (rt != NULL && !is_uuid(rt)) ||
        !is_text(json_object_get(d, "provider"), 1, MC_PROVIDER_MAX) ||
        !is_text(json_object_get(d, "model"), 1, MC_MODEL_MAX) ||
        (cost != NULL && !is_count(cost, -1)) ||
        !is_timestamp(json_object_get(d, "reported_at"), &us))
        return false;
    for (size_t i = 0; i < MC_ARRAY_LEN(TOKEN_KEYS); i++)
        if (!is_count(json_object_get(d, TOKEN_KEYS[i]), MC_TOKENS_MAX))
            return false;
    return true;
}

int ui_usage_decode(const void *buf, size_t len, struct mc_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (buf == NULL || len == 0 || len > MC_EVENT_MAX_BYTES)
        return MC_EINVAL;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL)
        return MC_EINVAL;
    const json_t *dct = json_object_get(root, "datacontenttype");
    const json_t *time = json_object_get(root, "time");
    int64_t time_us;
    if (!json_is_object(root) || !only_keys(root, ENVELOPE_KEYS, MC_ARRAY_LEN(ENVELOPE_KEYS)) ||
        !is_const(json_object_get(root, "type"), MC_EV_USAGE_REPORTED) ||
        !is_const(json_object_get(root, "specversion"), "1.0") ||
        !is_uuid(json_object_get(root, "id")) ||
        !is_text(json_object_get(root, "source"), 1, 128) ||
        !is_text(json_object_get(root, "subject"), 1, 512) || !is_timestamp(time, &time_us) ||
        (dct != NULL && !is_const(dct, "application/json")) ||
        !data_ok(json_object_get(root, "data"))) {
        json_decref(root);
        return MC_EINVAL;
    }
    ev->root = root;
    ev->id = json_string_value(json_object_get(root, "id"));
    ev->type = json_string_value(json_object_get(root, "type"));
    ev->source = json_string_value(json_object_get(root, "source"));
    ev->subject = json_string_value(json_object_get(root, "subject"));
    ev->time = json_string_value(time);
    ev->time_us = time_us;
    ev->data = json_object_get(root, "data");
    return 0;
}
