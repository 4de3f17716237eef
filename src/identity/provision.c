/*
 * Factory provisioning of one device (EN 303 645 5.1-1, 5.1-2, 5.4-2, 5.4-3,
 * 5.4-4). Everything secret is created here, per device, from the CSPRNG:
 * the storage root key (inside the root of trust), the device key pair and
 * the setup password. No secret is compiled in or derived from public data.
 * Flow and file layout: docs/provisioning.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw FTW_PHYS / FTW_DEPTH */
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "hearth/auth.h"
#include "hearth/layout.h"
#include "hearth/util.h"
#include "identity_internal.h"

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP || type == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void hearth_identity_remove_tree(const char *path, bool self)
{
    if (self) {
        (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL) return;
    struct dirent *e;
    char sub[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (hearth_path_join(sub, sizeof sub, path, e->d_name) != HEARTH_OK) continue;
        (void)nftw(sub, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    closedir(d);
}

/* The state directory must be new or empty so provisioning can never mix a
 * new identity with leftovers of an old one (and so cleanup on failure may
 * remove everything inside it). */
static hearth_status prepare_out_dir(const char *dir, bool *created, mode_t *old_mode)
{
    *created = false;
    *old_mode = 0700;
    if (mkdir(dir, 0700) == 0) {
        *created = true;
        return HEARTH_OK;
    }
    if (errno != EEXIST) return hearth_err(HEARTH_ERR_IO, "create %s: %s", dir, strerror(errno));
    struct stat sb;
    if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return hearth_err(HEARTH_ERR_INVALID, "%s exists and is not a directory", dir);
    DIR *d = opendir(dir);
    if (d == NULL) return hearth_err(HEARTH_ERR_IO, "open %s: %s", dir, strerror(errno));
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
    closedir(d);
    if (!empty)
        return hearth_err(HEARTH_ERR_EXISTS,
                          "%s is not empty; refusing to provision over existing files", dir);
    *old_mode = sb.st_mode & 07777;
    if ((sb.st_mode & 077) != 0 && chmod(dir, 0700) != 0)
        return hearth_err(HEARTH_ERR_IO, "chmod 0700 %s: %s", dir, strerror(errno));
    return HEARTH_OK;
}

static hearth_status write_cert(const char *path, X509 *crt)
{
    char *pem = NULL;
    size_t len = 0;
    HEARTH_GUARD(hearth_identity_cert_pem(crt, &pem, &len));
    hearth_status st = hearth_fs_write_atomic(path, pem, len, 0644);
    free(pem);
    return st;
}

/* PKCS#8 DER of the private key into a caller buffer (wiped by caller). */
static hearth_status key_der(EVP_PKEY *key, uint8_t *buf, size_t cap, size_t *len)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    if (p8 == NULL) {
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_CRYPTO, "encode device key");
    }
    int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    hearth_status st = HEARTH_OK;
    if (n <= 0 || (size_t)n > cap) {
        st = hearth_err(HEARTH_ERR_CRYPTO, "device key encoding too large");
    } else {
        unsigned char *p = buf;
        if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n)
            st = hearth_err(HEARTH_ERR_CRYPTO, "encode device key");
        *len = (size_t)n;
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    ERR_clear_error();
    return st;
}

typedef struct {
    char dir[4096];
    char keys[4096];
    char data[4096];
    char json[4096];
    char crt[4096];
    char ca[4096];
} state_paths;

static hearth_status make_paths(const char *dir, state_paths *p)
{
    int n = snprintf(p->dir, sizeof p->dir, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof p->dir) return hearth_err(HEARTH_ERR_TOO_LARGE, "path too long");
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_KEYS, p->keys, sizeof p->keys));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_DATA, p->data, sizeof p->data));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_DEVICE_JSON, p->json, sizeof p->json));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_DEVICE_CRT, p->crt, sizeof p->crt));
    HEARTH_GUARD(hearth_layout_path(dir, HEARTH_LAYOUT_CA_CRT, p->ca, sizeof p->ca));
    return HEARTH_OK;
}

