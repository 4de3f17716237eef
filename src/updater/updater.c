/* The updater object: configuration, creation, and the bookkeeping every
 * stage shares -- state, the one-operation token, security events, the
 * result of a rejected or failed step, and the installed facts a bundle is
 * judged against (EN 303 645 5.3-1..5.3-10, 5.5-1).
 *
 * Why the stages run in this order: the repository is not trusted, the TLS
 * channel is defence in depth, so every decision is taken on signed data
 * only -- first the key set (keyset_sync.c: root-signed, never older than
 * the newest accepted), then the signed manifest prefix (download.c), and
 * only then are payload bytes requested, each chunk checked against the
 * manifest as it arrives and again while it is written into the slot
 * (install.c). check.c runs one check through these stages; scheduler.c
 * decides when. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/layout.h"
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
    c->disruptive_notice_s = HEARTH_UPDATE_NOTICE_DEFAULT_S;
}

/* ------------------------------------------------------------ helpers */

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

void upd_store_lock(hearth_updater *u)
{
    if (u->cfg.store_lock != NULL) pthread_mutex_lock(u->cfg.store_lock);
}

void upd_store_unlock(hearth_updater *u)
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

void upd_copy_str(char *dst, size_t cap, const char *src)
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
    upd_copy_str(e->event, sizeof e->event, event);
    upd_copy_str(e->reason, sizeof e->reason, reason);
    upd_copy_str(e->version, sizeof e->version, version);
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
    upd_copy_str(res->reason, sizeof res->reason, reason);
    return st;
}

void upd_note_http(hearth_updater *u, const upd_http_result *hr)
{
    u->fail_http_code = hr->http_code;
    u->fail_retry_after_s = hr->retry_after ? hr->retry_after_s : 0;
    if (hr->retry_after_bad) {
        /* Ignored: the regular busy backoff applies. Worth noticing: a
         * repository (or something in front of it) sends nonsense. */
        char reason[96];
        snprintf(reason, sizeof reason, "HTTP %ld with an invalid Retry-After; ignored", hr->http_code);
        upd_event_log(u, HEARTH_SEV_WARNING, "update_retry_after_invalid", reason, NULL);
    }
}

hearth_status upd_fail(hearth_update_result *res, hearth_status st, const char *what)
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
    upd_copy_str(info->sw_version, sizeof info->sw_version, m->sw_version);
    info->security_version = m->security_version;
    info->size = total;
    info->expires = m->expires;
    info->disruptive = m->disruptive;
    info->downtime_s = m->downtime_s;
    upd_copy_str(info->notes, sizeof info->notes, m->notes);
    upd_copy_str(info->mitigates, sizeof info->mitigates, m->mitigates);
}

/* ----------------------------------------------------------- create */

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
    /* cppcheck-suppress unreadVariable ; a status is defined from its declaration on */
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
    upd_copy_str(u->state_dir, sizeof u->state_dir, sd);
    u->repo_url = dup_or_null(cfg->repo_url);
    u->pinned_pubkey = dup_or_null(cfg->pinned_pubkey);
    u->fetch_socket = dup_or_null(cfg->fetch_socket);
    if ((cfg->repo_url != NULL && u->repo_url == NULL) ||
        (cfg->pinned_pubkey != NULL && u->pinned_pubkey == NULL) ||
        (cfg->fetch_socket != NULL && u->fetch_socket == NULL)) {
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
    u->cfg.fetch_socket = u->fetch_socket;
    u->cfg.trust_dir = u->trust_dir;
    u->cfg.keyset_path = u->keyset_path;
    u->cfg.download_dir = u->download_dir;
    HEARTH_GUARD_GOTO(st, hearth_fs_mkdirs(u->download_dir, 0700), fail);
    HEARTH_GUARD_GOTO(st, hearth_slots_open(sd, &u->slots), fail);
    HEARTH_GUARD_GOTO(st, upd_load_policy(u), fail);
    /* A failed scheduled check is retried sooner than the next period, on
     * the one backoff policy (docs/backoff.md) but slower than a connection:
     * 1 min doubling to 1 h, a refused device identity 15 min to 1 day. The
     * first check is already spread by first_delay_s/first_window_s. */
    hearth_backoff_config bc;
    hearth_backoff_config_default(&bc, "update-check");
    bc.base_ms = 60000;
    bc.cap_ms = 3600000;
    bc.refused_base_ms = 900000;
    bc.refused_cap_ms = 86400000;
    bc.first_max_ms = 0;
    HEARTH_GUARD_GOTO(st, hearth_backoff_init(&u->check_backoff, &bc), fail);
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
    free(u->fetch_socket);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

bool hearth_updater_restart_required(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    bool r = u->restart_required;
    pthread_mutex_unlock(&u->mu);
    return r;
}

bool upd_stopping(hearth_updater *u)
{
    pthread_mutex_lock(&u->mu);
    bool s = u->stopping;
    pthread_mutex_unlock(&u->mu);
    return s;
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
        upd_copy_str(version, cap, "");
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
