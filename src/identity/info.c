/*
 * device.json: the device's public identity. Written at provisioning, read
 * by every program at every start, so it is parsed as untrusted input
 * (5.13-1): bounded size, exact schema, every field required, no unknown or
 * duplicate fields. Its integrity comes from device.mac (config.c) and, in
 * hearthd, the copy sealed in the secure store (HEARTH_REC_DEVICE_INFO).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hearth/util.h"
#include "identity_internal.h"

#define INFO_FORMAT 1

static bool charset(const char *s, const char *extra)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr(extra, c) != NULL))
            return false;
    }
    return true;
}

/* Model and hardware id: one rule, 1..max characters from A-Z a-z 0-9 . _ - */
static hearth_status check_ident(const char *s, size_t max, const char *what)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > max || !charset(s, "._-"))
        return hearth_err(HEARTH_ERR_INVALID,
                          "%s must be 1..%zu characters from A-Z a-z 0-9 . _ -", what, max);
    return HEARTH_OK;
}

hearth_status hearth_identity_check_model(const char *model)
{
    return check_ident(model, HEARTH_MODEL_MAX, "model");
}

hearth_status hearth_identity_check_serial(const char *serial)
{
    size_t n = serial != NULL ? strlen(serial) : 0;
    if (n == 0 || n > HEARTH_SERIAL_MAX || !charset(serial, "-") || serial[0] == '-' ||
        serial[n - 1] == '-')
        return hearth_err(HEARTH_ERR_INVALID,
                          "serial must be 1..%d characters from A-Z a-z 0-9 -, "
                          "not starting or ending with -",
                          HEARTH_SERIAL_MAX);
    return HEARTH_OK;
}

hearth_status hearth_identity_check_hw_id(const char *hw_id)
{
    return check_ident(hw_id, HEARTH_HWID_MAX, "hardware id");
}

hearth_status hearth_identity_random_serial(char out[HEARTH_SERIAL_MAX + 1])
{
    static const char alphabet[] = HEARTH_CROCKFORD_ALPHABET;
    size_t p = strlen(HEARTH_SERIAL_PREFIX);
    memcpy(out, HEARTH_SERIAL_PREFIX, p);
    for (int i = 0; i < HEARTH_SERIAL_RANDOM_CHARS; i++) {
        uint32_t v;
        HEARTH_GUARD(hearth_random_uniform(32, &v));
        out[p++] = alphabet[v];
    }
    out[p] = '\0';
    return HEARTH_OK;
}

static bool fp_ok(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64) return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

