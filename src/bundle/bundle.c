/* Bundle files: open (header -> signature -> manifest -> size, in that order),
 * accessors, create (unsigned) and sign. Format: docs/update-format.md. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_internal.h"
#include "bundle_priv.h"

void hearth_bundle_free(hearth_bundle *b)
{
    if (b == NULL) return;
    if (b->fd >= 0) close(b->fd);
    hearth_manifest_free(b->m);
    free(b->prefix);
    free(b);
}

const hearth_manifest *hearth_bundle_manifest(const hearth_bundle *b) { return b->m; }
bool hearth_bundle_verified(const hearth_bundle *b) { return b->verified; }
const uint8_t *hearth_bundle_signer(const hearth_bundle *b) { return b->verified ? b->signer : NULL; }
size_t hearth_bundle_sig_count(const hearth_bundle *b) { return b->sigs.count; }

/* A release is its signed manifest: the signature block may carry more or
 * fewer signatures (several signers, key rotation, algorithms this build
 * does not know) without being another release (docs/update-format.md 4.1). */
hearth_status hearth_bundle_release_id(const hearth_bundle *b, uint8_t id[HEARTH_DIGEST_LEN])
{
    if (b == NULL || b->m == NULL || id == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "release id: missing argument");
    return hearth_sha256(b->m->raw, b->m->raw_len, id);
}
size_t hearth_bundle_prefix_size(const hearth_bundle *b) { return b->prefix_len; }
const uint8_t *hearth_bundle_prefix(const hearth_bundle *b) { return b->prefix; }
uint64_t hearth_bundle_total_size(const hearth_bundle *b) { return b->total; }

hearth_status hearth_bundle_sig_info(const hearth_bundle *b, size_t i, int *alg,
                                     const uint8_t **key_id)
{
    if (i >= b->sigs.count) return hearth_err(HEARTH_ERR_RANGE, "no signature %zu", i);
    *alg = b->sigs.sigs[i].alg;
    *key_id = b->sigs.sigs[i].key_id;
    return HEARTH_OK;
}

hearth_status hearth_bundle_check_policy(const hearth_bundle *b, const hearth_bundle_policy *p)
{
    return hearth_manifest_check_policy(b->m, p);
}

/* Parse a complete prefix already in memory (owned by @p b). */
static hearth_status parse_prefix(hearth_bundle *b, const hearth_keyset *ks)
{
    HEARTH_GUARD(hb_header_parse(b->prefix, b->prefix_len, &b->hdr));
    const uint8_t *man = b->prefix + HEARTH_BUNDLE_HEADER_SIZE;
    const uint8_t *sig = man + b->hdr.manifest_len;
    HEARTH_GUARD(hb_sigblock_parse(sig, b->hdr.sigblock_len, &b->sigs));
    /* Authenticity before the manifest parser sees a byte (MCUboot order). */
    if (ks != NULL) {
        HEARTH_GUARD(hb_verify_manifest_sig(ks, man, b->hdr.manifest_len, &b->sigs, b->signer));
        b->verified = true;
    }
    HEARTH_GUARD(hearth_manifest_parse(man, b->hdr.manifest_len, &b->m));
    if (b->m->payload_total != b->hdr.payload_total)
        return hearth_err(HEARTH_ERR_TAMPERED, "bundle header says %llu payload bytes, the signed "
                          "manifest %llu", (unsigned long long)b->hdr.payload_total,
                          (unsigned long long)b->m->payload_total);
    for (size_t i = 0; i < b->m->payload_count; i++) b->m->payloads[i].offset += b->prefix_len;
    b->total = b->prefix_len + b->m->payload_total;
    return HEARTH_OK;
}

