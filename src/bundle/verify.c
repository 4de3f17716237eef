/* Payload verification: the parallel whole-file verifier (bundle files and
 * slot directories), the streaming verifier for downloads, and the
 * verify-while-copying installer. All compare fixed-size chunks against the
 * per-chunk SHA-256 digests of the signed manifest (5.3-9, 5.3-10, 5.7-1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_internal.h"
#include "bundle_priv.h"

#define READ_BUF (1024u * 1024u) /* per-thread read buffer: memory bound */
#define THREADS_MAX 64u

hearth_status hb_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const void *data, size_t n,
                        uint8_t out[HEARTH_DIGEST_LEN])
{
    unsigned int len = 0;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, data, n) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != HEARTH_DIGEST_LEN)
        return hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed");
    return HEARTH_OK;
}

/* ------------------------------------------------------ parallel engine */

struct vjob {
    const hearth_manifest *m;
    const int *fds;
    const uint64_t *base;
    uint64_t first[HEARTH_BUNDLE_PAYLOADS_MAX + 1]; /* global index of each payload's chunk 0 */
    uint64_t nchunks;
    atomic_uint_fast64_t next;
    atomic_bool stop;
    pthread_mutex_t mu;
    uint64_t bad_index;
    hearth_status bad_st;
    char msg[256];
    uint64_t done, total;
    hearth_progress_fn progress;
    void *arg;
};

static void job_fail(struct vjob *j, uint64_t g, hearth_status st, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    if (g < j->bad_index) {
        j->bad_index = g;
        j->bad_st = st;
        snprintf(j->msg, sizeof j->msg, "%s", msg);
    }
    pthread_mutex_unlock(&j->mu);
    /* Stop handing out chunks; chunks with a lower index were already taken
     * and still finish, so the reported chunk is the first bad one. */
    atomic_store(&j->stop, true);
}

static void *worker(void *arg)
{
    struct vjob *j = arg;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    uint8_t *buf = malloc(READ_BUF);
    if (ctx == NULL || md == NULL || buf == NULL) {
        job_fail(j, 0, HEARTH_ERR_NOMEM, "out of memory in verifier thread");
        goto out;
    }
    char msg[256];
    while (!atomic_load(&j->stop)) {
        uint64_t g = atomic_fetch_add(&j->next, 1);
        if (g >= j->nchunks) break;
        size_t p = 0;
        while (g >= j->first[p + 1]) p++;
        const hearth_payload_info *pi = &j->m->payloads[p];
        uint64_t c = g - j->first[p];
        uint64_t off = c * pi->chunk_size;
        uint64_t len = pi->size - off < pi->chunk_size ? pi->size - off : pi->chunk_size;
        unsigned int dl = 0;
        uint8_t dig[EVP_MAX_MD_SIZE];
        bool ok = EVP_DigestInit_ex(ctx, md, NULL) == 1;
        uint64_t pos = 0;
        while (ok && pos < len) {
            size_t want = (size_t)(len - pos < READ_BUF ? len - pos : READ_BUF);
            size_t got = 0;
            if (hb_pread_full(j->fds[p], buf, want, j->base[p] + off + pos, &got) != HEARTH_OK) {
                snprintf(msg, sizeof msg, "payload '%s': read error: %s", pi->name, hearth_err_msg());
                job_fail(j, g, HEARTH_ERR_IO, msg);
                goto out;
            }
            if (got != want) {
                snprintf(msg, sizeof msg, "payload '%s' is truncated at byte %llu of %llu", pi->name,
                         (unsigned long long)(off + pos + got), (unsigned long long)pi->size);
                job_fail(j, g, HEARTH_ERR_TAMPERED, msg);
                goto out;
            }
            ok = EVP_DigestUpdate(ctx, buf, want) == 1;
            pos += want;
        }
        if (!ok || EVP_DigestFinal_ex(ctx, dig, &dl) != 1 || dl != HEARTH_DIGEST_LEN) {
            job_fail(j, g, HEARTH_ERR_CRYPTO, "SHA-256 failed");
            goto out;
        }
        if (!hearth_ct_equal(dig, pi->chunk_digests + c * HEARTH_DIGEST_LEN, HEARTH_DIGEST_LEN)) {
            snprintf(msg, sizeof msg, "payload '%s' chunk %llu (bytes %llu..%llu) does not match "
                     "its manifest digest", pi->name, (unsigned long long)c,
                     (unsigned long long)off, (unsigned long long)(off + len - 1));
            job_fail(j, g, HEARTH_ERR_TAMPERED, msg);
            goto out;
        }
        if (j->progress) {
            pthread_mutex_lock(&j->mu);
            j->done += len;
            j->progress(j->done, j->total, j->arg);
            pthread_mutex_unlock(&j->mu);
        }
    }
out:
    free(buf);
    EVP_MD_free(md);
    EVP_MD_CTX_free(ctx);
    return NULL;
}

