/**
 * @file privacy.h
 * @brief Personal data and consent (EN 303 645 6-1, 6-2, 6-3, 5.8-3,
 *        5.11-2, 5.11-4): the personal-data inventory and the privacy notice
 *        generated from it, the consent registry, consent receipts, and the
 *        device's side of the service erase.
 *
 * The inventory (docs/privacy/inventory.json) is compiled into the library:
 * the notice, its version (a hash of the inventory), the purposes and the
 * sensors are build-time constants, so the device, its API and
 * docs/privacy-notice.md say the same thing.
 *
 * The consent registry keeps, per purpose whose legal basis is consent, the
 * consent now in force (given or not, by which user, when, under which
 * notice version, its receipt id) and a bounded log of every change (the
 * controller's internal record in the sense of ISO/IEC TS 27560), in one
 * record of the secure store (atomic: a power cut leaves the old or the new
 * record). Nothing is granted by default. Listeners hear every change at
 * once (the runtime tells the service over MQTT). Thread-safe.
 */
#ifndef HEARTH_PRIVACY_H
#define HEARTH_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/common.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The purposes of this device whose legal basis is consent. */
#define HEARTH_PURPOSE_TEMPERATURE_HISTORY "temperature_history"
#define HEARTH_PURPOSE_USAGE_TELEMETRY "usage_telemetry"

#define HEARTH_PRIVACY_RECORD "privacy.consents"     /**< store record of the registry */
#define HEARTH_PRIVACY_ERASE_RECORD "privacy.erase"  /**< store record of the service erase */
#define HEARTH_PRIVACY_LOG_MAX 32                     /**< changes kept in the internal record */
#define HEARTH_PRIVACY_USER_MAX 64                    /**< user name bytes with NUL */
#define HEARTH_PRIVACY_RECEIPT_MAX 8192               /**< largest consent receipt, bytes */
#define HEARTH_PRIVACY_ERASE_RECEIPT_MAX 6144         /**< largest stored erase receipt, bytes */

/* ------------------------------------------------------------ the notice */

/** The notice version: 16 hex digits of the SHA-256 of the inventory. */
const char *hearth_privacy_notice_version(void);
/** The notice (docs/privacy-notice.md, Markdown); *@p len if not NULL. */
const char *hearth_privacy_notice_md(size_t *len);
/** The inventory as compact JSON (the "notice" of GET /api/v1/privacy). */
const char *hearth_privacy_inventory_json(void);

/** One purpose of the inventory. */
typedef struct {
    const char *id, *title, *basis; /**< basis: consent, contract, legal_obligation, legitimate_interest */
} hearth_privacy_purpose;
/** The @p i-th purpose (NULL past the end). */
const hearth_privacy_purpose *hearth_privacy_purpose_at(size_t i);
/** The purpose @p id (NULL if unknown). */
const hearth_privacy_purpose *hearth_privacy_purpose_find(const char *id);

/** One sensor of the device (5.8-3). */
typedef struct {
    const char *id, *app, *kind, *unit, *what;
} hearth_privacy_sensor;
/** The @p i-th sensor (NULL past the end). */
const hearth_privacy_sensor *hearth_privacy_sensor_at(size_t i);

/* ------------------------------------------------------ consent registry */

typedef struct hearth_privacy hearth_privacy;

/** The consent in force for one purpose. */
typedef struct {
    bool granted;
    int64_t since;                          /**< unix time of the last change, 0: never */
    char by[HEARTH_PRIVACY_USER_MAX];       /**< user who made the last change, "" never */
    char notice_version[17];                /**< notice version of the last change */
    char receipt_id[37];                    /**< UUID of the last change's record */
} hearth_privacy_consent;

/** Called after every change, on the changing thread, outside the registry's lock. */
typedef void (*hearth_privacy_listener)(void *arg, const char *purpose, bool granted);

/**
 * Load the registry from @p store (record HEARTH_PRIVACY_RECORD; absent:
 * nothing granted). A record that does not parse is HEARTH_ERR_TAMPERED.
 * @p store NULL keeps everything in memory (tests).
 */
hearth_status hearth_privacy_open(hearth_store *store, hearth_privacy **out) HEARTH_MUST_CHECK;
void hearth_privacy_close(hearth_privacy *p);

/** Set the listener (one; NULL removes it). */
void hearth_privacy_set_listener(hearth_privacy *p, hearth_privacy_listener fn, void *arg);

/** true only if consent for @p purpose is given now (false for NULL or unknown). */
bool hearth_privacy_granted(hearth_privacy *p, const char *purpose);

/** The consent in force for @p purpose (HEARTH_ERR_NOT_FOUND: not a consent purpose). */
hearth_status hearth_privacy_get(hearth_privacy *p, const char *purpose,
                                 hearth_privacy_consent *out) HEARTH_MUST_CHECK;

/**
 * Give or withdraw consent for @p purpose as user @p by: recorded durably
 * (with the time, the notice version and a new receipt id) before it takes
 * effect, then the listener is told. Setting the state already in force
 * records nothing and tells nobody. HEARTH_ERR_NOT_FOUND: not a purpose
 * whose basis is consent.
 */
hearth_status hearth_privacy_set(hearth_privacy *p, const char *purpose, bool granted,
                                 const char *by) HEARTH_MUST_CHECK;

