/* mc_config.h: service settings read from environment variables, declared as one table. */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

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

/* ---- the command line every binary shares: --help and --version ---- */

/* The version the binaries were built from: `git describe --tags --always --dirty` of the
 * checkout at build time (the Makefile's VERSION), "unknown" when built outside git (a
 * tarball); and the full commit id, or "unknown". Static strings. */
const char *mc_version(void);
const char *mc_version_commit(void);

/* One settings table as --help lists it. A table used only for --help (variables a library
 * reads with getenv) may leave every dest NULL; mc_config_load must never see it. */
struct mc_config_table {
    const char *title; /* "common settings", ... */
    const struct mc_config_var *vars;
    size_t n;
};

/* What --help prints about a program besides its tables. */
struct mc_config_usage {
    const char *program;  /* "multica-migrate" */
    const char *synopsis; /* lines after "usage: ", without the trailing newline */
    const char *purpose;  /* one sentence */
};

/* Writes the help text to f: usage, purpose, then every table's variables with their defaults
 * ("required" for a NULL default, "empty" for "") and help sentences. */
void mc_config_print_help(FILE *f, const struct mc_config_usage *u,
                          const struct mc_config_table *tables, size_t ntables);

/* Looks for --help / -h and --version / -V in argv[1..argc-1]. With one of them it prints the
 * help (stdout) or "PROGRAM VERSION (commit COMMIT)" and returns 1: the caller exits 0 without
 * starting anything. Returns 0 when neither is given. */
int mc_config_cli(int argc, char *const *argv, const struct mc_config_usage *u,
                  const struct mc_config_table *tables, size_t ntables);

#endif
