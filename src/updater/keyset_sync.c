/* Key-set sync (EN 303 645 5.3-9, 5.3-10): the repository's key set is
 * fetched and verified against the read-only trust anchor, never accepted
 * older than the newest one this device has accepted (the anti-rollback
 * floor in the secure store, and hearth-boot's floor in the boot state),
 * and persisted file first, floors after, so a power cut never leaves a
 * floor above the file the device has. */
#include <stdio.h>
#include <string.h>

#include "updater_internal.h"

static hearth_status read_keyset_floor(hearth_updater *u, uint64_t *v)
{
    uint8_t rec[8];
    size_t len = 0;
    upd_store_lock(u);
    hearth_status st = hearth_store_get(hearth_device_store(u->dev), HEARTH_REC_UPDATE_KEYSET_VERSION,
                                        rec, sizeof rec, &len);
    upd_store_unlock(u);
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
    upd_store_lock(u);
    hearth_status st = hearth_store_put(hearth_device_store(u->dev), HEARTH_REC_UPDATE_KEYSET_VERSION,
                                        rec, sizeof rec);
    upd_store_unlock(u);
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
hearth_status upd_keyset_sync(hearth_updater *u, const upd_session *t, hearth_update_result *res,
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
        st = upd_fetch_small(t, url, HEARTH_KEYSET_MAX, &kb, &hr);
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
            upd_note_http(u, &hr);
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
    if (!fetch) return upd_keyset_sync(u, NULL, res, out);
    upd_session t;
    hearth_status st = upd_session_open(u, &t);
    if (st != HEARTH_OK) return upd_fail(res, st, "device key");
    st = upd_keyset_sync(u, &t, res, out);
    upd_session_close(&t);
    return st;
}
