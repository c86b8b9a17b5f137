/* usage_decode.c: a UsageReported decoder that checks the schema's fixed fields directly.
 *
 * Walking usage_reported.schema.json for every event (six regular expressions, a $ref chase
 * per field) cost the ingester most of its CPU per row. The schema stays the contract: this
 * decoder only ever says yes when the schema would (tests/unit/test_usage_decode.c holds the
 * two in agreement over proto/examples and a set of invalid variants), and whatever it
 * refuses goes through mc_event_decode, whose verdict and reason stand. */
#include "usage_decode.h"

#include <string.h>

/* Longer than any string the timestamp pattern admits (19 + 10 + 6 bytes). */
#define TIMESTAMP_MAX 40

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
static bool uuid_ok(const char *s, size_t n)
{
    if (s == NULL || n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static bool is_uuid(const json_t *v)
{
    return uuid_ok(json_string_value(v), json_string_length(v));
}

/* envelope.schema.json#/$defs/timestamp: its pattern, then its date-time format. s holds n
 * bytes, not necessarily followed by a NUL. */
static bool timestamp_ok(const char *s, size_t n, int64_t *us)
{
    size_t i = 19;
    if (n < 20 || n >= TIMESTAMP_MAX || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) ||
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
    char z[TIMESTAMP_MAX];
    memcpy(z, s, n);
    z[n] = '\0';
    return zone && mc_parse_rfc3339(z, us) == 0;
}

static bool is_timestamp(const json_t *v, int64_t *us)
{
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == json_string_length(v) &&
           timestamp_ok(s, json_string_length(v), us);
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

/* ---- the scanner: one pass over the bytes, no tree (ui_usage_scan) ---- */

struct scan {
    const char *p, *end;
};

/* A string field: where its bytes are, and how many. */
struct span {
    const char *s;
    size_t n;
};

static void skip_ws(struct scan *sc)
{
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

static bool take(struct scan *sc, char c)
{
    skip_ws(sc);
    if (sc->p >= sc->end || *sc->p != c)
        return false;
    sc->p++;
    return true;
}

/* A string of printable ASCII without escapes: its bytes are its code points and its value.
 * Anything else (an escape, a control byte, UTF-8) is left to the tree decoder. */
static bool scan_str(struct scan *sc, struct span *out)
{
    if (!take(sc, '"'))
        return false;
    const char *b = sc->p;
    while (sc->p < sc->end && *sc->p != '"') {
        if (*sc->p < 0x20 || *sc->p > 0x7e || *sc->p == '\\')
            return false;
        sc->p++;
    }
    if (sc->p >= sc->end)
        return false;
    *out = (struct span){b, (size_t)(sc->p - b)};
    sc->p++;
    return true;
}

/* A non-negative integer of at most 18 digits, in JSON's form (no sign, no leading zero, no
 * fraction or exponent: what follows must be a separator, which the caller checks). */
static bool scan_count(struct scan *sc, int64_t *out)
{
    skip_ws(sc);
    const char *b = sc->p;
    int64_t v = 0;
    while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9' && sc->p - b < 18)
        v = v * 10 + (*sc->p++ - '0');
    size_t n = (size_t)(sc->p - b);
    if (n == 0 || (n > 1 && *b == '0'))
        return false;
    *out = v;
    return true;
}

/* The index of key in keys, or -1 (a key holds no NUL: strncmp stops where they differ). */
static int key_index(const struct span *key, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(keys[i], key->s, key->n) == 0 && keys[i][key->n] == '\0')
            return (int)i;
    return -1;
}

enum { D_TASK, D_RUNTIME, D_PROVIDER, D_MODEL, D_TOKENS, D_COST = D_TOKENS + 4, D_REPORTED };

/* The data object: every key known and once, each value of its kind; checked afterwards. */
static bool scan_data(struct scan *sc, struct span *str, int64_t *num, unsigned *seen)
{
    if (!take(sc, '{'))
        return false;
    do {
        struct span key;
        if (!scan_str(sc, &key) || !take(sc, ':'))
            return false;
        int k = key_index(&key, DATA_KEYS, MC_ARRAY_LEN(DATA_KEYS));
        if (k < 0 || (*seen & (1u << k)))
            return false;
        *seen |= 1u << k;
        bool number = k >= D_TOKENS && k <= D_COST;
        if (number ? !scan_count(sc, &num[k]) : !scan_str(sc, &str[k]))
            return false;
    } while (take(sc, ','));
    return take(sc, '}');
}

enum { E_SPEC, E_ID, E_TYPE, E_SOURCE, E_SUBJECT, E_TIME, E_DCT, E_DATA };

static bool text_ok(const struct span *v, size_t min, size_t max)
{
    return v->n >= min && v->n <= max;
}

static bool const_ok(const struct span *v, const char *want)
{
    return v->n == strlen(want) && memcmp(v->s, want, v->n) == 0;
}

static void copy_span(char *dst, const struct span *v)
{
    memcpy(dst, v->s, v->n);
    dst[v->n] = '\0';
}

int ui_usage_scan(const void *buf, size_t len, struct ui_usage *out)
{
    if (buf == NULL || len == 0 || len > MC_EVENT_MAX_BYTES)
        return MC_EINVAL;
    struct scan sc = {buf, (const char *)buf + len};
    struct span env[MC_ARRAY_LEN(ENVELOPE_KEYS)] = {{0}}, str[MC_ARRAY_LEN(DATA_KEYS)] = {{0}};
    int64_t num[MC_ARRAY_LEN(DATA_KEYS)] = {0}, us;
    unsigned eseen = 0, dseen = 0;
    if (!take(&sc, '{'))
        return MC_EINVAL;
    do {
        struct span key;
        if (!scan_str(&sc, &key) || !take(&sc, ':'))
            return MC_EINVAL;
        int k = key_index(&key, ENVELOPE_KEYS, MC_ARRAY_LEN(ENVELOPE_KEYS));
        if (k < 0 || (eseen & (1u << k)))
            return MC_EINVAL;
        eseen |= 1u << k;
        if (k == E_DATA ? !scan_data(&sc, str, num, &dseen) : !scan_str(&sc, &env[k]))
            return MC_EINVAL;
    } while (take(&sc, ','));
    if (!take(&sc, '}'))
        return MC_EINVAL;
    skip_ws(&sc);
    unsigned env_required = (1u << E_DCT) ^ ((1u << MC_ARRAY_LEN(ENVELOPE_KEYS)) - 1);
    unsigned data_required =
        ((1u << MC_ARRAY_LEN(DATA_KEYS)) - 1) ^ (1u << D_RUNTIME) ^ (1u << D_COST);
    if (sc.p != sc.end || (eseen & env_required) != env_required ||
        (dseen & data_required) != data_required || !const_ok(&env[E_SPEC], "1.0") ||
        !const_ok(&env[E_TYPE], MC_EV_USAGE_REPORTED) || !uuid_ok(env[E_ID].s, env[E_ID].n) ||
        !text_ok(&env[E_SOURCE], 1, 128) || !text_ok(&env[E_SUBJECT], 1, 512) ||
        !timestamp_ok(env[E_TIME].s, env[E_TIME].n, &us) ||
        ((eseen & (1u << E_DCT)) && !const_ok(&env[E_DCT], "application/json")))
        return MC_EINVAL;
    if (!uuid_ok(str[D_TASK].s, str[D_TASK].n) ||
        ((dseen & (1u << D_RUNTIME)) && !uuid_ok(str[D_RUNTIME].s, str[D_RUNTIME].n)) ||
        !text_ok(&str[D_PROVIDER], 1, MC_PROVIDER_MAX) ||
        !text_ok(&str[D_MODEL], 1, MC_MODEL_MAX) ||
        !timestamp_ok(str[D_REPORTED].s, str[D_REPORTED].n, &us))
        return MC_EINVAL;
    for (int i = D_TOKENS; i < D_TOKENS + 4; i++)
        if (num[i] > MC_TOKENS_MAX)
            return MC_EINVAL;
    memset(out, 0, sizeof *out);
    struct mc_usage_reported *u = &out->u;
    copy_span(out->id, &env[E_ID]);
    copy_span(u->task_id, &str[D_TASK]);
    if (dseen & (1u << D_RUNTIME))
        copy_span(u->runtime_id, &str[D_RUNTIME]);
    copy_span(u->provider, &str[D_PROVIDER]);
    for (char *c = u->provider; *c; c++) /* stored lowercase, as mc_usage_reported_from does */
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    copy_span(u->model, &str[D_MODEL]);
    copy_span(u->reported_at, &str[D_REPORTED]);
    u->input_tokens = num[D_TOKENS];
    u->output_tokens = num[D_TOKENS + 1];
    u->cache_read_tokens = num[D_TOKENS + 2];
    u->cache_write_tokens = num[D_TOKENS + 3];
    u->cost_usd_ticks = (dseen & (1u << D_COST)) ? num[D_COST] : -1;
    return 0;
}
