/* Streaming install into the inactive slot (EN 303 645 5.3-2, 5.3-9,
 * 5.3-10): a bundle's payload bytes, verified chunk by chunk against the
 * signed manifest as they arrive, are written straight into the slot's
 * payload files -- hashed once, written once, no staging copy.
 *
 * Why this keeps every guarantee of the staged install it replaces:
 *  - the slot is recorded "installing" in the boot state before its first
 *    byte and its manifest (the commit record hearth-boot needs to verify
 *    anything) is removed, so an incomplete slot is never bootable;
 *  - bytes reach the files only after the stream verifier took them, and a
 *    chunk counts (resume point) only once its digest matched; a bad chunk
 *    is cut off again by rewind();
 *  - after a power cut, what the slot holds is re-verified from disk (torn
 *    or unwritten pages fail their chunk) and kept up to the last good
 *    chunk, and only for the same release (install.rec);
 *  - commit fsyncs every file before the manifest is written atomically,
 *    and the slot is marked pending only after that, by the caller;
 *  - hearth-boot re-verifies the whole slot before starting it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/layout.h"
#include "hearth/util.h"
#include "slots_internal.h"

#define RECORD_MAGIC "HRTHSWR1"
#define RECORD_LEN (8 + HEARTH_DIGEST_LEN + 8)
#define RESCAN_BUF (1024u * 1024u)
/* Dirty bytes of a payload file before writeback is started, so the final
 * fsync finds little left to write. */
#define WRITEBACK_STEP (8u * 1024u * 1024u)
#define STAGE_MAX (256u * 1024u)

struct hearth_slot_writer {
    const hearth_bundle *b;
    const hearth_manifest *m;
    int slot;
    char dir[PATH_MAX];
    char pdir[PATH_MAX];
    hearth_stream *s;
    uint64_t pos;        /* bundle offset of the next byte */
    int fd;              /* payload file being written, or -1 */
    size_t fd_p;         /* its payload index */
    uint64_t dirty;      /* bytes written to fd since the last writeback kick */
    bool broken;         /* a write failed: the files may lag the verifier */
    /* Bytes of the chunk being received, written when the chunk completes
     * or the buffer fills (the transfer hands over 16 KiB pieces): one
     * pwrite per STAGE_MAX instead of one per piece. */
    uint8_t *stage;
    size_t stage_len;
    size_t stage_p;      /* payload of the staged bytes */
    uint64_t stage_off;  /* their offset in that payload's file */
};

int hearth_slot_writer_slot(const hearth_slot_writer *w) { return w->slot; }
const char *hearth_slot_writer_dir(const hearth_slot_writer *w) { return w->dir; }
uint64_t hearth_slot_writer_offset(const hearth_slot_writer *w) { return w->pos; }
uint64_t hearth_slot_writer_good(const hearth_slot_writer *w) { return hearth_stream_good_offset(w->s); }
uint64_t hearth_slot_writer_chunks(const hearth_slot_writer *w) { return hearth_stream_good_chunks(w->s); }

static hearth_status slot_file(const hearth_slot_writer *w, const char *name, char *p, size_t cap)
{
    return hearth_path_join(p, cap, w->dir, name);
}

static hearth_status payload_file(const hearth_slot_writer *w, size_t i, char *p, size_t cap)
{
    return hearth_path_join(p, cap, w->pdir, w->m->payloads[i].name);
}

static void close_current(hearth_slot_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    w->dirty = 0;
}

static hearth_status record_build(const hearth_bundle *b, uint8_t rec[RECORD_LEN])
{
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): a binary record, 8 magic bytes
    memcpy(rec, RECORD_MAGIC, 8);
    HEARTH_GUARD(hearth_bundle_release_id(b, rec + 8));
    hearth_be64_put(rec + 8 + HEARTH_DIGEST_LEN, hearth_bundle_total_size(b));
    return HEARTH_OK;
}

/* Does the slot's install record name this release? */
static bool record_matches(const hearth_slot_writer *w)
{
    char p[PATH_MAX];
    uint8_t want[RECORD_LEN];
    uint8_t *have = NULL;
    size_t len = 0;
    if (slot_file(w, HEARTH_SLOT_INSTALL_RECORD, p, sizeof p) != HEARTH_OK ||
        record_build(w->b, want) != HEARTH_OK ||
        hearth_fs_read_file(p, RECORD_LEN, &have, &len) != HEARTH_OK)
        return false;
    bool same = len == RECORD_LEN && memcmp(have, want, RECORD_LEN) == 0;
    free(have);
    return same;
}

static hearth_status unlink_in(const char *dir, const char *name)
{
    char p[PATH_MAX];
    HEARTH_GUARD(hearth_path_join(p, sizeof p, dir, name));
    if (unlink(p) != 0 && errno != ENOENT)
        return hearth_err(HEARTH_ERR_IO, "remove %s: %s", p, strerror(errno));
    return HEARTH_OK;
}

