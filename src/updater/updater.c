/* The updater: scheduled checks, verified download, install into the
 * inactive slot (EN 303 645 5.3-1..5.3-10, 5.5-1).
 *
 * Why this order: the repository is not trusted, the TLS channel is defence
 * in depth, so every decision is taken on signed data only -- first the key
 * set (root-signed, never older than the newest accepted), then the signed
 * manifest prefix, and only then are payload bytes requested, each chunk
 * checked against the manifest as it arrives and again while it is written
 * into the slot. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hearth/layout.h"
#include "transport.h"
#include "updater_internal.h"

void hearth_updater_config_default(hearth_updater_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_bundle_size = HEARTH_UPDATE_MAX_BUNDLE_DEFAULT;
    c->first_delay_s = 30;
    c->first_window_s = 300;
    c->period_s = HEARTH_UPDATE_PERIOD_DEFAULT_S;
    c->download_attempts = 3;
    c->stall_timeout_s = 30;
}

/* ------------------------------------------------------------ helpers */

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void store_lock(hearth_updater *u)
{
    if (u->cfg.store_lock != NULL) pthread_mutex_lock(u->cfg.store_lock);
}

static void store_unlock(hearth_updater *u)
{
    if (u->cfg.store_lock != NULL) pthread_mutex_unlock(u->cfg.store_lock);
}

void upd_set_state(hearth_updater *u, hearth_update_state s)
{
    pthread_mutex_lock(&u->mu);
    u->state = s;
    pthread_mutex_unlock(&u->mu);
}

hearth_status upd_op_begin(hearth_updater *u, bool wait)
{
    pthread_mutex_lock(&u->mu);
    while (u->busy && wait) pthread_cond_wait(&u->cv, &u->mu);
    if (u->busy) {
        pthread_mutex_unlock(&u->mu);
        return hearth_err(HEARTH_ERR_BUSY, "an update operation is already running");
    }
    u->busy = true;
    pthread_mutex_unlock(&u->mu);
    return HEARTH_OK;
}

void upd_op_end(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    u->busy = false;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    if (cap == 0) return;
    size_t n = 0;
    /* Byte loop rather than strnlen: sources are often shorter arrays. */
    while (src != NULL && n + 1 < cap && src[n] != '\0') {
        dst[n] = src[n];
        n++;
    }
    dst[n] = '\0';
}

void upd_event_log(hearth_updater *u, hearth_severity sev, const char *event,
                   const char *reason, const char *version)
{
    hearth_seclog(sev, event, "reason", reason != NULL ? reason : "", "version",
                  version != NULL ? version : "", NULL);
    pthread_mutex_lock(&u->mu);
    upd_event *e = &u->events[u->ev_head];
    e->ts = hearth_time_now();
    e->sev = sev;
    copy_str(e->event, sizeof e->event, event);
    copy_str(e->reason, sizeof e->reason, reason);
    copy_str(e->version, sizeof e->version, version);
    u->ev_head = (u->ev_head + 1) % HEARTH_UPDATE_EVENTS_MAX;
    if (u->n_events < HEARTH_UPDATE_EVENTS_MAX) u->n_events++;
    pthread_mutex_unlock(&u->mu);
}

hearth_status upd_reject(hearth_updater *u, hearth_update_result *res, hearth_status st,
                         const char *what, const char *version)
{
    char reason[sizeof res->reason];
    const char *msg = hearth_err_msg();
    snprintf(reason, sizeof reason, "%s: %s%s%s", what, hearth_status_name(st),
             msg[0] ? ": " : "", msg);
    /* Forged or corrupted signed data is an authenticity/integrity alarm
     * (5.7-2); policy refusals (rollback, expiry, wrong device) warnings. */
    hearth_severity sev =
        (st == HEARTH_ERR_TAMPERED || st == HEARTH_ERR_REVOKED) ? HEARTH_SEV_ALERT : HEARTH_SEV_WARNING;
    upd_event_log(u, sev, "update_rejected", reason, version);
    res->outcome = HEARTH_UPD_OUT_REJECTED;
    res->status = st;
    copy_str(res->reason, sizeof res->reason, reason);
    return st;
}

static hearth_status upd_fail(hearth_update_result *res, hearth_status st, const char *what)
{
    const char *msg = hearth_err_msg();
    res->outcome = HEARTH_UPD_OUT_FAILED;
    res->status = st;
    snprintf(res->reason, sizeof res->reason, "%s: %s%s%s", what, hearth_status_name(st),
             msg[0] ? ": " : "", msg);
    return st;
}

void upd_fill_info(const hearth_manifest *m, uint64_t total, hearth_update_info *info)
{
    memset(info, 0, sizeof *info);
    info->present = true;
    copy_str(info->sw_version, sizeof info->sw_version, m->sw_version);
    info->security_version = m->security_version;
    info->size = total;
    info->expires = m->expires;
    info->disruptive = m->disruptive;
    info->downtime_s = m->downtime_s;
    copy_str(info->notes, sizeof info->notes, m->notes);
    copy_str(info->mitigates, sizeof info->mitigates, m->mitigates);
}

/* ----------------------------------------------------------- create */

static hearth_status load_policy(hearth_updater *u)
{
    uint8_t rec[32];
    size_t len = 0;
    u->policy.automatic = true; /* 5.3-4 / 5.3-6: on in the initialised state */
    u->policy.postpone_until = 0;
    store_lock(u);
    hearth_status st = hearth_store_get(hearth_device_store(u->dev), HEARTH_REC_UPDATE_POLICY, rec,
                                        sizeof rec, &len);
    store_unlock(u);
    if (st == HEARTH_ERR_NOT_FOUND) return HEARTH_OK;
    HEARTH_GUARD(st);
    return hearth_update_policy_decode(rec, len, &u->policy);
}

