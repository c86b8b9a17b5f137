/* pool.c: a fixed set of database handles shared by HTTP handler threads. */
#include "mc_db.h"
#include "mc_common.h"

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
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
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
