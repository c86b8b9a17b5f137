/* bench_util.h: process, clock, /proc CPU and libpq helpers shared by the benchmark programs.
 * Benchmarks only: nothing here is used by a service. */
#ifndef MC_BENCH_UTIL_H
#define MC_BENCH_UTIL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Seconds on the monotonic clock. */
double bu_now(void);

/* Starts argv[0] with the current environment plus extra_env ("K=V" entries, NULL-terminated,
 * may be NULL), stdout and stderr appended to log_path. The child is killed when this process
 * dies (PR_SET_PDEATHSIG), so a crashed benchmark leaves nothing running. Returns the pid or
 * -1. */
pid_t bu_spawn(const char *const *argv, const char *const *extra_env, const char *log_path);

/* Sends SIGTERM, waits up to grace_ms, then SIGKILL. Returns the exit status as waitpid gives
 * it, or -1 when the process was not ours. */
int bu_stop(pid_t pid, int grace_ms);

/* CPU seconds (user + system) a process used so far; with children, also the CPU of its
 * children that it has waited for. -1 when /proc has no such process. */
double bu_proc_cpu(pid_t pid, bool with_children);

/* CPU seconds of a PostgreSQL cluster: the postmaster with its reaped children plus every
 * live child (backends, walwriter, checkpointer, autovacuum). */
double bu_pg_cpu(pid_t postmaster);

/* Busy CPU seconds of the whole machine so far (all but idle and iowait, from /proc/stat):
 * with the processes a benchmark measures, it shows how much else was running. */
double bu_machine_busy(void);

/* Connects or exits with a message (benchmarks have nothing to recover). */
PGconn *bu_connect(const char *url);

/* Runs sql (no parameters) and returns the first value as an integer; exits on error. */
int64_t bu_sql_int(PGconn *c, const char *sql);

/* Runs sql with text parameters; exits on error. */
void bu_sql(PGconn *c, const char *sql, int nparams, const char *const *params);

/* A free TCP port on 127.0.0.1 (bound and released; good enough for a benchmark). */
int bu_free_port(void);

/* Median of n values (sorts a copy). 0 when n is 0. */
double bu_median(const double *v, int n);

/* The p-th percentile (0..100, nearest rank) of n values (sorts a copy). 0 when n is 0. */
double bu_percentile(const double *v, int n, double p);

/* Runs fn(i, ud) for every i in [0, n) on `threads` threads (each takes the next i in turn).
 * Returns when all are done. */
void bu_parallel(int threads, int n, void (*fn)(int i, void *ud), void *ud);

/* ---- the Multica API over HTTP, for the benchmarks that drive the whole stack ---- */

/* Sends method base+path (body may be NULL) with an optional bearer token. Returns the HTTP
 * status (0 when unreachable); *out, when not NULL, receives the JSON answer (caller decrefs;
 * NULL when there is none). */
int bu_api(const char *base, const char *method, const char *path, const char *bearer,
           const char *body, json_t **out);

/* obj's string member key, or "" (never NULL). */
const char *bu_str(const json_t *obj, const char *key);

/* Logs email in with the verification code (MULTICA_DEV_VERIFICATION_CODE of a development
 * stack). Returns the session token (caller frees); exits on failure. */
char *bu_api_login(const char *base, const char *email, const char *code);

/* Creates a workspace; its id goes to ws (37 bytes). Exits on failure. */
void bu_api_workspace(const char *base, const char *token, const char *name, char *ws);

/* Creates a personal access token (the daemon's credential) with a session token. Returns
 * it (caller frees); exits on failure. */
char *bu_api_pat(const char *base, const char *token);

/* A runtime registered as Multica's daemon registers it, and the agent created on it. */
struct bu_runtime {
    char id[40];
    char daemon[40]; /* the registering daemon's id: a daemon-sim given it keeps this runtime */
    char agent[40];
};

/* Registers a runtime in ws for a new daemon id (POST /api/daemon/register with pat) and
 * creates an agent on it (with the session token) allowed `capacity` tasks at once. Exits on
 * failure. */
void bu_api_runtime(const char *base, const char *token, const char *pat, const char *ws,
                    const char *name, int capacity, struct bu_runtime *out);

/* Claims up to max tasks of runtime as its daemon (POST /api/daemon/tasks/claim); returns the
 * number handed out and appends their ids to ids (a JSON array). Exits on failure. */
int bu_api_claim(const char *base, const char *pat, const char *runtime, int max, json_t *ids);

#endif
