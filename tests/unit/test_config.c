/* test_config.c: settings from the environment, defaults, and errors naming the variable. */
#include "harness.h"
#include "mc_config.h"

#include <stdlib.h>
#include <string.h>

static char *s_str;
static int64_t s_int, s_dur;
static bool s_bool;

static const struct mc_config_var vars[] = {
    {"T_STR", MC_CFG_STRING, "fallback", 0, 0, &s_str, ""},
    {"T_INT", MC_CFG_INT, "7", 1, 100, &s_int, ""},
    {"T_BOOL", MC_CFG_BOOL, "false", 0, 0, &s_bool, ""},
    {"T_DUR", MC_CFG_DURATION, "50ms", 1, 60000, &s_dur, ""},
};

static void clear_env(void)
{
    unsetenv("T_STR");
    unsetenv("T_INT");
    unsetenv("T_BOOL");
    unsetenv("T_DUR");
}

START_TEST(defaults_apply)
{
    clear_env();
    char err[256];
    ck_assert_int_eq(mc_config_load(vars, 4, err, sizeof err), 0);
    ck_assert_str_eq(s_str, "fallback");
    ck_assert_int_eq(s_int, 7);
    ck_assert(!s_bool);
    ck_assert_int_eq(s_dur, 50);
    mc_config_free(vars, 4);
    ck_assert_ptr_null(s_str);
}
END_TEST

START_TEST(environment_wins)
{
    clear_env();
    setenv("T_STR", "given", 1);
    setenv("T_INT", "42", 1);
    setenv("T_BOOL", "yes", 1);
    setenv("T_DUR", "30s", 1);
    char err[256];
    ck_assert_int_eq(mc_config_load(vars, 4, err, sizeof err), 0);
    ck_assert_str_eq(s_str, "given");
    ck_assert_int_eq(s_int, 42);
    ck_assert(s_bool);
    ck_assert_int_eq(s_dur, 30000);
    mc_config_free(vars, 4);
}
END_TEST

