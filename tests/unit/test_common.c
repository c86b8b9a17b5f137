/* test_common.c: UUIDs, RFC 3339 parsing and formatting, durations. */
#include "harness.h"
#include "mc_common.h"

#include <string.h>
#include <unistd.h>

START_TEST(uuid_v7_layout)
{
    char a[MC_UUID_STRLEN], b[MC_UUID_STRLEN];
    mc_uuid_v7(a);
    mc_uuid_v7(b);
    ck_assert(mc_uuid_valid(a));
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(a[14], '7');             /* version nibble */
    ck_assert(strchr("89ab", a[19]) != NULL); /* RFC 9562 variant */
    /* Time-ordered: a later id never sorts before an earlier one of another millisecond. */
    char c[MC_UUID_STRLEN];
    usleep(2000);
    mc_uuid_v7(c);
    ck_assert_int_lt(strncmp(a, c, 13), 0);
}
END_TEST

START_TEST(uuid_validation)
{
    ck_assert(mc_uuid_valid("0195f1c2-7a3b-7c4d-8e5f-0123456789ab"));
    ck_assert(!mc_uuid_valid("0195f1c2-7a3b-7c4d-8e5f-0123456789a"));
    ck_assert(!mc_uuid_valid("0195f1c2x7a3b-7c4d-8e5f-0123456789ab"));
    ck_assert(!mc_uuid_valid("zz95f1c2-7a3b-7c4d-8e5f-0123456789ab"));
    ck_assert(!mc_uuid_valid(NULL));
}
END_TEST

START_TEST(rfc3339_round_trip)
{
    int64_t us = 0;
    ck_assert_int_eq(mc_parse_rfc3339("2026-01-02T03:04:05.123456Z", &us), 0);
    char buf[40];
    mc_format_rfc3339(us, buf, sizeof buf);
    ck_assert_str_eq(buf, "2026-01-02T03:04:05.123456Z");
    int64_t off = 0;
    ck_assert_int_eq(mc_parse_rfc3339("2026-01-02T05:04:05.123456+02:00", &off), 0);
    ck_assert_int_eq(off, us);
    ck_assert_int_eq(mc_parse_rfc3339("2026-01-02T03:04:05Z", &off), 0);
    ck_assert_int_eq(us - off, 123456);
}
END_TEST

START_TEST(rfc3339_rejects)
{
    int64_t us;
    const char *bad[] = {"",
                         "yesterday",
                         "2026-13-01T00:00:00Z",
                         "2026-02-30T00:00:00Z",
                         "2026-01-01 00:00:00Z",
                         "2026-01-01T00:00:00",
                         "2026-01-01T00:00:00.Z",
                         "2026-01-01T25:00:00Z",
                         "2026-01-01T00:00:00Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(mc_parse_rfc3339(bad[i], &us) == MC_EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

Suite *suite_common(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, uuid_v7_layout);
    tcase_add_test(tc, uuid_validation);
    tcase_add_test(tc, rfc3339_round_trip);
    tcase_add_test(tc, rfc3339_rejects);
    suite_add_tcase(s, tc);
    return s;
}
