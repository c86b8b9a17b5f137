/* group_writer.c: writes in group commits (issue 17), for the daemon's reports
 * (report_writer.c) and the creations of issues (issue_writer.c).
 *
 * One writer thread, on its own connection, takes every job that arrived while it was busy (up
 * to the writer's max), applies them with one call of its apply function (one call and one
 * commit, as the writer's SQL makes it) and wakes each waiting handler, so an answer still
 * means the write is durable. There is no added wait: at light load a batch is the one job
 * that came, under load it is what queued during the previous commit. */
#include "gateway.h"

#include <stdlib.h>

struct job {
    void *arg;
    bool done;
    struct job *next;
};

struct gw_group {
    char *database_url;
    const char *app;
    int max, nscratch;
    gw_group_apply apply;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more, done;
    struct job *head, **tail;
    bool stopping;
};

static void *write_loop(void *arg)
{
    struct gw_group *g = arg;
    mc_db *db = mc_db_new(g->database_url, gw_stmts, GW_NSTMTS, g->app);
    struct mc_pgarr *scratch = mc_calloc((size_t)g->nscratch, sizeof *scratch);
    struct job **jobs = mc_calloc((size_t)g->max, sizeof *jobs);
    void **args = mc_calloc((size_t)g->max, sizeof *args);
    for (;;) {
        pthread_mutex_lock(&g->mu);
        while (g->head == NULL && !g->stopping)
            pthread_cond_wait(&g->more, &g->mu);
        int n = 0;
        while (g->head != NULL && n < g->max) {
            jobs[n] = g->head;
            args[n++] = g->head->arg;
            g->head = g->head->next;
        }
        if (g->head == NULL)
            g->tail = &g->head;
        pthread_mutex_unlock(&g->mu);
        if (n == 0)
            break; /* stopping, and nothing left */
        g->apply(db, args, n, scratch);
        pthread_mutex_lock(&g->mu);
        for (int i = 0; i < n; i++)
            jobs[i]->done = true; /* the handler's job: not touched after this */
        pthread_cond_broadcast(&g->done);
        pthread_mutex_unlock(&g->mu);
    }
    for (int k = 0; k < g->nscratch; k++)
        mc_pgarr_free(&scratch[k]);
    free(scratch);
    free(jobs);
    free(args);
    mc_db_free(db);
    return NULL;
}

int gw_group_run(struct gw_group *group, void *arg)
{
    /* The job lives on this stack until the writer marked it done, which this waits for. */
    struct gw_group *g = group;
    struct job job = {.arg = arg};
    pthread_mutex_lock(&g->mu);
    if (g->stopping) {
        pthread_mutex_unlock(&g->mu);
        return MC_EDBCONN;
    }
    *g->tail = &job;
    g->tail = &job.next;
    pthread_cond_signal(&g->more);
    while (!job.done)
        pthread_cond_wait(&g->done, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

struct gw_group *gw_group_start(const char *database_url, const char *app, int max, int nscratch,
                                gw_group_apply apply)
{
    struct gw_group *g = mc_calloc(1, sizeof *g);
    g->database_url = mc_strdup(database_url);
    g->app = app;
    g->max = max;
    g->nscratch = nscratch;
    g->apply = apply;
    g->tail = &g->head;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->more, NULL);
    pthread_cond_init(&g->done, NULL);
    if (pthread_create(&g->thread, NULL, write_loop, g) != 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->more);
        pthread_cond_destroy(&g->done);
        free(g->database_url);
        free(g);
        return NULL;
    }
    return g;
}

void gw_group_stop(struct gw_group *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    pthread_cond_signal(&g->more);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->more);
    pthread_cond_destroy(&g->done);
    free(g->database_url);
    free(g);
}

void gw_group_arrays(void *const *args, int n, const char *const *(*params)(void *arg),
                     struct mc_pgarr *scratch, int nparams, const char **p)
{
    for (int k = 0; k < nparams; k++) {
        mc_pgarr_reset(&scratch[k]);
        for (int i = 0; i < n; i++)
            mc_pgarr_add_text(&scratch[k], params(args[i])[k]);
        p[k] = mc_pgarr_str(&scratch[k]);
    }
}
