/* Internal state of the updater and the functions its files share:
 *   updater.c      object, state, events, reject/fail results, installed facts
 *   session.c      device key + TLS parameters for the repository, small fetches
 *   keyset_sync.c  repository key set vs. trust anchor, anti-rollback floors
 *   download.c     signed manifest prefix, verified payload download, resume
 *   install.c      download straight into the inactive slot (or a staged
 *                  upload), commit, mark pending
 *   check.c        one check through those stages
 *   scheduler.c    thread, randomised check times, API requests, policy
 *   upload.c status.c selftest.c policy.c transport.c: see each file. */
#ifndef HEARTH_UPDATER_INTERNAL_H
#define HEARTH_UPDATER_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "hearth/backoff.h"
#include "hearth/bundle.h"
#include "hearth/slots.h"
#include "hearth/updater.h"
#include "hearth/util.h"
#include "transport.h"

/* Bound of what a check fetches before anything is verified: header,
 * manifest and signature block, each bounded by the bundle module. */
#define UPD_PREFIX_MAX (HEARTH_BUNDLE_HEADER_SIZE + HEARTH_BUNDLE_MANIFEST_MAX + HEARTH_SIGBLOCK_MAX)
/* A device key in PKCS#8 DER is a few hundred bytes; generous bound. */
#define UPD_KEY_DER_MAX 4096

typedef struct {
    int64_t ts;
    hearth_severity sev;
    char event[32];
    char reason[160];
    char version[65];
} upd_event;

struct hearth_updater {
    hearth_device *dev;
    hearth_slots *slots;
    char state_dir[PATH_MAX];
    char *repo_url;
    char trust_dir[PATH_MAX];
    char keyset_path[PATH_MAX];
    char download_dir[PATH_MAX];
    char *pinned_pubkey;
    char *fetch_socket;
    hearth_updater_config cfg; /* string fields point at the copies above */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    hearth_update_policy policy;
    hearth_update_window window; /* announced disruptive install (5.3-12) */
    hearth_update_state state;
    hearth_update_info available;
    hearth_update_result last;
    int64_t last_check;
    int64_t next_check;
    bool busy;             /* one check/install/upload at a time */
    bool req_check, req_install, stopping, running;
    bool restart_required;
    pthread_t thread;
    /* Retry timing (docs/backoff.md): the HTTP status of the current
     * check's failed fetch (0: none or no response), and the scheduled
     * checks' retry path (updater thread only). */
    long fail_http_code;
    uint32_t fail_retry_after_s; /* its Retry-After (0: none), <= 24 h */
    int64_t repo_busy_until;     /* a failed check's Retry-After ends (0: none) */
    hearth_backoff check_backoff;
    upd_event events[HEARTH_UPDATE_EVENTS_MAX];
    size_t n_events, ev_head;
};

/* ------------------------------------------------------------ updater.c */

/* Copy a string into a fixed field, always terminated (NULL: empty). */
void upd_copy_str(char *dst, size_t cap, const char *src);
/* The caller's store lock (cfg.store_lock), if any, around store access. */
void upd_store_lock(hearth_updater *u);
void upd_store_unlock(hearth_updater *u);
/* True once hearth_updater_stop() was called (transfers abort). */
bool upd_stopping(hearth_updater *u);
/* Remember a failed fetch's HTTP status for the retry timing. */
void upd_note_http(hearth_updater *u, const upd_http_result *hr);
/* Fail (not an attack: I/O, state, limits): fill res, return st. */
hearth_status upd_fail(hearth_update_result *res, hearth_status st, const char *what);

/* Take/release the one-operation-at-a-time token (wait: block until free). */
hearth_status upd_op_begin(hearth_updater *u, bool wait) HEARTH_MUST_CHECK;
void upd_op_end(hearth_updater *u);
void upd_set_state(hearth_updater *u, hearth_update_state s);

/* Log a security event and keep it for the status document. */
void upd_event_log(hearth_updater *u, hearth_severity sev, const char *event,
                   const char *reason, const char *version);
/* Reject: WARNING (ALERT for integrity/authenticity failures), fill res. */
hearth_status upd_reject(hearth_updater *u, hearth_update_result *res, hearth_status st,
                         const char *what, const char *version);

