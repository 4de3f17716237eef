/* A payload copied into a sealed anonymous memory file (memfd), so that the
 * bytes a verifier hashes are the very bytes a launcher executes (5.7-1,
 * docs/boot.md "Executing what was verified"). Once sealed, no process --
 * not even the owner of the descriptor -- can change, grow or shrink it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_priv.h"

#define COPY_BUF (256u * 1024u)
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux >= 6.3: executable memfd, explicitly */
#endif

static int memfd_exec(const char *name)
{
    /* Named after the payload: the running program shows up as
     * "memfd:<name>" (/proc/<pid>/exe, and comm on recent kernels). */
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    /* Kernels before 6.3 do not know MFD_EXEC (every memfd is executable there). */
    if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

hearth_status hb_copy_sealed(int src, const char *name, uint64_t size, int *out)
{
    *out = -1;
    int fd = memfd_exec(name);
    if (fd < 0) return hearth_err(HEARTH_ERR_IO, "memfd_create: %s", strerror(errno));
    uint8_t *buf = malloc(COPY_BUF);
    hearth_status st = buf != NULL ? HEARTH_OK : hearth_err(HEARTH_ERR_NOMEM, "out of memory");
    /* Exactly @p size bytes from offset 0: what the manifest covers. A file
     * cut short under us is caught here, anything else by the digests,
     * which the caller computes over this copy. */
    for (uint64_t off = 0; st == HEARTH_OK && off < size;) {
        size_t want = size - off < COPY_BUF ? (size_t)(size - off) : COPY_BUF;
        size_t got = 0;
        st = hb_pread_full(src, buf, want, off, &got);
        if (st == HEARTH_OK && got != want)
            st = hearth_err(HEARTH_ERR_TAMPERED, "payload '%s' shrank while being loaded", name);
        if (st == HEARTH_OK) st = hb_write_full(fd, buf, want, "memfd");
        off += want;
    }
    free(buf);
    if (st == HEARTH_OK && fcntl(fd, F_ADD_SEALS, SEALS) != 0)
        st = hearth_err(HEARTH_ERR_IO, "sealing the copy of '%s': %s", name, strerror(errno));
    struct stat sb;
    if (st == HEARTH_OK && (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != size ||
                            fcntl(fd, F_GET_SEALS) != SEALS))
        st = hearth_err(HEARTH_ERR_IO, "sealed copy of '%s' is not as written", name);
    if (st != HEARTH_OK) {
        close(fd);
        return st;
    }
    *out = fd;
    return HEARTH_OK;
}
