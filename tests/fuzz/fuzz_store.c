/* libFuzzer harness for the store file parser (src/store/store_format.c),
 * evidence for 5.13-1 (hostile input from disk validated) and 5.4-1 (the
 * parser under the secure store never crashes or accepts a forgery).
 *
 * Each input is parsed structurally, then fully verified and decrypted under
 * a throwaway key derived at run time from a public label (the seed corpus,
 * tests/fuzz/corpus/store/, was written by store_seedgen under that key). A
 * file that verifies must survive a re-encode/decode round trip unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "store/store_format.h"

#define FUZZ_KEY_LABEL "hearth fuzz store throwaway key v1"
#define FUZZ_DEVICE "fuzz-device"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const store_image *a, const store_image *b)
{
    if (a->count != b->count || a->generation != b->generation || a->alg != b->alg) return 0;
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->rec[i].name, b->rec[i].name) != 0 || a->rec[i].len != b->rec[i].len)
            return 0;
        if (a->rec[i].len > 0 && memcmp(a->rec[i].val, b->rec[i].val, a->rec[i].len) != 0)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t key[HEARTH_STORE_KEY_LEN];
    static int have_key;
    if (!have_key) {
        if (hearth_sha256(FUZZ_KEY_LABEL, strlen(FUZZ_KEY_LABEL), key) != HEARTH_OK) abort();
        have_key = 1;
    }
    store_layout *lay = malloc(sizeof *lay);
    store_image *img = calloc(1, sizeof *img);
    store_image *img2 = calloc(1, sizeof *img2);
    if (lay == NULL || img == NULL || img2 == NULL) abort();

    if (store_format_parse(data, size, lay) == HEARTH_OK) {
        /* Every pointer of the layout lies inside the input. */
        for (uint32_t i = 0; i < lay->count; i++)
            if (lay->rec[i].tag + STORE_TAG_LEN > data + size) abort();
        if (lay->trailer_tag + STORE_TAG_LEN != data + size) abort();
    }
    /* A wrong device id must never verify. */
    if (store_format_decode(data, size, key, "other-device", img) == HEARTH_OK) abort();
    if (img->count != 0) abort();
    if (store_format_decode(data, size, key, FUZZ_DEVICE, img) == HEARTH_OK) {
        hearth_buf b;
        hearth_buf_init(&b, HEARTH_STORE_FILE_MAX);
        if (store_format_encode(img, key, FUZZ_DEVICE, &b) != HEARTH_OK) abort();
        if (store_format_decode(b.data, b.len, key, FUZZ_DEVICE, img2) != HEARTH_OK) abort();
        if (!same(img, img2)) abort();
        hearth_buf_free(&b);
    }
    store_image_clear(img);
    store_image_clear(img2);
    free(lay);
    free(img);
    free(img2);
    hearth_err_clear();
    return 0;
}
