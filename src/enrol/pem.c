/* Strict PEM decoding for data that crosses a trust boundary: a CSR from the
 * network (service side), a certificate from the network or from a file in
 * the writable state directory (device side). OpenSSL's PEM readers skip
 * anything before the first block and ignore what follows; here the input
 * must be one block and nothing else. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

#include "enrol_internal.h"
#include "hearth/util.h"

hearth_status enrol_ossl_fail(hearth_status st, const char *what)
{
    char why[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e != 0) ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    return hearth_err(st, "%s%s%s", what, why[0] ? ": " : "", why);
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

hearth_status enrol_pem_single(const uint8_t *pem, size_t len, size_t max, const char *label,
                               const char *what, unsigned char **der, long *der_len)
{
    *der = NULL;
    *der_len = 0;
    HEARTH_ENSURE(pem != NULL, hearth_err(HEARTH_ERR_INVALID, "%s: no data", what));
    if (len > max) return hearth_err(HEARTH_ERR_TOO_LARGE, "%s: larger than %zu bytes", what, max);
    for (size_t i = 0; i < len; i++)
        if (!is_space(pem[i]) && (pem[i] < 0x20 || pem[i] > 0x7e))
            return hearth_err(HEARTH_ERR_INVALID, "%s: not PEM text (byte %zu)", what, i);
    size_t start = 0;
    while (start < len && is_space(pem[start])) start++;
    char begin[80];
    int bl = snprintf(begin, sizeof begin, "-----BEGIN %s-----", label);
    if (bl < 0 || (size_t)bl >= sizeof begin) return hearth_err(HEARTH_ERR_INTERNAL, "PEM label");
    if (len - start < (size_t)bl || memcmp(pem + start, begin, (size_t)bl) != 0)
        return hearth_err(HEARTH_ERR_INVALID, "%s: not a PEM %s", what, label);
    BIO *bio = BIO_new_mem_buf(pem + start, (int)(len - start));
    if (bio == NULL) return hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dl = 0;
    hearth_status st = HEARTH_OK;
    if (PEM_read_bio(bio, &name, &header, &data, &dl) != 1) {
        ERR_clear_error();
        st = hearth_err(HEARTH_ERR_INVALID, "%s: malformed PEM", what);
    } else if (strcmp(name, label) != 0 || header[0] != '\0' || dl <= 0) {
        st = hearth_err(HEARTH_ERR_INVALID, "%s: not a plain PEM %s", what, label);
    } else {
        /* Only whitespace may follow the block. */
        char rest[64];
        int n;
        while (st == HEARTH_OK && (n = BIO_read(bio, rest, (int)sizeof rest)) > 0)
            for (int i = 0; i < n; i++)
                if (!is_space((uint8_t)rest[i])) {
                    st = hearth_err(HEARTH_ERR_INVALID, "%s: data after the PEM block", what);
                    break;
                }
    }
    BIO_free(bio);
    OPENSSL_free(name);
    OPENSSL_free(header);
    ERR_clear_error();
    if (st != HEARTH_OK) {
        OPENSSL_free(data);
        return st;
    }
    *der = data;
    *der_len = dl;
    return HEARTH_OK;
}

hearth_status enrol_pem_cert(const uint8_t *pem, size_t len, size_t max, const char *what, X509 **out)
{
    *out = NULL;
    unsigned char *der = NULL;
    long dl = 0;
    HEARTH_GUARD(enrol_pem_single(pem, len, max, "CERTIFICATE", what, &der, &dl));
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, dl);
    bool whole = x != NULL && p == der + dl;
    OPENSSL_free(der);
    if (!whole) {
        X509_free(x);
        ERR_clear_error();
        return hearth_err(HEARTH_ERR_INVALID, "%s: not a DER certificate", what);
    }
    *out = x;
    return HEARTH_OK;
}