static hearth_status default_path(char *dst, size_t cap, const char *given, const char *dir,
                                  hearth_layout_item item)
{
    if (given != NULL) {
        int l = snprintf(dst, cap, "%s", given);
        HEARTH_ENSURE(l >= 0 && (size_t)l < cap, HEARTH_ERR_TOO_LARGE);
        return HEARTH_OK;
    }
    return hearth_layout_path(dir, item, dst, cap);
}

hearth_status hearth_updater_create(hearth_device *dev, const hearth_updater_config *cfg,
                                    hearth_updater **out)
{
    HEARTH_ENSURE(dev != NULL && cfg != NULL && out != NULL, HEARTH_ERR_INVALID);
    *out = NULL;
    if (cfg->repo_url != NULL && strncmp(cfg->repo_url, "https://", 8) != 0)
        return hearth_err(HEARTH_ERR_POLICY, "update repository must be an https:// URL");
    if (cfg->period_s == 0 || cfg->max_bundle_size == 0 || cfg->download_attempts == 0)
        return hearth_err(HEARTH_ERR_INVALID, "updater: period, size bound and attempts must be > 0");
    HEARTH_GUARD(upd_http_global_init());

    hearth_updater *u = calloc(1, sizeof *u);
    if (u == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    hearth_status st = HEARTH_OK;
    pthread_mutex_init(&u->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->cv, &ca);
    pthread_condattr_destroy(&ca);
    u->dev = dev;
    u->cfg = *cfg;
    const char *sd = hearth_device_dir(dev);
    copy_str(u->state_dir, sizeof u->state_dir, sd);
    u->repo_url = dup_or_null(cfg->repo_url);
    u->pinned_pubkey = dup_or_null(cfg->pinned_pubkey);
    if ((cfg->repo_url != NULL && u->repo_url == NULL) ||
        (cfg->pinned_pubkey != NULL && u->pinned_pubkey == NULL)) {
        st = hearth_err(HEARTH_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* Strip a trailing '/' so URLs are built one way. */
    if (u->repo_url != NULL) {
        size_t n = strlen(u->repo_url);
        while (n > 8 && u->repo_url[n - 1] == '/') u->repo_url[--n] = '\0';
    }
    /* The trust anchor is never in the writable state: default from the
     * build (hearth_trust_default_dir, read-only system configuration). */
    HEARTH_GUARD_GOTO(st, default_path(u->trust_dir, sizeof u->trust_dir,
                                       cfg->trust_dir != NULL ? cfg->trust_dir
                                                              : hearth_trust_default_dir(),
                                       sd, HEARTH_LAYOUT_TRUST), fail);
    HEARTH_GUARD_GOTO(st, default_path(u->keyset_path, sizeof u->keyset_path, cfg->keyset_path, sd,
                                       HEARTH_LAYOUT_KEYSET), fail);
    HEARTH_GUARD_GOTO(st, default_path(u->download_dir, sizeof u->download_dir, cfg->download_dir, sd,
                                       HEARTH_LAYOUT_UPDATES), fail);
    u->cfg.repo_url = u->repo_url;
    u->cfg.pinned_pubkey = u->pinned_pubkey;
    u->cfg.trust_dir = u->trust_dir;
    u->cfg.keyset_path = u->keyset_path;
    u->cfg.download_dir = u->download_dir;
    HEARTH_GUARD_GOTO(st, hearth_fs_mkdirs(u->download_dir, 0700), fail);
    HEARTH_GUARD_GOTO(st, hearth_slots_open(sd, &u->slots), fail);
    HEARTH_GUARD_GOTO(st, load_policy(u), fail);
    u->state = HEARTH_UPD_IDLE;
    /* A pending slot not yet launched means a restart is still due. */
    int active, pending, booted;
    uint64_t secver;
    char ver[HEARTH_SLOTS_VERSION_MAX + 1];
    if (upd_installed(u, &secver, ver, sizeof ver, &active, &pending, &booted) == HEARTH_OK &&
        pending != HEARTH_SLOT_NONE && booted != pending) {
        u->restart_required = true;
        u->state = HEARTH_UPD_RESTART_REQUIRED;
    }
    hearth_err_clear();
    *out = u;
    return HEARTH_OK;
fail:
    hearth_updater_destroy(u);
    return st;
}

void hearth_updater_destroy(hearth_updater *u)
{
    if (u == NULL) return;
    hearth_updater_stop(u);
    hearth_slots_close(u->slots);
    free(u->repo_url);
    free(u->pinned_pubkey);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

/* ------------------------------------------------------------ policy */

hearth_update_policy hearth_updater_policy(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    hearth_update_policy p = u->policy;
    pthread_mutex_unlock(&u->mu);
    return p;
}

hearth_status hearth_updater_set_policy(hearth_updater *u, bool automatic, uint32_t postpone_hours,
                                        const char *who)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    if (postpone_hours > HEARTH_UPDATE_POSTPONE_MAX_HOURS)
        return hearth_err(HEARTH_ERR_RANGE, "postpone_hours must be 0..%d",
                          HEARTH_UPDATE_POSTPONE_MAX_HOURS);
    hearth_update_policy p = {.automatic = automatic,
                              .postpone_until = postpone_hours > 0
                                                    ? hearth_time_now() + (int64_t)postpone_hours * 3600
                                                    : 0};
    uint8_t rec[16];
    size_t len = 0;
    HEARTH_GUARD(hearth_update_policy_encode(&p, rec, &len));
    store_lock(u);
    hearth_status st = hearth_store_put(hearth_device_store(u->dev), HEARTH_REC_UPDATE_POLICY, rec, len);
    store_unlock(u);
    HEARTH_GUARD(st);
    pthread_mutex_lock(&u->mu);
    u->policy = p;
    /* Re-enabling automatic updates with one waiting: act on it now. */
    if (automatic && postpone_hours == 0 && u->state == HEARTH_UPD_AVAILABLE) u->req_check = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    char detail[96];
    snprintf(detail, sizeof detail, "automatic=%s postpone_hours=%u", automatic ? "on" : "off",
             postpone_hours);
    hearth_seclog(HEARTH_SEV_INFO, "update_policy_changed", "user", who != NULL ? who : "",
                  "policy", detail, NULL);
    return HEARTH_OK;
}

static bool policy_allows_install(hearth_updater *u)
{
    hearth_update_policy p = hearth_updater_policy(u);
    return p.automatic && (p.postpone_until == 0 || hearth_time_now() >= p.postpone_until);
}

bool hearth_updater_restart_required(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    bool r = u->restart_required;
    pthread_mutex_unlock(&u->mu);
    return r;
}

/* ------------------------------------------------------ installed facts */

hearth_status upd_installed(hearth_updater *u, uint64_t *secver, char *version, size_t cap,
                            int *active, int *pending, int *booted)
{
    /* The boot state together with the anti-rollback floor record (TPM NV
     * on a TPM device), so a deleted or replayed boot/state never lowers
     * the version an update is compared with. */
    hearth_boot_state bs;
    hearth_slots_load_info info;
    hearth_status st = hearth_slots_load(u->slots, &bs, &info);
    if (info.state == HEARTH_ERR_NOT_FOUND && info.record == HEARTH_ERR_NOT_FOUND) {
        *secver = 0;
        copy_str(version, cap, "");
        *active = *pending = *booted = HEARTH_SLOT_NONE;
        return HEARTH_OK;
    }
    HEARTH_GUARD(st);
    if (info.state != HEARTH_OK) return hearth_err(info.state, "boot state: %s", info.state_why);
    *active = bs.active;
    *pending = bs.pending;
    *booted = bs.booted;
    hearth_slots_installed(&bs, secver, version, cap);
    return HEARTH_OK;
}

hearth_status upd_check_policy(hearth_updater *u, const hearth_bundle *b, hearth_update_result *res)
{
    uint64_t secver;
    char ver[HEARTH_SLOTS_VERSION_MAX + 1];
    int active, pending, booted;
    hearth_status st = upd_installed(u, &secver, ver, sizeof ver, &active, &pending, &booted);
    if (st != HEARTH_OK) return upd_reject(u, res, st, "boot state unreadable", NULL);
    const hearth_manifest *m = hearth_bundle_manifest(b);
    upd_fill_info(m, hearth_bundle_total_size(b), &res->info);
    hearth_bundle_policy pol = {
        .model = hearth_device_model(u->dev),
        .hw_id = hearth_device_hw_id(u->dev),
        .installed_security_version = secver,
        .installed_sw_version = ver[0] ? ver : NULL,
        .now = 0,
        .ignore_expiry = false,
    };
    return hearth_bundle_check_policy(b, &pol);
}

/* --------------------------------------------------------- TLS context */

static bool should_abort(void *arg)
{
    hearth_updater *u = arg;
    pthread_mutex_lock(&u->mu);
    bool s = u->stopping;
    pthread_mutex_unlock(&u->mu);
    return s;
}

typedef struct {
    upd_tls tls;
    char *pem;
    size_t pem_cap;
} tls_ctx;

static hearth_status tls_open(hearth_updater *u, tls_ctx *t)
{
    memset(t, 0, sizeof *t);
    uint8_t der[UPD_KEY_DER_MAX];
    size_t dlen = 0;
    store_lock(u);
    hearth_status st = hearth_device_private_key_der(u->dev, der, sizeof der, &dlen);
    store_unlock(u);
    if (st != HEARTH_OK) {
        hearth_memzero(der, sizeof der);
        return st;
    }
    t->pem_cap = upd_pem_len(dlen);
    t->pem = malloc(t->pem_cap);
    if (t->pem == NULL) {
        hearth_memzero(der, sizeof der);
        return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    }
    size_t plen = 0;
    st = upd_der_to_pem(der, dlen, t->pem, t->pem_cap, &plen);
    hearth_memzero(der, sizeof der);
    if (st != HEARTH_OK) {
        hearth_memzero(t->pem, t->pem_cap);
        free(t->pem);
        t->pem = NULL;
        return st;
    }
    t->tls.ca_path = hearth_device_ca_path(u->dev);
    t->tls.cert_path = hearth_device_cert_path(u->dev);
    t->tls.key_pem = t->pem;
    t->tls.key_pem_len = plen;
    t->tls.pinned_pubkey = u->pinned_pubkey;
    t->tls.connect_timeout_s = 20;
    t->tls.stall_timeout_s = (long)u->cfg.stall_timeout_s;
    t->tls.should_abort = should_abort;
    t->tls.abort_arg = u;
    return HEARTH_OK;
}

static void tls_close(tls_ctx *t)
{
    if (t->pem != NULL) {
        hearth_memzero(t->pem, t->pem_cap);
        free(t->pem);
    }
    memset(t, 0, sizeof *t);
}

/* Fetch a small object into memory, bounded by @p max. */
static hearth_status buf_sink(const uint8_t *data, size_t n, void *arg)
{
    return hearth_buf_append(arg, data, n);
}

static hearth_status fetch_small(hearth_updater *u, const tls_ctx *t, const char *url, size_t max,
                                 hearth_buf *out, upd_http_result *hr)
{
    (void)u;
    hearth_buf_init(out, max);
    hearth_status st = upd_http_stream(&t->tls, url, 0, max, buf_sink, out, hr);
    if (st != HEARTH_OK) hearth_buf_free(out);
    return st;
}

/* --------------------------------------------------------------- key set */

static hearth_status read_keyset_floor(hearth_updater *u, uint64_t *v)
{
    uint8_t rec[8];
    size_t len = 0;
    store_lock(u);
    hearth_status st = hearth_store_get(hearth_device_store(u->dev), HEARTH_REC_UPDATE_KEYSET_VERSION,
                                        rec, sizeof rec, &len);
    store_unlock(u);
    *v = 0;
    if (st == HEARTH_ERR_NOT_FOUND) return HEARTH_OK;
    HEARTH_GUARD(st);
    if (len != 8) return hearth_err(HEARTH_ERR_TAMPERED, "key-set version record malformed");
    *v = hearth_be64_get(rec);
    return HEARTH_OK;
}

static hearth_status write_keyset_floor(hearth_updater *u, uint64_t v)
{
    uint8_t rec[8];
    hearth_be64_put(rec, v);
    store_lock(u);
    hearth_status st = hearth_store_put(hearth_device_store(u->dev), HEARTH_REC_UPDATE_KEYSET_VERSION,
                                        rec, sizeof rec);
    store_unlock(u);
    return st;
}

/* hearth-boot's key-set floor (boot state, docs/boot.md): hearth-boot does
 * not open the store, so the floor it enforces lives in the authenticated
 * boot state. Only ever called with the version of a key set the device's
 * key set file already holds (file written first), so a power cut between
 * the writes leaves the boot floor at or below the file, never above it; a
 * lagging floor is caught up at the next check. No boot state yet (nothing
 * installed): nothing to raise, hearth-boot takes the floor from the file. */
static hearth_status raise_boot_keyset_floor(hearth_updater *u, uint64_t ver)
{
    if (u->slots == NULL) return HEARTH_OK;
    hearth_status st = hearth_slots_raise_keyset_floor(u->slots, ver, NULL);
    return st == HEARTH_ERR_NOT_FOUND ? HEARTH_OK : st;
}

/* True if the device's key set file verifies and is at least version @p ver. */
static bool local_keyset_current(hearth_updater *u, const hearth_trust *trust, uint64_t ver)
{
    hearth_keyset *ks = NULL;
    bool ok = hearth_keyset_load(u->keyset_path, trust, ver, 0, &ks) == HEARTH_OK;
    hearth_keyset_free(ks);
    return ok;
}

/* The key set to verify with. With a repository, its key set is fetched and
 * must verify against the trust anchor and be at least as new as the newest
 * accepted (rolled-back key set = rejected); a newer one replaces the local
 * copy: file first, then the floor in the store, then hearth-boot's floor in
 * the boot state. A same-version key set also replaces a local file that is
 * missing or no longer verifies at that version (e.g. put back by an
 * attacker), so both floors only ever describe a file the device has. */
static hearth_status keyset_with(hearth_updater *u, const tls_ctx *t, hearth_update_result *res,
                                 hearth_keyset **out)
{
    *out = NULL;
    hearth_trust *trust = NULL;
    hearth_status st = hearth_trust_load_dir(u->trust_dir, &trust);
    if (st != HEARTH_OK) return upd_reject(u, res, st, "trust anchor unusable", NULL);
    uint64_t floor = 0;
    st = read_keyset_floor(u, &floor);
    if (st != HEARTH_OK) {
        hearth_trust_free(trust);
        return upd_reject(u, res, st, "key-set version record", NULL);
    }
    if (t != NULL && u->repo_url != NULL) {
        char url[PATH_MAX];
        int l = snprintf(url, sizeof url, "%s/keyset.hks", u->repo_url);
        if (l < 0 || (size_t)l >= sizeof url) {
            hearth_trust_free(trust);
            return upd_fail(res, hearth_err(HEARTH_ERR_TOO_LARGE, "URL too long"), "key set");
        }
        hearth_buf kb;
        upd_http_result hr;
        st = fetch_small(u, t, url, HEARTH_KEYSET_MAX, &kb, &hr);
        hearth_fault_point("update.keyset.fetched");
        if (st == HEARTH_OK) {
            hearth_keyset *ks = NULL;
            st = hearth_keyset_parse(kb.data, kb.len, trust, floor, 0, &ks);
            if (st != HEARTH_OK) {
                hearth_buf_free(&kb);
                hearth_trust_free(trust);
                return upd_reject(u, res, st, "repository key set", NULL);
            }
            uint64_t ver = hearth_keyset_version(ks);
            bool newer = ver > floor;
            if (!newer) {
                /* Same version: only rewrite if the local file is missing,
                 * damaged or older. */
                newer = !local_keyset_current(u, trust, ver);
            }
            if (newer) {
                hearth_fault_point("update.keyset.persist");
                st = hearth_fs_write_atomic(u->keyset_path, kb.data, kb.len, 0644);
                if (st == HEARTH_OK && ver > floor) st = write_keyset_floor(u, ver);
                hearth_fault_point("update.keyset.persisted");
            }
            /* The file holds version ver now (written above, or verified):
             * raise the boot floor last. Also catches up a floor left behind
             * by a power cut after the store write. */
            if (st == HEARTH_OK) st = raise_boot_keyset_floor(u, ver);
            if (st != HEARTH_OK) {
                hearth_keyset_free(ks);
                hearth_buf_free(&kb);
                hearth_trust_free(trust);
                return upd_fail(res, st, "saving the key set");
            }
            if (ver > floor) {
                char vs[32];
                snprintf(vs, sizeof vs, "%llu", (unsigned long long)ver);
                upd_event_log(u, HEARTH_SEV_INFO, "update_keyset_accepted", "newer key set", vs);
            }
            hearth_buf_free(&kb);
            hearth_trust_free(trust);
            *out = ks;
            return HEARTH_OK;
        }
        if (st != HEARTH_ERR_NOT_FOUND) {
            hearth_trust_free(trust);
            if (hr.overflow) return upd_reject(u, res, HEARTH_ERR_TOO_LARGE, "repository key set", NULL);
            /* A server that fails TLS authentication against the
             * manufacturer CA is an impostor or a MITM: a security event. */
            if (hr.tls_failed) return upd_reject(u, res, HEARTH_ERR_AUTH, "repository TLS authentication", NULL);
            return upd_fail(res, st, "fetching the key set");
        }
        /* No key set published: use the one the device has. */
    }
    st = hearth_keyset_load(u->keyset_path, trust, floor, 0, out);
    hearth_trust_free(trust);
    if (st == HEARTH_ERR_NOT_FOUND) return upd_fail(res, st, "no key set on the device");
    if (st != HEARTH_OK) return upd_reject(u, res, st, "device key set", NULL);
    /* Verifying with the device's own file: it holds this version. */
    st = raise_boot_keyset_floor(u, hearth_keyset_version(*out));
    if (st != HEARTH_OK) {
        hearth_keyset_free(*out);
        *out = NULL;
        return upd_fail(res, st, "raising the boot key-set floor");
    }
    return HEARTH_OK;
}

hearth_status upd_load_keyset(hearth_updater *u, bool fetch, hearth_update_result *res,
                              hearth_keyset **out)
{
    if (!fetch) return keyset_with(u, NULL, res, out);
    tls_ctx t;
    hearth_status st = tls_open(u, &t);
    if (st != HEARTH_OK) return upd_fail(res, st, "device key");
    st = keyset_with(u, &t, res, out);
    tls_close(&t);
    return st;
}

/* ------------------------------------------------------------- download */

/* Version strings become file and URL names: only a safe alphabet. */
static bool safe_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '.') return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

typedef struct {
    hearth_stream *stream;
    int fd;
    uint64_t chunks;
    bool disk_error;
} dl_sink;

static hearth_status dl_write(const uint8_t *data, size_t n, void *arg)
{
    dl_sink *d = arg;
    /* Verify before the bytes are kept: a chunk that completes with a bad
     * digest fails here and the transfer stops at that chunk. */
    HEARTH_GUARD(hearth_stream_update(d->stream, data, n));
    hearth_status st = hearth_fd_write_all(d->fd, data, n, "staging file");
    if (st != HEARTH_OK) {
        d->disk_error = true;
        return st;
    }
    uint64_t c = hearth_stream_good_chunks(d->stream);
    for (; d->chunks < c; d->chunks++) hearth_fault_point("update.download.chunk");
    return HEARTH_OK;
}

/* Reposition the verifier and the staging file to the last verified
 * boundary (after an interruption or a bad chunk). */
static hearth_status rewind_to_good(const hearth_bundle *b, hearth_stream **s, int fd)
{
    uint64_t good = hearth_stream_good_offset(*s);
    if (good == 0 || hearth_stream_seek(*s, good) != HEARTH_OK) {
        hearth_stream_free(*s);
        *s = NULL;
        good = 0;
        HEARTH_GUARD(hearth_stream_new(b, s));
    }
    if (ftruncate(fd, (off_t)good) != 0 || lseek(fd, (off_t)good, SEEK_SET) < 0)
        return hearth_err(HEARTH_ERR_IO, "truncate staging file: %s", strerror(errno));
    return HEARTH_OK;
}

/* Re-verify what an earlier, interrupted download left behind, so a resume
 * starts after the last good chunk (nothing unverified is ever kept). */
static hearth_status resume_local(const hearth_bundle *b, hearth_stream **s, int fd)
{
    uint8_t buf[64 * 1024];
    off_t off = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof buf, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return hearth_err(HEARTH_ERR_IO, "read staging file: %s", strerror(errno));
        }
        if (r == 0) break;
        if (hearth_stream_update(*s, buf, (size_t)r) != HEARTH_OK) break;
        off += r;
    }
    return rewind_to_good(b, s, fd);
}

