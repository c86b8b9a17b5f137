/* wakeup.c: a kick one thread gives another (a command batch committed, events to relay). */
#include "dispatcher.h"

#include <time.h>

void td_signal_init(struct td_signal *s)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &a);
    pthread_condattr_destroy(&a);
    s->pending = false;
}

void td_signal_destroy(struct td_signal *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

void td_signal_kick(struct td_signal *s)
{
    pthread_mutex_lock(&s->mu);
    s->pending = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

bool td_signal_wait(struct td_signal *s, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!s->pending && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
        ;
    bool kicked = s->pending;
    s->pending = false;
    pthread_mutex_unlock(&s->mu);
    return kicked;
}
