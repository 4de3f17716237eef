/* Allocator whose free wipes the block (util.h, hearth_wipe_malloc). Used as
 * the allocation hooks of cJSON and libevent so request bodies, parsed
 * passwords, Authorization headers and the TLS plaintext buffers libevent
 * keeps are zeroed before the memory goes back to the heap. */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/util.h"

/* The header keeps the block aligned as malloc's own result. */
#define HDR ((size_t)alignof(max_align_t))
_Static_assert(alignof(max_align_t) >= sizeof(size_t), "header holds the size");

void *hearth_wipe_malloc(size_t n)
{
    if (n > SIZE_MAX - HDR) return NULL;
    unsigned char *b = malloc(HDR + n);
    if (b == NULL) return NULL;
    memcpy(b, &n, sizeof n);
    return b + HDR;
}

void hearth_wipe_free(void *p)
{
    if (p == NULL) return;
    unsigned char *b = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    hearth_memzero(b, HDR + n);
    free(b);
}

void *hearth_wipe_realloc(void *p, size_t n)
{
    if (p == NULL) return hearth_wipe_malloc(n);
    if (n == 0) {
        hearth_wipe_free(p);
        return NULL;
    }
    size_t old;
    memcpy(&old, (unsigned char *)p - HDR, sizeof old);
    /* Never realloc in place: the old block could be released unwiped. */
    void *q = hearth_wipe_malloc(n);
    if (q == NULL) return NULL;
    memcpy(q, p, old < n ? old : n);
    hearth_wipe_free(p);
    return q;
}