static void remove_stale(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".part") == 0 && strcmp(e->d_name, keep) != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static void sleep_interruptible(hearth_updater *u, uint32_t seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&u->mu);
    while (!u->stopping) {
        if (pthread_cond_timedwait(&u->cv, &u->mu, &ts) != 0) break;
    }
    pthread_mutex_unlock(&u->mu);
}

static bool stopping(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    bool s = u->stopping;
    pthread_mutex_unlock(&u->mu);
    return s;
}

static hearth_status download(hearth_updater *u, const tls_ctx *t, const hearth_bundle *b,
                              char *staged, size_t cap, hearth_update_result *res)
{
    const hearth_manifest *m = hearth_bundle_manifest(b);
    const char *ver = m->sw_version;
    if (!safe_name(ver))
        return upd_reject(u, res, hearth_err(HEARTH_ERR_INVALID, "unsafe characters"),
                          "software version string", NULL);
    char name[96];
    snprintf(name, sizeof name, "%s.hbu.part", ver);
    HEARTH_GUARD(hearth_path_join(staged, cap, u->download_dir, name));
    char url[PATH_MAX];
    int l = snprintf(url, sizeof url, "%s/%s/%s.hbu", u->repo_url, hearth_device_hw_id(u->dev), ver);
    if (l < 0 || (size_t)l >= sizeof url) return upd_fail(res, HEARTH_ERR_TOO_LARGE, "URL");
    remove_stale(u->download_dir, name);

    uint64_t total = hearth_bundle_total_size(b);
    int fd = open(staged, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return upd_fail(res, hearth_err(HEARTH_ERR_IO, "open %s: %s", staged, strerror(errno)),
                        "staging file");
    hearth_stream *s = NULL;
    hearth_status st = hearth_stream_new(b, &s);
    if (st == HEARTH_OK) st = resume_local(b, &s, fd);
    if (st != HEARTH_OK) {
        close(fd);
        hearth_stream_free(s);
        return upd_fail(res, st, "staging file");
    }
    upd_set_state(u, HEARTH_UPD_DOWNLOADING);
    hearth_fault_point("update.download.begin");
    bool complete = false;
    for (uint32_t attempt = 0; attempt < u->cfg.download_attempts && !stopping(u); attempt++) {
        uint64_t off = hearth_stream_good_offset(s);
        if (off >= total) {
            complete = true;
            break;
        }
        if (off > 0) res->resumed_from = off;
        res->attempts++;
        dl_sink d = {.stream = s, .fd = fd, .chunks = hearth_stream_good_chunks(s)};
        upd_http_result hr;
        st = upd_http_stream(&t->tls, url, off, total - off, dl_write, &d, &hr);
        res->bytes_downloaded += hr.received;
        if (st == HEARTH_OK) {
            complete = true;
            break;
        }
        hearth_status rw = rewind_to_good(b, &s, fd);
        if (st == HEARTH_ERR_TAMPERED || hr.overflow || st == HEARTH_ERR_TOO_LARGE) {
            /* An attack, not a glitch: stop at once; verified chunks are
             * kept so a later check resumes after the last good one. */
            char what[96];
            snprintf(what, sizeof what, "download stopped at offset %llu",
                     (unsigned long long)hearth_stream_good_offset(s));
            close(fd);
            hearth_stream_free(s);
            return upd_reject(u, res, hr.overflow ? HEARTH_ERR_TOO_LARGE : st, what, ver);
        }
        if (rw != HEARTH_OK || d.disk_error || hr.tls_failed) {
            close(fd);
            hearth_stream_free(s);
            return upd_fail(res, rw != HEARTH_OK ? rw : st, "download");
        }
        if (attempt + 1 < u->cfg.download_attempts) sleep_interruptible(u, 1 + attempt);
    }
    if (!complete) {
        char what[96];
        snprintf(what, sizeof what, "download incomplete, resumes at %llu",
                 (unsigned long long)hearth_stream_good_offset(s));
        close(fd);
        hearth_stream_free(s);
        return upd_fail(res, st != HEARTH_OK ? st : HEARTH_ERR_IO, what);
    }
    st = hearth_stream_final(s);
    hearth_stream_free(s);
    if (st == HEARTH_OK && fdatasync(fd) != 0)
        st = hearth_err(HEARTH_ERR_IO, "fsync staging file: %s", strerror(errno));
    close(fd);
    if (st != HEARTH_OK) return upd_reject(u, res, st, "downloaded bundle", ver);
    hearth_fault_point("update.download.done");
    return HEARTH_OK;
}

/* ------------------------------------------------------------- install */

hearth_status upd_install_file(hearth_updater *u, const char *path, const hearth_keyset *ks,
                               hearth_update_result *res)
{
    upd_set_state(u, HEARTH_UPD_INSTALLING);
    hearth_fault_point("update.verify.begin");
    hearth_bundle *b = NULL;
    hearth_status st = hearth_bundle_open(path, ks, &b);
    if (st != HEARTH_OK) {
        (void)unlink(path);
        return upd_reject(u, res, st, "staged bundle", NULL);
    }
    const hearth_manifest *m = hearth_bundle_manifest(b);
    char ver[HEARTH_SLOTS_VERSION_MAX + 1];
    copy_str(ver, sizeof ver, m->sw_version);
    st = upd_check_policy(u, b, res);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        (void)unlink(path);
        return upd_reject(u, res, st, "staged bundle policy", ver);
    }
    hearth_fault_point("update.verify.done");
    if (u->cfg.test_before_install != NULL) u->cfg.test_before_install(path, u->cfg.test_arg);

    int slot = HEARTH_SLOT_NONE;
    char slot_dir[PATH_MAX];
    hearth_fault_point("update.install.prepare");
    st = hearth_slots_prepare_install(u->slots, &slot, slot_dir, sizeof slot_dir);
    if (st != HEARTH_OK) {
        hearth_bundle_free(b);
        return upd_fail(res, st, "preparing the inactive slot");
    }
    hearth_fault_point("update.install.extract");
    st = hearth_bundle_extract_verified(b, slot_dir, NULL, NULL);
    uint64_t secver = m->security_version;
    hearth_bundle_free(b);
    if (st != HEARTH_OK) {
        (void)unlink(path);
        if (st == HEARTH_ERR_TAMPERED)
            return upd_reject(u, res, st, "bundle changed after verification", ver);
        return upd_fail(res, st, "writing the inactive slot");
    }
    hearth_fault_point("update.install.mark_pending");
    st = hearth_slots_mark_pending(u->slots, slot, ver, secver);
    if (st != HEARTH_OK) {
        if (st == HEARTH_ERR_ROLLBACK) return upd_reject(u, res, st, "mark pending", ver);
        return upd_fail(res, st, "marking the slot pending");
    }
    hearth_fault_point("update.install.pending");
    (void)unlink(path);
    char reason[96];
    snprintf(reason, sizeof reason, "installed into slot %s, restart required", hearth_slot_name(slot));
    upd_event_log(u, HEARTH_SEV_INFO, "update_installed", reason, ver);
    res->outcome = HEARTH_UPD_OUT_INSTALLED;
    res->status = HEARTH_OK;
    copy_str(res->reason, sizeof res->reason, reason);
    pthread_mutex_lock(&u->mu);
    u->restart_required = true;
    u->state = HEARTH_UPD_RESTART_REQUIRED;
    pthread_mutex_unlock(&u->mu);
    return HEARTH_OK;
}