hearth_status hb_verify_chunks(const hearth_manifest *m, const int *fds, const uint64_t *base,
                               unsigned threads, hearth_progress_fn progress, void *arg)
{
    struct vjob *j = calloc(1, sizeof *j);
    if (j == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    j->m = m;
    j->fds = fds;
    j->base = base;
    for (size_t i = 0; i < m->payload_count; i++) {
        j->first[i + 1] = j->first[i] + m->payloads[i].chunk_count;
        j->total += m->payloads[i].size;
    }
    for (size_t i = m->payload_count + 1; i <= HEARTH_BUNDLE_PAYLOADS_MAX; i++) j->first[i] = UINT64_MAX;
    j->nchunks = j->first[m->payload_count];
    atomic_init(&j->next, 0);
    atomic_init(&j->stop, false);
    pthread_mutex_init(&j->mu, NULL);
    j->bad_index = UINT64_MAX;
    j->progress = progress;
    j->arg = arg;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    if (threads > THREADS_MAX) threads = THREADS_MAX;
    if (threads > j->nchunks) threads = j->nchunks ? (unsigned)j->nchunks : 1;
    pthread_t tids[THREADS_MAX];
    unsigned started = 0;
    /* The calling thread is worker 0: one thread means no thread at all. */
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, worker, j) != 0) break;
        started++;
    }
    worker(j);
    for (unsigned t = 0; t < started; t++) pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&j->mu);
    hearth_status st = HEARTH_OK;
    if (j->bad_index != UINT64_MAX) st = hearth_err(j->bad_st, "%s", j->msg);
    free(j);
    return st;
}

hearth_status hearth_bundle_verify_payloads(const hearth_bundle *b, unsigned threads,
                                            hearth_progress_fn progress, void *arg)
{
    if (b->fd < 0) return hearth_err(HEARTH_ERR_STATE, "bundle was not opened from a file");
    int fds[HEARTH_BUNDLE_PAYLOADS_MAX];
    uint64_t base[HEARTH_BUNDLE_PAYLOADS_MAX];
    for (size_t i = 0; i < b->m->payload_count; i++) {
        fds[i] = b->fd;
        base[i] = b->m->payloads[i].offset;
    }
    return hb_verify_chunks(b->m, fds, base, threads, progress, arg);
}

/* ------------------------------------------------------------- stream */

struct hearth_stream {
    const hearth_bundle *b;
    EVP_MD_CTX *ctx;
    EVP_MD *md;
    uint64_t pos;         /* next file offset expected */
    uint64_t good;        /* verified up to here */
    uint64_t good_chunks;
    size_t p;             /* current payload (== count when done) */
    uint64_t c;           /* chunk within it */
    uint64_t chunk_end;   /* file offset where the current chunk ends */
    bool in_chunk;        /* digest context initialised for the current chunk */
    bool failed;
};

