/* common.c: error names, UUIDs, clocks and small string helpers. */
#include "mc_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

const char *mc_strerror(int err)
{
    switch (err) {
    case MC_OK:
        return "ok";
    case MC_EINVAL:
        return "invalid argument";
    case MC_ENOMEM:
        return "out of memory";
    case MC_EDB:
        return "database error";
    case MC_EDBCONN:
        return "database connection lost";
    case MC_EKAFKA:
        return "kafka error";
    case MC_ETIMEDOUT:
        return "timed out";
    case MC_ENOTFOUND:
        return "not found";
    case MC_ECONFLICT:
        return "conflict";
    case MC_EIO:
        return "i/o error";
    case MC_ESTATE:
        return "illegal state";
    default:
        return "unknown error";
    }
}

int mc_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return MC_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void mc_uuid_v7(char out[MC_UUID_STRLEN])
{
    /* libuuid in Debian 12 predates v7, so the layout of RFC 9562 section 5.7 is written
     * over a random v4: 48 bits of milliseconds, version 7, variant bits kept. */
    uuid_t u;
    uuid_generate_random(u);
    uint64_t ms = (uint64_t)(mc_now_wall_us() / 1000);
    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)(ms >> (8 * (5 - i)));
    u[6] = (unsigned char)(0x70 | (u[6] & 0x0f));
    u[8] = (unsigned char)(0x80 | (u[8] & 0x3f));
    uuid_unparse_lower(u, out);
}

bool mc_uuid_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

int64_t mc_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mc_now_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void mc_format_rfc3339(int64_t wall_us, char *out, size_t outlen)
{
    time_t secs = (time_t)(wall_us / 1000000);
    long frac = (long)(wall_us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect_char(const char **p, const char *allowed)
{
    if (**p == '\0' || strchr(allowed, **p) == NULL)
        return -1;
    (*p)++;
    return 0;
}

int mc_parse_rfc3339(const char *s, int64_t *out_us)
{
    if (s == NULL)
        return MC_EINVAL;
    const char *p = s;
    int year, mon, day, hour, min, sec;
    if (read_digits(&p, 4, &year) || expect_char(&p, "-") || read_digits(&p, 2, &mon) ||
        expect_char(&p, "-") || read_digits(&p, 2, &day) || expect_char(&p, "Tt") ||
        read_digits(&p, 2, &hour) || expect_char(&p, ":") || read_digits(&p, 2, &min) ||
        expect_char(&p, ":") || read_digits(&p, 2, &sec))
        return MC_EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return MC_EINVAL;
    long frac_us = 0;
    if (*p == '.') {
        p++;
        int ndigits = 0;
        while (isdigit((unsigned char)*p)) {
            if (ndigits < 6)
                frac_us = frac_us * 10 + (*p - '0');
            ndigits++;
            p++;
        }
        if (ndigits == 0)
            return MC_EINVAL;
        for (int i = ndigits; i < 6; i++)
            frac_us *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = (*p == '-') ? -1 : 1;
        int oh, om;
        p++;
        if (read_digits(&p, 2, &oh) || expect_char(&p, ":") || read_digits(&p, 2, &om))
            return MC_EINVAL;
        if (oh > 23 || om > 59)
            return MC_EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return MC_EINVAL;
    }
    if (*p != '\0')
        return MC_EINVAL;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March; a round trip catches such dates. */
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != day && sec != 60)
        return MC_EINVAL;
    *out_us = ((int64_t)t - (int64_t)offset_min * 60) * 1000000 + frac_us;
    return 0;
}

size_t mc_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

void mc_abstime_after(int64_t ms, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}
