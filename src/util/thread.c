/* Start and stop of a worker thread whose running flag and stop request
 * live in its owner, guarded by the owner's mutex (the updater's scheduler,
 * the thermostat's control loop). One implementation, so every worker has
 * the same contract: start refuses a second thread, stop wakes the thread,
 * joins it, and is safe to call when it never started. */
#include <string.h>

#include "hearth/util.h"

hearth_status hearth_thread_start(const hearth_thread *t, void *(*fn)(void *), void *arg,
                                  const char *what)
{
    HEARTH_ENSURE(t != NULL && fn != NULL && what != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(t->mu);
    if (*t->running) {
        pthread_mutex_unlock(t->mu);
        return hearth_err(HEARTH_ERR_STATE, "%s already running", what);
    }
    *t->stop = false;
    int rc = pthread_create(t->thread, NULL, fn, arg);
    if (rc == 0) *t->running = true;
    pthread_mutex_unlock(t->mu);
    if (rc != 0) return hearth_err(HEARTH_ERR_INTERNAL, "%s: cannot start thread: %s", what, strerror(rc));
    return HEARTH_OK;
}

void hearth_thread_stop(const hearth_thread *t)
{
    pthread_mutex_lock(t->mu);
    bool running = *t->running;
    *t->stop = true;
    pthread_cond_broadcast(t->cv);
    pthread_mutex_unlock(t->mu);
    if (running) pthread_join(*t->thread, NULL);
    pthread_mutex_lock(t->mu);
    *t->running = false;
    pthread_mutex_unlock(t->mu);
}

hearth_status hearth_mutexes_init(pthread_mutex_t *const *mus, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pthread_mutex_init(mus[i], NULL) != 0) {
            hearth_mutexes_destroy(mus, i);
            return hearth_err(HEARTH_ERR_NOMEM, "cannot create a lock");
        }
    }
    return HEARTH_OK;
}

void hearth_mutexes_destroy(pthread_mutex_t *const *mus, size_t n)
{
    while (n > 0) pthread_mutex_destroy(mus[--n]);
}
