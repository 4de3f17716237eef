/* The bundle object, shared by bundle.c and verify.c only. */
#ifndef HEARTH_BUNDLE_PRIV_H
#define HEARTH_BUNDLE_PRIV_H

#include "bundle_internal.h"

struct hearth_bundle {
    int fd;               /* open bundle file, or -1 (opened from a buffer) */
    uint8_t *prefix;      /* header + manifest + signature block (owned) */
    size_t prefix_len;
    hb_header hdr;
    hb_sigblock sigs;
    hearth_manifest *m;   /* payload offsets absolute in the file */
    uint64_t total;       /* prefix + payloads */
    bool verified;
    uint8_t signer[HEARTH_KEY_ID_LEN];
};

hearth_status hb_pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *got) HEARTH_MUST_CHECK;
hearth_status hb_write_full(int fd, const void *buf, size_t n, const char *what) HEARTH_MUST_CHECK;

/* Copy @p size bytes of @p src into a new memfd (close-on-exec, executable)
 * and seal it against any write, grow or shrink; @p out receives it. */
hearth_status hb_copy_sealed(int src, const char *name, uint64_t size, int *out) HEARTH_MUST_CHECK;

#endif
