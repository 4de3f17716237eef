/* Secret wiping and constant-time comparison (conventions.md item 6). */
#include <openssl/crypto.h>

#include "hearth/common.h"

void hearth_memzero(void *p, size_t n)
{
    if (p != NULL && n > 0) OPENSSL_cleanse(p, n);
}

bool hearth_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
