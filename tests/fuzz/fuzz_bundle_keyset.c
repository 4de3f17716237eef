/* Fuzz the key-set parser, both parse-only and against a trust anchor (a
 * fresh random root, so the signature path runs and must reject). */
#include <stdlib.h>

#include "bundle/bundle_internal.h"

static hearth_trust *trust;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (trust == NULL) {
        hearth_key *root = NULL;
        if (hearth_key_generate(HEARTH_SIG_ED25519, &root) != HEARTH_OK) abort();
        const hearth_key *r[1] = {root};
        if (hearth_trust_from_keys(r, 1, 1, &trust) != HEARTH_OK) abort();
        hearth_key_free(root);
    }
    hearth_keyset *ks = NULL;
    if (hearth_keyset_parse(data, size, NULL, 0, 0, &ks) == HEARTH_OK) {
        if (hearth_keyset_verified(ks)) abort();
        if (hearth_keyset_count(ks) == 0 || hearth_keyset_count(ks) > HEARTH_KEYSET_KEYS_MAX) abort();
        for (size_t i = 0; i < hearth_keyset_count(ks); i++) {
            const hearth_keyset_entry *e = hearth_keyset_entry_at(ks, i);
            if (e->spki_len == 0 || e->spki_len > HEARTH_SPKI_MAX) abort();
        }
    }
    hearth_keyset_free(ks);
    ks = NULL;
    /* Nothing the fuzzer makes can carry a valid signature by a root it has
     * never seen: acceptance would be a forgery. */
    if (hearth_keyset_parse(data, size, trust, 0, 0, &ks) == HEARTH_OK) abort();
    return 0;
}
