/* CSPRNG access: OpenSSL's DRBG seeded from getrandom(). */
#include <limits.h>
#include <openssl/rand.h>

#include "hearth/common.h"

hearth_status hearth_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            return hearth_err(HEARTH_ERR_CRYPTO, "random generator failed");
        p += chunk;
        n -= (size_t)chunk;
    }
    return HEARTH_OK;
}

hearth_status hearth_random_uniform(uint32_t bound, uint32_t *out)
{
    if (bound == 0) return hearth_err(HEARTH_ERR_INVALID, "random bound is zero");
    /* Reject values in the short final interval to avoid modulo bias. */
    uint32_t limit = UINT32_MAX - (UINT32_MAX % bound);
    for (;;) {
        uint32_t v;
        HEARTH_GUARD(hearth_random(&v, sizeof v));
        if (v < limit) {
            *out = v % bound;
            return HEARTH_OK;
        }
    }
}
