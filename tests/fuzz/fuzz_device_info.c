/* libFuzzer harness for the strict device.json parser
 * (hearth_identity_info_decode, src/identity/info.c): evidence for 5.13-1
 * (data read from disk validated) and 5.4-2 (the device's identity record
 * is only ever accepted in its exact schema, every field required and no
 * "tpm_tcti" field; config.c then checks device.mac and device.c the copy
 * sealed in the secure store).
 *
 * Beyond "no crash": on success every field obeys its documented syntax
 * (checked here independently of info.c), the input was bounded and
 * NUL-free (no escaped NUL either), and encode -> decode reproduces the record exactly, with encode
 * deterministic; on failure a reason is given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond) abort();
}

static int alnum(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int field_ok(const char *s, size_t cap, size_t max, const char *extra)
{
    size_t n = strnlen(s, cap);
    if (n == cap || n < 1 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!alnum(s[i]) && strchr(extra, s[i]) == NULL) return 0;
    return 1;
}

static int fp_ok(const char *s)
{
    if (strnlen(s, HEARTH_FINGERPRINT_MAX) != 71 || memcmp(s, "sha256:", 7) != 0) return 0;
    for (int i = 7; i < 71; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static void check_fields(const hearth_device_info *d)
{
    check(field_ok(d->model, sizeof d->model, HEARTH_MODEL_MAX, "._-"));
    check(field_ok(d->serial, sizeof d->serial, HEARTH_SERIAL_MAX, "-"));
    size_t sl = strlen(d->serial);
    check(d->serial[0] != '-' && d->serial[sl - 1] != '-');
    check(field_ok(d->hw_id, sizeof d->hw_id, HEARTH_HWID_MAX, "._-"));
    check(d->rot == HEARTH_ROT_FILE || d->rot == HEARTH_ROT_TPM);
    check(fp_ok(d->cert_fp) && fp_ok(d->ca_fp));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hearth_device_info info, again;
    hearth_status st = hearth_identity_info_decode((const char *)data, size, &info);
    if (st != HEARTH_OK) {
        check(st == HEARTH_ERR_INVALID || st == HEARTH_ERR_TOO_LARGE ||
              st == HEARTH_ERR_UNSUPPORTED || st == HEARTH_ERR_NOMEM);
        check(hearth_err_msg()[0] != '\0');
        hearth_err_clear();
        return 0;
    }
    check(size <= HEARTH_DEV_JSON_MAX && memchr(data, 0, size) == NULL);
    /* An escaped NUL is in no field's charset (nor in a field name), so an
     * input holding one cannot be valid: accepting it means a value or a
     * name was silently cut at the NUL. */
    check(memmem(data, size, "\\u0000", 6) == NULL);
    check_fields(&info);

    char *json = NULL, *json2 = NULL;
    size_t len = 0, len2 = 0;
    check(hearth_identity_info_encode(&info, &json, &len) == HEARTH_OK);
    check(len <= HEARTH_DEV_JSON_MAX && strlen(json) == len);
    check(hearth_identity_info_decode(json, len, &again) == HEARTH_OK);
    check(memcmp(&info, &again, sizeof info) == 0);
    check(hearth_identity_info_encode(&again, &json2, &len2) == HEARTH_OK);
    check(len2 == len && memcmp(json, json2, len) == 0);
    free(json);
    free(json2);
    hearth_err_clear();
    return 0;
}

#ifdef HEARTH_FUZZ_SEEDGEN
/* Seed writer: device.json files made by the real encoder from made-up,
 * public values (fingerprints of the strings "fuzz device/ca cert"). */
#include <stdio.h>

#include "hearth/util.h"

static void fp_of(const char *s, char out[HEARTH_FINGERPRINT_MAX])
{
    uint8_t h[32];
    char hex[65];
    if (hearth_sha256(s, strlen(s), h) != HEARTH_OK ||
        hearth_hex_encode(h, 32, hex, sizeof hex) != HEARTH_OK)
        exit(1);
    snprintf(out, HEARTH_FINGERPRINT_MAX, "sha256:%s", hex);
}

static void write_seed(const char *dir, const char *name, const hearth_device_info *d)
{
    char *json = NULL, path[4096];
    size_t len = 0;
    if (hearth_identity_info_encode(d, &json, &len) != HEARTH_OK) {
        fprintf(stderr, "encode %s: %s\n", name, hearth_err_msg());
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(json, 1, len, f) != len || fclose(f) != 0) exit(1);
    free(json);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_device_info_seedgen <dir>\n");
        return 2;
    }
    hearth_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.model, sizeof d.model, "hearth-thermostat-1");
    snprintf(d.serial, sizeof d.serial, "HTH-0123456789AB");
    snprintf(d.hw_id, sizeof d.hw_id, "board.rev_b-42");
    d.rot = HEARTH_ROT_FILE;
    fp_of("fuzz device cert", d.cert_fp);
    fp_of("fuzz ca cert", d.ca_fp);
    write_seed(argv[1], "valid_file", &d);
    d.rot = HEARTH_ROT_TPM;
    write_seed(argv[1], "valid_tpm", &d);
    /* Longest values of every field. */
    memset(d.model, 'M', HEARTH_MODEL_MAX);
    memset(d.serial, '9', HEARTH_SERIAL_MAX);
    memset(d.hw_id, '_', HEARTH_HWID_MAX);
    write_seed(argv[1], "valid_max_lengths", &d);
    return 0;
}
#endif