/* ------------------------------------------------------------ session.c */

/* One session with the repository: the connection parameters and the TLS
 * client context holding the device key (in hearthd only; freed by
 * upd_session_close()). */
typedef struct {
    upd_tls tls;
} upd_session;

hearth_status upd_session_open(hearth_updater *u, upd_session *t) HEARTH_MUST_CHECK;
void upd_session_close(upd_session *t);
/* GET a small object into @p out (initialised here, bounded by @p max;
 * freed on failure). */
hearth_status upd_fetch_small(const upd_session *t, const char *url, size_t max, hearth_buf *out,
                              upd_http_result *hr) HEARTH_MUST_CHECK;

/* -------------------------------------------------------- keyset_sync.c */

/* The key set to verify with: with @p t, the repository's (verified, never
 * older than the floor, persisted when newer), else the device's file. */
hearth_status upd_keyset_sync(hearth_updater *u, const upd_session *t, hearth_update_result *res,
                              hearth_keyset **out) HEARTH_MUST_CHECK;
/* Trust anchor + key set currently valid for this device (local file, or a
 * newer one fetched from the repository when @p fetch). */
hearth_status upd_load_keyset(hearth_updater *u, bool fetch, hearth_update_result *res,
                              hearth_keyset **out) HEARTH_MUST_CHECK;

/* ----------------------------------------------------------- download.c */

/* Fetch and verify the signed manifest prefix of the latest release for
 * this hardware. HEARTH_OK with *out NULL: nothing published (res says up
 * to date). */
hearth_status upd_fetch_manifest(hearth_updater *u, const upd_session *t, const hearth_keyset *ks,
                                 hearth_update_result *res, hearth_bundle **out) HEARTH_MUST_CHECK;
/* Download the payload of @p b through @p w (verified chunk by chunk and
 * written into the inactive slot), from the writer's resume point, with
 * retries; the caller commits the writer. */
hearth_status upd_download(hearth_updater *u, const upd_session *t, const hearth_bundle *b,
                           hearth_slot_writer *w, hearth_update_result *res) HEARTH_MUST_CHECK;

/* ---------------------------------------------------------- scheduler.c */

/* Read the stored policy (default: automatic, 5.3-4/5.3-6). */
hearth_status upd_load_policy(hearth_updater *u) HEARTH_MUST_CHECK;
/* The policy allows installing now (automatic and not postponed). */
bool upd_policy_allows_install(hearth_updater *u);
/* 5.3-12: may the automatic policy install the verified disruptive update
 * @p info now? Announces it first (persisted window, security event
 * update_disruption_announced) and says no until its window is reached.
 * A store failure says no (nothing installs unannounced). */
bool upd_window_allows_install(hearth_updater *u, const hearth_update_info *info);
/* The waiting disruptive update's window while it is in the future, else 0
 * (called with u->mu held): when the updater thread must wake up. */
int64_t upd_window_wake(hearth_updater *u, int64_t now);

/* ------------------------------------- updater.c: what a bundle is judged by */

/* Installed facts for the bundle policy. */
hearth_status upd_installed(hearth_updater *u, uint64_t *secver, char *version, size_t cap,
                            int *active, int *pending, int *booted) HEARTH_MUST_CHECK;
/* Apply the device policy to a verified bundle; fills res->info. */
hearth_status upd_check_policy(hearth_updater *u, const hearth_bundle *b,
                               hearth_update_result *res) HEARTH_MUST_CHECK;
/* A manifest's facts for the status document and results. */
void upd_fill_info(const hearth_manifest *m, uint64_t total, hearth_update_info *info);

/* ------------------------------------------------------------ install.c */

/* Install the release whose signed manifest @p b holds (verified, policy
 * checked) from the repository: download straight into the inactive slot
 * (resuming what an interrupted install left there), commit, mark pending. */
hearth_status upd_install_stream(hearth_updater *u, const upd_session *t, const hearth_bundle *b,
                                 hearth_update_result *res) HEARTH_MUST_CHECK;
/* Install a staged, complete bundle file (local upload) into the inactive slot. */
hearth_status upd_install_file(hearth_updater *u, const char *path, const hearth_keyset *ks,
                               hearth_update_result *res) HEARTH_MUST_CHECK;

#endif