/* Position the stream at file offset @p off (a verified boundary). */
static void stream_locate(hearth_stream *s, uint64_t off)
{
    const hearth_manifest *m = s->b->m;
    s->pos = off;
    s->in_chunk = false;
    s->good = off;
    s->good_chunks = 0;
    s->p = 0;
    s->c = 0;
    if (off < s->b->prefix_len) {
        s->good = off;
        return;
    }
    for (s->p = 0; s->p < m->payload_count; s->p++) {
        const hearth_payload_info *pi = &m->payloads[s->p];
        if (off < pi->offset + pi->size) break;
        s->good_chunks += pi->chunk_count;
    }
    if (s->p == m->payload_count) return;
    const hearth_payload_info *pi = &m->payloads[s->p];
    s->c = (off - pi->offset) / pi->chunk_size;
    s->good_chunks += s->c;
    uint64_t cend = pi->offset + (s->c + 1) * pi->chunk_size;
    s->chunk_end = cend < pi->offset + pi->size ? cend : pi->offset + pi->size;
}

hearth_status hearth_stream_new(const hearth_bundle *b, hearth_stream **out)
{
    if (!b->verified) return hearth_err(HEARTH_ERR_STATE, "bundle signature not verified");
    hearth_stream *s = calloc(1, sizeof *s);
    if (s == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    s->b = b;
    s->ctx = EVP_MD_CTX_new();
    s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (s->ctx == NULL || s->md == NULL) {
        hearth_stream_free(s);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    stream_locate(s, 0);
    *out = s;
    return HEARTH_OK;
}

void hearth_stream_free(hearth_stream *s)
{
    if (s == NULL) return;
    EVP_MD_CTX_free(s->ctx);
    EVP_MD_free(s->md);
    free(s);
}

uint64_t hearth_stream_good_offset(const hearth_stream *s) { return s->good; }
uint64_t hearth_stream_good_chunks(const hearth_stream *s) { return s->good_chunks; }

static hearth_status stream_fail(hearth_stream *s, hearth_status st)
{
    s->failed = true;
    return st;
}

hearth_status hearth_stream_update(hearth_stream *s, const void *data, size_t len)
{
    if (s->failed)
        return hearth_err(HEARTH_ERR_STATE, "stream failed earlier; seek to %llu to resume",
                          (unsigned long long)s->good);
    const hearth_bundle *b = s->b;
    const hearth_manifest *m = b->m;
    const uint8_t *d = data;
    while (len > 0) {
        if (s->pos < b->prefix_len) {
            size_t n = (size_t)(b->prefix_len - s->pos < len ? b->prefix_len - s->pos : len);
            if (memcmp(d, b->prefix + s->pos, n) != 0)
                return stream_fail(s, hearth_err(HEARTH_ERR_TAMPERED, "bundle header/manifest bytes "
                                                 "differ from the verified ones near offset %llu",
                                                 (unsigned long long)s->pos));
            s->pos += n;
            d += n;
            len -= n;
            if (s->pos == b->prefix_len) {
                stream_locate(s, s->pos);
            } else {
                s->good = s->pos;
            }
            continue;
        }
        if (s->p >= m->payload_count)
            return stream_fail(s, hearth_err(HEARTH_ERR_TOO_LARGE, "more data than the %llu bytes "
                                             "the signed manifest declares (endless data)",
                                             (unsigned long long)b->total));
        const hearth_payload_info *pi = &m->payloads[s->p];
        if (!s->in_chunk) {
            if (EVP_DigestInit_ex(s->ctx, s->md, NULL) != 1)
                return stream_fail(s, hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed"));
            s->in_chunk = true;
        }
        size_t n = (size_t)(s->chunk_end - s->pos < len ? s->chunk_end - s->pos : len);
        if (EVP_DigestUpdate(s->ctx, d, n) != 1)
            return stream_fail(s, hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed"));
        s->pos += n;
        d += n;
        len -= n;
        if (s->pos < s->chunk_end) continue;
        uint8_t dig[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        if (EVP_DigestFinal_ex(s->ctx, dig, &dl) != 1 || dl != HEARTH_DIGEST_LEN)
            return stream_fail(s, hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed"));
        s->in_chunk = false;
        if (!hearth_ct_equal(dig, pi->chunk_digests + s->c * HEARTH_DIGEST_LEN, HEARTH_DIGEST_LEN))
            return stream_fail(s, hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' chunk %llu does not "
                                             "match its manifest digest; resume from offset %llu",
                                             pi->name, (unsigned long long)s->c,
                                             (unsigned long long)s->good));
        s->good = s->pos;
        stream_locate(s, s->pos); /* next chunk (or next payload, skipping empty ones) */
    }
    return HEARTH_OK;
}

hearth_status hearth_stream_final(hearth_stream *s)
{
    if (s->failed) return hearth_err(HEARTH_ERR_STATE, "stream failed earlier");
    if (s->good != s->b->total)
        return hearth_err(HEARTH_ERR_TAMPERED, "bundle truncated: %llu of %llu bytes verified",
                          (unsigned long long)s->good, (unsigned long long)s->b->total);
    return HEARTH_OK;
}

hearth_status hearth_stream_seek(hearth_stream *s, uint64_t offset)
{
    if (offset > s->good)
        return hearth_err(HEARTH_ERR_RANGE, "offset %llu is beyond the verified %llu",
                          (unsigned long long)offset, (unsigned long long)s->good);
    if (offset > s->b->prefix_len && offset < s->b->total) {
        const hearth_manifest *m = s->b->m;
        bool boundary = false;
        for (size_t i = 0; i < m->payload_count && !boundary; i++) {
            const hearth_payload_info *pi = &m->payloads[i];
            if (offset >= pi->offset && offset <= pi->offset + pi->size)
                boundary = offset == pi->offset + pi->size || (offset - pi->offset) % pi->chunk_size == 0;
        }
        if (!boundary)
            return hearth_err(HEARTH_ERR_RANGE, "offset %llu is not a chunk boundary",
                              (unsigned long long)offset);
    }
    s->failed = false;
    stream_locate(s, offset);
    return HEARTH_OK;
}

/* ------------------------------------------------------------ install */

static bool manifest_has(const hearth_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->payload_count; i++)
        if (strcmp(m->payloads[i].name, name) == 0) return true;
    return false;
}

/* Remove files the manifest does not name (leftovers of an older image or
 * of an interrupted install): a slot holds exactly what was verified. */
static hearth_status clean_payload_dir(const char *dir, const hearth_manifest *m)
{
    DIR *d = opendir(dir);
    if (d == NULL) return hearth_err(HEARTH_ERR_IO, "open %s: %s", dir, strerror(errno));
    hearth_status st = HEARTH_OK;
    struct dirent *e;
    while (st == HEARTH_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (manifest_has(m, e->d_name)) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0)
            st = hearth_err(HEARTH_ERR_IO, "cannot remove stale %s/%s: %s", dir, e->d_name, strerror(errno));
    }
    closedir(d);
    return st;
}

static hearth_status extract_one(const hearth_bundle *b, const hearth_payload_info *pi,
                                 const char *pdir, EVP_MD_CTX *ctx, const EVP_MD *md, uint8_t *buf,
                                 uint64_t *done, uint64_t total, hearth_progress_fn progress, void *arg)
{
    char tmpname[HEARTH_BUNDLE_ID_MAX + 16];
    snprintf(tmpname, sizeof tmpname, ".%s.partial", pi->name);
    char tmp[4096], dst[4096];
    HEARTH_GUARD(hearth_path_join(tmp, sizeof tmp, pdir, tmpname));
    HEARTH_GUARD(hearth_path_join(dst, sizeof dst, pdir, pi->name));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "create %s: %s", tmp, strerror(errno));
    hearth_status st = HEARTH_OK;
    for (uint64_t c = 0; st == HEARTH_OK && c < pi->chunk_count; c++) {
        uint64_t off = c * pi->chunk_size;
        uint64_t len = pi->size - off < pi->chunk_size ? pi->size - off : pi->chunk_size;
        unsigned int dl = 0;
        uint8_t dig[EVP_MAX_MD_SIZE];
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1) st = hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed");
        for (uint64_t pos = 0; st == HEARTH_OK && pos < len;) {
            size_t want = (size_t)(len - pos < READ_BUF ? len - pos : READ_BUF);
            size_t got = 0;
            st = hb_pread_full(b->fd, buf, want, pi->offset + off + pos, &got);
            if (st == HEARTH_OK && got != want)
                st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' truncated in the bundle file", pi->name);
            /* Hash and write the very same buffer: what lands in the slot is
             * exactly what was hashed, even if the bundle file changes. */
            if (st == HEARTH_OK && EVP_DigestUpdate(ctx, buf, want) != 1)
                st = hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed");
            if (st == HEARTH_OK) st = hb_write_full(fd, buf, want, tmp);
            pos += want;
        }
        if (st == HEARTH_OK && (EVP_DigestFinal_ex(ctx, dig, &dl) != 1 || dl != HEARTH_DIGEST_LEN))
            st = hearth_err(HEARTH_ERR_CRYPTO, "SHA-256 failed");
        if (st == HEARTH_OK &&
            !hearth_ct_equal(dig, pi->chunk_digests + c * HEARTH_DIGEST_LEN, HEARTH_DIGEST_LEN))
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' chunk %llu changed after verification "
                            "(does not match the manifest); install aborted", pi->name,
                            (unsigned long long)c);
        if (st == HEARTH_OK) {
            *done += len;
            if (progress) progress(*done, total, arg);
        }
    }
    hearth_fault_point("bundle.extract.payload_written");
    if (st == HEARTH_OK && fsync(fd) != 0) st = hearth_err(HEARTH_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (st == HEARTH_OK && rename(tmp, dst) != 0)
        st = hearth_err(HEARTH_ERR_IO, "rename %s: %s", dst, strerror(errno));
    if (st != HEARTH_OK) unlink(tmp);
    return st;
}

hearth_status hearth_bundle_extract_verified(const hearth_bundle *b, const char *slot_dir,
                                             hearth_progress_fn progress, void *arg)
{
    if (!b->verified) return hearth_err(HEARTH_ERR_STATE, "refusing to install an unverified bundle");
    if (b->fd < 0) return hearth_err(HEARTH_ERR_STATE, "bundle was not opened from a file");
    const hearth_manifest *m = b->m;
    char pdir[4096], man[4096], sig[4096];
    HEARTH_GUARD(hearth_path_join(pdir, sizeof pdir, slot_dir, HEARTH_SLOT_PAYLOAD_DIR));
    HEARTH_GUARD(hearth_path_join(man, sizeof man, slot_dir, HEARTH_SLOT_MANIFEST));
    HEARTH_GUARD(hearth_path_join(sig, sizeof sig, slot_dir, HEARTH_SLOT_SIGNATURE));
    HEARTH_GUARD(hearth_fs_mkdirs(pdir, 0755));
    /* Invalidate the slot first: without a manifest it can never verify, so
     * a crash anywhere below leaves a slot that boot rejects, not a mix. */
    if (unlink(man) != 0 && errno != ENOENT)
        return hearth_err(HEARTH_ERR_IO, "remove %s: %s", man, strerror(errno));
    if (unlink(sig) != 0 && errno != ENOENT)
        return hearth_err(HEARTH_ERR_IO, "remove %s: %s", sig, strerror(errno));
    HEARTH_GUARD(hearth_fs_sync_dir(slot_dir));
    hearth_fault_point("bundle.extract.invalidated");
    HEARTH_GUARD(clean_payload_dir(pdir, m));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    uint8_t *buf = malloc(READ_BUF);
    hearth_status st = HEARTH_OK;
    if (ctx == NULL || md == NULL || buf == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    uint64_t done = 0;
    for (size_t i = 0; st == HEARTH_OK && i < m->payload_count; i++)
        st = extract_one(b, &m->payloads[i], pdir, ctx, md, buf, &done, m->payload_total, progress, arg);
    free(buf);
    EVP_MD_free(md);
    EVP_MD_CTX_free(ctx);
    HEARTH_GUARD(st);
    HEARTH_GUARD(hearth_fs_sync_dir(pdir));
    const uint8_t *mbytes = b->prefix + HEARTH_BUNDLE_HEADER_SIZE;
    HEARTH_GUARD(hearth_fs_write_atomic(sig, mbytes + b->hdr.manifest_len, b->hdr.sigblock_len, 0644));
    /* The manifest last: it is the commit record of the slot. */
    HEARTH_GUARD(hearth_fs_write_atomic(man, mbytes, b->hdr.manifest_len, 0644));
    return HEARTH_OK;
}

/* --------------------------------------------------------- slot verify */

static hearth_status check_slot_files(const char *pdir, const hearth_manifest *m, int *fds)
{
    DIR *d = opendir(pdir);
    if (d == NULL) return hearth_err(HEARTH_ERR_TAMPERED, "slot has no %s directory", HEARTH_SLOT_PAYLOAD_DIR);
    hearth_status st = HEARTH_OK;
    struct dirent *e;
    while (st == HEARTH_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (!manifest_has(m, e->d_name))
            st = hearth_err(HEARTH_ERR_TAMPERED, "unexpected file '%s' in slot (not in the manifest)",
                            e->d_name);
    }
    closedir(d);
    for (size_t i = 0; st == HEARTH_OK && i < m->payload_count; i++) {
        const hearth_payload_info *pi = &m->payloads[i];
        char path[4096];
        st = hearth_path_join(path, sizeof path, pdir, pi->name);
        if (st != HEARTH_OK) break;
        fds[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat sb;
        if (fds[i] < 0) {
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' missing from slot: %s", pi->name, strerror(errno));
        } else if (fstat(fds[i], &sb) != 0 || !S_ISREG(sb.st_mode)) {
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' is not a regular file", pi->name);
        } else if ((uint64_t)sb.st_size > pi->size) {
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' is %llu bytes longer than its manifest "
                            "entry", pi->name, (unsigned long long)((uint64_t)sb.st_size - pi->size));
        } else if ((uint64_t)sb.st_size < pi->size) {
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' is %llu bytes shorter than its manifest "
                            "entry (truncated)", pi->name, (unsigned long long)(pi->size - (uint64_t)sb.st_size));
        }
    }
    return st;
}

hearth_status hearth_slot_verify_dir(const char *slot_dir, const hearth_keyset *ks,
                                     const hearth_bundle_policy *policy, unsigned threads,
                                     hearth_manifest **out)
{
    return hearth_slot_verify_dir_exec(slot_dir, ks, policy, threads, NULL, NULL, out);
}

/* Index of payload @p name in @p m, or -1. */
static int payload_index(const hearth_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->payload_count; i++)
        if (strcmp(m->payloads[i].name, name) == 0) return (int)i;
    return -1;
}