static bool named_payload(const hearth_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->payload_count; i++)
        if (strcmp(m->payloads[i].name, name) == 0) return true;
    return false;
}

/* Remove every payload file (@p all: a fresh install) or those the
 * manifest does not name (a resume): the slot ends holding exactly what
 * was verified. */
static hearth_status clean_payloads(const hearth_slot_writer *w, bool all)
{
    HEARTH_GUARD(hearth_fs_mkdirs(w->pdir, 0755));
    DIR *d = opendir(w->pdir);
    if (d == NULL) return hearth_err(HEARTH_ERR_IO, "open %s: %s", w->pdir, strerror(errno));
    hearth_status st = HEARTH_OK;
    struct dirent *e;
    while (st == HEARTH_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if ((all || !named_payload(w->m, e->d_name)) && unlinkat(dirfd(d), e->d_name, 0) != 0)
            st = hearth_err(HEARTH_ERR_IO, "remove %s/%s: %s", w->pdir, e->d_name, strerror(errno));
    }
    closedir(d);
    HEARTH_GUARD(st);
    return hearth_fs_sync_dir(w->pdir);
}

/* Cut every payload file to what the verifier has checked, and continue
 * from there (from 0 when no payload byte is kept, so the transfer brings
 * the prefix again and the verifier compares it with the verified one). */
static hearth_status cut_to_good(hearth_slot_writer *w)
{
    close_current(w);
    uint64_t good = hearth_stream_good_offset(w->s);
    for (size_t i = 0; i < w->m->payload_count; i++) {
        const hearth_payload_info *pi = &w->m->payloads[i];
        uint64_t keep = good <= pi->offset ? 0 : good - pi->offset;
        if (keep > pi->size) keep = pi->size;
        char p[PATH_MAX];
        HEARTH_GUARD(payload_file(w, i, p, sizeof p));
        struct stat sb;
        if (lstat(p, &sb) != 0) {
            if (errno == ENOENT) continue;
            return hearth_err(HEARTH_ERR_IO, "stat %s: %s", p, strerror(errno));
        }
        if ((uint64_t)sb.st_size > keep && truncate(p, (off_t)keep) != 0)
            return hearth_err(HEARTH_ERR_IO, "truncate %s: %s", p, strerror(errno));
    }
    if (good <= hearth_bundle_prefix_size(w->b)) good = 0;
    HEARTH_GUARD(hearth_stream_seek(w->s, good));
    w->pos = good;
    return HEARTH_OK;
}

/* Feed what the slot holds through a new verifier, payload after payload,
 * up to the first short file or bad chunk; then cut to the last good chunk.
 * Used to resume after a power cut and after a failed write. */
static hearth_status rescan(hearth_slot_writer *w)
{
    close_current(w);
    hearth_stream_free(w->s);
    w->s = NULL;
    w->broken = false;
    HEARTH_GUARD(hearth_stream_new(w->b, &w->s));
    HEARTH_GUARD(hearth_stream_update(w->s, hearth_bundle_prefix(w->b), hearth_bundle_prefix_size(w->b)));
    uint8_t *buf = malloc(RESCAN_BUF);
    if (buf == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    bool whole = true;
    for (size_t i = 0; st == HEARTH_OK && whole && i < w->m->payload_count; i++) {
        const hearth_payload_info *pi = &w->m->payloads[i];
        if (pi->size == 0) continue;
        char p[PATH_MAX];
        st = payload_file(w, i, p, sizeof p);
        int fd = st == HEARTH_OK ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
        if (fd < 0) break; /* nothing (more) kept */
        uint64_t off = 0;
        while (st == HEARTH_OK && off < pi->size) {
            size_t want = pi->size - off < RESCAN_BUF ? (size_t)(pi->size - off) : RESCAN_BUF;
            ssize_t r = pread(fd, buf, want, (off_t)off);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) st = hearth_err(HEARTH_ERR_IO, "read %s: %s", p, strerror(errno));
            if (r <= 0 || hearth_stream_update(w->s, buf, (size_t)r) != HEARTH_OK) break;
            off += (uint64_t)r;
        }
        close(fd);
        whole = off == pi->size;
    }
    free(buf);
    HEARTH_GUARD(st);
    hearth_err_clear(); /* a bad chunk here only ends what is kept */
    return cut_to_good(w);
}

