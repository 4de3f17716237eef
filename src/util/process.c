/* Process hardening for programs that hold secrets (EN 303 645 5.4-1): no core
 * dump can carry the storage root key, a device key, a password or a session
 * token to disk, and no other process of the same user can read this one's
 * memory through ptrace or /proc/PID/mem. */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "hearth/util.h"

hearth_status hearth_process_harden(void)
{
    /* Soft and hard limit: the process cannot raise it again later. */
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot disable core dumps (RLIMIT_CORE): %s",
                          strerror(errno));
    /* Not dumpable: no core even where core_pattern pipes to a handler
     * (which ignores RLIMIT_CORE), no same-user ptrace attach, /proc/PID/mem
     * and friends owned by root. Kept across fork, reset by execve, so every
     * program sets it for itself. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "cannot mark the process non-dumpable: %s",
                          strerror(errno));
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return hearth_err(HEARTH_ERR_INTERNAL, "the process is still dumpable");
    return HEARTH_OK;
}
