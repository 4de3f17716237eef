/* The device's outbox (include/hearth/outbox.h, docs/outbox.md): an
 * append-only log of MAC'd records under the state directory, an in-memory
 * index of the records not yet acknowledged, and compaction by atomic
 * replacement (hearth_fs_replace) once acknowledged and dropped records
 * take as much room as the live ones.
 *
 * put() and ack() append their records with one write and fdatasync()
 * before they return; the index changes only after that succeeded, so what
 * a caller was told is what a reopen finds. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/outbox.h"
#include "hearth/util.h"
#include "outbox_format.h"

#define OBX_MAX_RECORDS_LIMIT (1u << 20)
#define OBX_MAX_BYTES_LIMIT ((size_t)256 * 1024 * 1024)
/* Compaction starts when dead records take at least this much and at least
 * as much as the live ones, so rewriting costs O(1) per byte appended. */
#define OBX_COMPACT_MIN_DEAD 4096

typedef struct {
    uint64_t seq;
    uint64_t off;
    uint32_t rec_len;
    uint32_t payload_len;
    uint8_t cls;
} obx_entry;

struct hearth_outbox {
    pthread_mutex_t mu;
    char dir[PATH_MAX];
    char path[PATH_MAX];
    uint8_t key[HEARTH_OUTBOX_KEY_LEN];
    hearth_outbox_config cfg;
    uint64_t file_cap;  /* the log never grows past this (scanned no further) */
    int fd;             /* -1: unusable after a failed reopen */
    bool dir_unsynced;  /* the last rename's directory fsync failed */
    uint64_t end;       /* bytes of the log in use */
    uint8_t file_id[OBX_FILE_ID_LEN];
    uint64_t next_seq;
    uint64_t dropped;
    uint64_t rejected;
    bool overflowing;   /* the last put had to drop: one event per episode */
    bool evicted;       /* recovery dropped records to fit the bounds */
    obx_entry *ent;     /* live records by seq; capacity cfg.max_records */
    size_t n;
    uint8_t *victim;    /* scratch flags for plan_room, one per entry */
    size_t bytes;       /* payload bytes of the live records */
    uint64_t live_len;  /* file bytes of the live records */
    uint8_t scratch[OBX_REC_MAX];
};

/* Security events are logged after the lock is released: a seclog
 * subscriber may well queue the event in this outbox. */
typedef struct {
    uint64_t overflow_total; /* > 0: log "outbox_overflow" */
    const char *overflow_class;
    uint64_t rejected_now;
    uint64_t torn_bytes;
} obx_events;

static const char *class_name(hearth_outbox_class c)
{
    return c == HEARTH_OUTBOX_EVENT ? "event" : c == HEARTH_OUTBOX_STATE ? "state" : "telemetry";
}

static void events_flush(const obx_events *ev, const char *dir)
{
    char a[24], b[24];
    if (ev->overflow_total > 0) {
        snprintf(a, sizeof a, "%" PRIu64, ev->overflow_total);
        hearth_seclog(HEARTH_SEV_WARNING, "outbox_overflow", "class", ev->overflow_class, "dropped_total", a,
                      NULL);
    }
    if (ev->rejected_now > 0) {
        snprintf(a, sizeof a, "%" PRIu64, ev->rejected_now);
        hearth_seclog(HEARTH_SEV_ALERT, "outbox_record_rejected", "count", a, "dir", dir, NULL);
    }
    if (ev->torn_bytes > 0) {
        snprintf(b, sizeof b, "%" PRIu64, ev->torn_bytes);
        hearth_seclog(HEARTH_SEV_INFO, "outbox_torn_tail", "bytes", b, "dir", dir, NULL);
    }
}

void hearth_outbox_config_default(hearth_outbox_config *cfg)
{
    cfg->max_records = 4096;
    cfg->max_bytes = (size_t)4 * 1024 * 1024;
}

/* ------------------------------------------------------------- index */

/* First index in the seq-sorted @p a[n] whose seq is >= @p seq. */
static size_t seq_lower_bound(const obx_entry *a, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid].seq < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static size_t lower_bound(const hearth_outbox *o, uint64_t seq)
{
    return seq_lower_bound(o->ent, o->n, seq);
}

static void remove_at(hearth_outbox *o, size_t i)
{
    o->bytes -= o->ent[i].payload_len;
    o->live_len -= o->ent[i].rec_len;
    memmove(o->ent + i, o->ent + i + 1, (o->n - i - 1) * sizeof *o->ent);
    o->n--;
}