/* --------------------------------------------------------------- check */

static hearth_status do_check(hearth_updater *u, hearth_update_mode mode, hearth_update_result *res)
{
    if (u->repo_url == NULL) return upd_fail(res, HEARTH_ERR_STATE, "no update repository configured");
    if (hearth_updater_restart_required(u)) {
        res->outcome = HEARTH_UPD_OUT_INSTALLED;
        copy_str(res->reason, sizeof res->reason, "an installed update waits for a restart");
        return HEARTH_OK;
    }
    hearth_fault_point("update.check.begin");
    tls_ctx t;
    hearth_status st = tls_open(u, &t);
    if (st != HEARTH_OK) return upd_fail(res, st, "device key");
    hearth_keyset *ks = NULL;
    hearth_bundle *b = NULL;
    hearth_buf pb = {0};
    st = keyset_with(u, &t, res, &ks);
    if (st != HEARTH_OK) goto done;

    /* The signed manifest prefix, bounded before anything is parsed. */
    char url[PATH_MAX];
    int l = snprintf(url, sizeof url, "%s/%s/latest.hbm", u->repo_url, hearth_device_hw_id(u->dev));
    if (l < 0 || (size_t)l >= sizeof url) {
        st = upd_fail(res, HEARTH_ERR_TOO_LARGE, "URL");
        goto done;
    }
    upd_http_result hr;
    st = fetch_small(u, &t, url, UPD_PREFIX_MAX, &pb, &hr);
    if (st == HEARTH_ERR_NOT_FOUND) {
        res->outcome = HEARTH_UPD_OUT_UP_TO_DATE;
        copy_str(res->reason, sizeof res->reason, "no release published for this hardware");
        st = HEARTH_OK;
        goto done;
    }
    if (st != HEARTH_OK) {
        if (hr.overflow) st = upd_reject(u, res, HEARTH_ERR_TOO_LARGE, "manifest", NULL);
        else if (hr.tls_failed) st = upd_reject(u, res, HEARTH_ERR_AUTH, "repository TLS authentication", NULL);
        else st = upd_fail(res, st, "fetching the manifest");
        goto done;
    }
    hearth_fault_point("update.manifest.fetched");
    size_t plen = 0;
    uint64_t total = 0;
    st = hearth_bundle_prefix_len(pb.data, pb.len, &plen, &total);
    if (st == HEARTH_OK && plen > pb.len)
        st = hearth_err(HEARTH_ERR_INVALID, "manifest file shorter than its header says");
    if (st == HEARTH_OK && total > u->cfg.max_bundle_size)
        st = hearth_err(HEARTH_ERR_TOO_LARGE, "bundle of %llu bytes exceeds the device limit",
                        (unsigned long long)total);
    if (st == HEARTH_OK) st = hearth_bundle_open_buffer(pb.data, plen, ks, &b);
    if (st != HEARTH_OK) {
        st = upd_reject(u, res, st, "manifest", NULL);
        goto done;
    }
    const hearth_manifest *m = hearth_bundle_manifest(b);
    st = upd_check_policy(u, b, res);
    if (st == HEARTH_ERR_EXISTS) {
        /* The installed release served again: nothing to do. Kept as an
         * informational event (a repository that never moves on is worth
         * noticing, but it is the normal state between releases). */
        upd_event_log(u, HEARTH_SEV_INFO, "update_not_needed", "same version as installed (replay ignored)",
                      m->sw_version);
        res->outcome = HEARTH_UPD_OUT_UP_TO_DATE;
        res->info.present = false;
        copy_str(res->reason, sizeof res->reason, "up to date");
        st = HEARTH_OK;
        goto done;
    }
    if (st != HEARTH_OK) {
        st = upd_reject(u, res, st, "manifest policy", m->sw_version);
        goto done;
    }
    hearth_fault_point("update.manifest.verified");
    pthread_mutex_lock(&u->mu);
    u->available = res->info;
    pthread_mutex_unlock(&u->mu);

    bool install = mode == HEARTH_UPD_MODE_INSTALL ||
                   (mode == HEARTH_UPD_MODE_POLICY && policy_allows_install(u));
    if (!install) {
        char reason[96];
        snprintf(reason, sizeof reason, "%s",
                 mode == HEARTH_UPD_MODE_CHECK_ONLY ? "check only"
                 : hearth_updater_policy(u).automatic ? "installation postponed"
                                                      : "automatic updates are off");
        upd_event_log(u, HEARTH_SEV_INFO, "update_available", reason, m->sw_version);
        res->outcome = HEARTH_UPD_OUT_AVAILABLE;
        copy_str(res->reason, sizeof res->reason, reason);
        upd_set_state(u, HEARTH_UPD_AVAILABLE);
        st = HEARTH_OK;
        goto done;
    }
    char staged[PATH_MAX];
    st = download(u, &t, b, staged, sizeof staged, res);
    if (st != HEARTH_OK) goto done;
    st = upd_install_file(u, staged, ks, res);
done:
    hearth_buf_free(&pb);
    hearth_bundle_free(b);
    hearth_keyset_free(ks);
    tls_close(&t);
    return st;
}

