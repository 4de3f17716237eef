/* What the platform's root of trust needs inside a program's sandbox
 * (include/hearth/store.h, docs/sandbox.md): one answer for hearthd and
 * hearth-boot, from the same platform configuration that opens it. */
#include <stdlib.h>
#include <string.h>

#include "hearth/store.h"

void hearth_platform_sandbox(hearth_sandbox_path *paths, size_t cap, size_t *n, uint16_t *ports,
                             size_t pcap, size_t *np)
{
    static hearth_platform plat; /* the path strings must outlive the call */
    if (hearth_platform_load(&plat) != HEARTH_OK || plat.rot != HEARTH_ROT_TPM) return;
    if (plat.tcti.kind == HEARTH_TCTI_DEVICE && *n < cap) {
        paths[(*n)++] = (hearth_sandbox_path){plat.tcti.conf, HEARTH_SANDBOX_READ | HEARTH_SANDBOX_WRITE};
    } else if (plat.tcti.kind == HEARTH_TCTI_SWTPM || plat.tcti.kind == HEARTH_TCTI_MSSIM) {
        const char *p = strstr(plat.tcti.conf, "port=");
        long v = p != NULL ? strtol(p + 5, NULL, 10) : 0;
        if (v > 0 && v < 65535 && *np + 2 <= pcap) {
            ports[(*np)++] = (uint16_t)v;       /* command port */
            ports[(*np)++] = (uint16_t)(v + 1); /* platform port */
        }
    }
}
