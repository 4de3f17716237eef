/* Fuzz the bundle header, signature block and manifest parsers (the code a
 * device runs on attacker-supplied update bytes). Input: a bundle prefix
 * (header + manifest + signature block), also fed whole to the manifest
 * parser. Invariants of a parsed manifest are asserted, so a parser bug that
 * accepts inconsistent data aborts too, not only memory errors. */
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle_internal.h"

static void check_manifest(const hearth_manifest *m)
{
    uint64_t total = 0;
    if (m->payload_count == 0 || m->payload_count > HEARTH_BUNDLE_PAYLOADS_MAX) abort();
    for (size_t i = 0; i < m->payload_count; i++) {
        const hearth_payload_info *p = &m->payloads[i];
        if (p->size > HEARTH_BUNDLE_PAYLOAD_MAX || p->chunk_size < HEARTH_BUNDLE_CHUNK_MIN) abort();
        if ((uint64_t)p->chunk_count != (p->size + p->chunk_size - 1) / p->chunk_size) abort();
        if (p->chunk_count &&
            (p->chunk_digests < m->raw ||
             p->chunk_digests + (size_t)p->chunk_count * HEARTH_DIGEST_LEN > m->raw + m->raw_len))
            abort();
        if (strlen(p->name) == 0 || strlen(p->name) > HEARTH_BUNDLE_ID_MAX) abort();
        total += p->size;
    }
    if (total != m->payload_total) abort();
    if (strlen(m->notes) > HEARTH_BUNDLE_NOTES_MAX || strlen(m->mitigates) > HEARTH_BUNDLE_MITIGATES_MAX) abort();
    hearth_bundle_policy pol = {.model = "cam", .hw_id = "rev2", .installed_security_version = 3,
                                .installed_sw_version = "1.0", .now = 1700000000};
    if (hearth_manifest_check_policy(m, &pol) == HEARTH_ERR_INTERNAL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hearth_manifest *m = NULL;
    if (hearth_manifest_parse(data, size, &m) == HEARTH_OK) check_manifest(m);
    hearth_manifest_free(m);
    m = NULL;

    hb_header h;
    if (hb_header_parse(data, size, &h) != HEARTH_OK) return 0;
    size_t plen = 0;
    uint64_t total = 0;
    if (hearth_bundle_prefix_len(data, size, &plen, &total) != HEARTH_OK) abort();
    if (plen > size) return 0;
    const uint8_t *man = data + HEARTH_BUNDLE_HEADER_SIZE;
    hb_sigblock sb;
    if (hb_sigblock_parse(man + h.manifest_len, h.sigblock_len, &sb) == HEARTH_OK) {
        if (sb.count > HEARTH_SIGS_MAX) abort();
        /* Re-encoding a parsed block gives the same bytes (canonical). */
        hearth_buf out;
        hearth_buf_init(&out, HEARTH_SIGBLOCK_MAX);
        if (hb_sigblock_encode(&sb, &out) != HEARTH_OK || out.len != h.sigblock_len ||
            memcmp(out.data, man + h.manifest_len, out.len) != 0)
            abort();
        hearth_buf_free(&out);
    }
    if (hearth_manifest_parse(man, h.manifest_len, &m) == HEARTH_OK) check_manifest(m);
    hearth_manifest_free(m);
    return 0;
}