hearth_status hearth_updater_check(hearth_updater *u, hearth_update_mode mode, hearth_update_result *res)
{
    HEARTH_ENSURE(u != NULL && res != NULL, HEARTH_ERR_INVALID);
    memset(res, 0, sizeof *res);
    hearth_status st = upd_op_begin(u, true);
    if (st != HEARTH_OK) return upd_fail(res, st, "busy");
    hearth_update_state before;
    pthread_mutex_lock(&u->mu);
    before = u->state;
    u->state = HEARTH_UPD_CHECKING;
    pthread_mutex_unlock(&u->mu);
    st = do_check(u, mode, res);
    pthread_mutex_lock(&u->mu);
    u->last = *res;
    u->last_check = hearth_time_now();
    if (u->restart_required) u->state = HEARTH_UPD_RESTART_REQUIRED;
    else if (res->outcome == HEARTH_UPD_OUT_AVAILABLE) u->state = HEARTH_UPD_AVAILABLE;
    else if (res->outcome == HEARTH_UPD_OUT_FAILED && before == HEARTH_UPD_AVAILABLE)
        u->state = HEARTH_UPD_AVAILABLE;
    else {
        u->state = HEARTH_UPD_IDLE;
        if (res->outcome != HEARTH_UPD_OUT_FAILED) memset(&u->available, 0, sizeof u->available);
    }
    bool restart = res->outcome == HEARTH_UPD_OUT_INSTALLED && st == HEARTH_OK;
    pthread_mutex_unlock(&u->mu);
    upd_op_end(u);
    if (restart && u->cfg.on_restart != NULL) u->cfg.on_restart(u->cfg.on_restart_arg);
    return st;
}

