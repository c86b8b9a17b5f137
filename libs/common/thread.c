/* thread.c: stop requests, wake-ups between threads, and workers built from both. */
#include "mc_common.h"

#include <time.h>

void mc_sleep_ms_interruptible(int64_t ms, const mc_stop *stop)
{
    int64_t deadline = mc_now_mono_ms() + ms;
    while (stop == NULL || !mc_stop_raised(stop)) {
        int64_t left = deadline - mc_now_mono_ms();
        if (left <= 0)
            return;
        if (left > 50)
            left = 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void mc_wakeup_init(struct mc_wakeup *w)
{
    pthread_mutex_init(&w->mu, NULL);
    /* Waits are measured on the monotonic clock, so a wall-clock step neither cuts a wait
     * short nor stretches it. */
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &a);
    pthread_condattr_destroy(&a);
    w->pending = false;
}

void mc_wakeup_destroy(struct mc_wakeup *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void mc_wakeup_kick(struct mc_wakeup *w)
{
    pthread_mutex_lock(&w->mu);
    w->pending = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool mc_wakeup_wait(struct mc_wakeup *w, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->pending && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
        ;
    bool kicked = w->pending;
    w->pending = false;
    pthread_mutex_unlock(&w->mu);
    return kicked;
}

bool mc_wakeup_clear(struct mc_wakeup *w)
{
    pthread_mutex_lock(&w->mu);
    bool kicked = w->pending;
    w->pending = false;
    pthread_mutex_unlock(&w->mu);
    return kicked;
}

void mc_worker_init(struct mc_worker *w)
{
    atomic_store(&w->stop.raised, 0);
    mc_wakeup_init(&w->wake);
    w->started = false;
    w->initialised = true;
}

int mc_worker_start(struct mc_worker *w, void *(*fn)(void *), void *arg)
{
    if (!w->initialised)
        mc_worker_init(w);
    if (pthread_create(&w->thread, NULL, fn, arg) != 0)
        return MC_ENOMEM;
    w->started = true;
    return 0;
}

void mc_worker_request_stop(struct mc_worker *w)
{
    mc_stop_raise(&w->stop);
    mc_wakeup_kick(&w->wake);
}

void mc_worker_stop(struct mc_worker *w)
{
    if (!w->initialised)
        return;
    mc_worker_request_stop(w);
    if (w->started)
        pthread_join(w->thread, NULL);
    mc_wakeup_destroy(&w->wake);
    w->started = false;
    w->initialised = false;
}

void mc_worker_kick(struct mc_worker *w)
{
    mc_wakeup_kick(&w->wake);
}

bool mc_worker_stopping(const struct mc_worker *w)
{
    return mc_stop_raised(&w->stop);
}

bool mc_worker_clear_kicks(struct mc_worker *w)
{
    return mc_wakeup_clear(&w->wake);
}

bool mc_worker_wait(struct mc_worker *w, int64_t ms)
{
    if (mc_worker_stopping(w))
        return true;
    return mc_wakeup_wait(&w->wake, ms);
}
