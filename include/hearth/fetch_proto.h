/**
 * @file fetch_proto.h
 * @brief The wire protocol between hearthd's updater and the hearth-fetch
 *        helper: request record, DATA/RESULT frames, their bounds, and the
 *        encoders and decoders both sides call.
 *
 * Why a protocol at all (EN 303 645 5.6-6, 5.6-7; docs/updates.md "Process
 * separation"): the update transfer -- untrusted HTTP and TLS from the
 * network, libcurl and its ~25 shared libraries -- runs in the short-lived
 * program hearth-fetch (fetch/hearth_fetch.c), not in the daemon that holds
 * the password database and the secure store. The updater
 * (src/updater/transport.c) spawns it per transfer with one AF_UNIX socket
 * as its stdin and stdout.
 *
 * Request record (big-endian, written once on the helper's stdin, then EOF):
 *
 *     u32 magic | u16 n, url | u64 offset | u64 max_bytes |
 *     u16 n, ca_path | u16 n, cert_path | u16 n, pinned_pubkey (0: none) |
 *     u32 connect_timeout_s | u32 stall_timeout_s | u32 n, key PEM
 *
 * No NUL bytes inside strings; nothing after the key. The device key
 * travels only here: never in argv, the environment or a file.
 *
 * Frames on the helper's stdout: [u8 type][u32 len][len bytes]. The helper
 * sends DATA frames (1..HEARTH_FETCH_FRAME_DATA_MAX bytes) in body order,
 * then exactly one RESULT frame, then exits 0. RESULT payload:
 *
 *     u32 status (hearth_status as two's complement) | u32 http_code |
 *     u64 received | u8 flags | u16 n, error text (n <= 255)
 *
 * Anything else -- an unknown type, an oversized or truncated frame, more
 * body than max_bytes, bytes after RESULT, no RESULT, a non-zero exit -- is
 * a hostile or broken helper: the parent kills it and fails the transfer.
 * Both directions are decoded as hostile input by the functions below.
 *
 * Library: hearth_fetch_proto (src/fetch_proto/), which links hearth_util
 * only, so hearth-fetch stays free of the store, auth and identity code.
 */
#ifndef HEARTH_FETCH_PROTO_H
#define HEARTH_FETCH_PROTO_H

#include "hearth/common.h"
#include "hearth/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Environment variable naming the hearth-fetch program (absolute path). */
#define HEARTH_FETCH_ENV "HEARTH_FETCH_PROGRAM"
/** Request record magic, "HFQ1". */
#define HEARTH_FETCH_MAGIC 0x48465131u

/** Frame types on the helper's stdout. */
#define HEARTH_FETCH_FRAME_DATA 1u
#define HEARTH_FETCH_FRAME_RESULT 2u
/** Frame header: u8 type, u32 length. */
#define HEARTH_FETCH_FRAME_HDR_LEN 5u
/** Largest DATA frame payload; anything bigger is a protocol violation. */
#define HEARTH_FETCH_FRAME_DATA_MAX (64u * 1024u)
/** Largest RESULT frame payload (fixed fields + a short error text). */
#define HEARTH_FETCH_FRAME_RESULT_MAX 512u
/** Error text carried in a RESULT frame, bytes. */
#define HEARTH_FETCH_RESULT_MSG_MAX 255u
/** RESULT flags. */
#define HEARTH_FETCH_RESULT_OVERFLOW 0x01u
#define HEARTH_FETCH_RESULT_TLS_FAILED 0x02u

/** Request field bounds (the decoder rejects larger). */
#define HEARTH_FETCH_REQ_URL_MAX 2048u
#define HEARTH_FETCH_REQ_PATH_MAX 4096u
#define HEARTH_FETCH_REQ_PIN_MAX 1024u
#define HEARTH_FETCH_REQ_KEY_MAX 16384u
/** Whole request record bound. */
#define HEARTH_FETCH_REQ_MAX                                                               \
    (4u + 2u + HEARTH_FETCH_REQ_URL_MAX + 16u + 3u * (2u + HEARTH_FETCH_REQ_PATH_MAX) + 8u + \
     4u + HEARTH_FETCH_REQ_KEY_MAX)
/** Largest timeout the helper accepts, seconds (each must be 1..this). */
#define HEARTH_FETCH_TIMEOUT_MAX_S 3600u

