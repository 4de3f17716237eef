/* The WAL checkpointer of `run` (docs/fleet.md "Database"): a thread with
 * its own connection copies committed pages from the write-ahead log into
 * the database every second (PASSIVE: it never blocks the writer), and the
 * ingest connection's automatic checkpoint is off. Without it the ingest
 * thread itself would checkpoint every 1000 pages and wait for that fsync
 * while the broker's window of unacknowledged messages to it fills up. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sqlite3.h>

#include "fleet.h"

struct fleet_checkpointer {
    sqlite3 *h;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void *loop(void *arg)
{
    fleet_checkpointer *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        int rc = sqlite3_wal_checkpoint_v2(c->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            fprintf(stderr, "hearth-fleet: checkpoint: %s\n", sqlite3_errmsg(c->h));
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

hearth_status fleet_checkpointer_start(fleet_db *db, const char *path, fleet_checkpointer **out)
{
    *out = NULL;
    fleet_checkpointer *c = calloc(1, sizeof *c);
    if (c == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    if (sqlite3_open_v2(path, &c->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        sqlite3_close(c->h);
        free(c);
        return hearth_err(HEARTH_ERR_IO, "database %s: cannot open for checkpoints", path);
    }
    sqlite3_busy_timeout(c->h, 1000);
    sqlite3_db_config(c->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_wal_autocheckpoint(fleet_db_handle(db), 0);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, loop, c) != 0) {
        sqlite3_wal_autocheckpoint(fleet_db_handle(db), 1000);
        sqlite3_close(c->h);
        free(c);
        return hearth_err(HEARTH_ERR_IO, "cannot start the checkpoint thread");
    }
    *out = c;
    return HEARTH_OK;
}

void fleet_checkpointer_stop(fleet_checkpointer *c)
{
    if (c == NULL) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    (void)sqlite3_wal_checkpoint_v2(c->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    sqlite3_close(c->h);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
