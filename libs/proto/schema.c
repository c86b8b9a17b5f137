/* schema.c: a JSON Schema (draft 2020-12) validator for the subset proto/schemas uses.
 *
 * The published schemas are the contract; validating with them in C keeps the codecs and
 * the contract one thing. Keywords outside the subset make a schema fail to load, so a
 * schema can never quietly promise more than the C side checks. */
#include "mc_proto.h"
#include "mc_log.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATTERNS 128

static json_t **g_docs; /* parsed schemas, parallel to mc_schema_files */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_load_failed;

static struct {
    const char *pattern; /* points into a schema document, stable for the process */
    regex_t re;
} g_patterns[MAX_PATTERNS];
static size_t g_npatterns;
static pthread_mutex_t g_pattern_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const known_keywords[] = {
    "$schema", "$id",         "$ref",      "$defs",      "$comment",
    "title",   "description", "examples",  "default",    "type",
    "enum",    "const",       "required",  "properties", "additionalProperties",
    "pattern", "minLength",   "maxLength", "minimum",    "maximum",
    "items",   "minItems",    "maxItems",  "allOf",      "format",
};

static int check_keywords(const json_t *schema, const char *where)
{
    if (!json_is_object(schema))
        return 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)schema, key, val)
    {
        bool known = false;
        for (size_t i = 0; i < MC_ARRAY_LEN(known_keywords); i++)
            if (strcmp(key, known_keywords[i]) == 0)
                known = true;
        if (!known) {
            mc_log_error(json_pack("{ss ss}", "schema", where, "keyword", key),
                         "schema uses a keyword the C validator does not implement");
            return -1;
        }
        if (strcmp(key, "properties") == 0 || strcmp(key, "$defs") == 0) {
            const char *k2;
            json_t *sub;
            json_object_foreach(val, k2, sub)
            {
                if (check_keywords(sub, where) != 0)
                    return -1;
            }
        } else if (strcmp(key, "allOf") == 0) {
            size_t i;
            json_t *sub;
            json_array_foreach(val, i, sub)
            {
                if (check_keywords(sub, where) != 0)
                    return -1;
            }
        } else if (strcmp(key, "items") == 0 || strcmp(key, "additionalProperties") == 0) {
            if (check_keywords(val, where) != 0)
                return -1;
        }
    }
    return 0;
}

static void load_all(void)
{
    g_docs = mc_calloc(mc_nschema_files, sizeof(json_t *));
    for (size_t i = 0; i < mc_nschema_files; i++) {
        json_error_t e;
        g_docs[i] = json_loads(mc_schema_files[i].text, 0, &e);
        if (g_docs[i] == NULL || check_keywords(g_docs[i], mc_schema_files[i].name) != 0) {
            mc_log_error(json_pack("{ss ss}", "schema", mc_schema_files[i].name, "error",
                                   g_docs[i] ? "unsupported keyword" : e.text),
                         "cannot load schema");
            g_load_failed = 1;
        }
    }
}

static const json_t *doc_named(const char *name)
{
    pthread_once(&g_once, load_all);
    if (g_docs == NULL)
        return NULL;
    for (size_t i = 0; i < mc_nschema_files; i++)
        if (strcmp(mc_schema_files[i].name, name) == 0)
            return g_docs[i];
    return NULL;
}

/* Where a value sits in the instance: a chain of keys (or array indexes) up to the root.
 * It is rendered ("data.items[2].model") only when a check fails, so a valid message costs
 * no string formatting at all. */
struct vpath {
    const struct vpath *up;
    const char *key; /* NULL for an array item */
    size_t index;
};

static size_t render_path(const struct vpath *p, char *out, size_t cap)
{
    if (p == NULL) {
        out[0] = '\0';
        return 0;
    }
    size_t n = render_path(p->up, out, cap);
    int w;
    if (p->key != NULL)
        w = snprintf(out + n, cap - n, "%s%s", n ? "." : "", p->key);
    else
        w = snprintf(out + n, cap - n, "[%zu]", p->index);
    if (w < 0)
        return n;
    return n + (size_t)w < cap ? n + (size_t)w : cap - 1;
}

/* Validation state: the document a $ref without a file part resolves against, and where
 * the first error goes. */
struct vctx {
    const json_t *doc;
    char *reason;
    size_t reasonlen;
    int depth;
};

