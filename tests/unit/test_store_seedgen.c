/* store_seedgen <outdir>: writes valid store files for the fuzz seed corpus
 * (tests/fuzz/corpus/store/). They are sealed under the throwaway fuzz key
 * that tests/fuzz/fuzz_store.c derives at run time from a public label, so
 * the corpus holds no real key material and no real secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "store/store_format.h"

#define FUZZ_KEY_LABEL "hearth fuzz store throwaway key v1"
#define FUZZ_DEVICE "fuzz-device"

static int emit(const char *dir, const char *name, store_image *img, const uint8_t *key)
{
    hearth_buf b;
    hearth_buf_init(&b, HEARTH_STORE_FILE_MAX);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    static store_image check;
    /* A seed is only useful if it verifies: that is what lets the fuzzer
     * reach the record decryption and re-encode paths. */
    if (store_format_encode(img, key, FUZZ_DEVICE, &b) != HEARTH_OK ||
        store_format_decode(b.data, b.len, key, FUZZ_DEVICE, &check) != HEARTH_OK ||
        check.count != img->count ||
        hearth_fs_write_atomic(path, b.data, b.len, 0644) != HEARTH_OK) {
        store_image_clear(&check);
        fprintf(stderr, "store_seedgen: %s: %s\n", name, hearth_err_msg());
        hearth_buf_free(&b);
        return 1;
    }
    store_image_clear(&check);
    printf("%s: %zu bytes\n", path, b.len);
    hearth_buf_free(&b);
    return 0;
}

static void add(store_image *img, const char *name, const char *val)
{
    store_record *r = &img->rec[img->count++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->len = strlen(val);
    r->val = malloc(r->len + 1);
    memcpy(r->val, val, r->len + 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store_seedgen <outdir>\n");
        return 1;
    }
    uint8_t key[HEARTH_STORE_KEY_LEN];
    if (hearth_sha256(FUZZ_KEY_LABEL, strlen(FUZZ_KEY_LABEL), key) != HEARTH_OK) return 1;
    static store_image img;
    int rc = 0;
    img.alg = STORE_ALG_AES256GCM;
    img.generation = 1;
    rc |= emit(argv[1], "empty-gcm.hst", &img, key);
    img.alg = STORE_ALG_CHACHA20POLY1305;
    rc |= emit(argv[1], "empty-chacha.hst", &img, key);
    img.generation = 7;
    add(&img, "a", "");
    add(&img, "cfg.mode", "eco");
    add(&img, "user/alice", "not-a-real-password-hash");
    rc |= emit(argv[1], "three-chacha.hst", &img, key);
    img.alg = STORE_ALG_AES256GCM;
    img.generation = 42;
    add(&img, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "max-len name");
    rc |= emit(argv[1], "four-gcm.hst", &img, key);
    store_image_clear(&img);
    return rc;
}
