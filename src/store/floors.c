/*
 * The anti-rollback floor record of a root of trust (docs/boot.md, "Floor
 * record"): a second, authenticated home of the boot state's two floors that
 * is not boot/state, so deleting, corrupting or replaying boot/state alone
 * cannot lower them. TPM backend: an NV index (rot_tpm_nv.c). File backend:
 * <keydir>/boot-floors, MAC'd with a key derived from the storage root key.
 * Both are written only forward: read, per-field maximum, write if it grew.
 *
 * File format (56 bytes, big-endian):
 *   "HFLR" | u16 format = 1 | u8 mac alg = 1 (HMAC-SHA256) | u8 0 |
 *   u64 security floor | u64 key-set floor | HMAC-SHA256(key, bytes 0..23)
 *   key = HMAC-SHA256(storage root key, "hearth.floors.v1.file-mac")
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hearth/util.h"
#include "rot_internal.h"

#define FL_NAME "boot-floors"
#define FL_MAGIC "HFLR"
#define FL_FORMAT 1
#define FL_MAC_ALG 1
#define FL_BODY 24
#define FL_LEN (FL_BODY + 32)

struct hearth_floors {
    bool tpm;
    char path[PATH_MAX];  /* file backend */
    uint8_t mac_key[32];  /* file backend */
    char tcti[256];       /* TPM backend */
    uint32_t index;       /* TPM backend */
    uint8_t auth[32];     /* TPM backend */
};

static hearth_status file_key(const uint8_t root[HEARTH_STORE_KEY_LEN], uint8_t out[32])
{
    static const unsigned char label[] = "hearth.floors.v1.file-mac";
    size_t outlen = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, root, HEARTH_STORE_KEY_LEN, label,
                  sizeof label - 1, out, 32, &outlen) == NULL ||
        outlen != 32)
        return hearth_err(HEARTH_ERR_CRYPTO, "HMAC for the floor record key failed");
    return HEARTH_OK;
}

static hearth_status mac(const hearth_floors *f, const uint8_t *data, size_t len, uint8_t out[32])
{
    size_t outlen = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, f->mac_key, 32, data, len, out, 32,
                  &outlen) == NULL ||
        outlen != 32)
        return hearth_err(HEARTH_ERR_CRYPTO, "HMAC-SHA256 failed");
    return HEARTH_OK;
}

hearth_status hearth_floors_open_file(const char *keydir, const uint8_t root_key[HEARTH_STORE_KEY_LEN],
                                      hearth_floors **out)
{
    if (keydir == NULL || root_key == NULL || out == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "floors open: missing argument");
    *out = NULL;
    hearth_floors *f = calloc(1, sizeof *f);
    if (f == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = hearth_path_join(f->path, sizeof f->path, keydir, FL_NAME);
    if (st == HEARTH_OK) st = file_key(root_key, f->mac_key);
    if (st != HEARTH_OK) {
        hearth_floors_close(f);
        return st;
    }
    *out = f;
    return HEARTH_OK;
}

hearth_status hearth_floors_open(const hearth_rot *rot, const char *keydir, hearth_floors **out)
{
    if (rot == NULL || out == NULL) return hearth_err(HEARTH_ERR_INVALID, "floors open: missing argument");
    if (rot->kind != HEARTH_ROT_TPM) return hearth_floors_open_file(keydir, rot->key, out);
#ifdef HEARTH_HAVE_TPM
    *out = NULL;
    hearth_floors *f = calloc(1, sizeof *f);
    if (f == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    f->tpm = true;
    memcpy(f->tcti, rot->counter.tcti, sizeof f->tcti);
    f->tcti[sizeof f->tcti - 1] = '\0';
    hearth_status st = floors_tpm_params(rot->key, &f->index, f->auth);
    if (st != HEARTH_OK) {
        hearth_floors_close(f);
        return st;
    }
    *out = f;
    return HEARTH_OK;
#else
    return hearth_err(HEARTH_ERR_UNSUPPORTED, "built without TPM support");
#endif
}

bool hearth_floors_in_tpm(const hearth_floors *f) { return f != NULL && f->tpm; }

void hearth_floors_close(hearth_floors *f)
{
    if (f == NULL) return;
    hearth_memzero(f, sizeof *f);
    free(f);
}

static hearth_status file_read(hearth_floors *f, hearth_floor_values *out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    hearth_status st = hearth_fs_read_file(f->path, FL_LEN + 1, &data, &len);
    if (st == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_NOT_FOUND, "no floor record at %s", f->path);
    if (st == HEARTH_ERR_TOO_LARGE)
        return hearth_err(HEARTH_ERR_TAMPERED, "floor record %s is too large", f->path);
    if (st != HEARTH_OK) return st;
    uint8_t expect[32];
    st = HEARTH_OK;
    if (len != FL_LEN || memcmp(data, FL_MAGIC, 4) != 0) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "floor record %s is malformed", f->path);
    } else if (mac(f, data, FL_BODY, expect) != HEARTH_OK) {
        st = HEARTH_ERR_CRYPTO;
    } else if (!hearth_ct_equal(expect, data + FL_BODY, 32)) {
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "floor record %s failed authentication (MAC mismatch)", f->path);
    } else if (data[4] != 0 || data[5] != FL_FORMAT || data[6] != FL_MAC_ALG || data[7] != 0) {
        st = hearth_err(HEARTH_ERR_UNSUPPORTED, "floor record %s: unsupported format", f->path);
    } else {
        hearth_cursor c;
        hearth_cursor_init(&c, data + 8, 16);
        if (hearth_cursor_u64(&c, &out->security_version) != HEARTH_OK ||
            hearth_cursor_u64(&c, &out->keyset_version) != HEARTH_OK)
            st = hearth_err(HEARTH_ERR_INTERNAL, "floor record decode");
    }
    free(data);
    return st;
}

