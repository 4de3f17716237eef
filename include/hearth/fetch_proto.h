/**
 * @file fetch_proto.h
 * @brief The wire protocol between hearthd's updater and the hearth-fetch
 *        helper: request record, DATA/RESULT frames, their bounds, and the
 *        encoders and decoders both sides call.
 *
 * Why a protocol at all (EN 303 645 5.6-6, 5.6-7; docs/architecture.md
 * "Update transfers"): hearthd terminates the TLS connection to the update
 * repository itself (src/updater/tls_client.c: manufacturer CA, host name,
 * optional pin, client certificate with the device key, which never leaves
 * hearthd) and relays the plaintext over a socketpair; the short-lived
 * program hearth-fetch (fetch/hearth_fetch.c) speaks HTTP over that
 * plaintext with libcurl and sends the body back. hearth-fetch never sees a
 * key, opens no socket and resolves no name. The updater
 * (src/updater/transport.c) either spawns it per transfer with one AF_UNIX
 * stream socket as its stdin and stdout, or connects to a unix socket where
 * systemd starts one per connection (--fetch-socket); the protocol is the
 * same.
 *
 * Request (parent -> helper, on the helper's stdin, then EOF): the request
 * record below; the FIRST byte carries, as SCM_RIGHTS ancillary data,
 * exactly one descriptor: the helper's end of the plaintext connection.
 *
 *     u32 magic "HFQ2" | u16 n, url | u64 offset | u64 max_bytes |
 *     u32 stall_timeout_s
 *
 * No NUL bytes inside the URL, nothing after the last field. The record
 * holds no key, certificate or path: nothing the helper could use outside
 * this one transfer.
 *
 * Frames on the helper's stdout: [u8 type][u32 len][len bytes]. The helper
 * sends DATA frames (1..HEARTH_FETCH_FRAME_DATA_MAX bytes) in body order,
 * then exactly one RESULT frame, then exits 0. RESULT payload:
 *
 *     u32 status (hearth_status as two's complement) | u32 http_code |
 *     u64 received | u8 flags | u16 n, error text (n <= 255) |
 *     [u32 retry_after_s, only with HEARTH_FETCH_RESULT_RETRY_AFTER]
 *
 * A 429 or 503 answer's Retry-After header (a busy repository's hint,
 * EN 303 645 5.9): the helper parses it (hearth_http_retry_after_parse())
 * and reports the wait in seconds, at most HEARTH_FETCH_RETRY_AFTER_MAX_S,
 * or HEARTH_FETCH_RESULT_RETRY_AFTER_BAD when the header was there but not
 * a valid value (the daemon logs it and uses no hint).
 *
 * Anything else -- an unknown type, an oversized or truncated frame, more
 * body than max_bytes, bytes after RESULT, no RESULT, a non-zero exit -- is
 * a hostile or broken helper: the parent kills it (or, with --fetch-socket,
 * drops the connection) and fails the transfer. Both directions are decoded
 * as hostile input by the functions below.
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
/** Request record magic, "HFQ2" (version 2: no key material, the
 *  plaintext connection passed as a descriptor). */
#define HEARTH_FETCH_MAGIC 0x48465132u

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
/** RESULT flags. (0x02, "TLS failed", is gone with TLS moving to hearthd:
 *  a helper sending it is refused like any unknown flag.) */
#define HEARTH_FETCH_RESULT_OVERFLOW 0x01u
/** The repository answered 429/503 with a valid Retry-After: a u32 of
 *  seconds (0..HEARTH_FETCH_RETRY_AFTER_MAX_S) follows the error text. */
#define HEARTH_FETCH_RESULT_RETRY_AFTER 0x04u
/** The repository answered 429/503 with a Retry-After that is not a valid
 *  delay or HTTP-date (ignored; the daemon logs it). */
#define HEARTH_FETCH_RESULT_RETRY_AFTER_BAD 0x08u
/** The longest Retry-After honoured, seconds (24 h): a hint of years from a
 *  broken or hostile server must not park a device for good. */
