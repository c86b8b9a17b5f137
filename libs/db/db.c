/* db.c: one PostgreSQL connection with lazily prepared named statements and reconnect. */
#include "mc_db.h"
#include "mc_common.h"
#include "mc_log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mc_db {
    char *url;
    char *app;
    const struct mc_db_stmt *stmts;
    size_t nstmts;
    bool *prepared;
    PGconn *conn;
    bool was_connected; /* for logging the loss and the return once each */
    bool ever_connected;
    uint64_t connects; /* successful connects so far: which connection this is */
    int64_t next_attempt_ms;
    int64_t backoff_ms;
    char sqlstate[6];
    char errmsg[512];
};

mc_db *mc_db_new(const char *url, const struct mc_db_stmt *stmts, size_t nstmts, const char *app)
{
    /* The tables are indexed by enums and checked for their length when they compile
     * (MC_STATIC_ASSERT_LEN); an entry forgotten in the middle leaves a hole only this sees. */
    for (size_t i = 0; i < nstmts; i++) {
        if (stmts[i].name == NULL || stmts[i].sql == NULL) {
            MC_LOG_ERROR_AT(json_pack("{si}", "index", (int)i), "statement table has a hole");
            abort();
        }
    }
    mc_db *db = mc_calloc(1, sizeof *db);
    db->url = mc_strdup(url);
    db->app = mc_strdup(app ? app : "multica");
    db->stmts = stmts;
    db->nstmts = nstmts;
    db->prepared = mc_calloc(nstmts, sizeof(bool));
    return db;
}

void mc_db_free(mc_db *db)
{
    if (db == NULL)
        return;
    if (db->conn != NULL)
        PQfinish(db->conn);
    free(db->prepared);
    free(db->app);
    free(db->url);
    free(db);
}

static void set_error(mc_db *db, const char *state, const char *msg)
{
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
    snprintf(db->errmsg, sizeof db->errmsg, "%s", msg ? msg : "");
    /* libpq messages end with a newline; logs and HTTP bodies read better without it. */
    size_t len = strlen(db->errmsg);
    while (len > 0 && (db->errmsg[len - 1] == '\n' || db->errmsg[len - 1] == ' '))
        db->errmsg[--len] = '\0';
}

static void drop_connection(mc_db *db)
{
    if (db->conn != NULL) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    memset(db->prepared, 0, db->nstmts * sizeof(bool));
}

/* Server notices ("relation already exists, skipping") are debug information, not output. */
static void notice(void *arg, const char *message)
{
    mc_db *db = arg;
    mc_log_debug(json_pack("{ss ss}", "app", db->app, "notice", message), "database notice");
}

static int connect_once(mc_db *db)
{
    /* Our defaults come first so that settings spelled out in the URL win. */
    const char *keys[] = {"application_name",
                          "connect_timeout",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "dbname",
                          NULL};
    const char *vals[] = {db->app, "5", "10", "5", "3", db->url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c == NULL)
        return MC_ENOMEM;
    if (PQstatus(c) != CONNECTION_OK) {
        set_error(db, MC_SQLSTATE_UNABLE_TO_CONNECT, PQerrorMessage(c));
        PQfinish(c);
        return MC_EDBCONN;
    }
    PQsetNoticeProcessor(c, notice, db);
    db->conn = c;
    db->connects++;
    return 0;
}

