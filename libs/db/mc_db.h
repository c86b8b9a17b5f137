/* mc_db.h: PostgreSQL connections with named prepared statements, reconnect, a pool,
 * the per-schema migration runner and the shared database health check. */
#ifndef MC_DB_H
#define MC_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A named prepared statement. Services keep one static table of these, indexed by an
 * enum, and refer to statements by index; each connection prepares a statement the first
 * time it is used and again after a reconnect. */
struct mc_db_stmt {
    const char *name;
    const char *sql;
};

typedef struct mc_db mc_db;

/* Creates a handle for url using the statement table stmts (borrowed; must outlive the
 * handle). It does not connect: mc_db_ensure does, so a service can start while the
 * database is down. Never NULL (allocations abort when memory is exhausted). */
mc_db *mc_db_new(const char *url, const struct mc_db_stmt *stmts, size_t nstmts,
                 const char *application_name);

/* Closes the connection and frees the handle; NULL is ignored. */
void mc_db_free(mc_db *db);

/* Connects (or reconnects after a lost connection), retrying with backoff until
 * deadline_ms of monotonic time (0 means try once). Returns 0 or MC_EDBCONN. A lost and
 * regained connection is logged once each way. */
int mc_db_ensure(mc_db *db, int64_t deadline_ms);

/* True when the handle currently holds a healthy connection. */
bool mc_db_connected(const mc_db *db);

/* Which of the handle's connections it holds: 1 for its first, one more for each reconnect;
 * 0 when it holds none. A new number is a new server session (nothing prepared, nothing
 * cached). */
uint64_t mc_db_connection_number(const mc_db *db);

/* Runs prepared statement stmt with nparams text parameters (NULL entries are SQL NULL).
 * On success returns 0 and, when res is not NULL, stores the result for the caller to
 * PQclear. Returns MC_EDB for an SQL error (see mc_db_sqlstate/mc_db_errmsg), MC_EDBCONN
 * when the connection is gone (the next call reconnects), MC_EINVAL for a bad index. */
int mc_db_exec(mc_db *db, int stmt, int nparams, const char *const *params, PGresult **res);

/* Runs a constant SQL text (never text built from input) through the simple protocol:
 * migration files, LISTEN. Same results as mc_db_exec. */
int mc_db_exec_sql(mc_db *db, const char *sql, PGresult **res);

/* Transactions start and commit only in mc_db_run_tx (below). This rolls back; harmless when
 * no transaction is open or the connection is gone. */
void mc_db_rollback(mc_db *db);

/* SQLSTATE and message of the last failed call ("" when none). */
const char *mc_db_sqlstate(const mc_db *db);
const char *mc_db_errmsg(const mc_db *db);

/* ---- SQLSTATE names ----
 * Every SQLSTATE the code looks at, by its PostgreSQL condition name (the manual's Appendix A),
 * and the ones our own SQL raises (class MC), so no code compares against a bare "40001". */
#define MC_SQLSTATE_CONNECTION_EXCEPTION    "08" /* the class: the connection is gone */
#define MC_SQLSTATE_UNABLE_TO_CONNECT       "08001"
#define MC_SQLSTATE_SERIALIZATION_FAILURE   "40001"
#define MC_SQLSTATE_DEADLOCK_DETECTED       "40P01"
#define MC_SQLSTATE_UNDEFINED_TABLE         "42P01"
#define MC_SQLSTATE_UNIQUE_VIOLATION        "23505"
#define MC_SQLSTATE_INVALID_PARAMETER_VALUE "22023"
#define MC_SQLSTATE_QUERY_CANCELED          "57014" /* statement_timeout as well */
#define MC_SQLSTATE_ADMIN_SHUTDOWN          "57P01"
#define MC_SQLSTATE_CRASH_SHUTDOWN          "57P02"
#define MC_SQLSTATE_CANNOT_CONNECT_NOW      "57P03"
/* Raised by usage.apply_batch: another consumer already applied the batch's offset range. */
#define MC_SQLSTATE_FENCED "MCF01"

/* True when the last call failed with state: a full SQLSTATE, or a class (two characters). */
bool mc_db_failed_with(const mc_db *db, const char *state);

/* ---- transactions ---- */

/* A transaction's work: the statements between BEGIN and COMMIT. Returns 0 to commit, or an
 * error (MC_EDB/MC_EDBCONN from mc_db_exec, or its own) to roll back. It runs again from the
 * start when the runner retries, so it resets whatever it gathers in ctx at its start, and
 * its effects outside the database (metrics, wake-ups, replies) wait until the runner has
 * returned 0; the one exception is the outbox relay, whose produce may repeat. */