/* The drop policy (outbox.h): while a record of class @p cls and @p len
 * payload bytes would not fit, the oldest record of the least important
 * class present -- the new one included, which is the newest -- goes.
 * Marks the queued victims in o->victim; false when the new record itself
 * is the one to go (nothing is marked then). */
static bool plan_room(hearth_outbox *o, hearth_outbox_class cls, size_t len, size_t *nvict)
{
    *nvict = 0;
    memset(o->victim, 0, o->n);
    size_t count = o->n, bytes = o->bytes;
    size_t cursor[HEARTH_OUTBOX_TELEMETRY + 1] = {0, 0, 0};
    while (count + 1 > o->cfg.max_records || bytes + len > o->cfg.max_bytes) {
        bool found = false;
        for (int c = HEARTH_OUTBOX_TELEMETRY; c >= (int)cls && !found; c--) {
            size_t i = cursor[c];
            while (i < o->n && (o->ent[i].cls != c || o->victim[i])) i++;
            cursor[c] = i;
            if (i == o->n) continue;
            o->victim[i] = 1;
            count--;
            bytes -= o->ent[i].payload_len;
            (*nvict)++;
            found = true;
        }
        if (!found) {
            memset(o->victim, 0, o->n);
            *nvict = 0;
            return false;
        }
    }
    return true;
}

static void remove_victims(hearth_outbox *o)
{
    size_t w = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (o->victim[i]) {
            o->bytes -= o->ent[i].payload_len;
            o->live_len -= o->ent[i].rec_len;
            continue;
        }
        o->ent[w++] = o->ent[i];
    }
    o->n = w;
}

static void append_entry(hearth_outbox *o, uint64_t seq, hearth_outbox_class cls, uint64_t off, size_t rec_len,
                         size_t payload_len)
{
    o->ent[o->n++] = (obx_entry){.seq = seq, .off = off, .rec_len = (uint32_t)rec_len,
                                 .payload_len = (uint32_t)payload_len, .cls = (uint8_t)cls};
    o->bytes += payload_len;
    o->live_len += rec_len;
}

/* ---------------------------------------------------------------- file */

static hearth_status pread_all(int fd, uint64_t off, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return hearth_err(HEARTH_ERR_IO, "read outbox: %s", strerror(errno));
        if (r == 0) return hearth_err(HEARTH_ERR_IO, "outbox file shrank while in use");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return HEARTH_OK;
}

static hearth_status fd_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    return pread_all(*(int *)ctx, off, buf, n);
}

/* Read and authenticate the live record @p e into o->scratch. */
static hearth_status load(hearth_outbox *o, const obx_entry *e, obx_rec *r)
{
    HEARTH_GUARD(pread_all(o->fd, e->off, o->scratch, e->rec_len));
    HEARTH_GUARD(obx_decode(o->scratch, e->rec_len, o->key, o->file_id, r));
    if (r->type != OBX_T_DATA || r->seq != e->seq)
        return hearth_err(HEARTH_ERR_TAMPERED, "outbox record %" PRIu64 " changed on disk", e->seq);
    return HEARTH_OK;
}

/* Append @p len bytes at the end of the log and make them durable. On
 * failure the log is cut back to where it was. */
static hearth_status append_sync(hearth_outbox *o, const uint8_t *data, size_t len)
{
    if (o->fd < 0) return hearth_err(HEARTH_ERR_IO, "outbox unusable after a failed compaction");
    if (o->end + len > o->file_cap) return hearth_err(HEARTH_ERR_BUSY, "outbox file at its size bound");
    if (o->dir_unsynced) {
        HEARTH_GUARD(hearth_fs_sync_dir(o->dir));
        o->dir_unsynced = false;
    }
    hearth_fault_point("outbox.append");
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status st = HEARTH_OK;
    if (lseek(o->fd, (off_t)o->end, SEEK_SET) < 0) {
        st = hearth_err(HEARTH_ERR_IO, "seek %s: %s", o->path, strerror(errno));
        goto fail;
    }
    /* Two halves with a fault point between: the fault test leaves a torn
     * record behind. */
    size_t half = len / 2;
    HEARTH_GUARD_GOTO(st, hearth_fd_write_all(o->fd, data, half, o->path), fail);
    hearth_fault_point("outbox.write");
    HEARTH_GUARD_GOTO(st, hearth_fd_write_all(o->fd, data + half, len - half, o->path), fail);
    hearth_fault_point("outbox.sync");
    if (fdatasync(o->fd) != 0 || hearth_fault_fail("outbox.sync")) {
        st = hearth_err(HEARTH_ERR_IO, "fdatasync %s: %s", o->path, strerror(errno ? errno : EIO));
        goto fail;
    }
    hearth_fault_point("outbox.synced");
    o->end += len;
    return HEARTH_OK;
fail:
    if (ftruncate(o->fd, (off_t)o->end) == 0) (void)fdatasync(o->fd);
    return st;
}