hearth_status hearth_bundle_open_buffer(const uint8_t *prefix, size_t len, const hearth_keyset *ks,
                                        hearth_bundle **out)
{
    *out = NULL;
    if (ks == NULL) return hearth_err(HEARTH_ERR_STATE, "a verified key set is required");
    size_t plen = 0;
    HEARTH_GUARD(hearth_bundle_prefix_len(prefix, len, &plen, NULL));
    if (len < plen)
        return hearth_err(HEARTH_ERR_INVALID, "need the first %zu bytes of the bundle, got %zu",
                          plen, len);
    hearth_bundle *b = calloc(1, sizeof *b);
    if (b == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    b->fd = -1;
    b->prefix = malloc(plen);
    if (b->prefix == NULL) {
        free(b);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    memcpy(b->prefix, prefix, plen);
    b->prefix_len = plen;
    hearth_status st = parse_prefix(b, ks);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        return st;
    }
    *out = b;
    return HEARTH_OK;
}

hearth_status hb_pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return hearth_err(HEARTH_ERR_IO, "read: %s", strerror(errno));
        if (r == 0) break;
        done += (size_t)r;
    }
    *got = done;
    return HEARTH_OK;
}

/* Describe a size mismatch of the payload area in release-engineer terms. */
static hearth_status size_mismatch(const hearth_manifest *m, uint64_t have, uint64_t want)
{
    if (have > want) {
        const char *last = m->payloads[m->payload_count - 1].name;
        return hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' is %llu bytes longer than its "
                          "manifest entry", last, (unsigned long long)(have - want));
    }
    /* Find the payload in which the file ends. */
    for (size_t i = 0; i < m->payload_count; i++) {
        const hearth_payload_info *p = &m->payloads[i];
        if (have < p->offset + p->size)
            return hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' is truncated: %llu bytes "
                              "missing from the bundle", p->name,
                              (unsigned long long)(want - have));
    }
    return hearth_err(HEARTH_ERR_TAMPERED, "bundle truncated");
}

static hearth_status open_file(const char *path, const hearth_keyset *ks, bool verify,
                               hearth_bundle **out)
{
    *out = NULL;
    if (verify && ks == NULL) return hearth_err(HEARTH_ERR_STATE, "a verified key set is required");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return hearth_err(HEARTH_ERR_NOT_FOUND, "%s does not exist", path);
        return hearth_err(HEARTH_ERR_IO, "open %s: %s", path, strerror(errno));
    }
    hearth_bundle *b = calloc(1, sizeof *b);
    if (b == NULL) {
        close(fd);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    b->fd = fd;
    uint8_t hdr[HEARTH_BUNDLE_HEADER_SIZE];
    size_t got = 0, plen = 0;
    struct stat st_;
    hearth_status st = HEARTH_OK;
    if (fstat(fd, &st_) != 0 || !S_ISREG(st_.st_mode))
        st = hearth_err(HEARTH_ERR_INVALID, "%s is not a regular file", path);
    if (st == HEARTH_OK) st = hb_pread_full(fd, hdr, sizeof hdr, 0, &got);
    if (st == HEARTH_OK) st = hearth_bundle_prefix_len(hdr, got, &plen, NULL);
    if (st == HEARTH_OK) {
        b->prefix = malloc(plen);
        if (b->prefix == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    if (st == HEARTH_OK) st = hb_pread_full(fd, b->prefix, plen, 0, &got);
    if (st == HEARTH_OK && got != plen)
        st = hearth_err(HEARTH_ERR_INVALID, "bundle truncated inside its manifest/signatures "
                        "(%zu of %zu bytes)", got, plen);
    b->prefix_len = plen;
    if (st == HEARTH_OK) st = parse_prefix(b, verify ? ks : NULL);
    if (st == HEARTH_OK && (uint64_t)st_.st_size != b->total)
        st = size_mismatch(b->m, (uint64_t)st_.st_size - b->prefix_len, b->m->payload_total);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        return st;
    }
    *out = b;
    return HEARTH_OK;
}

hearth_status hearth_bundle_open(const char *path, const hearth_keyset *ks, hearth_bundle **out)
{
    return open_file(path, ks, true, out);
}

hearth_status hearth_bundle_open_unverified(const char *path, hearth_bundle **out)
{
    return open_file(path, NULL, false, out);
}

/* --------------------------------------------------------------- write */

hearth_status hb_write_full(int fd, const void *buf, size_t n, const char *what)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const uint8_t *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return hearth_err(HEARTH_ERR_IO, "write %s: %s", what, strerror(errno));
        done += (size_t)r;
    }
    return HEARTH_OK;
}