START_TEST(errors_name_the_variable)
{
    struct {
        const char *name, *value, *expect;
    } cases[] = {
        {"T_INT", "abc", "T_INT: must be an integer in 1..100, got 'abc'"},
        {"T_INT", "101", "T_INT: must be an integer in 1..100, got '101'"},
        {"T_BOOL", "maybe", "T_BOOL: must be true or false, got 'maybe'"},
        {"T_DUR", "5 parsecs", "T_DUR: must be a duration"},
        {"T_DUR", "2m", "T_DUR: must be a duration"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env();
        setenv(cases[i].name, cases[i].value, 1);
        char err[256] = "";
        ck_assert_int_eq(mc_config_load(vars, 4, err, sizeof err), MC_EINVAL);
        ck_assert_msg(strncmp(err, cases[i].expect, strlen(cases[i].expect)) == 0,
                      "got '%s', want prefix '%s'", err, cases[i].expect);
        ck_assert_ptr_null(s_str); /* nothing leaks from a failed load */
    }
}
END_TEST

START_TEST(required_missing)
{
    char *v = NULL;
    const struct mc_config_var req[] = {{"T_REQUIRED", MC_CFG_STRING, NULL, 0, 0, &v, ""}};
    unsetenv("T_REQUIRED");
    char err[256];
    ck_assert_int_eq(mc_config_load(req, 1, err, sizeof err), MC_EINVAL);
    ck_assert_str_eq(err, "T_REQUIRED: is required and not set");
}
END_TEST

START_TEST(durations)
{
    int64_t ms;
    ck_assert_int_eq(mc_config_parse_duration("250ms", &ms), 0);
    ck_assert_int_eq(ms, 250);
    ck_assert_int_eq(mc_config_parse_duration("5m", &ms), 0);
    ck_assert_int_eq(ms, 300000);
    ck_assert_int_eq(mc_config_parse_duration("1d", &ms), 0);
    ck_assert_int_eq(ms, 86400000);
    ck_assert_int_eq(mc_config_parse_duration("-1s", &ms), MC_EINVAL);
    ck_assert_int_eq(mc_config_parse_duration("s", &ms), MC_EINVAL);
    ck_assert_int_eq(mc_config_parse_duration("42", &ms), 0);
    ck_assert_int_eq(ms, 42);
    ck_assert_int_eq(mc_config_parse_duration("2h", &ms), 0);
    ck_assert_int_eq(ms, 7200000);
    ck_assert_int_eq(mc_config_parse_duration("0s", &ms), 0);
    ck_assert_int_eq(ms, 0);
    const char *bad[] = {
        "", "1.5s", "10 s", "5S", "3w", "ms", "9223372036854775807d", "99999999999999999999"};
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++)
        ck_assert_msg(mc_config_parse_duration(bad[i], &ms) == MC_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(mc_config_parse_duration(NULL, &ms), MC_EINVAL);
}
END_TEST

START_TEST(booleans_and_empty_values)
{
    const char *yes[] = {"1", "true", "TRUE", "Yes", "on"};
    const char *no[] = {"0", "false", "No", "OFF"};
    char err[256];
    for (size_t i = 0; i < MC_ARRAY_LEN(yes) + MC_ARRAY_LEN(no); i++) {
        bool want = i < MC_ARRAY_LEN(yes);
        clear_env();
        setenv("T_BOOL", want ? yes[i] : no[i - MC_ARRAY_LEN(yes)], 1);
        s_bool = !want;
        ck_assert_int_eq(mc_config_load(vars, 4, err, sizeof err), 0);
        ck_assert_msg(s_bool == want, "%s", getenv("T_BOOL"));
        mc_config_free(vars, 4);
    }
    /* An empty variable counts as unset: the default applies. */
    clear_env();
    setenv("T_INT", "", 1);
    setenv("T_STR", "", 1);
    ck_assert_int_eq(mc_config_load(vars, 4, err, sizeof err), 0);
    ck_assert_int_eq(s_int, 7);
    ck_assert_str_eq(s_str, "fallback");
    mc_config_free(vars, 4);
    mc_config_free(vars, 4); /* a second free finds nothing to free */
    ck_assert_ptr_null(s_str);
}
END_TEST

START_TEST(bounds_are_inclusive)
{
    struct {
        const char *name, *value;
        int64_t want; /* -1: refused */
    } cases[] = {
        {"T_INT", "1", 1},      {"T_INT", "100", 100},  {"T_INT", "0", -1},
        {"T_INT", "7x", -1},    {"T_INT", "", 7},       {"T_DUR", "60000", 60000},
        {"T_DUR", "1m", 60000}, {"T_DUR", "60001", -1}, {"T_DUR", "1ms", 1},
        {"T_DUR", "0ms", -1},
    };
    for (size_t i = 0; i < MC_ARRAY_LEN(cases); i++) {
        clear_env();
        setenv(cases[i].name, cases[i].value, 1);
        char err[256] = "";
        int rc = mc_config_load(vars, 4, err, sizeof err);
        if (cases[i].want < 0) {
            ck_assert_msg(rc == MC_EINVAL, "%s=%s accepted", cases[i].name, cases[i].value);
            ck_assert_msg(strncmp(err, cases[i].name, strlen(cases[i].name)) == 0, "%s", err);
            continue;
        }
        ck_assert_msg(rc == 0, "%s=%s: %s", cases[i].name, cases[i].value, err);
        int64_t got = strcmp(cases[i].name, "T_INT") == 0 ? s_int : s_dur;
        ck_assert_int_eq(got, cases[i].want);
        mc_config_free(vars, 4);
    }
}
END_TEST

Suite *suite_config(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("env");
    tcase_add_test(tc, defaults_apply);
    tcase_add_test(tc, environment_wins);
    tcase_add_test(tc, errors_name_the_variable);
    tcase_add_test(tc, required_missing);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, booleans_and_empty_values);
    tcase_add_test(tc, bounds_are_inclusive);
    suite_add_tcase(s, tc);
    return s;
}