/* -------------------------------------------------------------- thread */

hearth_status hearth_updater_request_check(hearth_updater *u)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&u->mu);
    bool running = u->running;
    if (running) {
        u->req_check = true;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    if (!running) return hearth_err(HEARTH_ERR_STATE, "the updater is not running");
    return HEARTH_OK;
}

hearth_status hearth_updater_request_install(hearth_updater *u)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&u->mu);
    hearth_status st = HEARTH_OK;
    if (!u->running) st = hearth_err(HEARTH_ERR_STATE, "the updater is not running");
    else if (u->restart_required) st = hearth_err(HEARTH_ERR_STATE, "an update is already installed; restart pending");
    else if (!u->available.present) st = hearth_err(HEARTH_ERR_STATE, "no update is available; check first");
    else {
        u->req_install = true;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    return st;
}

static uint32_t rand_below(uint32_t bound)
{
    uint32_t r = 0;
    if (bound == 0 || hearth_random_uniform(bound, &r) != HEARTH_OK) return 0;
    return r;
}

static void *updater_main(void *arg)
{
    hearth_updater *u = arg;
    pthread_mutex_lock(&u->mu);
    /* 5.3-5: first check shortly after initialisation, at a random moment
     * so a fleet powered on together does not arrive together. */
    int64_t first = hearth_time_now() + u->cfg.first_delay_s + rand_below(u->cfg.first_window_s + 1);
    int64_t window = first;
    u->next_check = first;
    while (!u->stopping) {
        int64_t now = hearth_time_now();
        if (!u->req_check && !u->req_install && (u->restart_required || now < u->next_check)) {
            int64_t wait_s = u->restart_required ? 60 : u->next_check - now;
            if (wait_s > 60) wait_s = 60; /* re-read the wall clock at least every minute */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait_s;
            pthread_cond_timedwait(&u->cv, &u->mu, &ts);
            continue;
        }
        bool scheduled = !u->req_check && !u->req_install;
        hearth_update_mode mode = u->req_install ? HEARTH_UPD_MODE_INSTALL : HEARTH_UPD_MODE_POLICY;
        u->req_check = u->req_install = false;
        pthread_mutex_unlock(&u->mu);
        hearth_update_result res;
        hearth_status cst = hearth_updater_check(u, mode, &res);
        (void)cst; /* outcome kept in u->last and the event log */
        hearth_err_clear();
        pthread_mutex_lock(&u->mu);
        if (scheduled) {
            /* Then once per period at a random time within each window. */
            window += u->cfg.period_s;
            int64_t nowc = hearth_time_now();
            while (window + (int64_t)u->cfg.period_s <= nowc) window += u->cfg.period_s;
            u->next_check = hearth_updater_schedule(window, u->cfg.period_s, rand_below(u->cfg.period_s));
        }
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

hearth_status hearth_updater_start(hearth_updater *u)
{
    HEARTH_ENSURE(u != NULL, HEARTH_ERR_INVALID);
    pthread_mutex_lock(&u->mu);
    if (u->running) {
        pthread_mutex_unlock(&u->mu);
        return hearth_err(HEARTH_ERR_STATE, "updater already running");
    }
    u->stopping = false;
    int rc = pthread_create(&u->thread, NULL, updater_main, u);
    if (rc == 0) u->running = true;
    pthread_mutex_unlock(&u->mu);
    if (rc != 0) return hearth_err(HEARTH_ERR_INTERNAL, "updater thread: %s", strerror(rc));
    return HEARTH_OK;
}

void hearth_updater_stop(hearth_updater *u)
{
    if (u == NULL) return;
    pthread_mutex_lock(&u->mu);
    bool running = u->running;
    u->stopping = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    if (running) pthread_join(u->thread, NULL);
    pthread_mutex_lock(&u->mu);
    u->running = false;
    pthread_mutex_unlock(&u->mu);
}
