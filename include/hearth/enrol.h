/**
 * @file enrol.h
 * @brief Operational identity (EN 303 645 5.5-8): the service CA, enrolment
 *        of a device's factory identity for a short-lived operational
 *        certificate, renewal, revocation (docs/operational-identity.md).
 *
 * Three kinds of certificate meet here:
 *  - the *factory* certificate (device.crt, manufacturer CA, 20 years),
 *    issued at provisioning for the device key held in the store or TPM;
 *  - the *service CA*, a CA directory in the format of hearth_ca_init()
 *    (ca.key 0600, ca.crt), run by the manufacturer's service;
 *  - the *operational* certificate: the service CA certifies the same device
 *    key and CN for a short lifetime (default 7 days). The device presents it
 *    to the MQTT broker; the broker trusts only the service CA.
 *
 * Enrolment: the device POSTs a PKCS#10 CSR (PEM) signed by its key over
 * HTTPS with mutual TLS, authenticated by its factory certificate; the
 * service checks the CSR against that certificate
 * (hearth_enrol_csr_check()) and answers with the operational certificate
 * (PEM), which the device checks (hearth_enrol_cert_check()) before it
 * stores it. Nothing here writes a private key anywhere.
 */
#ifndef HEARTH_ENROL_H
#define HEARTH_ENROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hearth/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HEARTH_ENROL_CSR_MAX 4096            /**< largest CSR (PEM) accepted */
#define HEARTH_ENROL_CERT_MAX 4096           /**< largest operational certificate (PEM) */
#define HEARTH_ENROL_LIFETIME_S (7 * 86400L) /**< default operational lifetime */
#define HEARTH_ENROL_LIFETIME_MIN_S 30L      /**< shortest lifetime a service issues */
#define HEARTH_ENROL_LIFETIME_MAX_S (90 * 86400L) /**< longest */
#define HEARTH_ENROL_CN_MAX 32               /**< = HEARTH_SERIAL_MAX */
#define HEARTH_ENROL_SERIAL_HEX_MAX 41       /**< certificate serial: up to 20 octets hex + NUL */
/** CN of the fleet service's certificate: never issued to a device. */
#define HEARTH_ENROL_FLEET_CN "hearth-fleet"
/** File of the operational certificate in the device state directory. */
#define HEARTH_ENROL_CERT_FILE "operational.crt"

/* ------------------------------------------------------------ service side */

/**
 * Check an enrolment request against the client's factory certificate (the
 * TLS peer certificate, already verified against the manufacturer CA):
 * @p csr_pem is exactly one PEM "CERTIFICATE REQUEST" (at most
 * HEARTH_ENROL_CSR_MAX bytes, nothing but whitespace around it), its
 * signature verifies, its public key is the factory certificate's, its
 * subject is exactly one CN equal to the factory certificate's CN, which is
 * a device serial ([A-Za-z0-9-], 1..32, not HEARTH_ENROL_FLEET_CN); no
 * attributes (extension requests are not honoured anyway). On success
 * @p cn receives the CN. HEARTH_ERR_INVALID / HEARTH_ERR_TOO_LARGE /
 * HEARTH_ERR_AUTH (key or name mismatch) with a message otherwise.
 */
hearth_status hearth_enrol_csr_check(const uint8_t *csr_pem, size_t csr_len,
                                     const uint8_t *factory_der, size_t factory_len,
                                     char cn[HEARTH_ENROL_CN_MAX + 1]) HEARTH_MUST_CHECK;

/** What hearth_service_ca_issue() certifies. */
typedef struct {
    const char *cn;          /**< subject CN */
    const uint8_t *spki_der; /**< the public key (DER SubjectPublicKeyInfo) */
    size_t spki_len;
    bool server;             /**< serverAuth (else clientAuth only) */
    const char *san;         /**< server only: "DNS:a,IP:127.0.0.1" or NULL */
    long lifetime_s;         /**< seconds after now; > 0 */
} hearth_cert_spec;

/**
 * Issue a certificate from the CA directory @p ca_dir (hearth_ca_init()
 * format; the key must be 0600): random 128-bit serial, ECDSA SHA-256,
 * basicConstraints CA:FALSE, keyUsage digitalSignature, the one extKeyUsage
 * of @p spec; notBefore back-dated by min(1 h, lifetime / 10) for clock
 * skew. *@p pem (malloc'd, NUL-terminated) and the serial as lower-case hex.
 */
hearth_status hearth_service_ca_issue(const char *ca_dir, const hearth_cert_spec *spec, char **pem,
                                      size_t *pem_len,
                                      char serial_hex[HEARTH_ENROL_SERIAL_HEX_MAX]) HEARTH_MUST_CHECK;