hearth_status hearth_slot_writer_open(hearth_slots *s, const hearth_bundle *b, hearth_slot_writer **out)
{
    if (s == NULL || b == NULL || out == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "slot writer: missing argument");
    *out = NULL;
    if (!hearth_bundle_verified(b))
        return hearth_err(HEARTH_ERR_STATE, "refusing to install an unverified bundle");
    hearth_slot_writer *w = calloc(1, sizeof *w);
    if (w == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    w->b = b;
    w->m = hearth_bundle_manifest(b);
    w->fd = -1;
    w->stage = malloc(STAGE_MAX);
    if (w->stage == NULL) {
        free(w);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    bool kept = false;
    hearth_status st = hs_prepare_install(s, true, &w->slot, w->dir, sizeof w->dir, &kept);
    if (st == HEARTH_OK) st = hearth_path_join(w->pdir, sizeof w->pdir, w->dir, HEARTH_SLOT_PAYLOAD_DIR);
    /* No manifest, no verification: the slot stays unbootable until commit. */
    if (st == HEARTH_OK) st = unlink_in(w->dir, HEARTH_SLOT_MANIFEST);
    if (st == HEARTH_OK) st = unlink_in(w->dir, HEARTH_SLOT_SIGNATURE);
    if (st == HEARTH_OK) st = hearth_fs_sync_dir(w->dir);
    hearth_fault_point("slots.writer.invalidated");
    bool resume = st == HEARTH_OK && kept && record_matches(w);
    if (st == HEARTH_OK && !resume) {
        uint8_t rec[RECORD_LEN];
        char p[PATH_MAX];
        st = unlink_in(w->dir, HEARTH_SLOT_INSTALL_RECORD);
        if (st == HEARTH_OK) st = clean_payloads(w, true);
        if (st == HEARTH_OK) st = record_build(b, rec);
        if (st == HEARTH_OK) st = slot_file(w, HEARTH_SLOT_INSTALL_RECORD, p, sizeof p);
        if (st == HEARTH_OK) st = hearth_fs_write_atomic(p, rec, sizeof rec, 0600);
        hearth_fault_point("slots.writer.recorded");
    } else if (st == HEARTH_OK) {
        st = clean_payloads(w, false);
    }
    if (st == HEARTH_OK) st = rescan(w);
    if (st != HEARTH_OK) {
        hearth_slot_writer_free(w);
        return st;
    }
    *out = w;
    return HEARTH_OK;
}

/* Write @p len payload bytes of payload @p p at offset @p off of its file. */
static hearth_status put(hearth_slot_writer *w, size_t p, const uint8_t *d, size_t len, uint64_t off)
{
    const hearth_payload_info *pi = &w->m->payloads[p];
    char path[PATH_MAX];
    if (w->fd < 0 || w->fd_p != p) {
        close_current(w);
        HEARTH_GUARD(payload_file(w, p, path, sizeof path));
        w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0755);
        if (w->fd < 0) return hearth_err(HEARTH_ERR_IO, "create %s: %s", path, strerror(errno));
        w->fd_p = p;
    }
    while (len > 0) {
        ssize_t n = pwrite(w->fd, d, len, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return hearth_err(HEARTH_ERR_IO, "write payload '%s' into slot %s: %s", pi->name,
                              hearth_slot_name(w->slot), n < 0 ? strerror(errno) : "no progress");
        d += n;
        len -= (size_t)n;
        off += (uint64_t)n;
        w->dirty += (uint64_t)n;
    }
    /* Start writeback now (asynchronous), so commit's fsync finds the
     * image mostly on the medium instead of writing all of it then. */
    if (w->dirty >= WRITEBACK_STEP) {
        (void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        w->dirty = 0;
    }
    return HEARTH_OK;
}

static hearth_status flush_stage(hearth_slot_writer *w)
{
    if (w->stage_len == 0) return HEARTH_OK;
    hearth_status st = put(w, w->stage_p, w->stage, w->stage_len, w->stage_off);
    w->stage_len = 0;
    return st;
}

/* Queue @p len bytes of payload @p p (file offset @p off) behind the
 * staged ones, writing out whatever is not contiguous or does not fit. */
static hearth_status stage_bytes(hearth_slot_writer *w, size_t p, const uint8_t *d, size_t len,
                                 uint64_t off)
{
    while (len > 0) {
        if (w->stage_len > 0 && (w->stage_p != p || w->stage_off + w->stage_len != off))
            HEARTH_GUARD(flush_stage(w));
        if (w->stage_len == 0) {
            w->stage_p = p;
            w->stage_off = off;
        }
        size_t k = STAGE_MAX - w->stage_len < len ? STAGE_MAX - w->stage_len : len;
        memcpy(w->stage + w->stage_len, d, k);
        w->stage_len += k;
        d += k;
        len -= k;
        off += k;
        if (w->stage_len == STAGE_MAX) HEARTH_GUARD(flush_stage(w));
    }
    return HEARTH_OK;
}

hearth_status hearth_slot_writer_write(hearth_slot_writer *w, const void *data, size_t n)
{
    if (w == NULL || (data == NULL && n > 0))
        return hearth_err(HEARTH_ERR_INVALID, "slot writer: missing argument");
    if (w->broken) return hearth_err(HEARTH_ERR_STATE, "a slot write failed; rewind first");
    /* Verified first. When a chunk fails, only the bytes before it (whole
     * chunks that did match) are written, so the files never lag the
     * verifier's good offset. */
    uint64_t chunks = hearth_stream_good_chunks(w->s);
    hearth_status vs = hearth_stream_update(w->s, data, n);
    if (vs != HEARTH_OK) {
        uint64_t good = hearth_stream_good_offset(w->s);
        n = good > w->pos ? (size_t)(good - w->pos) : 0;
    }
    const uint8_t *d = data;
    size_t prefix = hearth_bundle_prefix_size(w->b);
    size_t p = w->fd >= 0 ? w->fd_p : 0;
    while (n > 0) {
        size_t take = n;
        if (w->pos < prefix) {
            if (prefix - w->pos < take) take = (size_t)(prefix - w->pos);
        } else {
            /* The verifier accepted these bytes, so they lie in a payload. */
            while (w->pos >= w->m->payloads[p].offset + w->m->payloads[p].size) p++;
            const hearth_payload_info *pi = &w->m->payloads[p];
            if (pi->offset + pi->size - w->pos < take) take = (size_t)(pi->offset + pi->size - w->pos);
            hearth_status st = stage_bytes(w, p, d, take, w->pos - pi->offset);
            if (st != HEARTH_OK) {
                w->broken = true;
                return st;
            }
        }
        d += take;
        n -= take;
        w->pos += take;
    }
    /* A chunk completed (or failed after whole good ones): everything
     * verified is in the file before the caller counts it. */
    if (vs != HEARTH_OK || hearth_stream_good_chunks(w->s) != chunks) {
        hearth_status st = flush_stage(w);
        if (st != HEARTH_OK) {
            w->broken = true;
            return st;
        }
    }
    return vs;
}

hearth_status hearth_slot_writer_rewind(hearth_slot_writer *w)
{
    if (w == NULL) return hearth_err(HEARTH_ERR_INVALID, "slot writer: missing argument");
    /* Staged bytes are never of a verified chunk (a completed chunk is
     * written before write() returns): drop them with the rest. */
    w->stage_len = 0;
    return w->broken ? rescan(w) : cut_to_good(w);
}

hearth_status hearth_slot_writer_commit(hearth_slot_writer *w)
{
    if (w == NULL) return hearth_err(HEARTH_ERR_INVALID, "slot writer: missing argument");
    if (w->broken) return hearth_err(HEARTH_ERR_STATE, "a slot write failed; rewind first");
    HEARTH_GUARD(hearth_stream_final(w->s));
    HEARTH_GUARD(flush_stage(w));
    close_current(w);
    for (size_t i = 0; i < w->m->payload_count; i++) {
        const hearth_payload_info *pi = &w->m->payloads[i];
        char p[PATH_MAX];
        HEARTH_GUARD(payload_file(w, i, p, sizeof p));
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0755);
        if (fd < 0) return hearth_err(HEARTH_ERR_IO, "open %s: %s", p, strerror(errno));
        struct stat sb;
        hearth_status st = HEARTH_OK;
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != pi->size)
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' in slot %s changed during the install",
                            pi->name, hearth_slot_name(w->slot));
        else if (fsync(fd) != 0)
            st = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", p, strerror(errno));
        close(fd);
        HEARTH_GUARD(st);
    }
    HEARTH_GUARD(hearth_fs_sync_dir(w->pdir));
    hearth_fault_point("slots.writer.synced");
    const uint8_t *man = hearth_bundle_prefix(w->b) + HEARTH_BUNDLE_HEADER_SIZE;
    size_t mlen = w->m->raw_len;
    size_t slen = hearth_bundle_prefix_size(w->b) - HEARTH_BUNDLE_HEADER_SIZE - mlen;
    char p[PATH_MAX];
    HEARTH_GUARD(slot_file(w, HEARTH_SLOT_SIGNATURE, p, sizeof p));
    HEARTH_GUARD(hearth_fs_write_atomic(p, man + mlen, slen, 0644));
    /* The manifest last: it is the commit record of the slot. */
    HEARTH_GUARD(slot_file(w, HEARTH_SLOT_MANIFEST, p, sizeof p));
    HEARTH_GUARD(hearth_fs_write_atomic(p, man, mlen, 0644));
    HEARTH_GUARD(unlink_in(w->dir, HEARTH_SLOT_INSTALL_RECORD));
    return hearth_fs_sync_dir(w->dir);
}

void hearth_slot_writer_free(hearth_slot_writer *w)
{
    if (w == NULL) return;
    close_current(w);
    hearth_stream_free(w->s);
    free(w->stage);
    free(w);
}