typedef int (*mc_db_tx_body)(mc_db *db, void *ctx);

/* Attempts a transaction gets before a serialization failure or deadlock is returned. */
#define MC_DB_TX_ATTEMPTS 4

/* The one way a transaction runs, after GNU Taler's TEH_DB_run_transaction: BEGIN, body,
 * COMMIT. A serialization failure or deadlock (40001, 40P01), in the body or at COMMIT, says
 * nothing about the work: the runner rolls back and runs the body again, up to
 * MC_DB_TX_ATTEMPTS times in all, logging each retry at debug under name. Returns 0
 * (committed), or the error of the attempt that failed, rolled back: the body's own, MC_EDB
 * (mc_db_sqlstate says which; 40001 or 40P01 once the attempts are spent) or MC_EDBCONN. */
int mc_db_run_tx(mc_db *db, const char *name, mc_db_tx_body body, void *ctx);

/* ---- advisory locks ----
 * The one registry of the advisory-lock ids the code and its SQL take. Statements in C build
 * their SQL from these names (MC_STR); SQL functions created by migrations write the number,
 * and the migrate suite checks that every advisory lock taken in the SQL files is listed in
 * mc_advisory_locks for SQL, and every SQL lock listed is taken in its schema's files. */
#define MC_LOCK_MIGRATIONS         4240 /* class; object hashtext(schema): one migration runner */
#define MC_LOCK_ROLLUP             4246 /* usage.rollup_task_usage_hourly: one scheduled rollup */
#define MC_LOCK_ROLLUP_RECOMPUTE   4247 /* usage: bucket recomputations take turns */
#define MC_LOCK_PRICES             4248 /* usage.put_prices: one writer of the price catalogue */
#define MC_LOCK_DISPATCH_RELAY     4250 /* class; object 1: one relay of dispatch.outbox */
#define MC_LOCK_GATEWAY_RELAY      4251 /* one relay of gateway.outbox */
#define MC_LOCK_DISPATCH_WORKSPACE 4252 /* class; object hashtext(workspace): the workspace cap */
#define MC_LOCK_GATEWAY_LOG        4260 /* gateway.task_event_log: one writer at a time */

struct mc_advisory_lock {
    const char *name; /* the macro above */
    long id;
    const char *schema; /* whose SQL files take it; NULL when only C statements do */
    const char *purpose;
};
extern const struct mc_advisory_lock mc_advisory_locks[];
extern const size_t mc_nadvisory_locks;

/* The underlying libpq connection (NULL when not connected), for COPY and tests. */
PGconn *mc_db_conn(mc_db *db);

/* Convenience for single-value results: the text of row 0, column 0, or NULL. */
const char *mc_db_value(const PGresult *res);

/* A fixed-size pool for threads that each need a connection for a short time (ulfius runs a
 * thread per HTTP connection). */
typedef struct mc_db_pool mc_db_pool;

/* Never NULL. Connections are opened lazily. */
mc_db_pool *mc_db_pool_new(const char *url, const struct mc_db_stmt *stmts, size_t nstmts,
                           const char *application_name, int size);
void mc_db_pool_free(mc_db_pool *pool);

/* What a service runs on each new connection of the pool before the connection serves its
 * first caller: statements whose first run in a server session costs more than the later ones
 * (a PL/pgSQL function's plans are made and cached per session), run once a connection so that
 * no request pays for it. Returns 0 or an error: the acquire does not fail, the error is logged,
 * and the hook runs again on that handle only after MC_EDBCONN (on its next connection). Set it
 * before the pool is used. */
typedef int (*mc_db_on_connect)(mc_db *db, void *arg);
void mc_db_pool_on_connect(mc_db_pool *pool, mc_db_on_connect fn, void *arg);

/* Connects every handle of the pool that is free and not connected, running the on-connect
 * hook on each, so that a service's first requests find them ready (at start, once its schema
 * is there). Handles the database refuses stay closed (acquire tries again). Returns the number
 * of handles connected. */
int mc_db_pool_open(mc_db_pool *pool);

/* Takes a connected handle, waiting up to timeout_ms for a free one and connecting it if
 * needed. Returns NULL on timeout or when the database is unreachable; *err, when not NULL,
 * receives MC_ETIMEDOUT or MC_EDBCONN. */