/** One transfer request. Every pointer is borrowed when encoding. */
typedef struct {
    const char *url;            /**< https:// only */
    uint64_t offset;            /**< Range start; 0: whole object */
    uint64_t max_bytes;         /**< body bound (endless-data defence) */
    const char *ca_path;        /**< manufacturer CA, the only trust anchor */
    const char *cert_path;      /**< device certificate (PEM) */
    const char *pinned_pubkey;  /**< optional public-key pin, NULL: none */
    uint32_t connect_timeout_s; /**< connect + handshake bound */
    uint32_t stall_timeout_s;   /**< abort when < 1 byte/s for this long */
    const uint8_t *key;         /**< device private key PEM (secret) */
    size_t key_len;
} hearth_fetch_request;

/**
 * Append the request record for @p r to @p out (the caller sizes it with
 * hearth_buf_init(out, HEARTH_FETCH_REQ_MAX) and wipes it with
 * hearth_buf_free() as soon as it is sent: it holds the key).
 * HEARTH_ERR_TOO_LARGE when a string or the key exceeds its bound or the key
 * is empty.
 */
hearth_status hearth_fetch_request_encode(const hearth_fetch_request *r,
                                          hearth_buf *out) HEARTH_MUST_CHECK;

/**
 * Decode and check a request record (the helper's side). Strings become
 * NUL-terminated heap copies (release with hearth_fetch_request_clear());
 * r->key points into @p data, which the caller wipes. Rejects a wrong magic,
 * truncation, a NUL inside a string, a missing URL/CA/certificate, trailing
 * bytes (HEARTH_ERR_INVALID), an oversized field (HEARTH_ERR_TOO_LARGE), a
 * non-https URL (HEARTH_ERR_POLICY), timeouts outside
 * 1..HEARTH_FETCH_TIMEOUT_MAX_S and offsets above INT64_MAX
 * (HEARTH_ERR_RANGE). On failure nothing needs releasing.
 */
hearth_status hearth_fetch_request_decode(const uint8_t *data, size_t len,
                                          hearth_fetch_request *r) HEARTH_MUST_CHECK;

/** Free the strings hearth_fetch_request_decode() copied; zeroes @p r. */
void hearth_fetch_request_clear(hearth_fetch_request *r);

/** Outcome of one transfer, as the helper reports it. */
typedef struct {
    hearth_status status; /**< HEARTH_OK or the transfer's error */
    long http_code;       /**< last HTTP status (0: none) */
    uint64_t received;    /**< body bytes the helper sent as DATA */
    bool overflow;        /**< the server sent or announced more than max_bytes */
    bool tls_failed;      /**< TLS handshake / peer verification failed */
    char msg[HEARTH_FETCH_RESULT_MSG_MAX + 1]; /**< error text, "" on success */
} hearth_fetch_result;

/**
 * Encode a RESULT payload into @p out (at least
 * HEARTH_FETCH_FRAME_RESULT_MAX bytes). The text is cut at
 * HEARTH_FETCH_RESULT_MSG_MAX bytes; an HTTP code outside 1..999 is sent as 0.
 */
hearth_status hearth_fetch_result_encode(const hearth_fetch_result *r, uint8_t *out, size_t cap,
                                         size_t *len) HEARTH_MUST_CHECK;

/**
 * Decode a RESULT payload (the daemon's side; hostile input). Rejects a
 * malformed or trailing-byte payload, a status outside the hearth_status
 * range, a code above 999 and unknown flags (HEARTH_ERR_IO). The error text
 * is made printable ('?' for anything outside 0x20..0x7e) so a hostile
 * helper cannot inject control characters into logs.
 */
hearth_status hearth_fetch_result_decode(const uint8_t *p, size_t n,
                                         hearth_fetch_result *r) HEARTH_MUST_CHECK;

/** Write a frame header for @p type and @p len. */
void hearth_fetch_frame_header(uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN], uint8_t type, uint32_t len);

/**
 * Read a frame header from the helper and check it against the bounds:
 * DATA 1..HEARTH_FETCH_FRAME_DATA_MAX, RESULT 0..HEARTH_FETCH_FRAME_RESULT_MAX,
 * no other type (HEARTH_ERR_IO otherwise).
 */
hearth_status hearth_fetch_frame_parse(const uint8_t hdr[HEARTH_FETCH_FRAME_HDR_LEN], uint8_t *type,
                                       uint32_t *len) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