#define HEARTH_FETCH_RETRY_AFTER_MAX_S 86400u
/** Longest Retry-After / Date header value the helper looks at, bytes. */
#define HEARTH_FETCH_HTTP_DATE_MAX 64u

/** Request field bounds (the decoder rejects larger). */
#define HEARTH_FETCH_REQ_URL_MAX 2048u
/** Whole request record bound. */
#define HEARTH_FETCH_REQ_MAX (4u + 2u + HEARTH_FETCH_REQ_URL_MAX + 16u + 4u)
/** Largest stall timeout the helper accepts, seconds (must be 1..this). */
#define HEARTH_FETCH_TIMEOUT_MAX_S 3600u
/** Longest host name in a repository URL (RFC 1035 limit). */
#define HEARTH_FETCH_HOST_MAX 253u

/** One transfer request. Every pointer is borrowed when encoding. */
typedef struct {
    const char *url;          /**< https:// only: what the parent connected to */
    uint64_t offset;          /**< Range start; 0: whole object */
    uint64_t max_bytes;       /**< body bound (endless-data defence) */
    uint32_t stall_timeout_s; /**< abort when < 1 byte/s for this long */
} hearth_fetch_request;

/** A repository URL taken apart (hearth_fetch_url_split()). */
typedef struct {
    char host[HEARTH_FETCH_HOST_MAX + 1]; /**< name or IP literal, no brackets */
    bool ipv6;                            /**< host is an IPv6 literal */
    uint16_t port;                        /**< 443 unless given */
    const char *path;                     /**< into the URL: "/..." or "" */
} hearth_fetch_url;

/**
 * Split an update repository URL: "https://" host [":" port] [path], where
 * host is a DNS name (letters, digits, '-', '.'), an IPv4 literal or an
 * IPv6 literal in brackets, port 1..65535 and path starts with '/' and
 * holds only printable ASCII without spaces, '#' or '\'. No user info, no
 * other scheme (HEARTH_ERR_POLICY for a scheme other than https,
 * HEARTH_ERR_INVALID for anything malformed). The one URL parser both
 * hearthd (which connects to host:port) and hearth-fetch (which builds the
 * request line and Host header) use, so they cannot disagree.
 */
hearth_status hearth_fetch_url_split(const char *url, hearth_fetch_url *out) HEARTH_MUST_CHECK;

/**
 * Append the request record for @p r to @p out (the caller sizes it with
 * hearth_buf_init(out, HEARTH_FETCH_REQ_MAX)). HEARTH_ERR_TOO_LARGE when the
 * URL exceeds its bound.
 */
hearth_status hearth_fetch_request_encode(const hearth_fetch_request *r,
                                          hearth_buf *out) HEARTH_MUST_CHECK;

/**
 * Decode and check a request record (the helper's side). The URL becomes a
 * NUL-terminated heap copy (release with hearth_fetch_request_clear()).
 * Rejects a wrong magic, truncation, a NUL inside the URL, a missing URL,
 * trailing bytes (HEARTH_ERR_INVALID), an oversized URL
 * (HEARTH_ERR_TOO_LARGE), a URL hearth_fetch_url_split() refuses, a
 * stall timeout outside 1..HEARTH_FETCH_TIMEOUT_MAX_S and offsets or sizes
 * above INT64_MAX (HEARTH_ERR_RANGE). On failure nothing needs releasing.
 */
hearth_status hearth_fetch_request_decode(const uint8_t *data, size_t len,
                                          hearth_fetch_request *r) HEARTH_MUST_CHECK;

/** Free the URL hearth_fetch_request_decode() copied; zeroes @p r. */
void hearth_fetch_request_clear(hearth_fetch_request *r);

/**
 * The helper's side of the request: read @p sock (its stdin, an AF_UNIX
 * stream socket) to end of stream into @p in (bounded by its max, sized
 * HEARTH_FETCH_REQ_MAX), and take the one descriptor passed with it into
 * *@p conn_fd (close-on-exec; -1 when none came). More than one descriptor,
 * truncated ancillary data or a socket that is not a socket is refused
 * (HEARTH_ERR_INVALID; every descriptor received is closed); an oversized
 * request is HEARTH_ERR_TOO_LARGE.
 */
