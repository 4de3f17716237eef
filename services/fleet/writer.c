/* The database writer of `run` (docs/fleet.md "Ingest"): the MQTT thread
 * hands every received message to this thread through a bounded queue and
 * goes back to reading the broker; this thread validates it (message.c),
 * feeds the fleet rules (anomaly.c) and stores it (db.c) in batches
 * committed every --batch messages or 200 ms. The MQTT loop therefore never
 * waits for SQLite, and on two cores reading and storing overlap. When the
 * queue is full (the writer is behind) the MQTT thread waits for room, so
 * the broker's in-flight window, not memory, absorbs a burst. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"

#define QUEUE_ITEMS 8192             /* messages handed over and not yet stored */
#define QUEUE_BYTES (16u << 20)      /* their payload bytes */
#define COMMIT_MS 200
#define WAKE_ITEMS 256               /* the writer is woken for this many */
#define GATHER_MS 5                  /* ... or once the first has waited this long */
#define GROUP 256                    /* messages whose rules' work is done at once */
#define PRUNE_S 3600
#define REJECT_LOG_PER_MIN 20

typedef struct {
    char *payload;  /* malloc'd copy, NULL for a rejection */
    size_t len;
    int64_t now;    /* receive time, seconds */
    fleet_kind kind;
    char id[FLEET_ID_MAX + 1];
    char reason[48]; /* set: rejected before the queue (topic, size) */
    char why[64];
} item;

struct fleet_writer {
    fleet_db *db;
    fleet_anomaly *an;
    size_t batch;
    int64_t retain_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    item *q;
    fleet_msg *msgs; /* a group being stored (GROUP) */
    int64_t *when;
    size_t head, count, bytes;
    int64_t first_at; /* monotonic ms when the queue last became non-empty */
    bool writer_waits, reader_waits, stop;
    /* owned by the writer thread until it is joined */
    fleet_writer_stats st;
    int64_t reject_log_minute;
    unsigned reject_logged;
};

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void commit(fleet_writer *w)
{
    if (fleet_db_pending(w->db) == 0) return;
    if (fleet_db_commit(w->db) != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: commit failed: %s\n", hearth_err_msg());
        w->st.failed++;
        return;
    }
    w->st.last_commit = now_real();
}

static void reject(fleet_writer *w, const char *reason, const char *why, int64_t now)
{
    w->st.rejected++;
    if (fleet_db_reject(w->db, reason, now) != HEARTH_OK) w->st.failed++;
    if (now / 60 != w->reject_log_minute) {
        w->reject_log_minute = now / 60;
        w->reject_logged = 0;
    }
    if (w->reject_logged++ < REJECT_LOG_PER_MIN)
        fprintf(stderr, "hearth-fleet: rejected a message (%s): %s\n", reason, why);
}

/* The reason kept in the database is from a fixed set (kind/status), never
 * text the sender chose: the table stays bounded. */
static void reason_of(char *out, size_t cap, const char *kind, hearth_status st)
{
    snprintf(out, cap, "%s/%s", kind, hearth_status_name(st));
}

/* Validate @p it; false (counted as rejected) when it is not stored. */
static bool parse_one(fleet_writer *w, const item *it, fleet_msg *fm)
{
    if (it->payload == NULL) {
        reject(w, it->reason, it->why, it->now);
        return false;
    }
    char err[160];
    hearth_status st = fleet_msg_parse(it->kind, it->id, it->payload, it->len, fm, err, sizeof err);
    if (st != HEARTH_OK) {
        char reason[48];
        reason_of(reason, sizeof reason, fleet_kind_name(it->kind), st);
        reject(w, reason, err, it->now);
        return false;
    }
    return true;
}

static void store_one(fleet_writer *w, fleet_msg *fm, int64_t now)
{
    /* Rules first: they compare with what the database knew before. */
    hearth_status st = fleet_anomaly_feed(w->an, fm, now);
    if (st == HEARTH_OK) st = fleet_db_store(w->db, fm, now);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet: storing a message from %s failed: %s\n", fm->id, hearth_err_msg());
        w->st.failed++;
    } else {
        w->st.stored++;
        if (fm->kind == FLEET_T_TELEMETRY) w->st.telemetry++;
    }
    fleet_msg_clear(fm);
    if (fleet_db_pending(w->db) >= w->batch) commit(w);
}

/* Items [from, from + n) of the queue: validated, then the rules' database
 * work of the group done at once (a shared database: one round trip, not
 * one per message), then each fed to the rules and stored in order. */
static void store_group(fleet_writer *w, size_t from, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const item *it = &w->q[(from + i) % QUEUE_ITEMS];
        if (parse_one(w, it, &w->msgs[k])) w->when[k++] = it->now;
    }
    if (k == 0) return;
    if (fleet_anomaly_prepare(w->an, w->msgs, k, w->when[0]) != HEARTH_OK)
        fprintf(stderr, "hearth-fleet: the rules' group query failed (%s); one message at a time\n",
                hearth_err_msg());
    for (size_t i = 0; i < k; i++) store_one(w, &w->msgs[i], w->when[i]);
}

