/* mc_common.h: error codes, ids and clocks shared by every Multica-C library and service. */
#ifndef MC_COMMON_H
#define MC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Library calls return 0 or one of these negative codes; mc_strerror() names them. */
enum mc_err {
    MC_OK = 0,
    MC_EINVAL = -1,    /* a caller passed something malformed */
    MC_ENOMEM = -2,    /* an allocation failed */
    MC_EDB = -3,       /* the database answered with an error (see its SQLSTATE) */
    MC_EDBCONN = -4,   /* the database connection is gone; retry after reconnect */
    MC_EKAFKA = -5,    /* the broker refused or could not take a message */
    MC_ETIMEDOUT = -6, /* a deadline passed */
    MC_ENOTFOUND = -7, /* the thing asked for does not exist */
    MC_ECONFLICT = -8, /* a concurrent writer won; re-read and retry */
    MC_EIO = -9,       /* a file or socket could not be read or written */
    MC_ESTATE = -10,   /* the operation is not legal in the current state */
};

/* Returns a static, human-readable name for an mc_err code. */
const char *mc_strerror(int err);

/* A UUID in canonical text form: 36 characters plus the terminating NUL. */
#define MC_UUID_STRLEN 37

/* Writes a fresh UUIDv7 (48-bit Unix milliseconds, then randomness) into out. */
void mc_uuid_v7(char out[MC_UUID_STRLEN]);

/* True when s is a canonical UUID (36 characters, hex digits and dashes in place). */
bool mc_uuid_valid(const char *s);

/* Milliseconds on a monotonic clock, for deadlines and latency. */
int64_t mc_now_mono_ms(void);

/* Microseconds since the Unix epoch on the wall clock. */
int64_t mc_now_wall_us(void);

/* Formats a wall-clock time (microseconds since the epoch) as RFC 3339 UTC with
 * microseconds ("2026-01-02T03:04:05.123456Z") into out, which holds at least 32 bytes. */
void mc_format_rfc3339(int64_t wall_us, char *out, size_t outlen);

/* Parses an RFC 3339 timestamp (any offset, optional fraction) into microseconds since
 * the epoch. Returns 0, or MC_EINVAL when s is not RFC 3339. */
int mc_parse_rfc3339(const char *s, int64_t *out_us);

/* Fills buf with len bytes from the kernel's CSPRNG. Returns 0 or MC_EIO. */
int mc_random_bytes(void *buf, size_t len);

/* Sleeps for ms milliseconds unless *stop becomes true first (checked every 50 ms). */
void mc_sleep_ms_interruptible(int64_t ms, volatile const int *stop);

/* Number of UTF-8 code points in s (bytes that do not continue a sequence). */
size_t mc_utf8_len(const char *s);

/* The CLOCK_REALTIME instant ms milliseconds from now, for pthread_cond_timedwait. */
struct timespec;
void mc_abstime_after(int64_t ms, struct timespec *out);

/* Duplicates s (NULL stays NULL); aborts the process when memory is exhausted, since
 * every caller would otherwise have to invent its own recovery from that. */
char *mc_strdup(const char *s);

/* Formats into a fresh heap string (like asprintf); returns NULL on failure. */
char *mc_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define MC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
