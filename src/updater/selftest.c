/* Post-update self-test and confirmation (5.3-4: an update that fails does
 * not leave the device unusable). The new software confirms itself only
 * after proving the functions a user depends on work: the secure store
 * reads, the HTTPS API completes a verified TLS handshake, and every
 * registered application's own self-test passes (hearth/app.h, e.g. "the
 * control loop is ticking"). Without confirmation hearth-boot reverts to the
 * previous slot (attempts / deadline: docs/boot.md, docs/updates.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "hearth/identity.h"
#include "hearth/layout.h"
#include "hearth/slots.h"
#include "hearth/updater.h"
#include "hearth/util.h"

static hearth_status check_store(const hearth_update_selftest *t)
{
    if (t->store == NULL) return hearth_err(HEARTH_ERR_STATE, "self-test: no store");
    uint8_t buf[4096];
    size_t len = 0;
    if (t->store_lock != NULL) pthread_mutex_lock(t->store_lock);
    hearth_status st = hearth_store_get(t->store, HEARTH_REC_DEVICE_INFO, buf, sizeof buf, &len);
    if (t->store_lock != NULL) pthread_mutex_unlock(t->store_lock);
    hearth_memzero(buf, sizeof buf);
    if (st != HEARTH_OK) return hearth_err(st, "self-test: store record unreadable");
    return HEARTH_OK;
}

/* A full TLS handshake with the running listener, the certificate verified
 * against the manufacturer CA for 127.0.0.1. */
static hearth_status check_tls(const char *state_dir, int port, uint32_t timeout_ms)
{
    char ca[4096];
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_CA_CRT, ca, sizeof ca));
    hearth_status st = HEARTH_OK;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int fd = -1;
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        st = hearth_err(HEARTH_ERR_CRYPTO, "self-test: TLS context");
        goto done;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        st = hearth_err(HEARTH_ERR_IO, "self-test: socket: %s", strerror(errno));
        goto done;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        st = hearth_err(HEARTH_ERR_IO, "self-test: HTTPS listener on port %d: %s", port, strerror(errno));
        goto done;
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1") != 1) {
        st = hearth_err(HEARTH_ERR_CRYPTO, "self-test: TLS session");
        goto done;
    }
    if (SSL_connect(ssl) != 1) {
        st = hearth_err(HEARTH_ERR_CRYPTO, "self-test: TLS handshake failed (verify result %ld)",
                        SSL_get_verify_result(ssl));
        goto done;
    }
    (void)SSL_shutdown(ssl);
done:
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0) close(fd);
    SSL_CTX_free(ctx);
    return st;
}

hearth_status hearth_updater_confirm_if_pending(const char *state_dir, const hearth_update_selftest *t,
                                                bool *confirmed)
{
    HEARTH_ENSURE(state_dir != NULL && t != NULL && confirmed != NULL, HEARTH_ERR_INVALID);
    *confirmed = false;
    /* No boot state: not started by hearth-boot (development run); do not
     * touch the root of trust or create slot directories for nothing. */
    char bsp[4096];
    HEARTH_GUARD(hearth_layout_path(state_dir, HEARTH_LAYOUT_BOOT_STATE, bsp, sizeof bsp));
    struct stat sb;
    if (stat(bsp, &sb) != 0) return HEARTH_OK;
    hearth_slots *s = NULL;
    HEARTH_GUARD(hearth_slots_open(state_dir, &s));
    hearth_boot_state bs;
    hearth_status st = hearth_slots_read(s, &bs);
    if (st == HEARTH_ERR_NOT_FOUND) {
        hearth_slots_close(s);
        hearth_err_clear();
        return HEARTH_OK; /* no slots in use (development run) */
    }
    if (st != HEARTH_OK || bs.pending == HEARTH_SLOT_NONE || bs.booted != bs.pending) {
        hearth_slots_close(s);
        return st;
    }
    const char *ver = bs.slot[bs.pending].version;
    uint32_t tmo = t->timeout_ms > 0 ? t->timeout_ms : 5000;
    hearth_fault_point("update.confirm.selftest");
    st = check_store(t);
    if (st == HEARTH_OK && t->https_port > 0) st = check_tls(state_dir, t->https_port, tmo);
    if (st == HEARTH_OK) st = hearth_apps_selftest(t->apps, tmo);
    if (st != HEARTH_OK) {
        /* Not confirmed: hearth-boot reverts. Tell the administrator why. */
        hearth_seclog(HEARTH_SEV_ALERT, "update_selftest_failed", "reason", hearth_err_msg(),
                      "version", ver, NULL);
        hearth_slots_close(s);
        return st;
    }
    hearth_fault_point("update.confirm.before");
    st = hearth_slots_confirm(s, bs.pending);
    hearth_fault_point("update.confirm.after");
    if (st == HEARTH_OK) {
        *confirmed = true;
        hearth_seclog(HEARTH_SEV_INFO, "update_confirmed", "slot", hearth_slot_name(bs.pending),
                      "version", ver, NULL);
    }
    hearth_slots_close(s);
    return st;
}