/* A temp file next to @p path, so link()/rename() stay on one file system. */
static hearth_status make_temp(const char *path, char *tmp, size_t cap, int *fd)
{
    int n = snprintf(tmp, cap, "%s.tmpXXXXXX", path);
    if (n < 0 || (size_t)n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long");
    *fd = mkostemp(tmp, O_CLOEXEC);
    if (*fd < 0) return hearth_err(HEARTH_ERR_IO, "create temp file for %s: %s", path, strerror(errno));
    if (fchmod(*fd, 0644) != 0) {
        close(*fd);
        unlink(tmp);
        return hearth_err(HEARTH_ERR_IO, "chmod %s: %s", tmp, strerror(errno));
    }
    return HEARTH_OK;
}

static hearth_status sync_parent(const char *path)
{
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s", path);
    if (n < 0 || (size_t)n >= sizeof dir) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long");
    return hearth_fs_sync_dir(dirname(dir));
}

struct src_payload {
    int fd;
    uint64_t size;
    uint8_t *digests;
};

hearth_status hearth_bundle_create(const hearth_bundle_spec *spec, const char *out_path)
{
    if (spec->payload_count == 0 || spec->payload_count > HEARTH_BUNDLE_PAYLOADS_MAX)
        return hearth_err(HEARTH_ERR_RANGE, "a bundle needs 1..%u payloads", HEARTH_BUNDLE_PAYLOADS_MAX);
    uint32_t chunk = spec->chunk_size ? spec->chunk_size : HEARTH_BUNDLE_CHUNK_DEFAULT;
    if (chunk < HEARTH_BUNDLE_CHUNK_MIN || chunk > HEARTH_BUNDLE_CHUNK_MAX || (chunk & (chunk - 1)))
        return hearth_err(HEARTH_ERR_INVALID, "chunk size %u is not a power of two in %u..%u", chunk,
                          HEARTH_BUNDLE_CHUNK_MIN, HEARTH_BUNDLE_CHUNK_MAX);
    if (access(out_path, F_OK) == 0)
        return hearth_err(HEARTH_ERR_EXISTS, "%s already exists; refusing to overwrite", out_path);
    struct src_payload src[HEARTH_BUNDLE_PAYLOADS_MAX];
    uint64_t sizes[HEARTH_BUNDLE_PAYLOADS_MAX];
    const uint8_t *digs[HEARTH_BUNDLE_PAYLOADS_MAX];
    size_t opened = 0;
    hearth_status st = HEARTH_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < spec->payload_count; i++) {
        src[i].fd = -1;
        src[i].digests = NULL;
    }
    for (size_t i = 0; st == HEARTH_OK && i < spec->payload_count; i++) {
        const hearth_bundle_input *in = &spec->payloads[i];
        src[i].fd = open(in->path, O_RDONLY | O_CLOEXEC);
        opened = i + 1;
        struct stat sb;
        if (src[i].fd < 0) {
            st = hearth_err(errno == ENOENT ? HEARTH_ERR_NOT_FOUND : HEARTH_ERR_IO,
                            "payload '%s': cannot open %s: %s", in->name ? in->name : "?",
                            in->path, strerror(errno));
        } else if (fstat(src[i].fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            st = hearth_err(HEARTH_ERR_INVALID, "payload '%s': %s is not a regular file",
                            in->name ? in->name : "?", in->path);
        } else if ((uint64_t)sb.st_size > HEARTH_BUNDLE_PAYLOAD_MAX) {
            st = hearth_err(HEARTH_ERR_TOO_LARGE, "payload '%s' is %lld bytes, more than the %llu "
                            "allowed", in->name ? in->name : "?", (long long)sb.st_size,
                            (unsigned long long)HEARTH_BUNDLE_PAYLOAD_MAX);
        } else {
            src[i].size = (uint64_t)sb.st_size;
            sizes[i] = src[i].size;
            total += src[i].size;
            size_t n = (size_t)((src[i].size + chunk - 1) / chunk) * HEARTH_DIGEST_LEN;
            src[i].digests = calloc(1, n ? n : 1);
            digs[i] = src[i].digests;
            if (src[i].digests == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        }
    }
    /* The manifest length depends only on names and sizes, so a placeholder
     * (zero digests) fixes the layout; payloads are then copied and hashed in
     * one pass, and the real manifest written over the placeholder. This hashes
     * exactly the bytes written into the bundle. */
    hearth_bundle_spec sp = *spec;
    sp.chunk_size = chunk;
    if (sp.created == 0) sp.created = hearth_time_now();
    hearth_buf man;
    hearth_buf_init(&man, HEARTH_BUNDLE_MANIFEST_MAX);
    if (st == HEARTH_OK) st = hearth_manifest_build(&sp, sizes, digs, &man);
    char tmp[PATH_MAX];
    int fd = -1;
    if (st == HEARTH_OK) st = make_temp(out_path, tmp, sizeof tmp, &fd);
    const uint8_t empty_sig[1] = {0};
    size_t prefix = HEARTH_BUNDLE_HEADER_SIZE + man.len + sizeof empty_sig;
    uint8_t *buf = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (st == HEARTH_OK) {
        buf = malloc(chunk);
        if (buf == NULL || ctx == NULL || md == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    if (st == HEARTH_OK && lseek(fd, (off_t)prefix, SEEK_SET) < 0)
        st = hearth_err(HEARTH_ERR_IO, "seek: %s", strerror(errno));
    uint64_t done = 0;
    for (size_t i = 0; st == HEARTH_OK && i < spec->payload_count; i++) {
        uint64_t off = 0;
        for (uint32_t c = 0; st == HEARTH_OK && off < src[i].size; c++) {
            size_t want = (size_t)(src[i].size - off < chunk ? src[i].size - off : chunk);
            size_t got = 0;
            st = hb_pread_full(src[i].fd, buf, want, off, &got);
            if (st == HEARTH_OK && got != want)
                st = hearth_err(HEARTH_ERR_IO, "payload '%s' (%s) shrank while reading",
                                spec->payloads[i].name, spec->payloads[i].path);
            if (st == HEARTH_OK) st = hb_digest(ctx, md, buf, want, src[i].digests + (size_t)c * HEARTH_DIGEST_LEN);
            if (st == HEARTH_OK) st = hb_write_full(fd, buf, want, out_path);
            off += want;
            done += want;
            if (st == HEARTH_OK && spec->progress) spec->progress(done, total, spec->progress_arg);
        }
    }
    hearth_buf_free(&man);
    if (st == HEARTH_OK) st = hearth_manifest_build(&sp, sizes, digs, &man);
    if (st == HEARTH_OK && HEARTH_BUNDLE_HEADER_SIZE + man.len + sizeof empty_sig != prefix)
        st = hearth_err(HEARTH_ERR_INTERNAL, "manifest length changed");
    if (st == HEARTH_OK) {
        hb_header h = {HEARTH_BUNDLE_FORMAT_VERSION, (uint32_t)man.len, sizeof empty_sig, total};
        uint8_t hb[HEARTH_BUNDLE_HEADER_SIZE];
        hb_header_encode(&h, hb);
        if (lseek(fd, 0, SEEK_SET) < 0) st = hearth_err(HEARTH_ERR_IO, "seek: %s", strerror(errno));
        if (st == HEARTH_OK) st = hb_write_full(fd, hb, sizeof hb, out_path);
        if (st == HEARTH_OK) st = hb_write_full(fd, man.data, man.len, out_path);
        if (st == HEARTH_OK) st = hb_write_full(fd, empty_sig, sizeof empty_sig, out_path);
        if (st == HEARTH_OK && fsync(fd) != 0) st = hearth_err(HEARTH_ERR_IO, "fsync: %s", strerror(errno));
    }
    /* link() fails if out_path appeared meanwhile: never overwrite. */
    if (st == HEARTH_OK && link(tmp, out_path) != 0)
        st = hearth_err(errno == EEXIST ? HEARTH_ERR_EXISTS : HEARTH_ERR_IO, "create %s: %s",
                        out_path, strerror(errno));
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (st == HEARTH_OK) st = sync_parent(out_path);
    hearth_buf_free(&man);
    free(buf);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    for (size_t i = 0; i < opened; i++) {
        if (src[i].fd >= 0) close(src[i].fd);
        free(src[i].digests);
    }
    return st;
}

hearth_status hearth_bundle_sign(const char *path, const hearth_key *const *keys, size_t nkeys)
{
    if (nkeys == 0) return hearth_err(HEARTH_ERR_INVALID, "no signing key given");
    hearth_bundle *b = NULL;
    HEARTH_GUARD(hearth_bundle_open_unverified(path, &b));
    const uint8_t *man = b->prefix + HEARTH_BUNDLE_HEADER_SIZE;
    hb_sigblock sb = b->sigs;
    hearth_status st = HEARTH_OK;
    for (size_t i = 0; st == HEARTH_OK && i < nkeys; i++)
        st = hb_sigblock_add(&sb, keys[i], HB_CTX_MANIFEST, man, b->hdr.manifest_len);
    hearth_buf sig;
    hearth_buf_init(&sig, HEARTH_SIGBLOCK_MAX);
    if (st == HEARTH_OK) st = hb_sigblock_encode(&sb, &sig);
    char tmp[PATH_MAX] = "";
    int fd = -1;
    if (st == HEARTH_OK) st = make_temp(path, tmp, sizeof tmp, &fd);
    if (st == HEARTH_OK) {
        hb_header h = b->hdr;
        h.sigblock_len = (uint32_t)sig.len;
        uint8_t hb[HEARTH_BUNDLE_HEADER_SIZE];
        hb_header_encode(&h, hb);
        st = hb_write_full(fd, hb, sizeof hb, path);
        if (st == HEARTH_OK) st = hb_write_full(fd, man, b->hdr.manifest_len, path);
        if (st == HEARTH_OK) st = hb_write_full(fd, sig.data, sig.len, path);
    }
    /* Copy the payload area unchanged (its chunk digests are in the manifest). */
    uint64_t off = b->prefix_len, end = b->total;
    uint8_t *buf = st == HEARTH_OK ? malloc(HEARTH_BUNDLE_CHUNK_DEFAULT) : NULL;
    if (st == HEARTH_OK && buf == NULL) st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    while (st == HEARTH_OK && off < end) {
        size_t want = (size_t)(end - off < HEARTH_BUNDLE_CHUNK_DEFAULT ? end - off : HEARTH_BUNDLE_CHUNK_DEFAULT);
        size_t got = 0;
        st = hb_pread_full(b->fd, buf, want, off, &got);
        if (st == HEARTH_OK && got != want) st = hearth_err(HEARTH_ERR_IO, "%s shrank while signing", path);
        if (st == HEARTH_OK) st = hb_write_full(fd, buf, want, path);
        off += want;
    }
    free(buf);
    if (st == HEARTH_OK && fsync(fd) != 0) st = hearth_err(HEARTH_ERR_IO, "fsync: %s", strerror(errno));
    if (st == HEARTH_OK && rename(tmp, path) != 0)
        st = hearth_err(HEARTH_ERR_IO, "rename over %s: %s", path, strerror(errno));
    if (fd >= 0) {
        close(fd);
        if (st != HEARTH_OK) unlink(tmp);
    }
    if (st == HEARTH_OK) st = sync_parent(path);
    hearth_buf_free(&sig);
    hearth_bundle_free(b);
    return st;
}
