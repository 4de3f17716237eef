/* Download (EN 303 645 5.3-2, 5.3-10): the signed manifest prefix of the
 * latest release, bounded before anything is parsed, then the payload
 * streamed through the slot writer -- verified chunk by chunk against the
 * signed manifest and written straight into the inactive slot (install.c
 * opens and commits it) -- with resume after the last verified chunk of an
 * interrupted download. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "updater_internal.h"

/* The longest Retry-After a download retry waits for within one check. */
#define UPD_DOWNLOAD_HINT_MAX_S 60u

/* ------------------------------------------------------------- download */

/* Version strings become file and URL names: only a safe alphabet. */
hearth_status upd_fetch_manifest(hearth_updater *u, const upd_session *t, const hearth_keyset *ks,
                                 hearth_update_result *res, hearth_bundle **out)
{
    *out = NULL;
    /* The signed manifest prefix, bounded before anything is parsed. */
    char url[PATH_MAX];
    int l = snprintf(url, sizeof url, "%s/%s/latest.hbm", u->repo_url, hearth_device_hw_id(u->dev));
    if (l < 0 || (size_t)l >= sizeof url) return upd_fail(res, HEARTH_ERR_TOO_LARGE, "URL");
    hearth_buf pb = {0};
    upd_http_result hr;
    hearth_status st = upd_fetch_small(t, url, UPD_PREFIX_MAX, &pb, &hr);
    if (st == HEARTH_ERR_NOT_FOUND) {
        res->outcome = HEARTH_UPD_OUT_UP_TO_DATE;
        upd_copy_str(res->reason, sizeof res->reason, "no release published for this hardware");
        return HEARTH_OK;
    }
    if (st != HEARTH_OK) {
        if (hr.overflow) return upd_reject(u, res, HEARTH_ERR_TOO_LARGE, "manifest", NULL);
        if (hr.tls_failed) return upd_reject(u, res, HEARTH_ERR_AUTH, "repository TLS authentication", NULL);
        upd_note_http(u, &hr);
        return upd_fail(res, st, "fetching the manifest");
    }
    hearth_fault_point("update.manifest.fetched");
    size_t plen = 0;
    uint64_t total = 0;
    hearth_bundle *b = NULL;
    st = hearth_bundle_prefix_len(pb.data, pb.len, &plen, &total);
    if (st == HEARTH_OK && plen > pb.len)
        st = hearth_err(HEARTH_ERR_INVALID, "manifest file shorter than its header says");
    if (st == HEARTH_OK && total > u->cfg.max_bundle_size)
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "bundle of %llu bytes exceeds the device limit",
                        (unsigned long long)total);
    if (st == HEARTH_OK) st = hearth_bundle_open_buffer(pb.data, plen, ks, &b);
    hearth_buf_free(&pb);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        return upd_reject(u, res, st, "manifest", NULL);
    }
    *out = b;
    return HEARTH_OK;
}

static bool safe_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '.') return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

typedef struct {
    hearth_slot_writer *w;
    uint64_t chunks;
    bool disk_error;
} dl_sink;

static hearth_status dl_write(const uint8_t *data, size_t n, void *arg)
{
    dl_sink *d = arg;
    /* Verified, then written: a chunk that completes with a bad digest
     * fails here and the transfer stops at that chunk. */
    hearth_status st = hearth_slot_writer_write(d->w, data, n);
    if (st == HEARTH_ERR_IO) d->disk_error = true;
    uint64_t c = hearth_slot_writer_chunks(d->w);
    for (; d->chunks < c; d->chunks++) hearth_fault_point("update.download.chunk");
    return st;
}

/* Staging files of the download path before it installed from the stream
 * (<version>.hbu.part): a device updated from such a release drops them. */
static void remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 9 && strcmp(e->d_name + n - 9, ".hbu.part") == 0) (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static void sleep_interruptible(hearth_updater *u, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&u->mu);
    while (!u->stopping) {
        if (pthread_cond_timedwait(&u->cv, &u->mu, &ts) != 0) break;
    }
    pthread_mutex_unlock(&u->mu);
}

