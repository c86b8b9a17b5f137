/* bench_util.h: process, clock, /proc CPU and libpq helpers shared by the benchmark programs.
 * Benchmarks only: nothing here is used by a service. */
#ifndef MC_BENCH_UTIL_H
#define MC_BENCH_UTIL_H

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

#endif