/**
 * Erase what the registry keeps about @p user (contract A, for the user
 * erasure and DELETE /api/v1/users/{name}): every consent that user gave is
 * withdrawn (the person who gave it is gone; the listener tells the
 * service) and the user's name is removed from the log. *@p withdrawn (if
 * not NULL) counts the consents withdrawn.
 */
hearth_status hearth_privacy_erase_user(hearth_privacy *p, const char *user,
                                        size_t *withdrawn) HEARTH_MUST_CHECK;

/** Forget everything (factory reset; the store itself is crypto-erased by the core). */
void hearth_privacy_reset(hearth_privacy *p);

/**
 * The consent receipt (Kantara Consent Receipt 1.1 fields, the receipt the
 * person gets in the sense of ISO/IEC TS 27560) for @p principal, listing
 * every consent purpose with its state now, into @p buf.
 */
hearth_status hearth_privacy_receipt(hearth_privacy *p, const char *principal, const char *device_id,
                                     char *buf, size_t cap, size_t *len) HEARTH_MUST_CHECK;

/** The registry's consents as the JSON array of GET /api/v1/consents. */
hearth_status hearth_privacy_consents_json(hearth_privacy *p, char *buf, size_t cap) HEARTH_MUST_CHECK;


/* --------------------------------------------------------------- holds */

/** How many records of one inventory item something on the device holds now. */
typedef size_t (*hearth_privacy_count_fn)(void *arg);
#define HEARTH_PRIVACY_HOLDERS_MAX 8
/** Register a counter for inventory item @p item (GET /api/v1/privacy "holds"). */
hearth_status hearth_privacy_add_holder(hearth_privacy *p, const char *item, hearth_privacy_count_fn fn,
                                        void *arg) HEARTH_MUST_CHECK;
/** Visit every registered holder: @p fn(item, count, arg). */
void hearth_privacy_visit_holders(hearth_privacy *p, void (*fn)(const char *item, size_t count, void *arg),
                                  void *arg);

/* --------------------------------------------------- service erase (5.11-2) */

/** Where the service erase stands (GET /api/v1/privacy/service-erase). */
typedef struct {
    char state[16];            /**< "none", "requested" (waiting for the service's receipt), "confirmed" */
    char request_id[37];       /**< UUID of the last request, "" for none */
    int64_t requested_at;      /**< unix time of the last request, 0 for none */
    char by[HEARTH_PRIVACY_USER_MAX]; /**< the administrator who asked */
    int64_t confirmed_at;      /**< unix time the receipt was accepted, 0 before */
} hearth_privacy_erase_status;

/** Told about a new erase request (the runtime signs it and queues it for the service). */
typedef void (*hearth_privacy_erase_listener)(void *arg, const char *request_id, int64_t ts);
void hearth_privacy_set_erase_listener(hearth_privacy *p, hearth_privacy_erase_listener fn, void *arg);

/**
 * The trust the receipt is checked against: the service CA file (the same
 * one the MQTT link trusts) and this device's id. Without them no receipt
 * is accepted (HEARTH_ERR_STATE) and no request can be made.
 */
void hearth_privacy_set_service(hearth_privacy *p, const char *service_ca_file, const char *device_id);
/** true once hearth_privacy_set_service() was given a CA and an id. */
bool hearth_privacy_service_configured(hearth_privacy *p);

/**
 * Record a new erase request by @p by (durably, replacing an older one that
 * has not been confirmed), then tell the erase listener. *@p out: the status.
 * HEARTH_ERR_STATE when no service is configured.
 */
hearth_status hearth_privacy_erase_request(hearth_privacy *p, const char *by,
                                           hearth_privacy_erase_status *out) HEARTH_MUST_CHECK;

/** The status and, once confirmed, the receipt the service signed (JSON
 *  text) into @p receipt (may be NULL). */
hearth_status hearth_privacy_erase_get(hearth_privacy *p, hearth_privacy_erase_status *out, char *receipt,
                                       size_t cap) HEARTH_MUST_CHECK;

/**
 * The signed request for the service (topic hearth/<id>/privacy):
 * {"v":1,"type":"erase","request":"<JSON text>","cert":"<base64url DER>","sig":"<base64url>"}
 * where request is {"device":ID,"id":REQUEST_ID,"ts":UNIX,"scope":"personal_data"} and sig the
 * ECDSA/SHA-256 (DER) signature of the request text's bytes with the device
 * key (@p key_der, PKCS#8 DER), whose certificate @p cert_pem (PEM) is sent
 * along as base64url DER.
 */
hearth_status hearth_privacy_erase_sign(const char *device_id, const char *request_id, int64_t ts,
                                        const uint8_t *key_der, size_t key_len, const char *cert_pem,
                                        char *buf, size_t cap, size_t *len) HEARTH_MUST_CHECK;

/**
 * Accept the service's receipt: @p receipt_text (the receipt's JSON text),
 * @p cert_b64 (the signer's certificate, base64url DER) and @p sig_b64 (base64url DER
 * signature of receipt_text's bytes). Checked: the certificate chains to
 * the service CA and names the service ("hearth-fleet"), the signature, the
 * receipt names this device and the pending request. Then stored durably
 * and the state becomes "confirmed". HEARTH_ERR_AUTH / HEARTH_ERR_INVALID /
 * HEARTH_ERR_STATE (no pending request) otherwise; nothing changes.
 */
hearth_status hearth_privacy_erase_accept(hearth_privacy *p, const char *receipt_text, const char *cert_b64,
                                          const char *sig_b64) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