hearth_status hearth_identity_info_encode(const hearth_device_info *info, char **out,
                                          size_t *len)
{
    *out = NULL;
    *len = 0;
    HEARTH_GUARD(hearth_identity_check_model(info->model));
    HEARTH_GUARD(hearth_identity_check_serial(info->serial));
    HEARTH_GUARD(hearth_identity_check_hw_id(info->hw_id));
    if (info->rot != HEARTH_ROT_FILE && info->rot != HEARTH_ROT_TPM)
        return hearth_err(HEARTH_ERR_INVALID, "unknown root-of-trust kind");
    if (!fp_ok(info->cert_fp) || !fp_ok(info->ca_fp))
        return hearth_err(HEARTH_ERR_INVALID, "bad fingerprint in device info");

    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddNumberToObject(o, "format", INFO_FORMAT) != NULL &&
              cJSON_AddStringToObject(o, "model", info->model) != NULL &&
              cJSON_AddStringToObject(o, "serial", info->serial) != NULL &&
              cJSON_AddStringToObject(o, "hw_id", info->hw_id) != NULL &&
              cJSON_AddStringToObject(o, "rot", hearth_rot_kind_name(info->rot)) != NULL &&
              cJSON_AddStringToObject(o, "certificate", info->cert_fp) != NULL &&
              cJSON_AddStringToObject(o, "ca", info->ca_fp) != NULL;
    char *txt = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (txt == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory encoding device.json");
    size_t n = strlen(txt);
    /* Trailing newline so the file is a well-formed text file. */
    char *res = malloc(n + 2);
    if (res == NULL) {
        cJSON_free(txt);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory encoding device.json");
    }
    memcpy(res, txt, n);
    res[n] = '\n';
    res[n + 1] = '\0';
    cJSON_free(txt);
    if (n + 1 > HEARTH_DEV_JSON_MAX) {
        free(res);
        return hearth_err(HEARTH_ERR_TOO_LARGE, "device.json would exceed %d bytes",
                          HEARTH_DEV_JSON_MAX);
    }
    *out = res;
    *len = n + 1;
    return HEARTH_OK;
}

/* Copy a required string field, enforcing its length bound. */
static hearth_status take_str(const cJSON *item, const char *name, char *dst, size_t cap)
{
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return hearth_err(HEARTH_ERR_INVALID, "device.json: \"%s\" must be a string", name);
    size_t n = strlen(item->valuestring);
    if (n >= cap)
        return hearth_err(HEARTH_ERR_INVALID, "device.json: \"%s\" is too long", name);
    memcpy(dst, item->valuestring, n + 1);
    return HEARTH_OK;
}

/* Every field is required: none has a default that could switch a check
 * off (a missing model or hw_id would disable the boot-time model check). */
static const char *const known_fields[] = {"format", "model",       "serial", "hw_id",
                                           "rot",    "certificate", "ca"};
#define N_FIELDS (sizeof known_fields / sizeof known_fields[0])

static hearth_status decode_obj(const cJSON *root, hearth_device_info *info)
{
    if (!cJSON_IsObject(root))
        return hearth_err(HEARTH_ERR_INVALID, "device.json: top level must be an object");
    const cJSON *f[N_FIELDS] = {0};
    for (const cJSON *it = root->child; it != NULL; it = it->next) {
        size_t k = 0;
        while (k < N_FIELDS && (it->string == NULL || strcmp(it->string, known_fields[k]) != 0))
            k++;
        if (k == N_FIELDS && it->string != NULL && strcmp(it->string, "tpm_tcti") == 0)
            return hearth_err(HEARTH_ERR_INVALID,
                              "device.json: \"tpm_tcti\" is refused: the TPM connection is "
                              "platform configuration (HEARTH_TPM_TCTI / build option), never "
                              "read from the state directory");
        if (k == N_FIELDS)
            return hearth_err(HEARTH_ERR_INVALID, "device.json: unknown field \"%.32s\"",
                              it->string != NULL ? it->string : "");
        if (f[k] != NULL)
            return hearth_err(HEARTH_ERR_INVALID, "device.json: duplicate field \"%s\"",
                              known_fields[k]);
        f[k] = it;
    }
    for (size_t k = 0; k < N_FIELDS; k++)
        if (f[k] == NULL)
            return hearth_err(HEARTH_ERR_INVALID, "device.json: missing field \"%s\"",
                              known_fields[k]);

    if (!cJSON_IsNumber(f[0]) || f[0]->valuedouble != (double)INFO_FORMAT)
        return hearth_err(HEARTH_ERR_UNSUPPORTED, "device.json: unsupported format (want %d)",
                          INFO_FORMAT);
    char rot[8];
    HEARTH_GUARD(take_str(f[1], "model", info->model, sizeof info->model));
    HEARTH_GUARD(take_str(f[2], "serial", info->serial, sizeof info->serial));
    HEARTH_GUARD(take_str(f[3], "hw_id", info->hw_id, sizeof info->hw_id));
    HEARTH_GUARD(take_str(f[4], "rot", rot, sizeof rot));
    HEARTH_GUARD(take_str(f[5], "certificate", info->cert_fp, sizeof info->cert_fp));
    HEARTH_GUARD(take_str(f[6], "ca", info->ca_fp, sizeof info->ca_fp));

    HEARTH_GUARD(hearth_identity_check_model(info->model));
    HEARTH_GUARD(hearth_identity_check_serial(info->serial));
    HEARTH_GUARD(hearth_identity_check_hw_id(info->hw_id));
    if (strcmp(rot, "file") == 0)
        info->rot = HEARTH_ROT_FILE;
    else if (strcmp(rot, "tpm") == 0)
        info->rot = HEARTH_ROT_TPM;
    else
        return hearth_err(HEARTH_ERR_INVALID, "device.json: \"rot\" must be \"file\" or \"tpm\"");
    if (!fp_ok(info->cert_fp) || !fp_ok(info->ca_fp))
        return hearth_err(HEARTH_ERR_INVALID,
                          "device.json: fingerprints must be \"sha256:\" + 64 hex digits");
    return HEARTH_OK;
}

/*
 * true if a string of the (already successfully parsed) JSON text holds the
 * escape \u0000. cJSON decodes it to a NUL byte inside valuestring/string,
 * which are NUL-terminated without a length, so every later strlen/strcmp
 * would see a cut value or field name ("hearth\u0000x" read as "hearth"):
 * the only way to keep "exactly what the file says" is to refuse it. A raw
 * NUL is refused before parsing, so this escape is the only source of an
 * embedded NUL. The walk follows JSON's string syntax (an escaped backslash
 * is skipped as a pair) so "\\u0000", a backslash followed by "u0000", is
 * not mistaken for the escape; outside strings JSON has no quote or
 * backslash, so toggling on unescaped quotes finds every string.
 */
static bool has_escaped_nul(const char *json, size_t len)
{
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (!in_str) {
            in_str = c == '"';
            continue;
        }
        if (c == '"') {
            in_str = false;
        } else if (c == '\\' && i + 1 < len) {
            i++;
            if (json[i] == 'u' && i + 4 < len) {
                int v = 0;
                for (size_t k = 1; k <= 4; k++) {
                    int h = hearth_hex_digit(json[i + k]);
                    if (h < 0) return true; /* not JSON: cJSON refused it already */
                    v = v << 4 | h;
                }
                if (v == 0) return true;
                i += 4;
            }
        }
    }
    return false;
}

hearth_status hearth_identity_info_decode(const char *json, size_t len, hearth_device_info *info)
{
    memset(info, 0, sizeof *info);
    if (len > HEARTH_DEV_JSON_MAX)
        return hearth_err(HEARTH_ERR_TOO_LARGE, "device.json exceeds %d bytes",
                          HEARTH_DEV_JSON_MAX);
    if (memchr(json, '\0', len) != NULL)
        return hearth_err(HEARTH_ERR_INVALID, "device.json contains a NUL byte");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root == NULL) return hearth_err(HEARTH_ERR_INVALID, "device.json is not valid JSON");
    /* Only whitespace may follow the object. */
    for (const char *p = end; p != NULL && p < json + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            cJSON_Delete(root);
            return hearth_err(HEARTH_ERR_INVALID, "device.json: trailing data after the object");
        }
    }
    if (has_escaped_nul(json, len)) {
        cJSON_Delete(root);
        return hearth_err(HEARTH_ERR_INVALID,
                          "device.json: a string holds an escaped NUL (\\u0000)");
    }
    hearth_status st = decode_obj(root, info);
    cJSON_Delete(root);
    if (st != HEARTH_OK) memset(info, 0, sizeof *info);
    return st;
}
