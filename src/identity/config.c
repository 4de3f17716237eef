/*
 * The device configuration: the one place any program reads device.json.
 *
 * device.json lives in the writable state directory, so nothing in it may
 * steer behaviour before it is authenticated. The order is therefore:
 * platform configuration (root-of-trust kind, TPM connection: build or
 * service manager, never the state directory) -> strict decode -> the
 * recorded kind must be the platform's -> open that root of trust -> check
 * device.mac, an HMAC of the exact bytes under a key only the root of trust
 * yields. Argument: docs/threat-model.md ("Device configuration").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "hearth/util.h"
#include "hearth/layout.h"
#include "hearth/reset.h"
#include "identity_internal.h"

#define MAC_LEN 32
/* 64 hex digits and a newline. */
#define MAC_FILE_LEN (2 * MAC_LEN + 1)

static const char mac_salt[] = "hearth.device-config";
static const char mac_info[] = "device.json mac key v1";

/* HMAC-SHA256(HKDF-SHA256(storage root key), device.json bytes). */
static hearth_status config_mac(hearth_rot *rot, const uint8_t *json, size_t len,
                                uint8_t out[MAC_LEN])
{
    uint8_t root[HEARTH_STORE_KEY_LEN], key[MAC_LEN];
    HEARTH_GUARD(hearth_rot_storage_key(rot, root));
    hearth_status st = HEARTH_OK;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, root, sizeof root),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)mac_salt,
                                          sizeof mac_salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)mac_info,
                                          sizeof mac_info - 1),
        OSSL_PARAM_construct_end()};
    size_t outlen = 0;
    if (ctx == NULL || EVP_KDF_derive(ctx, key, sizeof key, params) != 1 ||
        EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof key, json, len, out, MAC_LEN,
                  &outlen) == NULL ||
        outlen != MAC_LEN)
        st = hearth_err(HEARTH_ERR_CRYPTO, "device.json MAC computation failed");
    EVP_KDF_CTX_free(ctx);
    hearth_memzero(root, sizeof root);
    hearth_memzero(key, sizeof key);
    return st;
}

hearth_status hearth_identity_config_mac_write(const char *state_dir, hearth_rot *rot,
                                               const uint8_t *json, size_t json_len)
{
    char path[4096];
    uint8_t mac[MAC_LEN];
    char txt[MAC_FILE_LEN + 1];
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_DEVICE_MAC, path, sizeof path));
    HEARTH_GUARD(config_mac(rot, json, json_len, mac));
    HEARTH_GUARD(hearth_hex_encode(mac, MAC_LEN, txt, sizeof txt));
    txt[2 * MAC_LEN] = '\n';
    return hearth_fs_write_atomic(path, txt, MAC_FILE_LEN, 0644);
}

static hearth_status check_mac(const char *state_dir, hearth_rot *rot, const uint8_t *json,
                               size_t len)
{
    char path[4096];
    uint8_t *raw = NULL, want[MAC_LEN], got[MAC_LEN];
    size_t rlen = 0;
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_DEVICE_MAC, path, sizeof path));
    hearth_status st = hearth_fs_read_file(path, MAC_FILE_LEN, &raw, &rlen);
    if (st == HEARTH_ERR_NOT_FOUND)
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is missing: device.json is not authenticated",
                          "device.mac");
    if (st == HEARTH_ERR_TOO_LARGE)
        return hearth_err(HEARTH_ERR_TAMPERED, "%s is malformed", "device.mac");
    if (st != HEARTH_OK) return st;
    char hex[2 * MAC_LEN + 1];
    bool shape = rlen == MAC_FILE_LEN && raw[2 * MAC_LEN] == '\n';
    if (shape) {
        memcpy(hex, raw, 2 * MAC_LEN);
        hex[2 * MAC_LEN] = '\0';
        shape = hearth_hex_decode(hex, got, MAC_LEN) == HEARTH_OK;
    }
    free(raw);
    if (!shape) return hearth_err(HEARTH_ERR_TAMPERED, "%s is malformed", "device.mac");
    HEARTH_GUARD(config_mac(rot, json, len, want));
    bool ok = hearth_ct_equal(want, got, MAC_LEN);
    hearth_memzero(want, sizeof want);
    if (!ok) {
        hearth_seclog(HEARTH_SEV_ALERT, "device_config_tampered", "file", "device.json",
                      "reason", "MAC mismatch", NULL);
        return hearth_err(HEARTH_ERR_TAMPERED,
                          "device.json is not authenticated by this device's root of trust "
                          "(%s does not match)",
                          "device.mac");
    }
    return HEARTH_OK;
}

