/*
 * Platform configuration: the root-of-trust kind and the TPM connection.
 * These decide which code and which key material the device trusts before
 * anything in its state directory is authenticated, so they never come
 * from that (writable) directory: the build sets them, the program's
 * platform port (compiled into it, include/hearth/port.h) may replace the
 * build's, and the process environment, which the service manager sets
 * exactly as it sets the command line, may override both. One precedence
 * rule, here only.
 * docs/provisioning.md, "Platform configuration"; docs/threat-model.md.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth/store.h"

#ifndef HEARTH_PLATFORM_ROT
#define HEARTH_PLATFORM_ROT "file"
#endif
#ifndef HEARTH_PLATFORM_TCTI
#define HEARTH_PLATFORM_TCTI "device:/dev/tpmrm0"
#endif

#define ENV_ROT "HEARTH_ROT"
#define ENV_TCTI "HEARTH_TPM_TCTI"

const char *hearth_rot_kind_name(hearth_rot_kind kind)
{
    switch (kind) {
    case HEARTH_ROT_FILE: return "file";
    case HEARTH_ROT_TPM: return "tpm";
    }
    return "unknown";
}

static hearth_status parse_rot(const char *s, hearth_rot_kind *kind)
{
    if (strcmp(s, "file") == 0) {
        *kind = HEARTH_ROT_FILE;
        return HEARTH_OK;
    }
    if (strcmp(s, "tpm") == 0) {
        *kind = HEARTH_ROT_TPM;
        return HEARTH_OK;
    }
    return hearth_err(HEARTH_ERR_INVALID, "root-of-trust kind must be \"file\" or \"tpm\"");
}

/* The port's defaults (hearth_platform_set_defaults), set once before any
 * other thread runs and only read afterwards. */
static struct {
    bool set;
    char origin[64];
    char rot[8];
    char tcti[HEARTH_TCTI_MAX + 1];
} port_defaults;

hearth_status hearth_platform_set_defaults(const char *origin, const char *rot, const char *tcti)
{
    if (port_defaults.set) return hearth_err(HEARTH_ERR_STATE, "platform defaults already set");
    if (origin == NULL || origin[0] == '\0' || strlen(origin) >= sizeof port_defaults.origin)
        return hearth_err(HEARTH_ERR_INVALID, "platform defaults need a short origin name");
    hearth_rot_kind kind;
    if (rot != NULL && parse_rot(rot, &kind) != HEARTH_OK)
        return hearth_err(HEARTH_ERR_INVALID,
                          "platform defaults (%s): root-of-trust kind must be \"file\" or \"tpm\"",
                          origin);
    hearth_tcti t;
    if (tcti != NULL && hearth_tcti_parse(tcti, &t) != HEARTH_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        return hearth_err(HEARTH_ERR_INVALID, "platform defaults (%s): %s", origin, why);
    }
    snprintf(port_defaults.origin, sizeof port_defaults.origin, "%s", origin);
    snprintf(port_defaults.rot, sizeof port_defaults.rot, "%s", rot != NULL ? rot : "");
    snprintf(port_defaults.tcti, sizeof port_defaults.tcti, "%s", tcti != NULL ? tcti : "");
    port_defaults.set = true;
    return HEARTH_OK;
}

/* Environment value if set (an empty value counts as set: a service file
 * that clears it by mistake must not silently fall back), else the port's
 * default if it has one, else the build's. */
static const char *pick(const char *env, const char *port, const char *build, const char **from)
{
    const char *v = getenv(env);
    if (v != NULL) {
        *from = env;
        return v;
    }
    if (port_defaults.set && port[0] != '\0') {
        *from = port_defaults.origin;
        return port;
    }
    *from = "build configuration";
    return build;
}

hearth_status hearth_platform_load(hearth_platform *out)
{
    if (out == NULL) return hearth_err(HEARTH_ERR_INVALID, "no output for the platform config");
    memset(out, 0, sizeof *out);
    const char *from = NULL;
    const char *rot = pick(ENV_ROT, port_defaults.rot, HEARTH_PLATFORM_ROT, &from);
    if (parse_rot(rot, &out->rot) != HEARTH_OK)
        return hearth_err(HEARTH_ERR_INVALID,
                          "platform configuration (%s): root-of-trust kind must be \"file\" or "
                          "\"tpm\"",
                          from);
    const char *tcti = pick(ENV_TCTI, port_defaults.tcti, HEARTH_PLATFORM_TCTI, &from);
    hearth_status st = hearth_tcti_parse(tcti, &out->tcti);
    if (st != HEARTH_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", hearth_err_msg());
        memset(out, 0, sizeof *out);
        return hearth_err(st, "platform configuration (%s): %s", from, why);
    }
    return HEARTH_OK;
}
