/*
 * The device program's sandbox (hearth/sandbox.h, docs/sandbox.md): which
 * paths, TCP ports and system calls a running hearthd or hearth-plugd keeps.
 * Applied by runtime.c after everything is opened and before any thread
 * starts or any byte from the network is read:
 *
 *   read-write  the state directory, state items placed outside it
 *               (absolute layout entries), the directory of each file a
 *               --port-option or an application option names (the sim
 *               port creates and removes its button file; the thermostat
 *               writes its heartbeat), the fault-trace file (tests), a key
 *               set outside the state
 *   read        the trust anchor, the system paths every program needs
 *               (hearth_sandbox_system_paths), a TPM device node (rw)
 *   execute     hearth-fetch (and the program interpreter that loads it)
 *   TCP         no bind; connect only to the update repository's port, the
 *               device's own HTTPS port (post-update self-test), a
 *               simulated TPM's ports and the MQTT brokers' ports
 *               (--mqtt-broker); read the service CA (--mqtt-ca)
 *   syscalls    daemon/hearthd.seccomp (+ the calls hearth-fetch makes
 *               before its own filter: filters stack)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/layout.h"
#include "hearth/link.h"
#include "hearth/sandbox.h"
#include "hearth/store.h"
#include "hearth/util.h"
#include "hearthd.h"
#include "link_glue.h"
#include "telemetry_glue.h"
#include "enrol_glue.h"
#include "update_glue.h"

#define SB_PATHS_MAX 128
#define SB_PORTS_MAX (8 + HEARTH_LINK_BROKERS_MAX)

/* Embedded at build time from daemon/hearthd.seccomp (hearth_seccomp_list). */
extern const char hearth_runtime_seccomp[];
#ifdef HEARTH_SANITIZER_SECCOMP
extern const char hearth_sanitizer_seccomp[];
#endif

hearth_status hearthd_sandbox_apply(const char *prog, const char *state,
                                    const hearth_sandbox_path *extra, size_t nextra,
                                    unsigned https_port)
{
    hearth_sandbox_path paths[SB_PATHS_MAX];
    size_t n = hearth_sandbox_system_paths(paths, SB_PATHS_MAX);
    if (n == 0) return hearth_err(HEARTH_ERR_INTERNAL, "sandbox: path table too small");
    paths[n++] = (hearth_sandbox_path){state, HEARTH_SANDBOX_WRITE};
    /* State items a product placed outside the state directory. */
    static char layout[HEARTH_LAYOUT_COUNT][4096];
    for (int i = 0; i < HEARTH_LAYOUT_COUNT && n < SB_PATHS_MAX; i++) {
        if (i == HEARTH_LAYOUT_TRUST) continue; /* read-only, from the updater's view */
        if (hearth_layout_path(state, (hearth_layout_item)i, layout[i], sizeof layout[i]) != HEARTH_OK)
            continue;
        const char *name = hearth_layout_name((hearth_layout_item)i);
        if (name != NULL && name[0] == '/')
            paths[n++] = (hearth_sandbox_path){layout[i], HEARTH_SANDBOX_WRITE};
    }
    const char *trace = hearth_fault_trace_file();
    if (trace != NULL && n < SB_PATHS_MAX)
        paths[n++] = (hearth_sandbox_path){trace, HEARTH_SANDBOX_WRITE | HEARTH_SANDBOX_CREATE};
    for (size_t i = 0; i < nextra && n < SB_PATHS_MAX; i++) paths[n++] = extra[i];
    uint16_t ports[SB_PORTS_MAX];
    size_t nports = 0;
    uint16_t repo = 0;
    hearthd_update_sandbox(paths, SB_PATHS_MAX, &n, &repo);
    if (repo != 0) ports[nports++] = repo;
    uint16_t enrol = 0;
    hearthd_enrol_sandbox(paths, SB_PATHS_MAX, &n, &enrol);
    if (enrol != 0 && enrol != repo) ports[nports++] = enrol;
    if (https_port > 0 && https_port < 65536) ports[nports++] = (uint16_t)https_port;
    hearth_platform_sandbox(paths, SB_PATHS_MAX, &n, ports, SB_PORTS_MAX, &nports);
    hearthd_link_sandbox(paths, SB_PATHS_MAX, &n, ports, SB_PORTS_MAX, &nports);
    /* The ports it may connect to are the destinations telemetry expects. */
    hearthd_telemetry_declare(HEARTH_TELEMETRY_DEST, ports, nports);

    hearth_sandbox_fs_policy fs = {.program = prog,
                                   .paths = paths,
                                   .npaths = n,
                                   .restrict_tcp = true,
                                   .connect_ports = ports,
                                   .nconnect_ports = nports,
                                   .scope = true};
    HEARTH_GUARD(hearth_sandbox_landlock(&fs));
    const char *lists[] = {
        hearth_runtime_seccomp,
#ifdef HEARTH_SANITIZER_SECCOMP
        hearth_sanitizer_seccomp,
#endif
    };
    return hearth_sandbox_seccomp(prog, lists, sizeof lists / sizeof lists[0]);
}
