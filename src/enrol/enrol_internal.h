/* Internal: strict PEM decoding shared by the CSR and certificate checks. */
#ifndef HEARTH_ENROL_INTERNAL_H
#define HEARTH_ENROL_INTERNAL_H

#include <openssl/x509.h>

#include "hearth/common.h"

/**
 * @p pem must be exactly one PEM block labelled @p label (no encryption
 * headers), at most @p max bytes of printable ASCII and line breaks, with
 * nothing but whitespace around it. *@p der (OPENSSL_malloc'd; free with
 * OPENSSL_free) receives its content. @p what names the input in errors.
 */
hearth_status enrol_pem_single(const uint8_t *pem, size_t len, size_t max, const char *label,
                               const char *what, unsigned char **der,
                               long *der_len) HEARTH_MUST_CHECK;

/** One certificate from @p pem (enrol_pem_single(), DER fully consumed). */
hearth_status enrol_pem_cert(const uint8_t *pem, size_t len, size_t max, const char *what,
                             X509 **out) HEARTH_MUST_CHECK;

/** The OpenSSL error queue as the reason of @p what; the queue is cleared. */
hearth_status enrol_ossl_fail(hearth_status st, const char *what);

#endif
