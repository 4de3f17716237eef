/* Keys derived from a random secret kept only in the secure store (the
 * outbox's, the security log's fields): erasing the store erases them. */
#include "hearth/store.h"
#include "hearth/util.h"

#define SECRET_LEN 32

hearth_status hearth_store_secret_key(hearth_store *st, const char *record, bool create,
                                      const char *salt, const char *info, uint8_t *out,
                                      size_t out_len)
{
    HEARTH_ENSURE(st != NULL && record != NULL,
                  hearth_err(HEARTH_ERR_INVALID, "secret key: missing argument"));
    uint8_t secret[SECRET_LEN];
    size_t len = 0;
    hearth_status s = hearth_store_get(st, record, secret, sizeof secret, &len);
    if (s == HEARTH_ERR_NOT_FOUND && create) {
        s = hearth_random(secret, sizeof secret);
        if (s == HEARTH_OK) s = hearth_store_put(st, record, secret, sizeof secret);
        len = sizeof secret;
    }
    if (s == HEARTH_OK && len != sizeof secret)
        s = hearth_err(HEARTH_ERR_TAMPERED, "the secret %s has the wrong length", record);
    if (s == HEARTH_OK) s = hearth_hkdf_sha256(secret, sizeof secret, salt, info, out, out_len);
    hearth_memzero(secret, sizeof secret);
    return s;
}
