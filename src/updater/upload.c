/* Local upload of a bundle through the device API (5.3-3: an update the
 * user can apply from the web interface, TR 103 621 6.10 example 2).
 *
 * The body is streamed: the signed prefix is collected (bounded) and
 * verified the moment it is complete, so an unsigned or foreign bundle is
 * refused before any payload byte is stored; then every payload chunk is
 * verified as it completes. Memory stays at one prefix buffer whatever the
 * image size. The same install path as a download follows. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "updater_internal.h"

struct hearth_update_upload {
    hearth_updater *u;
    uint64_t size;          /* announced size */
    uint64_t received;
    hearth_buf prefix;      /* until the signed prefix is complete */
    size_t prefix_len;      /* 0 until known */
    hearth_keyset *ks;
    hearth_bundle *b;
    hearth_stream *s;
    int fd;
    char path[PATH_MAX];
    char who[64];
    hearth_update_result res;
    bool failed;
};

static void upload_free(hearth_update_upload *up, bool remove_file)
{
    if (up->fd >= 0) close(up->fd);
    if (remove_file && up->path[0]) (void)unlink(up->path);
    hearth_buf_free(&up->prefix);
    hearth_stream_free(up->s);
    hearth_bundle_free(up->b);
    hearth_keyset_free(up->ks);
    upd_op_end(up->u);
    free(up);
}

