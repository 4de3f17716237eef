/* HKDF-SHA256 (OpenSSL 3): the one derivation of the keys the device takes
 * from secrets in its store (hearth_store_secret_key()). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "hearth/util.h"

hearth_status hearth_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const char *salt,
                                 const char *info, uint8_t *out, size_t out_len)
{
    HEARTH_ENSURE(ikm != NULL && ikm_len > 0 && salt != NULL && info != NULL && out != NULL &&
                      out_len > 0,
                  hearth_err(HEARTH_ERR_INVALID, "hkdf: missing argument"));
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kc = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, strlen(salt)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    hearth_status st = HEARTH_OK;
    if (kc == NULL || EVP_KDF_derive(kc, out, out_len, p) != 1)
        st = hearth_err(HEARTH_ERR_CRYPTO, "HKDF-SHA256 failed");
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    return st;
}