/**
 * Write the CA's CRL listing @p serials (lower-case hex, as issued) to
 * @p out_path atomically (temporary file, fsync, rename; mode 0644):
 * thisUpdate now, nextUpdate now + @p valid_s, signed by the CA's key.
 */
hearth_status hearth_service_ca_crl(const char *ca_dir, const char *const *serials, size_t n,
                                    long valid_s, const char *out_path) HEARTH_MUST_CHECK;

/* ------------------------------------------------------------ device side */

/** Where a device's identities are and what they must say. */
typedef struct {
    const char *state_dir;    /**< holds HEARTH_ENROL_CERT_FILE */
    const char *service_ca;   /**< service CA certificate file (read-only trust anchor) */
    const char *factory_cert; /**< the factory certificate (device.crt) */
    const char *cn;           /**< the device serial */
} hearth_enrol_identity;

/** Validity of a checked operational certificate (UNIX seconds). */
typedef struct {
    int64_t not_before;
    int64_t not_after;
} hearth_enrol_validity;

/**
 * A CSR (PEM) with subject CN=@p cn for the device key @p key_der (PKCS#8
 * or SEC1 DER, as hearth_device_private_key_der() gives it; the caller
 * wipes it), signed with it (ECDSA SHA-256).
 */
hearth_status hearth_enrol_csr_make(const uint8_t *key_der, size_t key_len, const char *cn,
                                    char *pem, size_t cap, size_t *len) HEARTH_MUST_CHECK;

/**
 * Check an operational certificate (PEM, exactly one, at most
 * HEARTH_ENROL_CERT_MAX bytes) for @p id at time @p now: it chains to the
 * service CA (strict, client purpose), is within its validity at @p now,
 * its lifetime is at most HEARTH_ENROL_LIFETIME_MAX_S + 1 h, its public key
 * is the factory certificate's, its subject CN is @p id->cn.
 * HEARTH_ERR_EXPIRED when only the time is wrong.
 */
hearth_status hearth_enrol_cert_check(const hearth_enrol_identity *id, const uint8_t *pem,
                                      size_t len, int64_t now,
                                      hearth_enrol_validity *v) HEARTH_MUST_CHECK;

/**
 * Check @p pem as hearth_enrol_cert_check() does, then store it as the
 * operational certificate (atomic replace in the state directory).
 */
hearth_status hearth_enrol_cert_store(const hearth_enrol_identity *id, const uint8_t *pem,
                                      size_t len, int64_t now,
                                      hearth_enrol_validity *v) HEARTH_MUST_CHECK;

/**
 * The certificate the device presents to the service now (PEM into
 * @p pem): the stored operational certificate if it passes
 * hearth_enrol_cert_check() at @p now (it is re-checked on every call: the
 * file is in a writable directory), else the factory certificate.
 * *@p operational says which; @p v (may be NULL) receives the operational
 * certificate's validity (zeros for the factory one).
 */
hearth_status hearth_enrol_current_cert(const hearth_enrol_identity *id, int64_t now, char *pem,
                                        size_t cap, size_t *len, bool *operational,
                                        hearth_enrol_validity *v) HEARTH_MUST_CHECK;

/** When to renew: after 2/3 of the certificate's lifetime. */
int64_t hearth_enrol_renew_at(const hearth_enrol_validity *v);

/** Outcome of one enrolment request, for the retry policy. */
typedef enum {
    HEARTH_ENROL_DONE = 0,      /**< a new operational certificate is stored */
    HEARTH_ENROL_FAILED,        /**< network, TLS, server error, bad answer */
    HEARTH_ENROL_REFUSED,       /**< the service refused us (HTTP 401/403: revoked, unknown) */
    HEARTH_ENROL_BUSY,          /**< the service asked us to wait (HTTP 429/503) */
} hearth_enrol_outcome;

/**
 * Enrol once: make a CSR, POST it to @p url ("https://host[:port]/enrol")
 * with mutual TLS (the factory certificate and @p key_der; the server must
 * chain to the service CA and name the URL's host), read a bounded answer,
 * check and store the certificate. Bounded by @p timeout_s.
 * @param[out] outcome what happened (for backoff)
 * @param[out] v       validity of the stored certificate on success
 * @param[out] retry_after_s  with HEARTH_ENROL_BUSY: the service's valid
 *                     Retry-After in seconds (hearth_http_retry_hint(), at
 *                     most 24 h), else 0; may be NULL
 */
hearth_status hearth_enrol_request(const hearth_enrol_identity *id, const char *url,
                                   const uint8_t *key_der, size_t key_len, long timeout_s,
                                   hearth_enrol_outcome *outcome, hearth_enrol_validity *v,
                                   uint32_t *retry_after_s) HEARTH_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
