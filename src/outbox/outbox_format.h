/* The outbox log file format (docs/outbox.md "File format"): records,
 * their MAC, and the recovery scanner that walks an untrusted log file.
 * Internal to src/outbox; the fuzz harness (tests/fuzz/fuzz_outbox.c)
 * drives the scanner directly. */
#ifndef HEARTH_OUTBOX_FORMAT_H
#define HEARTH_OUTBOX_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/outbox.h"
#include "hearth/util.h"

#define OBX_FILE_NAME "outbox.log"
#define OBX_MAGIC 0x484f4258u /* "HOBX" */
#define OBX_VERSION 2    /* DATA bodies encrypted (AES-256-GCM) */
#define OBX_VERSION_V1 1 /* older logs: DATA in clear; read, then rewritten as version 2 */
#define OBX_MAC_HMAC_SHA256 1 /* algorithm id in every record (5.5-3) */
#define OBX_FRAME_LEN 12      /* magic, version, type, mac alg, reserved, body length */
#define OBX_MAC_LEN 32
#define OBX_FILE_ID_LEN 16

/* Record types. */
#define OBX_T_HEADER 1 /* first record of a file: file id, counters, next seq */
#define OBX_T_DATA 2   /* one queued message */
#define OBX_T_ACK 3    /* the service acknowledged seq */
#define OBX_T_DROP 4   /* seq was dropped to make room (seq 0: a put refused) */

#define OBX_HEADER_BODY (OBX_FILE_ID_LEN + 3 * 8)
#define OBX_MARK_BODY 8
#define OBX_DATA_FIXED_V1 (8 + 1 + 8 + 1 + 4) /* seq, class, created, topic len, payload len */
#define OBX_AEAD_NONCE 12
#define OBX_AEAD_TAG 16
/* Version 2: seq, class, created, nonce | AEAD(topic len, topic, payload len, payload) | tag */
#define OBX_DATA_FIXED (OBX_DATA_FIXED_V1 + OBX_AEAD_NONCE + OBX_AEAD_TAG)
#define OBX_DATA_CLEAR (8 + 1 + 8) /* seq, class, created: the part not encrypted */
#define OBX_DATA_BODY_MAX (OBX_DATA_FIXED + (HEARTH_OUTBOX_TOPIC_MAX - 1) + HEARTH_OUTBOX_PAYLOAD_MAX)
#define OBX_REC_OVERHEAD (OBX_FRAME_LEN + OBX_MAC_LEN)
#define OBX_REC_MAX (OBX_REC_OVERHEAD + OBX_DATA_BODY_MAX)
#define OBX_HEADER_REC_LEN (OBX_REC_OVERHEAD + OBX_HEADER_BODY)
#define OBX_MARK_REC_LEN (OBX_REC_OVERHEAD + OBX_MARK_BODY)

typedef struct {
    uint8_t file_id[OBX_FILE_ID_LEN];
    uint64_t next_seq;
    uint64_t dropped;
    uint64_t rejected;
} obx_header;

/* A decoded record. For DATA, topic is NUL-terminated and payload points
 * into the buffer it was decoded from. */
typedef struct {
    uint8_t type;
    uint8_t version; /* format version of the record (OBX_VERSION or OBX_VERSION_V1) */
    obx_header hdr; /* OBX_T_HEADER */
    uint64_t seq;   /* DATA, ACK, DROP */
    hearth_outbox_class cls;
    int64_t created;
    char topic[HEARTH_OUTBOX_TOPIC_MAX];
    const uint8_t *payload;
    size_t payload_len;
} obx_rec;

/* Topic check shared by put() and the decoder: [a-z0-9/_-], 1..63 bytes. */
bool obx_topic_valid(const char *topic, size_t len);
/* Encoded length of a DATA record of format @p version. */
size_t obx_data_rec_len(uint8_t version, size_t topic_len, size_t payload_len);

/* Append one record, MAC'd under key and file id (a header MACs under its
 * own file id), to b. */
hearth_status obx_encode_header(hearth_buf *b, const uint8_t *key, const obx_header *h) HEARTH_MUST_CHECK;
hearth_status obx_encode_data(hearth_buf *b, const uint8_t *key, const uint8_t *file_id, uint64_t seq,
                              hearth_outbox_class cls, int64_t created, const char *topic,
                              const uint8_t *payload, size_t len) HEARTH_MUST_CHECK;
hearth_status obx_encode_mark(hearth_buf *b, const uint8_t *key, const uint8_t *file_id, uint8_t type,
                              uint64_t seq) HEARTH_MUST_CHECK;

/* Decode and authenticate one whole record of exactly len bytes. file_id
 * NULL: the record must be a header (MAC'd under its own id). A version-2
 * DATA record is decrypted in place (rec is overwritten; topic and payload
 * point into it). Errors: HEARTH_ERR_INVALID (framing or structure),
 * HEARTH_ERR_TAMPERED (MAC or AEAD tag). */
hearth_status obx_decode(uint8_t *rec, size_t len, const uint8_t *key, const uint8_t *file_id,
                         obx_rec *out) HEARTH_MUST_CHECK;

/* Read exactly n bytes at off (off + n <= the size given to the scan). */
typedef hearth_status (*obx_read_fn)(void *ctx, uint64_t off, void *buf, size_t n);
/* Called for every authentic record after the header, in file order. A
 * DATA record's seq is already checked to be above every earlier one. */
typedef hearth_status (*obx_record_fn)(void *arg, const obx_rec *r, uint64_t off, size_t len);

typedef struct {
    bool header_ok;       /* a valid header at offset 0 */
    obx_header hdr;       /* valid when header_ok */
    uint64_t valid_end;   /* end of the last authentic record (0: none) */
    uint64_t rejected;    /* records or unframeable regions that failed */
    uint64_t torn_bytes;  /* a torn last write cut off at valid_end */
    uint64_t last_seq;    /* highest DATA seq seen (0: none) */
    bool old_version;     /* some authentic record is of format version 1 */
} obx_scan_result;

/* Walk a log file of size bytes: never trusts a length before checking it
 * against the bounds above and the file size; resynchronises after a bad
 * region on the next record that authenticates. */
hearth_status obx_scan(obx_read_fn rd, void *rd_ctx, uint64_t size, const uint8_t *key,
                       obx_record_fn cb, void *cb_arg, obx_scan_result *res) HEARTH_MUST_CHECK;

#endif