static int failf(struct vctx *c, const struct vpath *path, const char *fmt, const char *arg)
{
    char msg[256], where[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    render_path(path, where, sizeof where);
    snprintf(c->reason, c->reasonlen, "%s: %s", where[0] ? where : "(message)", msg);
    return MC_EINVAL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static bool type_matches(const char *want, const json_t *v)
{
    if (strcmp(want, "number") == 0)
        return json_is_number(v);
    if (strcmp(want, "boolean") == 0)
        return json_is_boolean(v);
    return strcmp(want, type_name(v)) == 0;
}

static const regex_t *compiled(const char *pattern)
{
    const regex_t *out = NULL;
    pthread_mutex_lock(&g_pattern_mu);
    for (size_t i = 0; i < g_npatterns; i++)
        if (g_patterns[i].pattern == pattern)
            out = &g_patterns[i].re;
    if (out == NULL && g_npatterns < MAX_PATTERNS &&
        regcomp(&g_patterns[g_npatterns].re, pattern, REG_EXTENDED | REG_NOSUB) == 0) {
        g_patterns[g_npatterns].pattern = pattern;
        out = &g_patterns[g_npatterns++].re;
    }
    pthread_mutex_unlock(&g_pattern_mu);
    return out;
}

static int validate(struct vctx *c, const json_t *schema, const json_t *v,
                    const struct vpath *path);

static const json_t *resolve_ref(struct vctx *c, const char *ref, const json_t **doc_out)
{
    const char *hash = strchr(ref, '#');
    const json_t *doc = c->doc;
    if (hash != ref) {
        char file[128];
        size_t n = hash ? (size_t)(hash - ref) : strlen(ref);
        if (n >= sizeof file)
            return NULL;
        memcpy(file, ref, n);
        file[n] = '\0';
        doc = doc_named(file);
    }
    *doc_out = doc;
    if (doc == NULL || hash == NULL || hash[1] == '\0')
        return doc;
    /* Only "#/$defs/<name>" fragments are used. */
    if (strncmp(hash, "#/$defs/", 8) != 0)
        return NULL;
    return json_object_get(json_object_get(doc, "$defs"), hash + 8);
}

static int validate_object(struct vctx *c, const json_t *schema, const json_t *v,
                           const struct vpath *path)
{
    const json_t *req = json_object_get(schema, "required");
    size_t i;
    json_t *name;
    json_array_foreach(req, i, name)
    {
        if (json_object_get(v, json_string_value(name)) == NULL) {
            struct vpath sub = {path, json_string_value(name), 0};
            return failf(c, &sub, "is required%s", "");
        }
    }
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        struct vpath sub = {path, key, 0};
        const json_t *ps = props ? json_object_get(props, key) : NULL;
        if (ps != NULL) {
            int rc = validate(c, ps, val, &sub);
            if (rc != 0)
                return rc;
        } else if (json_is_false(addl)) {
            return failf(c, &sub, "is not an allowed field%s", "");
        } else if (json_is_object(addl)) {
            int rc = validate(c, addl, val, &sub);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int validate_string(struct vctx *c, const json_t *schema, const json_t *v,
                           const struct vpath *path)
{
    const char *s = json_string_value(v);
    size_t len = mc_utf8_len(s);
    const json_t *k;
    char num[32];
    if ((k = json_object_get(schema, "minLength")) && len < (size_t)json_integer_value(k)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(k));
        return failf(c, path, len == 0 ? "must not be empty" : "must be at least %s characters",
                     num);
    }
    if ((k = json_object_get(schema, "maxLength")) && len > (size_t)json_integer_value(k)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(k));
        return failf(c, path, "must be at most %s characters", num);
    }
    if ((k = json_object_get(schema, "pattern"))) {
        const regex_t *re = compiled(json_string_value(k));
        if (re == NULL)
            return failf(c, path, "schema pattern cannot be compiled%s", "");
        if (regexec(re, s, 0, NULL, 0) != 0)
            return failf(c, path, "does not match %s", json_string_value(k));
    }
    if ((k = json_object_get(schema, "format"))) {
        const char *f = json_string_value(k);
        int64_t us;
        if (strcmp(f, "date-time") == 0 && mc_parse_rfc3339(s, &us) != 0)
            return failf(c, path, "must be an RFC 3339 timestamp%s", "");
        if (strcmp(f, "uuid") == 0 && !mc_uuid_valid(s))
            return failf(c, path, "must be a UUID%s", "");
    }
    return 0;
}

static int validate_number(struct vctx *c, const json_t *schema, const json_t *v,
                           const struct vpath *path)
{
    const json_t *k;
    double x = json_number_value(v);
    char num[40];
    if ((k = json_object_get(schema, "minimum"))) {
        bool below = json_is_integer(k) && json_is_integer(v)
                         ? json_integer_value(v) < json_integer_value(k)
                         : x < json_number_value(k);
        if (below) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(k));
            return failf(c, path, "must be >= %s", num);
        }
    }
    if ((k = json_object_get(schema, "maximum"))) {
        bool above = json_is_integer(k) && json_is_integer(v)
                         ? json_integer_value(v) > json_integer_value(k)
                         : x > json_number_value(k);
        if (above) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(k));
            return failf(c, path, "must be <= %s", num);
        }
    }
    return 0;
}