int mc_db_ensure(mc_db *db, int64_t deadline_ms)
{
    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    drop_connection(db);
    for (;;) {
        int64_t now = mc_now_mono_ms();
        /* Without a deadline, callers on hot paths (health checks, handlers) must not hammer a
         * database that is down: attempts are spaced by the current backoff. */
        if (deadline_ms == 0 && now < db->next_attempt_ms)
            return MC_EDBCONN;
        int rc = connect_once(db);
        if (rc == 0) {
            if (db->ever_connected && !db->was_connected)
                mc_log_info(json_pack("{ss}", "app", db->app), "database connection restored");
            db->ever_connected = true;
            db->was_connected = true;
            db->backoff_ms = 0;
            db->next_attempt_ms = 0;
            return 0;
        }
        if (db->was_connected) {
            mc_log_warn(json_pack("{ss ss}", "app", db->app, "error", db->errmsg),
                        "database connection lost");
            db->was_connected = false;
        }
        db->backoff_ms = db->backoff_ms == 0 ? 100 : db->backoff_ms * 2;
        if (db->backoff_ms > 2000)
            db->backoff_ms = 2000;
        db->next_attempt_ms = now + db->backoff_ms;
        if (deadline_ms == 0 || now + db->backoff_ms > deadline_ms)
            return MC_EDBCONN;
        struct timespec ts = {.tv_sec = db->backoff_ms / 1000,
                              .tv_nsec = (db->backoff_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

bool mc_db_connected(const mc_db *db)
{
    return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

/* Classifies a finished result: 0 for success, otherwise records the error and tells a lost
 * connection (class 08, admin shutdown, or a bad socket) apart from an SQL error. */
static int classify(mc_db *db, PGresult *r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN ||
        st == PGRES_COPY_OUT || st == PGRES_EMPTY_QUERY)
        return 0;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn);
    set_error(db, state, msg && *msg ? msg : PQerrorMessage(db->conn));
    bool lost = PQstatus(db->conn) != CONNECTION_OK || state == NULL ||
                mc_db_failed_with(db, MC_SQLSTATE_CONNECTION_EXCEPTION) ||
                mc_db_failed_with(db, MC_SQLSTATE_ADMIN_SHUTDOWN) ||
                mc_db_failed_with(db, MC_SQLSTATE_CRASH_SHUTDOWN) ||
                mc_db_failed_with(db, MC_SQLSTATE_CANNOT_CONNECT_NOW);
    if (lost) {
        if (db->was_connected)
            mc_log_warn(json_pack("{ss ss}", "app", db->app, "error", db->errmsg),
                        "database connection lost");
        db->was_connected = false;
        drop_connection(db);
        return MC_EDBCONN;
    }
    return MC_EDB;
}

static int finish(mc_db *db, PGresult *r, PGresult **res)
{
    int rc = classify(db, r);
    if (rc == 0 && res != NULL) {
        *res = r;
        return 0;
    }
    PQclear(r);
    if (res != NULL)
        *res = NULL;
    return rc;
}

int mc_db_exec(mc_db *db, int stmt, int nparams, const char *const *params, PGresult **res)
{
    if (res != NULL)
        *res = NULL;
    if (stmt < 0 || (size_t)stmt >= db->nstmts)
        return MC_EINVAL;
    if (mc_db_ensure(db, 0) != 0)
        return MC_EDBCONN;
    if (!db->prepared[stmt]) {
        const struct mc_db_stmt *s = &db->stmts[stmt];
        PGresult *p = PQprepare(db->conn, s->name, s->sql, 0, NULL);
        int rc = classify(db, p);
        PQclear(p);
        if (rc != 0) {
            if (rc == MC_EDB)
                MC_LOG_ERROR_AT(json_pack("{ss ss}", "statement", s->name, "error", db->errmsg),
                                "cannot prepare statement");
            return rc;
        }
        db->prepared[stmt] = true;
    }
    PGresult *r = PQexecPrepared(db->conn, db->stmts[stmt].name, nparams, params, NULL, NULL, 0);
    return finish(db, r, res);
}

int mc_db_exec_sql(mc_db *db, const char *sql, PGresult **res)
{
    if (res != NULL)
        *res = NULL;
    if (mc_db_ensure(db, 0) != 0)
        return MC_EDBCONN;
    return finish(db, PQexec(db->conn, sql), res);
}

void mc_db_rollback(mc_db *db)
{
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    PQclear(PQexec(db->conn, "ROLLBACK"));
}

const char *mc_db_sqlstate(const mc_db *db)
{
    return db->sqlstate;
}

const char *mc_db_errmsg(const mc_db *db)
{
    return db->errmsg;
}

uint64_t mc_db_connection_number(const mc_db *db)
{
    return db->conn != NULL ? db->connects : 0;
}

PGconn *mc_db_conn(mc_db *db)
{
    return db->conn;
}

const char *mc_db_value(const PGresult *res)
{
    if (res == NULL || PQntuples(res) < 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0))
        return NULL;
    return PQgetvalue(res, 0, 0);
}