/* Rewrite the log with only the live records under a new file id, by
 * atomic replacement. Records that no longer authenticate are left out and
 * counted (*rejected_now). */
static hearth_status compact(hearth_outbox *o, uint64_t *rejected_now)
{
    obx_header h = {.next_seq = o->next_seq, .dropped = o->dropped, .rejected = o->rejected};
    HEARTH_GUARD(hearth_random(h.file_id, sizeof h.file_id));
    /* New offset and length of each live record (a version-1 record grows
     * when it is rewritten encrypted). */
    uint64_t *noff = calloc(2 * (o->n + 1), sizeof *noff);
    if (noff == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    uint64_t *nlen = noff + o->n + 1;
    hearth_buf b, hb;
    hearth_buf_init(&b, (size_t)(OBX_HEADER_REC_LEN + o->live_len + o->n * (OBX_DATA_FIXED - OBX_DATA_FIXED_V1)));
    hearth_buf_init(&hb, OBX_HEADER_REC_LEN);
    hearth_status st = HEARTH_OK;
    size_t bad = 0;
    /* The records first, behind room for the header, which counts them. */
    uint8_t room[OBX_HEADER_REC_LEN] = {0};
    HEARTH_GUARD_GOTO(st, hearth_buf_append(&b, room, sizeof room), out);
    for (size_t i = 0; i < o->n; i++) {
        obx_rec r;
        if (load(o, &o->ent[i], &r) != HEARTH_OK) {
            noff[i] = UINT64_MAX;
            bad++;
            continue;
        }
        noff[i] = b.len;
        st = obx_encode_data(&b, o->key, h.file_id, r.seq, r.cls, r.created, r.topic, r.payload,
                             r.payload_len);
        hearth_memzero(o->scratch, sizeof o->scratch); /* the decrypted record */
        if (st != HEARTH_OK) goto out;
        nlen[i] = b.len - noff[i];
    }
    h.rejected += bad;
    HEARTH_GUARD_GOTO(st, obx_encode_header(&hb, o->key, &h), out);
    memcpy(b.data, hb.data, OBX_HEADER_REC_LEN);
    bool durable = false;
    HEARTH_GUARD_GOTO(st, hearth_fs_replace(o->path, b.data, b.len, 0600, &durable), out);
    o->dir_unsynced = !durable;
    hearth_fault_point("outbox.reopen");
    if (o->fd >= 0) close(o->fd);
    o->fd = open(o->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (o->fd < 0) {
        st = hearth_err(HEARTH_ERR_IO, "reopen %s: %s", o->path, strerror(errno));
        goto out;
    }
    memcpy(o->file_id, h.file_id, sizeof o->file_id);
    o->end = b.len;
    o->rejected = h.rejected;
    *rejected_now += bad;
    size_t w = 0;
    o->bytes = 0;
    o->live_len = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (noff[i] == UINT64_MAX) continue;
        obx_entry e = o->ent[i];
        e.off = noff[i];
        e.rec_len = (uint32_t)nlen[i];
        o->ent[w++] = e;
        o->bytes += e.payload_len;
        o->live_len += e.rec_len;
    }
    o->n = w;
out:
    if (b.data != NULL) hearth_memzero(b.data, b.len);
    hearth_buf_free(&b);
    hearth_buf_free(&hb);
    free(noff);
    return st;
}

static void maybe_compact(hearth_outbox *o, obx_events *ev)
{
    uint64_t dead = o->end - OBX_HEADER_REC_LEN - o->live_len;
    if (dead < OBX_COMPACT_MIN_DEAD || dead < o->live_len) return;
    /* A failure leaves the log as it was: it is retried after the next
     * append, and append_sync() refuses to pass the size bound. */
    if (compact(o, &ev->rejected_now) != HEARTH_OK) hearth_err_clear();
}

/* ---------------------------------------------------------------- open */

/* Recovery first collects every record the log still holds (acks and
 * drops applied), then admits them under the bounds in order, so a record
 * acknowledged later in the log is never counted as dropped.
 *
 * A put that makes room writes its drop marks and its record in one
 * append: the marks take effect only with the record that follows them,
 * so a put torn after its marks drops nothing. */
typedef struct {
    obx_entry *all;
    size_t n, cap, max;
    uint64_t *pending; /* drop marks waiting for their put's record */
    size_t pn, pcap;
    uint64_t marks_dropped;
} recover_ctx;

/* Room for one more element in @p arr (used of *cap), at most @p max:
 * the array, moved or not, or NULL with the status in *st. */
static void *grow(void *arr, size_t *cap, size_t used, size_t elem, size_t max, hearth_status *st)
{
    *st = HEARTH_OK;
    if (used < *cap) return arr;
    /* Bounded by the file size bound: each record takes bytes. */
    size_t nc = *cap ? *cap * 2 : 64;
    if (nc > max) nc = max;
    if (nc <= used) {
        *st = hearth_err(HEARTH_ERR_INTERNAL, "outbox recovery: too many records");
        return NULL;
    }
    void *na = realloc(arr, nc * elem);
    if (na == NULL) {
        *st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *cap = nc;
    return na;
}

static void recover_remove(recover_ctx *rc, uint64_t seq)
{
    size_t lo = seq_lower_bound(rc->all, rc->n, seq);
    if (lo < rc->n && rc->all[lo].seq == seq) {
        memmove(rc->all + lo, rc->all + lo + 1, (rc->n - lo - 1) * sizeof *rc->all);
        rc->n--;
    }
}

static hearth_status on_record(void *arg, const obx_rec *r, uint64_t off, size_t len)
{
    recover_ctx *rc = arg;
    hearth_status st = HEARTH_OK;
    switch (r->type) {
    case OBX_T_DATA:
        for (size_t i = 0; i < rc->pn; i++) recover_remove(rc, rc->pending[i]);
        rc->marks_dropped += rc->pn;
        rc->pn = 0;
        obx_entry *na = grow(rc->all, &rc->cap, rc->n, sizeof *rc->all, rc->max, &st);
        if (na == NULL) return st;
        rc->all = na;
        rc->all[rc->n++] = (obx_entry){.seq = r->seq, .off = off, .rec_len = (uint32_t)len,
                                       .payload_len = (uint32_t)r->payload_len, .cls = (uint8_t)r->cls};
        return HEARTH_OK;
    case OBX_T_ACK: recover_remove(rc, r->seq); return HEARTH_OK;
    case OBX_T_DROP:
        if (r->seq == 0) { /* a put refused outright: counted, nothing follows */
            rc->marks_dropped++;
            return HEARTH_OK;
        }
        uint64_t *np = grow(rc->pending, &rc->pcap, rc->pn, sizeof *rc->pending, rc->max, &st);
        if (np == NULL) return st;
        rc->pending = np;
        rc->pending[rc->pn++] = r->seq;
        return HEARTH_OK;
    default: return hearth_err(HEARTH_ERR_INTERNAL, "unexpected outbox record type");
    }
}

/* Admit the recovered records in order under the drop policy (the bounds
 * may be smaller than those the log was written under). */
static void admit(hearth_outbox *o, const recover_ctx *rc)
{
    for (size_t i = 0; i < rc->n; i++) {
        const obx_entry *e = &rc->all[i];
        size_t nv = 0;
        if (!plan_room(o, (hearth_outbox_class)e->cls, e->payload_len, &nv)) {
            o->dropped++;
            o->evicted = true;
            continue;
        }
        if (nv > 0) {
            remove_victims(o);
            o->dropped += nv;
            o->evicted = true;
        }
        append_entry(o, e->seq, (hearth_outbox_class)e->cls, e->off, e->rec_len, e->payload_len);
    }
}

static hearth_status check_config(const hearth_outbox_config *cfg)
{
    if (cfg->max_records < 1 || cfg->max_records > OBX_MAX_RECORDS_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "outbox max_records must be 1..%u", OBX_MAX_RECORDS_LIMIT);
    if (cfg->max_bytes < 1 || cfg->max_bytes > OBX_MAX_BYTES_LIMIT)
        return hearth_err(HEARTH_ERR_RANGE, "outbox max_bytes must be 1..%zu", OBX_MAX_BYTES_LIMIT);
    return HEARTH_OK;
}

/* Largest log the bounds allow: live records, as many dead ones before a
 * compaction, and one append's worth of drop marks and data. */
static uint64_t file_cap(const hearth_outbox_config *cfg)
{
    uint64_t per = OBX_REC_OVERHEAD + OBX_DATA_FIXED + HEARTH_OUTBOX_TOPIC_MAX + OBX_MARK_REC_LEN;
    uint64_t live = (uint64_t)cfg->max_bytes + (uint64_t)cfg->max_records * per;
    return OBX_HEADER_REC_LEN + 2 * live + 2 * (uint64_t)OBX_REC_MAX + OBX_COMPACT_MIN_DEAD + 65536;
}

/* Sequence numbers for a log whose header is gone (new, or not ours):
 * start above anything an earlier log of this device handed out, as long
 * as the clock has not gone back, so the service's (device, seq) dedup
 * does not swallow new records. */
static uint64_t fresh_seq_floor(void)
{
    int64_t now = hearth_time_now();
    if (now <= 0 || now >= ((int64_t)1 << 40)) return 1;
    return (uint64_t)now << 20;
}

static hearth_status recover(hearth_outbox *o, obx_events *ev)
{
    hearth_fs_remove_stale_temps(o->dir, OBX_FILE_NAME);
    o->fd = open(o->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    uint64_t size = 0;
    if (o->fd < 0 && errno != ENOENT) return hearth_err(HEARTH_ERR_IO, "open %s: %s", o->path, strerror(errno));
    if (o->fd >= 0) {
        struct stat sb;
        if (fstat(o->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
            return hearth_err(HEARTH_ERR_IO, "%s is not a regular file", o->path);
        size = (uint64_t)sb.st_size;
    }
    uint64_t extra = 0;
    if (size > o->file_cap) {
        extra = 1; /* beyond any log these bounds write: not read at all */
        size = o->file_cap;
    }
    recover_ctx rc = {.max = (size_t)(size / (OBX_REC_OVERHEAD + OBX_DATA_FIXED_V1 + 1)) + 1};
    obx_scan_result res;
    hearth_status st = obx_scan(fd_read, &o->fd, size, o->key, on_record, &rc, &res);
    if (st == HEARTH_OK) admit(o, &rc); /* marks still pending belong to a torn put */
    free(rc.all);
    free(rc.pending);
    HEARTH_GUARD(st);
    uint64_t next = res.last_seq + 1;
    if (res.header_ok) {
        memcpy(o->file_id, res.hdr.file_id, sizeof o->file_id);
        o->dropped += res.hdr.dropped;
        o->rejected = res.hdr.rejected;
        if (res.hdr.next_seq > next) next = res.hdr.next_seq;
    } else {
        uint64_t floor = fresh_seq_floor();
        if (floor > next) next = floor;
    }
    o->dropped += rc.marks_dropped;
    o->rejected += res.rejected + extra;
    o->next_seq = next;
    ev->rejected_now = res.rejected + extra;
    ev->torn_bytes = res.torn_bytes;
    o->end = res.valid_end;
    uint64_t dead = res.valid_end > OBX_HEADER_REC_LEN + o->live_len
                        ? res.valid_end - OBX_HEADER_REC_LEN - o->live_len
                        : 0;
    /* A version-1 log (payloads in clear) is rewritten encrypted at once. */
    bool rewrite = !res.header_ok || res.old_version || ev->rejected_now > 0 || res.torn_bytes > 0 ||
                   o->evicted ||
                   (dead >= OBX_COMPACT_MIN_DEAD && dead >= o->live_len);
    if (rewrite) HEARTH_GUARD(compact(o, &ev->rejected_now));
    return HEARTH_OK;
}

hearth_status hearth_outbox_open(const char *dir, const uint8_t *key, const hearth_outbox_config *cfg,
                                 hearth_outbox **out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (dir == NULL || key == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    hearth_outbox_config c;
    hearth_outbox_config_default(&c);
    if (cfg != NULL) c = *cfg;
    HEARTH_GUARD(check_config(&c));
    hearth_outbox *o = calloc(1, sizeof *o);
    if (o == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    o->fd = -1;
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
    hearth_status st = HEARTH_OK;
    if (pthread_mutex_init(&o->mu, NULL) != 0) {
        free(o);
        return hearth_err(HEARTH_ERR_NOMEM, "cannot create the outbox lock");
    }
    o->cfg = c;
    o->file_cap = file_cap(&c);
    memcpy(o->key, key, sizeof o->key);
    o->ent = calloc(c.max_records, sizeof *o->ent);
    o->victim = calloc(c.max_records, 1);
    if (o->ent == NULL || o->victim == NULL) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (strlen(dir) >= sizeof o->dir) {
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "outbox directory path too long");
        goto fail;
    }
    memcpy(o->dir, dir, strlen(dir) + 1);
    HEARTH_GUARD_GOTO(st, hearth_path_join(o->path, sizeof o->path, dir, OBX_FILE_NAME), fail);
    HEARTH_GUARD_GOTO(st, hearth_fs_mkdirs(dir, 0700), fail);
    obx_events ev = {0};
    HEARTH_GUARD_GOTO(st, recover(o, &ev), fail);
    events_flush(&ev, o->dir);
    *out = o;
    return HEARTH_OK;
fail:
    hearth_outbox_close(o);
    return st;
}

void hearth_outbox_close(hearth_outbox *o)
{
    if (o == NULL) return;
    if (o->fd >= 0) close(o->fd);
    hearth_memzero(o->key, sizeof o->key);
    hearth_memzero(o->scratch, sizeof o->scratch);
    pthread_mutex_destroy(&o->mu);
    free(o->ent);
    free(o->victim);
    free(o);
}

/* ------------------------------------------------------------ operations */

static hearth_status put_locked(hearth_outbox *o, hearth_outbox_class cls, const char *topic,
                                const uint8_t *payload, size_t len, uint64_t *seq_out, obx_events *ev)
{
    size_t nv = 0;
    bool fits = plan_room(o, cls, len, &nv);
    hearth_buf b;
    hearth_buf_init(&b, (nv + 1) * OBX_MARK_REC_LEN + obx_data_rec_len(OBX_VERSION, strlen(topic), len));
    hearth_status st = HEARTH_OK;
    if (!fits) {
        /* Everything queued is more important than this record: it is the
         * one dropped, and the drop is counted durably. */
        HEARTH_GUARD_GOTO(st, obx_encode_mark(&b, o->key, o->file_id, OBX_T_DROP, 0), out);
        HEARTH_GUARD_GOTO(st, append_sync(o, b.data, b.len), out);
        o->dropped++;
        if (!o->overflowing) {
            ev->overflow_total = o->dropped;
            ev->overflow_class = class_name(cls);
        }
        o->overflowing = true;
        st = hearth_err(HEARTH_ERR_BUSY, "outbox full of more important records: %s record dropped",
                        class_name(cls));
        goto out;
    }
    hearth_outbox_class dropped_cls = cls;
    for (size_t i = 0; i < o->n; i++) {
        if (!o->victim[i]) continue;
        dropped_cls = (hearth_outbox_class)o->ent[i].cls;
        HEARTH_GUARD_GOTO(st, obx_encode_mark(&b, o->key, o->file_id, OBX_T_DROP, o->ent[i].seq), out);
    }
    size_t data_off = b.len;
    uint64_t seq = o->next_seq;
    HEARTH_GUARD_GOTO(st, obx_encode_data(&b, o->key, o->file_id, seq, cls, hearth_time_now(), topic, payload,
                                          len),
                      out);
    uint64_t at = o->end;
    HEARTH_GUARD_GOTO(st, append_sync(o, b.data, b.len), out);
    if (nv > 0) {
        remove_victims(o);
        o->dropped += nv;
        if (!o->overflowing) {
            ev->overflow_total = o->dropped;
            ev->overflow_class = class_name(dropped_cls);
        }
    }
    o->overflowing = nv > 0;
    append_entry(o, seq, cls, at + data_off, b.len - data_off, len);
    o->next_seq++;
    if (seq_out != NULL) *seq_out = seq;
    maybe_compact(o, ev);
out:
    hearth_buf_free(&b);
    return st;
}

hearth_status hearth_outbox_put(hearth_outbox *o, hearth_outbox_class cls, const char *topic,
                                const uint8_t *payload, size_t len, uint64_t *seq_out)
{
    if (o == NULL || topic == NULL || (payload == NULL && len > 0))
        return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    if (cls != HEARTH_OUTBOX_EVENT && cls != HEARTH_OUTBOX_STATE && cls != HEARTH_OUTBOX_TELEMETRY)
        return hearth_err(HEARTH_ERR_INVALID, "unknown outbox class %d", (int)cls);
    size_t tl = strnlen(topic, HEARTH_OUTBOX_TOPIC_MAX);
    if (!obx_topic_valid(topic, tl))
        return hearth_err(HEARTH_ERR_INVALID, "outbox topic must be 1..%d bytes of [a-z0-9/_-]",
                          HEARTH_OUTBOX_TOPIC_MAX - 1);
    if (len > HEARTH_OUTBOX_PAYLOAD_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "outbox payload of %zu bytes (max %d)", len,
                          HEARTH_OUTBOX_PAYLOAD_MAX);
    if (len > o->cfg.max_bytes)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "outbox payload of %zu bytes exceeds the outbox's %zu", len,
                          o->cfg.max_bytes);
    obx_events ev = {0};
    pthread_mutex_lock(&o->mu);
    hearth_status st = put_locked(o, cls, topic, payload, len, seq_out, &ev);
    pthread_mutex_unlock(&o->mu);
    events_flush(&ev, o->dir);
    return st;
}

hearth_status hearth_outbox_next(hearth_outbox *o, uint64_t after, hearth_outbox_record *rec)
{
    if (o == NULL || rec == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    obx_events ev = {0};
    hearth_status st = HEARTH_ERR_NOT_FOUND;
    pthread_mutex_lock(&o->mu);
    size_t i = after == UINT64_MAX ? o->n : lower_bound(o, after + 1);
    while (i < o->n) {
        obx_rec r;
        if (o->fd < 0 || load(o, &o->ent[i], &r) != HEARTH_OK) {
            if (o->fd < 0) {
                st = hearth_err(HEARTH_ERR_IO, "outbox unusable after a failed compaction");
                break;
            }
            /* Changed under us since it was written: never sent. */
            remove_at(o, i);
            o->rejected++;
            ev.rejected_now++;
            continue;
        }
        rec->seq = r.seq;
        rec->cls = r.cls;
        rec->created_unix = r.created;
        memcpy(rec->topic, r.topic, sizeof rec->topic);
        memcpy(rec->payload, r.payload, r.payload_len);
        rec->payload_len = r.payload_len;
        st = HEARTH_OK;
        break;
    }
    /* Persist the count and drop the bad bytes (best effort). */
    if (ev.rejected_now > 0 && o->fd >= 0 && compact(o, &ev.rejected_now) != HEARTH_OK) hearth_err_clear();
    if (st == HEARTH_ERR_NOT_FOUND) (void)hearth_err(st, "no outbox record after %" PRIu64, after);
    pthread_mutex_unlock(&o->mu);
    events_flush(&ev, o->dir);
    return st;
}

hearth_status hearth_outbox_ack(hearth_outbox *o, uint64_t seq)
{
    if (o == NULL) return hearth_err(HEARTH_ERR_INVALID, "missing argument");
    obx_events ev = {0};
    hearth_status st = HEARTH_OK;
    pthread_mutex_lock(&o->mu);
    size_t i = lower_bound(o, seq);
    if (i < o->n && o->ent[i].seq == seq) {
        hearth_buf b;
        hearth_buf_init(&b, OBX_MARK_REC_LEN);
        st = obx_encode_mark(&b, o->key, o->file_id, OBX_T_ACK, seq);
        if (st == HEARTH_OK) st = append_sync(o, b.data, b.len);
        hearth_buf_free(&b);
        if (st == HEARTH_OK) {
            remove_at(o, i);
            maybe_compact(o, &ev);
        }
    }
    pthread_mutex_unlock(&o->mu);
    events_flush(&ev, o->dir);
    return st;
}

void hearth_outbox_stats_get(hearth_outbox *o, hearth_outbox_stats *st)
{
    memset(st, 0, sizeof *st);
    if (o == NULL) return;
    pthread_mutex_lock(&o->mu);
    st->records = o->n;
    st->bytes = o->bytes;
    st->dropped = o->dropped;
    st->rejected = o->rejected;
    pthread_mutex_unlock(&o->mu);
}
