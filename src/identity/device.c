/*
 * Opening a provisioned device (EN 303 645 5.4-2): the public identity in
 * device.json, the certificates and the private key in the secure store are
 * cross-checked so that a software edit of any of them is detected before
 * the daemon uses the identity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "hearth/util.h"
#include "hearth/layout.h"
#include "identity_internal.h"

struct hearth_device {
    char dir[4096];
    char cert_path[4096];
    char ca_path[4096];
    hearth_device_info info;
    char fingerprint[HEARTH_FINGERPRINT_MAX];
    hearth_rot *rot;
    hearth_store *store;
};

void hearth_device_close(hearth_device *d)
{
    if (d == NULL) return;
    hearth_store_close(d->store);
    hearth_rot_close(d->rot);
    hearth_memzero(d, sizeof *d);
    free(d);
}

/* The sealed copy must match device.json byte for byte. */
static hearth_status check_sealed_info(hearth_device *d, const uint8_t *json, size_t len)
{
    uint8_t sealed[HEARTH_DEV_JSON_MAX];
    size_t slen = 0;
    hearth_status st = hearth_store_get(d->store, HEARTH_REC_DEVICE_INFO, sealed, sizeof sealed,
                                        &slen);
    if (st == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_TAMPERED, "secure store holds no device identity");
    if (st != HEARTH_OK) return st;
    if (slen != len || memcmp(sealed, json, len) != 0)
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "device.json differs from the copy sealed in the secure store");
    return HEARTH_OK;
}

static bool name_entry_is(X509_NAME *n, int nid, const char *want)
{
    int idx = X509_NAME_get_index_by_NID(n, nid, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(n, nid, idx) >= 0) return false;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, idx));
    size_t wl = strlen(want);
    return s != NULL && (size_t)ASN1_STRING_length(s) == wl &&
           memcmp(ASN1_STRING_get0_data(s), want, wl) == 0;
}

static hearth_status check_certs(hearth_device *d)
{
    X509 *ca = NULL, *crt = NULL;
    EVP_PKEY *key = NULL;
    uint8_t der[HEARTH_DEVICE_KEY_DER_MAX];
    size_t der_len = 0;
    char ca_fp[HEARTH_FINGERPRINT_MAX];
    hearth_status st;

    HEARTH_GUARD_GOTO(st, hearth_identity_load_cert(d->ca_path, &ca), done);
    HEARTH_GUARD_GOTO(st, hearth_identity_load_cert(d->cert_path, &crt), done);
    /* Pinned by the sealed device.json: swapping either file is tampering,
     * even for a certificate that would verify under a swapped CA. */
    HEARTH_GUARD_GOTO(st, hearth_identity_cert_fingerprint(ca, ca_fp), done);
    HEARTH_GUARD_GOTO(st, hearth_identity_cert_fingerprint(crt, d->fingerprint), done);
    if (strcmp(ca_fp, d->info.ca_fp) != 0) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "ca.crt is not the CA this device was provisioned with");
        goto done;
    }
    if (strcmp(d->fingerprint, d->info.cert_fp) != 0) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "device.crt is not the certificate issued to this device");
        goto done;
    }
    HEARTH_GUARD_GOTO(st, hearth_identity_verify_cert(ca, crt), done);
    X509_NAME *subj = X509_get_subject_name(crt);
    if (!name_entry_is(subj, NID_commonName, d->info.serial) ||
        !name_entry_is(subj, NID_serialNumber, d->info.serial) ||
        !name_entry_is(subj, NID_organizationalUnitName, d->info.model)) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "device certificate subject does not match device.json");
        goto done;
    }
    st = hearth_store_get(d->store, HEARTH_REC_DEVICE_KEY, der, sizeof der, &der_len);
    if (st == HEARTH_ERR_NOT_FOUND) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "secure store holds no device key");
        goto done;
    }
    if (st != HEARTH_OK) goto done;
    const unsigned char *p = der;
    key = d2i_AutoPrivateKey(NULL, &p, (long)der_len);
    if (key == NULL || p != der + der_len) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "device key in the secure store is malformed");
        goto done;
    }
    if (X509_check_private_key(crt, key) != 1) {
        st = hearth_err(HEARTH_ERR_TAMPERED, "device.crt does not match the device's private key");
        goto done;
    }
    st = HEARTH_OK;
done:
    ERR_clear_error();
    hearth_memzero(der, sizeof der);
    EVP_PKEY_free(key);
    X509_free(crt);
    X509_free(ca);
    return st;
}

hearth_status hearth_device_open(const char *state_dir, hearth_device **out)
{
    *out = NULL;
    if (state_dir == NULL || state_dir[0] == '\0')
        return hearth_err(HEARTH_ERR_INVALID, "no state directory given");
    hearth_device *d = calloc(1, sizeof *d);
    if (d == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");

    hearth_status st;
    uint8_t *json = NULL;
    size_t json_len = 0;
    char data[4096];
    int n = snprintf(d->dir, sizeof d->dir, "%s", state_dir);
    if (n < 0 || (size_t)n >= sizeof d->dir) {
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "state directory path too long");
        goto fail;
    }
    HEARTH_GUARD_GOTO(st, hearth_layout_path(state_dir, HEARTH_LAYOUT_DATA, data, sizeof data), fail);
    HEARTH_GUARD_GOTO(st, hearth_layout_path(state_dir, HEARTH_LAYOUT_DEVICE_CRT, d->cert_path,
                                             sizeof d->cert_path),
                      fail);
    HEARTH_GUARD_GOTO(st, hearth_layout_path(state_dir, HEARTH_LAYOUT_CA_CRT, d->ca_path,
                                             sizeof d->ca_path),
                      fail);

    /* Platform config, strict decode, root of trust, device.mac: config.c. */
    HEARTH_GUARD_GOTO(st, hearth_identity_config_load_raw(state_dir, &d->info, &d->rot, &json,
                                                          &json_len),
                      fail);
    HEARTH_GUARD_GOTO(st, hearth_store_open(data, d->rot, d->info.serial, &d->store), fail);
    HEARTH_GUARD_GOTO(st, check_sealed_info(d, json, json_len), fail);
    HEARTH_GUARD_GOTO(st, check_certs(d), fail);
    free(json);
    *out = d;
    return HEARTH_OK;
fail:
    free(json);
    hearth_device_close(d);
    return st;
}

hearth_rot *hearth_identity_device_rot(hearth_device *d)
{
    return d->rot;
}

hearth_store *hearth_device_store(hearth_device *d)
{
    return d->store;
}
const char *hearth_device_dir(const hearth_device *d)
{
    return d->dir;
}
const char *hearth_device_model(const hearth_device *d)
{
    return d->info.model;
}
const char *hearth_device_serial(const hearth_device *d)
{
    return d->info.serial;
}
const char *hearth_device_hw_id(const hearth_device *d)
{
    return d->info.hw_id;
}
const char *hearth_device_fingerprint(const hearth_device *d)
{
    return d->fingerprint;
}
const char *hearth_device_cert_path(const hearth_device *d)
{
    return d->cert_path;
}
const char *hearth_device_ca_path(const hearth_device *d)
{
    return d->ca_path;
}

hearth_status hearth_device_private_key_der(hearth_device *d, uint8_t *buf, size_t cap,
                                            size_t *len)
{
    return hearth_store_get(d->store, HEARTH_REC_DEVICE_KEY, buf, cap, len);
}
