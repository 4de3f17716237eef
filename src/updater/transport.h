/* Internal: HTTPS client for the update repository, mutually authenticated
 * and pinned to the manufacturer CA (EN 303 645 5.3-10, 5.5-1). Not part of
 * the public API; used by session.c (the updater's repository session) and
 * the unit tests.
 *
 * Process separation (EN 303 645 5.6-6, 5.6-7; docs/architecture.md "The
 * update transfer"): hearthd resolves the repository's name, connects and
 * terminates TLS itself (tls_client.h: the device key never leaves
 * hearthd), and relays the plaintext (relay.h) over a socketpair to the
 * small helper program hearth-fetch (fetch/hearth_fetch.c), the only
 * program that links libcurl and parses the repository's HTTP. The helper
 * is spawned per transfer (default) or, with a fetch socket configured,
 * started by systemd per connection as its own user; either way it gets the
 * request on its stdin with its end of the plaintext connection as
 * SCM_RIGHTS, and sends the body back as frames on its stdout. The wire
 * protocol both sides speak is public: include/hearth/fetch_proto.h. */
#ifndef HEARTH_UPDATER_TRANSPORT_H
#define HEARTH_UPDATER_TRANSPORT_H

#include <openssl/ssl.h>

#include "hearth/common.h"
#include "hearth/fetch_proto.h"
#include "hearth/util.h"
#include "relay.h"

/** Parameters of one repository connection. Every pointer is borrowed. */
typedef struct {
    SSL_CTX *ctx;              /**< client context: manufacturer CA, device certificate
                                *   and key (hearth_tls_client_ctx_new()) */
    const char *pinned_pubkey; /**< optional pin (curl CURLOPT_PINNEDPUBLICKEY syntax), NULL: none */
    const char *fetch_socket;  /**< unix socket where hearth-fetch is started per
                                *   connection; NULL: spawn hearth-fetch */
    long connect_timeout_s;    /**< resolve + connect + TLS handshake bound */
    long stall_timeout_s;      /**< abort when < 1 byte/s for this long */
    bool (*should_abort)(void *arg); /**< polled during transfers (shutdown), may be NULL */
    void *abort_arg;
} upd_tls;

/**
 * Streaming sink: receives the body as it arrives. A non-OK return aborts the
 * transfer at once (tampered chunk, disk error); that status is returned by
 * upd_http_stream().
 */
typedef hearth_status (*upd_sink_fn)(const uint8_t *data, size_t n, void *arg);

/** Outcome details of a transfer, for logs and tests. */
typedef struct {
    long http_code;       /**< last HTTP status (0: none) */
    uint64_t received;    /**< body bytes handed to the sink */
    bool overflow;        /**< the server sent (or announced) more than allowed */
    bool tls_failed;      /**< hearthd's TLS handshake / peer verification failed */
    bool retry_after;     /**< a 429/503 said when to come back ... */
    uint32_t retry_after_s; /**< ... in this many seconds (<= HEARTH_FETCH_RETRY_AFTER_MAX_S) */
    bool retry_after_bad; /**< a 429/503 carried an invalid Retry-After (ignored) */
} upd_http_result;

/**
 * One-time initialisation (thread-safe, idempotent). Kept for the callers'
 * sake: libcurl is initialised in hearth-fetch, OpenSSL initialises itself,
 * so there is nothing to do (it does not require hearth-fetch to exist: an
 * updater without a repository never runs it).
 */
hearth_status upd_http_global_init(void) HEARTH_MUST_CHECK;

/* ------------------------------------------------ the hearth-fetch helper */

/* The request record and frames exchanged with hearth-fetch, their bounds
 * and codecs: include/hearth/fetch_proto.h (shared with fetch/). */

/**
 * Set the hearth-fetch program used by upd_http_stream() (absolute path,
 * copied); NULL restores the default search. Resolution order when unset:
 * $HEARTH_FETCH_PROGRAM, then the install location
 * (<libexecdir>/hearth/hearth-fetch), then -- in development builds
 * (CMake HEARTH_FETCH_BUILD_TREE=ON) -- the build tree's copy. Never a path
 * relative to the running program (see transport.c for why).
 */
hearth_status upd_http_set_fetch_program(const char *path) HEARTH_MUST_CHECK;

/**
 * Resolve the hearth-fetch program as upd_http_stream() would, into
 * @p out (for diagnostics and tests). HEARTH_ERR_STATE when none is
 * executable; an explicitly configured path (setter or environment) that is
 * not executable is an error, never silently replaced.
 */
hearth_status upd_http_fetch_program(char *out, size_t cap) HEARTH_MUST_CHECK;

/**
 * GET @p url from byte @p offset (Range request when > 0; the server must
 * answer 206 from exactly that offset) and stream at most @p max_bytes body
 * bytes into @p sink. A server that announces or sends more aborts with
 * HEARTH_ERR_TOO_LARGE as soon as it is detected (endless-data attack).
 * Anything but 200/206 is HEARTH_ERR_NOT_FOUND (404) or HEARTH_ERR_IO; a
 * refused TLS handshake or peer sets res->tls_failed.
 *
 * Connects and completes the TLS handshake in this process, then runs the
 * HTTP exchange in a hearth-fetch helper over the plaintext relay
 * (upd_fetch_run()).
 */
hearth_status upd_http_stream(const upd_tls *tls, const char *url, uint64_t offset,
                              uint64_t max_bytes, upd_sink_fn sink, void *arg,
                              upd_http_result *res) HEARTH_MUST_CHECK;

/**
 * The helper half of upd_http_stream(): start hearth-fetch (spawned, or by
 * connecting to tls->fetch_socket), hand it the request with @p helper_end
 * (the helper's end of the plaintext connection; always closed here), pump
 * @p relay (NULL: none, for tests) while waiting, and read its frames as
 * hostile input. A spawned helper is always reaped before this returns; a
 * sink failure, tls->should_abort(), a stalled or misbehaving helper all
 * end it at once. The body is counted here and the sink never gets more
 * than @p max_bytes, whatever the helper claims.
 */
hearth_status upd_fetch_run(const upd_tls *tls, upd_relay *relay, int helper_end, const char *url,
                            uint64_t offset, uint64_t max_bytes, upd_sink_fn sink, void *arg,
                            upd_http_result *res) HEARTH_MUST_CHECK;

#endif