hearth_status upd_download(hearth_updater *u, const upd_session *t, const hearth_bundle *b,
                           hearth_slot_writer *w, hearth_update_result *res)
{
    const hearth_manifest *m = hearth_bundle_manifest(b);
    const char *ver = m->sw_version;
    if (!safe_name(ver))
        return upd_reject(u, res, hearth_err(HEARTH_ERR_INVALID, "unsafe characters"),
                          "software version string", NULL);
    char url[PATH_MAX];
    int l = snprintf(url, sizeof url, "%s/%s/%s.hbu", u->repo_url, hearth_device_hw_id(u->dev), ver);
    if (l < 0 || (size_t)l >= sizeof url) return upd_fail(res, HEARTH_ERR_TOO_LARGE, "URL");
    remove_stale(u->download_dir);

    uint64_t total = hearth_bundle_total_size(b);
    upd_set_state(u, HEARTH_UPD_DOWNLOADING);
    hearth_fault_point("update.download.begin");
    bool complete = false;
    hearth_status st = HEARTH_OK;
    /* Retries of this download wait on the one backoff policy
     * (docs/backoff.md): full jitter from 1 s, at least the window when the
     * repository says it is busy (429/503). */
    hearth_backoff_config bc;
    hearth_backoff_config_default(&bc, "update-download");
    bc.first_max_ms = 0;
    hearth_backoff bo;
    HEARTH_GUARD(hearth_backoff_init(&bo, &bc));
    for (uint32_t attempt = 0; attempt < u->cfg.download_attempts && !upd_stopping(u); attempt++) {
        uint64_t off = hearth_slot_writer_offset(w);
        if (off > 0) res->resumed_from = off;
        if (hearth_slot_writer_good(w) >= total) {
            complete = true; /* all of it was in the slot already */
            break;
        }
        res->attempts++;
        dl_sink d = {.w = w, .chunks = hearth_slot_writer_chunks(w)};
        upd_http_result hr;
        st = upd_http_stream(&t->tls, url, off, total - off, dl_write, &d, &hr);
        res->bytes_downloaded += hr.received;
        if (st == HEARTH_OK) {
            complete = true;
            break;
        }
        hearth_status rw = hearth_slot_writer_rewind(w);
        if (st == HEARTH_ERR_TAMPERED || hr.overflow || st == HEARTH_ERR_TOO_LARGE) {
            /* An attack, not a glitch: stop at once; verified chunks stay
             * in the slot so a later check resumes after the last good one. */
            char what[96];
            snprintf(what, sizeof what, "download stopped at offset %llu",
                     (unsigned long long)hearth_slot_writer_good(w));
            return upd_reject(u, res, hr.overflow ? HEARTH_ERR_TOO_LARGE : st, what, ver);
        }
        upd_note_http(u, &hr);
        hearth_backoff_reason why = hearth_backoff_reason_http(hr.http_code);
        /* A refused identity will not be accepted a second later: leave the
         * retry to the check schedule's longer refusal backoff. */
        if (rw != HEARTH_OK || d.disk_error || hr.tls_failed || why == HEARTH_BACKOFF_REFUSED_AUTH)
            return upd_fail(res, rw != HEARTH_OK ? rw : st, "download");
        /* A busy repository that asks for more than a minute: not inside
         * this check; the check schedule waits for it (scheduler.c). */
        if (hr.retry_after && hr.retry_after_s > UPD_DOWNLOAD_HINT_MAX_S)
            return upd_fail(res, st, "download (repository busy)");
        uint64_t delay = hearth_backoff_failed(&bo, why, hr.retry_after ? (uint64_t)hr.retry_after_s * 1000 : 0);
        if (attempt + 1 < u->cfg.download_attempts) sleep_interruptible(u, delay);
    }
    if (!complete) {
        char what[96];
        snprintf(what, sizeof what, "download incomplete, resumes at %llu",
                 (unsigned long long)hearth_slot_writer_offset(w));
        return upd_fail(res, st != HEARTH_OK ? st : HEARTH_ERR_IO, what);
    }
    hearth_fault_point("update.download.done");
    return HEARTH_OK;
}
