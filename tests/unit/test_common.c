/* test_common.c: UUIDs, RFC 3339 parsing and formatting, durations, the allocator, and stop
 * requests, wake-ups and workers. */
#include "harness.h"
#include "mc_common.h"

#include <stdlib.h>
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

START_TEST(allocator_never_returns_null)
{
    void *zero = mc_calloc(0, 8);
    ck_assert_ptr_nonnull(zero);
    free(zero);
    char *grown = mc_realloc(NULL, 0);
    ck_assert_ptr_nonnull(grown);
    grown = mc_realloc(grown, 64);
    memset(grown, 'x', 64);
    free(grown);
    ck_assert_ptr_null(mc_strdup(NULL));
    char *part = mc_strndup("abcdef", 3);
    ck_assert_str_eq(part, "abc");
    free(part);
    char *s = mc_sprintf("%s-%d", "seq", 7);
    ck_assert_str_eq(s, "seq-7");
    free(s);
}
END_TEST

START_TEST(wakeup_returns_on_a_kick_or_after_its_time)
{
    struct mc_wakeup w;
    mc_wakeup_init(&w);
    int64_t t0 = mc_now_mono_ms();
    ck_assert(!mc_wakeup_wait(&w, 60));
    ck_assert_int_ge(mc_now_mono_ms() - t0, 55);
    /* A kick before the wait is kept; two kicks wake one wait. */
    mc_wakeup_kick(&w);
    mc_wakeup_kick(&w);
    t0 = mc_now_mono_ms();
    ck_assert(mc_wakeup_wait(&w, 5000));
    ck_assert(!mc_wakeup_wait(&w, 10));
    ck_assert_int_lt(mc_now_mono_ms() - t0, 1000);
    mc_wakeup_destroy(&w);

    mc_stop stop = {0};
    ck_assert(!mc_stop_raised(&stop));
    mc_stop_raise(&stop);
    t0 = mc_now_mono_ms();
    mc_sleep_ms_interruptible(5000, &stop);
    ck_assert_int_lt(mc_now_mono_ms() - t0, 1000);
}
END_TEST

struct counter {
    struct mc_worker w;
    atomic_int woken, ended;
};

static void *count_wakeups(void *arg)
{
    struct counter *c = arg;
    while (!mc_worker_stopping(&c->w))
        if (mc_worker_wait(&c->w, 10000))
            atomic_fetch_add(&c->woken, 1);
    atomic_store(&c->ended, 1);
    return NULL;
}

START_TEST(worker_is_kicked_and_stopped)
{
    struct counter c = {0};
    mc_worker_stop(&c.w); /* a zeroed worker: nothing to stop */
    mc_worker_init(&c.w);
    mc_worker_kick(&c.w); /* before the thread runs: kept for its first wait */
    ck_assert_int_eq(mc_worker_start(&c.w, count_wakeups, &c), 0);
    int64_t deadline = mc_now_mono_ms() + 2000;
    while (atomic_load(&c.woken) < 1 && mc_now_mono_ms() < deadline)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&c.woken), 1);
    mc_worker_kick(&c.w);
    while (atomic_load(&c.woken) < 2 && mc_now_mono_ms() < deadline)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&c.woken), 2);
    int64_t t0 = mc_now_mono_ms();
    mc_worker_stop(&c.w); /* the 10 s wait ends at once */
    ck_assert_int_lt(mc_now_mono_ms() - t0, 1000);
    ck_assert_int_eq(atomic_load(&c.ended), 1);
    mc_worker_stop(&c.w); /* twice: a no-op */
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
    TCase *mem = tcase_create("memory");
    tcase_add_test(mem, allocator_never_returns_null);
    suite_add_tcase(s, mem);
    TCase *threads = tcase_create("threads");
    tcase_add_test(threads, wakeup_returns_on_a_kick_or_after_its_time);
    tcase_add_test(threads, worker_is_kicked_and_stopped);
    suite_add_tcase(s, threads);
    return s;
}
