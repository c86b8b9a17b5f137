/* mc_config.h: service settings read from environment variables, declared as one table. */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum mc_config_type {
    MC_CFG_STRING,   /* char * (heap copy; freed by mc_config_free) */
    MC_CFG_INT,      /* int64_t, within [min, max] */
    MC_CFG_BOOL,     /* bool: true/false, 1/0, yes/no, on/off */
    MC_CFG_DURATION, /* int64_t milliseconds: "250ms", "30s", "5m", "2h", or bare milliseconds */
};

/* One setting: the variable it is read from, its type, default text (NULL means required),
 * bounds for numbers, where to store the value, and a sentence for the docs. */
struct mc_config_var {
    const char *name;
    enum mc_config_type type;
    const char *def;
    int64_t min;
    int64_t max;
    void *dest;
    const char *help;
};

/* Reads every variable of the table from the environment (or its default) into its dest.
 * Returns 0, or MC_EINVAL with err holding one sentence naming the offending variable,
 * for example "KAFKA_BATCH_MAX: must be an integer in 1..100000, got 'abc'". Strings are
 * heap copies owned by the caller; mc_config_free releases them. */
int mc_config_load(const struct mc_config_var *vars, size_t n, char *err, size_t errlen);

/* Frees the strings mc_config_load stored for this table and sets them to NULL. */
void mc_config_free(const struct mc_config_var *vars, size_t n);

/* Parses a duration ("250ms", "30s", "5m", "2h", "1d", or plain milliseconds) into
 * milliseconds. Returns 0 or MC_EINVAL. */
int mc_config_parse_duration(const char *s, int64_t *out_ms);

#endif
