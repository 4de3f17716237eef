/* Download (EN 303 645 5.3-2, 5.3-10): the signed manifest prefix of the
 * latest release, bounded before anything is parsed, then the payload
 * streamed through the incremental verifier into the staging file -- a
 * chunk is written only once its digest matched the manifest -- with
 * resume after the last verified chunk of an interrupted download. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "updater_internal.h"

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
    hearth_stream *stream;
    int fd;
    uint64_t chunks;
    bool disk_error;
} dl_sink;

static hearth_status dl_write(const uint8_t *data, size_t n, void *arg)
{
    dl_sink *d = arg;
    /* Verify before the bytes are kept: a chunk that completes with a bad
     * digest fails here and the transfer stops at that chunk. */
    HEARTH_GUARD(hearth_stream_update(d->stream, data, n));
    hearth_status st = hearth_fd_write_all(d->fd, data, n, "staging file");
    if (st != HEARTH_OK) {
        d->disk_error = true;
        return st;
    }
    uint64_t c = hearth_stream_good_chunks(d->stream);
    for (; d->chunks < c; d->chunks++) hearth_fault_point("update.download.chunk");
    return HEARTH_OK;
}

/* Reposition the verifier and the staging file to the last verified
 * boundary (after an interruption or a bad chunk). */
static hearth_status rewind_to_good(const hearth_bundle *b, hearth_stream **s, int fd)
{
    uint64_t good = hearth_stream_good_offset(*s);
    if (good == 0 || hearth_stream_seek(*s, good) != HEARTH_OK) {
        hearth_stream_free(*s);
        *s = NULL;
        good = 0;
        HEARTH_GUARD(hearth_stream_new(b, s));
    }
    if (ftruncate(fd, (off_t)good) != 0 || lseek(fd, (off_t)good, SEEK_SET) < 0)
        return hearth_err(HEARTH_ERR_IO, "truncate staging file: %s", strerror(errno));
    return HEARTH_OK;
}

/* Re-verify what an earlier, interrupted download left behind, so a resume
 * starts after the last good chunk (nothing unverified is ever kept). */
static hearth_status resume_local(const hearth_bundle *b, hearth_stream **s, int fd)
{
    uint8_t buf[64 * 1024];
    off_t off = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof buf, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return hearth_err(HEARTH_ERR_IO, "read staging file: %s", strerror(errno));
        }
        if (r == 0) break;
        if (hearth_stream_update(*s, buf, (size_t)r) != HEARTH_OK) break;
        off += r;
    }
    return rewind_to_good(b, s, fd);
}

static void remove_stale(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".part") == 0 && strcmp(e->d_name, keep) != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static void sleep_interruptible(hearth_updater *u, uint32_t seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&u->mu);
    while (!u->stopping) {
        if (pthread_cond_timedwait(&u->cv, &u->mu, &ts) != 0) break;
    }
    pthread_mutex_unlock(&u->mu);
}

hearth_status upd_download(hearth_updater *u, const upd_session *t, const hearth_bundle *b,
                           char *staged, size_t cap, hearth_update_result *res)
{
    const hearth_manifest *m = hearth_bundle_manifest(b);
    const char *ver = m->sw_version;
    if (!safe_name(ver))
        return upd_reject(u, res, hearth_err(HEARTH_ERR_INVALID, "unsafe characters"),
                          "software version string", NULL);
    char name[96];
    snprintf(name, sizeof name, "%s.hbu.part", ver);
    HEARTH_GUARD(hearth_path_join(staged, cap, u->download_dir, name));
    char url[PATH_MAX];
    int l = snprintf(url, sizeof url, "%s/%s/%s.hbu", u->repo_url, hearth_device_hw_id(u->dev), ver);
    if (l < 0 || (size_t)l >= sizeof url) return upd_fail(res, HEARTH_ERR_TOO_LARGE, "URL");
    remove_stale(u->download_dir, name);

    uint64_t total = hearth_bundle_total_size(b);
    int fd = open(staged, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return upd_fail(res, hearth_err(HEARTH_ERR_IO, "open %s: %s", staged, strerror(errno)),
                        "staging file");
    hearth_stream *s = NULL;
    hearth_status st = hearth_stream_new(b, &s);
    if (st == HEARTH_OK) st = resume_local(b, &s, fd);
    if (st != HEARTH_OK) {
        close(fd);
        hearth_stream_free(s);
        return upd_fail(res, st, "staging file");
    }
    upd_set_state(u, HEARTH_UPD_DOWNLOADING);
    hearth_fault_point("update.download.begin");
    bool complete = false;
    for (uint32_t attempt = 0; attempt < u->cfg.download_attempts && !upd_stopping(u); attempt++) {
        uint64_t off = hearth_stream_good_offset(s);
        if (off >= total) {
            complete = true;
            break;
        }
        if (off > 0) res->resumed_from = off;
        res->attempts++;
        dl_sink d = {.stream = s, .fd = fd, .chunks = hearth_stream_good_chunks(s)};
        upd_http_result hr;
        st = upd_http_stream(&t->tls, url, off, total - off, dl_write, &d, &hr);
        res->bytes_downloaded += hr.received;
        if (st == HEARTH_OK) {
            complete = true;
            break;
        }
        hearth_status rw = rewind_to_good(b, &s, fd);
        if (st == HEARTH_ERR_TAMPERED || hr.overflow || st == HEARTH_ERR_TOO_LARGE) {
            /* An attack, not a glitch: stop at once; verified chunks are
             * kept so a later check resumes after the last good one. */
            char what[96];
            snprintf(what, sizeof what, "download stopped at offset %llu",
                     (unsigned long long)hearth_stream_good_offset(s));
            close(fd);
            hearth_stream_free(s);
            return upd_reject(u, res, hr.overflow ? HEARTH_ERR_TOO_LARGE : st, what, ver);
        }
        if (rw != HEARTH_OK || d.disk_error || hr.tls_failed) {
            close(fd);
            hearth_stream_free(s);
            return upd_fail(res, rw != HEARTH_OK ? rw : st, "download");
        }
        if (attempt + 1 < u->cfg.download_attempts) sleep_interruptible(u, 1 + attempt);
    }
    if (!complete) {
        char what[96];
        snprintf(what, sizeof what, "download incomplete, resumes at %llu",
                 (unsigned long long)hearth_stream_good_offset(s));
        close(fd);
        hearth_stream_free(s);
        return upd_fail(res, st != HEARTH_OK ? st : HEARTH_ERR_IO, what);
    }
    st = hearth_stream_final(s);
    hearth_stream_free(s);
    if (st == HEARTH_OK && fdatasync(fd) != 0)
        st = hearth_err(HEARTH_ERR_IO, "fsync staging file: %s", strerror(errno));
    close(fd);
    if (st != HEARTH_OK) return upd_reject(u, res, st, "downloaded bundle", ver);
    hearth_fault_point("update.download.done");
    return HEARTH_OK;
}
