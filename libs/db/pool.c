/* pool.c: a fixed set of database handles shared by HTTP handler threads. */
#include "mc_db.h"
#include "mc_common.h"
#include "mc_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct mc_db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size;
    int nfree;
    mc_db **all;
    mc_db **free_list;
    uint64_t *ready; /* by index in all: the connection the on-connect hook succeeded on */
    mc_db_on_connect on_connect;
    void *on_connect_arg;
};

mc_db_pool *mc_db_pool_new(const char *url, const struct mc_db_stmt *stmts, size_t nstmts,
                           const char *app, int size)
{
    mc_db_pool *p = mc_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->size = size;
    p->all = mc_calloc((size_t)size, sizeof(mc_db *));
    p->free_list = mc_calloc((size_t)size, sizeof(mc_db *));
    p->ready = mc_calloc((size_t)size, sizeof(uint64_t));
    for (int i = 0; i < size; i++) {
        p->all[i] = mc_db_new(url, stmts, nstmts, app);
        p->free_list[p->nfree++] = p->all[i];
    }
    return p;
}

void mc_db_pool_free(mc_db_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; p->all != NULL && i < p->size; i++)
        mc_db_free(p->all[i]);
    free(p->all);
    free(p->free_list);
    free(p->ready);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void mc_db_pool_on_connect(mc_db_pool *p, mc_db_on_connect fn, void *arg)
{
    p->on_connect = fn;
    p->on_connect_arg = arg;
}

/* Runs the on-connect hook on db's connection unless it has run on it; the handle is the
 * caller's (taken from the free list), so its slot in ready is too. */
static void run_on_connect(mc_db_pool *p, mc_db *db)
{
    if (p->on_connect == NULL)
        return;
    int i = 0;
    while (i < p->size && p->all[i] != db)
        i++;
    uint64_t conn = mc_db_connection_number(db);
    if (i == p->size || conn == 0 || p->ready[i] == conn)
        return;
    /* An SQL error would fail again on this connection: logged, and not tried again on it. */
    int rc = p->on_connect(db, p->on_connect_arg);
    if (rc != MC_EDBCONN)
        p->ready[i] = conn;
    if (rc != 0)
        mc_log_warn(json_pack("{ss}", "error", mc_db_errmsg(db)), "on-connect hook failed");
    mc_db_rollback(db);
}

int mc_db_pool_open(mc_db_pool *p)
{
    int opened = 0;
    for (int i = 0; i < p->size; i++) {
        pthread_mutex_lock(&p->mu);
        mc_db *db = NULL;
        /* Any free handle not connected yet, taken off the list while it connects. */
        for (int k = 0; k < p->nfree; k++) {
            if (!mc_db_connected(p->free_list[k])) {
                db = p->free_list[k];
                p->free_list[k] = p->free_list[--p->nfree];
                break;
            }
        }
        pthread_mutex_unlock(&p->mu);
        if (db == NULL)
            return opened;
        bool connected = mc_db_ensure(db, 0) == 0;
        if (connected) {
            run_on_connect(p, db);
            opened++;
        }
        mc_db_pool_release(p, db);
        if (!connected)
            return opened; /* the database refuses: acquire tries again later */
    }
    return opened;
}

mc_db *mc_db_pool_acquire(mc_db_pool *p, int64_t timeout_ms, int *err)
{
    struct timespec until;
    mc_abstime_after(timeout_ms, &until);
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT && p->nfree == 0) {
            pthread_mutex_unlock(&p->mu);
            if (err)
                *err = MC_ETIMEDOUT;
            return NULL;
        }
    }
    mc_db *db = p->free_list[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (mc_db_ensure(db, 0) != 0) {
        mc_db_pool_release(p, db);
        if (err)
            *err = MC_EDBCONN;
        return NULL;
    }
    run_on_connect(p, db);
    if (err)
        *err = 0;
    return db;
}

void mc_db_pool_release(mc_db_pool *p, mc_db *db)
{
    if (db == NULL)
        return;
    mc_db_rollback(db);
    pthread_mutex_lock(&p->mu);
    p->free_list[p->nfree++] = db;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}