/* Create the root of trust in keys/ and open it. */
static hearth_status make_rot(const state_paths *p, hearth_rot_kind kind, const char *tcti,
                              hearth_rot **rot)
{
    if (mkdir(p->keys, 0700) != 0)
        return hearth_err(HEARTH_ERR_IO, "create %s: %s", p->keys, strerror(errno));
    if (kind == HEARTH_ROT_TPM) {
        HEARTH_GUARD(hearth_rot_tpm_create(p->keys, tcti));
        return hearth_rot_tpm_open(p->keys, tcti, rot);
    }
    HEARTH_GUARD(hearth_rot_file_create(p->keys));
    return hearth_rot_file_open(p->keys, rot);
}

hearth_status hearth_device_provision(const hearth_provision_opts *opts, hearth_label *label)
{
    if (opts == NULL || label == NULL || opts->ca_dir == NULL || opts->out_dir == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "provisioning needs a CA and an output directory");
    memset(label, 0, sizeof *label);

    /* Validate every input before touching the file system. */
    hearth_device_info info;
    memset(&info, 0, sizeof info);
    HEARTH_GUARD(hearth_identity_check_model(opts->model));
    if (opts->serial != NULL) HEARTH_GUARD(hearth_identity_check_serial(opts->serial));
    const char *hw = opts->hw_id != NULL ? opts->hw_id : opts->model;
    HEARTH_GUARD(hearth_identity_check_hw_id(hw));
    if (opts->rot != HEARTH_ROT_FILE && opts->rot != HEARTH_ROT_TPM)
        return hearth_err(HEARTH_ERR_INVALID, "root of trust must be file or tpm");
    /* The TPM connection is used now and not recorded: at run time the
     * device uses its platform configuration (never device.json). */
    const char *tcti = NULL;
    hearth_tcti conn;
    if (opts->tpm_tcti != NULL) {
        if (opts->rot != HEARTH_ROT_TPM)
            return hearth_err(HEARTH_ERR_INVALID, "a TPM connection only applies to the TPM "
                                                  "root of trust");
        HEARTH_GUARD(hearth_tcti_parse(opts->tpm_tcti, &conn));
        tcti = conn.text;
    }
    memcpy(info.model, opts->model, strlen(opts->model) + 1);
    memcpy(info.hw_id, hw, strlen(hw) + 1);
    info.rot = opts->rot;
    if (opts->serial != NULL)
        memcpy(info.serial, opts->serial, strlen(opts->serial) + 1);
    else
        HEARTH_GUARD(hearth_identity_random_serial(info.serial));

    state_paths p;
    HEARTH_GUARD(make_paths(opts->out_dir, &p));

    /* Load the CA before creating anything: a missing or broken CA must not
     * leave an empty state directory behind. */
    EVP_PKEY *ca_key = NULL;
    X509 *ca_crt = NULL;
    HEARTH_GUARD(hearth_identity_load_ca(opts->ca_dir, &ca_key, &ca_crt));

    hearth_status st;
    bool created_dir = false;
    bool touched = false;
    bool log_opened = false;
    mode_t old_mode = 0700;
    hearth_rot *rot = NULL;
    hearth_store *store = NULL;
    EVP_PKEY *dev_key = NULL;
    X509 *dev_crt = NULL;
    char *json = NULL;
    size_t json_len = 0;
    uint8_t der[HEARTH_DEVICE_KEY_DER_MAX];
    size_t der_len = 0;
    char verifier[HEARTH_PW_HASH_MAX] = "";

    HEARTH_GUARD_GOTO(st, prepare_out_dir(p.dir, &created_dir, &old_mode), fail_early);
    touched = true;
    /* The device's own security-event log starts at provisioning, so its
     * history (key created, provisioned) stays with the device. */
    char events[PATH_MAX];
    if (hearth_layout_path(p.dir, HEARTH_LAYOUT_EVENTS_LOG, events, sizeof events) == HEARTH_OK &&
        hearth_seclog_open(events) == HEARTH_OK)
        log_opened = true;

    /* Root of trust and secure store, bound to this serial. */
    HEARTH_GUARD_GOTO(st, make_rot(&p, info.rot, tcti, &rot), fail);
    HEARTH_GUARD_GOTO(st, hearth_store_create(p.data, rot, info.serial), fail);
    HEARTH_GUARD_GOTO(st, hearth_store_open(p.data, rot, info.serial, &store), fail);

    /* Device key pair and certificate (5.4-4: unique per device). */
    HEARTH_GUARD_GOTO(st, hearth_identity_keygen(&dev_key), fail);
    HEARTH_GUARD_GOTO(st, hearth_identity_issue_device_cert(ca_key, ca_crt, dev_key, info.serial,
                                                            info.model, &dev_crt),
                      fail);
    HEARTH_GUARD_GOTO(st, hearth_identity_cert_fingerprint(dev_crt, info.cert_fp), fail);
    HEARTH_GUARD_GOTO(st, hearth_identity_cert_fingerprint(ca_crt, info.ca_fp), fail);
    HEARTH_GUARD_GOTO(st, write_cert(p.crt, dev_crt), fail);
    HEARTH_GUARD_GOTO(st, write_cert(p.ca, ca_crt), fail);

    /* Private key and sealed device.json copy in one atomic store commit. */
    HEARTH_GUARD_GOTO(st, key_der(dev_key, der, sizeof der, &der_len), fail);
    HEARTH_GUARD_GOTO(st, hearth_identity_info_encode(&info, &json, &json_len), fail);
    const hearth_store_op ops[] = {
        {HEARTH_REC_DEVICE_KEY, der, der_len},
        {HEARTH_REC_DEVICE_INFO, json, json_len},
    };
    HEARTH_GUARD_GOTO(st, hearth_store_commit(store, ops, 2), fail);
    hearth_memzero(der, sizeof der);
    HEARTH_GUARD_GOTO(st, hearth_fs_write_atomic(p.json, json, json_len, 0644), fail);
    /* device.mac: authenticates device.json for programs that do not open
     * the store (hearth-boot, the slot tools). */
    HEARTH_GUARD_GOTO(st, hearth_identity_config_mac_write(p.dir, rot, (const uint8_t *)json,
                                                           json_len),
                      fail);

    /* Setup password (5.1-1, 5.1-2): only its Argon2id hash is kept, in the
     * store (the factory-default state) and in the CA-signed factory record
     * a factory reset restores it from (5.11-1, docs/erasure.md). */
    HEARTH_GUARD_GOTO(st, hearth_setup_password_generate(info.serial, label->setup_password),
                      fail);
    HEARTH_GUARD_GOTO(st, hearth_pw_hash(label->setup_password, strlen(label->setup_password),
                                         verifier),
                      fail);
    HEARTH_GUARD_GOTO(st, hearth_identity_factory_write(p.dir, ca_key, info.serial, verifier),
                      fail);
    HEARTH_GUARD_GOTO(st, hearth_auth_factory_init_verifier(store, verifier), fail);

    memcpy(label->model, info.model, sizeof label->model);
    memcpy(label->serial, info.serial, sizeof label->serial);
    memcpy(label->fingerprint, info.cert_fp, sizeof label->fingerprint);
    hearth_seclog(HEARTH_SEV_INFO, "device_provisioned", "serial", info.serial, "model",
                  info.model, "certificate", info.cert_fp, NULL);
    st = HEARTH_OK;
    goto done;

fail:
    /* No half-provisioned device: remove everything created. The directory
     * was new or empty, so everything in it is ours. */
    hearth_store_close(store);
    store = NULL;
    hearth_rot_close(rot);
    rot = NULL;
    if (touched) {
        hearth_identity_remove_tree(p.dir, created_dir);
        /* A pre-existing empty directory gets its original mode back. */
        if (!created_dir) (void)chmod(p.dir, old_mode);
    }
fail_early:
    hearth_memzero(label, sizeof *label);
done:
    if (log_opened) hearth_seclog_close();
    hearth_memzero(der, sizeof der);
    hearth_memzero(verifier, sizeof verifier);
    free(json);
    hearth_store_close(store);
    hearth_rot_close(rot);
    X509_free(dev_crt);
    EVP_PKEY_free(dev_key);
    X509_free(ca_crt);
    EVP_PKEY_free(ca_key);
    return st;
}

void hearth_device_discard(const char *state_dir, bool remove_dir)
{
    hearth_identity_remove_tree(state_dir, remove_dir);
}
