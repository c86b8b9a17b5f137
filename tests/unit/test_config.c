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
    suite_add_tcase(s, tc);
    return s;
}