hearth_status hearth_slot_verify_dir_exec(const char *slot_dir, const hearth_keyset *ks,
                                          const hearth_bundle_policy *policy, unsigned threads,
                                          const char *program, int *program_fd,
                                          hearth_manifest **out)
{
    if (out) *out = NULL;
    if (program_fd) *program_fd = -1;
    if ((program == NULL) != (program_fd == NULL))
        return hearth_err(HEARTH_ERR_INVALID, "program and program_fd go together");
    char pdir[4096], man[4096], sig[4096];
    HEARTH_GUARD(hearth_path_join(pdir, sizeof pdir, slot_dir, HEARTH_SLOT_PAYLOAD_DIR));
    HEARTH_GUARD(hearth_path_join(man, sizeof man, slot_dir, HEARTH_SLOT_MANIFEST));
    HEARTH_GUARD(hearth_path_join(sig, sizeof sig, slot_dir, HEARTH_SLOT_SIGNATURE));
    uint8_t *mb = NULL, *sbytes = NULL;
    size_t ml = 0, sl = 0;
    hearth_status st = hearth_fs_read_file(man, HEARTH_BUNDLE_MANIFEST_MAX, &mb, &ml);
    if (st == HEARTH_ERR_NOT_FOUND)
        st = hearth_err(HEARTH_ERR_NOT_FOUND, "slot %s has no manifest (empty or install interrupted)", slot_dir);
    if (st == HEARTH_OK) {
        st = hearth_fs_read_file(sig, HEARTH_SIGBLOCK_MAX, &sbytes, &sl);
        if (st == HEARTH_ERR_NOT_FOUND)
            st = hearth_err(HEARTH_ERR_TAMPERED, "slot %s has no signature file", slot_dir);
    }
    hb_sigblock sb;
    uint8_t signer[HEARTH_KEY_ID_LEN];
    hearth_manifest *m = NULL;
    if (st == HEARTH_OK) st = hb_sigblock_parse(sbytes, sl, &sb);
    if (st == HEARTH_OK) st = hb_verify_manifest_sig(ks, mb, ml, &sb, signer);
    if (st == HEARTH_OK) st = hearth_manifest_parse(mb, ml, &m);
    free(mb);
    free(sbytes);
    if (st == HEARTH_OK && policy != NULL) st = hearth_manifest_check_policy(m, policy);
    int fds[HEARTH_BUNDLE_PAYLOADS_MAX];
    uint64_t base[HEARTH_BUNDLE_PAYLOADS_MAX] = {0};
    for (size_t i = 0; i < HEARTH_BUNDLE_PAYLOADS_MAX; i++) fds[i] = -1;
    int pi = -1, sealed = -1;
    if (st == HEARTH_OK && program != NULL && (pi = payload_index(m, program)) < 0)
        st = hearth_err(HEARTH_ERR_TAMPERED, "program '%s' is not in the slot's manifest", program);
    if (st == HEARTH_OK) st = check_slot_files(pdir, m, fds);
    /* The program is verified from its sealed copy, and that copy is what
     * the caller executes: a write to the slot file after this point cannot
     * change it, and one before or during the copy fails the digests. */
    if (st == HEARTH_OK && pi >= 0)
        st = hb_copy_sealed(fds[pi], m->payloads[pi].name, m->payloads[pi].size, &sealed);
    if (st == HEARTH_OK && pi >= 0) {
        hearth_fault_point("bundle.verify_slot.program_loaded");
        close(fds[pi]);
        fds[pi] = sealed; /* closed with the others; *program_fd gets a dup */
    }
    if (st == HEARTH_OK) st = hb_verify_chunks(m, fds, base, threads, NULL, NULL);
    if (st == HEARTH_OK && pi >= 0 && (*program_fd = fcntl(sealed, F_DUPFD_CLOEXEC, 3)) < 0)
        st = hearth_err(HEARTH_ERR_IO, "dup: %s", strerror(errno));
    for (size_t i = 0; i < HEARTH_BUNDLE_PAYLOADS_MAX; i++)
        if (fds[i] >= 0) close(fds[i]);
    if (st != HEARTH_OK || out == NULL) {
        hearth_manifest_free(m);
        return st;
    }
    *out = m;
    return HEARTH_OK;
}