static void deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *loop(void *arg)
{
    fleet_writer *w = arg;
    int64_t last_commit = hearth_mono_ms(), last_prune = 0;
    for (;;) {
        /* Wake-ups are batched (a futex wake per message would cost as
         * much as storing it): the writer sleeps until WAKE_ITEMS are
         * queued or the first has waited GATHER_MS, or, with nothing
         * queued, until the next commit is due. */
        pthread_mutex_lock(&w->mu);
        while (w->count < WAKE_ITEMS && !w->stop) {
            int64_t now = hearth_mono_ms();
            int64_t left = w->count > 0 ? GATHER_MS - (now - w->first_at) : COMMIT_MS - (now - last_commit);
            if (left <= 0) break;
            struct timespec ts;
            deadline(&ts, left);
            w->writer_waits = true;
            pthread_cond_timedwait(&w->not_empty, &w->mu, &ts);
            w->writer_waits = false;
        }
        /* Take what is queued now; store it without the lock. */
        size_t head = w->head, n = w->count;
        bool stop = w->stop;
        pthread_mutex_unlock(&w->mu);

        size_t bytes = 0;
        for (size_t i = 0; i < n; i += GROUP) store_group(w, head + i, n - i < GROUP ? n - i : GROUP);
        for (size_t i = 0; i < n; i++) {
            item *it = &w->q[(head + i) % QUEUE_ITEMS];
            bytes += it->len;
            free(it->payload);
            it->payload = NULL;
        }
        int64_t mono = hearth_mono_ms();
        if (mono - last_commit >= COMMIT_MS) {
            commit(w);
            last_commit = mono;
        }
        if (mono / 1000 - last_prune >= PRUNE_S) {
            last_prune = mono / 1000;
            if (fleet_db_prune(w->db, hearth_time_now() - w->retain_s) != HEARTH_OK)
                fprintf(stderr, "hearth-fleet: pruning failed: %s\n", hearth_err_msg());
        }

        pthread_mutex_lock(&w->mu);
        w->head = (w->head + n) % QUEUE_ITEMS;
        w->count -= n;
        w->bytes -= bytes;
        if (w->reader_waits && n > 0) pthread_cond_signal(&w->not_full);
        bool done = stop && w->count == 0;
        pthread_mutex_unlock(&w->mu);
        if (done) break;
    }
    commit(w);
    return NULL;
}

hearth_status fleet_writer_start(fleet_db *db, fleet_anomaly *an, size_t batch, unsigned retain_days,
                                 fleet_writer **out)
{
    *out = NULL;
    fleet_writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->q = calloc(QUEUE_ITEMS, sizeof *w->q)) == NULL ||
        (w->msgs = calloc(GROUP, sizeof *w->msgs)) == NULL || (w->when = calloc(GROUP, sizeof *w->when)) == NULL) {
        if (w != NULL) {
            free(w->q);
            free(w->msgs);
        }
        free(w);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    w->db = db;
    w->an = an;
    w->batch = batch > 0 ? batch : 1;
    w->retain_s = (int64_t)retain_days * 86400;
    w->reject_log_minute = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->not_empty, NULL);
    pthread_cond_init(&w->not_full, NULL);
    if (pthread_create(&w->thread, NULL, loop, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->not_empty);
        pthread_cond_destroy(&w->not_full);
        free(w->q);
        free(w->msgs);
        free(w->when);
        free(w);
        return hearth_err(HEARTH_ERR_IO, "cannot start the database writer thread");
    }
    *out = w;
    return HEARTH_OK;
}

void fleet_writer_put(fleet_writer *w, const char *topic, const void *payload, size_t len, int64_t now)
{
    item it = {.now = now};
    hearth_status st = fleet_topic_parse(topic, it.id, &it.kind);
    if (st != HEARTH_OK) {
        reason_of(it.reason, sizeof it.reason, "topic", HEARTH_ERR_INVALID);
        snprintf(it.why, sizeof it.why, "%s", hearth_err_msg());
    } else if (len > fleet_payload_max(it.kind)) {
        reason_of(it.reason, sizeof it.reason, fleet_kind_name(it.kind), HEARTH_ERR_TOO_LARGE);
        snprintf(it.why, sizeof it.why, "payload too large");
    } else if ((it.payload = malloc(len + 1)) == NULL) {
        reason_of(it.reason, sizeof it.reason, fleet_kind_name(it.kind), HEARTH_ERR_NOMEM);
        snprintf(it.why, sizeof it.why, "out of memory");
    } else {
        /* The one copy: libmosquitto frees its message when we return. */
        memcpy(it.payload, payload, len);
        it.payload[len] = '\0';
        it.len = len;
    }
    pthread_mutex_lock(&w->mu);
    if (w->st.first_rx == 0) w->st.first_rx = now_real();
    while (w->count == QUEUE_ITEMS || (w->count > 0 && w->bytes + len > QUEUE_BYTES)) {
        w->reader_waits = true;
        pthread_cond_wait(&w->not_full, &w->mu);
        w->reader_waits = false;
    }
    w->q[(w->head + w->count) % QUEUE_ITEMS] = it;
    if (w->count == 0) w->first_at = hearth_mono_ms();
    w->count++;
    w->bytes += it.len;
    if (w->writer_waits && (w->count == 1 || w->count == WAKE_ITEMS)) pthread_cond_signal(&w->not_empty);
    pthread_mutex_unlock(&w->mu);
}

void fleet_writer_stop(fleet_writer *w, fleet_writer_stats *stats)
{
    if (stats != NULL) memset(stats, 0, sizeof *stats);
    if (w == NULL) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->not_empty);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (stats != NULL) *stats = w->st;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->not_empty);
    pthread_cond_destroy(&w->not_full);
    free(w->q);
    free(w->msgs);
    free(w->when);
    free(w);
}
