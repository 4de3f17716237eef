/* The updater's session with the update repository: the TLS client
 * context (manufacturer CA, device certificate, and the device key as an
 * OpenSSL key object that stays in hearthd), the pin, the hearth-fetch
 * socket if one is configured, timeouts, the abort hook that stops a
 * transfer when the updater shuts down, and bounded fetches of small
 * objects (key set, manifest prefix) into memory. */
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/tls_client.h"
#include "tls_client.h"
#include "updater_internal.h"

static bool should_abort(void *arg)
{
    return upd_stopping(arg);
}

hearth_status upd_session_open(hearth_updater *u, upd_session *t)
{
    memset(t, 0, sizeof *t);
    uint8_t der[UPD_KEY_DER_MAX];
    size_t dlen = 0;
    upd_store_lock(u);
    hearth_status st = hearth_device_private_key_der(u->dev, der, sizeof der, &dlen);
    upd_store_unlock(u);
    if (st == HEARTH_OK)
        st = hearth_tls_client_ctx_new("repository", hearth_device_ca_path(u->dev), hearth_device_cert_path(u->dev), der, dlen,
                             &t->tls.ctx);
    hearth_memzero(der, sizeof der);
    HEARTH_GUARD(st);
    t->tls.pinned_pubkey = u->pinned_pubkey;
    t->tls.fetch_socket = u->fetch_socket;
    t->tls.connect_timeout_s = 20;
    t->tls.stall_timeout_s = (long)u->cfg.stall_timeout_s;
    t->tls.should_abort = should_abort;
    t->tls.abort_arg = u;
    return HEARTH_OK;
}

void upd_session_close(upd_session *t)
{
    SSL_CTX_free(t->tls.ctx); /* frees (and OpenSSL wipes) the key object */
    memset(t, 0, sizeof *t);
}

/* Fetch a small object into memory, bounded by @p max. */
static hearth_status buf_sink(const uint8_t *data, size_t n, void *arg)
{
    return hearth_buf_append(arg, data, n);
}

hearth_status upd_fetch_small(const upd_session *t, const char *url, size_t max, hearth_buf *out,
                              upd_http_result *hr)
{
    hearth_buf_init(out, max);
    hearth_status st = upd_http_stream(&t->tls, url, 0, max, buf_sink, out, hr);
    if (st != HEARTH_OK) hearth_buf_free(out);
    return st;
}
