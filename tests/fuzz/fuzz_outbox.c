/* libFuzzer harness for the outbox log scanner (src/outbox/outbox_format.c),
 * evidence for 5.13-1: the log sits in a writable directory, so recovery
 * reads it as hostile input. Whatever the bytes, the scanner must not
 * crash, must hand out only records inside the file, in file order, with
 * bounded and well-formed fields and growing sequence numbers, and must
 * account for the file's end.
 *
 * Records are authenticated under a throwaway key derived at run time from
 * a public label; the seed corpus (tests/fuzz/corpus/outbox/) was written
 * by tests/unit/test_outbox_tool.c under the same label, so the fuzzer
 * starts from authentic logs and mutates past their MACs' checks into the
 * framing, resynchronisation and torn-tail paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"
#include "outbox/outbox_format.h"

#define FUZZ_KEY_LABEL "hearth outbox throwaway test key v1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *data;
    size_t size;
    uint64_t prev_end;
    uint64_t last_seq;
} fuzz_ctx;

static hearth_status mem_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    const fuzz_ctx *c = ctx;
    if (off > c->size || n > c->size - off) abort(); /* the scanner read past the end */
    memcpy(buf, c->data + off, n);
    return HEARTH_OK;
}

static hearth_status on_record(void *arg, const obx_rec *r, uint64_t off, size_t len)
{
    fuzz_ctx *c = arg;
    if (off < c->prev_end || off + len > c->size || len > OBX_REC_MAX) abort();
    c->prev_end = off + len;
    if (r->type == OBX_T_DATA) {
        size_t tl = strnlen(r->topic, sizeof r->topic);
        if (tl == sizeof r->topic || !obx_topic_valid(r->topic, tl)) abort();
        if (r->payload_len > HEARTH_OUTBOX_PAYLOAD_MAX || r->cls > HEARTH_OUTBOX_TELEMETRY) abort();
        if (r->seq <= c->last_seq) abort();
        c->last_seq = r->seq;
        if (len != obx_data_rec_len(r->version, tl, r->payload_len)) abort();
    } else if (r->type != OBX_T_ACK && r->type != OBX_T_DROP) {
        abort();
    }
    return HEARTH_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t key[HEARTH_OUTBOX_KEY_LEN];
    static int have_key;
    if (!have_key) {
        if (hearth_sha256(FUZZ_KEY_LABEL, strlen(FUZZ_KEY_LABEL), key) != HEARTH_OK) abort();
        have_key = 1;
    }
    fuzz_ctx c = {.data = data, .size = size};
    obx_scan_result res;
    if (obx_scan(mem_read, &c, size, key, on_record, &c, &res) != HEARTH_OK) abort();
    if (res.valid_end > size || res.valid_end < c.prev_end) abort();
    if (res.torn_bytes != 0 && res.valid_end + res.torn_bytes != size) abort();
    if (res.last_seq != c.last_seq) abort();
    if (size == 0 && (res.header_ok || res.rejected != 0)) abort();
    hearth_err_clear();
    return 0;
}
