/* mc_common.h: error codes, ids, clocks, the allocator and the thread primitives (stop
 * requests, wake-ups, workers) shared by every Multica-C library and service. */
#ifndef MC_COMMON_H
#define MC_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- stop requests, wake-ups and workers (thread.c) ---- */

/* A stop request: raised once, by any thread or by a signal handler (it is a lock-free atomic),
 * and read by the loops that must end. Every loop in libs/ and services/ is told to stop this
 * one way; a zeroed mc_stop is not raised. */
typedef struct mc_stop {
    atomic_int raised;
} mc_stop;

static inline void mc_stop_raise(mc_stop *s)
{
    atomic_store(&s->raised, 1);
}

static inline bool mc_stop_raised(const mc_stop *s)
{
    return atomic_load(&((mc_stop *)s)->raised) != 0;
}

/* Sleeps for ms milliseconds unless stop (may be NULL) is raised first (checked every 50 ms). */
void mc_sleep_ms_interruptible(int64_t ms, const mc_stop *stop);

/* A wake-up one thread gives another: mc_wakeup_kick makes the next (or current)
 * mc_wakeup_wait return at once. Kicks do not count: several before a wait wake it once. */
struct mc_wakeup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending;
};
void mc_wakeup_init(struct mc_wakeup *w);
void mc_wakeup_destroy(struct mc_wakeup *w);
void mc_wakeup_kick(struct mc_wakeup *w);
/* Waits up to ms (on the monotonic clock) for a kick; returns true when kicked. */
bool mc_wakeup_wait(struct mc_wakeup *w, int64_t ms);
/* Forgets the kicks given so far (the next wait waits for a new one); returns true when there
 * was one. */
bool mc_wakeup_clear(struct mc_wakeup *w);

/* A background thread with its own stop request and wake-up. mc_worker_init makes kicks
 * safe (before the thread runs, too); mc_worker_start runs fn(arg); the thread's loop ends
 * when mc_worker_stopping says so; mc_worker_stop raises the request, kicks, joins and
 * releases (a no-op on a zeroed or stopped worker). */
struct mc_worker {
    pthread_t thread;
    mc_stop stop;
    struct mc_wakeup wake;
    bool initialised, started;
};
void mc_worker_init(struct mc_worker *w);
/* Returns 0, or MC_ENOMEM when no thread could be created. */
int mc_worker_start(struct mc_worker *w, void *(*fn)(void *), void *arg);
void mc_worker_stop(struct mc_worker *w);
/* Raises the stop request and kicks, without waiting for the thread to end. */
void mc_worker_request_stop(struct mc_worker *w);
void mc_worker_kick(struct mc_worker *w);
bool mc_worker_stopping(const struct mc_worker *w);
/* Waits up to ms for a kick or the stop request; returns true when woken early. */
bool mc_worker_wait(struct mc_worker *w, int64_t ms);
/* Forgets the kicks given so far (not the stop request); returns true when there was one. */
bool mc_worker_clear_kicks(struct mc_worker *w);

/* Number of UTF-8 code points in s (bytes that do not continue a sequence). */
size_t mc_utf8_len(const char *s);

/* The CLOCK_REALTIME instant ms milliseconds from now, for pthread_cond_timedwait. */
struct timespec;
void mc_abstime_after(int64_t ms, struct timespec *out);

/* ---- memory (alloc.c) ----
 * The one out-of-memory policy: every allocation in libs/ and services/ goes through these,
 * and none returns NULL. When memory is exhausted they write one line to stderr and abort,
 * as Redis' zmalloc does: no caller could do better than fail half-way through its work, and
 * a check after each call would be code that never runs. Free with free(). A size of 0
 * allocates one byte, so the result is always a pointer to free. */
void *mc_malloc(size_t size);
void *mc_calloc(size_t n, size_t size);
void *mc_realloc(void *p, size_t size);
/* Duplicates s; NULL stays NULL. */
char *mc_strdup(const char *s);
/* Copies the first n bytes of s (which need not be terminated) and terminates the copy. */
char *mc_strndup(const char *s, size_t n);
/* Formats into a fresh heap string, like asprintf. */
char *mc_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define MC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The text of a macro's value, for building constant SQL and settings from named numbers. */
#define MC_STR_(x) #x
#define MC_STR(x)  MC_STR_(x)

/* A table indexed by an enum must have exactly one entry per value: checked when it compiles,
 * so a value added to the enum without its row (or the reverse) is a build error. */
#define MC_STATIC_ASSERT_LEN(table, count)                                                         \
    _Static_assert(MC_ARRAY_LEN(table) == (size_t)(count), #table " must have " #count " entries")

#endif
