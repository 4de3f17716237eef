/*
 * Internal helpers shared by the identity module's files and its unit tests.
 * Not part of the public API: programs use include/hearth/identity.h only.
 */
#ifndef HEARTH_IDENTITY_INTERNAL_H
#define HEARTH_IDENTITY_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hearth/identity.h"
#include "hearth/reset.h"

/* File names inside a CA directory (a device's state: hearth/layout.h). */
#define HEARTH_CA_KEY_FILE "ca.key"
#define HEARTH_CA_CRT_FILE "ca.crt"

/* Bounds on files we read back (hearth_fs_read_file max). */
#define HEARTH_DEV_JSON_MAX 4096
#define HEARTH_CERT_FILE_MAX (16 * 1024)
#define HEARTH_CA_KEY_FILE_MAX (16 * 1024)
/* PKCS#8 DER of a P-256 key is ~138 bytes; leave room for other curves. */
#define HEARTH_DEVICE_KEY_DER_MAX 2048

/* Validity periods (days). Why these values: docs/provisioning.md. */
#define HEARTH_CA_VALID_DAYS 3653      /* 10 years */
#define HEARTH_DEVICE_VALID_DAYS 7305  /* 20 years */
/* notBefore is back-dated by this much to tolerate clock skew between the
 * factory host and the clients that verify the certificate. */
#define HEARTH_CERT_BACKDATE_S 3600

/* Number of symbols in a setup password and in the alphabet. */
#define HEARTH_SETUP_PW_SYMBOLS 16
#define HEARTH_SETUP_PW_ALPHABET "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
/* A candidate sharing this many consecutive symbols with the serial is
 * redrawn (5.1-2: no relation to public information). */
#define HEARTH_SETUP_PW_SERIAL_OVERLAP 4
/* Give up after this many weak draws: with a working CSPRNG the chance of
 * even two in a row is ~1e-6, so reaching it means the RNG is broken. */
#define HEARTH_SETUP_PW_MAX_DRAWS 64

/** Device serial alphabet when generated: Crockford base32. */
#define HEARTH_SERIAL_PREFIX "HTH-"
#define HEARTH_SERIAL_RANDOM_CHARS 12
#define HEARTH_CROCKFORD_ALPHABET "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* ------------------------------------------------------------ validation */

/** [A-Za-z0-9._-], 1..HEARTH_MODEL_MAX; reason in hearth_err_msg(). */
hearth_status hearth_identity_check_model(const char *model) HEARTH_MUST_CHECK;
/** [A-Za-z0-9-], 1..HEARTH_SERIAL_MAX, starting and ending alphanumeric
 *  (it becomes the DNS label "<serial>.local"). */
hearth_status hearth_identity_check_serial(const char *serial) HEARTH_MUST_CHECK;
/** [A-Za-z0-9._-], 1..HEARTH_HWID_MAX. */
hearth_status hearth_identity_check_hw_id(const char *hw_id) HEARTH_MUST_CHECK;
/** Random "HTH-" + 12 Crockford base32 symbols (60 bits). */
hearth_status hearth_identity_random_serial(char out[HEARTH_SERIAL_MAX + 1]) HEARTH_MUST_CHECK;

/* ---------------------------------------------------- setup password hook */

/**
 * Source of password symbols: fills @p sym with HEARTH_SETUP_PW_SYMBOLS
 * values in [0, 32). The default draws 80 bits from the CSPRNG. Tests replace
 * it to feed crafted weak candidates and check they are redrawn.
 */
typedef hearth_status (*hearth_pw_symbol_source)(uint8_t sym[HEARTH_SETUP_PW_SYMBOLS],
                                                 void *arg);
#ifdef HEARTH_TEST_HOOKS
/* Defined only in the unit tests' build of password.c (object library
 * hearth_identity_test_hooks); absent from libhearth and every program. */
/** Install @p fn (NULL restores the CSPRNG). Not thread-safe: tests only. */
void hearth_identity_test_set_pw_source(hearth_pw_symbol_source fn, void *arg);
/** Number of candidates drawn by the last hearth_setup_password_generate(). */
unsigned hearth_identity_test_last_draws(void);
#endif

/* ------------------------------------------------------------ x509 / keys */

/** Fresh ECDSA P-256 key pair from the OpenSSL CSPRNG. */
hearth_status hearth_identity_keygen(EVP_PKEY **out) HEARTH_MUST_CHECK;
/** Parse one PEM certificate from a bounded file. */
hearth_status hearth_identity_load_cert(const char *path, X509 **out) HEARTH_MUST_CHECK;
/** Load the CA's key and certificate and check they belong together. */
hearth_status hearth_identity_load_ca(const char *ca_dir, EVP_PKEY **key,
                                      X509 **crt) HEARTH_MUST_CHECK;