static hearth_status open_rot(const char *keys, const hearth_platform *plat, hearth_rot **rot)
{
    if (plat->rot == HEARTH_ROT_TPM) return hearth_rot_tpm_open(keys, plat->tcti.text, rot);
    return hearth_rot_file_open(keys, rot);
}

hearth_status hearth_identity_config_load_raw(const char *state_dir, hearth_device_config *cfg,
                                              hearth_rot **rot, uint8_t **json,
                                              size_t *json_len)
{
    *rot = NULL;
    *json = NULL;
    *json_len = 0;
    memset(cfg, 0, sizeof *cfg);
    if (state_dir == NULL || state_dir[0] == '\0')
        return hearth_err(HEARTH_ERR_INVALID, "no state directory given");
    hearth_platform plat;
    HEARTH_GUARD(hearth_platform_load(&plat));
    /* A factory reset a power cut interrupted is finished (or discarded)
     * before anything is read (hearth/reset.h). */
    HEARTH_GUARD(hearth_reset_recover(state_dir));

    char jpath[4096], keys[4096];
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_DEVICE_JSON, jpath, sizeof jpath));
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_KEYS, keys, sizeof keys));
    uint8_t *data = NULL;
    size_t len = 0;
    hearth_status st = hearth_fs_read_file(jpath, HEARTH_DEV_JSON_MAX, &data, &len);
    if (st == HEARTH_ERR_TOO_LARGE)
        return hearth_err(HEARTH_ERR_TAMPERED, "device.json is larger than %d bytes",
                          HEARTH_DEV_JSON_MAX);
    if (st != HEARTH_OK) return st;
    hearth_device_config c;
    st = hearth_identity_info_decode((const char *)data, len, &c);
    if (st != HEARTH_OK) {
        /* Provisioning wrote it in exactly this schema: a file that no
         * longer decodes was edited. Keep the decoder's reason. */
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        st = hearth_err(HEARTH_ERR_TAMPERED, "%s", why);
        goto fail;
    }
    if (c.rot != plat.rot) {
        st = hearth_err(HEARTH_ERR_TAMPERED,
                        "device.json names the '%s' root of trust but this platform is "
                        "configured for '%s' (HEARTH_ROT / HEARTH_PLATFORM_ROT)",
                        hearth_rot_kind_name(c.rot), hearth_rot_kind_name(plat.rot));
        goto fail;
    }
    HEARTH_GUARD_GOTO(st, open_rot(keys, &plat, rot), fail);
    HEARTH_GUARD_GOTO(st, check_mac(state_dir, *rot, data, len), fail);
    *cfg = c;
    *json = data;
    *json_len = len;
    return HEARTH_OK;
fail:
    hearth_rot_close(*rot);
    *rot = NULL;
    free(data);
    memset(&c, 0, sizeof c);
    return st;
}

hearth_status hearth_device_config_load(const char *state_dir, hearth_device_config *cfg,
                                        hearth_rot **rot)
{
    hearth_rot *r = NULL;
    uint8_t *json = NULL;
    size_t len = 0;
    if (rot != NULL) *rot = NULL;
    if (cfg == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output for the device config");
    HEARTH_GUARD(hearth_identity_config_load_raw(state_dir, cfg, &r, &json, &len));
    free(json);
    if (rot != NULL)
        *rot = r;
    else
        hearth_rot_close(r);
    return HEARTH_OK;
}
