/**
 * @file reset.h
 * @brief Factory data and factory reset by crypto-erase (EN 303 645 5.11-1,
 *        5.1-1): the keys that protect user data are destroyed, then the
 *        device is in its factory-default state where only setup with the
 *        label's setup password works. Design, threat model and the
 *        instructions for people: docs/erasure.md.
 *
 * Factory record (`<state>/factory.rec`, written once at provisioning, never
 * by a reset): the Argon2id verifier of the setup password, bound to the
 * serial number and signed by the manufacturer CA the device is pinned to
 * (device.json's ca_fp). It is read only by a factory reset, and only after
 * its signature, the CA pin and the serial are checked, so nothing in that
 * writable file steers behaviour before it is authenticated. Format:
 *
 *     hearth-factory-1\n
 *     serial=<serial>\n
 *     setup_verifier=<$argon2id$... string>\n
 *     sig=<hex of the DER ECDSA-SHA256 signature over every byte above>\n
 *
 * Reset (hearth_reset_factory()): a new storage root key (file: a new
 * storage.key; TPM: a new key sealed under the TPM with a new NV rollback
 * counter), a new store holding only the factory records (device key and
 * identity copy) and the setup verifier, device.mac and the boot floors
 * under the new key are written to a staging directory (`reset.new`); the
 * file `reset.new/COMMIT` is the commit point. Before it, a power cut leaves
 * the old device (the staging directory is discarded at the next open);
 * after it, hearth_reset_recover() (called by every program through
 * hearth_device_config_load()) finishes the job: the old key file is
 * overwritten in place and fsync'd, the staged files are renamed over the
 * old ones, the outbox and the event log with its rotated copy (personal
 * data outside the store, sealed under keys from it)
 * are removed, the staging directory goes. Every step is idempotent.
 *
 * Reset notice (store record HEARTH_REC_RESET_NOTICE, written into the new
 * store while it is staged, so it exists exactly when the reset committed,
 * authenticated like every store record): "the device was reset at T, reset
 * number N, by the button or the API". Nothing personal. The device program
 * reports it to its service once (a `factory_reset` event, docs/mqtt.md) and
 * then marks it reported; the count carries over to the next reset.
 */
#ifndef HEARTH_RESET_H
#define HEARTH_RESET_H

#include "hearth/common.h"
#include "hearth/identity.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest factory record accepted (bytes). */
#define HEARTH_FACTORY_REC_MAX 1024
/** Longest setup-password verifier (an Argon2id encoded hash, incl. NUL). */
#define HEARTH_FACTORY_VERIFIER_MAX 128

/** Store record of the reset notice (see above). */
#define HEARTH_REC_RESET_NOTICE "identity.reset_notice"

/** Who asked for a reset: the reset button (physical presence) or the API. */
typedef enum {
    HEARTH_RESET_BY_API = 0,
    HEARTH_RESET_BY_BUTTON = 1,
} hearth_reset_reason;

/** The reset notice of the current store. */
typedef struct {
    uint64_t count;             /**< resets of this device so far, >= 1 */
    int64_t at_unix;            /**< wall clock at the reset */
    hearth_reset_reason reason;
    bool pending;               /**< not yet handed to the service's outbox */
} hearth_reset_notice;

/**
 * Read the reset notice from @p st (strict format). HEARTH_ERR_NOT_FOUND:
 * the device was never reset; HEARTH_ERR_TAMPERED: malformed.
 */
hearth_status hearth_reset_notice_get(hearth_store *st, hearth_reset_notice *out) HEARTH_MUST_CHECK;

/**
 * Mark the notice in @p st reported (pending false; the count stays). Call
 * only once the event is durably queued (hearth_outbox_put() returned).
 */
hearth_status hearth_reset_notice_clear(hearth_store *st) HEARTH_MUST_CHECK;

/**
 * The `factory_reset` events payload for @p n (topic hearth/<id>/events):
 * {"v":1,"ts":NOW,"sev":"warning","event":"factory_reset","reset_at":T,
 * "reset_count":N,"reason":"api"|"button"}. No personal data.
 */
hearth_status hearth_reset_notice_event(const hearth_reset_notice *n, int64_t now_unix, char *buf,
                                        size_t cap, size_t *len) HEARTH_MUST_CHECK;

/**
 * Read and authenticate the factory record of the opened device @p dev:
 * strict format, signature under the CA certificate whose fingerprint the
 * authenticated device.json pins, serial equal to the device's. Only then
 * is the verifier copied to @p verifier. HEARTH_ERR_NOT_FOUND: no record
 * (a device provisioned before factory records existed: it cannot be reset,
 * docs/erasure.md); HEARTH_ERR_TAMPERED: anything else wrong.
 */
hearth_status hearth_factory_verifier(hearth_device *dev,
                                      char verifier[HEARTH_FACTORY_VERIFIER_MAX]) HEARTH_MUST_CHECK;

/**
 * Factory reset of the opened device @p dev (state directory
 * hearth_device_dir()), asked for by @p reason. Reads the factory record
 * (authenticated), the device key, identity and reset count from the store, builds the reset state in the
 * staging directory, commits, and finishes (hearth_reset_recover()). The
 * device's store is retired first (hearth_store_retire(): every later
 * operation on it fails), so nothing still running can write the old state
 * back. On success the caller closes @p dev and starts again: the device is
 * in factory default. On a failure before the commit the old state is
 * intact, but the store handle stays retired: restart the program.
 * Fault points (HEARTH_FAULT_*): "reset.staged" (staging written, before
 * the commit), "reset.committed" (after it), "reset.key_wiped" (old key
 * overwritten), "reset.key_moved", "reset.store_moved", "reset.moved"
 * (staged files in place), "reset.personal_removed" (outbox and event log
 * gone), plus those of the store, file and TPM code it calls.
 */
hearth_status hearth_reset_factory(hearth_device *dev, hearth_reset_reason reason) HEARTH_MUST_CHECK;

/**
 * Finish or discard a factory reset interrupted by a power cut in
 * @p state_dir: no staging directory: nothing to do; staging without
 * COMMIT: removed (the old device stays); with COMMIT: the remaining steps
 * run. Called by hearth_device_config_load() before it reads anything.
 */
hearth_status hearth_reset_recover(const char *state_dir) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