/** Self-signed CA certificate for @p key with subject CN=@p cn (10 years). */
hearth_status hearth_identity_make_ca_cert(EVP_PKEY *key, const char *cn,
                                           X509 **out) HEARTH_MUST_CHECK;
/**
 * Issue a device certificate for @p pub, signed by the CA (fields:
 * docs/provisioning.md).
 */
hearth_status hearth_identity_issue_device_cert(EVP_PKEY *ca_key, X509 *ca_crt, EVP_PKEY *pub,
                                                const char *serial, const char *model,
                                                X509 **out) HEARTH_MUST_CHECK;
/**
 * Issue a service certificate for @p pub with subject CN=@p cn: client
 * (extKeyUsage clientAuth) or @p server (serverAuth, with @p san, an
 * X509V3 subjectAltName value such as "DNS:host,IP:127.0.0.1"; NULL: none),
 * valid from now - @p backdate_s for @p lifetime_s seconds after now.
 */
hearth_status hearth_identity_issue_leaf_cert(EVP_PKEY *ca_key, X509 *ca_crt, EVP_PKEY *pub,
                                              const char *cn, bool server, const char *san,
                                              long lifetime_s, long backdate_s,
                                              X509 **out) HEARTH_MUST_CHECK;
/**
 * Check that @p dev is signed by @p ca and usable as a device certificate
 * (chain, CA constraints, EKU). The validity period is not checked: a
 * device may boot with an unset clock; peers check it. HEARTH_ERR_TAMPERED
 * with the OpenSSL reason on failure.
 */
hearth_status hearth_identity_verify_cert(X509 *ca, X509 *dev) HEARTH_MUST_CHECK;
/** "sha256:<hex>" of the certificate's DER encoding. */
hearth_status hearth_identity_cert_fingerprint(X509 *crt,
                                               char out[HEARTH_FINGERPRINT_MAX]) HEARTH_MUST_CHECK;
/** PEM encoding of a certificate into a malloc'd buffer. */
hearth_status hearth_identity_cert_pem(X509 *crt, char **pem, size_t *len) HEARTH_MUST_CHECK;

/* --------------------------------------------------------------- device.json */

/** Public identity record, as in device.json (the public config type). */
typedef hearth_device_config hearth_device_info;

/** Serialize (deterministic field order) into a malloc'd string. */
hearth_status hearth_identity_info_encode(const hearth_device_info *info, char **out,
                                          size_t *len) HEARTH_MUST_CHECK;
/**
 * Strict parse: a JSON object with exactly the documented fields and types,
 * no duplicates, no unknown fields, each value validated, at most
 * HEARTH_DEV_JSON_MAX bytes, no NUL byte and no escaped NUL (\u0000) in any
 * string, value or field name. On failure @p info is all zero.
 */
hearth_status hearth_identity_info_decode(const char *json, size_t len,
                                          hearth_device_info *info) HEARTH_MUST_CHECK;

/**
 * hearth_device_config_load() that also hands back device.json's exact bytes
 * (malloc'd, caller frees) for the sealed-copy comparison of
 * hearth_device_open(). @p rot is required here.
 */
hearth_status hearth_identity_config_load_raw(const char *state_dir, hearth_device_config *cfg,
                                              hearth_rot **rot, uint8_t **json,
                                              size_t *json_len) HEARTH_MUST_CHECK;
/**
 * Write `<state_dir>/device.mac` for @p json under @p rot's storage key
 * (provisioning).
 */
hearth_status hearth_identity_config_mac_write(const char *state_dir, hearth_rot *rot,
                                               const uint8_t *json,
                                               size_t json_len) HEARTH_MUST_CHECK;

/**
 * Write the signed factory record `<state_dir>/factory.rec` (hearth/reset.h)
 * for @p serial and the setup-password @p verifier, signed by @p ca_key.
 * HEARTH_ERR_EXISTS if one is there.
 */
hearth_status hearth_identity_factory_write(const char *state_dir, EVP_PKEY *ca_key,
                                            const char *serial,
                                            const char *verifier) HEARTH_MUST_CHECK;

/** The opened device's root of trust (reset.c). */
hearth_rot *hearth_identity_device_rot(hearth_device *d);

/** The reset notice's record bytes (reset_notice.c; hearth/reset.h). */
hearth_status hearth_reset_notice_encode(const hearth_reset_notice *n, char *buf, size_t cap,
                                         size_t *len) HEARTH_MUST_CHECK;

/** rm -rf of a directory's contents (and the directory if @p self). */
void hearth_identity_remove_tree(const char *path, bool self);

#endif
