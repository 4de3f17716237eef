/*
 * The factory record (EN 303 645 5.1-1, 5.11-1): the setup password's
 * verifier, kept outside the secure store so a factory reset, which
 * destroys the store's key, can bring the device back to the state where
 * the label's setup password works. Signed by the manufacturer CA at
 * provisioning; read only after the signature, the CA pin (from the
 * authenticated device.json) and the serial are checked. Format:
 * include/hearth/reset.h; reasoning: docs/erasure.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hearth/layout.h"
#include "hearth/reset.h"
#include "hearth/util.h"
#include "identity_internal.h"

#define FR_MAGIC "hearth-factory-1\n"
#define FR_SIG_MAX 80 /* DER ECDSA P-256 signature: at most 72 bytes */

/* The signed part: magic, serial line, verifier line. */
static hearth_status fr_body(const char *serial, const char *verifier, char *out, size_t cap,
                             size_t *len)
{
    int n = snprintf(out, cap, FR_MAGIC "serial=%s\nsetup_verifier=%s\n", serial, verifier);
    if (n < 0 || (size_t)n >= cap) return hearth_err(HEARTH_ERR_TOO_LARGE, "factory record too long");
    *len = (size_t)n;
    return HEARTH_OK;
}

static bool verifier_ok(const char *v, size_t len)
{
    if (len == 0 || len >= HEARTH_FACTORY_VERIFIER_MAX || strncmp(v, "$argon2id$", 10) != 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (v[i] < 0x21 || v[i] > 0x7e) return false;
    return true;
}

hearth_status hearth_identity_factory_write(const char *state_dir, EVP_PKEY *ca_key,
                                            const char *serial, const char *verifier)
{
    char path[4096];
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_FACTORY, path, sizeof path));
    HEARTH_ENSURE(verifier_ok(verifier, strlen(verifier)),
                  hearth_err(HEARTH_ERR_INVALID, "setup verifier is not an Argon2id hash"));
    struct stat sb;
    if (lstat(path, &sb) == 0) return hearth_err(HEARTH_ERR_EXISTS, "%s already exists", path);
    char rec[HEARTH_FACTORY_REC_MAX];
    size_t len = 0;
    HEARTH_GUARD(fr_body(serial, verifier, rec, sizeof rec, &len));
    uint8_t sig[FR_SIG_MAX];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ca_key) == 1 &&
              EVP_DigestSign(md, sig, &siglen, (const uint8_t *)rec, len) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (!ok) return hearth_err(HEARTH_ERR_CRYPTO, "cannot sign the factory record");
    HEARTH_ENSURE(len + 5 + 2 * siglen + 1 < sizeof rec,
                  hearth_err(HEARTH_ERR_TOO_LARGE, "factory record too long"));
    (void)snprintf(rec + len, sizeof rec - len, "sig="); /* room checked above */
    len += 4;
    HEARTH_GUARD(hearth_hex_encode(sig, siglen, rec + len, sizeof rec - len));
    len += 2 * siglen;
    rec[len++] = '\n';
    return hearth_fs_write_atomic(path, rec, len, 0444);
}

/* One "name=value\n" line at *p; value copied to @p out (NUL-terminated). */
static bool take_line(const char **p, const char *end, const char *name, char *out, size_t cap)
{
    size_t kl = strlen(name);
    if ((size_t)(end - *p) < kl + 1 || memcmp(*p, name, kl) != 0 || (*p)[kl] != '=') return false;
    const char *v = *p + kl + 1;
    const char *nl = memchr(v, '\n', (size_t)(end - v));
    if (nl == NULL || (size_t)(nl - v) >= cap || nl == v) return false;
    memcpy(out, v, (size_t)(nl - v));
    out[nl - v] = '\0';
    if (strlen(out) != (size_t)(nl - v)) return false; /* an embedded NUL */
    *p = nl + 1;
    return true;
}

hearth_status hearth_factory_verifier(hearth_device *dev, char verifier[HEARTH_FACTORY_VERIFIER_MAX])
{
    HEARTH_ENSURE(dev != NULL && verifier != NULL, HEARTH_ERR_INVALID);
    verifier[0] = '\0';
    char path[4096];
    HEARTH_GUARD(hearth_layout_path(hearth_device_dir(dev), HEARTH_LAYOUT_FACTORY, path, sizeof path));
    uint8_t *buf = NULL;
    size_t len = 0;
    hearth_status st = hearth_fs_read_file(path, HEARTH_FACTORY_REC_MAX, &buf, &len);
    if (st == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_NOT_FOUND,
                          "no factory record (%s): this device was provisioned without one and "
                          "cannot be reset to factory default; see docs/erasure.md", path);
    if (st == HEARTH_ERR_TOO_LARGE)
        return hearth_err(HEARTH_ERR_TAMPERED, "factory record is larger than %d bytes",
                          HEARTH_FACTORY_REC_MAX);
    HEARTH_GUARD(st);

    /* Parse strictly; nothing in it is used before the signature checks. */
    const char *p = (const char *)buf, *end = p + len;
    char serial[HEARTH_SERIAL_MAX + 2], ver[HEARTH_FACTORY_VERIFIER_MAX], sighex[2 * FR_SIG_MAX + 2];
    uint8_t sig[FR_SIG_MAX];
    size_t ml = strlen(FR_MAGIC), signed_len = 0;
    X509 *ca = NULL;
    char ca_fp[HEARTH_FINGERPRINT_MAX];
    st = hearth_err(HEARTH_ERR_TAMPERED, "factory record is malformed");
    if (len < ml || memcmp(p, FR_MAGIC, ml) != 0) goto out;
    p += ml;
    if (!take_line(&p, end, "serial", serial, sizeof serial)) goto out;
    if (!take_line(&p, end, "setup_verifier", ver, sizeof ver)) goto out;
    signed_len = (size_t)(p - (const char *)buf);
    if (!take_line(&p, end, "sig", sighex, sizeof sighex) || p != end) goto out;
    size_t hl = strlen(sighex);
    if (hl % 2 != 0 || hl < 16 || hearth_hex_decode(sighex, sig, hl / 2) != HEARTH_OK) goto out;

    /* The CA the authenticated device.json pins (hearth_device_open
     * checked ca.crt against it; check again: the file may have changed). */
    st = hearth_identity_load_cert(hearth_device_ca_path(dev), &ca);
    if (st != HEARTH_OK) goto out;
    st = hearth_identity_cert_fingerprint(ca, ca_fp);
    if (st != HEARTH_OK) goto out;
    hearth_device_config cfg;
    st = hearth_device_config_load(hearth_device_dir(dev), &cfg, NULL);
    if (st != HEARTH_OK) goto out;
    if (strcmp(ca_fp, cfg.ca_fp) != 0) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "ca.crt is not the CA this device was provisioned with");
        goto out;
    }
    EVP_PKEY *pub = X509_get0_pubkey(ca);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = pub != NULL && md != NULL &&
              EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
              EVP_DigestVerify(md, sig, hl / 2, buf, signed_len) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (!ok) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "factory record signature does not verify under the "
                                             "manufacturer CA");
        goto out;
    }
    /* Authentic from here on: the fields may now be used. */
    if (strcmp(serial, hearth_device_serial(dev)) != 0) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "factory record belongs to another device");
        goto out;
    }
    if (!verifier_ok(ver, strlen(ver))) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "factory record holds no Argon2id verifier");
        goto out;
    }
    memcpy(verifier, ver, strlen(ver) + 1);
    st = HEARTH_OK;
out:
    X509_free(ca);
    free(buf);
    return st;
}
