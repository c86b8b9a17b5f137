/* config.c: typed environment-variable settings with defaults and errors naming the variable. */
#include "mc_config.h"
#include "mc_common.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mc_config_parse_duration(const char *s, int64_t *out_ms)
{
    if (s == NULL || *s == '\0')
        return MC_EINVAL;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v < 0)
        return MC_EINVAL;
    int64_t mult;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mult = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        mult = 86400 * 1000;
    else
        return MC_EINVAL;
    if (v > INT64_MAX / mult)
        return MC_EINVAL;
    *out_ms = (int64_t)v * mult;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < MC_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return MC_EINVAL;
}

static int parse_int(const char *s, int64_t *out)
{
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return MC_EINVAL;
    *out = (int64_t)v;
    return 0;
}

static int load_one(const struct mc_config_var *v, char *err, size_t errlen)
{
    const char *raw = getenv(v->name);
    bool from_env = raw != NULL && *raw != '\0';
    const char *text = from_env ? raw : v->def;
    if (text == NULL) {
        snprintf(err, errlen, "%s: is required and not set", v->name);
        return MC_EINVAL;
    }
    switch (v->type) {
    case MC_CFG_STRING:
        *(char **)v->dest = mc_strdup(text);
        return 0;
    case MC_CFG_BOOL:
        if (parse_bool(text, (bool *)v->dest) != 0) {
            snprintf(err, errlen, "%s: must be true or false, got '%s'", v->name, text);
            return MC_EINVAL;
        }
        return 0;
    case MC_CFG_INT: {
        int64_t x;
        if (parse_int(text, &x) != 0 || x < v->min || x > v->max) {
            snprintf(err, errlen, "%s: must be an integer in %" PRId64 "..%" PRId64 ", got '%s'",
                     v->name, v->min, v->max, text);
            return MC_EINVAL;
        }
        *(int64_t *)v->dest = x;
        return 0;
    }
    case MC_CFG_DURATION: {
        int64_t ms;
        if (mc_config_parse_duration(text, &ms) != 0 || ms < v->min || ms > v->max) {
            snprintf(err, errlen,
                     "%s: must be a duration such as 50ms, 30s or 5m between %" PRId64
                     "ms and %" PRId64 "ms, got '%s'",
                     v->name, v->min, v->max, text);
            return MC_EINVAL;
        }
        *(int64_t *)v->dest = ms;
        return 0;
    }
    }
    snprintf(err, errlen, "%s: unknown setting type", v->name);
    return MC_EINVAL;
}

int mc_config_load(const struct mc_config_var *vars, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = load_one(&vars[i], err, errlen);
        if (rc != 0) {
            mc_config_free(vars, i);
            return rc;
        }
    }
    return 0;
}

void mc_config_free(const struct mc_config_var *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == MC_CFG_STRING && *(char **)vars[i].dest != NULL) {
            free(*(char **)vars[i].dest);
            *(char **)vars[i].dest = NULL;
        }
    }
}
