/**
 * @file identity.h
 * @brief Manufacturer CA, factory provisioning and the device's identity
 *        (EN 303 645 5.1-1, 5.1-2, 5.4-2, 5.4-4, 5.3-16).
 *
 * Device state directory (docs/architecture.md):
 *   device.json      public identity: model, serial, hardware id, RoT kind,
 *                    certificate pins (hearth_device_config_load())
 *   device.mac       HMAC-SHA256 of device.json under a key derived from the
 *                    storage root key: authenticates it without the store
 *   device.crt       device certificate (ECDSA P-256), signed by the CA
 *   ca.crt           manufacturer CA certificate (trust anchor for pinning)
 *   keys/            root-of-trust material only (storage.key | tpm-sealed.bin), 0700
 *   data/store.hst   secure store: device private key, auth records, settings
 *   events.log       security-event log (JSONL)
 *   factory.rec      setup-password verifier signed by the manufacturer CA
 *                    (0444; kept by a factory reset: hearth/reset.h)
 */
#ifndef HEARTH_IDENTITY_H
#define HEARTH_IDENTITY_H

#include "hearth/common.h"
#include "hearth/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_MODEL_MAX 32
#define HEARTH_SERIAL_MAX 32
#define HEARTH_HWID_MAX 32
#define HEARTH_SETUP_PW_MAX 32    /**< "XXXX-XXXX-XXXX-XXXX" + NUL */
#define HEARTH_FINGERPRINT_MAX 72 /**< "sha256:" + 64 hex + NUL */

/** Store record holding the device private key (PKCS#8 DER). */
#define HEARTH_REC_DEVICE_KEY "identity.device_key"
/** Store record holding a copy of device.json, to detect edits of it. */
#define HEARTH_REC_DEVICE_INFO "identity.device_info"

/**
 * Create a manufacturer CA in @p dir (created 0700): ca.key (PEM, 0600,
 * ECDSA P-256) and ca.crt (self-signed, 10 years). Refuses an existing CA.
 */
hearth_status hearth_ca_init(const char *dir, const char *common_name) HEARTH_MUST_CHECK;

/** Inputs to factory provisioning. */
typedef struct {
    const char *ca_dir;      /**< manufacturer CA directory */
    const char *out_dir;     /**< new device state directory (must not exist or be empty) */
    const char *model;       /**< model designation, [A-Za-z0-9._-], 1..32 */
    const char *serial;      /**< NULL: random; else [A-Za-z0-9-], 1..32 */
    const char *hw_id;       /**< hardware-compatibility id, NULL: = model */
    hearth_rot_kind rot;     /**< root-of-trust backend */
    /** TPM connection used while provisioning (HEARTH_ROT_TPM only;
     *  hearth_tcti_parse() forms); NULL: the platform configuration. Not
     *  recorded: at run time the device uses its platform configuration. */
    const char *tpm_tcti;
} hearth_provision_opts;

/** What is printed on the device label (sticker or QR code), once. */
typedef struct {
    char model[HEARTH_MODEL_MAX + 1];
    char serial[HEARTH_SERIAL_MAX + 1];
    char setup_password[HEARTH_SETUP_PW_MAX];
    char fingerprint[HEARTH_FINGERPRINT_MAX]; /**< of the device certificate */
} hearth_label;

/**
 * Provision one device: state directory, root of trust, secure store, device
 * key pair (private key only in the store), CA-signed certificate carrying
 * serial and model, setup password (only its Argon2id hash is kept).
 * On any failure nothing is left behind in @p out_dir.
 * The caller prints @p label and then wipes it.
 */
hearth_status hearth_device_provision(const hearth_provision_opts *opts,
                                      hearth_label *label) HEARTH_MUST_CHECK;

/**
 * Undo a provisioning whose label could not be delivered: remove everything
 * in @p state_dir, and the directory itself if @p remove_dir. A device whose
 * setup password nobody knows must not be left behind.
 */
void hearth_device_discard(const char *state_dir, bool remove_dir);

/**
 * Generate a setup password: 16 symbols from a 32-symbol unambiguous
 * alphabet (no 0/O, 1/I) = 80 bits from the CSPRNG, grouped
 * "XXXX-XXXX-XXXX-XXXX". Draws again if the result is trivial or contains
 * @p serial.
 */