hearth_status hearth_updater_upload_begin(hearth_updater *u, uint64_t size, const char *who,
                                          hearth_update_upload **out)
{
    HEARTH_ENSURE(u != NULL && out != NULL, HEARTH_ERR_INVALID);
    *out = NULL;
    if (size < HEARTH_BUNDLE_HEADER_SIZE || size > u->cfg.max_bundle_size)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "bundle size %llu outside 64..%llu bytes",
                          (unsigned long long)size, (unsigned long long)u->cfg.max_bundle_size);
    if (hearth_updater_restart_required(u))
        return hearth_err(HEARTH_ERR_STATE, "an installed update waits for a restart");
    HEARTH_GUARD(upd_op_begin(u, false));
    hearth_update_upload *up = calloc(1, sizeof *up);
    if (up == NULL) {
        upd_op_end(u);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    up->u = u;
    up->fd = -1;
    up->size = size;
    snprintf(up->who, sizeof up->who, "%s", who != NULL ? who : "");
    hearth_buf_init(&up->prefix, UPD_PREFIX_MAX);
    hearth_status st = upd_load_keyset(u, false, &up->res, &up->ks);
    if (st == HEARTH_OK) st = hearth_path_join(up->path, sizeof up->path, u->download_dir, "upload.part");
    if (st == HEARTH_OK) {
        up->fd = open(up->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (up->fd < 0) st = hearth_err(HEARTH_ERR_IO, "open %s: %s", up->path, strerror(errno));
    }
    if (st != HEARTH_OK) {
        upload_free(up, true);
        return st;
    }
    upd_set_state(u, HEARTH_UPD_DOWNLOADING);
    hearth_fault_point("update.upload.begin");
    *out = up;
    return HEARTH_OK;
}

static hearth_status put(hearth_update_upload *up, const uint8_t *p, size_t n)
{
    HEARTH_GUARD(hearth_stream_update(up->s, p, n));
    while (n > 0) {
        ssize_t w = write(up->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return hearth_err(HEARTH_ERR_IO, "write %s: %s", up->path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return HEARTH_OK;
}

/* Fail the upload: a verification failure is a security event. */
static hearth_status upload_reject(hearth_update_upload *up, hearth_status st, const char *what)
{
    up->failed = true;
    if (st == HEARTH_ERR_IO || st == HEARTH_ERR_NOMEM) {
        up->res.outcome = HEARTH_UPD_OUT_FAILED;
        up->res.status = st;
        return st;
    }
    const char *v = up->b != NULL ? hearth_bundle_manifest(up->b)->sw_version : NULL;
    return upd_reject(up->u, &up->res, st, what, v);
}

hearth_status hearth_updater_upload_write(hearth_update_upload *up, const void *data, size_t len)
{
    HEARTH_ENSURE(up != NULL && (data != NULL || len == 0), HEARTH_ERR_INVALID);
    if (up->failed) return hearth_err(HEARTH_ERR_STATE, "upload already failed");
    const uint8_t *p = data;
    if (len > up->size - up->received)
        return upload_reject(up, hearth_err(HEARTH_ERR_TOO_LARGE, "more bytes than announced"),
                             "uploaded bundle");
    up->received += len;
    if (up->s == NULL) {
        /* Collect the prefix, then verify it before storing anything. */
        size_t want = up->prefix_len > 0 ? up->prefix_len : HEARTH_BUNDLE_HEADER_SIZE;
        while (len > 0 && up->s == NULL) {
            size_t take = want - up->prefix.len;
            if (take > len) take = len;
            hearth_status st = hearth_buf_append(&up->prefix, p, take);
            if (st != HEARTH_OK) return upload_reject(up, st, "uploaded manifest");
            p += take;
            len -= take;
            if (up->prefix.len < want) break;
            if (up->prefix_len == 0) {
                uint64_t total = 0;
                st = hearth_bundle_prefix_len(up->prefix.data, up->prefix.len, &up->prefix_len, &total);
                if (st == HEARTH_OK && total != up->size)
                    st = hearth_err(HEARTH_ERR_TAMPERED, "bundle says %llu bytes, upload is %llu",
                                    (unsigned long long)total, (unsigned long long)up->size);
                if (st != HEARTH_OK) return upload_reject(up, st, "uploaded bundle header");
                want = up->prefix_len;
                continue;
            }
            st = hearth_bundle_open_buffer(up->prefix.data, up->prefix.len, up->ks, &up->b);
            if (st == HEARTH_OK) st = upd_check_policy(up->u, up->b, &up->res);
            if (st == HEARTH_OK) st = hearth_stream_new(up->b, &up->s);
            if (st != HEARTH_OK) return upload_reject(up, st, "uploaded manifest");
            hearth_fault_point("update.upload.manifest_verified");
            st = put(up, up->prefix.data, up->prefix.len);
            hearth_buf_free(&up->prefix);
            if (st != HEARTH_OK) return upload_reject(up, st, "uploaded bundle");
        }
        if (len == 0) return HEARTH_OK;
    }
    hearth_status st = put(up, p, len);
    if (st != HEARTH_OK) return upload_reject(up, st, "uploaded payload");
    return HEARTH_OK;
}

hearth_status hearth_updater_upload_finish(hearth_update_upload *up, hearth_update_result *res)
{
    HEARTH_ENSURE(up != NULL && res != NULL, HEARTH_ERR_INVALID);
    hearth_updater *u = up->u;
    hearth_status st = HEARTH_OK;
    if (up->failed) {
        st = up->res.status != HEARTH_OK ? up->res.status : HEARTH_ERR_STATE;
    } else if (up->s == NULL || up->received != up->size) {
        st = upload_reject(up, hearth_err(HEARTH_ERR_TAMPERED, "upload truncated at %llu of %llu bytes",
                                          (unsigned long long)up->received,
                                          (unsigned long long)up->size),
                           "uploaded bundle");
    } else {
        st = hearth_stream_final(up->s);
        if (st == HEARTH_OK && fdatasync(up->fd) != 0)
            st = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", up->path, strerror(errno));
        if (st != HEARTH_OK) st = upload_reject(up, st, "uploaded bundle");
    }
    if (st == HEARTH_OK) {
        close(up->fd);
        up->fd = -1;
        hearth_fault_point("update.upload.received");
        up->res.bytes_downloaded = up->received;
        st = upd_install_file(u, up->path, up->ks, &up->res);
    }
    *res = up->res;
    pthread_mutex_lock(&u->mu);
    u->last = *res;
    u->last_check = hearth_time_now();
    bool restart = res->outcome == HEARTH_UPD_OUT_INSTALLED && st == HEARTH_OK;
    if (!u->restart_required) u->state = u->available.present ? HEARTH_UPD_AVAILABLE : HEARTH_UPD_IDLE;
    pthread_mutex_unlock(&u->mu);
    upload_free(up, true);
    if (restart && u->cfg.on_restart != NULL) u->cfg.on_restart(u->cfg.on_restart_arg);
    return st;
}

void hearth_updater_upload_abort(hearth_update_upload *up)
{
    if (up == NULL) return;
    hearth_updater *u = up->u;
    pthread_mutex_lock(&u->mu);
    if (!u->restart_required) u->state = u->available.present ? HEARTH_UPD_AVAILABLE : HEARTH_UPD_IDLE;
    pthread_mutex_unlock(&u->mu);
    upload_free(up, true);
}
