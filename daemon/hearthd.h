/*
 * hearthd internals: TLS context, HTTPS server (libevent evhttp over OpenSSL
 * bufferevents) and the worker pool that keeps password hashing off the event
 * loop. Used by runtime.c, tls.c and the server's files (server_internal.h).
 */
#ifndef HEARTHD_H
#define HEARTHD_H

#include <openssl/ssl.h>

#include "hearth/api.h"
#include "hearth/auth.h"
#include "hearth/identity.h"
#include "hearth/sandbox.h"
#include "hearth/updater.h"

/* Limits (docs/api.md explains each). */
#define HEARTHD_MAX_CONNS 64          /* simultaneous connections; oldest idle evicted beyond */
#define HEARTHD_MAX_HEADERS (8 * 1024) /* request line + headers, bytes */
#define HEARTHD_TIMEOUT_S 10          /* idle/read/write timeout per connection */
#define HEARTHD_REQUEST_DEADLINE_S 10 /* a full request must arrive within this */
#define HEARTHD_REQS_PER_CONN 1000    /* keep-alive requests before the server closes */
#define HEARTHD_WORKERS 2             /* password-hashing threads */
#define HEARTHD_QUEUE_MAX 8           /* queued slow requests; beyond: 503 */
#define HEARTHD_BUSY_RETRY_S 2        /* Retry-After for 503 */

/* Streaming upload of update bundles (upload.c, docs/api.md). */
#define HEARTHD_UPLOAD_WINDOW_S 10          /* progress is checked every window ... */
#define HEARTHD_UPLOAD_MIN_RATE (16 * 1024) /* ... and must average this, bytes/s */
#define HEARTHD_LINGER_BYTES (8 * 1024 * 1024) /* discarded after a direct answer, at most:
                                                  * more than loopback/LAN socket buffers hold
                                                  * in flight, or the close resets the answer */
#define HEARTHD_LINGER_MS 1000              /* the client gets this long to read it */
#define HEARTHD_LINGER_TICK_MS 100
#define HEARTHD_EXIT_GRACE_S 5              /* SIGTERM waits this long for an upload reply */

/**
 * Build the server TLS context: TLS 1.2 minimum, TLS 1.3 default suites,
 * TLS 1.2 restricted to ECDHE-ECDSA AEAD suites, no compression, no
 * renegotiation; device certificate from @p dev and the private key from the
 * secure store (the DER copy is wiped).
 */
hearth_status hearthd_tls_ctx(hearth_device *dev, SSL_CTX **out) HEARTH_MUST_CHECK;

/**
 * Confine the running device program (daemon/sandbox.c, docs/sandbox.md):
 * Landlock to its own paths (and @p extra: the --port-option files'
 * directories) and TCP ports, then its seccomp allow-list.
 * Call once, from the thread that starts every other, before any starts.
 */
hearth_status hearthd_sandbox_apply(const char *prog, const char *state,
                                    const hearth_sandbox_path *extra, size_t nextra,
                                    unsigned https_port) HEARTH_MUST_CHECK;

typedef struct hearthd_server hearthd_server;

/**
 * Make libevent allocate through hearth_wipe_malloc/realloc/free (util.h),
 * so every buffer it frees -- decrypted request bytes in bufferevent and
 * evhttp buffers, the input filter's withheld bytes, header values with
 * bearer tokens -- is wiped first. Must run before any other libevent call.
 */
void hearthd_server_memory_init(void);

/**
 * Bind @p listen ("127.0.0.1:8443"; port 0 picks a free one) and prepare the
 * HTTPS server. *port receives the bound port.
 */
hearth_status hearthd_server_create(SSL_CTX *ctx, hearth_api *api, const char *listen,
                                    hearthd_server **out, unsigned *port) HEARTH_MUST_CHECK;
/**
 * Enable the streaming upload of update bundles: POST /api/v1/updates/upload
 * is authenticated with @p auth before its body is read and streamed into
 * @p upd (NULL: the route answers 503). Without this call every upload is
 * refused (409/503) before its body is read.
 */
void hearthd_server_set_upload(hearthd_server *s, hearth_auth *auth, hearth_updater *upd);
/** Start the worker threads (after any fork). */
hearth_status hearthd_server_start_workers(hearthd_server *s) HEARTH_MUST_CHECK;
/** Run until SIGTERM/SIGINT. */
hearth_status hearthd_server_run(hearthd_server *s) HEARTH_MUST_CHECK;
/** Stop workers, close connections, free. NULL allowed. */
void hearthd_server_free(hearthd_server *s);

#endif