static hearth_status file_write(hearth_floors *f, const hearth_floor_values *v)
{
    uint8_t buf[FL_LEN];
    memcpy(buf, FL_MAGIC, 4);
    buf[4] = 0;
    buf[5] = FL_FORMAT;
    buf[6] = FL_MAC_ALG;
    buf[7] = 0;
    hearth_be64_put(buf + 8, v->security_version);
    hearth_be64_put(buf + 16, v->keyset_version);
    HEARTH_GUARD(mac(f, buf, FL_BODY, buf + FL_BODY));
    hearth_fault_point("floors.write");
    return hearth_fs_write_atomic(f->path, buf, sizeof buf, 0600);
}

hearth_status hearth_floors_read(hearth_floors *f, hearth_floor_values *out)
{
    if (f == NULL || out == NULL) return hearth_err(HEARTH_ERR_INVALID, "floors read: missing argument");
    memset(out, 0, sizeof *out);
    hearth_status st;
#ifdef HEARTH_HAVE_TPM
    if (f->tpm)
        st = floors_tpm_read(f->tcti, f->index, f->auth, out);
    else
#endif
        st = file_read(f, out);
    if (st != HEARTH_OK) memset(out, 0, sizeof *out);
    return st;
}

hearth_status hearth_floors_raise(hearth_floors *f, const hearth_floor_values *want,
                                  bool replace_unauthentic, hearth_floor_values *now)
{
    if (f == NULL || want == NULL) return hearth_err(HEARTH_ERR_INVALID, "floors raise: missing argument");
    hearth_floor_values cur, next;
    hearth_status st = hearth_floors_read(f, &cur);
    bool missing = st == HEARTH_ERR_NOT_FOUND;
    bool replace = (st == HEARTH_ERR_TAMPERED || st == HEARTH_ERR_UNSUPPORTED) &&
                   replace_unauthentic && !f->tpm;
    if (st != HEARTH_OK && !missing && !replace) return st;
    next = cur; /* zero unless authentic */
    if (want->security_version > next.security_version)
        next.security_version = want->security_version;
    if (want->keyset_version > next.keyset_version) next.keyset_version = want->keyset_version;
    bool grow = next.security_version != cur.security_version ||
                next.keyset_version != cur.keyset_version;
    if (grow || missing || replace) {
#ifdef HEARTH_HAVE_TPM
        if (f->tpm)
            st = floors_tpm_write(f->tcti, f->index, f->auth, &next, missing);
        else
#endif
            st = file_write(f, &next);
        if (st != HEARTH_OK) return st;
        char sv[24], kv[24];
        snprintf(sv, sizeof sv, "%llu", (unsigned long long)next.security_version);
        snprintf(kv, sizeof kv, "%llu", (unsigned long long)next.keyset_version);
        hearth_seclog(HEARTH_SEV_INFO, "floor_record_raised", "backend", f->tpm ? "tpm" : "file",
                      "security_version", sv, "keyset_version", kv, NULL);
    }
    if (now != NULL) *now = next;
    return HEARTH_OK;
}