hearth_status hearth_setup_password_generate(const char *serial,
                                             char out[HEARTH_SETUP_PW_MAX]) HEARTH_MUST_CHECK;
/** true if @p pw is a trivial pattern (repeats, sequences, blocklisted). */
bool hearth_setup_password_is_weak(const char *pw, const char *serial);

/** Render the label in the documented text format (docs/label-format.md). */
hearth_status hearth_label_format(const hearth_label *label, char *buf,
                                  size_t cap) HEARTH_MUST_CHECK;
/** The compact QR payload: "HEARTH1:M=<model>;S=<serial>;P=<pw>;F=<fp>". */
hearth_status hearth_label_qr_payload(const hearth_label *label, char *buf,
                                      size_t cap) HEARTH_MUST_CHECK;
/**
 * One-line JSON label for factory tooling (docs/label-format.md):
 * {"format":"hearth-label-1","model":..,"serial":..,"setup_password":..,
 *  "fingerprint":..} followed by a newline.
 */
hearth_status hearth_label_json(const hearth_label *label, char *buf,
                                size_t cap) HEARTH_MUST_CHECK;

/**
 * The device configuration, as recorded in device.json at provisioning
 * (format: docs/provisioning.md). Every field is required.
 */
typedef struct {
    char model[HEARTH_MODEL_MAX + 1];
    char serial[HEARTH_SERIAL_MAX + 1];
    char hw_id[HEARTH_HWID_MAX + 1];
    hearth_rot_kind rot;                  /**< must equal the platform's */
    char cert_fp[HEARTH_FINGERPRINT_MAX]; /**< pins device.crt */
    char ca_fp[HEARTH_FINGERPRINT_MAX];   /**< pins ca.crt */
} hearth_device_config;

/**
 * The one reader of device.json, for every program. In this order:
 * the platform configuration is loaded (hearth_platform_load(): the root of
 * trust kind and TPM connection never come from the state directory);
 * device.json is decoded strictly (bounded size, exact schema, every field
 * present and valid, no unknown or duplicate field; a "tpm_tcti" field is
 * refused); its root-of-trust kind must equal the platform's; that root of
 * trust is opened from `<state_dir>/keys`; and device.mac must be the
 * HMAC-SHA256 of device.json's exact bytes under a key derived (HKDF) from
 * the storage root key. Only then are the fields returned.
 * Any edit, missing field or missing MAC fails with HEARTH_ERR_TAMPERED (a
 * bad platform configuration with HEARTH_ERR_INVALID), with the reason in
 * hearth_err_msg(); @p cfg is then zeroed.
 * @param[out] rot  if not NULL, receives the opened root of trust (caller
 *                  closes it); if NULL it is closed here.
 */
hearth_status hearth_device_config_load(const char *state_dir, hearth_device_config *cfg,
                                        hearth_rot **rot) HEARTH_MUST_CHECK;

/** An opened, verified device state directory. */
typedef struct hearth_device hearth_device;

/**
 * Open a device state directory: hearth_device_config_load(), then open the
 * store, check device.json against the copy sealed in the store and the
 * certificate against the CA. Tampering fails with HEARTH_ERR_TAMPERED.
 */
hearth_status hearth_device_open(const char *state_dir, hearth_device **out) HEARTH_MUST_CHECK;
void hearth_device_close(hearth_device *d);
hearth_store *hearth_device_store(hearth_device *d);
const char *hearth_device_dir(const hearth_device *d);
const char *hearth_device_model(const hearth_device *d);
const char *hearth_device_serial(const hearth_device *d);
const char *hearth_device_hw_id(const hearth_device *d);
/** "sha256:<hex>" of the device certificate's DER. */
const char *hearth_device_fingerprint(const hearth_device *d);
/** Paths of device.crt and ca.crt inside the state directory. */
const char *hearth_device_cert_path(const hearth_device *d);
const char *hearth_device_ca_path(const hearth_device *d);
/**
 * The device private key as PKCS#8 DER in a caller buffer (wipe after use;
 * load with d2i_AutoPrivateKey).
 */
hearth_status hearth_device_private_key_der(hearth_device *d, uint8_t *buf, size_t cap,
                                            size_t *len) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