hearth_status hearth_fetch_request_recv(int sock, hearth_buf *in, int *conn_fd) HEARTH_MUST_CHECK;

/**
 * The parent's side: send the first byte of @p data with @p conn_fd as
 * SCM_RIGHTS on @p sock; *@p sent is 1 on success (the caller sends the rest
 * with ordinary writes). A non-blocking socket may return HEARTH_ERR_BUSY
 * (nothing sent; wait for POLLOUT and retry).
 */
hearth_status hearth_fetch_request_send_fd(int sock, const uint8_t *data, size_t len, int conn_fd,
                                           size_t *sent) HEARTH_MUST_CHECK;

/** Outcome of one transfer, as the helper reports it. */
typedef struct {
    hearth_status status; /**< HEARTH_OK or the transfer's error */
    long http_code;       /**< last HTTP status (0: none) */
    uint64_t received;    /**< body bytes the helper sent as DATA */
    bool overflow;        /**< the server sent or announced more than max_bytes */
    bool retry_after;     /**< a 429/503 came with a valid Retry-After ... */
    uint32_t retry_after_s; /**< ... of this many seconds (<= HEARTH_FETCH_RETRY_AFTER_MAX_S) */
    bool retry_after_bad; /**< a 429/503 came with an invalid Retry-After (ignored) */
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
 * range, a code above 999, unknown flags, both Retry-After flags at once
 * and a Retry-After above HEARTH_FETCH_RETRY_AFTER_MAX_S (HEARTH_ERR_IO). The error text
 * is made printable ('?' for anything outside 0x20..0x7e) so a hostile
 * helper cannot inject control characters into logs.
 */
hearth_status hearth_fetch_result_decode(const uint8_t *p, size_t n,
                                         hearth_fetch_result *r) HEARTH_MUST_CHECK;

/**
 * Parse an HTTP-date (RFC 9110 section 5.6.7: IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994"
 * forms) of @p n bytes into seconds since the epoch. Strict: ranges of
 * every field checked, nothing else accepted (HEARTH_ERR_INVALID).
 */
hearth_status hearth_http_date_parse(const char *v, size_t n, int64_t *t) HEARTH_MUST_CHECK;

/**
 * Parse a Retry-After field value of @p n bytes (surrounding spaces and
 * tabs allowed): delta-seconds (1*DIGIT) or an HTTP-date, which is taken
 * relative to @p now (the response's Date when it had a valid one, else
 * the local clock; a date at or before @p now is 0). The result is capped
 * at HEARTH_FETCH_RETRY_AFTER_MAX_S (a longer or overflowing value gives
 * the cap). Anything else -- empty, a sign, a fraction, trailing bytes, a
 * malformed date, more than HEARTH_FETCH_HTTP_DATE_MAX bytes -- is
 * HEARTH_ERR_INVALID and *@p out_s is left 0.
 */
hearth_status hearth_http_retry_after_parse(const char *v, size_t n, int64_t now,
                                            uint32_t *out_s) HEARTH_MUST_CHECK;

/**
 * The wait a 429/503 answer asks for: its Retry-After value (@p ra, @p ra_n
 * bytes), an HTTP-date taken relative to the answer's own Date (@p date,
 * @p date_n bytes; NULL: none) when that is a valid HTTP-date (a client
 * whose clock is off still waits as long as the server meant), else to the
 * local clock. HEARTH_ERR_INVALID (and *@p out_s 0) for a value
 * hearth_http_retry_after_parse() refuses. Shared by hearth-fetch and the
 * enrolment client.
 */
hearth_status hearth_http_retry_hint(const char *ra, size_t ra_n, const char *date, size_t date_n,
                                     uint32_t *out_s) HEARTH_MUST_CHECK;

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
