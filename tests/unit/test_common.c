/* test_common.c: UUIDs, RFC 3339 parsing and formatting, error names, UTF-8 length, clocks,
 * durations, the allocator, and stop requests, wake-ups and workers. */
#include "harness.h"
#include "mc_common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Parses s, failing the test when it is refused. */
static int64_t rfc3339(const char *s)
{
    int64_t us = 0;
    ck_assert_msg(mc_parse_rfc3339(s, &us) == 0, "refused '%s'", s);
    return us;
}

START_TEST(rfc3339_edges)
{
    /* Leap days exist only in leap years (2000 is one, 2100 is not). */
    ck_assert_int_eq(rfc3339("2024-02-29T00:00:00Z") - rfc3339("2024-02-28T00:00:00Z"),
                     86400LL * 1000000);
    rfc3339("2000-02-29T00:00:00Z");
    int64_t us;
    ck_assert_int_eq(mc_parse_rfc3339("2025-02-29T00:00:00Z", &us), MC_EINVAL);
    ck_assert_int_eq(mc_parse_rfc3339("2100-02-29T00:00:00Z", &us), MC_EINVAL);
    ck_assert_int_eq(mc_parse_rfc3339("2026-04-31T00:00:00Z", &us), MC_EINVAL);
    /* RFC 3339 allows lowercase t and z, any fraction length (kept to microseconds), and
     * offsets either way; a leap second reads as the next second. */
    ck_assert_int_eq(rfc3339("2026-01-02t03:04:05z"), rfc3339("2026-01-02T03:04:05Z"));
    ck_assert_int_eq(rfc3339("2026-01-02T03:04:05.5Z") - rfc3339("2026-01-02T03:04:05Z"), 500000);
    ck_assert_int_eq(rfc3339("2026-01-02T03:04:05.123456789Z") - rfc3339("2026-01-02T03:04:05Z"),
                     123456);
    ck_assert_int_eq(rfc3339("2026-01-01T18:30:00-05:30"), rfc3339("2026-01-02T00:00:00Z"));
    ck_assert_int_eq(rfc3339("2016-12-31T23:59:60Z"), rfc3339("2017-01-01T00:00:00Z"));
    const char *bad[] = {"2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+05:60",
                         "2026-01-01T00:00:00+0530",  "2026-01-01T00:60:00Z",
                         "2026-01-01T00:00:61Z",      "2026-00-01T00:00:00Z",
                         "2026-01-00T00:00:00Z",      "26-01-01T00:00:00Z"};
    for (size_t i = 0; i < MC_ARRAY_LEN(bad); i++)
        ck_assert_msg(mc_parse_rfc3339(bad[i], &us) == MC_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(mc_parse_rfc3339(NULL, &us), MC_EINVAL);
}
END_TEST

START_TEST(rfc3339_format)
{
    char buf[40];
    mc_format_rfc3339(0, buf, sizeof buf);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000000Z");
    /* Before the epoch the fraction still counts forward from the second. */
    mc_format_rfc3339(-1, buf, sizeof buf);
    ck_assert_str_eq(buf, "1969-12-31T23:59:59.999999Z");
    ck_assert_int_eq(rfc3339(buf), -1);
    mc_format_rfc3339(rfc3339("2024-02-29T23:59:59.000001+00:00"), buf, sizeof buf);
    ck_assert_str_eq(buf, "2024-02-29T23:59:59.000001Z");
}
END_TEST

START_TEST(error_names)
{
    const char *seen[11];
    for (int e = MC_OK; e >= MC_ESTATE; e--) {
        const char *name = mc_strerror(e);
        ck_assert_str_ne(name, "unknown error");
        for (int k = MC_OK; k > e; k--)
            ck_assert_str_ne(seen[-k], name); /* every code has its own name */
        seen[-e] = name;
    }
    ck_assert_str_eq(mc_strerror(MC_ESTATE - 1), "unknown error");
    ck_assert_str_eq(mc_strerror(1), "unknown error");
}
END_TEST

START_TEST(utf8_length_counts_code_points)
{
    ck_assert_uint_eq(mc_utf8_len(""), 0);
    ck_assert_uint_eq(mc_utf8_len("abc"), 3);
    ck_assert_uint_eq(mc_utf8_len("h\xc3\xa9llo"), 5);             /* é: 2 bytes */
    ck_assert_uint_eq(mc_utf8_len("\xe6\x97\xa5\xe6\x9c\xac"), 2); /* 日本 */
    ck_assert_uint_eq(mc_utf8_len("\xf0\x9f\x98\x80!"), 2);        /* an emoji: 4 bytes */
}
END_TEST

START_TEST(strings_and_clocks)
{
    char *s = mc_sprintf("%s-%d", "task", 7);
    ck_assert_str_eq(s, "task-7");
    free(s);
    ck_assert_ptr_null(mc_strdup(NULL));
    s = mc_strdup("copy");
    ck_assert_str_eq(s, "copy");
    free(s);
    /* An absolute deadline keeps its nanoseconds below one second. */
    struct timespec now, at;
    clock_gettime(CLOCK_REALTIME, &now);
    mc_abstime_after(1999, &at);
    ck_assert_int_lt(at.tv_nsec, 1000000000L);
    int64_t diff_ms =
        ((int64_t)at.tv_sec - now.tv_sec) * 1000 + (at.tv_nsec - now.tv_nsec) / 1000000;
    ck_assert_int_ge(diff_ms, 1999);
    ck_assert_int_lt(diff_ms, 2500);
    /* A raised stop flag ends an interruptible sleep at once; none sleeps the full time. */
    mc_stop stop = {0};
    mc_stop_raise(&stop);
    int64_t t0 = mc_now_mono_ms();
    mc_sleep_ms_interruptible(5000, &stop);
    ck_assert_int_lt(mc_now_mono_ms() - t0, 1000);
    t0 = mc_now_mono_ms();
    mc_sleep_ms_interruptible(120, NULL);
    ck_assert_int_ge(mc_now_mono_ms() - t0, 120);
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
    /* A cleared kick no longer wakes a wait (the outbox relay forgets the kicks its read
     * covers); a kick after the clear does. */
    mc_wakeup_kick(&w);
    ck_assert(mc_wakeup_clear(&w));
    ck_assert(!mc_wakeup_clear(&w));
    t0 = mc_now_mono_ms();
    ck_assert(!mc_wakeup_wait(&w, 30));
    ck_assert_int_ge(mc_now_mono_ms() - t0, 25);
    mc_wakeup_kick(&w);
    ck_assert(mc_wakeup_wait(&w, 5000));
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
    tcase_add_test(tc, rfc3339_edges);
    tcase_add_test(tc, rfc3339_format);
    tcase_add_test(tc, error_names);
    tcase_add_test(tc, utf8_length_counts_code_points);
    tcase_add_test(tc, strings_and_clocks);
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
