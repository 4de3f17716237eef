/* Internal state of the updater, shared by updater.c, upload.c, status.c. */
#ifndef HEARTH_UPDATER_INTERNAL_H
#define HEARTH_UPDATER_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "hearth/bundle.h"
#include "hearth/slots.h"
#include "hearth/updater.h"
#include "hearth/util.h"

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
    hearth_updater_config cfg; /* string fields point at the copies above */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    hearth_update_policy policy;
    hearth_update_state state;
    hearth_update_info available;
    hearth_update_result last;
    int64_t last_check;
    int64_t next_check;
    bool busy;             /* one check/install/upload at a time */
    bool req_check, req_install, stopping, running;
    bool restart_required;
    pthread_t thread;
    upd_event events[HEARTH_UPDATE_EVENTS_MAX];
    size_t n_events, ev_head;
};

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

/* Trust anchor + key set currently valid for this device (local file, or a
 * newer one fetched from the repository when @p fetch). */
hearth_status upd_load_keyset(hearth_updater *u, bool fetch, hearth_update_result *res,
                              hearth_keyset **out) HEARTH_MUST_CHECK;
/* Installed facts for the bundle policy. */
hearth_status upd_installed(hearth_updater *u, uint64_t *secver, char *version, size_t cap,
                            int *active, int *pending, int *booted) HEARTH_MUST_CHECK;
/* Apply the device policy to a verified bundle; fills res->info. */
hearth_status upd_check_policy(hearth_updater *u, const hearth_bundle *b,
                               hearth_update_result *res) HEARTH_MUST_CHECK;
/* Install a staged, complete bundle file into the inactive slot. */
hearth_status upd_install_file(hearth_updater *u, const char *path, const hearth_keyset *ks,
                               hearth_update_result *res) HEARTH_MUST_CHECK;
void upd_fill_info(const hearth_manifest *m, uint64_t total, hearth_update_info *info);

#endif