static int validate(struct vctx *c, const json_t *schema, const json_t *v, const struct vpath *path)
{
    if (json_is_true(schema))
        return 0;
    if (json_is_false(schema))
        return failf(c, path, "is not allowed%s", "");
    if (++c->depth > 32) {
        c->depth--;
        return failf(c, path, "is nested too deeply%s", "");
    }
    int rc = 0;
    const json_t *k;
    if ((k = json_object_get(schema, "$ref"))) {
        const json_t *doc = NULL;
        const json_t *target = resolve_ref(c, json_string_value(k), &doc);
        if (target == NULL) {
            rc = failf(c, path, "schema reference %s cannot be resolved", json_string_value(k));
            goto out;
        }
        const json_t *saved = c->doc;
        c->doc = doc;
        rc = validate(c, target, v, path);
        c->doc = saved;
        if (rc != 0)
            goto out;
    }
    if ((k = json_object_get(schema, "allOf"))) {
        size_t i;
        json_t *sub;
        json_array_foreach(k, i, sub)
        {
            if ((rc = validate(c, sub, v, path)) != 0)
                goto out;
        }
    }
    if ((k = json_object_get(schema, "type"))) {
        bool ok = false;
        if (json_is_string(k)) {
            ok = type_matches(json_string_value(k), v);
        } else {
            size_t i;
            json_t *t;
            json_array_foreach(k, i, t) ok = ok || type_matches(json_string_value(t), v);
        }
        if (!ok) {
            rc = failf(c, path, json_is_string(k) ? "must be of type %s" : "has the wrong type%s",
                       json_is_string(k) ? json_string_value(k) : "");
            goto out;
        }
    }
    if ((k = json_object_get(schema, "const")) && !json_equal(k, (json_t *)v)) {
        rc = failf(c, path, "must be %s",
                   json_is_string(k) ? json_string_value(k) : "the constant value");
        goto out;
    }
    if ((k = json_object_get(schema, "enum"))) {
        bool ok = false;
        size_t i;
        json_t *e;
        json_array_foreach(k, i, e) ok = ok || json_equal(e, (json_t *)v);
        if (!ok) {
            rc = failf(c, path, "is not one of the allowed values%s", "");
            goto out;
        }
    }
    if (json_is_object(v))
        rc = validate_object(c, schema, v, path);
    else if (json_is_string(v))
        rc = validate_string(c, schema, v, path);
    else if (json_is_number(v))
        rc = validate_number(c, schema, v, path);
    else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if ((k = json_object_get(schema, "minItems")) && n < (size_t)json_integer_value(k)) {
            rc = failf(c, path, "has too few items%s", "");
            goto out;
        }
        if ((k = json_object_get(schema, "maxItems")) && n > (size_t)json_integer_value(k)) {
            rc = failf(c, path, "has too many items%s", "");
            goto out;
        }
        if ((k = json_object_get(schema, "items"))) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                struct vpath sub = {path, NULL, i};
                if ((rc = validate(c, k, item, &sub)) != 0)
                    goto out;
            }
        }
    }
out:
    c->depth--;
    return rc;
}

int mc_schema_validate(const char *schema, const json_t *instance, char *reason, size_t reasonlen)
{
    const json_t *doc = doc_named(schema);
    if (doc == NULL || g_load_failed) {
        snprintf(reason, reasonlen, "schema %s is not available", schema);
        return doc == NULL ? MC_ENOTFOUND : MC_EINVAL;
    }
    struct vctx c = {.doc = doc, .reason = reason, .reasonlen = reasonlen, .depth = 0};
    return validate(&c, doc, instance, NULL);
}