mc_db *mc_db_pool_acquire(mc_db_pool *pool, int64_t timeout_ms, int *err);

/* Returns a handle to the pool; an open transaction is rolled back first. */
void mc_db_pool_release(mc_db_pool *pool, mc_db *db);

/* ---- array parameters ----
 * A batch goes to a PL/pgSQL function as text-format arrays (one round trip for a thousand
 * rows). mc_pgarr builds one array literal; text elements are quoted and escaped. */
struct mc_pgarr {
    char *buf;
    size_t len;
    size_t cap;
    size_t n;
};

/* Empties the array for reuse, keeping its buffer. */
void mc_pgarr_reset(struct mc_pgarr *a);
/* Appends an element that needs no quoting (numbers, UUIDs, RFC 3339 times, booleans). */
void mc_pgarr_add_raw(struct mc_pgarr *a, const char *s);
/* Appends a text element (quoted and escaped), or SQL NULL when s is NULL. */
void mc_pgarr_add_text(struct mc_pgarr *a, const char *s);
void mc_pgarr_add_int(struct mc_pgarr *a, int64_t v);
/* Terminates the literal and returns it (valid until the next change). */
const char *mc_pgarr_str(struct mc_pgarr *a);
void mc_pgarr_free(struct mc_pgarr *a);

/* ---- migrations ---- */

/* One numbered migration of a slice. A file whose first line is "-- mc:no-transaction"
 * runs outside a transaction (for CREATE INDEX CONCURRENTLY) and must hold one statement. */
struct mc_migration {
    int version;
    const char *slug;
    const char *up;
    const char *down;
};

/* A SQL function of a slice, from migrations/<schema>/functions/<name>.sql: the file creates
 * (CREATE OR REPLACE) one function with its comment and grants. */
struct mc_sql_function {
    const char *name;
    const char *sql;
};

/* A schema slice: its schema, the role that owns it, its migrations by version, and its
 * functions by name. */
struct mc_slice {
    const char *schema;
    const char *owner;
    const struct mc_migration *migrations;
    size_t count;
    const struct mc_sql_function *functions;
    size_t nfunctions;
};

/* The slices compiled into this binary (generated from migrations/ at build time). */
extern const struct mc_slice mc_slices[];
extern const size_t mc_nslices;

/* Returns the slice named schema, or NULL. */
const struct mc_slice *mc_slice_find(const char *schema);

/* The highest migration version of a slice: what a binary built from this tree expects. */
int mc_slice_latest(const struct mc_slice *slice);

/* Applies pending migrations of slice up to target (-1: all) over a fresh connection to url.
 * When as_owner is true the connection switches to the slice's owner role first (the URL is
 * then a superuser's or a member of that role), so objects belong to the owner. A
 * session-level advisory lock per schema serialises concurrent runners, so replicas can
 * start together. Writes one line per applied file to the log. Returns 0, MC_EDBCONN, or
 * MC_EDB with err naming the file and the database's message. */
int mc_migrate_up(const char *url, const struct mc_slice *slice, int target, bool as_owner,
                  char *err, size_t errlen);

/* Reverts the newest `steps` applied migrations of slice. Same errors as mc_migrate_up. */
int mc_migrate_down(const char *url, const struct mc_slice *slice, int steps, bool as_owner,
                    char *err, size_t errlen);

/* Reads the highest applied version of slice into *version (0 when none). */
int mc_migrate_current(const char *url, const struct mc_slice *slice, int *version, char *err,
                       size_t errlen);

/* ---- health ---- */

/* Result of one health check, as /healthz reports it. */
enum mc_check_state {
    MC_CHECK_OK,
    MC_CHECK_ERROR,
    MC_CHECK_UNKNOWN,
    MC_CHECK_OUT_OF_DATE,
};

const char *mc_check_state_name(enum mc_check_state s);

/* The database part of /healthz: is the database reachable, and is this service's slice at
 * the version the binary expects. Owns a dedicated connection so a busy pool never makes
 * the service look unhealthy; results are cached for about a second. */
typedef struct mc_dbhealth mc_dbhealth;

mc_dbhealth *mc_dbhealth_new(const char *url, const struct mc_slice *slice, const char *app);
void mc_dbhealth_free(mc_dbhealth *h);
void mc_dbhealth_check(mc_dbhealth *h, enum mc_check_state *db, enum mc_check_state *migrations);

#endif
